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


def test_default_scenario_has_the_fleet_subscriptions(state: AzureState) -> None:
    """The first subscription is the login's default and keeps its content (above); then one
    more Enabled one with own and foreign endpoints, one without access, a Disabled one."""
    subs = list(state.subs.values())
    assert [(s.id, s.display_name, s.state, s.access) for s in subs] == [
        (SUB, "azpe-sandbox", "Enabled", "full"),
        (scenarios.APPS_SUBSCRIPTION, "azpe-sandbox-apps", "Enabled", "full"),
        (scenarios.NO_ACCESS_SUBSCRIPTION, "azpe-sandbox-locked", "Enabled", "none"),
        (scenarios.DISABLED_SUBSCRIPTION, "azpe-sandbox-disabled", "Disabled", "full"),
    ]
    assert list(scenarios.SANDBOX_SUBSCRIPTIONS) == [s.id for s in subs]
    assert list(subs[0].resource_groups) == ["rg-data"]
    assert list(subs[0].resource_groups["rg-data"].servers) == ["pg-orders", "pg-reports"]
    login = {s.lower() for s in scenarios.SANDBOX_SUBSCRIPTIONS}

    def owners(server: str) -> list[tuple[str, bool]]:
        conns = state.server(scenarios.APPS_SUBSCRIPTION, "rg-apps", server).connections.values()
        return [(c.status, c.private_endpoint_id.split("/")[2].lower() in login) for c in conns]

    assert owners("pg-billing") == [("Approved", True), ("Pending", True), ("Pending", False)]
    assert owners("pg-inventory") == [("Approved", True), ("Approved", False), ("Pending", False)]
    legacy = state.server(scenarios.DISABLED_SUBSCRIPTION, "rg-legacy", "pg-legacy")
    assert sorted(c.status for c in legacy.connections.values()) == ["Approved", "Pending"]
    assert state.server(scenarios.NO_ACCESS_SUBSCRIPTION, "rg-locked", "pg-locked").connections
    # Server names are unique across the scenario (`azpe sandbox server-state NAME` finds one).
    every = [n for sub in subs for rg in sub.resource_groups.values() for n in rg.servers]
    assert len(every) == len(set(every)) == 6


def test_fleet_spreads_servers_round_robin_and_keeps_every_subscription(clock: Clock) -> None:
    apps, disabled = scenarios.APPS_SUBSCRIPTION, scenarios.DISABLED_SUBSCRIPTION
    data = scenarios.fleet(5, 2, [SUB, apps])
    assert scenarios.subscription_ids(data) == list(scenarios.SANDBOX_SUBSCRIPTIONS)
    state = AzureState(clock=clock)
    scenarios.load(state, data)
    assert state.subs[disabled.lower()].state == "Disabled"  # states and access kept
    assert state.subs[scenarios.NO_ACCESS_SUBSCRIPTION.lower()].access == "none"
    placed = {
        sub.id: {rg: list(g.servers) for rg, g in sub.resource_groups.items()} for sub in state.subs.values()
    }
    assert placed == {
        SUB: {"rg-fleet": ["pg-fleet-00", "pg-fleet-02", "pg-fleet-04"]},
        apps: {"rg-fleet": ["pg-fleet-01", "pg-fleet-03"]},
        scenarios.NO_ACCESS_SUBSCRIPTION: {},
        disabled: {},
    }
    srv = state.server(apps, "rg-fleet", "pg-fleet-03")
    assert (srv.state, srv.public_network_access) == ("Ready", "Enabled")
    conns = list(srv.connections.values())
    assert [c.status for c in conns] == ["Pending", "Pending"]
    assert [c.name.split(".")[0] for c in conns] == ["pe-fleet-03-0", "pe-fleet-03-1"]
    assert all(
        c.private_endpoint_id.startswith(f"/subscriptions/{scenarios.FOREIGN_SUBSCRIPTION}/") for c in conns
    )
    assert scenarios.fleet(5, 2, [SUB, apps]) == data  # stable names: the same every time


