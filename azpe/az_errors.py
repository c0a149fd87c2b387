"""Turn a failed az run (exit code + stderr) into a typed error.

az prints errors in two shapes (az-reference.md, "Errors"):
- network family: ``ERROR: Conflict({"error": {"code": "ServerIsBusy", "message": "..."}})``
- postgres family (SDK): ``ERROR: (ServerIsBusy) Server ... busy`` / ``Code: ...`` / ``Message: ...``
The decision uses az's exit code and the ARM error code, never "stderr is empty".
"""

from __future__ import annotations

import json
import re
from http import HTTPStatus

from azpe.errors import (
    AuthError,
    AzpeError,
    AzureError,
    NotFound,
    ServerBusy,
    ServerNotReady,
    TransientError,
)

# 409s of a server that is running an operation: wait for it (not a retry).
BUSY_CODES = frozenset(code.lower() for code in ("ServerIsBusy", "ServerBusy", "AnotherOperationInProgress"))
TRANSIENT_CODES = frozenset(
    code.lower()
    for code in (
        "TooManyRequests",
        "RetryableError",
        "OperationPreempted",
        "InternalServerError",
        "ServiceUnavailable",
        "GatewayTimeout",
        "BadGateway",
        "ServerTimeout",
        "RequestTimeout",
    )
)
NOT_READY_CODES = frozenset(("servernotready", "serverisnotready"))
AUTH_CODES = frozenset(
    code.lower() for code in ("AuthorizationFailed", "LinkedAuthorizationFailed", "Forbidden")
)
# 401s: the token is not accepted; the identity may well have the permission.
LOGIN_CODES = frozenset(
    code.lower()
    for code in (
        "InvalidAuthenticationToken",
        "InvalidAuthenticationTokenTenant",
        "AuthenticationFailed",
        "ExpiredAuthenticationToken",
        "Unauthorized",
    )
)
NOT_FOUND_CODES = frozenset(
    code.lower()
    for code in (
        "ResourceNotFound",
        "ResourceGroupNotFound",
        "SubscriptionNotFound",
        "ParentResourceNotFound",
        "NotFound",
    )
)
# HTTP reasons that az's network family prints before the body.
TRANSIENT_REASONS = frozenset(
    (
        "too many requests",
        "internal server error",
        "bad gateway",
        "service unavailable",
        "gateway timeout",
        "request timeout",
    )
)

# "ERROR: <HTTP reason>(<raw body>)": the body may be JSON, HTML, text or empty.
_NETWORK_FAMILY = re.compile(r"^ERROR: (?P<reason>[A-Za-z][A-Za-z' -]*)\((?P<body>.*)\)\s*$", re.S | re.M)
_HTTP_REASONS = frozenset(status.phrase.lower() for status in HTTPStatus)
_SDK_FAMILY = re.compile(r"^ERROR: \((?P<code>[A-Za-z0-9_.]+)\) ?(?P<message>.*)$", re.M)
_CODE_LINE = re.compile(r"^Code: (?P<code>\S+)\s*$", re.M)
_MESSAGE_LINE = re.compile(r"^Message: (?P<message>.*)$", re.M)
_PLAIN_ERROR = re.compile(r"^ERROR: (?P<message>.*)$", re.M)

_NETWORK_TROUBLE = (
    "HTTPSConnectionPool",
    "HTTPConnectionPool",
    "Connection refused",
    "Connection aborted",
    "Connection reset",
    "RemoteDisconnected",
    "Read timed out",
    "Max retries exceeded",
    "Temporary failure in name resolution",
)
_NOT_LOGGED_IN = (
    "Please run 'az login'",
    "az login",
    "Interactive authentication is needed",
    "refresh token has expired",
    "AADSTS",
)
# Concurrent az processes share one MSAL token cache file; losing the race is transient.
_TOKEN_CACHE_RACE = re.compile(
    r"(msal_token_cache|msal_http_cache|token_cache).*(lock|Permission|Errno 13|Errno 11)"
    r"|portalocker|LockException",
    re.I | re.S,
)


def parse_arm_error(stderr: str) -> tuple[str | None, str | None, str | None]:
    """(HTTP reason, ARM code, message) from az's stderr, whichever family printed it."""
    network = _NETWORK_FAMILY.search(stderr)
    if network and network["reason"].strip().lower() in _HTTP_REASONS:
        reason = network["reason"].strip()
        raw_body = network["body"].strip()
        try:
            body = json.loads(raw_body)
        except json.JSONDecodeError:
            if raw_body.startswith("<"):  # a gateway's or proxy's error page
                return reason, None, f"Azure answered {reason} with an HTML page, not JSON"
            return reason, None, raw_body or reason
        error = body.get("error") if isinstance(body, dict) else None
        if isinstance(error, dict):
            code = error.get("code")
            message = error.get("message")
            return reason, str(code) if code else None, str(message) if message else None
        return reason, None, raw_body
    sdk = _SDK_FAMILY.search(stderr)
    if sdk:
        code_line = _CODE_LINE.search(stderr)
        message_line = _MESSAGE_LINE.search(stderr)
        code = code_line["code"] if code_line else sdk["code"]
        message = message_line["message"] if message_line else sdk["message"]
        return None, code, message.strip()
    plain = _PLAIN_ERROR.search(stderr)
    return None, None, plain["message"].strip() if plain else None


