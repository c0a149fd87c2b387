"""The emulator over HTTPS, driven with urllib (no az): ARM shapes, the async-operation
protocol, the busy rule, subscriptions (states, no access), fault injection, the request log
and the admin endpoints.

No assertion depends on how fast this machine is: the emulator's operations and
``readyAfter`` run on a fake clock that the tests move, and a held answer is observed through
``EmulatorServer.held``, not by sleeping."""

from __future__ import annotations

import json
import re
import ssl
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from azpe.sandbox import APP_ID, APP_SECRET, TENANT_ID, Emulator, default_scenario, identity
from azpe.sandbox.identity import OBJECT_ID
from azpe.sandbox.scenarios import (
    APPS_SUBSCRIPTION,
    DISABLED_SUBSCRIPTION,
    NO_ACCESS_SUBSCRIPTION,
    fleet,
)

SUB = "00000000-0000-0000-0000-00000000aaaa"
OP_SECONDS = 0.3  # how long a connection write lasts, on the fake clock
SRV = (
    f"/subscriptions/{SUB}/resourceGroups/rg-data/providers/Microsoft.DBforPostgreSQL/"
    "flexibleServers/pg-orders"
)
API = "?api-version=2023-06-01-preview"


class Client:
    def __init__(self, em: Emulator) -> None:
        self.em = em
        self.context = ssl.create_default_context(cafile=str(em.ca_path))
        self.token = identity.issue_token(TENANT_ID, em.url)

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        auth: bool = True,
        raw: bytes | None = None,
        timeout: float = 10,
    ) -> tuple[int, dict[str, str], Any]:
        data = raw if raw is not None else None if body is None else json.dumps(body).encode()
        headers = {"Authorization": f"Bearer {self.token}"} if auth else {}
        request = urllib.request.Request(self.em.url + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, context=self.context, timeout=timeout) as r:
                status, hdrs, payload = r.status, dict(r.headers), r.read()
        except urllib.error.HTTPError as err:
            status, hdrs, payload = err.code, dict(err.headers), err.read()
        try:
            return status, hdrs, json.loads(payload) if payload else None
        except ValueError:
            return status, hdrs, payload


class Clock:
    """The emulator state's time: it moves only when a test says."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def wait_until(predicate: Any, what: str, timeout: float = 10.0) -> None:
    """Wait for an event in the server's threads (the deadline only ends a broken test)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def em(clock: Clock) -> Iterator[Emulator]:
    with Emulator(op_seconds=OP_SECONDS, clock=clock) as emulator:
        yield emulator


@pytest.fixture
def client(em: Emulator) -> Client:
    return Client(em)


def conn_names(em: Emulator, server: str = "pg-orders") -> dict[str, str]:
    return {c["status"]: c["name"] for c in reversed(em.connections(SUB, "rg-data", server))}


def test_cloud_metadata_is_one_cloud_pointing_at_the_emulator(client: Client) -> None:
    status, _, body = client.call("GET", "//metadata/endpoints?api-version=2022-09-01", auth=False)
    assert status == 200 and isinstance(body, dict)
    root = client.em.url + "/"
    assert body["authentication"]["loginEndpoint"] == root
    assert body["authentication"]["audiences"] == [root]
    assert body["resourceManager"] == root


def test_login_flow_openid_then_client_credentials(client: Client) -> None:
    status, _, config = client.call("GET", f"/{TENANT_ID}/v2.0/.well-known/openid-configuration", auth=False)
    assert status == 200
    assert config["token_endpoint"] == f"{client.em.url}/{TENANT_ID}/oauth2/v2.0/token"
    form = (
        f"grant_type=client_credentials&client_id={APP_ID}&client_secret={APP_SECRET}"
        f"&scope={client.em.url}//.default"
    )
    status, _, token = client.call("POST", f"/{TENANT_ID}/oauth2/v2.0/token", raw=form.encode(), auth=False)
    assert status == 200 and token["token_type"] == "Bearer"
    assert identity.check_bearer(f"Bearer {token['access_token']}") is None


def test_arm_requires_a_bearer_token(client: Client) -> None:
    status, _, body = client.call("GET", "/subscriptions?api-version=2022-12-01", auth=False)
    assert status == 401 and body["error"]["code"] == "AuthenticationFailed"