def test_fleet_options_and_refusals() -> None:
    data = scenarios.fleet(100, 0, [SUB], "rg-big", approved=1, keep_default=True)
    groups = data["subscriptions"][0]["resourceGroups"]
    assert [g["name"] for g in groups] == ["rg-data", "rg-big"]
    big = groups[1]["servers"]
    assert (big[0]["name"], big[-1]["name"], len(big)) == ("pg-fleet-00", "pg-fleet-99", 100)
    assert [c["status"] for c in big[7]["connections"]] == ["Approved"]
    assert big[7]["connections"][0]["privateEndpointId"].startswith(f"/subscriptions/{SUB}/")
    with pytest.raises(ValueError, match="not a subscription of the default scenario: 1234"):
        scenarios.fleet(2, 1, [SUB, "1234"])
    with pytest.raises(ValueError, match="at least one subscription"):
        scenarios.fleet(2, 1, [])
    with pytest.raises(ValueError, match=">= 0"):
        scenarios.fleet(-1, 1)


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


def link(state: AzureState, name: str) -> tuple[str, str | None, str]:
    conn = state.connection(SUB, "rg-data", "pg-orders", name)
    return conn.status, conn.description, conn.provisioning_state


def assert_busy(state: AzureState, busy: bool) -> None:
    """Whether pg-orders reads Updating and refuses another write (tried on a fresh target)."""
    assert state.server(SUB, "rg-data", "pg-orders").visible_state == ("Updating" if busy else "Ready")
    other = names(state).get("Approved") or names(state)["Pending"]
    if busy:
        with pytest.raises(ArmError) as err:
            state.begin_write(SUB, "rg-data", "pg-orders", other, "Rejected", "second")
        assert (err.value.status, err.value.code) == (409, "ServerIsBusy")


# (verb, status before, during the operation by model, after)
WRITES = [
    (
        "Rejected",
        "Pending",
        {
            "at-end": ("Pending", "Please approve: nightly ETL", "Updating"),
            "at-once": ("Rejected", "no", "Succeeded"),
        },
        ("Rejected", "no", "Succeeded"),
    ),
    (
        "Approved",
        "Pending",
        {
            "at-end": ("Pending", "Please approve: nightly ETL", "Updating"),
            "at-once": ("Approved", "no", "Succeeded"),
        },
        ("Approved", "no", "Succeeded"),
    ),
]


@pytest.mark.parametrize("model", ["at-end", "at-once"])
@pytest.mark.parametrize(("target", "before", "during", "after"), WRITES)
def test_put_in_both_timing_models(
    state: AzureState,
    clock: Clock,
    model: str,
    target: str,
    before: str,
    during: dict[str, tuple[str, str, str]],
    after: tuple[str, str, str],
) -> None:
    state.timing = model
    name = names(state)[before]
    op = state.begin_write(SUB, "rg-data", "pg-orders", name, target, "no")
    assert op is not None
    assert link(state, name) == during[model]
    clock.now += 4.9
    assert link(state, name) == during[model]
    assert state.operation(op.id).status == "InProgress"
    assert_busy(state, True)
    clock.now += 0.1
    assert link(state, name) == after
    assert state.operation(op.id).status == "Succeeded"
    assert_busy(state, False)


@pytest.mark.parametrize("model", ["at-end", "at-once"])
def test_delete_in_both_timing_models(state: AzureState, clock: Clock, model: str) -> None:
    state.timing = model
    name = names(state)["Approved"]
    op = state.begin_write(SUB, "rg-data", "pg-orders", name, None)
    assert op is not None
    gone_at_once = model == "at-once"
    if gone_at_once:
        with pytest.raises(ArmError) as err:
            state.connection(SUB, "rg-data", "pg-orders", name)
        assert err.value.status == 404
    else:
        assert link(state, name) == ("Approved", "Auto-approved", "Deleting")
    clock.now += 4.9
    assert_busy(state, True)
    assert state.operation(op.id).status == "InProgress"
    clock.now += 0.1
    with pytest.raises(ArmError):
        state.connection(SUB, "rg-data", "pg-orders", name)
    assert state.operation(op.id).status == "Succeeded"
    assert_busy(state, False)
    assert state.begin_write(SUB, "rg-data", "pg-orders", name, None) is None  # 204


