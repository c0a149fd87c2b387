"""The write engine: the scheduler (``azpe.executor``) and one target's write
(``azpe.target_write``), with az faked by pytest-subprocess. Deterministic: no test sleeps
for real; a fake az blocks on events where a test needs it to be "running"."""

from __future__ import annotations

import _thread
import json
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pytest_subprocess import FakeProcess
from tenacity import wait_fixed, wait_none

from azpe.az import AzRunner
from azpe.client import Action, AzClient
from azpe.errors import AuthError, AzpeError
from azpe.executor import Executor
from azpe.ids import ConnectionRef, ServerRef
from azpe.models import Server
from azpe.outcomes import Outcome, TargetResult
from azpe.planning import Plan, build_plan
from azpe.retry import reader
from azpe.run_options import RunOptions
from azpe.target_write import Look, TargetWrite
from azpe.targets import Scope, Selection
from tests.azsamples import RG, SUB, conn, connection_raw, dumps, network_error, server_json
from tests.clihelp import list_argv, show_argv, write_argv
from tests.fleethelp import recorded

PE1 = "pe-one.11111111-1111-1111-1111-111111111111"
PE2 = "pe-two.22222222-2222-2222-2222-222222222222"
APP = "pe-app.33333333-3333-3333-3333-333333333333"
ACCEPTED = dumps({"operation": "UpsertPrivateEndpointConnectionManagementOperation", "startTime": "x"})
BUSY = network_error("Conflict", "ServerIsBusy", "Server is busy with another operation.")
DATA = Path(__file__).parent / "data"
FAST = RunOptions(wait=wait_none(), poll=wait_none(), grace=5.0)
# build_plan gets every server in its snapshot, so it never runs az: this az does not exist
PLANNING_CLIENT = AzClient(AzRunner("az-never-run", timeout=1), subscription=None, write_timeout=1)


def server(name: str = "pg-a", *, state: str = "Ready", **statuses: str) -> Server:
    """A server with PE1 and PE2 Pending (unless ``statuses`` say otherwise) and APP Approved."""
    wanted = {PE1: "Pending", PE2: "Pending"} | {k.replace("_", "."): v for k, v in statuses.items()}
    connections = [conn(n, s, server=name) for n, s in wanted.items()] + [conn(APP, "Approved", server=name)]
    return Server.from_az(server_json(connections, server=name, state=state))


def shown(srv: Server, **changes: Any) -> str:
    """``srv`` as ``flexible-server show`` prints it, with connection states changed:
    ``changes`` maps a connection name to (status, provisioningState)."""
    connections = []
    for c in srv.connections:
        status, state = changes.get(c.name, (c.status, c.provisioning_state or "Succeeded"))
        connections.append(conn(c.name, status, server=srv.name, state=state))
    return dumps(server_json(connections, server=srv.name, state=changes.get("state", srv.state)))


def plan_for(action: Action, servers: list[Server], names: list[tuple[str, str]]) -> Plan:
    refs = tuple(ConnectionRef(ServerRef(SUB, RG, s), n) for s, n in names)
    selection = Selection(connections=refs, statuses=(), scope=Scope())
    return build_plan(
        action,
        selection,
        PLANNING_CLIENT,
        description=None,
        concurrency=4,
        read=reader(),
        snapshot=servers,
    )


@pytest.fixture
def client(fake_az: str) -> AzClient:
    return AzClient(AzRunner(fake_az, timeout=60), subscription=None, write_timeout=300)


def show(fake_az: str, name: str = "pg-a") -> list[str]:
    return show_argv(fake_az, server=name, sub=SUB)


def write(fake_az: str, target: str, verb: str = "reject", name: str = "pg-a") -> list[str]:
    return write_argv(fake_az, verb, target, server=name, sub=SUB)


def group_list(fake_az: str) -> list[str]:
    """The group read that refreshes an old plan: every server of the resource group at once."""
    return list_argv(fake_az, rg=RG, sub=SUB)


def run(
    client: AzClient, plan: Plan, options: RunOptions = FAST, **kw: Any
) -> tuple[Executor, dict[str, TargetResult]]:
    executor = Executor(client, plan, options, **kw)
    results = executor.run()
    return executor, {r.target.name: r for r in results}


# -- the busy wait ------------------------------------------------------------------------------


def test_the_next_write_waits_for_the_servers_own_operation(
    fp: FakeProcess, fake_az: str, client: AzClient
) -> None:
    """``at-once`` timing: az returned with the new status while the server stays Updating;
    the next reject on it earns a 409, then waits until the server is free."""
    srv = server()
    fp.register(write(fake_az, PE1), stdout=dumps(connection_raw(PE1, server="pg-a")))
    fp.register(write(fake_az, PE2), returncode=1, stderr=BUSY)
    after_first = {PE1: ("Rejected", "Succeeded")}
    fp.register(show(fake_az), stdout=shown(srv, **after_first, state="Updating"), occurrences=2)
    fp.register(show(fake_az), stdout=shown(srv, **after_first))
    fp.register(write(fake_az, PE2), stdout=dumps(connection_raw(PE2, server="pg-a")))
    options = RunOptions(wait=wait_none(), poll=wait_fixed(0.01), retries=0)
    _, results = run(client, plan_for(Action.REJECT, [srv], [("pg-a", PE1), ("pg-a", PE2)]), options)
    assert results[PE1].outcome is Outcome.REJECTED and results[PE1].waited == 0
    assert results[PE2].outcome is Outcome.REJECTED
    assert results[PE2].waited > 0
    assert results[PE2].attempts == 2  # the 409, then the write
    assert fp.call_count(show(fake_az)) == 3


