"""Transient and permanent failures, injected into the emulator the real az talks to: 409 busy,
429 throttling and a 500 that pass after a retry; a permanent 403 (exit 4, no retry); a hung
response (az is killed at --timeout, azpe re-reads); and a write whose asynchronous operation
fails.

Faults are scripted per method and path glob (``fnmatch`` over the URL path, no query,
case-insensitive); a fault with a status replaces the answer, one without only holds it."""

from __future__ import annotations

import json

import pytest

from tests.e2e.conftest import PEC, RG, SUB, Sandbox, connection_id, wait_for


@pytest.mark.parametrize(
    ("verb", "status", "code", "retry_after"),
    [
        ("reject", 409, "ServerIsBusy", None),
        ("reject", 429, "TooManyRequests", 1),
        ("approve", 500, "InternalServerError", None),
    ],
)
def test_transient_failure_once_passes_on_retry(
    sandbox: Sandbox, verb: str, status: int, code: str, retry_after: int | None
) -> None:
    name = sandbox.names("pg-reports", "Pending")[0]
    sandbox.em.inject("PUT", PEC, status, code=code, retry_after=retry_after, times=1)
    retries = "0" if status == 409 else "2"  # busy does not use up --retries
    run = sandbox.azpe(verb, "-g", RG, "-s", "pg-reports", "-n", name, "--retries", retries, "-o", "jsonl")
    assert run.code == 0, run
    (record,) = run.lines
    done, wanted = {"reject": ("rejected", "Rejected"), "approve": ("approved", "Approved")}[verb]
    assert (record["action"], record["status"], record["attempts"], record["error"]) == (
        done,
        wanted,
        2,
        None,
    )
    if status == 409:  # busy: waited for, not a retry
        assert "retrying" not in run.stderr
    else:
        assert f"attempt 1 failed ({code}); retrying in" in run.stderr
    assert "azpe: error" not in run.stderr
    assert sandbox.status("pg-reports", name) == wanted
    puts = sandbox.requests("PUT", PEC)
    assert [(p["status"], p["fault"]) for p in puts] == [(status, True), (202, False)]
    # Before the retry azpe re-read the connection (a server read between the two PUTs).
    between = [
        r for r in sandbox.requests("GET", "*/flexibleServers/pg-reports")
        if puts[0]["time"] < r["time"] < puts[1]["time"]
    ]  # fmt: skip
    assert between


def test_permanent_403_exits_4_without_retry(sandbox: Sandbox) -> None:
    name = sandbox.names("pg-orders", "Pending")[0]
    sandbox.em.inject("PUT", PEC, 403, times=None)
    run = sandbox.azpe("reject", "--id", connection_id("pg-orders", name), "--retries", "2", "-o", "jsonl")
    assert run.code == 4, run
    (record,) = run.lines
    assert (record["action"], record["status"], record["attempts"]) == ("failed", "Pending", 1)
    assert record["error"]["code"] == "AuthorizationFailed"
    assert "does not have authorization to perform action" in record["error"]["message"]
    assert f"azpe: error: {name}: The client" in run.stderr
    assert "retrying" not in run.stderr
    assert run.stderr.endswith("azpe: reject: 1 failed\n")
    assert sandbox.count("PUT") == 1
    assert sandbox.status("pg-orders", name) == "Pending"


def test_hung_put_is_killed_at_timeout_and_the_landed_change_is_reported(sandbox: Sandbox) -> None:
    name = sandbox.names("pg-orders", "Pending")[0]
    # The PUT runs (the write lands) but its answer is held past --timeout: az hangs.
    sandbox.em.inject("PUT", PEC, hold_seconds=16, times=1)
    run = sandbox.azpe(
        "reject", "-g", RG, "-s", "pg-orders", "-n", name, "-d", "held",
        "--timeout", "12", "--retries", "1", "-o", "jsonl",
    )  # fmt: skip
    assert run.code == 0, run
    (record,) = run.lines
    assert (record["action"], record["status"], record["description"], record["error"]) == (
        "rejected",
        "Rejected",
        "held",
        None,
    )
    assert record["attempts"] == 1  # a read decided what the cut-short write did: no second write
    assert "retrying" not in run.stderr
    assert sandbox.az_processes() == []  # the killed az is gone, not orphaned
    assert sandbox.status("pg-orders", name) == "Rejected"
    # The held answer is logged when the hold ends; wait for it so it cannot leak into the next test.
    wait_for(lambda: sandbox.requests("PUT", PEC), 20, "the held PUT")
    assert sandbox.count("PUT") == 1


def test_hung_get_before_the_write_fails_clearly(sandbox: Sandbox) -> None:
    name = sandbox.names("pg-orders", "Pending")[0]
    # az reject first GETs the connection: hold that, so the PUT is never sent.
    sandbox.em.inject("GET", PEC, hold_seconds=12, times=1)
    run = sandbox.azpe(
        "reject", "-g", RG, "-s", "pg-orders", "-n", name, "--timeout", "8", "--retries", "0", "-o", "jsonl"
    )
    assert run.code == 1, run
    (record,) = run.lines
    assert (record["action"], record["status"], record["attempts"]) == ("failed", "Pending", 1)
    assert record["error"]["code"] == "Timeout"
    assert "az did not answer within 8 s and was stopped" in record["error"]["message"]
    assert f"azpe: error: {name}: az did not answer within 8 s" in run.stderr
    assert sandbox.az_processes() == []
    assert sandbox.status("pg-orders", name) == "Pending"
    wait_for(lambda: sandbox.requests("GET", PEC), 20, "the held GET")
    assert sandbox.writes() == []


def test_failed_async_operation_ends_failed_within_timeout(sandbox: Sandbox) -> None:
    """azpe reads the connection as Pending; before its approve reaches the service another
    admin rejects it, so the service accepts the PUT and fails the asynchronous operation. The
    network az would poll for ~200 s; azpe stops it at --timeout, and the re-read shows the
    connection Rejected: Rejected is final, reported as such, not as the timeout.

    The emulator has no fault that fails the operation of an approvable connection, so the test
    rejects the connection in the emulator's state between azpe's read and its write."""
    name = sandbox.names("pg-reports", "Pending")[0]
    # az approve GETs the connection, then PUTs: holding that GET leaves time to reject.
    sandbox.em.inject("GET", PEC, hold_seconds=3, times=1)
    proc = sandbox.popen(
        "approve", "-g", RG, "-s", "pg-reports", "-n", name,
        "--timeout", "20", "--retries", "0", "-o", "jsonl",
    )  # fmt: skip
    try:
        # azpe's plan read is answered (logged as it is sent): it saw Pending.
        wait_for(lambda: sandbox.requests("GET", "*/flexibleServers/pg-reports"), 30, "azpe's read")
        with sandbox.em.state.lock:
            sandbox.em.state.connection(SUB, RG, "pg-reports", name).status = "Rejected"
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 1, stderr
    (record,) = [json.loads(line) for line in stdout.splitlines()]
    assert (record["action"], record["status"], record["previousStatus"]) == ("failed", "Rejected", "Pending")
    assert record["error"]["code"] == "RejectedIsFinal"
    # --timeout 20 stopped az: alone it would have re-read the connection 20 times (~200 s).
    assert len(sandbox.requests("GET", PEC)) <= 4
    assert sandbox.az_processes() == []
    (put,) = sandbox.requests("PUT", PEC)
    assert put["status"] == 202
    assert put["body"]["properties"]["privateLinkServiceConnectionState"]["status"] == "Approved"
    assert sandbox.status("pg-reports", name) == "Rejected"
