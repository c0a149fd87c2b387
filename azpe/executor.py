"""The scheduler of a plan's writes (design.md §3, steps 4-8): when and where each write runs.

Writes on one server run one at a time, in plan order (a second write on a busy server only
earns a 409); servers run in parallel up to ``concurrency``. A server that is not Ready at
the start is waited for up to ``wait_ready``. What one target needs - the busy wait, retries,
re-reads and verification - is ``azpe.target_write``'s. After Ctrl-C nothing new starts,
running az calls get a grace period, then are stopped; every target still gets a result.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait

from tenacity import RetryError

from azpe.client import AzClient
from azpe.errors import AzpeError, ServerNotReady, not_started
from azpe.models import Server
from azpe.outcomes import Outcome, TargetResult
from azpe.planning import Plan, server_key
from azpe.retry import polling
from azpe.run_options import RunOptions
from azpe.target_write import Look, TargetWrite, not_ready_error

log = logging.getLogger("azpe")


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
        self.writer = TargetWrite(client, plan.action, plan.description, options, cancel=self.cancelled)
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

    # -- the pool, Ctrl-C, the grace and the kill ------------------------------------------

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
                stopped = self.client.kill_running()
                log.warning("stopped %d running az call(s); re-reading their state", stopped)
            while True:  # every wait is cut short by the cancel event: this ends soon
                try:
                    self._wait_all(futures, timeout=None)
                    return
                except KeyboardInterrupt:  # once more: stop the re-reads too (they report unverified)
                    self.client.kill_running()

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

    # -- one server's queue ---------------------------------------------------------------------

    def _run_server(self, key: str, items: list[TargetResult]) -> None:
        server = self.plan.servers[key]
        look: Look | AzpeError = Look(server, self.plan.read_at)
        if not server.ready:
            waited = self._wait_ready(server)
            look = waited if isinstance(waited, AzpeError) else Look.now(waited)
        for item in items:
            if self.cancelled.is_set():
                self._emit(item.with_(outcome=Outcome.SKIPPED, error=not_started()))
            elif isinstance(look, AzpeError):
                self._emit(item.with_(outcome=Outcome.FAILED, error=look))
            else:
                result, look = self.writer.run(item, look)
                self._emit(result)

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
