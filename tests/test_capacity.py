"""How fast az is started and how many run at once (azpe.capacity, used by the az runner)."""

from __future__ import annotations

import threading

import pytest
from pytest_subprocess import FakeProcess

from azpe import capacity
from azpe.az import AzRunner
from azpe.capacity import Capacity, StartPacer
from azpe.errors import NotStarted


@pytest.fixture
def measured_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(capacity, "AZ_START_CPU_SECONDS", 0.6)


def test_starts_come_in_a_burst_of_one_per_cpu_then_at_the_pace_the_cpus_take(measured_start: None) -> None:
    pacer = StartPacer(Capacity(cpus=2, max_processes=8))
    delays = [pacer.delay() for _ in range(5)]
    assert delays[:2] == [0.0, 0.0]  # two CPUs: two az start at once
    interval = 0.6 / 2
    for n, delay in enumerate(delays[2:], start=1):  # then one every 0.3 s
        assert delay == pytest.approx(n * interval, abs=0.05)


def test_the_machine_carries_at_least_one_az_per_cpu_and_at_most_the_cap() -> None:
    found = Capacity.of_this_machine()
    assert found.cpus >= 1
    assert found.cpus <= found.max_processes <= capacity.MAX_AZ_PROCESSES


def test_a_call_waiting_for_its_turn_is_not_started_after_ctrl_c(
    fp: FakeProcess, fake_az: str, measured_start: None
) -> None:
    runner = AzRunner(fake_az, timeout=5, capacity=Capacity(cpus=1, max_processes=4))
    fp.register([fake_az, "version"], stdout="{}")
    runner.run(["version"])  # the burst: at once
    cancelled = threading.Event()
    cancelled.set()
    with pytest.raises(NotStarted):
        runner.run(["version"], unless=cancelled)  # its turn is 0.6 s away: Ctrl-C came first
    assert fp.call_count([fake_az, "version"]) == 1


def test_no_more_az_run_at_once_than_the_machine_carries(
    fp: FakeProcess, fake_az: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(capacity, "AZ_START_CPU_SECONDS", 0.0)
    runner = AzRunner(fake_az, timeout=5, capacity=Capacity(cpus=2, max_processes=2))
    lock, running, most = threading.Lock(), [0], [0]
    release = threading.Event()

    def az(process: object) -> None:
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        release.wait(0.3)  # long enough for a third to start, if the bound let it
        with lock:
            running[0] -= 1

    fp.register([fake_az, "version"], stdout="{}", callback=az, occurrences=3)
    threads = [threading.Thread(target=runner.run, args=(["version"],)) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(5)
    assert most[0] == 2
    assert fp.call_count([fake_az, "version"]) == 3


def test_a_call_waiting_for_a_free_place_is_not_started_after_ctrl_c(
    fp: FakeProcess, fake_az: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No start pace, but room for one az: a write waits for the running one to end; Ctrl-C
    (or a stopped run) comes meanwhile, and the write does not start once the place is free."""
    monkeypatch.setattr(capacity, "AZ_START_CPU_SECONDS", 0.0)
    runner = AzRunner(fake_az, timeout=5, capacity=Capacity(cpus=64, max_processes=1))
    running, release, cancelled = threading.Event(), threading.Event(), threading.Event()

    def first(process: object) -> None:
        running.set()
        assert release.wait(5)

    fp.register([fake_az, "version"], stdout="{}", callback=first)
    fp.register([fake_az, "network", "write"], stdout="{}")
    holder = threading.Thread(target=runner.run, args=(["version"],))
    holder.start()
    assert running.wait(5)
    outcome: list[BaseException | None] = []

    def write() -> None:
        try:
            runner.run(["network", "write"], unless=cancelled)
            outcome.append(None)
        except NotStarted as exc:
            outcome.append(exc)

    waiting = threading.Thread(target=write)
    waiting.start()
    cancelled.set()
    release.set()
    holder.join(5)
    waiting.join(5)
    assert len(outcome) == 1 and isinstance(outcome[0], NotStarted)
    assert fp.call_count([fake_az, "network", "write"]) == 0
