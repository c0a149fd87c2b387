"""The audit trail with the real az: a dry run and a real run say which they were, and an azpe
killed mid-run (kill -9) leaves a torn run that ``azpe audit verify`` finds, with the targets
that were in flight; a re-run of those is checked against it."""

from __future__ import annotations

import json
import os
import signal
import socket
import time

from tests.e2e.conftest import PEC, RG, Sandbox, connection_id, wait_for


def audit_lines(sandbox: Sandbox, name: str = "audit.jsonl") -> list[dict[str, object]]:
    return [json.loads(line) for line in (sandbox.tmp_path / name).read_text().splitlines()]


def test_a_dry_run_and_a_real_run_are_told_apart(sandbox: Sandbox) -> None:
    name = sandbox.names("pg-reports", "Pending")[0]
    target = ["reject", "-g", RG, "-s", "pg-reports", "-n", name, "--audit-log", "audit.jsonl"]
    assert sandbox.azpe(*target, "--dry-run").code == 0
    assert sandbox.azpe(*target).code == 0
    lines = audit_lines(sandbox)
    assert [(line["event"], line["dryRun"]) for line in lines] == [
        ("decision", True), ("outcome", True), ("end", True),
        ("decision", False), ("outcome", False), ("end", False),
    ]  # fmt: skip
    assert lines[0]["run"] == lines[2]["run"] != lines[3]["run"] == lines[5]["run"]
    assert (lines[1]["result"], lines[4]["result"]) == ("planned", "rejected")
    assert {line["host"] for line in lines} == {socket.gethostname()}
    done = sandbox.azpe("audit", "verify", "audit.jsonl")
    assert done.code == 0, done
    assert done.json["runs"] == 2


def test_a_killed_run_is_found_and_its_in_flight_targets_checked_by_a_re_run(sandbox: Sandbox) -> None:
    pending = sorted(sandbox.names("pg-orders", "Pending"))
    assert len(pending) == 2
    sandbox.set_timing("at-end", 5.0)  # the first write is still under way when azpe dies
    azpe = sandbox.popen("reject", "-g", RG, "-s", "pg-orders", "--status", "Pending", "--yes",
                         "--audit-log", "audit.jsonl")  # fmt: skip
    try:
        wait_for(lambda: sandbox.count("PUT", PEC) >= 1, 60, "the first write to reach the emulator")
    finally:
        os.kill(azpe.pid, signal.SIGKILL)
        azpe.communicate(timeout=30)
    for pid in sandbox.az_processes():  # the killed azpe's az, orphaned
        os.kill(pid, signal.SIGKILL)
    wait_for(lambda: not sandbox.az_processes(), 10, "the orphaned az to go")

    lines = audit_lines(sandbox)
    assert [line["event"] for line in lines] == ["decision", "decision"]  # no outcome, no end
    done = sandbox.azpe("audit", "verify", "audit.jsonl")
    assert done.code == 1, done
    [unfinished] = done.json["unfinished"]
    assert unfinished["run"] == lines[0]["run"]
    assert (unfinished["command"], unfinished["dryRun"]) == ("reject", False)
    flying = sorted(t["id"] for t in unfinished["inFlight"])
    assert flying == sorted(connection_id("pg-orders", n) for n in pending)
    assert "never finished: 2 target(s) in flight" in done.stderr

    time.sleep(5)  # the emulator finishes the write the dead az started
    rerun = sandbox.shell(
        "$AZPE audit verify audit.jsonl --query 'unfinished[].inFlight[].id' -o tsv"
        " | $AZPE reject --id - --audit-log audit.jsonl -o jsonl",
        timeout=120,
    )
    assert rerun.code == 0, rerun
    assert sorted(r["id"] for r in rerun.lines) == flying
    assert {r["status"] for r in rerun.lines} == {"Rejected"}
    assert all(sandbox.status("pg-orders", n) == "Rejected" for n in pending)
    after = sandbox.azpe("audit", "verify", "audit.jsonl", "-o", "json")
    assert after.code == 1  # the killed run stays on record; the re-run finished
    assert after.json["runs"] == 2 and len(after.json["unfinished"]) == 1
