"""Scripted faults: answer matching requests with an error, a held (hung) response, or a
malformed body, once, N times or always.

A fault with a ``status`` replaces the answer (the request is not executed). A fault without
one lets the request run normally and only holds and/or garbles its answer - so a held PUT
still changes the state, as with a real az that is killed after the service got the request.
"""

from __future__ import annotations

import fnmatch
import math
import threading
from dataclasses import asdict, dataclass
from typing import Any

DEFAULT_CODES = {
    400: ("BadRequest", "The request is invalid."),
    401: ("InvalidAuthenticationToken", "The access token is invalid."),
    404: ("ResourceNotFound", "The Resource was not found."),
    408: ("RequestTimeout", "The request timed out."),
    409: ("Conflict", "The request conflicts with the current state of the resource."),
    429: (
        "TooManyRequests",
        "The request is being throttled as the limit has been reached for operation type - "
        "Write_ObservationWindow_00:05:00. For more information, see - "
        "https://aka.ms/srpthrottlinglimits",
    ),
    500: ("InternalServerError", "An unexpected error occured while processing the request."),
    502: ("BadGateway", "The gateway did not receive a response from the service."),
    503: ("ServiceUnavailable", "The service is temporarily unavailable."),
    504: ("GatewayTimeout", "The gateway did not receive a response within the specified time."),
}
MALFORMED_BODY = (
    b"<html><head><title>502 Bad Gateway</title></head>"
    b"<body><center><h1>502 Bad Gateway</h1></center></body></html>"
)


@dataclass
class Fault:
    method: str = "*"  # HTTP method or "*"
    path: str = "*"  # glob over the URL path (no query), case-insensitive
    status: int | None = None  # None: run the request, only hold/garble the answer
    code: str | None = None  # ARM error code; default from the status (403: a real text)
    message: str | None = None
    retry_after: int | None = None  # seconds, sent as a Retry-After header
    times: int | None = 1  # None: always
    hold_seconds: float | None = None  # inf or < 0: hold until the emulator stops
    malformed: bool = False  # answer a non-JSON (HTML) body

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Fault:
        known = set(cls.__dataclass_fields__)
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown fault fields: {sorted(unknown)}")
        fault = cls(**data)
        if fault.status is not None and not 100 <= int(fault.status) <= 599:
            raise ValueError(f"invalid status {fault.status}")
        return fault

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        if self.hold_seconds is not None and math.isinf(self.hold_seconds):
            data["hold_seconds"] = -1
        return data

    @property
    def holds_forever(self) -> bool:
        return self.hold_seconds is not None and (self.hold_seconds < 0 or math.isinf(self.hold_seconds))

    def matches(self, method: str, path: str) -> bool:
        return self.method in ("*", method.upper()) and fnmatch.fnmatchcase(path.lower(), self.path.lower())

    def error(self, method: str, path: str) -> tuple[str, str]:
        """The ARM code and message this fault answers with."""
        status = self.status or 500
        if status == 403 and self.code in (None, "AuthorizationFailed"):
            return "AuthorizationFailed", self.message or authorization_failed(method, path)
        code, message = DEFAULT_CODES.get(status, ("Error", f"HTTP {status}"))
        if status == 429 and method.upper() == "GET":
            message = message.replace("Write_", "Read_")
        return self.code or code, self.message or message


def authorization_failed(method: str, path: str) -> str:
    """ARM's 403 text, with the action derived from the request."""
    from .access import authorization_failed as message

    parts = [p for p in path.split("/") if p]
    lowered = [p.lower() for p in parts]
    at = lowered.index("providers") if "providers" in lowered[:-1] else -1
    provider, types = (parts[at + 1], parts[at + 2 :: 2]) if at >= 0 else ("", [])
    verb = {"GET": "read", "PUT": "write", "DELETE": "delete"}.get(method.upper(), "action")
    action = "/".join([provider, *types, verb]) if provider else f"Microsoft.Resources/{verb}"
    return message(action, path)


class FaultRules:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def add(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def list(self) -> list[Fault]:
        with self._lock:
            return list(self._faults)

    def take(self, method: str, path: str) -> Fault | None:
        """The first matching fault, using one of its times (and dropping it when spent)."""
        with self._lock:
            for fault in self._faults:
                if fault.matches(method, path):
                    if fault.times is not None:
                        fault.times -= 1
                        if fault.times <= 0:
                            self._faults.remove(fault)
                    return fault
        return None