def test_subscriptions_are_all_listed_with_their_states(client: Client) -> None:
    """Disabled and unreadable ones too: az stores them all at login."""
    status, _, body = client.call("GET", "/subscriptions?api-version=2022-12-01")
    assert status == 200
    assert [(s["subscriptionId"], s["displayName"], s["state"], s["tenantId"]) for s in body["value"]] == [
        (SUB, "azpe-sandbox", "Enabled", TENANT_ID),
        (APPS_SUBSCRIPTION, "azpe-sandbox-apps", "Enabled", TENANT_ID),
        (NO_ACCESS_SUBSCRIPTION, "azpe-sandbox-locked", "Enabled", TENANT_ID),
        (DISABLED_SUBSCRIPTION, "azpe-sandbox-disabled", "Disabled", TENANT_ID),
    ]
    assert body["count"] == {"type": "Total", "value": 4}
    status, _, body = client.call("GET", "/subscriptions/nope?api-version=2022-12-01")
    assert (status, body["error"]["code"]) == (404, "SubscriptionNotFound")


def test_server_get_has_the_arm_shape(client: Client) -> None:
    status, _, body = client.call("GET", SRV + "?api-version=2026-04-01-preview")
    assert status == 200
    assert body["id"] == SRV and body["type"] == "Microsoft.DBforPostgreSQL/flexibleServers"
    props = body["properties"]
    assert props["state"] == "Ready" and props["network"]["publicNetworkAccess"] == "Disabled"
    first = props["privateEndpointConnections"][0]
    assert first["id"] == f"{SRV}/privateEndpointConnections/{first['name']}"
    assert first["properties"]["groupIds"] == ["postgresqlServer"]
    assert first["properties"]["privateLinkServiceConnectionState"] == {
        "status": "Pending",
        "description": "Please approve: nightly ETL",
        "actionsRequired": "None",
    }
    assert first["properties"]["provisioningState"] == "Succeeded"


def test_embedded_connections_carry_name_and_type_unless_ids_only(client: Client, em: Emulator) -> None:
    embedded = client.call("GET", SRV + API)[2]["properties"]["privateEndpointConnections"]
    assert [c["name"] for c in embedded] == [c["name"] for c in em.connections(SUB, "rg-data", "pg-orders")]
    assert {c["type"] for c in embedded} == {
        "Microsoft.DBforPostgreSQL/flexibleServers/privateEndpointConnections"
    }
    scenario = default_scenario()
    scenario["subscriptions"][0]["resourceGroups"][0]["servers"][0]["embedConnectionNames"] = False
    em.seed(scenario)
    embedded = client.call("GET", SRV + API)[2]["properties"]["privateEndpointConnections"]
    assert [sorted(c) for c in embedded] == [["id", "properties"]] * 4


def test_a_connection_without_description_has_no_description_key(
    client: Client, em: Emulator, clock: Clock
) -> None:
    """As a Pending connection from a manual request reads; a PUT with null stores none."""
    unknown = next(c for c in em.connections(SUB, "rg-data", "pg-orders") if c["description"] is None)
    assert unknown["name"].startswith("pe-unknown-4821.")
    path = f"{SRV}/privateEndpointConnections/{unknown['name']}{API}"
    _, _, body = client.call("GET", path)
    assert body["properties"]["privateLinkServiceConnectionState"] == {
        "status": "Pending",
        "actionsRequired": "None",
    }
    embedded = client.call("GET", SRV + API)[2]["properties"]["privateEndpointConnections"]
    assert "description" not in embedded[1]["properties"]["privateLinkServiceConnectionState"]

    described = conn_names(em)["Pending"]  # "Please approve: nightly ETL"
    path = f"{SRV}/privateEndpointConnections/{described}{API}"
    _, _, body = client.call("GET", path)
    body["properties"]["privateLinkServiceConnectionState"].update(status="Rejected", description=None)
    assert client.call("PUT", path, body)[0] == 202
    clock.advance(OP_SECONDS)
    em.wait_idle()
    _, _, body = client.call("GET", path)
    assert body["properties"]["privateLinkServiceConnectionState"] == {
        "status": "Rejected",
        "actionsRequired": "None",
    }
    record = em.connection(SUB, "rg-data", "pg-orders", described)
    assert record is not None
    assert record["description"] is None


