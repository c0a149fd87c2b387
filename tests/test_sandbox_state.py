"""The emulator's state model, faults and tokens, without HTTP (a fake clock: no sleeping)."""

from __future__ import annotations

import pytest

from azpe.sandbox import identity, scenarios
from azpe.sandbox.faults import Fault, FaultRules
from azpe.sandbox.state import ArmError, AzureState

SUB = scenarios.DEFAULT_SUBSCRIPTION


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def state(clock: Clock) -> AzureState:
    s = AzureState(op_seconds=5, clock=clock)
    scenarios.load(s, scenarios.default_scenario())
    return s


def names(state: AzureState, server: str = "pg-orders") -> dict[str, str]:
    """status -> first connection name with it."""
    conns = state.server(SUB, "rg-data", server).connections.values()
    return {c.status: c.name for c in reversed(list(conns))}


def test_default_scenario_matches_the_demo(state: AzureState) -> None:
    orders = state.server(SUB, "rg-data", "pg-orders")
    reports = state.server(SUB, "rg-data", "pg-reports")
    assert (orders.state, orders.public_network_access, orders.location) == (
        "Ready",
        "Disabled",
        "westeurope",
    )
    assert [c.status for c in orders.connections.values()] == [
        "Pending",
        "Pending",
        "Approved",
        "Rejected",
    ]
    assert [c.status for c in reports.connections.values()] == ["Pending", "Approved"]
    assert reports.public_network_access == "Enabled"
    pending = [c for c in orders.connections.values() if c.status == "Pending"]
    assert all(f"/subscriptions/{SUB}/" not in c.private_endpoint_id for c in pending)
    approved = next(c for c in orders.connections.values() if c.status == "Approved")
    assert approved.private_endpoint_id.startswith(f"/subscriptions/{SUB}/")
    assert approved.name.startswith("pe-app-orders.") and len(approved.name) == 50


def test_lookups_are_case_insensitive(state: AzureState) -> None:
    name = names(state)["Approved"]
    assert state.connection(SUB.upper(), "RG-DATA", "PG-Orders", name.upper()).name == name


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (
            ("0000", "rg-data", "pg-orders"),
            "SubscriptionNotFound",
            "The subscription '0000' could not be found.",
        ),
        ((SUB, "rg-x", "pg-orders"), "ResourceGroupNotFound", "Resource group 'rg-x' could not be found."),
        (
            (SUB, "rg-data", "nope"),
            "ResourceNotFound",
            "The Resource 'Microsoft.DBforPostgreSQL/flexibleServers/nope' under resource group "
            "'rg-data' was not found. For more details please go to "
            "https://aka.ms/ARMResourceNotFoundFix",
        ),
    ],
)
def test_missing_resources_raise_arm_404s(
    state: AzureState, args: tuple[str, str, str], code: str, message: str
) -> None:
    with pytest.raises(ArmError) as err:
        state.server(*args)
    assert (err.value.status, err.value.code, err.value.message) == (404, code, message)


def test_reject_runs_as_an_operation_that_keeps_the_server_busy(state: AzureState, clock: Clock) -> None:
    pending = names(state)["Pending"]
    op = state.begin_write(SUB, "rg-data", "pg-orders", pending, "Rejected", "no")
    assert op is not None and op.status == "InProgress"
    conn = state.connection(SUB, "rg-data", "pg-orders", pending)
    assert (conn.status, conn.provisioning_state) == ("Pending", "Updating")
    assert state.server(SUB, "rg-data", "pg-orders").visible_state == "Updating"

    other = names(state)["Approved"]
    with pytest.raises(ArmError) as err:
        state.begin_write(SUB, "rg-data", "pg-orders", other, None)
    assert (err.value.status, err.value.code) == (409, "ServerIsBusy")
    assert "Server 'pg-orders' is busy with another operation" in err.value.message
    # Another server is independent.
    assert (
        state.begin_write(SUB, "rg-data", "pg-reports", names(state, "pg-reports")["Pending"], "Rejected")
        is not None
    )

    clock.now += 5
    conn = state.connection(SUB, "rg-data", "pg-orders", pending)
    assert (conn.status, conn.description, conn.provisioning_state) == (
        "Rejected",
        "no",
        "Succeeded",
    )
    assert state.operation(op.id).status == "Succeeded"
    assert state.server(SUB, "rg-data", "pg-orders").visible_state == "Ready"


def test_approving_a_rejected_connection_fails_the_operation(state: AzureState, clock: Clock) -> None:
    rejected = names(state)["Rejected"]
    op = state.begin_write(SUB, "rg-data", "pg-orders", rejected, "Approved")
    assert op is not None
    clock.now += 5
    assert state.operation(op.id).status == "Failed"
    assert op.error is not None and op.error["code"] == "InternalServerError"
    conn = state.connection(SUB, "rg-data", "pg-orders", rejected)
    assert (conn.status, conn.provisioning_state) == ("Rejected", "Succeeded")


