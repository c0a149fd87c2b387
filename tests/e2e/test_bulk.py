"""Many servers, many connections (issue 4): a resource-group-wide reject with one busy
server, a partial failure, ``--id -`` in a real shell pipeline, and an interrupt (SIGINT and
SIGTERM) in the middle of a run - also one whose running az hangs past the grace period."""

from __future__ import annotations

import json
import signal
import subprocess
from itertools import combinations
from typing import Any

import pytest

from azpe.sandbox import connection, scenario, server
from tests.e2e.conftest import PEC, RG, Sandbox, connection_id, log_time, wait_for

SERVERS = ("pg-a", "pg-b", "pg-c")


def pending_everywhere(per_server: int, **kwargs: Any) -> dict[str, Any]:
    return scenario(
        [
            server(s, [connection(f"pe-{s}-{i}") for i in range(per_server)], **kwargs.get(s, {}))
            for s in SERVERS
        ]
    )


def server_of(entry: dict[str, Any]) -> str:
    path: str = entry["path"]
    return path.split("/flexibleServers/")[1].split("/")[0]


def test_group_wide_reject_with_one_busy_server(sandbox: Sandbox) -> None:
    sandbox.seed(pending_everywhere(2))
    # pg-b answers its first two connection writes with 409: another operation is running.
    sandbox.em.inject("PUT", "*/flexibleServers/pg-b/privateEndpointConnections/*", 409,
                      code="ServerIsBusy", times=2)  # fmt: skip
    run = sandbox.azpe("reject", "-g", RG, "--status", "Pending", "--yes", "-o", "jsonl", "-d", "bulk")
    assert run.code == 0, run

    records = run.lines  # one JSON line per target, as each finished
    assert sorted(r["id"] for r in records) == sorted(
        connection_id(s, n) for s in SERVERS for n in sandbox.connections(s)
    )
    assert {(r["action"], r["status"], r["error"]) for r in records} == {("rejected", "Rejected", None)}
    assert sorted(r["attempts"] for r in records) == [1, 1, 1, 1, 1, 3]
    (retried,) = [r for r in records if r["attempts"] == 3]
    assert retried["server"] == "pg-b"
    # A busy server is waited for, not retried: no retry is logged, none of --retries is used.
    assert "ServerIsBusy" not in run.stderr and "retrying" not in run.stderr
    assert run.stderr.endswith("azpe: reject: 6 rejected\n")  # the summary goes to stderr
    for s in SERVERS:
        assert {c["status"] for c in sandbox.connections(s).values()} == {"Rejected"}
        assert {c["description"] for c in sandbox.connections(s).values()} == {"bulk"}

    puts = sandbox.requests("PUT", PEC)
    # The only 409s are the two injected ones: azpe never wrote twice at once on one server.
    assert [(server_of(p), p["status"]) for p in puts if p["status"] != 202] == [("pg-b", 409)] * 2
    assert all(p["fault"] for p in puts if p["status"] == 409)
    accepted: dict[str, list[float]] = {}
    for p in puts:
        if p["status"] == 202:
            accepted.setdefault(server_of(p), []).append(log_time(p))
    assert sorted(accepted) == list(SERVERS) and all(len(t) == 2 for t in accepted.values())
    for first, second in accepted.values():
        # Serial per server: the second write starts after the first az ended (which sleeps 10 s).
        assert second - first >= 10
    tried: dict[str, list[float]] = {}
    for p in puts:
        tried.setdefault(server_of(p), []).append(log_time(p))
    spans = {s: (min(t), max(t)) for s, t in tried.items()}
    for x, y in combinations(SERVERS, 2):
        # Parallel across servers: every two servers' windows of writes (retries too) overlap.
        assert spans[x][0] < spans[y][1] and spans[y][0] < spans[x][1], spans


def test_partial_failure_reports_every_target(sandbox: Sandbox) -> None:
    sandbox.seed(pending_everywhere(1, **{"pg-c": {"state": "Stopped"}}))
    sandbox.em.inject("PUT", "*/flexibleServers/pg-b/privateEndpointConnections/*", 403, times=None)
    ids = {s: connection_id(s, next(iter(sandbox.connections(s)))) for s in SERVERS}

    mixed = sandbox.azpe("reject", "-g", RG, "--status", "Pending", "--yes", "-o", "jsonl")
    assert mixed.code == 1, mixed  # failed for different reasons (4 and 5): 1
    records = {r["server"]: r for r in mixed.lines}
    assert sorted(records) == list(SERVERS)
    assert (records["pg-a"]["action"], records["pg-a"]["status"]) == ("rejected", "Rejected")
    assert (records["pg-b"]["action"], records["pg-b"]["error"]["code"]) == ("failed", "AuthorizationFailed")
    assert (records["pg-c"]["action"], records["pg-c"]["error"]["code"]) == ("failed", "ServerNotReady")
    assert "1 rejected" in mixed.stderr.splitlines()[-1] and "2 failed" in mixed.stderr.splitlines()[-1]
    for s in ("pg-b", "pg-c"):
        assert f"azpe: error: {records[s]['name']}: " in mixed.stderr
    assert sorted(server_of(p) for p in sandbox.requests("PUT", PEC)) == ["pg-a", "pg-b"]  # none on pg-c

    same = sandbox.azpe("reject", "--id", ids["pg-a"], "--id", ids["pg-b"], "-o", "jsonl")
    assert same.code == 4, same  # every failure is the 403: its code
    assert [(r["server"], r["action"]) for r in same.lines] == [("pg-a", "unchanged"), ("pg-b", "failed")]
    assert same.stderr.endswith("azpe: reject: 1 unchanged, 1 failed\n")
    assert sandbox.status("pg-a", ids["pg-a"].rsplit("/", 1)[1]) == "Rejected"
    assert sandbox.status("pg-b", ids["pg-b"].rsplit("/", 1)[1]) == "Pending"
    assert sandbox.status("pg-c", ids["pg-c"].rsplit("/", 1)[1]) == "Pending"
    assert sorted(server_of(p) for p in sandbox.requests("PUT", PEC)) == ["pg-a", "pg-b", "pg-b"]


