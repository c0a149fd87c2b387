"""One target's write (design.md §3, steps 6-8): look at the connection, wait while its
server is busy, write, retry what is transient, verify. ``azpe.executor`` decides when and
where this runs.

A step looks (a fresh server read when the one at hand may mislead, see
``_needs_fresh_look``), decides with ``azpe.assess``, and writes when the write can run now.
Two loops drive the steps, each a tenacity policy from ``azpe.retry``:

- the busy wait (inner): while an operation runs on the server or the connection (the server
  reads ``Updating``, the connection is not settled, or the write got a 409 busy), poll the
  server with backoff within ``busy_timeout``; busy does not use up ``--retries``;
- the retries (outer): throttling, 5xx and network errors are retried up to ``--retries`` times
  within ``retry_budget``.

A write whose outcome az could not tell (cut short by ``--timeout``, polling given up, a crash
on the answer) is decided by a read, as one that exited 0 without proof: landed, still running
(wait), or not applied - the service's failure, reported at once and not retried.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field, replace
from enum import Enum

from tenacity import RetryError

from azpe.assess import Need, assess, failed_provisioning, holds
from azpe.client import Action, AzClient
from azpe.errors import (
    AzpeError,
    AzTimeout,
    AzureError,
    Interrupted,
    NotStarted,
    ServerBusy,
    ServerNotReady,
    not_started,
)
from azpe.ids import ServerRef
from azpe.models import Connection, Server
from azpe.outcomes import Outcome, TargetResult
from azpe.retry import Cancel, Reader, busy_polling, reader, retrying
from azpe.run_options import RunOptions

log = logging.getLogger("azpe")

# Failures of a write that say nothing of its outcome: the PUT may have been accepted (az was
# cut short by --timeout, gave up polling, or crashed on the answer); a read decides.
UNKNOWN_OUTCOME = ("OperationUnconfirmed", "AzCrashed")

# A server read older than this is read again before a write (it may be busy now, or changed).
FRESH_SECONDS = 15.0


@dataclass(frozen=True)
class Look:
    """A read of a server: when it was made (monotonic seconds), and when the az of a write
    on the server started after it returned (None: no such write). A read that predates a
    write does not show the server's current operation; one started after it returned does."""

    server: Server
    at: float
    written_at: float | None = None

    @property
    def predates_write(self) -> bool:
        return self.written_at is not None

    @classmethod
    def now(cls, server: Server) -> Look:
        return cls(server, time.monotonic())

    def stale(self) -> bool:
        return time.monotonic() - self.at >= FRESH_SECONDS


class GroupLooks:
    """Fresh looks for targets whose server read has only grown old (a fleet's plan, read
    before the start pace reached their server): one ``flexible-server list -g RG`` serves
    every server of the group, and the targets asking at once share that one az call -
    instead of one ``show`` per server. A look taken this way is never "a read by this
    target" (the lock-out guard takes its own); after a write on the server, only a group
    read started once that write's az had returned serves (an earlier one predates it)."""

    REUSE_SECONDS = FRESH_SECONDS / 2  # a group read younger than this serves a new asker

    def __init__(self, client: AzClient, read: Reader) -> None:
        self.client = client
        self.read = read
        self._lock = threading.Lock()
        self._groups: dict[tuple[str, str], _Group] = {}

    def look(self, ref: ServerRef, newer_than: float) -> Look | None:
        """A look at ``ref`` from a group read made after ``newer_than``; None when the group
        cannot be read or the server is not in it (the caller reads the server itself)."""
        key = ((ref.subscription or "").lower(), ref.resource_group.lower())
        with self._lock:
            group = self._groups.setdefault(key, _Group())
        with group.lock:  # one group read at a time; who waited for it uses it
            if (
                group.at is None
                or group.at <= newer_than
                or time.monotonic() - group.at >= self.REUSE_SECONDS
            ):
                started = time.monotonic()
                try:
                    servers = self.read(
                        lambda: self.client.list_servers(ref.resource_group, ref.subscription)
                    )
                except AzpeError as exc:
                    log.debug("reading group %s failed (%s); reading the server instead", ref.resource_group,
                              exc.message)  # fmt: skip
                    return None
                group.at, group.servers = started, {s.name.lower(): s for s in servers}
            server = group.servers.get(ref.name.lower())
            return Look(server, group.at) if server is not None else None