def test_server_lists_by_subscription_and_resource_group(client: Client) -> None:
    prefix = f"/subscriptions/{SUB}"
    pg = "/providers/Microsoft.DBforPostgreSQL/flexibleServers?api-version=2026-04-01-preview"
    for path in (prefix + pg, prefix + "/resourceGroups/rg-data" + pg):
        status, _, body = client.call("GET", path)
        assert status == 200 and [s["name"] for s in body["value"]] == ["pg-orders", "pg-reports"]
    status, _, body = client.call("GET", prefix + "/resourceGroups/rg-x" + pg)
    assert (status, body["error"]["code"]) == (404, "ResourceGroupNotFound")


def test_missing_server_is_a_real_resource_not_found(client: Client) -> None:
    status, _, body = client.call("GET", SRV.replace("pg-orders", "x") + API)
    assert status == 404
    assert body == {
        "error": {
            "code": "ResourceNotFound",
            "message": (
                "The Resource 'Microsoft.DBforPostgreSQL/flexibleServers/x' under resource group "
                "'rg-data' was not found. For more details please go to "
                "https://aka.ms/ARMResourceNotFoundFix"
            ),
        }
    }


def test_api_version_is_required(client: Client) -> None:
    status, _, body = client.call("GET", SRV)
    assert (status, body["error"]["code"]) == (400, "MissingApiVersionParameter")


def test_connection_list_and_show(client: Client, em: Emulator) -> None:
    status, _, body = client.call("GET", SRV + "/privateEndpointConnections" + API)
    assert status == 200 and len(body["value"]) == 4
    name = conn_names(em)["Approved"]
    status, _, body = client.call("GET", f"{SRV}/privateEndpointConnections/{name}{API}")
    assert status == 200 and body["name"] == name
    assert body["type"] == "Microsoft.DBforPostgreSQL/flexibleServers/privateEndpointConnections"


def reject_body(client: Client, name: str, status: str = "Rejected") -> Any:
    _, _, body = client.call("GET", f"{SRV}/privateEndpointConnections/{name}{API}")
    body["properties"]["privateLinkServiceConnectionState"].update(status=status, description="by test")
    return body


def test_put_is_accepted_as_an_async_operation(client: Client, em: Emulator, clock: Clock) -> None:
    name = conn_names(em)["Pending"]
    path = f"{SRV}/privateEndpointConnections/{name}{API}"
    status, headers, body = client.call("PUT", path, reject_body(client, name))
    assert status == 202
    assert body == {
        "operation": "UpsertPrivateEndpointConnectionManagementOperation",
        "startTime": body["startTime"],
    }
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", body["startTime"])
    op_url = headers["Azure-AsyncOperation"]
    assert "/providers/Microsoft.DBforPostgreSQL/locations/westeurope/azureAsyncOperation/" in op_url
    assert "/operationResults/" in headers["Location"]
    assert "Retry-After" not in headers  # as the service answers
    op_path = op_url.removeprefix(em.url)
    _, op_headers, op = client.call("GET", op_path)
    assert op == {
        "name": op_url.split("/")[-1].split("?")[0],
        "status": "InProgress",
        "startTime": body["startTime"],
    }
    assert "Retry-After" not in op_headers
    _, _, conn = client.call("GET", path)
    assert conn["properties"]["provisioningState"] == "Updating"
    _, _, srv = client.call("GET", SRV + API)
    assert srv["properties"]["state"] == "Updating"
    status, result_headers, _ = client.call("GET", headers["Location"].removeprefix(em.url))
    assert status == 202 and "Retry-After" not in result_headers

    clock.advance(OP_SECONDS - 0.01)
    assert client.call("GET", op_path)[2]["status"] == "InProgress"
    clock.advance(0.01)
    _, op_headers, done = client.call("GET", op_path)
    assert done == {"name": op["name"], "status": "Succeeded", "startTime": op["startTime"]}  # no endTime
    assert "Retry-After" not in op_headers
    _, _, conn = client.call("GET", path)
    state = conn["properties"]["privateLinkServiceConnectionState"]
    assert (state["status"], state["description"]) == ("Rejected", "by test")
    assert conn["properties"]["provisioningState"] == "Succeeded"
    record = em.connection(SUB, "rg-data", "pg-orders", name)
    assert record is not None
    assert record["status"] == "Rejected"