def test_delete_removes_the_connection_when_done(state: AzureState, clock: Clock) -> None:
    name = names(state)["Approved"]
    state.begin_write(SUB, "rg-data", "pg-orders", name, None)
    assert state.connection(SUB, "rg-data", "pg-orders", name).provisioning_state == "Deleting"
    clock.now += 5
    with pytest.raises(ArmError):
        state.connection(SUB, "rg-data", "pg-orders", name)
    assert state.begin_write(SUB, "rg-data", "pg-orders", name, None) is None  # 204


def test_writes_need_a_ready_server_that_may_become_ready(state: AzureState, clock: Clock) -> None:
    state.set_server_state(SUB, "rg-data", "pg-orders", "Updating", ready_after=30)
    with pytest.raises(ArmError) as err:
        state.begin_write(SUB, "rg-data", "pg-orders", names(state)["Pending"], "Rejected")
    assert (err.value.status, err.value.code) == (409, "ServerIsNotReady")
    clock.now += 30
    assert state.server(SUB, "rg-data", "pg-orders").visible_state == "Ready"


def test_zero_op_seconds_completes_at_once(state: AzureState) -> None:
    state.op_seconds = 0
    pending = names(state)["Pending"]
    state.begin_write(SUB, "rg-data", "pg-orders", pending, "Rejected")
    assert state.connection(SUB, "rg-data", "pg-orders", pending).status == "Rejected"


def test_dump_and_load_round_trip(state: AzureState, clock: Clock) -> None:
    state.set_server_state(SUB, "rg-data", "pg-reports", "Stopped", ready_after=10)
    dumped = scenarios.dump(state)
    other = AzureState(clock=clock)
    scenarios.load(other, dumped)
    assert scenarios.dump(other) == dumped
    assert dumped["subscriptions"][0]["resourceGroups"][0]["servers"][1]["readyAfter"] == 10


def test_load_rejects_a_scenario_without_subscriptions(state: AzureState) -> None:
    with pytest.raises(ValueError, match="invalid scenario"):
        scenarios.load(state, {"servers": []})


def test_builders_make_stable_names() -> None:
    a = scenarios.connection("pe-x")
    assert a == scenarios.connection("pe-x")
    assert a["name"].startswith("pe-x.") and a["status"] == "Pending"
    built = scenarios.scenario([scenarios.server("s1", [a])], resource_group="rg1")
    s = AzureState()
    scenarios.load(s, built)
    assert s.connection(SUB, "rg1", "s1", a["name"]).private_endpoint_id == a["privateEndpointId"]


def test_faults_match_method_and_glob_and_count_down() -> None:
    rules = FaultRules()
    rules.add(Fault("PUT", "*/privateEndpointConnections/*", 429, times=2))
    rules.add(Fault("*", "/subscriptions", 500, times=None))
    path = (
        "/subscriptions/s/resourceGroups/r/providers/Microsoft.DBforPostgreSQL/"
        "flexibleServers/x/privateEndpointConnections/c"
    )
    assert rules.take("GET", path) is None
    assert rules.take("PUT", path.upper()) is not None
    assert rules.take("PUT", path) is not None
    assert rules.take("PUT", path) is None
    assert all(rules.take("GET", "/subscriptions") is not None for _ in range(5))


def test_fault_403_names_the_denied_action() -> None:
    path = (
        "/subscriptions/s/resourceGroups/r/providers/Microsoft.DBforPostgreSQL/"
        "flexibleServers/x/privateEndpointConnections/c"
    )
    code, message = Fault(status=403).error("PUT", path)
    assert code == "AuthorizationFailed"
    assert (
        "perform action 'Microsoft.DBforPostgreSQL/flexibleServers/"
        "privateEndpointConnections/write' over scope" in message
    )


def test_fault_from_json_refuses_unknown_fields() -> None:
    with pytest.raises(ValueError, match="unknown fault fields"):
        Fault.from_json({"path": "*", "stauts": 500})


def test_tokens_verify_and_forgeries_do_not() -> None:
    token = identity.issue_token(identity.TENANT_ID, "https://127.0.0.1:1")
    assert identity.check_bearer(f"Bearer {token}") is None
    head, body, _sig = token.split(".")
    forged = identity.check_bearer(f"Bearer {head}.{body}.AAAA")
    assert forged is not None and forged.status == 401
    assert forged.body["error"]["code"] == "InvalidAuthenticationToken"
    missing = identity.check_bearer(None)
    assert missing is not None and missing.body["error"]["code"] == "AuthenticationFailed"


@pytest.mark.parametrize(
    ("form", "status", "error"),
    [
        (
            f"grant_type=client_credentials&client_id={identity.APP_ID}&client_secret=nope",
            401,
            "invalid_client",
        ),
        ("grant_type=client_credentials&client_id=other&client_secret=x", 400, "unauthorized_client"),
        ("grant_type=password", 400, "unsupported_grant_type"),
    ],
)
def test_token_endpoint_rejects_wrong_credentials(form: str, status: int, error: str) -> None:
    reply = identity.token("https://h", identity.TENANT_ID, form.encode())
    assert (reply.status, reply.body["error"]) == (status, error)
    assert reply.body["error_description"].startswith("AADSTS")
