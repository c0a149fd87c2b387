"""The write engine at real Azure timing (issue 8), with the real az: every bulk command ends
with every target in the wanted state, exit 0, when each connection write is a server
operation longer than azpe's whole retry budget (``--retries 0``: no retry at all), under both
timing models of the emulator:

- ``at-end``: the connection shows ``Updating`` (old status) until the operation ends; az's
  reject polls every 10 s until it sees the new status, so az itself waits the operation out;
- ``at-once``: the connection shows its new status at once, so az returns after its first
  poll, while the server stays ``Updating`` and answers every other write with 409
  ``ServerIsBusy`` until the operation ends: the next write on the server must wait.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from azpe.sandbox import Emulator, connection, prepare_az, scenario, server
from tests.e2e.conftest import AZ, PEC, SUB, Run, Sandbox, wait_for

OP_SECONDS = 15.0  # longer than every retry budget the tests give (--retries 0)
MODELS = ("at-end", "at-once")
SERVERS = ("pg-a", "pg-b", "pg-c")
OWN = {"subscription": SUB, "resource_group": "rg-app"}
FLAGS = ("--retries", "0", "--yes", "-o", "json")

POLICY = f"""\
[organisation]
subscriptions = ["{SUB}"]

[pending]
matched = "approve"
unmatched = "reject"
description = "Rejected by policy"

