"""Run a plan's writes (design.md §3, steps 4-8).

Writes on one server run one at a time (a second write on a busy server only earns a 409);
servers run in parallel up to ``concurrency``. Each write is retried on transient failures,
re-reading the connection before every retry; the result counts only once a read (or the
write's own output) shows the wanted state. After Ctrl-C nothing new starts, running az calls
get a grace period, and every target still gets a result.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass

from tenacity import (
    RetryError,
)
from tenacity.wait import wait_base

from azpe.client import Action, AzClient
from azpe.errors import AzpeError, AzureError, Interrupted, NotFound, ServerNotReady, not_started
from azpe.models import Connection, Server
from azpe.outcomes import Outcome, TargetResult
from azpe.planning import Plan, refusal_for, server_key
from azpe.retry import polling, reader, retrying

log = logging.getLogger("azpe")

SETTLED_STATES = ("succeeded", "ready")


@dataclass(frozen=True)
class RunOptions:
    retries: int = 3
    concurrency: int = 4
    wait_ready: float = 0.0
    converge_timeout: float = 300.0
    retry_budget: float = 600.0  # total seconds one target may spend in retries
    grace: float = 30.0  # how long running az calls may go on after Ctrl-C
    wait: wait_base | None = None  # retry waits; tests pass wait_none()
    poll: wait_base | None = None  # readiness / convergence polling waits


class _Settled(Exception):
    """Raised inside a retry when a re-read shows the wanted state: stop, it is done."""

    def __init__(self, connection: Connection | None) -> None:
        self.connection = connection


class _UnderWay(Exception):
    """Raised inside a retry when a re-read shows a write still running: wait for it instead."""


def _settled_state(connection: Connection) -> bool:
    return (connection.provisioning_state or "succeeded").lower() in SETTLED_STATES


def holds(action: Action, connection: Connection | None) -> bool:
    """Whether ``connection`` (None: absent) is in the state ``action`` wants, and settled."""
    wanted = action.wanted_status
    if wanted is None:
        return connection is None
    return connection is not None and connection.status == wanted and _settled_state(connection)


class Executor:
    def __init__(
        self,
        client: AzClient,
        plan: Plan,
        options: RunOptions,
        *,
        on_result: Callable[[TargetResult], None] = lambda _r: None,
    ) -> None:
        self.client = client
        self.plan = plan
        self.options = options
        self.cancelled = threading.Event()
        # Re-reads retry like any read, but stop (and stop waiting) after Ctrl-C.
        self.read = reader(
            options.retries, max_seconds=options.retry_budget, wait=options.wait, cancel=self.cancelled
        )
        self._on_result = on_result
        self._emit_lock = threading.Lock()
        self._results: dict[tuple[str, str], TargetResult] = {}
        self.interrupted = False
        self.failure: AzpeError | None = None

    # -- public -------------------------------------------------------------------------

    def run(self) -> list[TargetResult]:
        """Run every planned write; one result per write, in plan order, even after Ctrl-C."""
        groups = self.plan.writes_by_server()
        if groups:
            workers = max(1, min(self.options.concurrency, len(groups)))
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="azpe") as pool:
                futures = [pool.submit(self._run_server, k, items) for k, items in groups.items()]
                self._wait(futures)
        return [self._results[self._key(item)] for item in self.plan.writes]

    # -- scheduling -----------------------------------------------------------------------

    def _wait(self, futures: list[Future[None]]) -> None:
        try:
            self._wait_all(futures, timeout=None)
        except Exception:
            # A worker failed (a bug): start no further write anywhere, let the running ones
            # end, then let the bug surface (exit 70).
            self.cancelled.set()
            wait(futures)
            raise
        except KeyboardInterrupt:
            self.interrupted = True
            self.cancelled.set()
            log.warning("interrupted: starting nothing new; running az calls get %gs", self.options.grace)
            try:
                finished = self._wait_all(futures, timeout=self.options.grace)
            except KeyboardInterrupt:
                finished = False
            if not finished:
                stopped = self.client.runner.kill_running()
                log.warning("stopped %d running az call(s); re-reading their state", stopped)
            while True:  # every wait is cut short by the cancel event: this ends soon
                try:
                    self._wait_all(futures, timeout=None)
                    return
                except KeyboardInterrupt:
                    self.client.runner.kill_running()

    @staticmethod
    def _wait_all(futures: list[Future[None]], timeout: float | None) -> bool:
        """Wait in short slices (so Ctrl-C is seen); a bug in a worker surfaces here."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            done, pending = wait(futures, timeout=0.2, return_when=FIRST_EXCEPTION)
            for future in done:
                future.result()
            if not pending:
                return True
            if deadline is not None and time.monotonic() >= deadline:
                return False

    def _run_server(self, key: str, items: list[TargetResult]) -> None:
        server: Server | AzpeError = self.plan.servers[key]
        if isinstance(server, Server) and not server.ready:
            server = self._wait_ready(server)
        for item in items:
            if self.cancelled.is_set():
                self._emit(item.with_(outcome=Outcome.SKIPPED, error=not_started()))
            elif isinstance(server, AzpeError):
                self._emit(item.with_(outcome=Outcome.FAILED, error=server))
            else:
                current = self._recheck(item, server)
                self._emit(self._write(current) if current.outcome is Outcome.PLANNED else current)

    def _emit(self, result: TargetResult) -> None:
        with self._emit_lock:
            self._results[self._key(result)] = result
            if self.failure is not None:
                return
            try:
                self._on_result(result)
            except AzpeError as exc:
                # Reporting failed (the audit log cannot be written): start no further write,
                # keep every result, and let the caller report the failure.
                self.failure = exc
                self.cancelled.set()

    @staticmethod
    def _key(item: TargetResult) -> tuple[str, str]:
        return (server_key(item.target.server), item.target.name.lower())

    # -- one server, one target -------------------------------------------------------------

    def _wait_ready(self, server: Server) -> Server | AzpeError:
        """The server, read again once it is Ready; else the error to report for its targets."""
        if self.options.wait_ready <= 0:
            return not_ready_error(server)
        log.info("server %s is %s; waiting up to %gs", server.name, server.state, self.options.wait_ready)
        poller = polling(
            lambda s: s.ready,
            max_seconds=self.options.wait_ready,
            wait=self.options.poll,
            cancel=self.cancelled,
        )
        try:
            fresh: Server = poller(self.client.show_server, server.ref)
        except RetryError:
            return ServerNotReady(
                f"server {server.name} was still not Ready after {self.options.wait_ready:g}s",
                hint=not_ready_error(server).hint,
            )
        except AzpeError as exc:
            return exc  # not found, not allowed, ...: its own exit code
        return fresh

    def _recheck(self, item: TargetResult, server: Server) -> TargetResult:
        """After waiting for the server, decide again on what it shows now (the plan's read is
        from before the wait). The lock-out guard keeps the plan's view: a wait cannot add
        Approved connections that the guard would rely on."""
        if server is self.plan.servers.get(server_key(item.target.server)):
            return item
        connection = server.connection(item.target.name)
        if holds(self.plan.action, connection):
            return item.with_(outcome=Outcome.UNCHANGED, connection=connection or item.connection)
        if connection is None:
            error = NotFound(f"{item.target.name} is gone from server {server.name}")
            return item.with_(outcome=Outcome.FAILED, error=error)
        refusal = refusal_for(self.plan.action, connection)
        if refusal is not None:
            return item.with_(outcome=Outcome.FAILED, error=refusal, connection=connection)
        return item.with_(connection=connection)

    def _write(self, item: TargetResult) -> TargetResult:
        action = self.plan.action
        attempts = 0

        def attempt() -> Connection | None:
            nonlocal attempts
            if attempts:
                # Before a retry, look: it may have landed, be under way, or be impossible now.
                current = self._reread(item)
                if holds(action, current):
                    raise _Settled(current)
                if current is not None and not _settled_state(current):
                    raise _UnderWay()
                refusal = refusal_for(action, current) if current is not None else None
                if refusal is not None:
                    raise refusal
            attempts += 1
            return self.client.write(action, item.target, self.plan.description)

        policy = retrying(
            self.options.retries,
            max_seconds=self.options.retry_budget,
            wait=self.options.wait,
            cancel=self.cancelled,
        )
        try:
            written = policy(attempt)
        except _Settled as done:
            return self._success(item, done.connection, attempts)
        except _UnderWay:
            return self._converge(item, attempts)
        except AzpeError as exc:
            # A failed, killed or timed-out az may still have made the change: look first.
            current = self._reread_quietly(item)
            if holds(action, current):
                return self._success(item, current, attempts)
            return item.with_(
                outcome=Outcome.FAILED,
                error=exc,
                attempts=attempts,
                connection=current or item.connection,
            )
        if action is not Action.DELETE and holds(action, written):
            return self._success(item, written, attempts)
        return self._converge(item, attempts)

    def _converge(self, item: TargetResult, attempts: int) -> TargetResult:
        """Poll until a read shows the wanted state, or report ``NotConverged``."""
        action = self.plan.action
        poller = polling(
            lambda c: holds(action, c),
            max_seconds=self.options.converge_timeout,
            wait=self.options.poll,
            cancel=self.cancelled,
        )
        try:
            current = poller(self._reread, item)
        except RetryError as exc:
            last = exc.last_attempt
            current = last.result() if not last.failed else item.connection
            error: AzpeError = AzureError(
                f"{item.target.name} did not reach the wanted state within "
                f"{self.options.converge_timeout:g}s",
                code="NotConverged",
                hint="Check it with 'azpe show'; the operation may still finish.",
            )
            if self.cancelled.is_set():
                error = Interrupted(
                    f"{item.target.name}: interrupted before the write was seen to land",
                    hint="Check it with 'azpe show'; the operation may still finish.",
                )
            return item.with_(outcome=Outcome.FAILED, error=error, attempts=attempts, connection=current)
        except AzpeError as exc:
            return item.with_(outcome=Outcome.FAILED, error=exc, attempts=attempts)
        return self._success(item, current, attempts)

    def _reread(self, item: TargetResult) -> Connection | None:
        server = self.read(lambda: self.client.show_server(item.target.server))
        return server.connection(item.target.name)

    def _reread_quietly(self, item: TargetResult) -> Connection | None:
        try:
            return self._reread(item)
        except AzpeError as exc:
            log.warning("could not re-read %s: %s", item.target.name, exc.message)
            return item.connection

    def _success(self, item: TargetResult, current: Connection | None, attempts: int) -> TargetResult:
        outcome = Outcome(self.plan.action.done_word)
        return item.with_(outcome=outcome, connection=current or item.connection, attempts=attempts)


def not_ready_error(server: Server) -> ServerNotReady:
    busy = " (an operation is running on it)" if server.state.lower() == "updating" else ""
    return ServerNotReady(
        f"server {server.name} is {server.state}{busy}, not Ready",
        hint="Pass --wait-ready SECONDS to wait for it, or retry when the server is Ready.",
    )