def test_an_approve_after_a_write_on_the_server_reads_it_first(
    fp: FakeProcess, fake_az: str, client: AzClient
) -> None:
    """The connection may have become Rejected meanwhile (and az polls a failed approve for
    minutes): an approve that follows a write on its server reads the server first."""
    srv = server()
    fp.register(write(fake_az, PE1, "approve"), stdout=dumps(connection_raw(PE1, "Approved", server="pg-a")))
    fp.register(
        show(fake_az), stdout=shown(srv, **{PE1: ("Approved", "Succeeded"), PE2: ("Rejected", "Succeeded")})
    )
    _, results = run(client, plan_for(Action.APPROVE, [srv], [("pg-a", PE1), ("pg-a", PE2)]))
    assert results[PE1].outcome is Outcome.APPROVED
    error = results[PE2].error
    assert error is not None and error.code == "RejectedIsFinal"
    assert fp.call_count(write(fake_az, PE2, "approve")) == 0


def test_a_foreign_operation_is_waited_for_without_using_retries(
    fp: FakeProcess, fake_az: str, client: AzClient
) -> None:
    srv = server()
    fp.register(write(fake_az, PE1), returncode=1, stderr=BUSY)
    fp.register(show(fake_az), stdout=shown(srv, state="Updating"), occurrences=2)
    fp.register(show(fake_az), stdout=shown(srv))
    fp.register(write(fake_az, PE1), returncode=1, stderr=BUSY)  # reads Ready, still refuses
    fp.register(show(fake_az), stdout=shown(srv))
    fp.register(write(fake_az, PE1), stdout=dumps(connection_raw(PE1, server="pg-a")))
    options = RunOptions(wait=wait_none(), poll=wait_none(), retries=0)
    _, results = run(client, plan_for(Action.REJECT, [srv], [("pg-a", PE1)]), options)
    assert results[PE1].outcome is Outcome.REJECTED, results[PE1].error
    assert results[PE1].attempts == 3


def test_a_server_busy_past_the_budget_fails_as_busy(fp: FakeProcess, fake_az: str, client: AzClient) -> None:
    srv = server()
    fp.register(write(fake_az, PE1), stdout=dumps(connection_raw(PE1, server="pg-a")))
    fp.register(write(fake_az, PE2), returncode=1, stderr=BUSY)
    fp.register(show(fake_az), stdout=shown(srv, **{PE1: ("Rejected", "Succeeded")}, state="Updating"))
    options = RunOptions(wait=wait_none(), poll=wait_none(), busy_timeout=0)
    _, results = run(client, plan_for(Action.REJECT, [srv], [("pg-a", PE1), ("pg-a", PE2)]), options)
    assert results[PE1].outcome is Outcome.REJECTED
    assert results[PE2].outcome is Outcome.FAILED
    error = results[PE2].error
    assert error is not None and error.code == "ServerBusy"
    assert results[PE2].exit_code == 5
    assert fp.call_count(write(fake_az, PE2)) == 1  # refused as busy; not tried again


def test_servers_go_on_while_one_waits(fp: FakeProcess, fake_az: str, client: AzClient) -> None:
    """pg-a is busy until pg-b's write has run: the wait on one server does not hold the other."""
    a, b = server("pg-a"), server("pg-b")
    b_written = threading.Event()

    def busy_until_b_is_written(process: Any) -> None:
        process.returncode = 0
        ready = b_written.is_set()
        process.stdout.write(shown(a) if ready else shown(a, state="Updating"))

    fp.register(write(fake_az, PE1), returncode=1, stderr=BUSY)
    fp.register(show(fake_az), callback=busy_until_b_is_written, occurrences=1000)
    fp.register(write(fake_az, PE1), stdout=dumps(connection_raw(PE1, server="pg-a")))
    fp.register(write(fake_az, PE2, name="pg-b"), stdout=dumps(connection_raw(PE2, server="pg-b")),
                callback=lambda _p: b_written.set())  # fmt: skip
    plan = plan_for(Action.REJECT, [a, b], [("pg-a", PE1), ("pg-b", PE2)])
    options = RunOptions(wait=wait_none(), poll=wait_fixed(0.001), busy_timeout=30, concurrency=2)
    _, results = run(client, plan, options)
    assert results[PE1].outcome is Outcome.REJECTED and results[PE2].outcome is Outcome.REJECTED
    assert results[PE1].waited > 0


# -- one target's write: retries, re-reads, verification -----------------------------------------


def timed_out(process: Any) -> None:
    raise subprocess.TimeoutExpired(cmd="az", timeout=300)


GAVE_UP = json.loads((DATA / "az-network-approve-rejected.json").read_text())["stderr"]


@pytest.mark.parametrize(
    "ending",
    [
        {"stdout": ACCEPTED},  # az's 20 polls ran out: it printed the 202 body, exit 0
        {"returncode": 1, "stderr": GAVE_UP},  # the polls ran out, then az crashed on an empty body
    ],
    ids=["exit-0-with-the-202-body", "az-gave-up-and-crashed"],
)
def test_a_write_that_never_lands_is_the_services_failure_whatever_az_did(
    fp: FakeProcess, fake_az: str, client: AzClient, ending: dict[str, Any]
) -> None:
    srv = server()
    fp.register(write(fake_az, PE1), **ending)
    fp.register(show(fake_az), stdout=shown(srv))  # settled, still Pending, server Ready
    options = RunOptions(wait=wait_none(), poll=wait_none(), retries=3)
    _, results = run(client, plan_for(Action.REJECT, [srv], [("pg-a", PE1)]), options)
    result = results[PE1]
    assert result.outcome is Outcome.FAILED
    assert result.error is not None and result.error.code == "NotConverged"
    assert "did not take effect: the connection is still Pending" in result.error.message
    assert result.attempts == 1  # not retried, whatever --timeout is


