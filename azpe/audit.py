"""The audit trail of write commands: one JSON line per decision and one per outcome.

Each line is appended to a file opened with ``O_APPEND``, under an exclusive lock where the
platform has one, then fsynced before the next write starts: a crash loses nothing that
happened, concurrent azpe runs never interleave partial lines, and what is there is never
rewritten. A line is written whole or not at all: when an append fails half-way (a full or
read-only disk), the file is truncated back to where the line began; and a file that does not
end in a newline (cut by a crash, or by hand) gets one first, so that no line is glued onto a
torn one.

Every line names its run (one id per azpe invocation), the azpe version, the OS user and host,
and whether the run was a dry run. A run that logged anything ends with an ``end`` line
(its exit code and counts): a run without one never finished (azpe was killed), and
``azpe audit verify`` lists what it had decided and not reported (``azpe.audit_verify``).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import socket
import threading
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from azpe import __version__
from azpe.errors import AzpeError, AzureError, UsageError
from azpe.outcomes import Outcome, TargetResult
from azpe.planning import Plan

try:  # POSIX only; on Windows O_APPEND alone keeps each line whole.
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]
try:  # POSIX only
    import pwd
except ImportError:  # pragma: no cover
    pwd = None  # type: ignore[assignment]


MODE = 0o640


def check_writable(path: Path) -> None:
    """Refuse (exit 2) an audit log that cannot be opened for appending; creates it if need be.
    Called before any az call, so that a run never starts what it could not audit."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, MODE)
    except OSError as exc:
        raise UsageError(f"cannot open audit log {path}: {exc.strerror}") from None
    os.close(fd)


def os_user() -> str | None:
    """The user this process runs as, by its effective uid (not $USER, which the caller sets);
    the uid itself when it has no name."""
    if pwd is None:  # pragma: no cover
        import getpass

        try:
            return getpass.getuser()
        except (KeyError, OSError):  # no user name is no reason to stop a run
            return None
    uid = os.geteuid()
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:  # a uid without a passwd entry (containers)
        return str(uid)


class AuditLog:
    def __init__(
        self, path: Path, *, command: str, identity: dict[str, Any] | None,
        rules: dict[str, str | None] | None = None, actions: dict[str, str] | None = None,
        dry_run: bool = False,
    ) -> None:  # fmt: skip
        self.path = path
        self.command = command
        self.identity = identity
        self.rules = rules or {}  # connection id (lower) -> policy rule, for enforce
        self.actions = actions or {}  # connection id (lower) -> action, for enforce
        self.dry_run = dry_run
        self.run = str(uuid.uuid4())  # shared by every line of this invocation
        self._who = {"azpeVersion": __version__, "osUser": os_user(), "host": socket.gethostname()}
        self._lock = threading.Lock()
        self._descriptions: dict[tuple[str, ...], str | None] = {}
        self._decided: set[tuple[str, ...]] = set()
        self._lines = 0  # lines this run wrote
        check_writable(path)

    def decisions(self, plan: Plan) -> None:
        for item in plan.items:
            decision = "write" if item.outcome is Outcome.PLANNED else item.outcome.value
            self._decision(item, f"{plan.action.value}: {decision}", plan.description)

    def _decision(self, item: TargetResult, decision: str, description: str | None) -> None:
        self._descriptions[item.target.key] = description
        self._append(self._line("decision", item, decision=decision, description=description))
        self._decided.add(item.target.key)

    def outcome(self, result: TargetResult) -> None:
        if result.target.key not in self._decided:
            # A target never planned (enforce stopped before its round): its decision first,
            # so that every outcome has one.
            action = self.actions.get((result.to_record()["id"] or "").lower(), self.command)
            self._decision(result, f"{action}: {result.outcome.value}", None)
        after = result.connection.status if result.connection else None
        if result.outcome is Outcome.DELETED:
            after = None
        description = self._descriptions.get(result.target.key)
        self._append(self._line("outcome", result, result=result.outcome.value, statusAfter=after,
                                description=description))  # fmt: skip

    def end(self, exit_code: int, counts: dict[str, int], error: AzpeError | None = None) -> None:
        """The run's last line: it finished (with this exit code). A run that logged nothing
        logs no end either."""
        if self._lines == 0:
            return
        self._append(
            self._base("end") | {"exitCode": exit_code, "results": counts,
                                 "error": error.as_record() if error is not None else None}
        )  # fmt: skip

    def _base(self, event: str) -> dict[str, Any]:
        return {
            "time": datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "event": event,
            "run": self.run,
            "dryRun": self.dry_run,
            **self._who,
            "identity": self.identity,
            "command": self.command,
        }

    def _line(self, event: str, item: TargetResult, **fields: Any) -> dict[str, Any]:
        record = item.to_record()
        ref = item.target
        return {
            **self._base(event),
            "resourceGroup": ref.server.resource_group,
            "server": ref.server.name,
            "name": ref.name,
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
                self._lines += 1
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
