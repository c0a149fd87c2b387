"""The one retry policy (tenacity): exponential backoff with jitter, bounded twice.

Waits are injectable so tests never sleep: pass ``wait=tenacity.wait_none()``.
"""

from __future__ import annotations

import logging

from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    stop_after_delay,
    wait_exponential,
    wait_random,
)
from tenacity.wait import wait_base

from azpe.errors import ServerNotReady, TransientError

log = logging.getLogger("azpe")

DEFAULT_WAIT: wait_base = wait_exponential(multiplier=2, max=30) + wait_random(0, 2)
# Polling a server until it is Ready, or a write until a read shows it landed.
DEFAULT_POLL: wait_base = wait_exponential(multiplier=1, min=2, max=15)


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


def retrying(retries: int, *, max_seconds: float, wait: wait_base | None = None) -> Retrying:
    """At most ``retries`` further attempts after the first, within ``max_seconds`` in all."""
    return Retrying(
        stop=stop_after_attempt(retries + 1) | stop_after_delay(max_seconds),
        wait=wait if wait is not None else DEFAULT_WAIT,
        retry=retry_if_exception(is_transient),
        before_sleep=_log_retry,
        reraise=True,
    )


def default_poll() -> wait_base:
    """Read at call time, so tests can set the module's defaults to ``wait_none()``."""
    return DEFAULT_POLL