_CRASH = "The command failed with an unexpected error"
# The network family's WARNING after its 20 polls (200 s) ran out without the wanted state.
_GAVE_UP = "Cannot query the state of private endpoint connection"


def _crash_reason(stderr: str) -> str:
    """az prints the exception on the ERROR: line after the crash notice."""
    errors = [m["message"].strip() for m in _PLAIN_ERROR.finditer(stderr) if _CRASH not in m["message"]]
    return errors[0] if errors else "unknown error"


_CONNECT_FAILED = re.compile(r"Failed to establish a new connection: (?P<cause>[^'\")]+)")


def _network_cause(stderr: str) -> str:
    """The cause from the first line that names network trouble (not az's footer, nor a
    traceback's last line): e.g. ``[Errno 111] Connection refused (127.0.0.1:8443)``."""
    line = next(
        (ln for ln in stderr.splitlines() if any(marker in ln for marker in _NETWORK_TROUBLE)),
        _last_line(stderr),
    ).removeprefix("ERROR: ")
    host = re.search(r"host='(?P<host>[^']+)', port=(?P<port>\d+)", line)
    where = f" ({host['host']}:{host['port']})" if host else ""
    connect = _CONNECT_FAILED.search(line)
    if connect:
        return connect["cause"].strip() + where
    return line[:300]


def _last_line(stderr: str) -> str:
    lines = [line for line in stderr.strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else "az failed without a message"


def classify(returncode: int, stderr: str) -> AzpeError:
    """The typed error for az's failure; pure, so the table of cases is tested directly."""
    reason, code, message = parse_arm_error(stderr)
    text = message or _last_line(stderr)
    lowered = (code or "").lower()

    if lowered in NOT_FOUND_CODES or returncode == 3:
        return NotFound(text, code=code or "ResourceNotFound")
    if lowered in LOGIN_CODES:
        return AuthError(text, code=code, hint="The az login is not valid any more: run 'az login' again.")
    if lowered in AUTH_CODES:
        return AuthError(
            text,
            code=code,
            hint="The signed-in identity lacks a permission where az asked (the message names the "
            "scope): reading needs Reader on the servers (or their group or subscription), approving, "
            "rejecting and deleting connections need e.g. Contributor.",
        )
    if lowered in NOT_READY_CODES:
        return ServerNotReady(text, code=code)
    if lowered in BUSY_CODES:
        return ServerBusy(text, code=code)
    if code is None and reason and reason.lower() == "conflict":
        return ServerBusy(text, code="Conflict")
    if lowered in TRANSIENT_CODES:
        return TransientError(text, code=code)
    if code is None and reason and reason.lower() in TRANSIENT_REASONS:
        return TransientError(text, code=reason.replace(" ", ""))
    if _TOKEN_CACHE_RACE.search(stderr):
        return TransientError("az could not lock its token cache: " + text, code="TokenCacheBusy")
    if "CERTIFICATE_VERIFY_FAILED" in stderr:
        return AzureError(
            "az could not verify the server's TLS certificate",
            code="CertificateVerifyFailed",
            hint="Check REQUESTS_CA_BUNDLE and any TLS-inspecting proxy.",
        )
    if any(marker in stderr for marker in _NETWORK_TROUBLE):
        return TransientError("az could not reach Azure: " + _network_cause(stderr), code="NetworkError")
    if "Subscription '" in stderr and "not found" in stderr:
        return NotFound(text, code="SubscriptionNotFound", hint="Check --subscription ('az account list').")
    if code is None and any(marker in stderr for marker in _NOT_LOGGED_IN):
        return AuthError(text, code="NotLoggedIn", hint="Run 'az login' first.")
    if returncode == 2:
        return AzureError(
            f"az refused the arguments azpe built: {text}",
            code="AzUsage",
            hint="Is az current? azpe is tested with azure-cli 2.91.0.",
        )
    if _GAVE_UP in stderr:
        return AzureError(
            "az stopped waiting for the operation before it was seen to finish",
            code="OperationUnconfirmed",
            hint="azpe reads the connection to see what the operation did.",
        )
    if _CRASH in stderr:
        reason = _crash_reason(stderr)
        if reason.startswith("Expecting value"):  # az could not decode an answer
            reason = f"Azure answered something other than JSON ({reason})"
        return AzureError(
            "az crashed: " + reason, code="AzCrashed", hint="Run with -vv to see az's traceback."
        )
    return AzureError(text, code=code or (reason.replace(" ", "") if reason else "AzureError"))