def test_a_timed_out_write_is_decided_by_a_read_and_not_retried(
    fp: FakeProcess, fake_az: str, client: AzClient
) -> None:
    """--timeout cut az short: a read decides. Still running: wait for it; settled as before:
    report the timeout (the write may never have been sent), without retrying."""
    srv = server()
    fp.register(write(fake_az, PE1), callback=timed_out)
    fp.register(write(fake_az, PE2), callback=timed_out)
    fp.register(show(fake_az), stdout=shown(srv, **{PE1: ("Pending", "Updating")}, state="Updating"))
    fp.register(show(fake_az), stdout=shown(srv, **{PE1: ("Rejected", "Succeeded")}), occurrences=2)
    options = RunOptions(wait=wait_none(), poll=wait_none(), retries=3)
    _, results = run(client, plan_for(Action.REJECT, [srv], [("pg-a", PE1), ("pg-a", PE2)]), options)
    assert results[PE1].outcome is Outcome.REJECTED
    error = results[PE2].error
    assert (results[PE2].outcome, error and error.code) == (
        Outcome.FAILED,
        "Timeout",
    )
    assert results[PE2].attempts == 1


def test_an_operation_running_past_the_budget_is_not_converged(
    fp: FakeProcess, fake_az: str, client: AzClient
) -> None:
    srv = server()
    fp.register(write(fake_az, PE1), stdout=ACCEPTED)
    fp.register(show(fake_az), stdout=shown(srv, **{PE1: ("Pending", "Updating")}), occurrences=2)
    options = RunOptions(wait=wait_none(), poll=wait_none(), busy_timeout=0)
    _, results = run(client, plan_for(Action.REJECT, [srv], [("pg-a", PE1)]), options)
    result = results[PE1]
    assert (result.outcome, result.error and result.error.code) == (Outcome.FAILED, "NotConverged")
    assert result.connection is not None and result.connection.provisioning_state == "Updating"


def test_a_long_operation_is_waited_out_then_verified(
    fp: FakeProcess, fake_az: str, client: AzClient
) -> None:
    srv = server()
    fp.register(write(fake_az, PE1), stdout=ACCEPTED)
    fp.register(
        show(fake_az), stdout=shown(srv, **{PE1: ("Pending", "Updating")}, state="Updating"), occurrences=5
    )
    fp.register(show(fake_az), stdout=shown(srv, **{PE1: ("Rejected", "Succeeded")}))
    options = RunOptions(wait=wait_none(), poll=wait_none(), retries=0)
    _, results = run(client, plan_for(Action.REJECT, [srv], [("pg-a", PE1)]), options)
    assert results[PE1].outcome is Outcome.REJECTED
    connection = results[PE1].connection
    assert connection is not None and connection.status == "Rejected"
    assert fp.call_count(write(fake_az, PE1)) == 1


def test_a_failed_provisioning_state_is_settled_and_reported_at_once(
    fp: FakeProcess, fake_az: str, client: AzClient
) -> None:
    srv = server()
    fp.register(write(fake_az, PE1), stdout=ACCEPTED)
    fp.register(show(fake_az), stdout=shown(srv, **{PE1: ("Pending", "Failed")}))
    options = RunOptions(wait=wait_none(), poll=wait_none(), retries=3)
    _, results = run(client, plan_for(Action.REJECT, [srv], [("pg-a", PE1)]), options)
    result = results[PE1]
    assert (result.outcome, result.error and result.error.code) == (Outcome.FAILED, "OperationFailed")
    assert fp.call_count(write(fake_az, PE1)) == 1  # not retried
    assert fp.call_count(show(fake_az)) == 1  # not polled


def test_a_connection_rejected_after_the_plan_is_not_approved(
    fp: FakeProcess, fake_az: str, client: AzClient
) -> None:
    srv = server()
    plan = plan_for(Action.APPROVE, [srv], [("pg-a", PE1)])
    plan.read_at -= 3600  # the plan's read is old: the engine looks again before writing
    fp.register(group_list(fake_az), stdout=f"[{shown(srv, **{PE1: ('Rejected', 'Succeeded')})}]")
    _, results = run(client, plan)
    result = results[PE1]
    assert (result.outcome, result.error and result.error.code) == (Outcome.FAILED, "RejectedIsFinal")
    assert fp.call_count(write(fake_az, PE1, "approve")) == 0


def test_a_server_stopped_mid_run_fails_its_target_without_a_write(
    fp: FakeProcess, fake_az: str, client: AzClient
) -> None:
    srv = server()
    plan = plan_for(Action.REJECT, [srv], [("pg-a", PE1)])
    plan.read_at -= 3600
    fp.register(group_list(fake_az), stdout=f"[{shown(srv, state='Stopped')}]")
    _, results = run(client, plan)
    assert (results[PE1].outcome, results[PE1].exit_code) == (Outcome.FAILED, 5)
    error = results[PE1].error
    assert error is not None and "is Stopped" in error.message
    assert fp.call_count(write(fake_az, PE1)) == 0


def test_a_delete_counts_only_once_the_connection_is_gone(
    fp: FakeProcess, fake_az: str, client: AzClient
) -> None:
    srv = server()
    fp.register(write_argv(fake_az, "delete", PE1, server="pg-a", sub=SUB), stdout="")
    fp.register(show(fake_az), stdout=shown(srv, **{PE1: ("Pending", "Deleting")}), occurrences=2)
    gone = server_json([conn(PE2, server="pg-a"), conn(APP, "Approved", server="pg-a")], server="pg-a")
    fp.register(show(fake_az), stdout=dumps(gone))
    _, results = run(client, plan_for(Action.DELETE, [srv], [("pg-a", PE1)]))
    assert results[PE1].outcome is Outcome.DELETED
    assert fp.call_count(show(fake_az)) == 3


def test_a_failed_verification_read_is_unverified_not_the_stale_status(
    fp: FakeProcess, fake_az: str, client: AzClient
) -> None:
    srv = server()
    denied = network_error("Forbidden", "AuthorizationFailed", "no read permission")
    fp.register(write_argv(fake_az, "delete", PE1, server="pg-a", sub=SUB), stdout="")
    fp.register(show(fake_az), returncode=1, stderr=denied, occurrences=2)
    _, results = run(client, plan_for(Action.DELETE, [srv], [("pg-a", PE1)]))
    result = results[PE1]
    assert (result.outcome, result.error and result.error.code) == (Outcome.FAILED, "Unverified")
    assert result.to_record()["status"] is None  # not the Pending of before the write


