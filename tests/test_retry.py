"""The one retry policy: what is retried, how often, and what the caller gets in the end."""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Callable
from types import ModuleType

import pytest
import tenacity
from tenacity import RetryCallState, Retrying

import azpe.retry
from azpe.errors import (
    AuthError,
    AzpeError,
    AzTimeout,
    AzureError,
    NotFound,
    SafetyRefusal,
    ServerNotReady,
    TransientError,
    UsageError,
)
from azpe.retry import is_transient, reader, retrying

NO_WAIT = tenacity.wait_none()


class Flaky:
    """Fails with the given errors in turn, then returns 'done'."""

    def __init__(self, *errors: BaseException) -> None:
        self.errors = list(errors)
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "done"


def always(error: BaseException) -> Flaky:
    return Flaky(*([error] * 100))


TRANSIENT: list[AzpeError] = [
    TransientError("busy", code="ServerIsBusy"),
    TransientError("throttled", code="TooManyRequests"),
    AzTimeout("az did not answer"),
    ServerNotReady("not ready yet"),
]
PERMANENT: list[BaseException] = [
    AzureError("no", code="PrivateEndpointFeatureNotSupportedOnServer"),
    AuthError("denied"),
    NotFound("gone"),
    UsageError("bad input"),
    SafetyRefusal("refused"),
    ValueError("a bug"),
]


@pytest.mark.parametrize("error", TRANSIENT, ids=lambda e: type(e).__name__)
def test_transient_errors_are_transient(error: AzpeError) -> None:
    assert is_transient(error)


@pytest.mark.parametrize("error", PERMANENT, ids=lambda e: type(e).__name__)
def test_other_errors_are_not(error: BaseException) -> None:
    assert not is_transient(error)


@pytest.mark.parametrize("retries", [0, 1, 3])
@pytest.mark.parametrize("error", TRANSIENT, ids=lambda e: type(e).__name__)
def test_transient_errors_are_tried_retries_plus_one_times_then_reraised(
    retries: int, error: AzpeError
) -> None:
    fn = always(error)
    with pytest.raises(type(error)) as caught:
        retrying(retries, max_seconds=600, wait=NO_WAIT)(fn)
    assert caught.value is error  # the original typed error, not tenacity's RetryError
    assert fn.calls == retries + 1


@pytest.mark.parametrize("error", PERMANENT, ids=lambda e: type(e).__name__)
def test_other_errors_are_not_retried(error: BaseException) -> None:
    fn = always(error)
    with pytest.raises(type(error)) as caught:
        retrying(5, max_seconds=600, wait=NO_WAIT)(fn)
    assert caught.value is error
    assert fn.calls == 1


def test_success_after_transient_failures_returns_the_result() -> None:
    fn = Flaky(TransientError("busy"), AzTimeout("slow"))
    assert retrying(3, max_seconds=600, wait=NO_WAIT)(fn) == "done"
    assert fn.calls == 3


def test_a_permanent_error_after_a_transient_one_stops_at_once() -> None:
    denied = AuthError("denied")
    fn = Flaky(TransientError("busy"), denied, TransientError("busy"))
    with pytest.raises(AuthError) as caught:
        retrying(5, max_seconds=600, wait=NO_WAIT)(fn)
    assert caught.value is denied
    assert fn.calls == 2


def test_the_total_time_bounds_the_retries_too() -> None:
    fn = always(TransientError("busy"))
    with pytest.raises(TransientError):
        retrying(10, max_seconds=0, wait=NO_WAIT)(fn)
    assert fn.calls == 1


def test_each_retry_is_logged_with_the_error_code(caplog: pytest.LogCaptureFixture) -> None:
    fn = Flaky(TransientError("busy", code="ServerIsBusy"), TransientError("x", code="TooManyRequests"))
    with caplog.at_level(logging.WARNING, logger="azpe"):
        retrying(3, max_seconds=600, wait=NO_WAIT)(fn)
    assert [r.getMessage() for r in caplog.records] == [
        "attempt 1 failed (ServerIsBusy); retrying in 0.0 s",
        "attempt 2 failed (TooManyRequests); retrying in 0.0 s",
    ]


def test_the_wait_can_be_swapped_on_an_existing_policy() -> None:
    policy = retrying(2, max_seconds=600, wait=tenacity.wait_fixed(100))
    fn = always(TransientError("busy"))
    with pytest.raises(TransientError):
        policy.copy(wait=NO_WAIT)(fn)
    assert fn.calls == 3


