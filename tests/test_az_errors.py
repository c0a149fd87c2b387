"""az's failures (exit code + stderr, as real az 2.91.0 prints them) become typed errors."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from azpe.az_errors import classify, parse_arm_error
from azpe.errors import (
    AuthError,
    AzpeError,
    AzureError,
    ExitCode,
    NotFound,
    ServerBusy,
    ServerNotReady,
    TransientError,
)
from azpe.retry import is_transient
from tests.azsamples import network_error, sdk_error

DATA = Path(__file__).parent / "data"

BUSY_MSG = "Server 'pg-orders' is busy with another operation. Please try your operation later."
NOT_FOUND_MSG = (
    "The Resource 'Microsoft.DBforPostgreSQL/flexibleServers/pg-orders' under resource group "
    "'rg-data' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix"
)
AUTHZ_MSG = (
    "The client 'dba@example.com' with object id '0000' does not have authorization to perform action "
    "'Microsoft.DBforPostgreSQL/flexibleServers/privateEndpointConnections/write' "
    "over scope '/subscriptions/x' or the scope is invalid. "
    "If access was recently granted, please refresh your credentials."
)
RESOURCE_ID_WARNING = "WARNING: Resource ID will be ignored since other three arguments have been provided.\n"
TRACEBACK = (
    "ERROR: The command failed with an unexpected error. Here is the traceback:\n"
    "ERROR: 'NoneType' object has no attribute 'get'\n"
    "Traceback (most recent call last):\n"
    '  File "/opt/az/lib/python3.12/site-packages/knack/cli.py", line 233, in invoke\n'
    "    cmd_result = self.invocation.execute(args)\n"
    '  File "/opt/az/lib/python3.12/site-packages/azure/cli/core/commands/__init__.py", '
    "line 666, in execute\n"
    "    raise ex\n"
    "AttributeError: 'NoneType' object has no attribute 'get'\n"
    "To check existing issues, please visit: https://github.com/Azure/azure-cli/issues\n"
)
CONNECTION_REFUSED = (
    "ERROR: HTTPSConnectionPool(host='127.0.0.1', port=8443): Max retries exceeded with url: "
    "/subscriptions/00000000-0000-0000-0000-00000000aaaa/resourceGroups/rg-data/providers/"
    "Microsoft.DBforPostgreSQL/flexibleServers/pg-orders?api-version=2026-04-01-preview "
    "(Caused by NewConnectionError('<urllib3.connection.HTTPSConnection object at 0x7f2c>: "
    "Failed to establish a new connection: [Errno 111] Connection refused'))\n"
)
CERT_FAILED = (
    "ERROR: HTTPSConnectionPool(host='127.0.0.1', port=8443): Max retries exceeded with url: "
    "//metadata/endpoints?api-version=2022-09-01 (Caused by SSLError(SSLCertVerificationError(1, "
    "'[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: self-signed certificate in "
    "certificate chain (_ssl.c:1006)')))\n"
)
TOKEN_CACHE_LOCKED = (
    "ERROR: The command failed with an unexpected error. Here is the traceback:\n"
    "ERROR: [Errno 13] Permission denied: '/home/dba/.azure/msal_token_cache.json.lockfile'\n"
    "Traceback (most recent call last):\n"
    '  File "/opt/az/lib/python3.12/site-packages/msal/token_cache.py", line 113, in add\n'
    '  File "/opt/az/lib/python3.12/site-packages/msal_extensions/token_cache.py", line 43, in modify\n'
    '  File "/opt/az/lib/python3.12/site-packages/msal_extensions/cache_lock.py", line 29, in __enter__\n'
    '  File "/opt/az/lib/python3.12/site-packages/portalocker/utils.py", line 175, in _get_fh\n'
    "PermissionError: [Errno 13] Permission denied: '/home/dba/.azure/msal_token_cache.json.lockfile'\n"
    "To check existing issues, please visit: https://github.com/Azure/azure-cli/issues\n"
)
LOCK_TIMEOUT = (
    "ERROR: Unable to obtain lock, despite trying for 60 second(s). You may want to manually remove "
    "the stale lock file /home/dba/.azure/msal_token_cache.json.lockfile\n"
)


@dataclass(frozen=True)
class Case:
    returncode: int
    stderr: str
    kind: type[AzpeError]
    exit_code: ExitCode
    code: str
    transient: bool


CASES = {
    # busy / conflict, both families
    "network-409-ServerIsBusy": Case(
        1,
        network_error("Conflict", "ServerIsBusy", BUSY_MSG),
        ServerBusy,
        ExitCode.AZURE_FAILED,
        "ServerIsBusy",
        True,
    ),
    "sdk-409-ServerIsBusy": Case(
        1, sdk_error("ServerIsBusy", BUSY_MSG), ServerBusy, ExitCode.AZURE_FAILED, "ServerIsBusy", True
    ),
    "network-409-AnotherOperationInProgress": Case(
        1,
        network_error("Conflict", "AnotherOperationInProgress", "another operation is in progress"),
        ServerBusy,
        ExitCode.AZURE_FAILED,
        "AnotherOperationInProgress",
        True,
    ),
    "network-409-ServerBusy": Case(
        1,
        network_error("Conflict", "ServerBusy", "busy"),
        ServerBusy,
        ExitCode.AZURE_FAILED,
        "ServerBusy",
        True,
    ),
    "sdk-409-ServerBusy": Case(
        1, sdk_error("ServerBusy", "busy"), ServerBusy, ExitCode.AZURE_FAILED, "ServerBusy", True
    ),
    "network-429": Case(
        1,
        network_error("Too Many Requests", "TooManyRequests", "Rate limit exceeded, retry after 10 s"),
        TransientError,
        ExitCode.AZURE_FAILED,
        "TooManyRequests",
        True,
    ),
    "sdk-429": Case(
        1,
        sdk_error("TooManyRequests", "Rate limit exceeded"),
        TransientError,
        ExitCode.AZURE_FAILED,
        "TooManyRequests",
        True,
    ),
    # 5xx, with an ARM code in the body
    "network-500": Case(
        1,
        network_error("Internal Server Error", "InternalServerError", "An unexpected error occured."),
        TransientError,
        ExitCode.AZURE_FAILED,
        "InternalServerError",
        True,
    ),
    "network-502": Case(
        1,
        network_error("Bad Gateway", "BadGateway", "The gateway received an invalid response."),
        TransientError,
        ExitCode.AZURE_FAILED,
        "BadGateway",
        True,
    ),
    "network-503": Case(
        1,
        network_error("Service Unavailable", "ServiceUnavailable", "The service is unavailable."),
        TransientError,
        ExitCode.AZURE_FAILED,
        "ServiceUnavailable",
        True,
    ),
    "network-504": Case(
        1,
        network_error(
            "Gateway Timeout",
            "GatewayTimeout",
            "The gateway did not receive a response "
            "from 'Microsoft.DBforPostgreSQL' within the specified time period.",
        ),
        TransientError,
        ExitCode.AZURE_FAILED,
        "GatewayTimeout",
        True,
    ),
    # 5xx and 409 known by their HTTP reason alone (body without an ARM code)
    "network-500-reason-only": Case(
        1,
        'ERROR: Internal Server Error({"message": "oops"})\n',
        TransientError,
        ExitCode.AZURE_FAILED,
        "InternalServerError",
        True,
    ),
    "network-502-reason-only": Case(
        1,
        'ERROR: Bad Gateway({"message": "upstream"})\n',
        TransientError,
        ExitCode.AZURE_FAILED,
        "BadGateway",
        True,
    ),
    "network-503-reason-only": Case(
        1,
        'ERROR: Service Unavailable({"error": "down"})\n',
        TransientError,
        ExitCode.AZURE_FAILED,
        "ServiceUnavailable",
        True,
    ),
    "network-504-reason-only": Case(
        1,
        'ERROR: Gateway Timeout({"error": {"message": "slow"}})\n',
        TransientError,
        ExitCode.AZURE_FAILED,
        "GatewayTimeout",
        True,
    ),
    "network-409-reason-only": Case(
        1, 'ERROR: Conflict({"message": "busy"})\n', ServerBusy, ExitCode.AZURE_FAILED, "Conflict", True
    ),
    "sdk-503": Case(
        1,
        sdk_error("ServiceUnavailable", "Service unavailable, retry later."),
        TransientError,
        ExitCode.AZURE_FAILED,
        "ServiceUnavailable",
        True,
    ),
    # permission and authentication: exit 4, never retried
    "network-403": Case(
        1,
        network_error("Forbidden", "AuthorizationFailed", AUTHZ_MSG),
        AuthError,
        ExitCode.AUTH,
        "AuthorizationFailed",
        False,
    ),
    "sdk-403": Case(
        1, sdk_error("AuthorizationFailed", AUTHZ_MSG), AuthError, ExitCode.AUTH, "AuthorizationFailed", False
    ),
    "network-401": Case(
        1,
        network_error("Unauthorized", "InvalidAuthenticationToken", "The access token is invalid."),
        AuthError,
        ExitCode.AUTH,
        "InvalidAuthenticationToken",
        False,
    ),
    "sdk-401": Case(
        1,
        sdk_error("InvalidAuthenticationToken", "The access token is invalid."),
        AuthError,
        ExitCode.AUTH,
        "InvalidAuthenticationToken",
        False,
    ),
    "not-logged-in": Case(
        1, "ERROR: Please run 'az login' to setup account.\n", AuthError, ExitCode.AUTH, "NotLoggedIn", False
    ),
    # not found: exit 3 from the postgres family and network show, exit 1 from network reject/list
    "sdk-404-exit-3": Case(
        3,
        sdk_error("ResourceNotFound", NOT_FOUND_MSG),
        NotFound,
        ExitCode.NOT_FOUND,
        "ResourceNotFound",
        False,
    ),
    "network-404-exit-3": Case(
        3,
        network_error("Not Found", "ResourceNotFound", NOT_FOUND_MSG),
        NotFound,
        ExitCode.NOT_FOUND,
        "ResourceNotFound",
        False,
    ),
    # az's exit code says not found even when the answer had no ARM error to parse
    "404-empty-body-exit-3": Case(
        3, "ERROR: Not Found()\n", NotFound, ExitCode.NOT_FOUND, "ResourceNotFound", False
    ),
    "network-404-exit-1": Case(
        1,
        network_error("Not Found", "ResourceNotFound", NOT_FOUND_MSG),
        NotFound,
        ExitCode.NOT_FOUND,
        "ResourceNotFound",
        False,
    ),
    "sdk-404-rg-exit-3": Case(
        3,
        sdk_error("ResourceGroupNotFound", "Resource group 'rg-nope' could not be found."),
        NotFound,
        ExitCode.NOT_FOUND,
        "ResourceGroupNotFound",
        False,
    ),
    "unknown-subscription": Case(
        1,
        "ERROR: Subscription 'prod-nope' not found. Check the spelling and casing and try again.\n",
        NotFound,
        ExitCode.NOT_FOUND,
        "SubscriptionNotFound",
        False,
    ),
    # server not ready: its own exit code, retried (it may become ready)
    "network-ServerNotReady": Case(
        1,
        network_error("Conflict", "ServerNotReady", "Server 'pg-orders' is not ready."),
        ServerNotReady,
        ExitCode.NOT_READY,
        "ServerNotReady",
        True,
    ),
    "sdk-ServerIsNotReady": Case(
        1,
        sdk_error("ServerIsNotReady", "Server 'pg-orders' is not ready."),
        ServerNotReady,
        ExitCode.NOT_READY,
        "ServerIsNotReady",
        True,
    ),
    # permanent service refusals
    "network-400-feature": Case(
        1,
        network_error(
            "Bad Request",
            "PrivateEndpointFeatureNotSupportedOnServer",
            "Private endpoint is not supported on a server with VNet integration.",
        ),
        AzureError,
        ExitCode.AZURE_FAILED,
        "PrivateEndpointFeatureNotSupportedOnServer",
        False,
    ),
    "sdk-400-feature": Case(
        1,
        sdk_error("PrivateEndpointFeatureNotSupportedOnServer", "not supported"),
        AzureError,
        ExitCode.AZURE_FAILED,
        "PrivateEndpointFeatureNotSupportedOnServer",
        False,
    ),
    # az refused the argv azpe built
    "az-usage-unrecognized": Case(
        2,
        "ERROR: unrecognized arguments: --bogus\n\nExamples from AI knowledge base:\n",
        AzureError,
        ExitCode.AZURE_FAILED,
        "AzUsage",
        False,
    ),
    "az-usage-query": Case(
        2,
        "ERROR: argument --query: invalid jmespath_type value: '[[['\n",
        AzureError,
        ExitCode.AZURE_FAILED,
        "AzUsage",
        False,
    ),
    # az itself crashed
    "az-traceback": Case(1, TRACEBACK, AzureError, ExitCode.AZURE_FAILED, "AzCrashed", False),
    # network trouble
    "connection-refused": Case(
        1, CONNECTION_REFUSED, TransientError, ExitCode.AZURE_FAILED, "NetworkError", True
    ),
    "certificate-verify-failed": Case(
        1, CERT_FAILED, AzureError, ExitCode.AZURE_FAILED, "CertificateVerifyFailed", False
    ),
    # a warning before the error does not hide it
    "warning-then-network-409": Case(
        1,
        RESOURCE_ID_WARNING + network_error("Conflict", "ServerIsBusy", BUSY_MSG),
        ServerBusy,
        ExitCode.AZURE_FAILED,
        "ServerIsBusy",
        True,
    ),
    "warning-then-network-403": Case(
        1,
        RESOURCE_ID_WARNING + network_error("Forbidden", "AuthorizationFailed", AUTHZ_MSG),
        AuthError,
        ExitCode.AUTH,
        "AuthorizationFailed",
        False,
    ),
    "warning-then-sdk-404": Case(
        3,
        "WARNING: Command group 'postgres' is in preview.\n" + sdk_error("ResourceNotFound", NOT_FOUND_MSG),
        NotFound,
        ExitCode.NOT_FOUND,
        "ResourceNotFound",
        False,
    ),
    # concurrent az processes racing for the MSAL token cache
    "token-cache-permission": Case(
        1, TOKEN_CACHE_LOCKED, TransientError, ExitCode.AZURE_FAILED, "TokenCacheBusy", True
    ),
    "token-cache-lock-timeout": Case(
        1, LOCK_TIMEOUT, TransientError, ExitCode.AZURE_FAILED, "TokenCacheBusy", True
    ),
    # nothing recognisable
    "empty-stderr": Case(1, "", AzureError, ExitCode.AZURE_FAILED, "AzureError", False),
    "unknown-arm-code": Case(
        1,
        network_error("Bad Request", "InvalidParameter", "bad"),
        AzureError,
        ExitCode.AZURE_FAILED,
        "InvalidParameter",
        False,
    ),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_classify(case: Case) -> None:
    error = classify(case.returncode, case.stderr)
    assert type(error) is case.kind
    assert error.exit_code == case.exit_code
    assert error.code == case.code
    assert is_transient(error) is case.transient
    assert error.message  # always something to tell the user
    assert "\n" not in error.message


@pytest.mark.parametrize(
    ("stderr", "message"),
    [
        (network_error("Conflict", "ServerIsBusy", BUSY_MSG), BUSY_MSG),
        (sdk_error("ServerIsBusy", BUSY_MSG), BUSY_MSG),
        (RESOURCE_ID_WARNING + network_error("Forbidden", "AuthorizationFailed", AUTHZ_MSG), AUTHZ_MSG),
        ("ERROR: Please run 'az login' to setup account.\n", "Please run 'az login' to setup account."),
    ],
)
def test_the_message_is_azs_own_message(stderr: str, message: str) -> None:
    assert classify(1, stderr).message == message


def test_parse_arm_error_of_the_network_family() -> None:
    stderr = network_error("Conflict", "ServerIsBusy", "Server (x) is busy {really}")
    assert parse_arm_error(stderr) == ("Conflict", "ServerIsBusy", "Server (x) is busy {really}")


def test_parse_arm_error_of_the_sdk_family() -> None:
    assert parse_arm_error(sdk_error("ServerIsBusy", BUSY_MSG)) == (None, "ServerIsBusy", BUSY_MSG)


def test_parse_arm_error_of_a_plain_error() -> None:
    assert parse_arm_error("WARNING: w\nERROR: something broke\n") == (None, None, "something broke")
    assert parse_arm_error("") == (None, None, None)


def test_hints_tell_the_user_what_to_do() -> None:
    assert "az login" in (classify(1, "ERROR: Please run 'az login' to setup account.\n").hint or "")
    denied = classify(1, network_error("Forbidden", "AuthorizationFailed", AUTHZ_MSG))
    assert denied.hint and "Contributor" in denied.hint
    assert "REQUESTS_CA_BUNDLE" in (classify(1, CERT_FAILED).hint or "")


@pytest.mark.parametrize(
    "stderr",
    [
        "ERROR: Bad Gateway()\n",
        "ERROR: Service Unavailable(<html><body>503 Service Temporarily Unavailable</body></html>)\n",
        "ERROR: Gateway Timeout(upstream request timeout)\n",
    ],
)
def test_5xx_with_a_body_that_is_not_json_is_transient(stderr: str) -> None:
    assert is_transient(classify(1, stderr))


def test_a_crash_is_reported_with_the_exception_az_printed() -> None:
    error = classify(1, TRACEBACK)
    assert "'NoneType' object has no attribute 'get'" in error.message


def test_an_html_answer_is_named_as_such_not_echoed() -> None:
    page = "<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>"
    error = classify(1, f"ERROR: Bad Gateway({page})\n")
    assert (type(error), error.code) == (TransientError, "BadGateway")
    assert error.message == "Azure answered Bad Gateway with an HTML page, not JSON"


def test_a_crash_on_an_answer_that_is_not_json_says_so() -> None:
    sample = json.loads((DATA / "az-network-show-malformed.json").read_text())
    error = classify(sample["returncode"], sample["stderr"])
    assert error.code == "AzCrashed"
    assert error.message == (
        "az crashed: Azure answered something other than JSON (Expecting value: line 1 column 1 (char 0))"
    )


def test_polls_that_ran_out_leave_the_outcome_to_a_read() -> None:
    """The network family's reject/approve gives up after 20 polls; with an empty 202 body it
    then crashes. Either way the operation's outcome is unknown, not an az bug."""
    sample = json.loads((DATA / "az-network-approve-rejected.json").read_text())
    error = classify(sample["returncode"], sample["stderr"])
    assert error.code == "OperationUnconfirmed"
    assert not is_transient(error)
