"""The login's subscriptions, and whose a private endpoint is.

``az account list`` reads az's profile (no request to Azure): it prints the login's Enabled
subscriptions of the current cloud; ``--all`` adds the others (Disabled, Warned, other
clouds). ``--all-subscriptions`` takes the first; "own" endpoints are those in any of the
second, or in a subscription a policy file names in ``[organisation]``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from azpe.errors import AzureError
from azpe.models import Connection

OWN = "own"
FOREIGN = "foreign"
OWNERS = (OWN, FOREIGN)
T = TypeVar("T")


@dataclass(frozen=True)
class Account:
    """One subscription of the login, as ``az account list`` prints it."""

    id: str
    name: str
    state: str
    cloud: str = ""

    @classmethod
    def from_az(cls, raw: Any) -> Account:
        if not isinstance(raw, dict) or not isinstance(raw.get("id"), str):
            raise AzureError("az account list printed an unexpected subscription", code="UnexpectedOutput")

        def text(key: str) -> str:
            value = raw.get(key)
            return value if isinstance(value, str) else ""

        return cls(raw["id"], text("name"), text("state"), text("cloudName"))

    @property
    def usable(self) -> bool:
        """Whether Azure takes work in it: Enabled, and also Warned or PastDue (a billing
        warning; writes still work). Not Disabled (read-only) nor Deleted."""
        return self.state.lower() not in ("disabled", "deleted", "")


def parse_accounts(raw: Any) -> list[Account]:
    if not isinstance(raw, list):
        raise AzureError("az account list printed no list", code="UnexpectedOutput")
    return [Account.from_az(item) for item in raw]


@dataclass(frozen=True)
class Owners:
    """Which endpoint subscriptions are own (lower-case IDs)."""

    own: frozenset[str]

    @classmethod
    def of(cls, subscriptions: Iterable[str]) -> Owners:
        return cls(frozenset(s.lower() for s in subscriptions))

    def owner(self, connection: Connection) -> str | None:
        """``own`` or ``foreign``; None for a connection without a private endpoint ID."""
        subscription = connection.endpoint_subscription
        if not subscription:
            return None
        return OWN if subscription.lower() in self.own else FOREIGN


class Lazy(Generic[T]):
    """A value computed once, on first use, by whichever thread asks first. An error is kept
    too: every asker gets it, and the computation (an az call) is not made again."""

    def __init__(self, compute: Callable[[], T]) -> None:
        self._compute = compute
        self._lock = threading.Lock()
        self._done = False
        self._value: T | None = None
        self._error: Exception | None = None

    def get(self) -> T:
        with self._lock:
            if not self._done:
                try:
                    self._value = self._compute()
                except Exception as exc:
                    self._error = exc
                self._done = True
            if self._error is not None:
                raise self._error
            return self._value  # type: ignore[return-value]