def test_delete_is_accepted_with_the_drop_operation_body(client: Client, em: Emulator, clock: Clock) -> None:
    name = conn_names(em)["Approved"]
    status, headers, body = client.call("DELETE", f"{SRV}/privateEndpointConnections/{name}{API}")
    assert status == 202
    assert body == {
        "operation": "DropPrivateEndpointConnectionManagementOperation",
        "startTime": body["startTime"],
    }
    assert "Retry-After" not in headers
    assert "/azureAsyncOperation/" in headers["Azure-AsyncOperation"]
    assert "/operationResults/" in headers["Location"]
    clock.advance(OP_SECONDS)
    em.wait_idle()
    _, op_headers, op = client.call("GET", headers["Azure-AsyncOperation"].removeprefix(em.url))
    assert (sorted(op), op["status"]) == (["name", "startTime", "status"], "Succeeded")
    assert "Retry-After" not in op_headers


def test_at_once_shows_the_new_status_while_the_server_is_busy(clock: Clock) -> None:
    with Emulator(op_seconds=0.5, timing="at-once", clock=clock) as emulator:
        c = Client(emulator)
        names = conn_names(emulator)
        path = f"{SRV}/privateEndpointConnections/{names['Pending']}{API}"
        status, headers, _ = c.call("PUT", path, reject_body(c, names["Pending"]))
        assert status == 202
        _, _, conn = c.call("GET", path)
        assert conn["properties"]["privateLinkServiceConnectionState"]["status"] == "Rejected"
        assert conn["properties"]["provisioningState"] == "Succeeded"
        assert c.call("GET", SRV + API)[2]["properties"]["state"] == "Updating"
        _, _, op = c.call("GET", headers["Azure-AsyncOperation"].removeprefix(emulator.url))
        assert op["status"] == "InProgress"
        status, _, body = c.call("DELETE", f"{SRV}/privateEndpointConnections/{names['Approved']}{API}")
        assert (status, body["error"]["code"]) == (409, "ServerIsBusy")
        clock.advance(0.5)
        emulator.wait_idle()
        assert c.call("GET", SRV + API)[2]["properties"]["state"] == "Ready"
        assert c.call("DELETE", f"{SRV}/privateEndpointConnections/{names['Approved']}{API}")[0] == 202
        assert c.call("GET", f"{SRV}/privateEndpointConnections/{names['Approved']}{API}")[0] == 404


def test_second_write_on_the_same_server_is_busy(client: Client, em: Emulator) -> None:
    names = conn_names(em)
    pending, approved = names["Pending"], names["Approved"]
    client.call("PUT", f"{SRV}/privateEndpointConnections/{pending}{API}", reject_body(client, pending))
    status, _, body = client.call("DELETE", f"{SRV}/privateEndpointConnections/{approved}{API}")
    assert status == 409
    assert body == {
        "error": {
            "code": "ServerIsBusy",
            "message": (
                "Server 'pg-orders' is busy with another operation. "
                "Please try your operation after some time."
            ),
        }
    }
    other = conn_names(em, "pg-reports")["Pending"]
    status, _, _ = client.call(
        "DELETE", f"{SRV.replace('pg-orders', 'pg-reports')}/privateEndpointConnections/{other}{API}"
    )
    assert status == 202


def test_approving_a_rejected_connection_fails_asynchronously(
    client: Client, em: Emulator, clock: Clock
) -> None:
    name = conn_names(em)["Rejected"]
    status, headers, _ = client.call(
        "PUT", f"{SRV}/privateEndpointConnections/{name}{API}", reject_body(client, name, "Approved")
    )
    assert status == 202
    clock.advance(OP_SECONDS)
    em.wait_idle()
    _, _, op = client.call("GET", headers["Azure-AsyncOperation"].removeprefix(em.url))
    assert op["status"] == "Failed" and op["error"]["code"] == "InternalServerError"
    status, _, body = client.call("GET", headers["Location"].removeprefix(em.url))
    assert (status, body["error"]["code"]) == (500, "InternalServerError")
    record = em.connection(SUB, "rg-data", "pg-orders", name)
    assert record is not None
    assert record["status"] == "Rejected"


