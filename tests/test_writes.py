"""The write use case's edges: the confirmation answer, and Ctrl-C at the prompt."""

from __future__ import annotations

import pytest
from pytest_subprocess import FakeProcess

from azpe.az import AzRunner
from azpe.client import Action, AzClient
from azpe.errors import ExitCode
from azpe.ids import ConnectionRef, ServerRef
from azpe.outcomes import Outcome
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
    seen = []
    report = run_write(client, request(), confirm=confirm, on_result=seen.append)  # type: ignore[arg-type]
    assert [(r.outcome, r.error.code if r.error else None) for r in report.results] == [(outcome, code)]
    assert seen == report.results
    assert report.exit_code == exit_code
    assert len(fp.calls) == 1  # the read only
