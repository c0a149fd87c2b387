"""The retry and polling policies (tenacity), built here and nowhere else.

``retrying``: exponential backoff with jitter, bounded by attempts and by total time.
``polling``: re-run a read until its result is what is wanted, bounded by time.
Both stop early, and wait no longer, once ``cancel`` is set (Ctrl-C): a ``threading.Event``, or
anything that answers ``is_set`` and ``wait`` like one (``Cancel``). Waits are injectable so
tests never sleep: pass ``wait=tenacity.wait_none()``, or set the module defaults.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    retry_if_result,
    stop_after_attempt,
    stop_after_delay,
    wait_exponential,
    wait_random,
)
from tenacity.retry import retry_base
from tenacity.wait import wait_base

from azpe.errors import ServerNotReady, TransientError

log = logging.getLogger("azpe")

DEFAULT_WAIT: wait_base = wait_exponential(multiplier=2, max=30) + wait_random(0, 2)
# Polling a server until it is Ready, or a write until a read shows it landed.
DEFAULT_POLL: wait_base = wait_exponential(multiplier=1, min=2, max=15)
# Polling a busy server: often, so that the next write starts soon after the operation ends
# (each poll is one read; the cap keeps a wait of minutes to a read every few seconds).
BUSY_POLL: wait_base = wait_exponential(multiplier=1, min=1, max=5) + wait_random(0, 0.5)


class Cancel(Protocol):
    """What stops a loop early: ``threading.Event``'s ``is_set`` and ``wait``."""

    def is_set(self) -> bool: ...

    def wait(self, timeout: float | None = None) -> bool: ...


def is_transient(exc: BaseException) -> bool:
    """Worth another try: throttling, busy, 5xx, network, timeouts, a server becoming ready."""
    return isinstance(exc, TransientError | ServerNotReady)


def _log_retry(state: RetryCallState) -> None:
    exc = state.outcome.exception() if state.outcome else None
    delay = state.next_action.sleep if state.next_action else 0.0
    log.warning(
        "attempt %d failed (%s); retrying in %.1f s",
        state.attempt_number,
        getattr(exc, "code", type(exc).__name__),
        delay,
    )


def _cancellable(stop: Any, cancel: Cancel | None) -> dict[str, Any]:
    """Stop at once when ``cancel`` is set, and let it cut a wait short."""
    if cancel is None:
        return {"stop": stop, "sleep": time.sleep}
    return {"stop": stop | (lambda _state: cancel.is_set()), "sleep": cancel.wait}


def retrying(
    retries: int,
    *,
    max_seconds: float,
    wait: wait_base | None = None,
    cancel: Cancel | None = None,
) -> Retrying:
    """At most ``retries`` further attempts after the first, within ``max_seconds`` in all."""
    return Retrying(
        wait=wait if wait is not None else DEFAULT_WAIT,
        retry=retry_if_exception(is_transient),
        before_sleep=_log_retry,
        reraise=True,
        **_cancellable(stop_after_attempt(retries + 1) | stop_after_delay(max_seconds), cancel),
    )


T = TypeVar("T")


class Reader(Protocol):
    """Runs a read under the retry policy."""

    def __call__(self, fn: Callable[[], T], /) -> T: ...


def reader(
    retries: int = 3,
    *,
    max_seconds: float = 600.0,
    wait: wait_base | None = None,
    cancel: Cancel | None = None,
) -> Reader:
    """Reads retry transient failures like writes do."""

    def read(fn: Callable[[], T]) -> T:
        return retrying(retries, max_seconds=max_seconds, wait=wait, cancel=cancel)(fn)

    return read


def busy_polling(
    done: Callable[[Any], bool],
    *,
    max_seconds: float,
    wait: wait_base | None = None,
    cancel: Cancel | None = None,
    on_sleep: Callable[[float], None] = lambda _seconds: None,
) -> Retrying:
    """``polling`` at the pace of a busy wait; transient failures propagate (they are
    retried, and counted, by the caller)."""
    return polling(
        done,
        max_seconds=max_seconds,
        wait=wait if wait is not None else BUSY_POLL,
        cancel=cancel,
        transient=False,
        on_sleep=on_sleep,
    )


def polling(
    done: Callable[[Any], bool],
    *,
    max_seconds: float,
    wait: wait_base | None = None,
    cancel: Cancel | None = None,
    transient: bool = True,
    on_sleep: Callable[[float], None] = lambda _seconds: None,
) -> Retrying:
    """Repeat a read until ``done(result)``, through transient failures (unless ``transient``
    is False: then they propagate), for ``max_seconds``. Raises ``tenacity.RetryError``
    (holding the last attempt) when time or ``cancel`` runs out. ``on_sleep`` sees each wait."""
    retry: retry_base = retry_if_result(lambda result: not done(result))
    if transient:
        retry = retry | retry_if_exception(is_transient)

    def before_sleep(state: RetryCallState) -> None:
        on_sleep(state.next_action.sleep if state.next_action else 0.0)

    return Retrying(
        wait=wait if wait is not None else DEFAULT_POLL,
        retry=retry,
        before_sleep=before_sleep,
        **_cancellable(stop_after_delay(max_seconds), cancel),
    )
