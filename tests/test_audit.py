"""The audit log: whole JSON lines, appended only, from concurrent writers."""

from __future__ import annotations

import json
import multiprocessing
from pathlib import Path

import pytest

from azpe.audit import AuditLog
from azpe.errors import UsageError
from azpe.ids import ConnectionRef, ServerRef
from azpe.models import Connection
from azpe.outcomes import Outcome, TargetResult
from tests.azsamples import SUB, conn


def result(name: str, padding: int) -> TargetResult:
    connection = Connection.from_az(conn(name, "Rejected", description="x" * padding))
    target = ConnectionRef(ServerRef(SUB, "rg-data", "pg-orders"), name)
    return TargetResult(target, Outcome.REJECTED, connection, previous_status="Pending", attempts=1)


def write_many(path: str, writer: int, count: int) -> None:
    log = AuditLog(Path(path), command="reject", identity={"name": f"writer-{writer}"})
    for i in range(count):
        log.outcome(result(f"pe-{writer}-{i}.1", padding=(i * 997) % 5000))


def test_concurrent_writers_never_interleave_partial_lines(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    path.write_text('{"kept": "a line written before"}\n')
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=write_many, args=(str(path), w, 60)) for w in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(30)
        assert worker.exitcode == 0
    lines = path.read_text().splitlines()
    assert lines[0] == '{"kept": "a line written before"}'  # appended, never rewritten
    records = [json.loads(line) for line in lines[1:]]  # every line is whole JSON
    assert len(records) == 240
    per_writer = {w: [r for r in records if r["identity"]["name"] == f"writer-{w}"] for w in range(4)}
    assert all(len(v) == 60 for v in per_writer.values())
    first = records[0]
    assert first["event"] == "outcome"
    assert first["statusBefore"] == "Pending"
    assert first["statusAfter"] == "Rejected"
    assert first["result"] == "rejected"


def test_an_unwritable_audit_log_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="cannot open audit log"):
        AuditLog(tmp_path / "missing-dir" / "audit.jsonl", command="reject", identity=None)