def test_stdin_targets_from_a_shell_pipeline(sandbox: Sandbox) -> None:
    sandbox.seed(
        scenario(
            [
                server(s, [connection(f"pe-{s}-new"), connection(f"pe-{s}-app", "Approved")])
                for s in ("pg-a", "pg-b")
            ]
        )
    )
    script = (
        "$AZPE list -g rg-data --status Pending -o jsonl"
        " | { echo '# from azpe list'; echo; cat; echo '   '; echo '# end'; }"
        ' | $AZPE reject --id - -o jsonl -d "via pipeline"'
    )
    run = sandbox.shell(script)
    assert run.code == 0, run
    records = run.lines
    assert sorted((r["server"], r["action"], r["status"]) for r in records) == [
        ("pg-a", "rejected", "Rejected"),
        ("pg-b", "rejected", "Rejected"),
    ]
    assert run.stderr.endswith("azpe: reject: 2 rejected\n")
    for r in records:
        assert sandbox.connections(r["server"])[r["name"]]["description"] == "via pipeline"
        assert sorted(c["status"] for c in sandbox.connections(r["server"]).values()) == [
            "Approved",
            "Rejected",
        ]
    assert sandbox.count("PUT") == 2


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_interrupt_reports_every_target_and_exits_130(sandbox: Sandbox, signum: int) -> None:
    sandbox.seed(pending_everywhere(2))
    proc = sandbox.popen(
        "reject", "-g", RG, "--status", "Pending", "--yes", "-o", "jsonl", "--concurrency", "1"
    )
    try:
        wait_for(lambda: sandbox.requests("PUT", PEC), 60, "azpe's first write")
        proc.send_signal(signum)
        stdout, stderr = proc.communicate(timeout=90)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise
    assert proc.returncode == 130, stderr
    records = [json.loads(line) for line in stdout.splitlines()]
    expected = {connection_id(s, n) for s in SERVERS for n in sandbox.connections(s)}
    assert sorted(r["id"] for r in records) == sorted(expected)  # a result for every target
    actions = [r["action"] for r in records]
    assert actions.count("rejected") == 1 and actions.count("skipped") == 5, actions
    for r in records:
        if r["action"] == "skipped":
            assert (r["error"]["code"], r["attempts"]) == ("Interrupted", 0)
    assert "interrupted: starting nothing new" in stderr
    assert stderr.endswith("azpe: reject: 1 rejected, 5 skipped\n")
    assert "Traceback" not in stderr
    assert sandbox.az_processes() == []
    # What azpe reported is what the emulator holds.
    assert sandbox.count("PUT") == 1
    for r in records:
        assert sandbox.status(r["server"], r["name"]) == r["status"]
        assert r["status"] == ("Rejected" if r["action"] == "rejected" else "Pending")


def test_interrupt_stops_a_hung_az_after_the_grace_and_rereads_it(sandbox: Sandbox) -> None:
    sandbox.seed(pending_everywhere(1))
    # The first write lands but its answer is held past azpe's 30 s grace after Ctrl-C.
    sandbox.em.inject("PUT", PEC, hold_seconds=36, times=1)
    proc = sandbox.popen(
        "reject", "-g", RG, "--status", "Pending", "--yes", "-o", "jsonl", "--concurrency", "1"
    )

    def landed() -> list[str]:
        return [n for s in SERVERS for n, c in sandbox.connections(s).items() if c["status"] != "Pending"]

    try:
        (written,) = wait_for(landed, 60, "the first write to land")
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise
    assert proc.returncode == 130, stderr
    records = {r["name"]: r for r in map(json.loads, stdout.splitlines())}
    assert len(records) == 3
    assert (records[written]["action"], records[written]["status"]) == ("rejected", "Rejected")
    others = [r for n, r in records.items() if n != written]
    assert [(r["action"], r["error"]["code"], r["status"]) for r in others] == [
        ("skipped", "Interrupted", "Pending")
    ] * 2
    assert "stopped 1 running az call(s); re-reading their state" in stderr
    assert sandbox.az_processes() == []
    assert landed() == [written]
    # Let the held answer go before the next test reads the log.
    wait_for(lambda: sandbox.requests("PUT", PEC), 30, "the held PUT")
    assert sandbox.count("PUT") == 1


def test_interrupt_during_the_read_reports_the_target_and_leaves_no_az(sandbox: Sandbox) -> None:
    name = sandbox.names("pg-orders", "Pending")[0]
    fault = sandbox.em.inject("GET", "*/flexibleServers/pg-orders", hold_seconds=6, times=1)
    proc = sandbox.popen("reject", "-g", RG, "-s", "pg-orders", "-n", name, "-o", "jsonl")
    try:
        wait_for(lambda: fault not in sandbox.em.server.faults.list(), 30, "azpe's server read")
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise
    left = sandbox.az_processes()
    # Let the held read end (and an orphaned az with it) before asserting, so nothing leaks.
    wait_for(lambda: sandbox.requests("GET", "*/flexibleServers/pg-orders"), 30, "the held read")
    wait_for(lambda: not sandbox.az_processes(), 30, "az to exit")
    assert proc.returncode == 130, stderr
    assert left == [], "azpe exited while the az it started was still running"
    (record,) = map(json.loads, stdout.splitlines())
    assert (record["name"], record["action"], record["error"]["code"]) == (name, "skipped", "Interrupted")
    assert sandbox.writes() == []
