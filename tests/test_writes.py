"""The write use case's edges: the confirmation answer, and Ctrl-C at the prompt."""

from __future__ import annotations

import logging
import threading

import pytest
from pytest_subprocess import FakeProcess

from azpe.az import AzRunner
from azpe.client import Action, AzClient
from azpe.errors import ExitCode
from azpe.ids import ConnectionRef, ServerRef
from azpe.outcomes import Outcome, TargetResult
from azpe.planning import Plan
from azpe.targets import Scope, Selection
from azpe.writes import WriteRequest, run_write
from tests.azsamples import conn, dumps, server_json
from tests.clihelp import show_argv

PE1 = "pe-foreign.11111111-1111-1111-1111-111111111111"


def request() -> WriteRequest:
    target = ConnectionRef(ServerRef(None, "rg-data", "pg-orders"), PE1)
    return WriteRequest(Action.REJECT, Selection((target,), (), Scope()))


def interrupt(plan: Plan) -> bool:
    raise KeyboardInterrupt


def decline(plan: Plan) -> bool:
    return False


@pytest.mark.parametrize(
    ("confirm", "outcome", "code", "exit_code"),
    [
        (interrupt, Outcome.SKIPPED, "Interrupted", ExitCode.INTERRUPTED),
        (decline, Outcome.SKIPPED, "NotConfirmed", ExitCode.SAFETY),
    ],
)
def test_no_write_without_a_yes_and_every_target_is_reported(
    fp: FakeProcess, fake_az: str, confirm: object, outcome: Outcome, code: str, exit_code: ExitCode
) -> None:
    fp.register(show_argv(fake_az), stdout=dumps(server_json([conn(PE1), conn("pe-app.2", "Approved")])))
    client = AzClient(AzRunner(fake_az, timeout=5), subscription=None, write_timeout=5)
    seen: list[TargetResult] = []
    report = run_write(client, request(), confirm=confirm, on_result=seen.append)  # type: ignore[arg-type]
    assert [(r.outcome, r.error.code if r.error else None) for r in report.results] == [(outcome, code)]
    assert seen == report.results
    assert report.exit_code == exit_code
    assert len(fp.calls) == 1  # the read only


PE2 = "pe-other.22222222-2222-2222-2222-222222222222"


def two_targets_one_rejected() -> WriteRequest:
    server = ServerRef(None, "rg-data", "pg-orders")
    targets = (ConnectionRef(server, PE1), ConnectionRef(server, PE2))
    return WriteRequest(Action.REJECT, Selection(targets, (), Scope()))


@pytest.mark.parametrize("moment", ["on_plan", "on_start", "first result"])
def test_a_ctrl_c_outside_the_executor_still_reports_every_target(
    fp: FakeProcess, fake_az: str, moment: str
) -> None:
    """SIGINT while the decision lines are written, the progress display starts, or a
    result is printed: no write starts, and each target still gets exactly one result."""
    connections = [conn(PE1), conn(PE2, "Rejected"), conn("pe-app.2", "Approved")]
    fp.register(show_argv(fake_az), stdout=dumps(server_json(connections)))
    client = AzClient(AzRunner(fake_az, timeout=5), subscription=None, write_timeout=5)
    seen: list[TargetResult] = []

    def hook(name: str) -> object:
        def call(arg: object) -> None:
            if name == moment:
                raise KeyboardInterrupt

        return call

    def on_result(result: TargetResult) -> None:
        if moment == "first result" and not seen:
            seen.append(result)
            raise KeyboardInterrupt
        seen.append(result)

    report = run_write(
        client,
        two_targets_one_rejected(),
        confirm=lambda _plan: True,
        on_result=on_result,
        on_plan=hook("on_plan"),  # type: ignore[arg-type]
        on_start=hook("on_start"),  # type: ignore[arg-type]
    )
    assert report.exit_code == ExitCode.INTERRUPTED
    by_name = {r.target.name: r for r in report.results}
    assert by_name[PE2].outcome is Outcome.UNCHANGED  # decided without a write
    assert by_name[PE1].outcome is Outcome.SKIPPED
    error = by_name[PE1].error
    assert error is not None and error.code == "Interrupted"
    assert sorted(r.target.name for r in seen) == sorted([PE1, PE2])  # each reported once
    assert len(fp.calls) == 1  # the read only


def test_a_sigterm_before_the_command_runs_exits_130_without_a_traceback() -> None:
    """Start-up and parsing: nothing to report yet, so no careful path - but no traceback."""
    import subprocess
    import sys

    code = (
        "import os, signal, time\n"
        "from azpe.cli.app import _sigterm_as_interrupt\n"
        "_sigterm_as_interrupt()\n"
        "os.kill(os.getpid(), signal.SIGTERM)\n"
        "time.sleep(10)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=False
    )
    assert done.returncode == ExitCode.INTERRUPTED
    assert done.stderr == "azpe: interrupted\n"


def test_a_ctrl_c_while_a_write_runs_makes_the_run_exit_130(fp: FakeProcess, fake_az: str) -> None:
    """The executor's interrupt reaches the report: the write under way finishes (and counts),
    the next one never starts, and the run's code is 130, not the results' 0."""
    import _thread

    from tests.azsamples import SUB, connection_raw
    from tests.clihelp import write_argv

    fp.register(
        show_argv(fake_az), stdout=dumps(server_json([conn(PE1), conn(PE2), conn("pe-app.2", "Approved")]))
    )

    seen = threading.Event()  # the executor took the Ctrl-C (it logs that it starts nothing new)

    class Seen(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.getMessage().startswith("interrupted"):
                seen.set()

    handler = Seen()
    logging.getLogger("azpe").addHandler(handler)

    def ctrl_c(process: object) -> None:
        _thread.interrupt_main()
        assert seen.wait(5), "Ctrl-C did not reach the run"

    first = write_argv(fake_az, "reject", PE1, sub=SUB)
    fp.register(first, stdout=dumps(connection_raw(PE1, "Rejected")), callback=ctrl_c)
    server = ServerRef(None, "rg-data", "pg-orders")
    targets = (ConnectionRef(server, PE1), ConnectionRef(server, PE2))
    client = AzClient(AzRunner(fake_az, timeout=5), subscription=None, write_timeout=5)
    try:
        report = run_write(
            client, WriteRequest(Action.REJECT, Selection(targets, (), Scope())), confirm=lambda _p: True,
            on_result=lambda _r: None,
        )  # fmt: skip
    finally:
        logging.getLogger("azpe").removeHandler(handler)
    assert report.interrupted
    assert report.exit_code == ExitCode.INTERRUPTED
    outcomes = {r.target.name: r.outcome for r in report.results}
    assert outcomes == {PE1: Outcome.REJECTED, PE2: Outcome.SKIPPED}
    assert fp.call_count(write_argv(fake_az, "reject", PE2, sub=SUB)) == 0
