"""Behaviours that the mutation gate (``scripts/mutate.py``) found unpinned: each test here
fails under the mutant named in its docstring, and under nothing the code does today."""

from __future__ import annotations

import fcntl
import json
import os
import threading
import time
import types
from pathlib import Path
from typing import Any

import pytest
from pytest_subprocess import FakeProcess
from tenacity import wait_none

from azpe import target_write
from azpe.assess import lockout_refusal
from azpe.audit import AuditLog
from azpe.az import AzRunner
from azpe.client import Action, AzClient
from azpe.errors import AzpeError, ExitCode, exit_code_for
from azpe.executor import Executor
from azpe.ids import ConnectionRef, ServerRef
from azpe.models import Server
from azpe.outcomes import Outcome, TargetResult
from azpe.planning import Plan, server_key
from azpe.run_options import RunOptions
from tests.azsamples import RG, SUB, conn, connection_raw, dumps, server_json
from tests.clihelp import list_argv, show_argv, write_argv

PE1 = "pe-one.11111111-1111-1111-1111-111111111111"
PE2 = "pe-two.22222222-2222-2222-2222-222222222222"
APP = "pe-app.33333333-3333-3333-3333-333333333333"
FAST = RunOptions(wait=wait_none(), poll=wait_none(), grace=5.0)


def server_with(*connections: dict[str, Any], public: str = "Disabled") -> Server:
    return Server.from_az(server_json(list(connections), server="pg-a", public=public))


def shown(*connections: dict[str, Any]) -> str:
    """A server as ``flexible-server show`` prints it."""
    return dumps(server_json(list(connections), server="pg-a"))


def pending_pair() -> tuple[dict[str, Any], ...]:
    return conn(PE1, server="pg-a"), conn(PE2, server="pg-a"), conn(APP, "Approved", server="pg-a")


def plan_for(srv: Server, *names: str, read_at: float | None = None) -> Plan:
    """A reject of ``names`` on ``srv``, as planning makes it from a read taken at ``read_at``."""
    items = []
    for name in names:
        connection = srv.connection(name)
        ref = ConnectionRef(ServerRef(SUB, RG, srv.name), name)
        previous = connection.status if connection else None
        items.append(TargetResult(ref, Outcome.PLANNED, connection=connection, previous_status=previous))
    servers = {server_key(ServerRef(SUB, RG, srv.name)): srv}
    plan = Plan(action=Action.REJECT, description=None, servers=servers, items=items)
    if read_at is not None:
        plan.read_at = read_at
    return plan


@pytest.fixture
def client(fake_az: str) -> AzClient:
    return AzClient(AzRunner(fake_az, timeout=60), subscription=None, write_timeout=300)


def show(fake_az: str) -> list[str]:
    return show_argv(fake_az, server="pg-a", sub=SUB)


def reject(fake_az: str, name: str) -> list[str]:
    return write_argv(fake_az, "reject", name, server="pg-a", sub=SUB)


def by_name(results: list[TargetResult]) -> dict[str, TargetResult]:
    return {r.target.name: r for r in results}


# -- the lock-out guard (mutants guard-counts-unsettled, guard-case-sensitive) --------------------


def test_an_approved_connection_under_an_operation_does_not_keep_the_server_reachable() -> None:
    """guard-counts-unsettled: another Approved connection counts as one that stays only when
    no operation is changing it (it may be on its way to Rejected)."""
    srv = server_with(
        conn(APP, "Approved", server="pg-a"), conn(PE1, "Approved", server="pg-a", state="Updating")
    )
    refusal = lockout_refusal(Action.REJECT, srv, {APP})
    assert refusal is not None and refusal.code == "LockOutGuard"
    settled = server_with(conn(APP, "Approved", server="pg-a"), conn(PE1, "Approved", server="pg-a"))
    assert lockout_refusal(Action.REJECT, settled, {APP}) is None


