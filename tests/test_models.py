"""Records from az's JSON, whichever of its two shapes az printed (and from recorded real az)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from azpe.az_errors import classify
from azpe.errors import AuthError, AzpeError, AzureError, NotFound, ServerBusy, TransientError
from azpe.ids import ServerRef
from azpe.models import KNOWN_STATUSES, Connection, Server
from azpe.retry import is_transient
from tests.azsamples import (
    FOREIGN_SUB,
    RG,
    SERVER,
    SUB,
    conn,
    connection_id,
    connection_raw,
    endpoint_id,
    server_id,
    server_json,
)

PE1 = "pe-foreign.11111111-1111-1111-1111-111111111111"
PE2 = "pe-other.22222222-2222-2222-2222-222222222222"
DATA = Path(__file__).parent / "data"

CONNECTION_KEYS = {
    "id",
    "name",
    "subscription",
    "resourceGroup",
    "server",
    "status",
    "description",
    "actionsRequired",
    "provisioningState",
    "privateEndpointId",
    "privateEndpointSubscription",
    "privateEndpointResourceGroup",
    "groupIds",
}
SERVER_KEYS = {"id", "name", "subscription", "resourceGroup", "state", "publicNetworkAccess", "connections"}

EXPECTED_RECORD = {
    "id": connection_id(PE1),
    "name": PE1,
    "subscription": SUB,
    "resourceGroup": RG,
    "server": SERVER,
    "status": "Pending",
    "description": "please",
    "actionsRequired": "None",
    "provisioningState": "Succeeded",
    "privateEndpointId": endpoint_id("pe-foreign"),
    "privateEndpointSubscription": FOREIGN_SUB,
    "privateEndpointResourceGroup": "rg-apps",
    "groupIds": ["postgresqlServer"],
}


# -- connections --------------------------------------------------------------------------------


def test_connection_from_the_flattened_shape() -> None:
    record = Connection.from_az(conn(PE1, "Pending", description="please")).to_record()
    assert record == EXPECTED_RECORD


def test_connection_from_the_raw_properties_shape() -> None:
    record = Connection.from_az(connection_raw(PE1, "Pending", description="please")).to_record()
    assert record == EXPECTED_RECORD


def test_both_shapes_give_equal_connections() -> None:
    assert Connection.from_az(conn(PE1, "Approved")) == Connection.from_az(connection_raw(PE1, "Approved"))


@pytest.mark.parametrize("shape", [conn, connection_raw])
def test_a_connection_without_a_name_takes_it_from_its_id(shape: Any) -> None:
    raw = shape(PE1, "Pending")
    del raw["name"]
    assert Connection.from_az(raw).name == PE1


@pytest.mark.parametrize("status", ["Disconnected", "Weird", "approved", "Timeout"])
def test_unknown_or_odd_statuses_are_kept(status: str) -> None:
    assert Connection.from_az(connection_raw(PE1, status)).status == status


@pytest.mark.parametrize("state", [None, {}, {"status": None}, {"status": ""}, {"status": 3}, "Approved", []])
def test_missing_status_is_unknown(state: Any) -> None:
    raw = conn(PE1)
    raw["privateLinkServiceConnectionState"] = state
    connection = Connection.from_az(raw)
    assert connection.status == "Unknown"
    assert connection.description is None


def test_missing_connection_state_and_endpoint_are_unknown_and_null() -> None:
    raw = {"id": connection_id(PE1), "properties": {}}
    record = Connection.from_az(raw).to_record()
    assert set(record) == CONNECTION_KEYS
    assert record["status"] == "Unknown"
    assert record["name"] == PE1
    assert record["privateEndpointId"] is None
    assert record["privateEndpointSubscription"] is None
    assert record["privateEndpointResourceGroup"] is None
    assert record["groupIds"] == []
    assert record["provisioningState"] is None


def test_connection_subscription_comes_from_its_id_in_lowercase() -> None:
    raw = conn(PE1)
    raw["id"] = connection_id(PE1, sub=SUB.upper())
    connection = Connection.from_az(raw)
    assert connection.subscription == SUB
    assert connection.id == raw["id"]  # the id itself is shown as az printed it


@pytest.mark.parametrize(
    "raw",
    [
        [],
        [conn(PE1)],
        None,
        "a string",
        42,
        {},
        {"name": PE1},
        {"id": None},
        {"id": 5},
        {"id": "/subscriptions/x"},
        {"id": server_id()},  # a server is not a connection
        {"id": connection_id(PE1).replace("DBforPostgreSQL", "DBforMySQL")},
    ],
)
def test_wrong_connection_shapes_are_unexpected_output(raw: Any) -> None:
    with pytest.raises(AzureError) as caught:
        Connection.from_az(raw)
    assert type(caught.value) is AzureError  # never a UsageError: the user typed nothing wrong
    assert caught.value.code == "UnexpectedOutput"
    assert caught.value.exit_code == 1


# -- servers --------------------------------------------------------------------------------------


def test_server_from_the_flattened_shape() -> None:
    raw = server_json([conn(PE1), conn(PE2, "Approved")], state="Ready", public="Disabled")
    server = Server.from_az(raw)
    assert server.ref == ServerRef(SUB, RG, SERVER)
    assert server.ready
    assert server.public_network_access == "Disabled"
    assert [c.name for c in server.connections] == [PE1, PE2]
    assert server.to_record() == {
        "id": server_id(),
        "name": SERVER,
        "subscription": SUB,
        "resourceGroup": RG,
        "state": "Ready",
        "publicNetworkAccess": "Disabled",
        "connections": {"Pending": 1, "Approved": 1, "Rejected": 0},
    }


def test_server_from_the_raw_properties_shape() -> None:
    flat = server_json([conn(PE1, "Rejected")], state="Stopped", public="Enabled")
    raw = {
        "id": flat["id"],
        "name": flat["name"],
        "type": flat["type"],
        "properties": {
            "state": "Stopped",
            "network": {"publicNetworkAccess": "Enabled"},
            "privateEndpointConnections": [connection_raw(PE1, "Rejected")],
        },
    }
    server = Server.from_az(raw)
    assert server == Server.from_az(flat)
    assert not server.ready
    assert server.to_record()["connections"] == {"Pending": 0, "Approved": 0, "Rejected": 1}


def test_server_record_counts_connections_by_status_including_unknown_ones() -> None:
    raw = server_json(
        [
            conn("a.1"),
            conn("b.1"),
            conn("c.1", "Approved"),
            conn("d.1", "Disconnected"),
            conn("e.1", "Weird"),
            conn("f.1", "Disconnected"),
        ]
    )
    record = Server.from_az(raw).to_record()
    assert set(record) == SERVER_KEYS
    assert record["connections"] == {
        "Pending": 2,
        "Approved": 1,
        "Rejected": 0,
        "Disconnected": 2,
        "Weird": 1,
    }
    assert list(record["connections"])[:3] == ["Pending", "Approved", "Rejected"]


@pytest.mark.parametrize(
    ("field", "value"),
    [("network", None), ("privateEndpointConnections", None), ("state", None), ("name", None)],
)
def test_server_with_null_fields(field: str, value: Any) -> None:
    raw = server_json([])
    raw[field] = value
    server = Server.from_az(raw)
    assert server.name == SERVER
    assert server.connections == ()
    assert server.state in ("Ready", "Unknown")
    assert not (field == "state" and server.ready)


@pytest.mark.parametrize("bad", [{"name": "no id"}, ["nested"], {"id": "/subscriptions/x/other"}])
def test_a_connection_azpe_cannot_parse_is_left_out_with_a_warning(
    bad: Any, caplog: pytest.LogCaptureFixture
) -> None:
    # One odd connection must not block work on the server's others (design.md: never crash).
    server = Server.from_az(server_json([conn(PE1), bad]))
    assert [c.name for c in server.connections] == [PE1]
    assert "ignoring a connection of pg-orders" in caplog.text


def test_server_finds_a_connection_by_name_case_insensitively() -> None:
    server = Server.from_az(server_json([conn(PE1)]))
    found = server.connection(PE1.upper())
    assert found is not None and found.name == PE1
    assert server.connection("pe-nope.1") is None


@pytest.mark.parametrize(
    "raw",
    [
        [server_json([])],
        None,
        {"name": SERVER},
        {"id": connection_id(PE1)},
        {"id": server_id().replace("flexibleServers", "servers")},
        {**server_json([]), "privateEndpointConnections": {"a": 1}},
    ],
)
def test_wrong_server_shapes_are_unexpected_output(raw: Any) -> None:
    with pytest.raises(AzureError) as caught:
        Server.from_az(raw)
    assert type(caught.value) is AzureError
    assert caught.value.code == "UnexpectedOutput"


def test_from_az_does_not_modify_azs_json() -> None:
    raw = server_json([conn(PE1), connection_raw(PE2)])
    before = copy.deepcopy(raw)
    Server.from_az(raw).to_record()
    assert raw == before


# -- any JSON value ---------------------------------------------------------------------------

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=10,
)
STATE_FIELDS = st.fixed_dictionaries(
    {},
    optional={
        "status": JSON_VALUES | st.sampled_from(["Pending", "Approved", "Rejected", "Disconnected"]),
        "description": st.none() | st.text(max_size=10),
        "actionsRequired": st.none() | st.text(max_size=10),
    },
)


@settings(max_examples=200, deadline=None)
@given(
    st.fixed_dictionaries(
        {"id": st.just(connection_id(PE1))},
        optional={
            "name": st.none() | st.just(PE1),
            "privateLinkServiceConnectionState": STATE_FIELDS | JSON_VALUES,
            "provisioningState": st.none() | st.text(max_size=10),
            "privateEndpoint": st.fixed_dictionaries(
                {}, optional={"id": st.none() | st.just(endpoint_id("p"))}
            ),
            "groupIds": st.none() | st.lists(st.text(max_size=10), max_size=2),
        },
    ),
    st.booleans(),
)
def test_any_connection_with_a_good_id_parses_to_a_full_record(raw: dict[str, Any], nested: bool) -> None:
    if nested:
        raw = {"id": raw.pop("id"), **({"name": raw.pop("name")} if "name" in raw else {}), "properties": raw}
    record = Connection.from_az(raw).to_record()
    assert set(record) == CONNECTION_KEYS
    assert isinstance(record["status"], str) and record["status"]
    assert record["name"] == PE1
    json.dumps(record)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"groupIds": 5}, {"groupIds": []}),
        ({"groupIds": "postgresqlServer"}, {"groupIds": []}),
        (
            {"privateEndpoint": {"id": 7}},
            {
                "privateEndpointId": None,
                "privateEndpointSubscription": None,
                "privateEndpointResourceGroup": None,
            },
        ),
        (
            {"privateEndpoint": "pe"},
            {
                "privateEndpointId": None,
                "privateEndpointSubscription": None,
                "privateEndpointResourceGroup": None,
            },
        ),
        ({"provisioningState": 5}, {"provisioningState": None}),
        (
            {"privateLinkServiceConnectionState": {"status": 5}},
            {"status": "Unknown", "description": None, "actionsRequired": None},
        ),
        ({"privateLinkServiceConnectionState": ["Pending"]}, {"status": "Unknown", "actionsRequired": None}),
    ],
    ids=[
        "groupIds-number",
        "groupIds-string",
        "endpoint-id-number",
        "endpoint-string",
        "state-number",
        "status-number",
        "connection-state-list",
    ],
)
def test_a_field_of_the_wrong_type_is_read_as_unknown_never_passed_on(
    change: dict[str, Any], expected: dict[str, Any]
) -> None:
    """Only a connection without a usable id is UnexpectedOutput (see the shapes above); a field
    of the wrong type inside one is read as absent: the record stays whole and typed."""
    record = Connection.from_az({**conn(PE1), **change}).to_record()
    assert {k: record[k] for k in expected} == expected
    assert {k: v for k, v in record.items() if k not in expected} == {
        k: v for k, v in Connection.from_az(conn(PE1)).to_record().items() if k not in expected
    }  # the other fields as from the good shape


@pytest.mark.parametrize(
    "raw",
    [
        {**conn(PE1), "id": 5},
        {**conn(PE1), "id": ["x"]},
        {**server_json([]), "privateEndpointConnections": "x"},
    ],
    ids=["connection-id-number", "connection-id-list", "server-connections-string"],
)
def test_wrong_field_types_where_azpe_needs_them_are_unexpected_output_not_a_crash(raw: Any) -> None:
    parse = Server.from_az if "privateEndpointConnections" in raw else Connection.from_az
    with pytest.raises(AzureError) as caught:
        parse(raw)
    assert caught.value.code == "UnexpectedOutput"


# -- recorded outputs of the real az (tests/data/*.json) ------------------------------------


def _recordings() -> list[tuple[str, dict[str, Any]]]:
    if not DATA.is_dir():
        return []
    found = []
    for path in sorted(DATA.glob("*.json")):
        sample = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(sample, dict) and {"argv", "returncode", "stdout", "stderr"} <= set(sample):
            found.append((path.name, sample))
    return found


RECORDINGS = _recordings()


def _parse_recorded_stdout(argv: list[str], stdout: str) -> list[Connection]:
    """Parse a successful az output with the models; the connections it holds."""
    text = stdout.strip()
    if not text:
        return []  # delete prints nothing
    data = json.loads(text)
    words = [a for a in argv if not a.startswith("-")]
    items = data if isinstance(data, list) else [data]
    if "private-endpoint-connection" in words:
        connections = [Connection.from_az(item) for item in items]
    elif "postgres" in words:
        servers = [Server.from_az(item) for item in items]
        for server in servers:
            assert set(server.to_record()) == SERVER_KEYS
            assert server.state != "Unknown"
        connections = [c for s in servers for c in s.connections]
    else:
        return []  # another az command (login, cloud, version): nothing of ours to parse
    for connection in connections:
        record = connection.to_record()
        assert set(record) == CONNECTION_KEYS
        assert record["status"] in KNOWN_STATUSES
        assert record["name"] and record["server"] and record["resourceGroup"] and record["subscription"]
    return connections


# What each recorded failure must classify as: (type, code, transient). Recordings of cases not
# listed here get the general checks only.
RECORDED_FAILURES: dict[str, tuple[type[AzpeError], str, bool]] = {
    "network-reject-403": (AuthError, "AuthorizationFailed", False),
    "network-reject-429": (TransientError, "TooManyRequests", True),
    "network-reject-500": (TransientError, "InternalServerError", True),
    "network-reject-busy": (ServerBusy, "ServerIsBusy", True),
    "network-reject-not-found": (NotFound, "ResourceNotFound", False),
    "network-reject-not-logged-in": (AuthError, "NotLoggedIn", False),
    "network-show-not-found": (NotFound, "ResourceNotFound", False),
    "network-show-malformed": (AzureError, "AzCrashed", False),
    "network-delete-no-yes": (AzureError, "AzureError", False),
    "postgres-list-group-not-found": (NotFound, "ResourceGroupNotFound", False),
    "postgres-show-403": (AuthError, "AuthorizationFailed", False),
    "postgres-show-429": (TransientError, "TooManyRequests", True),
    "postgres-show-500": (TransientError, "InternalServerError", True),
    "postgres-show-busy": (ServerBusy, "ServerIsBusy", True),
    "postgres-show-malformed": (AzureError, "AzCrashed", False),
    "postgres-show-not-found": (NotFound, "ResourceNotFound", False),
    "postgres-show-not-logged-in": (AuthError, "NotLoggedIn", False),
    "postgres-show-unknown-subscription": (NotFound, "SubscriptionNotFound", False),
    "postgres-show-unreachable": (TransientError, "NetworkError", True),
    "network-reject-unreachable": (TransientError, "NetworkError", True),
    "usage-bad-query": (AzureError, "AzUsage", False),
    "usage-unrecognized-argument": (AzureError, "AzUsage", False),
}
WRITES = {"reject": "Rejected", "approve": "Approved"}


@pytest.mark.skipif(not RECORDINGS, reason="no recordings of the real az in tests/data yet")
@pytest.mark.parametrize(("name", "sample"), RECORDINGS, ids=[n for n, _ in RECORDINGS] or None)
def test_recorded_real_az_output(name: str, sample: dict[str, Any]) -> None:
    argv = [str(a) for a in sample["argv"]]
    if sample["returncode"] == 0:
        connections = _parse_recorded_stdout(argv, sample["stdout"])
        action = next((WRITES[a] for a in argv if a in WRITES), None)
        if action is not None:
            [written] = connections
            assert written.status == action
        return
    error = classify(sample["returncode"], sample["stderr"])
    assert isinstance(error, AzpeError)
    assert error.message and error.code
    expected = RECORDED_FAILURES.get(str(sample.get("case", "")))
    if expected is not None:
        kind, code, transient = expected
        assert (type(error), error.code, is_transient(error)) == (kind, code, transient)
    if sample["returncode"] == 3:
        assert isinstance(error, NotFound)
    if error.code == "NetworkError":  # the cause, not az's footer or a traceback line
        assert error.message.startswith(
            "az could not reach Azure: [Errno 111] Connection refused (127.0.0.1:"
        )