# -- the scheduler: order, bounds, Ctrl-C, reporting, bugs --------------------------------------


class Tracker:
    """Counts fake az writes running at once, overall and per server. The first ``overlap``
    writes wait for each other (so they surely run at once), then each write holds a moment
    longer, in which a write that should not run yet would be seen."""

    def __init__(self, overlap: int) -> None:
        self.lock = threading.Lock()
        self.active: dict[str, int] = {}
        self.started = 0
        self.max_total = 0
        self.max_per_server = 0
        self.together = threading.Barrier(overlap)
        self.overlap = overlap

    def callback(self, name: str) -> Callable[[Any], None]:
        def cb(process: Any) -> None:
            with self.lock:
                self.started += 1
                first = self.started <= self.overlap
                self.active[name] = self.active.get(name, 0) + 1
                self.max_total = max(self.max_total, sum(self.active.values()))
                self.max_per_server = max(self.max_per_server, self.active[name])
            if first:
                self.together.wait(timeout=5)  # breaks (and fails the test) unless they overlap
            threading.Event().wait(0.2)  # room for a write that would break the bound
            with self.lock:
                self.active[name] -= 1

        return cb


def test_writes_on_one_server_run_one_at_a_time_servers_in_parallel(
    fp: FakeProcess, fake_az: str, client: AzClient
) -> None:
    tracker = Tracker(overlap=2)
    servers = {name: server(name) for name in ("pg-a", "pg-b")}
    for name, srv in servers.items():
        for target in (PE1, PE2):
            fp.register(write(fake_az, target, name=name), stdout=dumps(connection_raw(target, server=name)),
                        callback=tracker.callback(name))  # fmt: skip
        fp.register(show(fake_az, name), stdout=shown(srv))
    plan = plan_for(Action.REJECT, list(servers.values()), [(s, n) for s in servers for n in (PE1, PE2)])
    results = Executor(client, plan, FAST).run()
    assert [r.outcome for r in results] == [Outcome.REJECTED] * 4
    assert tracker.max_per_server == 1
    assert tracker.max_total == 2


def test_no_more_servers_are_written_at_once_than_the_concurrency(
    fp: FakeProcess, fake_az: str, client: AzClient
) -> None:
    tracker = Tracker(overlap=2)
    names = ("pg-a", "pg-b", "pg-c")
    for name in names:
        fp.register(write(fake_az, PE1, name=name), stdout=dumps(connection_raw(PE1, server=name)),
                    callback=tracker.callback(name))  # fmt: skip
    plan = plan_for(Action.REJECT, [server(n) for n in names], [(n, PE1) for n in names])
    _, results = run(client, plan, RunOptions(wait=wait_none(), poll=wait_none(), concurrency=2))
    assert tracker.max_total == 2
    assert all(r.outcome is Outcome.REJECTED for r in results.values())


def test_cancelled_before_the_run_writes_nothing_and_reports_every_target(
    fp: FakeProcess, fake_az: str, client: AzClient
) -> None:
    plan = plan_for(
        Action.REJECT, [server("pg-a"), server("pg-b")], [("pg-a", PE1), ("pg-a", PE2), ("pg-b", PE1)]
    )
    executor = Executor(client, plan, FAST)
    executor.cancelled.set()
    results = executor.run()
    assert [r.outcome for r in results] == [Outcome.SKIPPED] * 3
    assert all(r.error is not None and r.error.code == "Interrupted" for r in results)
    assert len(fp.calls) == 0


def test_ctrl_c_during_a_write_lets_it_finish_and_starts_nothing_more(
    fp: FakeProcess, fake_az: str, client: AzClient
) -> None:
    srv = server()
    plan = plan_for(Action.REJECT, [srv], [("pg-a", PE1), ("pg-a", PE2)])
    executor = Executor(client, plan, FAST)

    def ctrl_c_then_finish(process: Any) -> None:
        _thread.interrupt_main()
        assert executor.cancelled.wait(5), "Ctrl-C did not cancel the run"

    fp.register(
        write(fake_az, PE1), stdout=dumps(connection_raw(PE1, server="pg-a")), callback=ctrl_c_then_finish
    )
    results = {r.target.name: r for r in executor.run()}
    assert executor.interrupted
    assert results[PE1].outcome is Outcome.REJECTED  # finished within the grace
    assert results[PE2].outcome is Outcome.SKIPPED
    assert fp.call_count(write(fake_az, PE2)) == 0


@pytest.fixture
def killable(fp: FakeProcess) -> Iterator[threading.Event]:
    """Set when a fake az gets SIGKILL (what the runner sends after the grace)."""
    yield threading.Event()


@pytest.mark.parametrize("landed", [True, False])
def test_after_the_grace_running_az_is_killed_and_its_target_re_read(
    fp: FakeProcess, fake_az: str, client: AzClient, killable: threading.Event, landed: bool
) -> None:
    srv = server()
    plan = plan_for(Action.REJECT, [srv], [("pg-a", PE1)])
    executor = Executor(client, plan, RunOptions(wait=wait_none(), poll=wait_none(), grace=0.0))

    def hang_until_killed(process: Any) -> None:
        _thread.interrupt_main()
        assert killable.wait(5), "az was not killed after the grace"

    def on_signal(process: Any, sig: int) -> None:
        if sig == signal.SIGKILL:
            process.returncode = -9
            killable.set()

    fp.register(write(fake_az, PE1), callback=hang_until_killed, signal_callback=on_signal)
    after = ("Rejected", "Succeeded") if landed else ("Pending", "Updating")
    fp.register(show(fake_az), stdout=shown(srv, **{PE1: after}))
    [result] = executor.run()
    assert executor.interrupted and killable.is_set()
    if landed:
        assert result.outcome is Outcome.REJECTED
    else:
        assert (result.outcome, result.error and result.error.code) == (Outcome.FAILED, "Interrupted")
        assert result.connection is not None and result.connection.provisioning_state == "Updating"
    assert fp.call_count(show(fake_az)) == 1  # re-read after the kill, not reported stale


