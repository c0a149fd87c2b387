"""The audit trail of write commands: one JSON line per decision and one per outcome.

Each line is appended with a single ``write`` on a file opened with ``O_APPEND``, under an
exclusive lock where the platform has one, then fsynced before the next write starts: a crash
loses nothing that happened, concurrent azpe runs never interleave partial lines, and the file
is never rewritten.
"""

from __future__ import annotations

import json
import os
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from azpe.errors import AzureError, UsageError
from azpe.outcomes import Outcome, TargetResult
from azpe.planning import Plan

try:  # POSIX only; on Windows O_APPEND alone keeps each line whole.
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]


class AuditLog:
    def __init__(
        self, path: Path, *, command: str, identity: dict[str, Any] | None,
        rules: dict[str, str | None] | None = None,
    ) -> None:  # fmt: skip
        self.path = path
        self.command = command
        self.identity = identity
        self.rules = rules or {}  # connection id (lower) -> policy rule, for enforce
        self._lock = threading.Lock()
        self._descriptions: dict[tuple[str, ...], str | None] = {}
        self.check_writable()

    def check_writable(self) -> None:
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        except OSError as exc:
            raise UsageError(f"cannot open audit log {self.path}: {exc.strerror}") from None
        os.close(fd)

    def decisions(self, plan: Plan) -> None:
        for item in plan.items:
            self._descriptions[item.target.key] = plan.description
            decision = "write" if item.outcome is Outcome.PLANNED else item.outcome.value
            self._append(
                self._line("decision", item, decision=f"{plan.action.value}: {decision}",
                           description=plan.description)
            )  # fmt: skip

    def outcome(self, result: TargetResult) -> None:
        after = result.connection.status if result.connection else None
        if result.outcome is Outcome.DELETED:
            after = None
        description = self._descriptions.get(result.target.key)
        self._append(self._line("outcome", result, result=result.outcome.value, statusAfter=after,
                                description=description))  # fmt: skip

    def _line(self, event: str, item: TargetResult, **fields: Any) -> dict[str, Any]:
        record = item.to_record()
        return {
            "time": datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "event": event,
            "identity": self.identity,
            "command": self.command,
            "connectionId": record["id"],
            "privateEndpointId": record["privateEndpointId"],
            "statusBefore": item.previous_status,
            "rule": self.rules.get((record["id"] or "").lower()),
            "error": record["error"],
            **fields,
        }

    def _append(self, record: dict[str, Any]) -> None:
        data = (json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n").encode()
        with self._lock:
            try:
                self._write(data)
            except OSError as exc:
                raise AzureError(
                    f"cannot write the audit log {self.path}: {exc.strerror}; no further write was started",
                    code="AuditLogFailed",
                    hint="Free space or fix the audit log's path, then run the command again.",
                ) from None

    def _write(self, data: bytes) -> None:
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        try:
            if fcntl is not None:
                fcntl.flock(fd, fcntl.LOCK_EX)
            while data:
                data = data[os.write(fd, data) :]
            os.fsync(fd)
        finally:
            os.close(fd)  # closing releases the lock
