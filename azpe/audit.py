"""The audit trail of write commands: one JSON line per decision and one per outcome.

Each line is appended to a file opened with ``O_APPEND``, under an exclusive lock where the
platform has one, then fsynced before the next write starts: a crash loses nothing that
happened, concurrent azpe runs never interleave partial lines, and what is there is never
rewritten. A line is written whole or not at all: when an append fails half-way (a full or
read-only disk), the file is truncated back to where the line began; and a file that does not
end in a newline (cut by a crash, or by hand) gets one first, so that no line is glued onto a
torn one.
"""

from __future__ import annotations

import contextlib
import errno
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


MODE = 0o640


def check_writable(path: Path) -> None:
    """Refuse (exit 2) an audit log that cannot be opened for appending; creates it if need be.
    Called before any az call, so that a run never starts what it could not audit."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, MODE)
    except OSError as exc:
        raise UsageError(f"cannot open audit log {path}: {exc.strerror}") from None
    os.close(fd)


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
        check_writable(path)

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
        try:
            fd, readable = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, MODE), True
        except PermissionError:  # a log we may append to but not read: no look at its end
            fd, readable = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, MODE), False
        try:
            if fcntl is not None:
                fcntl.flock(fd, fcntl.LOCK_EX)
            start = os.lseek(fd, 0, os.SEEK_END)  # under the lock, no other azpe moves the end
            if readable and start > 0 and _last_byte(fd, start) != b"\n":
                data = b"\n" + data  # the last line is torn: ours starts on a line of its own
            try:
                while data:
                    written = os.write(fd, data)
                    if written == 0:
                        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
                    data = data[written:]
                os.fsync(fd)
            except OSError:
                _truncate(fd, start)
                raise
        finally:
            os.close(fd)  # closing releases the lock


def _last_byte(fd: int, size: int) -> bytes:
    os.lseek(fd, size - 1, os.SEEK_SET)  # O_APPEND still writes at the end
    return os.read(fd, 1)


def _truncate(fd: int, size: int) -> None:
    """Take back a part-written line (best effort: on a disk gone read-only this fails too,
    and the error being reported is the write's)."""
    with contextlib.suppress(OSError):
        os.ftruncate(fd, size)
        os.fsync(fd)