def test_a_second_ctrl_c_kills_at_once_and_re_reads(
    fp: FakeProcess, fake_az: str, client: AzClient, killable: threading.Event
) -> None:
    srv = server()
    plan = plan_for(Action.REJECT, [srv], [("pg-a", PE1)])
    executor = Executor(client, plan, RunOptions(wait=wait_none(), poll=wait_none(), grace=60.0))

    def ctrl_c_twice(process: Any) -> None:
        _thread.interrupt_main()
        assert executor.cancelled.wait(5)
        _thread.interrupt_main()
        assert killable.wait(5), "the second Ctrl-C did not kill az"

    def on_signal(process: Any, sig: int) -> None:
        process.returncode = -9
        killable.set()

    fp.register(write(fake_az, PE1), callback=ctrl_c_twice, signal_callback=on_signal)
    fp.register(show(fake_az), stdout=shown(srv, **{PE1: ("Rejected", "Succeeded")}))
    [result] = executor.run()
    assert result.outcome is Outcome.REJECTED  # the write had landed: the re-read shows it


def test_a_server_not_ready_after_wait_ready_fails_its_targets(
    fp: FakeProcess, fake_az: str, client: AzClient
) -> None:
    srv = server(state="Starting")
    fp.register(show(fake_az), stdout=shown(srv))
    fp.keep_last_process(True)
    options = RunOptions(wait=wait_none(), poll=wait_none(), wait_ready=0.05)
    _, results = run(client, plan_for(Action.REJECT, [srv], [("pg-a", PE1), ("pg-a", PE2)]), options)
    for result in results.values():
        assert (result.outcome, result.error and result.error.code) == (Outcome.FAILED, "ServerNotReady")
        assert result.error is not None and "still Starting after 0.05s" in result.error.message
    assert fp.call_count(write(fake_az, PE1)) == 0


def test_a_read_error_while_waiting_for_ready_keeps_its_own_exit_code(
    fp: FakeProcess, fake_az: str, client: AzClient
) -> None:
    srv = server(state="Starting")
    denied = network_error("Forbidden", "AuthorizationFailed", "no")
    fp.register(show(fake_az), returncode=1, stderr=denied)
    options = RunOptions(wait=wait_none(), poll=wait_none(), wait_ready=60)
    _, results = run(client, plan_for(Action.REJECT, [srv], [("pg-a", PE1)]), options)
    assert isinstance(results[PE1].error, AuthError)
    assert results[PE1].exit_code == 4


def test_a_server_updating_at_the_start_follows_wait_ready_unless_the_run_is_under_way(
    fp: FakeProcess, fake_az: str, client: AzClient
) -> None:
    srv = server(state="Updating")
    plan = plan_for(Action.REJECT, [srv], [("pg-a", PE1)])
    _, results = run(client, plan)
    error = results[PE1].error
    assert error is not None and error.code == "ServerNotReady"
    fp.register(show(fake_az), stdout=shown(srv, state="Ready"))
    fp.register(write(fake_az, PE1), stdout=dumps(connection_raw(PE1, server="pg-a")))
    _, results = run(client, plan, RunOptions(wait=wait_none(), poll=wait_none(), under_way=True))
    assert results[PE1].outcome is Outcome.REJECTED


def test_an_audit_failure_mid_run_stops_further_writes_and_keeps_every_result(
    fp: FakeProcess, fake_az: str, client: AzClient
) -> None:
    srv = server()
    fp.register(write(fake_az, PE1), stdout=dumps(connection_raw(PE1, server="pg-a")))
    disk_full = AzpeError("audit log: No space left on device", code="AuditLogFailed")

    def on_result(result: TargetResult) -> None:
        raise disk_full

    plan = plan_for(Action.REJECT, [srv], [("pg-a", PE1), ("pg-a", PE2)])
    executor, results = run(client, plan, on_result=on_result)
    assert executor.failure is disk_full
    assert results[PE1].outcome is Outcome.REJECTED
    assert results[PE2].outcome is Outcome.SKIPPED
    assert fp.call_count(write(fake_az, PE2)) == 0


def test_after_an_audit_failure_a_write_already_made_is_seen_to_its_end(
    fp: FakeProcess, fake_az: str, client: AzClient
) -> None:
    """pg-b's delete was made and is being verified when pg-a's result cannot be audited: no
    further write starts (pg-a's second), but pg-b's is waited for until a read shows it."""
    srv_a, srv_b = server("pg-a"), server("pg-b")
    plan = plan_for(Action.DELETE, [srv_a, srv_b], [("pg-a", PE1), ("pg-a", PE2), ("pg-b", PE1)])
    executor = Executor(client, plan, FAST, on_result=audit_fails)
    deleting = shown(srv_b, **{PE1: ("Pending", "Deleting")}, state="Updating")

    b_verifying, once_pg_b_is_verifying = held_until_the_run_stops(executor)

    for name in ("pg-a", "pg-b"):
        fp.register(write_argv(fake_az, "delete", PE1, server=name, sub=SUB), stdout="")
    fp.register(show(fake_az, "pg-b"), stdout=deleting, callback=b_verifying)
    fp.register(show(fake_az, "pg-b"), stdout=deleting)
    fp.register(show(fake_az, "pg-b"), stdout=gone(srv_b, PE1))
    fp.register(show(fake_az, "pg-a"), stdout=gone(srv_a, PE1), callback=once_pg_b_is_verifying)
    results = {(r.target.server.name, r.target.name): r for r in executor.run()}
    assert executor.failure is not None and not executor.interrupted
    assert results["pg-a", PE1].outcome is Outcome.DELETED
    assert results["pg-a", PE2].outcome is Outcome.SKIPPED
    assert results["pg-b", PE1].outcome is Outcome.DELETED
    assert fp.call_count(show(fake_az, "pg-b")) == 3
    assert fp.call_count(write_argv(fake_az, "delete", PE2, server="pg-a", sub=SUB)) == 0