def test_the_guard_matches_names_in_any_letter_case() -> None:
    """guard-case-sensitive: Azure names are case-insensitive; a target named in other letters
    is still the server's last Approved connection."""
    name = "PE-App.33333333-3333-3333-3333-333333333333"
    srv = server_with(conn(name, "Approved", server="pg-a"), conn(PE1, server="pg-a"))
    for spelled in (name, name.lower(), name.upper()):
        refusal = lockout_refusal(Action.DELETE, srv, {spelled})
        assert refusal is not None and refusal.code == "LockOutGuard", spelled


# -- verification of a write's own output (mutants idempotence-unsettled, verify-written-status) ---


def test_a_write_printing_the_new_status_mid_operation_is_judged_when_it_settles(
    fp: FakeProcess, fake_az: str, client: AzClient
) -> None:
    """idempotence-unsettled: az printed Rejected while the operation still ran (Updating); it
    then failed. Only a settled Rejected counts: the target failed, it was not rejected."""
    srv = server_with(*pending_pair())
    printed = connection_raw(PE1, "Rejected", server="pg-a")
    printed["properties"]["provisioningState"] = "Updating"
    fp.register(reject(fake_az, PE1), stdout=dumps(printed))
    fp.register(show(fake_az), stdout=shown(conn(PE1, "Pending", server="pg-a", state="Failed"),
                                            conn(APP, "Approved", server="pg-a")))  # fmt: skip
    result = Executor(client, plan_for(srv, PE1), FAST).run()[0]
    assert result.outcome is Outcome.FAILED
    assert result.error is not None and result.error.code == "OperationFailed"


def test_a_write_printing_the_old_status_is_not_success(
    fp: FakeProcess, fake_az: str, client: AzClient
) -> None:
    """verify-written-status: az exited 0 printing the connection still Pending (as the network
    family does when its polls run out): a read decides, and it shows nothing changed."""
    srv = server_with(*pending_pair())
    fp.register(reject(fake_az, PE1), stdout=dumps(connection_raw(PE1, "Pending", server="pg-a")))
    fp.register(show(fake_az), stdout=shown(*pending_pair()))
    result = Executor(client, plan_for(srv, PE1), FAST).run()[0]
    assert result.outcome is Outcome.FAILED
    assert result.error is not None and result.error.code == "NotConverged"
    assert fp.call_count(show(fake_az)) == 1  # the verification read


# -- Ctrl-C (mutants interrupt-next-target-starts, interrupt-target-step) -------------------------