def test_delete_then_gone_and_delete_again_is_204(client: Client, em: Emulator, clock: Clock) -> None:
    name = conn_names(em)["Approved"]
    path = f"{SRV}/privateEndpointConnections/{name}{API}"
    assert client.call("DELETE", path)[0] == 202
    clock.advance(OP_SECONDS)
    em.wait_idle()
    assert client.call("GET", path)[0] == 404
    assert client.call("DELETE", path)[0] == 204


def test_put_with_a_bad_body_is_400(client: Client, em: Emulator) -> None:
    path = f"{SRV}/privateEndpointConnections/{conn_names(em)['Pending']}{API}"
    status, _, body = client.call("PUT", path, raw=b"{not json")
    assert (status, body["error"]["code"]) == (400, "InvalidRequestContent")
    status, _, body = client.call("PUT", path, reject_body(client, conn_names(em)["Pending"], "Pending"))
    assert (status, body["error"]["code"]) == (400, "InvalidParameterValue")


def test_injected_error_with_retry_after_then_normal(client: Client, em: Emulator) -> None:
    em.inject("GET", "*/flexibleServers/pg-orders", 429, retry_after=3, times=2)
    for _ in range(2):
        status, headers, body = client.call("GET", SRV + API)
        assert (status, headers["Retry-After"], body["error"]["code"]) == (429, "3", "TooManyRequests")
    assert client.call("GET", SRV + API)[0] == 200
    assert [r["fault"] for r in em.requests()] == [True, True, False]


def test_injected_fault_always_until_cleared(client: Client, em: Emulator) -> None:
    em.inject("*", "/subscriptions/*", 503, code="ServiceUnavailable", message="down", times=None)
    for _ in range(3):
        assert client.call("GET", SRV + API)[2] == {
            "error": {"code": "ServiceUnavailable", "message": "down"}
        }
    em.clear_faults()
    assert client.call("GET", SRV + API)[0] == 200


def test_malformed_body(client: Client, em: Emulator) -> None:
    em.inject("GET", "*/flexibleServers/pg-orders", malformed=True)
    status, _, body = client.call("GET", SRV + API)
    assert status == 200 and isinstance(body, bytes) and body.startswith(b"<html>")


def test_held_write_still_lands(client: Client, em: Emulator, clock: Clock) -> None:
    """A hold without a status runs the request: a client that gives up does not undo it."""
    name = conn_names(em)["Pending"]
    em.inject("PUT", "*/privateEndpointConnections/*", hold_seconds=30)
    with pytest.raises(TimeoutError):  # it gives up after 0.5 s of a 30-s hold
        client.call(
            "PUT", f"{SRV}/privateEndpointConnections/{name}{API}", reject_body(client, name), timeout=0.5
        )
    wait_until(lambda: em.server.held == 1, "the PUT's answer to be held")  # it ran, then held
    clock.advance(OP_SECONDS)
    em.wait_idle()
    record = em.connection(SUB, "rg-data", "pg-orders", name)
    assert record is not None
    assert record["status"] == "Rejected"


def test_hold_forever_is_released_by_stop() -> None:
    emulator = Emulator().start()
    client = Client(emulator)
    emulator.inject("GET", "*", 500, hold_seconds=float("inf"))
    result: list[int] = []
    thread = threading.Thread(target=lambda: result.append(client.call("GET", SRV + API)[0]))
    thread.start()
    wait_until(lambda: emulator.server.held == 1, "the answer to be held")
    assert not result
    emulator.stop()
    thread.join(5)
    assert result == [500]


def test_request_log_records_put_bodies(client: Client, em: Emulator) -> None:
    name = conn_names(em)["Pending"]
    client.call("PUT", f"{SRV}/privateEndpointConnections/{name}{API}", reject_body(client, name))
    log = em.requests()
    assert [(r["method"], r["status"]) for r in log] == [("GET", 200), ("PUT", 202)]
    assert log[1]["path"] == f"{SRV}/privateEndpointConnections/{name}"
    assert log[1]["query"] == "api-version=2023-06-01-preview"
    assert log[1]["body"]["properties"]["privateLinkServiceConnectionState"]["status"] == "Rejected"
    em.clear_requests()
    assert em.requests() == []