@pytest.mark.parametrize(
    ("recording", "code"),
    [
        ("network-reject-500", "InternalServerError"),
        ("network-reject-403", "AuthorizationFailed"),
    ],
    ids=["transient", "final"],
)
def test_after_an_audit_failure_a_failed_write_is_not_tried_again(
    fp: FakeProcess, fake_az: str, client: AzClient, recording: str, code: str
) -> None:
    """pg-b's reject failed (a 500: it may have landed; a 403) just as the run stopped: it is
    read again and reported with its own error, not retried - no further write starts once
    the run stops, and nobody pressed Ctrl-C."""
    srv_a, srv_b = server("pg-a"), server("pg-b")
    plan = plan_for(Action.REJECT, [srv_a, srv_b], [("pg-a", PE1), ("pg-b", PE1)])
    executor = Executor(client, plan, FAST, on_result=audit_fails)
    b_writing, once_pg_b_is_writing = held_until_the_run_stops(executor)

    fp.register(
        write(fake_az, PE1, name="pg-a"),
        stdout=dumps(connection_raw(PE1, server="pg-a")),
        callback=once_pg_b_is_writing,
    )
    fp.register(
        write(fake_az, PE1, name="pg-b"),
        returncode=1,
        stderr=recorded(recording)["stderr"],
        callback=b_writing,
    )
    fp.register(show(fake_az, "pg-b"), stdout=shown(srv_b), occurrences=2)
    results = {r.target.server.name: r for r in executor.run()}
    assert executor.failure is not None
    assert results["pg-a"].outcome is Outcome.REJECTED
    assert (results["pg-b"].outcome, results["pg-b"].error and results["pg-b"].error.code) == (
        Outcome.FAILED,
        code,
    )
    assert fp.call_count(write(fake_az, PE1, name="pg-b")) == 1
    assert fp.call_count(show(fake_az, "pg-b")) == 1  # read once, to see what the write did


def test_after_an_audit_failure_a_target_not_yet_written_stops_retrying_its_reads(
    fp: FakeProcess, fake_az: str, client: AzClient
) -> None:
    """The run stops while a target reads its server first (its look is old) and is throttled:
    it is skipped at once, not after its reads' whole retry schedule."""
    srv = server()
    cancel = threading.Event()
    options = RunOptions(wait=wait_none(), poll=wait_none(), retries=3)
    writer = TargetWrite(client, Action.REJECT, None, options, cancel=cancel, interrupt=threading.Event())
    throttled = recorded("postgres-show-429")["stderr"]
    stop_then_throttled = lambda _process: cancel.set()  # noqa: E731
    fp.register(group_list(fake_az), returncode=1, stderr=throttled, callback=stop_then_throttled)
    fp.register(show(fake_az), returncode=1, stderr=throttled)
    plan = plan_for(Action.REJECT, [srv], [("pg-a", PE1)])
    result, _ = writer.run(plan.writes[0], Look(srv, time.monotonic() - 3600))
    assert (result.outcome, result.error and result.error.code) == (Outcome.SKIPPED, "Interrupted")
    assert [list(c) for c in fp.calls] == [group_list(fake_az), show(fake_az)]  # one try each


@pytest.mark.parametrize("landed", [True, False])
def test_ctrl_c_while_a_written_target_sleeps_between_polls_reads_it_once(
    fp: FakeProcess, fake_az: str, client: AzClient, landed: bool
) -> None:
    """Ctrl-C cuts the wait between two polls of a delete's operation: one read decides it."""
    srv = server()
    executor = Executor(client, plan_for(Action.DELETE, [srv], [("pg-a", PE1)]), RunOptions(
        wait=wait_none(), poll=wait_fixed(60), grace=5.0))  # fmt: skip
    deleting = shown(srv, **{PE1: ("Pending", "Deleting")}, state="Updating")

    def ctrl_c_soon(process: Any) -> None:  # the target is asleep by then, for 60 s
        threading.Timer(0.3, _thread.interrupt_main).start()

    fp.register(write_argv(fake_az, "delete", PE1, server="pg-a", sub=SUB), stdout="")
    fp.register(show(fake_az), stdout=deleting, callback=ctrl_c_soon)
    fp.register(show(fake_az), stdout=gone(srv, PE1) if landed else deleting)
    fp.register(show(fake_az), stdout=gone(srv, PE1))  # a further read would show it gone
    [result] = executor.run()
    assert executor.interrupted
    assert result.outcome is (Outcome.DELETED if landed else Outcome.FAILED)
    assert fp.call_count(show(fake_az)) == 2  # the poll, then one read after Ctrl-C


def test_ctrl_c_while_waiting_out_a_foreign_operation_skips_the_target_without_a_read(
    fp: FakeProcess, fake_az: str, client: AzClient
) -> None:
    """PE1 is under another operation: the target sleeps before its first poll; Ctrl-C cuts
    that sleep, and the target is skipped without a further az call."""
    busy = Server.from_az(server_json([conn(PE1, server="pg-a", state="Updating")], server="pg-a"))
    executor = Executor(client, plan_for(Action.REJECT, [busy], [("pg-a", PE1)]), RunOptions(
        wait=wait_none(), poll=wait_fixed(60), grace=5.0))  # fmt: skip
    fp.register(show(fake_az), stdout=shown(busy))  # a poll would read it still busy
    threading.Timer(0.5, _thread.interrupt_main).start()  # the target is asleep by then, for 60 s
    [result] = executor.run()
    assert executor.interrupted
    assert (result.outcome, result.error and result.error.code) == (Outcome.SKIPPED, "Interrupted")
    assert fp.call_count(show(fake_az)) == 0


