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
    Retrying,
    retry_if_exception,
    retry_if_result,
    stop_after_delay,
    stop_when_event_set,
)
from tenacity.wait import wait_base

from azpe.client import Action, AzClient
from azpe.errors import AzpeError, AzureError, ServerNotReady, not_started
from azpe.models import Connection, Server
from azpe.outcomes import Outcome, TargetResult
from azpe.planning import Plan, Reader, server_key
from azpe.retry import default_poll, is_transient, retrying

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


def holds(action: Action, connection: Connection | None) -> bool:
    """Whether ``connection`` (None: absent) is in the state ``action`` wants, and settled."""
    wanted = action.wanted_status
    if wanted is None:
        return connection is None
    if connection is None or connection.status != wanted:
        return False
    state = (connection.provisioning_state or "succeeded").lower()
    return state in SETTLED_STATES


class Executor:
    def __init__(
        self,
        client: AzClient,
        plan: Plan,
        options: RunOptions,
        *,
        read: Reader,
        on_result: Callable[[TargetResult], None] = lambda _r: None,
    ) -> None:
        self.client = client
        self.plan = plan
        self.options = options
        self.read = read
        self.cancelled = threading.Event()
        self._on_result = on_result
        self._emit_lock = threading.Lock()
        self._results: dict[tuple[str, str], TargetResult] = {}
        self.interrupted = False

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
            # A worker failed (the audit log could not be written, or a bug): start no
            # further write anywhere, let the running ones end, then report the failure.
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
            self._wait_all(futures, timeout=None)

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
        server = self.plan.servers[key]
        not_ready = None if server.ready else self._wait_ready(server)
        for item in items:
            if self.cancelled.is_set():
                self._emit(item.with_(outcome=Outcome.SKIPPED, error=not_started()))
            elif not_ready is not None:
                self._emit(item.with_(outcome=Outcome.FAILED, error=not_ready))
            else:
                self._emit(self._write(item))

    def _emit(self, result: TargetResult) -> None:
        with self._emit_lock:
            self._results[self._key(result)] = result
            self._on_result(result)

    @staticmethod
    def _key(item: TargetResult) -> tuple[str, str]:
        return (server_key(item.target.server), item.target.name.lower())

    # -- one server, one target -------------------------------------------------------------

    def _wait_ready(self, server: Server) -> ServerNotReady | None:
        """None once the server is Ready; the error to report if it never gets there."""
        error = not_ready_error(server)
        if self.options.wait_ready <= 0:
            return error
        log.info("server %s is %s; waiting up to %gs", server.name, server.state, self.options.wait_ready)
        poller = Retrying(
            stop=stop_after_delay(self.options.wait_ready) | stop_when_event_set(self.cancelled),
            wait=self._poll_wait(),
            retry=retry_if_result(lambda s: not s.ready) | retry_if_exception(is_transient),
        )
        try:
            poller(self.client.show_server, server.ref)
        except RetryError:
            return ServerNotReady(
                f"server {server.name} was still not Ready after {self.options.wait_ready:g}s",
                hint=error.hint,
            )
        except AzpeError as exc:
            return ServerNotReady(f"could not read server {server.name}: {exc.message}")
        return None

    def _write(self, item: TargetResult) -> TargetResult:
        action = self.plan.action
        attempts = 0

        def attempt() -> Connection | None:
            nonlocal attempts
            if attempts:
                if self.cancelled.is_set():
                    raise not_started()
                current = self._reread(item)
                if holds(action, current):
                    raise _Settled(current)
            attempts += 1
            return self.client.write(action, item.target, self.plan.description)

        policy = retrying(self.options.retries, max_seconds=self.options.retry_budget, wait=self.options.wait)
        try:
            written = policy(attempt)
        except _Settled as done:
            return self._success(item, done.connection, attempts)
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
        poller = Retrying(
            stop=stop_after_delay(self.options.converge_timeout),
            wait=self._poll_wait(),
            retry=retry_if_result(lambda c: not holds(action, c)) | retry_if_exception(is_transient),
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

    def _poll_wait(self) -> wait_base:
        return self.options.poll if self.options.poll is not None else default_poll()


def not_ready_error(server: Server) -> ServerNotReady:
    busy = " (an operation is running on it)" if server.state.lower() == "updating" else ""
    return ServerNotReady(
        f"server {server.name} is {server.state}{busy}, not Ready",
        hint="Pass --wait-ready SECONDS to wait for it, or retry when the server is Ready.",
    )
