"""azpe audit verify: whole lines, every outcome after its decision, unfinished runs listed."""

from __future__ import annotations

import json
from pathlib import Path

from azpe.audit import AuditLog
from azpe.audit_verify import verify
from tests.clihelp import run
from tests.test_audit import result


def finished_run(path: Path, *names: str) -> AuditLog:
    log = AuditLog(path, command="reject", identity={"name": "dba@example.com"})
    for name in names:
        log.outcome(result(name, padding=0))
    log.end(0, {"rejected": len(names)})
    return log


def killed_run(path: Path) -> AuditLog:
    """What a kill -9 leaves: two decisions, one outcome, no end."""
    log = AuditLog(path, command="reject", identity=None)
    log.outcome(result("pe-done.1", padding=0))  # decision + outcome
    log._decision(result("pe-flying.1", padding=0), "reject: write", None)
    return log


def test_a_clean_log_exits_0(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    finished_run(path, "pe-1.1", "pe-2.1")
    finished_run(path, "pe-3.1")
    done = run("audit", "verify", str(path))
    assert done.exit_code == 0, done.stderr
    report = json.loads(done.stdout)
    assert (report["lines"], report["runs"], report["problems"], report["unfinished"]) == (8, 2, [], [])
    assert done.stderr == "azpe: audit verify: 8 line(s), 2 run(s): 0 problem(s), 0 unfinished run(s)\n"


def test_a_killed_run_is_listed_with_its_in_flight_targets(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    finished_run(path, "pe-1.1")
    killed = killed_run(path)
    finished_run(path, "pe-4.1")  # runs after it do not hide it
    done = run("audit", "verify", str(path), "-o", "json")
    assert done.exit_code == 1
    report = json.loads(done.stdout)
    assert report["problems"] == []
    [unfinished] = report["unfinished"]
    assert unfinished["run"] == killed.run
    assert (unfinished["command"], unfinished["firstLine"], unfinished["lastLine"]) == ("reject", 4, 6)
    [flying] = unfinished["inFlight"]
    assert flying["id"].endswith("/privateEndpointConnections/pe-flying.1")
    assert (flying["line"], flying["decision"], flying["statusBefore"]) == (6, "reject: write", "Pending")
    assert f"run {killed.run} (reject by " in done.stderr
    assert "never finished: 1 target(s) in flight" in done.stderr


def test_the_in_flight_ids_feed_a_re_run(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    killed_run(path)
    done = run("audit", "verify", str(path), "--query", "unfinished[].inFlight[].id", "-o", "tsv")
    assert done.exit_code == 1
    [line] = done.stdout.splitlines()
    assert line.endswith("/privateEndpointConnections/pe-flying.1")


def test_a_run_killed_between_rounds_is_unfinished_with_nothing_in_flight(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    AuditLog(path, command="enforce", identity=None).outcome(result("pe-1.1", padding=0))
    report = verify(path.read_bytes())
    assert [len(u["inFlight"]) for u in report["unfinished"]] == [0]


def test_broken_lines_are_problems_with_their_numbers(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    finished_run(path, "pe-1.1")
    with path.open("ab") as f:
        f.write(b'{"torn by a crash": \n[1, 2]\n\xff\xfe\n')
    finished_run(path, "pe-2.1")
    with path.open("ab") as f:
        f.write(b'{"event": "outcome", "ru')  # cut short, no newline
    done = run("audit", "verify", str(path))
    assert done.exit_code == 1
    found = [(p["line"], p["problem"], p["message"]) for p in json.loads(done.stdout)["problems"]]
    assert found == [
        (4, "InvalidLine", "not valid JSON"),
        (5, "InvalidLine", "not a JSON object"),
        (6, "InvalidLine", "not UTF-8 text"),
        (10, "InvalidLine", "the last line is cut short (no newline at its end)"),
    ]
    assert f"azpe: {path}:4: not valid JSON\n" in done.stderr


def test_an_outcome_without_its_decision_is_a_problem(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    finished_run(path, "pe-1.1", "pe-2.1")
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(lines[:2] + lines[3:]))  # pe-2.1's decision taken out
    report = verify(path.read_bytes())
    [problem] = report["problems"]
    assert (problem["line"], problem["problem"]) == (3, "OutcomeWithoutDecision")
    assert problem["id"].endswith("/pe-2.1")


def test_a_decision_without_outcome_in_a_run_that_ended_is_a_problem(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    finished_run(path, "pe-1.1", "pe-2.1")
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(lines[:3] + lines[4:]))  # pe-2.1's outcome taken out
    [problem] = verify(path.read_bytes())["problems"]
    assert (problem["line"], problem["problem"]) == (3, "NoOutcome")


def test_lines_without_a_run_are_counted_not_checked(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    path.write_text('{"event": "outcome", "connectionId": "/x"}\n')  # an older azpe's line
    finished_run(path, "pe-1.1")
    done = run("audit", "verify", str(path), "-o", "none")
    assert done.exit_code == 0, done.stderr
    assert done.stdout == ""
    assert "; 1 line(s) without a run id not checked" in done.stderr


def test_a_log_that_cannot_be_read_is_a_usage_error(tmp_path: Path) -> None:
    done = run("audit", "verify", str(tmp_path / "missing.jsonl"))
    assert done.exit_code == 2
    assert "cannot read audit log" in done.stderr


def test_text_from_the_log_reaches_stderr_escaped(tmp_path: Path) -> None:
    """A log is a file anyone with write access may have edited: what verify echoes from it
    (run id, decision) never reaches the terminal raw."""
    path = tmp_path / "audit.jsonl"
    killed_run(path)
    lines = path.read_text().splitlines()
    hostile = [json.loads(line) for line in lines]
    for record in hostile:
        record["run"] = "r\x1b]0;owned\x07"
        if record.get("event") == "decision":
            record["decision"] = "reject\x1b[2J"
    path.write_text("".join(json.dumps(r) + "\n" for r in hostile))
    done = run("audit", "verify", str(path))
    assert done.exit_code == 1
    assert [ch for ch in done.stderr if not ch.isprintable() and ch != "\n"] == []
    assert "run r\\x1b]0;owned\\x07 (reject by " in done.stderr
    assert "(reject\\x1b[2J)" in done.stderr
