"""The scheduler of a plan's writes (design.md §3, steps 4-8): when and where each write runs.

Writes on one server run one at a time, in plan order (a second write on a busy server only
earns a 409); servers run in parallel - every server with work, or up to ``concurrency`` -
as workers that take servers from one queue. The az runner paces az starts to what the
machine can carry (``azpe.capacity``). A server that is not Ready at
the start is waited for up to ``wait_ready`` (unless the run is under way and it is busy with
the run's own operations). What one target needs - the busy wait, retries,
re-reads and verification - is ``azpe.target_write``'s. After Ctrl-C nothing new starts,
running az calls get a grace period, then are stopped, and what was in flight is re-read;
every target still gets a result. When reporting a result fails, nothing new starts either,
but writes already made are seen to their end.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator

from tenacity import RetryError

from azpe.assess import BUSY_STATES
from azpe.client import AzClient
from azpe.errors import AzpeError, not_started
from azpe.models import Server
from azpe.outcomes import Outcome, TargetResult
from azpe.planning import Plan, result_key
from azpe.retry import polling
from azpe.run_options import RunOptions
from azpe.target_write import Look, TargetWrite, cannot_become_ready, not_ready_error

log = logging.getLogger("azpe")


class Executor:
    def __init__(
        self,
        client: AzClient,
        plan: Plan,
        options: RunOptions,
        *,
        on_result: Callable[[TargetResult], None] = lambda _r: None,
        force: bool = False,
    ) -> None:
        self.client = client
        self.plan = plan
        self.options = options
        self.cancelled = threading.Event()  # the run stops: nothing new starts
        self.interrupt_event = threading.Event()  # Ctrl-C: in-flight writes stop waiting too
        self.writer = TargetWrite(
            client, plan.action, plan.description, options,
            cancel=self.cancelled, interrupt=self.interrupt_event, force=force,
        )  # fmt: skip
        self._on_result = on_result
        self._emit_lock = threading.Lock()
        self._results: dict[tuple[str, str], TargetResult] = {}
        # Servers not yet taken by a worker, and how many are being worked on.
        self._queue: deque[tuple[str, list[TargetResult]]] = deque()
        self._running = 0
        self._changed = threading.Condition()
        self._bug: Exception | None = None
        self.interrupted = False
        self.failure: AzpeError | None = None

    # -- public -------------------------------------------------------------------------

    def run(self) -> list[TargetResult]:
        """Run every planned write; one result per write, in plan order, even after Ctrl-C."""
        self._queue.extend(self.plan.writes_by_server().items())
        workers = max(1, min(self.options.concurrency or len(self._queue), len(self._queue)))
        try:
            for n in range(workers if self._queue else 0):
                threading.Thread(target=self._worker, name=f"azpe-{n}", daemon=True).start()
            self._wait_workers(None)
        except KeyboardInterrupt:
            self._interrupt()
        if self._bug is not None:
            raise self._bug  # a bug in a worker: exit 70, once the others have stopped
        for _key, items in self._queue:  # never started (Ctrl-C, a bug, a failed report)
            for item in items:
                self._emit(item.with_(outcome=Outcome.SKIPPED, error=not_started()))
        return [self._results[result_key(item)] for item in self.plan.writes]

    # -- workers, Ctrl-C, the grace and the kill --------------------------------------------

    def _worker(self) -> None:
        """Take servers from the queue, one at a time, until it is empty or the run stops."""
        while True:
            with self._changed:
                if self.cancelled.is_set() or not self._queue:
                    return
                key, items = self._queue.popleft()
                self._running += 1
            try:
                self._run_server(key, items)
            except Exception as exc:  # a bug: start no further write anywhere
                self._bug = self._bug or exc
                self.cancelled.set()
            finally:
                with self._changed:
                    self._running -= 1
                    self._changed.notify_all()

    def _wait_workers(self, timeout: float | None, *, unless: threading.Event | None = None) -> bool:
        """Wait until no server is being worked on and none will be (in short slices, so that
        Ctrl-C is seen); False if ``timeout`` ran out, or ``unless`` was set, first."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._changed:
            while self._running or (self._queue and not self.cancelled.is_set()):
                if deadline is not None and time.monotonic() >= deadline:
                    return False
                if unless is not None and unless.is_set():
                    return False
                self._changed.wait(0.2)
        return True

    def _interrupt(self) -> None:
        """After Ctrl-C (or SIGTERM): start nothing new, give running az calls the grace, then
        stop them; their targets are re-read. Another Ctrl-C ends the grace at once, and one
        after that stops the re-reads too (they report the outcome as unverified)."""
        self.interrupted = True
        self.interrupt_event.set()
        self.cancelled.set()
        again = threading.Event()
        with _signals_set(again):  # from here on a Ctrl-C cannot escape half-way
            log.warning("interrupted: starting nothing new; running az calls get %gs", self.options.grace)
            if not self._wait_workers(self.options.grace, unless=again):
                again.clear()
                stopped = self.client.kill_running()
                log.warning("stopped %d running az call(s); re-reading their state", stopped)
            while not self._wait_workers(None, unless=again):
                again.clear()
                self.client.kill_running()

    # -- one server's queue ---------------------------------------------------------------------

    def _run_server(self, key: str, items: list[TargetResult]) -> None:
        server = self.plan.servers[key]
        look: Look | AzpeError = Look(server, self.plan.read_at)
        busy = server.state.lower() in BUSY_STATES
        if not server.ready and not (busy and self.options.under_way):
            waited = self._wait_ready(server)
            look = waited if isinstance(waited, AzpeError) else Look.now(waited)
        for item in items:
            if self.cancelled.is_set():
                self._emit(item.with_(outcome=Outcome.SKIPPED, error=not_started()))
            elif self.client.unreachable is not None:  # the breaker: start nothing new
                self._emit(item.with_(outcome=Outcome.SKIPPED, error=self.client.unreachable))
            elif isinstance(look, AzpeError):
                self._emit(item.with_(outcome=Outcome.FAILED, error=look))
            else:
                result, look = self.writer.run(item, look)
                self._emit(result)

    def _wait_ready(self, server: Server) -> Server | AzpeError:
        """The server, read again once it is Ready; else the error to report for its targets."""
        if self.options.wait_ready <= 0 or cannot_become_ready(server):
            return not_ready_error(server)  # Stopped, Disabled: waiting would be in vain
        log.warning(
            "server %s is %s: waiting up to %gs for it to be Ready", server.name, server.state,
            self.options.wait_ready,
        )  # fmt: skip
        started = time.monotonic()
        last: list[Server] = [server]

        def ready(found: Server) -> bool:
            last[0] = found
            return found.ready or cannot_become_ready(found)

        def slept(_seconds: float) -> None:
            log.warning(
                "server %s is still %s after %.0fs", server.name, last[0].state, time.monotonic() - started
            )

        poller = polling(
            ready,
            max_seconds=self.options.wait_ready,
            wait=self.options.poll,
            cancel=self.cancelled,
            on_sleep=slept,
        )
        try:
            fresh: Server = poller(self.client.show_server, server.ref)
        except RetryError:
            return not_ready_error(last[0], waited=self.options.wait_ready)
        except AzpeError as exc:
            return exc  # not found, not allowed, ...: its own exit code
        if not fresh.ready:  # it went Stopped (or Disabled) meanwhile
            return not_ready_error(fresh)
        log.warning("server %s is Ready after %.0fs", server.name, time.monotonic() - started)
        return fresh

    def _emit(self, result: TargetResult) -> None:
        with self._emit_lock:
            self._results[result_key(result)] = result
            if self.failure is not None:
                return
            try:
                self._on_result(result)
            except AzpeError as exc:
                # Reporting failed (the audit log cannot be written): start no further write
                # (one already made is seen to its end), keep every result, and let the
                # caller report the failure.
                self.failure = exc
                self.cancelled.set()


@contextlib.contextmanager
def _signals_set(event: threading.Event) -> Iterator[None]:
    """While it lasts, SIGINT and SIGTERM only set ``event`` (signals reach the main thread)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    wanted = (signal.SIGINT, signal.SIGTERM)
    previous = {sig: signal.getsignal(sig) for sig in wanted}
    for sig in wanted:
        signal.signal(sig, lambda _signum, _frame: event.set())
    try:
        yield
    finally:
        for sig, handler in previous.items():
            if handler is not None:  # None: not set from Python; nothing to put back
                signal.signal(sig, handler)