@pytest.mark.parametrize("landed", [True, False])
def test_ctrl_c_during_a_verification_read_lets_that_read_decide(
    fp: FakeProcess, fake_az: str, client: AzClient, landed: bool
) -> None:
    """Ctrl-C comes while the read that polls a delete's operation runs: that read, answered
    after Ctrl-C, says what became of the write (design.md §3, step 8: re-read what was in
    flight), and no further read is made."""
    srv = server()
    plan = plan_for(Action.DELETE, [srv], [("pg-a", PE1)])
    executor = Executor(client, plan, FAST)
    deleting = shown(srv, **{PE1: ("Pending", "Deleting")}, state="Updating")

    def ctrl_c(process: Any) -> None:
        _thread.interrupt_main()
        assert executor.interrupt_event.wait(5), "Ctrl-C did not interrupt the run"

    fp.register(write_argv(fake_az, "delete", PE1, server="pg-a", sub=SUB), stdout="")
    fp.register(show(fake_az), stdout=gone(srv, PE1) if landed else deleting, callback=ctrl_c)
    fp.register(show(fake_az), stdout=gone(srv, PE1))  # a further read would show it gone
    [result] = executor.run()
    assert executor.interrupted
    if landed:
        assert result.outcome is Outcome.DELETED
    else:
        assert (result.outcome, result.error and result.error.code) == (Outcome.FAILED, "Interrupted")
        assert result.connection is not None and result.connection.provisioning_state == "Deleting"
    assert fp.call_count(show(fake_az)) == 1


def held_until_the_run_stops(executor: Executor) -> tuple[Callable[[Any], None], Callable[[Any], None]]:
    """Two fake-az callbacks: the first holds its az call until the run stops; the second lets
    its own call answer only once the first is held - so that call's result stops the run
    while the first target is in the middle of its write."""
    held = threading.Event()

    def hold(process: Any) -> None:
        held.set()
        assert executor.cancelled.wait(5), "the run did not stop"

    def once_held(process: Any) -> None:
        assert held.wait(5), "the held az call did not start"

    return hold, once_held


def audit_fails(result: TargetResult) -> None:
    raise AzpeError("audit log: No space left on device", code="AuditLogFailed")


def gone(srv: Server, name: str) -> str:
    """``srv`` as ``flexible-server show`` prints it once connection ``name`` is deleted."""
    rest = [conn(c.name, c.status, server=srv.name) for c in srv.connections if c.name != name]
    return dumps(server_json(rest, server=srv.name))


def test_a_bug_in_a_worker_surfaces_and_starts_no_further_write(
    fp: FakeProcess, fake_az: str, client: AzClient
) -> None:
    srv = server()
    fp.register(write(fake_az, PE1), stdout=dumps(connection_raw(PE1, server="pg-a")))

    def buggy(result: TargetResult) -> None:
        raise RuntimeError("a bug")

    plan = plan_for(Action.REJECT, [srv], [("pg-a", PE1), ("pg-a", PE2)])
    executor = Executor(client, plan, FAST, on_result=buggy)
    with pytest.raises(RuntimeError, match="a bug"):
        executor.run()
    assert executor.cancelled.is_set()
    assert fp.call_count(write(fake_az, PE2)) == 0


def test_an_outage_ends_the_run_promptly_and_skips_the_rest_with_the_cause(
    fp: FakeProcess, fake_az: str, client: AzClient
) -> None:
    """Azure cannot be reached: after the breaker trips no az is started; the targets not yet
    started are skipped with the cause, and the run's exit code is 1."""
    refused = json.loads((DATA / "az-network-reject-unreachable.json").read_text())["stderr"]
    servers = [server(n) for n in ("pg-a", "pg-b", "pg-c")]
    fp.register([fake_az, fp.any()], returncode=1, stderr=refused)
    fp.keep_last_process(True)
    plan = plan_for(Action.REJECT, servers, [(s.name, n) for s in servers for n in (PE1, PE2)])
    results = Executor(client, plan, RunOptions(wait=wait_none(), poll=wait_none(), concurrency=1)).run()
    skipped = [r for r in results if r.outcome is Outcome.SKIPPED]
    assert skipped and all(r.error is not None and r.error.code == "AzureUnreachable" for r in skipped)
    assert all(r.outcome in (Outcome.FAILED, Outcome.SKIPPED) for r in results)
    assert all(r.exit_code == 1 for r in results)
    assert len(fp.calls) == 6  # then no more az


# -- old plans: one group read, not a read per server ---------------------------------------------


def test_an_old_plan_over_many_servers_is_read_again_with_one_group_list(
    fp: FakeProcess, fake_az: str, client: AzClient
) -> None:
    """A fleet's plan grows old while az starts at the machine's pace: the servers are looked
    at again before their first write, all with one ``flexible-server list -g``."""
    servers = [server(f"pg-{i}") for i in range(6)]
    plan = plan_for(Action.REJECT, servers, [(s.name, PE1) for s in servers])
    plan.read_at -= 3600
    fp.register(group_list(fake_az), stdout=dumps([json.loads(shown(s)) for s in servers]), occurrences=6)
    for s in servers:
        fp.register(write(fake_az, PE1, name=s.name), stdout=dumps(connection_raw(PE1, server=s.name)))
    _, results = run(client, plan, RunOptions(wait=wait_none(), poll=wait_none(), concurrency=6))
    assert {r.outcome for r in results.values()} == {Outcome.REJECTED}
    assert fp.call_count(group_list(fake_az)) == 1  # the askers shared it
    assert sum(fp.call_count(show(fake_az, s.name)) for s in servers) == 0