def test_server_updating_then_ready(client: Client, em: Emulator, clock: Clock) -> None:
    em.set_server_state(SUB, "rg-data", "pg-orders", "Updating", ready_after=30)
    assert client.call("GET", SRV + API)[2]["properties"]["state"] == "Updating"
    name = conn_names(em)["Pending"]
    status, _, body = client.call(
        "PUT", f"{SRV}/privateEndpointConnections/{name}{API}", reject_body(client, name)
    )
    assert (status, body["error"]["code"]) == (409, "ServerIsNotReady")
    clock.advance(29.9)
    assert client.call("GET", SRV + API)[2]["properties"]["state"] == "Updating"
    clock.advance(0.1)
    assert client.call("GET", SRV + API)[2]["properties"]["state"] == "Ready"


def test_admin_endpoints(client: Client, em: Emulator) -> None:
    small = {
        "subscriptions": [
            {"id": SUB, "resourceGroups": [{"name": "rg", "servers": [{"name": "s1", "state": "Stopped"}]}]}
        ]
    }
    assert client.call("POST", "/_sandbox/seed", small, auth=False)[0] == 200
    _, _, state = client.call("GET", "/_sandbox/state", auth=False)
    assert state["subscriptions"][0]["resourceGroups"][0]["servers"][0]["state"] == "Stopped"
    fault = {"method": "GET", "path": "*/s1", "status": 500, "times": None}
    _, _, faults = client.call("POST", "/_sandbox/faults", [fault], auth=False)
    assert faults[0]["status"] == 500
    assert client.call("DELETE", "/_sandbox/faults", auth=False)[0] == 204
    body = {"subscription": SUB, "resourceGroup": "rg", "server": "s1", "state": "Ready"}
    assert client.call("POST", "/_sandbox/server-state", body, auth=False)[0] == 200
    status, _, body = client.call("POST", "/_sandbox/seed", {"nope": 1}, auth=False)
    assert status == 400 and "invalid scenario" in body["error"]["message"]
    assert client.call("GET", "/_sandbox/requests", auth=False)[2] == []  # admin not logged
    client.call("POST", "/_sandbox/seed", default_scenario(), auth=False)
    assert len(em.connections(SUB, "rg-data", "pg-orders")) == 4


def test_admin_timing_reads_and_changes_duration_and_model(client: Client, em: Emulator) -> None:
    assert client.call("GET", "/_sandbox/timing", auth=False)[2] == {"opSeconds": 0.3, "timing": "at-end"}
    status, _, body = client.call("POST", "/_sandbox/timing", {"timing": "at-once"}, auth=False)
    assert (status, body) == (200, {"opSeconds": 0.3, "timing": "at-once"})
    assert em.state.timing == "at-once"
    status, _, body = client.call(
        "POST", "/_sandbox/timing", {"opSeconds": 4, "timing": "at-end"}, auth=False
    )
    assert (status, body) == (200, {"opSeconds": 4.0, "timing": "at-end"})
    assert em.state.op_seconds == 4.0

    for bad, message in [
        ({"timing": "later"}, "unknown timing model 'later': use one of at-end, at-once"),
        ({"opSeconds": -1, "timing": "at-once"}, "op_seconds must be a number >= 0, not -1"),
        ({"opSeconds": "5"}, "op_seconds must be a number >= 0, not '5'"),
        ({"timeing": "at-once"}, "unknown timing fields: timeing"),
        (["at-once"], "the body must be an object"),
    ]:
        status, _, body = client.call("POST", "/_sandbox/timing", bad, auth=False)
        assert (status, body["error"]["code"]) == (400, "BadRequest")
        assert message in body["error"]["message"]
    assert (em.state.op_seconds, em.state.timing) == (4.0, "at-end")  # nothing half-applied
    em.set_timing("at-once", 0.5)
    assert client.call("GET", "/_sandbox/timing", auth=False)[2] == {"opSeconds": 0.5, "timing": "at-once"}