def test_without_a_wait_the_module_default_is_used_at_call_time() -> None:
    # conftest sets azpe.retry.DEFAULT_WAIT to wait_none(); the policy must pick that up.
    assert retrying(1, max_seconds=600).wait is azpe.retry.DEFAULT_WAIT
    fn = always(TransientError("busy"))
    with pytest.raises(TransientError):
        retrying(2, max_seconds=600)(fn)
    assert fn.calls == 3


def test_reads_use_the_same_policy_with_the_given_retries() -> None:
    read = reader(2, wait=NO_WAIT)
    fn = always(TransientError("busy"))
    with pytest.raises(TransientError):
        read(fn)
    assert fn.calls == 3
    assert reader(2, wait=NO_WAIT)(Flaky(AzTimeout("slow"))) == "done"


# -- the shape of the real waits (the module's defaults, not the ones conftest patches) --------


@pytest.fixture(scope="module")
def pristine() -> ModuleType:
    """A fresh copy of azpe/retry.py, so its defaults are not conftest's wait_none()."""
    spec = importlib.util.spec_from_file_location("azpe_retry_pristine", azpe.retry.__file__)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _wait_at(wait: Callable[[RetryCallState], float], attempt: int) -> float:
    state = RetryCallState(retry_object=Retrying(), fn=None, args=(), kwargs={})
    state.attempt_number = attempt
    return wait(state)


@pytest.mark.parametrize(
    ("attempt", "low", "high"), [(1, 2, 4), (2, 4, 6), (3, 8, 10), (4, 16, 18), (5, 30, 32), (20, 30, 32)]
)
def test_default_retry_wait_is_exponential_with_jitter_and_capped(
    pristine: ModuleType, attempt: int, low: float, high: float
) -> None:
    waits = {_wait_at(pristine.DEFAULT_WAIT, attempt) for _ in range(50)}
    assert all(low <= w <= high for w in waits), waits
    if low < high:
        assert len(waits) > 1  # jitter: workers retrying together spread out


@pytest.mark.parametrize(("attempt", "expected"), [(1, 2), (2, 2), (3, 4), (4, 8), (5, 15), (30, 15)])
def test_default_poll_wait(pristine: ModuleType, attempt: int, expected: float) -> None:
    assert _wait_at(pristine.DEFAULT_POLL, attempt) == expected


def within(seconds: float, fn: Callable[[], object]) -> BaseException | None:
    """Run ``fn`` in a thread; what it raised (None if it returned). A call still running after
    ``seconds`` fails the test there instead of hanging it (the thread is a daemon: it cannot keep
    the test session alive)."""
    import threading

    outcome: list[BaseException | None] = []

    def call() -> None:
        try:
            fn()
        except BaseException as exc:  # handed to the test
            outcome.append(exc)
        else:
            outcome.append(None)

    thread = threading.Thread(target=call, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"still running after {seconds:g}s: the cancel was not honoured"
    return outcome[0]


def test_a_cancelled_poll_stops_without_waiting() -> None:
    import threading

    from tenacity import RetryError, wait_fixed

    from azpe.retry import polling

    cancel = threading.Event()
    cancel.set()
    calls: list[int] = []

    def poll() -> None:
        calls.append(1)
        assert len(calls) <= 3, "polled on after the cancel"  # bounded, not a busy loop for a day

    # A 1000 s wait and a day's limit: only the cancel event can end this at once.
    raised = within(
        5, lambda: polling(lambda r: False, max_seconds=86400, wait=wait_fixed(1000), cancel=cancel)(poll)
    )
    assert isinstance(raised, RetryError)
    assert calls == [1]


def test_a_cancelled_retry_gives_up_with_the_last_error() -> None:
    import threading

    from tenacity import wait_fixed

    from azpe.errors import TransientError
    from azpe.retry import retrying

    cancel = threading.Event()
    cancel.set()
    calls: list[int] = []

    def busy() -> None:
        calls.append(1)
        if len(calls) > 3:
            raise AssertionError("retried after the cancel")  # not retried: ends the run at once
        raise TransientError("busy", code="ServerIsBusy")

    raised = within(5, lambda: retrying(5, max_seconds=86400, wait=wait_fixed(1000), cancel=cancel)(busy))
    assert isinstance(raised, TransientError)
    assert calls == [1]