def test_a_group_that_cannot_be_listed_falls_back_to_the_servers_own_read(
    fp: FakeProcess, fake_az: str, client: AzClient
) -> None:
    srv = server()
    plan = plan_for(Action.REJECT, [srv], [("pg-a", PE1)])
    plan.read_at -= 3600
    forbidden = network_error("Forbidden", "AuthorizationFailed", "no list permission on the group")
    fp.register(group_list(fake_az), stderr=forbidden, returncode=1)
    fp.register(show(fake_az), stdout=shown(srv, **{PE1: ("Rejected", "Succeeded")}))
    _, results = run(client, plan)
    assert results[PE1].outcome is Outcome.UNCHANGED  # already so: no write
    assert fp.call_count(show(fake_az)) == 1
    assert fp.call_count(write(fake_az, PE1)) == 0  # the server's own read showed it Rejected


def test_an_old_plan_before_removing_an_approved_connection_takes_the_servers_own_read(
    fp: FakeProcess, fake_az: str, client: AzClient
) -> None:
    """The lock-out guard decides on a read by this target, never on a shared group read."""
    srv = server(**{PE1.replace(".", "_"): "Approved"})  # PE1 and APP Approved: the guard lets one go
    plan = plan_for(Action.REJECT, [srv], [("pg-a", PE1)])
    plan.read_at -= 3600
    fp.register(group_list(fake_az), stdout=f"[{shown(srv)}]")
    fp.register(show(fake_az), stdout=shown(srv))
    fp.register(write(fake_az, PE1), stdout=dumps(connection_raw(PE1, server="pg-a")))
    _, results = run(client, plan)
    assert results[PE1].outcome is Outcome.REJECTED
    assert fp.call_count(show(fake_az)) == 1  # the guard's own read, just before the write


class _Clock:
    """``azpe.target_write``'s view of time: stands still until a test moves it."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


def test_after_a_write_an_old_look_is_renewed_by_a_group_read_made_after_it(
    fp: FakeProcess, fake_az: str, client: AzClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server's second target: its look predates the first write, and the first write
    took long (its look is old). A group read started after that write's az returned serves
    it - never the one from before the write - and no server read is needed."""
    clock = _Clock()
    monkeypatch.setattr("azpe.target_write.time", clock)
    monkeypatch.setattr("azpe.target_write.GroupLooks.REUSE_SECONDS", 3600.0)  # reuse if allowed
    srv = server()
    plan = plan_for(Action.REJECT, [srv], [("pg-a", PE1), ("pg-a", PE2)])
    old = Look(srv, clock.now - 3600)  # the plan's read, long ago

    def takes_a_minute(process: object) -> None:
        clock.now += 60

    after_first = f"[{shown(srv, **{PE1: ('Rejected', 'Succeeded')})}]"
    fp.register(group_list(fake_az), stdout=f"[{shown(srv)}]")
    fp.register(group_list(fake_az), stdout=after_first)
    fp.register(
        write(fake_az, PE1), stdout=dumps(connection_raw(PE1, server="pg-a")), callback=takes_a_minute
    )
    fp.register(write(fake_az, PE2), stdout=dumps(connection_raw(PE2, server="pg-a")))
    writer = TargetWrite(client, Action.REJECT, None, FAST, cancel=threading.Event())
    first, look = writer.run(plan.writes[0], old)
    second, _ = writer.run(plan.writes[1], look)
    assert (first.outcome, second.outcome) == (Outcome.REJECTED, Outcome.REJECTED)
    calls = [list(c) for c in fp.calls]
    assert calls == [group_list(fake_az), write(fake_az, PE1), group_list(fake_az), write(fake_az, PE2)]


def test_a_group_read_made_while_the_servers_write_ran_does_not_serve_its_next_target(
    fp: FakeProcess, fake_az: str, client: AzClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another server's target read the group half-way through PE1's write: that read is
    newer than PE2's look, but older than the write's end (it may show the server before the
    write's operation began), so PE2 waits for a group read started after the write."""
    clock = _Clock()
    monkeypatch.setattr("azpe.target_write.time", clock)
    monkeypatch.setattr("azpe.target_write.GroupLooks.REUSE_SECONDS", 3600.0)  # reuse if allowed
    srv = server()
    plan = plan_for(Action.REJECT, [srv], [("pg-a", PE1), ("pg-a", PE2)])
    writer = TargetWrite(client, Action.REJECT, None, FAST, cancel=threading.Event())

    def another_server_reads_the_group_mid_write(process: object) -> None:
        clock.now += 50  # pg-b's target, whose look is older than now: a new group read
        assert writer.groups.look(plan.writes[0].target.server, newer_than=clock.now - 1) is not None
        clock.now += 10  # PE1's az returns: that read is still fresh (10 s), but predates it

    before_the_operation = f"[{shown(srv)}]"  # the PUT not yet taken: nothing shows it
    after_first = f"[{shown(srv, **{PE1: ('Rejected', 'Succeeded')})}]"
    for listed in (before_the_operation, before_the_operation, after_first):
        fp.register(group_list(fake_az), stdout=listed)
    fp.register(
        write(fake_az, PE1),
        stdout=dumps(connection_raw(PE1, server="pg-a")),
        callback=another_server_reads_the_group_mid_write,
    )
    fp.register(write(fake_az, PE2), stdout=dumps(connection_raw(PE2, server="pg-a")))
    first, look = writer.run(plan.writes[0], Look(srv, clock.now - 3600))
    second, _ = writer.run(plan.writes[1], look)
    assert (first.outcome, second.outcome) == (Outcome.REJECTED, Outcome.REJECTED)
    assert fp.call_count(group_list(fake_az)) == 3  # before PE1, mid-write (pg-b's), before PE2
    assert [list(c) for c in fp.calls][-2:] == [group_list(fake_az), write(fake_az, PE2)]