def test_background_log_file(tmp_path: Path) -> None:
    with Emulator(state_dir=tmp_path, log_to_file=True) as emulator:
        Client(emulator).call("GET", SRV + API)
        lines = (tmp_path / "requests.jsonl").read_text().splitlines()
    assert [json.loads(line)["status"] for line in lines] == [200]
    assert (tmp_path / "ca.pem").read_text().startswith("-----BEGIN CERTIFICATE-----")


def denied(action: str, scope: str) -> dict[str, Any]:
    return {
        "error": {
            "code": "AuthorizationFailed",
            "message": (
                f"The client '{APP_ID}' with object id '{OBJECT_ID}' does not have authorization to "
                f"perform action '{action}' over scope '{scope}' or the scope is invalid. If access "
                "was recently granted, please refresh your credentials."
            ),
        }
    }


def test_a_subscription_without_access_refuses_every_request_under_it(client: Client, em: Emulator) -> None:
    sub = f"/subscriptions/{NO_ACCESS_SUBSCRIPTION}"
    rg = f"{sub}/resourceGroups/rg-locked"
    pg = "/providers/Microsoft.DBforPostgreSQL"
    srv = f"{rg}{pg}/flexibleServers/pg-locked"
    name = em.connections(NO_ACCESS_SUBSCRIPTION, "rg-locked", "pg-locked")[0]["name"]
    pec = f"{srv}/privateEndpointConnections/{name}"
    flex = "Microsoft.DBforPostgreSQL/flexibleServers"
    cases = [
        ("GET", f"{sub}{pg}/flexibleServers", f"{flex}/read"),
        ("GET", f"{rg}{pg}/flexibleServers", f"{flex}/read"),
        ("GET", srv, f"{flex}/read"),
        ("GET", rg, "Microsoft.Resources/subscriptions/resourceGroups/read"),
        ("GET", f"{srv}/privateEndpointConnections", f"{flex}/privateEndpointConnections/read"),
        ("GET", pec, f"{flex}/privateEndpointConnections/read"),
        ("PUT", pec, f"{flex}/privateEndpointConnections/write"),
        ("DELETE", pec, f"{flex}/privateEndpointConnections/delete"),
        ("GET", f"{srv}/privateLinkResources", f"{flex}/privateLinkResources/read"),
        (
            "GET",
            f"{sub}{pg}/locations/westeurope/azureAsyncOperation/x",
            "Microsoft.DBforPostgreSQL/locations/azureAsyncOperation/read",
        ),
    ]
    body = {"properties": {"privateLinkServiceConnectionState": {"status": "Rejected"}}}
    for method, path, action in cases:
        status, _, answer = client.call(method, path + API, body if method == "PUT" else None)
        assert (method, path, status, answer) == (method, path, 403, denied(action, path))
    # The subscription itself reads (it is listed for the login), and nothing was written.
    status, _, answer = client.call("GET", sub + API)
    assert (status, answer["state"]) == (200, "Enabled")
    assert em.connections(NO_ACCESS_SUBSCRIPTION, "rg-locked", "pg-locked")[0]["status"] == "Pending"
    # Other subscriptions are not affected.
    assert client.call("GET", SRV + API)[0] == 200


def test_a_disabled_subscription_reads_but_refuses_writes(client: Client, em: Emulator) -> None:
    srv = (
        f"/subscriptions/{DISABLED_SUBSCRIPTION}/resourceGroups/rg-legacy/providers/"
        "Microsoft.DBforPostgreSQL/flexibleServers/pg-legacy"
    )
    status, _, body = client.call("GET", srv + API)
    assert (status, body["properties"]["state"]) == (200, "Ready")
    conns = {c["status"]: c["name"] for c in em.connections(DISABLED_SUBSCRIPTION, "rg-legacy", "pg-legacy")}
    refused = {
        "error": {
            "code": "ReadOnlyDisabledSubscription",
            "message": (
                f"The subscription '{DISABLED_SUBSCRIPTION}' is disabled and therefore marked as read "
                "only. You cannot perform any write actions on this subscription until it is re-enabled."
            ),
        }
    }
    path = f"{srv}/privateEndpointConnections/{conns['Pending']}{API}"
    _, _, put_body = client.call("GET", path)
    put_body["properties"]["privateLinkServiceConnectionState"]["status"] = "Rejected"
    assert client.call("PUT", path, put_body)[::2] == (409, refused)
    assert client.call("DELETE", f"{srv}/privateEndpointConnections/{conns['Approved']}{API}")[::2] == (
        409,
        refused,
    )
    assert client.call("DELETE", f"{srv}/privateEndpointConnections/nope{API}")[::2] == (409, refused)
    # Nothing started: the server is not busy and both connections are as they were.
    assert client.call("GET", srv + API)[2]["properties"]["state"] == "Ready"
    statuses = [c["status"] for c in em.connections(DISABLED_SUBSCRIPTION, "rg-legacy", "pg-legacy")]
    assert sorted(statuses) == ["Approved", "Pending"]
    assert em.state.operations == {}