@pytest.mark.parametrize("model", ["at-end", "at-once"])
@pytest.mark.parametrize("status", ["Rejected", "Disconnected"])
def test_approving_a_rejected_connection_fails_the_operation(
    state: AzureState, clock: Clock, model: str, status: str
) -> None:
    state.timing = model
    name = names(state)["Rejected"]
    state.connection(SUB, "rg-data", "pg-orders", name).status = status
    op = state.begin_write(SUB, "rg-data", "pg-orders", name, "Approved", "let me in")
    assert op is not None
    during = "Updating" if model == "at-end" else "Succeeded"
    assert link(state, name) == (status, "Vendor contract ended", during)
    assert state.operation(op.id).status == "InProgress"
    assert_busy(state, True)
    clock.now += 5
    assert state.operation(op.id).status == "Failed"
    assert op.error is not None and op.error["code"] == "InternalServerError"
    assert link(state, name) == (status, "Vendor contract ended", "Succeeded")
    assert_busy(state, False)


def test_a_running_write_keeps_the_model_and_duration_it_started_with(
    state: AzureState, clock: Clock
) -> None:
    pending = names(state)["Pending"]
    op = state.begin_write(SUB, "rg-data", "pg-orders", pending, "Rejected", "no")
    assert op is not None
    state.configure(op_seconds=60, timing="at-once")
    assert link(state, pending)[0] == "Pending"
    clock.now += 5
    assert link(state, pending) == ("Rejected", "no", "Succeeded")
    other = names(state)["Approved"]
    state.begin_write(SUB, "rg-data", "pg-orders", other, "Rejected", "later")
    assert link(state, other) == ("Rejected", "later", "Succeeded")  # at once
    clock.now += 59
    assert_busy(state, True)
    clock.now += 1
    assert_busy(state, False)


def test_timing_model_and_duration_are_checked(clock: Clock) -> None:
    state = AzureState(op_seconds=3, timing="at-once", clock=clock)
    assert (state.op_seconds, state.timing) == (3.0, "at-once")
    assert AzureState().timing == "at-end"
    with pytest.raises(ValueError, match="unknown timing model 'later': use one of at-end, at-once"):
        AzureState(timing="later")
    with pytest.raises(ValueError, match="unknown timing model"):
        state.timing = "At-End"
    assert state.timing == "at-once"
    with pytest.raises(ValueError, match="op_seconds must be a number >= 0"):
        AzureState(op_seconds=-1)
    with pytest.raises(ValueError, match="unknown timing model"):
        state.configure(op_seconds=9, timing="soon")
    assert (state.op_seconds, state.timing) == (3.0, "at-once")  # neither changed
    state.configure(timing="at-end")
    assert (state.op_seconds, state.timing) == (3.0, "at-end")


def test_descriptions_may_be_absent(state: AzureState, clock: Clock) -> None:
    """A seed without one and a PUT with ``"description": null`` store None."""
    described = next(c for c in state.server(SUB, "rg-data", "pg-orders").connections.values())
    assert described.description == "Please approve: nightly ETL"
    bare = [
        c for c in state.server(SUB, "rg-data", "pg-orders").connections.values() if c.description is None
    ]
    assert [c.name.split(".")[0] for c in bare] == ["pe-unknown-4821"]
    state.begin_write(SUB, "rg-data", "pg-orders", described.name, "Rejected", None)
    clock.now += 5
    assert link(state, described.name) == ("Rejected", None, "Succeeded")
    assert scenarios.connection_record(described)["description"] is None


def test_writes_need_a_ready_server_that_may_become_ready(state: AzureState, clock: Clock) -> None:
    state.set_server_state(SUB, "rg-data", "pg-orders", "Updating", ready_after=30)
    with pytest.raises(ArmError) as err:
        state.begin_write(SUB, "rg-data", "pg-orders", names(state)["Pending"], "Rejected")
    assert (err.value.status, err.value.code) == (409, "ServerIsNotReady")
    clock.now += 30
    assert state.server(SUB, "rg-data", "pg-orders").visible_state == "Ready"


@pytest.mark.parametrize("model", ["at-end", "at-once"])
def test_zero_op_seconds_completes_at_once(state: AzureState, model: str) -> None:
    state.configure(op_seconds=0, timing=model)
    pending = names(state)["Pending"]
    op = state.begin_write(SUB, "rg-data", "pg-orders", pending, "Rejected")
    assert op is not None and op.status == "Succeeded"
    assert state.connection(SUB, "rg-data", "pg-orders", pending).status == "Rejected"
    assert_busy(state, False)


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