def test_after_ctrl_c_the_next_target_on_the_server_starts_no_az_call(
    fp: FakeProcess, fake_az: str, client: AzClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """interrupt-next-target-starts: Ctrl-C during PE1's write, which ran past the freshness of
    the server read; PE2 is skipped without even a read."""
    offset = [0.0]
    clock = types.SimpleNamespace(monotonic=lambda: time.monotonic() + offset[0])
    monkeypatch.setattr(target_write, "time", clock)
    srv = server_with(*pending_pair())
    executor = Executor(client, plan_for(srv, PE1, PE2), FAST)

    def ctrl_c_mid_write(_process: Any) -> None:
        offset[0] = target_write.FRESH_SECONDS + 5  # the write took long: the read is stale now
        executor.cancelled.set()

    fp.register(
        reject(fake_az, PE1), stdout=dumps(connection_raw(PE1, server="pg-a")), callback=ctrl_c_mid_write
    )
    fp.register(show(fake_az), stdout=shown(*pending_pair()), occurrences=5)
    results = by_name(executor.run())
    assert results[PE1].outcome is Outcome.REJECTED
    assert results[PE2].outcome is Outcome.SKIPPED
    assert [list(call) for call in fp.calls] == [reject(fake_az, PE1)]


def test_once_the_run_stops_the_next_target_of_a_server_not_ready_is_skipped_not_failed(
    fp: FakeProcess, fake_az: str, client: AzClient
) -> None:
    """interrupt-next-target-starts: the server is Starting (no --wait-ready), so its targets
    fail as not Ready; the first one's result cannot be reported (the audit log is full) and
    the run stops: the second is skipped - never started -, not failed as if it was tried."""
    srv = Server.from_az(server_json(list(pending_pair()), server="pg-a", state="Starting"))

    def audit_fails(_result: TargetResult) -> None:
        raise AzpeError("audit log: No space left on device", code="AuditLogFailed")

    executor = Executor(client, plan_for(srv, PE1, PE2), FAST, on_result=audit_fails)
    results = by_name(executor.run())
    error = results[PE1].error
    assert error is not None and error.code == "ServerNotReady"
    assert results[PE2].outcome is Outcome.SKIPPED
    assert len(fp.calls) == 0


@pytest.mark.parametrize("state", ["Ready", "Stopped"])
def test_ctrl_c_during_the_read_before_a_write_stops_the_write(
    fp: FakeProcess, fake_az: str, client: AzClient, state: str
) -> None:
    """interrupt-target-step: the plan's read is stale, so the target reads its server first;
    Ctrl-C comes during that read: the write never starts, and the target is skipped -
    whatever the read shows (a server Stopped meanwhile is not this target's failure)."""
    srv = server_with(*pending_pair())
    executor = Executor(client, plan_for(srv, PE1, read_at=time.monotonic() - 60), FAST)

    def ctrl_c(_process: object) -> None:  # what the executor's Ctrl-C handling sets
        executor.interrupt_event.set()
        executor.cancelled.set()

    # the read is of the server, or of its group (one read serving a fleet's stale looks)
    read = server_json(list(pending_pair()), server="pg-a", state=state)
    fp.register(show(fake_az), stdout=dumps(read), callback=ctrl_c)
    fp.register(list_argv(fake_az, rg=RG, sub=SUB), stdout=dumps([read]), callback=ctrl_c)
    fp.register(reject(fake_az, PE1), stdout=dumps(connection_raw(PE1, server="pg-a")))
    result = executor.run()[0]
    assert result.outcome is Outcome.SKIPPED
    assert result.error is not None and result.error.exit_code is ExitCode.INTERRUPTED
    assert fp.call_count(reject(fake_az, PE1)) == 0


# -- exit codes (mutant exit-mixed) -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("codes", "expected"),
    [
        ([ExitCode.OK, ExitCode.OK], ExitCode.OK),
        ([ExitCode.NOT_FOUND, ExitCode.OK, ExitCode.NOT_FOUND], ExitCode.NOT_FOUND),  # one reason
        ([ExitCode.SAFETY], ExitCode.SAFETY),
        ([ExitCode.NOT_FOUND, ExitCode.SAFETY], ExitCode.AZURE_FAILED),  # mixed reasons: 1
        ([ExitCode.OK, ExitCode.NOT_READY, ExitCode.AUTH], ExitCode.AZURE_FAILED),
    ],
)
def test_mixed_failure_reasons_exit_1_and_one_reason_keeps_its_code(
    codes: list[ExitCode], expected: ExitCode
) -> None:
    assert exit_code_for(codes) is expected


# -- the audit log's lock (mutant audit-flock) --------------------------------------------------------


def test_an_audit_line_waits_for_the_lock_of_another_writer(tmp_path: Path) -> None:
    """audit-flock: while another process (here: another open file) holds the log's lock, a line
    is not appended; it is, whole, once the lock is released."""
    path = tmp_path / "audit.jsonl"
    log = AuditLog(path, command="reject", identity=None)
    result = TargetResult(ConnectionRef(ServerRef(SUB, RG, "pg-a"), PE1), Outcome.REJECTED)
    holder = os.open(path, os.O_RDWR)
    fcntl.flock(holder, fcntl.LOCK_EX)
    writer = threading.Thread(target=log.outcome, args=(result,), daemon=True)
    try:
        writer.start()
        writer.join(timeout=0.5)
        assert writer.is_alive(), "the line was written while another writer held the lock"
        assert path.read_bytes() == b""
    finally:
        fcntl.flock(holder, fcntl.LOCK_UN)
        os.close(holder)
    writer.join(timeout=10)
    lines = path.read_text().splitlines()
    assert [json.loads(line)["event"] for line in lines] == ["decision", "outcome"]