def test_subscription_state_and_access_are_seeded_and_dumped(client: Client) -> None:
    scenario = {
        "subscriptions": [
            {"id": SUB, "state": "Warned"},
            {"id": APPS_SUBSCRIPTION, "displayName": "apps", "access": "none"},
        ]
    }
    status, _, state = client.call("POST", "/_sandbox/seed", scenario, auth=False)
    assert status == 200
    assert [(s["id"], s["displayName"], s["state"], s["access"]) for s in state["subscriptions"]] == [
        (SUB, SUB, "Warned", "full"),
        (APPS_SUBSCRIPTION, "apps", "Enabled", "none"),
    ]
    assert client.call("POST", "/_sandbox/seed", state, auth=False)[2] == state  # dump seeds back
    listed = client.call("GET", "/subscriptions?api-version=2022-12-01")[2]["value"]
    assert [s["state"] for s in listed] == ["Warned", "Enabled"]
    # A Warned subscription still takes writes (only Disabled is read-only).
    seeded = client.call("POST", "/_sandbox/seed", default_scenario(), auth=False)
    assert seeded[0] == 200
    state = seeded[2]
    state["subscriptions"][0]["state"] = "Warned"
    client.call("POST", "/_sandbox/seed", state, auth=False)
    name = state["subscriptions"][0]["resourceGroups"][0]["servers"][0]["connections"][0]["name"]
    assert (
        client.call("PUT", f"{SRV}/privateEndpointConnections/{name}{API}", reject_body(client, name))[0]
        == 202
    )


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("state", "Enabeld", "state 'Enabeld' is not one of Enabled, Warned, PastDue, Disabled, Deleted"),
        ("access", "read", "access 'read' is not one of full, none"),
    ],
)
def test_a_bad_subscription_state_or_access_is_refused(
    client: Client, em: Emulator, field: str, value: str, message: str
) -> None:
    status, _, body = client.call(
        "POST", "/_sandbox/seed", {"subscriptions": [{"id": SUB, field: value}]}, auth=False
    )
    assert (status, body["error"]["code"]) == (400, "BadRequest")
    assert f"invalid scenario: subscription {SUB}: {message}" in body["error"]["message"]
    assert len(em.dump()["subscriptions"]) == 4  # the state is unchanged


def test_a_fleet_seeds_over_http(client: Client) -> None:
    """What the benchmark does: POST the fleet, then list its servers per subscription."""
    status, _, _ = client.call("POST", "/_sandbox/seed", fleet(4, 2, [SUB, APPS_SUBSCRIPTION]), auth=False)
    assert status == 200
    pg = "/providers/Microsoft.DBforPostgreSQL/flexibleServers?api-version=2026-04-01-preview"
    for sub, names in [
        (SUB, ["pg-fleet-00", "pg-fleet-02"]),
        (APPS_SUBSCRIPTION, ["pg-fleet-01", "pg-fleet-03"]),
    ]:
        value = client.call("GET", f"/subscriptions/{sub}/resourceGroups/rg-fleet{pg}")[2]["value"]
        assert [s["name"] for s in value] == names
        assert [len(s["properties"]["privateEndpointConnections"]) for s in value] == [2, 2]
    listed = client.call("GET", "/subscriptions?api-version=2022-12-01")[2]["value"]
    assert len(listed) == 4
