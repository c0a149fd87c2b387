"""``azpe audit verify``: is an audit log whole, and did every run in it finish?

A log is read line by line: each line must be a whole JSON object (a line cut by a crash is
not). Lines are grouped by their ``run``; in each run every outcome must follow its target's
decision. A run without its ``end`` line never finished - azpe was killed (or is still
running) - and its targets decided but never reported are in flight: their writes may or may
not have happened, so a re-run (or ``azpe list``) must look at them. Lines without a ``run``
(written by an azpe before runs were recorded) are counted, not checked. This checks that the
log is consistent, not who wrote it: it is no defence against a hand that edits the file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from azpe.errors import UsageError


@dataclass
class _Run:
    run: str
    first: int  # line numbers
    last: int
    head: dict[str, Any]  # its first line
    last_time: Any = None
    ended: int | None = None  # the end line's number
    open: dict[tuple[str, str, str], tuple[int, dict[str, Any]]] = field(default_factory=dict)


def verify_file(path: Path) -> dict[str, Any]:
    """The report of one log (raises UsageError when it cannot be read)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read audit log {path}: {exc.strerror}") from None
    report = verify(data)
    return {"file": str(path), **report}


def verify(data: bytes) -> dict[str, Any]:
    """``problems``: what is wrong, each with its line; ``unfinished``: the runs without an end
    line, each with its in-flight targets."""
    lines = data.split(b"\n")
    torn_at_end = lines[-1] != b""
    if not torn_at_end:
        lines.pop()  # what follows the last newline
    problems: list[dict[str, Any]] = []
    runs: dict[str, _Run] = {}
    unchecked = 0

    def problem(number: int, code: str, message: str, run: str | None = None, **more: Any) -> None:
        problems.append({"line": number, "problem": code, "message": message, "run": run, **more})

    for number, raw in enumerate(lines, start=1):
        record = _record(raw)
        if isinstance(record, str):
            if torn_at_end and number == len(lines):
                record = "the last line is cut short (no newline at its end)"
            problem(number, "InvalidLine", record)
            continue
        run_id = record.get("run")
        if not isinstance(run_id, str):
            unchecked += 1
            continue
        run = runs.get(run_id)
        if run is None:
            run = runs[run_id] = _Run(run_id, number, number, record)
        run.last, run.last_time = number, record.get("time")
        if run.ended is not None:
            problem(
                number, "LineAfterEnd", f"a line of run {run_id} after its end (line {run.ended})", run_id
            )
        event = record.get("event")
        if event == "end":
            run.ended = number
            for at, line in run.open.values():
                problem(at, "NoOutcome", f"{_name(line)}: decided, but the run ended without its outcome",
                        run_id, **_target(line))  # fmt: skip
        elif event == "decision":
            run.open[_key(record)] = (number, record)
        elif event == "outcome":
            if run.open.pop(_key(record), None) is None:
                problem(number, "OutcomeWithoutDecision", f"{_name(record)}: an outcome without its decision",
                        run_id, **_target(record))  # fmt: skip
        else:
            problem(number, "InvalidLine", f"unknown event {event!r}", run_id)
    unfinished = [_unfinished(r) for r in runs.values() if r.ended is None]
    return {
        "lines": len(lines),
        "runs": len(runs),
        "unchecked": unchecked,
        "problems": problems,
        "unfinished": unfinished,
    }


def _record(raw: bytes) -> dict[str, Any] | str:
    """The line's JSON object, or why it is not one."""
    try:
        value = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        return "not UTF-8 text"
    except ValueError:
        return "not valid JSON" if raw.strip() else "an empty line"
    return value if isinstance(value, dict) else "not a JSON object"


def _key(record: dict[str, Any]) -> tuple[str, str, str]:
    """A target within one run: the connection names carry a unique suffix, and the fields come
    from the same reference for its decision and its outcome."""
    return tuple(str(record.get(k) or "").lower() for k in ("resourceGroup", "server", "name"))  # type: ignore[return-value]


def _name(record: dict[str, Any]) -> str:
    return record.get("connectionId") or "/".join(_key(record))


def _target(record: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": record.get("connectionId"),
        "resourceGroup": record.get("resourceGroup"),
        "server": record.get("server"),
        "name": record.get("name"),
        "decision": record.get("decision"),
        "statusBefore": record.get("statusBefore"),
    }


def _unfinished(run: _Run) -> dict[str, Any]:
    head = run.head
    return {
        "run": run.run,
        "command": head.get("command"),
        "dryRun": head.get("dryRun"),
        "azpeVersion": head.get("azpeVersion"),
        "osUser": head.get("osUser"),
        "host": head.get("host"),
        "identity": head.get("identity"),
        "started": head.get("time"),
        "lastTime": run.last_time,
        "firstLine": run.first,
        "lastLine": run.last,
        "inFlight": [{"line": at, **_target(line)} for at, line in run.open.values()],
    }