[[allow]]
name = "own subscription"
subscription = "{SUB}"
"""


def fleet() -> dict[str, Any]:
    """Three servers, each with two Pending connections (one own, one foreign) and an Approved
    own one that keeps the lock-out guard quiet (public network access Disabled)."""
    return scenario(
        [
            server(
                name,
                [
                    connection(f"pe-own-{name}", **OWN),
                    connection(f"pe-stranger-{name}", resource_group="rg-x"),
                    connection(f"pe-main-{name}", "Approved", **OWN),
                ],
            )
            for name in SERVERS
        ]
    )


@pytest.fixture(params=MODELS)
def slow(sandbox: Sandbox, request: pytest.FixtureRequest) -> Sandbox:
    sandbox.seed(fleet())
    sandbox.set_timing(request.param, OP_SECONDS)
    return sandbox


def pending(box: Sandbox) -> dict[str, list[str]]:
    return {name: box.names(name, "Pending") for name in SERVERS}


def assert_every_target_done(run: Run, word: str, targets: int) -> None:
    assert run.code == 0, run
    records = run.json
    assert len(records) == targets
    assert {r["action"] for r in records} == {word}, run
    assert all(r["error"] is None for r in records)
    assert "ServerIsBusy" not in run.stderr  # a busy server is waited for, not reported


def assert_each_write_accepted_once(box: Sandbox) -> None:
    """Per server, the emulator accepted exactly its two writes (it accepts one only when the
    server is free): nothing was written twice, nothing was given up on."""
    for name in SERVERS:
        accepted = [r for r in box.writes() if f"/{name}/" in r["path"] and r["status"] in (200, 202, 204)]
        assert len(accepted) == 2, accepted


def test_bulk_reject_waits_out_long_operations(slow: Sandbox) -> None:
    run = slow.azpe("reject", "-g", "rg-data", "--status", "Pending", *FLAGS, timeout=240)
    assert_every_target_done(run, "rejected", 6)
    assert pending(slow) == {name: [] for name in SERVERS}
    assert all(len(slow.names(name, "Rejected")) == 2 for name in SERVERS)
    assert_each_write_accepted_once(slow)


def test_bulk_approve_waits_out_long_operations(slow: Sandbox) -> None:
    run = slow.azpe("approve", "-g", "rg-data", "--status", "Pending", *FLAGS, timeout=240)
    assert_every_target_done(run, "approved", 6)
    assert all(len(slow.names(name, "Approved")) == 3 for name in SERVERS)
    assert_each_write_accepted_once(slow)


def test_bulk_delete_waits_out_long_operations(slow: Sandbox) -> None:
    run = slow.azpe("delete", "-g", "rg-data", "--status", "Pending", *FLAGS, timeout=240)
    assert_every_target_done(run, "deleted", 6)
    assert all([c["status"] for c in slow.connections(name).values()] == ["Approved"] for name in SERVERS)
    assert_each_write_accepted_once(slow)


def test_enforce_apply_waits_out_long_operations(slow: Sandbox, tmp_path: Path) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text(POLICY)
    run = slow.azpe(
        "enforce", "--policy", str(policy), "-g", "rg-data", "--apply", "--retries", "0", "-o", "json",
        timeout=240,
    )  # fmt: skip
    assert run.code == 0, run
    assert {r["action"] for r in run.json} == {"approved", "rejected"}
    for name in SERVERS:
        assert sorted(c["status"] for c in slow.connections(name).values()) == [
            "Approved",
            "Approved",
            "Rejected",
        ]


def test_the_wait_is_reported_per_target(slow: Sandbox) -> None:
    """Two writes on one server: under ``at-once`` the second waits for the first's operation
    (az returned before it ended); the wait shows in the record and at -v. Operations of 25 s:
    az's reject returns ~10 s into the first, so the server stays busy long after any delay
    of a loaded machine in reading it again."""
    slow.set_timing(slow.em.state.timing, 25.0)
    run = slow.azpe("reject", "-g", "rg-data", "-s", "pg-a", "--status", "Pending", *FLAGS, "-v", timeout=120)
    assert run.code == 0, run
    waited = [r["waitedSeconds"] for r in run.json]
    if slow.em.state.timing == "at-once":
        assert max(waited) > 0
        assert "waited" in run.stderr
    assert slow.count("PUT", PEC) >= 2


@pytest.mark.parametrize("model", MODELS)
def test_two_runs_racing_for_the_last_two_approved_connections_leave_one(
    sandbox: Sandbox, model: str
) -> None:
    """Public access Disabled, two Approved connections, two azpe runs at once each rejecting
    one: the lock-out guard looks at a fresh read before each write, so one run is refused."""
    sandbox.seed(
        scenario(
            [
                server(
                    "pg-a", [connection("pe-one", "Approved", **OWN), connection("pe-two", "Approved", **OWN)]
                )
            ]
        )
    )
    sandbox.set_timing(model, 5.0)
    one, two = sorted(sandbox.names("pg-a", "Approved"))
    runs = [
        sandbox.popen("reject", "-g", "rg-data", "-s", "pg-a", "-n", name, "-o", "json")
        for name in (one, two)
    ]
    codes = sorted(p.wait(timeout=120) for p in runs)
    for p in runs:
        p.communicate()
    assert codes == [0, 6]
    assert len(sandbox.names("pg-a", "Approved")) == 1


def test_a_landed_delete_whose_reads_then_fail_is_unverified_never_the_old_status(sandbox: Sandbox) -> None:
    """The delete lands; every read after it is refused (403): the outcome is reported as
    unknown (``Unverified``), not as ``failed`` with the ``Pending`` of before the write."""
    name = sandbox.names("pg-reports", "Pending")[0]
    sandbox.set_timing("at-end", 3.0)  # the connection shows Deleting for a while: azpe reads
    proc = sandbox.popen("delete", "-g", "rg-data", "-s", "pg-reports", "-n", name, "--yes", "-o", "jsonl")
    try:
        wait_for(lambda: sandbox.requests("DELETE", PEC), 60, "the DELETE")
        sandbox.em.inject("GET", "*/flexibleServers/pg-reports", 403, code="AuthorizationFailed", times=None)
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 1, stderr
    (record,) = [json.loads(line) for line in stdout.splitlines()]
    assert (record["action"], record["error"]["code"], record["status"]) == ("failed", "Unverified", None)
    assert "could not verify the delete" in stderr
    sandbox.em.clear_faults()
    wait_for(lambda: sandbox.status("pg-reports", name) is None, 30, "the delete to land")


def test_an_outage_mid_run_ends_it_promptly_with_the_cause(sandbox: Sandbox, tmp_path: Path) -> None:
    """The emulator goes away after azpe planned: after six az calls in a row that cannot
    reach it, azpe starts no more; the targets not yet started are skipped with the cause."""
    with Emulator(op_seconds=1.0, state_dir=tmp_path / "gone", scenario=fleet()) as doomed:
        env = sandbox.env | prepare_az(AZ, tmp_path / "az", doomed.url, doomed.ca_path)
        doomed.clear_requests()  # the login's
        proc = subprocess.Popen(
            [*sandbox.azpe_argv, "reject", "-g", "rg-data", "--status", "Pending", "--yes",
             "-o", "jsonl", "-v", "--concurrency", "1"],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env=env, cwd=tmp_path,
        )  # fmt: skip
        try:
            listed = lambda: [r for r in doomed.requests() if r["path"].endswith("/flexibleServers")]  # noqa: E731
            wait_for(listed, 60, "azpe's plan read")
        finally:
            doomed.stop()  # nothing listens on its port any more
    stdout, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 1, stderr
    records = [json.loads(line) for line in stdout.splitlines()]
    assert len(records) == 6
    skipped = [r for r in records if r["action"] == "skipped"]
    assert skipped and {r["error"]["code"] for r in skipped} == {"AzureUnreachable"}
    assert "could not reach Azure ([Errno 111] Connection refused" in stderr  # the cause, not az's footer
    _, after = stderr.split("Azure cannot be reached: starting no more az calls")
    assert "azpe: az: " not in after  # no az started once the breaker tripped