@dataclass
class _Group:
    lock: threading.Lock = field(default_factory=threading.Lock)
    at: float | None = None  # monotonic time the last group read started
    servers: dict[str, Server] = field(default_factory=dict)


class _End(str, Enum):
    DONE = "done"  # the connection holds the wanted state
    FAILED = "failed"  # it cannot: ``error`` says why
    BUSY = "busy"  # an operation runs: wait, then step again
    STOPPED = "stopped"  # the run stops: nothing more starts
    OUT_OF_TIME = "out-of-time"  # the busy budget ran out


@dataclass(frozen=True)
class _Step:
    end: _End
    look: Look
    connection: Connection | None
    error: AzpeError | None = None


# Server states that do not turn Ready by themselves: waiting for them is waiting in vain.
STARTABLE_STATES = ("stopped",)
STUCK_STATES = ("stopped", "disabled", "dropping")


def cannot_become_ready(server: Server) -> bool:
    return server.state.lower() in STUCK_STATES


def not_ready_error(server: Server, *, waited: float | None = None) -> ServerNotReady:
    """``waited``: how long --wait-ready waited, when it ran out."""
    state = server.state.lower()
    busy = " (an operation is running on it)" if state == "updating" else ""
    if state in STARTABLE_STATES:
        hint = (
            f"Start it first: az postgres flexible-server start -g {server.resource_group} -n {server.name}"
        )
    elif state in STUCK_STATES:
        hint = f"A {server.state} server does not become Ready by itself; check it in the portal."
    elif waited is not None:
        hint = "Retry when the server is Ready."
    else:
        hint = "Pass --wait-ready SECONDS to wait for it, or retry when the server is Ready."
    if waited is not None:
        return ServerNotReady(
            f"server {server.name} was still {server.state}{busy} after {waited:g}s, not Ready", hint=hint
        )
    return ServerNotReady(f"server {server.name} is {server.state}{busy}, not Ready", hint=hint)


class TargetWrite:
    """Writes one target at a time; shared by a run's workers (it keeps no per-target state)."""

    def __init__(
        self,
        client: AzClient,
        action: Action,
        description: str | None,
        options: RunOptions,
        *,
        cancel: threading.Event,
        interrupt: threading.Event | None = None,
        force: bool = False,
    ) -> None:
        """``cancel``: the run stops - no further write starts, and a target that has not
        written stops waiting. ``interrupt`` (Ctrl-C; it sets ``cancel`` too): a target that
        has written stops waiting for its operation as well. Without Ctrl-C - the run's report
        failed - a write that was made is seen to its end."""
        self.client = client
        self.force = force  # --force: the lock-out guard does not hold this run
        self.action = action
        self.description = description
        self.options = options
        self.cancel = cancel
        self.interrupt = cancel if interrupt is None else interrupt
        # A group read is for targets that have not written: it stops retrying once the run stops.
        self.groups = GroupLooks(client, self.reader(cancel))

    def reader(self, cancel: Cancel) -> Reader:
        """Reads retry like any read, but stop (and stop waiting) once ``cancel`` is set."""
        options = self.options
        return reader(options.retries, max_seconds=options.retry_budget, wait=options.wait, cancel=cancel)

    def run(self, item: TargetResult, look: Look) -> tuple[TargetResult, Look]:
        """The target's result, and the latest look at its server (for the next target)."""
        run = _TargetRun(self, item, look)
        result = run.result()
        if result.waited:
            log.info("%s/%s: waited %.1f s for the server's operations", item.target.server.name,
                     item.target.name, result.waited)  # fmt: skip
        return result, run.look


class _Stop:
    """What stops one target's loops (a ``retry.Cancel``): Ctrl-C always; the run's stop
    until the target has written - a write that was made is seen to its end."""

    def __init__(self, writer: TargetWrite, run: _TargetRun) -> None:
        self.writer = writer
        self.run = run

    def is_set(self) -> bool:
        return self.writer.interrupt.is_set() or (self.writer.cancel.is_set() and not self.run.sent)

    def wait(self, timeout: float | None = None) -> bool:
        (self.writer.interrupt if self.run.sent else self.writer.cancel).wait(timeout)
        return self.is_set()


class _TargetRun:
    """The state of one target's write while it runs."""

    def __init__(self, writer: TargetWrite, item: TargetResult, look: Look) -> None:
        self.w = writer
        self.item = item
        self.look = look
        self.needs_read = look.stale()
        self.only_old = self.needs_read  # the read at hand is merely old (a group read will do)
        self.attempts = 0  # write calls made
        self.sent = False  # a write was made that may have changed the connection
        self.took_no_effect = False  # the last write exited 0 (then a read must show it)
        self.unknown_outcome: AzpeError | None = None  # why the last write's outcome is unknown
        self.waited = 0.0
        self.deadline = time.monotonic() + writer.options.busy_timeout
        self.waiting_logged = False
        self.read_here = False  # self.look was read by this target (not the plan or the one before)
        self.stop = _Stop(writer, self)
        self.read = writer.reader(self.stop)  # this target's own reads
        self.write_error: AzpeError | None = None  # the last write's failure

    # -- the two loops -------------------------------------------------------------------------

    def result(self) -> TargetResult:
        options = self.w.options
        retries = retrying(
            options.retries, max_seconds=options.retry_budget, wait=options.wait, cancel=self.stop
        )
        try:
            step = retries(self._until_not_busy)
        except AzpeError as exc:
            return self._after_failure(exc)
        return self._report(step)

    def _until_not_busy(self) -> _Step:
        poller = busy_polling(
            lambda step: step.end is not _End.BUSY,
            max_seconds=max(0.0, self.deadline - time.monotonic()),
            wait=self.w.options.poll,
            cancel=self.stop,
            on_sleep=self._slept,
        )
        try:
            step: _Step = poller(self._step)
        except RetryError as exc:  # time, or Ctrl-C, ran out while it was busy
            last: _Step = exc.last_attempt.result()
            end = _End.STOPPED if self.stop.is_set() else _End.OUT_OF_TIME
            return replace(last, end=end)
        return step

    def _slept(self, seconds: float) -> None:
        self.waited += seconds

    # -- one step ---------------------------------------------------------------------------

    def _step(self) -> _Step:
        action, name = self.w.action, self.item.target.name
        while True:
            if self.stop.is_set():  # stopped while it waited: what it wrote is read once, in _report
                return _Step(_End.STOPPED, self.look, self.item.connection)
            if self.needs_read:
                self._read_again()
            found = assess(action, self.look.server, name, guard=not self.w.force)
            if found.need is Need.NOTHING:
                return _Step(_End.DONE, self.look, found.connection)
            if found.need is Need.CANNOT:
                return _Step(_End.FAILED, self.look, found.connection, found.error)
            if self.stop.is_set():  # stopped during this step's read
                return self._stopped(found.connection)
            if found.need is Need.NOT_READY:
                return _Step(_End.FAILED, self.look, found.connection, not_ready_error(self.look.server))
            if found.need is Need.BUSY:
                return self._busy(found.connection, self.look.server.state)
            if self._needs_fresh_look(found.connection):
                self.needs_read = True
                self.only_old = self.look.stale() and not self._guarded(found.connection)
                continue
            if self.took_no_effect:
                self.took_no_effect = False
                return self._no_effect(found.connection)
            if self.w.cancel.is_set():  # the run stops: no further write, even a retry
                return self._stopped(found.connection)
            try:
                written = self._write()
            except (ServerBusy, ServerNotReady) as exc:
                return self._busy(found.connection, exc.code)
            if action is not Action.DELETE and holds(action, written):
                # The write's own output shows it; the server may still be busy with it.
                self.look = replace(self.look, written_at=time.monotonic())
                return _Step(_End.DONE, self.look, written)
            self.took_no_effect = True
            self.needs_read = True  # verify at once

    def _stopped(self, connection: Connection | None) -> _Step:
        """The run stopped at a step that has read the server (a target that wrote reads it at
        every step): a target that wrote is judged on that read - its connection does not hold
        the wanted state -, one that did not is skipped."""
        if not self.sent:
            return _Step(_End.STOPPED, self.look, connection)
        return _Step(_End.FAILED, self.look, connection, self._stopped_error())

    def _needs_fresh_look(self, connection: Connection | None) -> bool:
        """Whether to read the server again before this write. Always when the read is old.
        Before taking an Approved connection away: the lock-out guard must see a read taken
        by this target, just before the write. Before an approve, when a write on the server
        came after the read: the connection may have become Rejected meanwhile, and az would
        poll a failed approve for minutes. A reject or delete needs no more: on a server that
        is busy it only earns a 409, which is waited for."""
        if self.look.stale():
            return True
        if self._guarded(connection):
            return not self.read_here
        return self.w.action is Action.APPROVE and self.look.predates_write

    def _guarded(self, connection: Connection | None) -> bool:
        """Whether the write would take an Approved connection away (the guard's concern)."""
        removes = self.w.action.removes_access and not self.w.force
        return removes and connection is not None and connection.status == "Approved"

    def _read_again(self) -> None:
        """A fresh look: from a group read when the one at hand is merely old - a group read
        started after it, and after the last write on the server returned -, else the
        server's own read (then a read by this target)."""
        ref = self.item.target.server
        shared = None
        if self.only_old:
            shared = self.w.groups.look(ref, newer_than=max(self.look.at, self.look.written_at or 0.0))
        if shared is not None:
            self.look, self.read_here = shared, False
        else:
            self.look = Look.now(self.read(lambda: self.w.client.show_server(ref)))
            self.read_here = True
        self.needs_read = self.only_old = False

    def _write(self) -> Connection | None:
        """The connection as the write printed it; None when that proves nothing (a delete,
        az's 202 body, or an outcome az could not tell: a read decides then)."""
        self.attempts += 1
        try:
            written = self.w.client.write(
                self.w.action, self.item.target, self.w.description, unless=self.w.cancel
            )
        except (ServerBusy, ServerNotReady, NotStarted):
            raise  # refused before anything changed, or never started
        except AzpeError as exc:
            self.sent = True  # a failed, killed or timed-out az may still have made the change
            self.needs_read = True  # look again before any retry
            self.write_error = exc
            if isinstance(exc, AzTimeout) or exc.code in UNKNOWN_OUTCOME:
                log.info("%s: %s; reading what it did", self.item.target.name, exc.message)
                self.unknown_outcome = exc
                return None
            raise
        self.sent = True
        self.unknown_outcome = None
        return written

    def _busy(self, connection: Connection | None, why: str) -> _Step:
        if not self.waiting_logged:
            left = max(0.0, self.deadline - time.monotonic())
            target = self.item.target
            log.info(
                "%s: server %s is busy (%s); waiting up to %.0f s", target.name, target.server.name, why, left
            )
            self.waiting_logged = True
        self.needs_read = True
        return _Step(_End.BUSY, self.look, connection)

    def _no_effect(self, connection: Connection | None) -> _Step:
        """The write ended (exit 0, or an outcome az could not tell), yet the connection is
        settled in its old state: the service did not apply it (or, when --timeout cut az
        short, perhaps never got it). Reported at once, whatever the timeout; not retried."""
        name = self.item.target.name
        if connection is not None and failed_provisioning(connection):
            failed = AzureError(
                f"{name}: the {self.w.action.value} operation failed (provisioningState Failed)",
                code="OperationFailed",
                hint="Check it with 'azpe show'; Azure gave no reason. Retry later.",
            )
            return _Step(_End.FAILED, self.look, connection, failed)
        if isinstance(self.unknown_outcome, AzTimeout):  # cut short: maybe never sent
            return _Step(_End.FAILED, self.look, connection, self.unknown_outcome)
        still = f"still {connection.status}" if connection is not None else "unchanged"
        unchanged = AzureError(
            f"{name}: the {self.w.action.value} did not take effect: the connection is {still} and "
            "no operation is running on it (the service's operation failed; Azure gave no reason)",
            code="NotConverged",
            hint="Check it with 'azpe show', then run the command again.",
        )
        return _Step(_End.FAILED, self.look, connection, unchanged)

    # -- results ------------------------------------------------------------------------------

    def _report(self, step: _Step) -> TargetResult:
        connection = step.connection
        if step.end is _End.DONE:
            outcome = Outcome(self.w.action.done_word) if self.sent else Outcome.UNCHANGED
            return self._result(outcome, connection or self.item.connection)
        if step.end is _End.FAILED:
            return self._result(Outcome.FAILED, connection, step.error)
        if step.end is _End.STOPPED:
            if not self.sent:
                return self._result(Outcome.SKIPPED, connection, not_started())
            return self._after_failure(self._stopped_error())  # re-read what was in flight
        name, server = self.item.target.name, self.item.target.server.name
        budget = self.w.options.busy_timeout
        if not self.sent:
            error: AzpeError = ServerNotReady(
                f"server {server} was still busy after {budget:g}s, so {name} was not written",
                code="ServerBusy",
                hint="Another operation is running on the server; retry later or raise --busy-timeout.",
            )
        else:
            error = AzureError(
                f"{name} did not reach the wanted state within {budget:g}s",
                code="NotConverged",
                hint="Check it with 'azpe show'; the operation may still finish.",
            )
        return self._result(Outcome.FAILED, connection, error)

    def _after_failure(self, exc: AzpeError) -> TargetResult:
        """A write or read failed for good: report it, but look first if a write was made."""
        if not self.sent:
            if self.stop.is_set():
                return self._result(Outcome.SKIPPED, self.item.connection, not_started())
            return self._result(Outcome.FAILED, self._last_known(), exc)
        try:
            self.look = Look.now(self.read(lambda: self.w.client.show_server(self.item.target.server)))
        except AzpeError as read_error:
            unverified = AzureError(
                f"{self.item.target.name}: could not verify the {self.w.action.value} "
                f"({exc.message}); reading it failed: {read_error.message}",
                code="Unverified",
                hint="The write may have landed: check it with 'azpe show' before acting again.",
            )
            return self._result(Outcome.FAILED, None, unverified)
        current = self.look.server.connection(self.item.target.name)
        if holds(self.w.action, current):
            return self._result(Outcome(self.w.action.done_word), current or self.item.connection)
        if self.w.interrupt.is_set() or isinstance(exc, Interrupted):
            return self._result(Outcome.FAILED, current, self._interrupted())
        return self._result(Outcome.FAILED, current, exc)

    def _stopped_error(self) -> AzpeError:
        """Why a target that wrote is left unsettled when the run stops: Ctrl-C, or - the run
        stopped for another reason (its report failed), and no further write starts - its last
        write's own failure."""
        if self.w.interrupt.is_set() or self.write_error is None:
            return self._interrupted()
        return self.write_error

    def _last_known(self) -> Connection | None:
        return self.look.server.connection(self.item.target.name) or self.item.connection

    def _interrupted(self) -> Interrupted:
        return Interrupted(
            f"{self.item.target.name}: interrupted before the write was seen to land",
            hint="Check it with 'azpe show'; the operation may still finish.",
        )

    def _result(
        self, outcome: Outcome, connection: Connection | None, error: AzpeError | None = None
    ) -> TargetResult:
        return self.item.with_(
            outcome=outcome,
            connection=connection,
            error=error,
            attempts=self.attempts,
            waited=self.waited,
        )
