"""Seed scenarios: the JSON format that ``Emulator.seed`` and ``POST /_sandbox/seed`` take,
builders for it, and the default scenario of the demo.

Format (every key but the names is optional; ``GET /_sandbox/state`` answers the same
format, so a state can be saved and seeded again)::

    {"subscriptions": [{
        "id": "00000000-0000-0000-0000-00000000aaaa", "displayName": "azpe-sandbox",
        "state": "Enabled",                        # ARM's: Enabled, Warned, PastDue, Disabled,
                                                   # Deleted; Disabled is read-only (writes: 409
                                                   # ReadOnlyDisabledSubscription)
        "access": "full",                          # or "none": listed for the login, but every
                                                   # request under it is 403 AuthorizationFailed
        "resourceGroups": [{
            "name": "rg-data", "location": "westeurope",
            "servers": [{
                "name": "pg-orders", "location": "westeurope",
                "state": "Ready",                  # Ready, Updating, Stopped, ...
                "readyAfter": null,                # seconds until state becomes Ready
                "publicNetworkAccess": "Disabled", # or Enabled
                "version": "16",
                "embedConnectionNames": true,      # false: the server GET lists ids only
                "connections": [{
                    "name": "pe-app.6f1c2b7e-...",  # <private endpoint name>.<guid>
                    "privateEndpointId": "/subscriptions/.../privateEndpoints/pe-app",
                    "status": "Pending",           # Pending, Approved, Rejected, Disconnected
                    "description": null,           # null or absent: no description key
                    "actionsRequired": "None",
                    "provisioningState": "Succeeded", "groupIds": ["postgresqlServer"]}]}]}]}]}

The private endpoint may live in any subscription (a foreign tenant's); only the listed
subscriptions are visible to the emulator's service principal (``GET /subscriptions`` lists
them all, whatever their state and access).

az keeps the subscriptions it saw at ``az login`` in its profile and checks ``--subscription``
against that list, so a scenario seeded into a logged-in sandbox should keep the
subscriptions of the login (``fleet`` keeps every subscription of ``default_scenario``), or
the login must be refreshed (``azpe sandbox seed`` does that).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from .state import (
    ACCESS_LEVELS,
    SUBSCRIPTION_STATES,
    AzureState,
    Connection,
    ResourceGroup,
    Server,
    Subscription,
)

DEFAULT_SUBSCRIPTION = "00000000-0000-0000-0000-00000000aaaa"
DEFAULT_SUBSCRIPTION_NAME = "azpe-sandbox"
# The default scenario's other subscriptions, all of the login: one more to work in, one the
# login is listed on but may read nothing in, and a disabled (read-only) one.
APPS_SUBSCRIPTION = "00000000-0000-0000-0000-00000000bbbb"
APPS_SUBSCRIPTION_NAME = "azpe-sandbox-apps"
NO_ACCESS_SUBSCRIPTION = "00000000-0000-0000-0000-00000000cccc"
NO_ACCESS_SUBSCRIPTION_NAME = "azpe-sandbox-locked"
DISABLED_SUBSCRIPTION = "00000000-0000-0000-0000-00000000dddd"
DISABLED_SUBSCRIPTION_NAME = "azpe-sandbox-disabled"
SANDBOX_SUBSCRIPTIONS = (
    DEFAULT_SUBSCRIPTION,
    APPS_SUBSCRIPTION,
    NO_ACCESS_SUBSCRIPTION,
    DISABLED_SUBSCRIPTION,
)
# Not a subscription of the login: where strangers' private endpoints live.
FOREIGN_SUBSCRIPTION = "5b1c7e4a-9d3f-4c21-8e6a-2f0d9b7c3e11"
_NAMES = uuid.UUID("0c5bd1d2-61a4-4c43-9d67-2d0f2a1b9c10")


def private_endpoint_id(subscription: str, resource_group: str, name: str) -> str:
    return (
        f"/subscriptions/{subscription}/resourceGroups/{resource_group}"
        f"/providers/Microsoft.Network/privateEndpoints/{name}"
    )


def connection(
    endpoint: str,
    status: str = "Pending",
    *,
    subscription: str = FOREIGN_SUBSCRIPTION,
    resource_group: str = "rg-network",
    description: str | None = None,
    name: str | None = None,
) -> dict[str, Any]:
    """A connection from private endpoint ``endpoint``; its name gets a stable GUID suffix.
    Without ``description`` it has none (no key, as a manual request's Pending)."""
    suffix = uuid.uuid5(_NAMES, f"{subscription}/{resource_group}/{endpoint}")
    record: dict[str, Any] = {
        "name": name or f"{endpoint}.{suffix}",
        "privateEndpointId": private_endpoint_id(subscription, resource_group, endpoint),
        "status": status,
    }
    if description is not None:
        record["description"] = description
    return record


def server(
    name: str,
    connections: list[dict[str, Any]] | None = None,
    *,
    state: str = "Ready",
    public_network_access: str = "Disabled",
    location: str = "westeurope",
) -> dict[str, Any]:
    return {
        "name": name,
        "location": location,
        "state": state,
        "publicNetworkAccess": public_network_access,
        "connections": connections or [],
    }


def scenario(
    servers: list[dict[str, Any]],
    *,
    subscription: str = DEFAULT_SUBSCRIPTION,
    display_name: str = DEFAULT_SUBSCRIPTION_NAME,
    resource_group: str = "rg-data",
) -> dict[str, Any]:
    """One subscription with one resource group holding ``servers``."""
    return {
        "subscriptions": [
            {
                "id": subscription,
                "displayName": display_name,
                "resourceGroups": [{"name": resource_group, "servers": servers}],
            }
        ]
    }


def default_scenario() -> dict[str, Any]:
    """The demo. azpe-sandbox (the login's default): pg-orders (public access Disabled) and
    pg-reports (Enabled) in rg-data. azpe-sandbox-apps: pg-billing and pg-inventory in rg-apps,
    with Pending and Approved connections from own endpoints (in subscriptions of the login)
    and foreign ones. azpe-sandbox-locked: the login may read nothing (403).
    azpe-sandbox-disabled: Disabled, so read-only, with pg-legacy."""
    own = {"subscription": DEFAULT_SUBSCRIPTION, "resource_group": "rg-app"}
    data = scenario(
        [
            server(
                "pg-orders",
                [
                    connection("pe-partner-etl", description="Please approve: nightly ETL"),
                    connection("pe-unknown-4821", resource_group="rg-tmp"),
                    connection("pe-app-orders", "Approved", description="Auto-approved", **own),
                    connection("pe-old-vendor", "Rejected", description="Vendor contract ended"),
                ],
            ),
            server(
                "pg-reports",
                [
                    connection("pe-bi-reports", description="BI team"),
                    connection("pe-app-reports", "Approved", description="Auto-approved", **own),
                ],
                public_network_access="Enabled",
            ),
        ]
    )
    apps = {"subscription": APPS_SUBSCRIPTION, "resource_group": "rg-apps-network"}
    dr = {"subscription": DEFAULT_SUBSCRIPTION, "resource_group": "rg-dr"}
    data["subscriptions"] += [
        _subscription_record(
            APPS_SUBSCRIPTION,
            APPS_SUBSCRIPTION_NAME,
            "rg-apps",
            [
                server(
                    "pg-billing",
                    [
                        connection("pe-billing-api", "Approved", description="Auto-approved", **apps),
                        connection("pe-billing-dr", description="DR replica, westus", **dr),
                        connection("pe-partner-invoicing", description="Partner invoicing"),
                    ],
                ),
                server(
                    "pg-inventory",
                    [
                        connection("pe-inventory-app", "Approved", description="Auto-approved", **apps),
                        connection("pe-vendor-sync", "Approved", description="Vendor sync"),
                        connection("pe-scanner-7731", resource_group="rg-tmp"),
                    ],
                    public_network_access="Enabled",
                ),
            ],
        ),
        _subscription_record(
            NO_ACCESS_SUBSCRIPTION,
            NO_ACCESS_SUBSCRIPTION_NAME,
            "rg-locked",
            [server("pg-locked", [connection("pe-locked-partner")])],
            access="none",
        ),
        _subscription_record(
            DISABLED_SUBSCRIPTION,
            DISABLED_SUBSCRIPTION_NAME,
            "rg-legacy",
            [
                server(
                    "pg-legacy",
                    [
                        connection("pe-legacy-partner", description="Legacy partner feed"),
                        connection("pe-legacy-app", "Approved", subscription=DISABLED_SUBSCRIPTION),
                    ],
                    public_network_access="Enabled",
                )
            ],
            state="Disabled",
        ),
    ]
    return data


def _subscription_record(
    sub_id: str,
    display_name: str,
    resource_group: str,
    servers: list[dict[str, Any]],
    *,
    state: str = "Enabled",
    access: str = "full",
) -> dict[str, Any]:
    return {
        "id": sub_id,
        "displayName": display_name,
        "state": state,
        "access": access,
        "resourceGroups": [{"name": resource_group, "servers": servers}],
    }


def fleet(
    servers: int,
    pending: int,
    subscriptions: Sequence[str] = (DEFAULT_SUBSCRIPTION,),
    resource_group: str = "rg-fleet",
    *,
    approved: int = 0,
    keep_default: bool = False,
) -> dict[str, Any]:
    """``servers`` servers ``pg-fleet-00``, ``pg-fleet-01``, ... spread round-robin over
    ``subscriptions`` (subscriptions of ``default_scenario``), each in ``resource_group``,
    Ready, public access Enabled (so the lock-out guard never trips), with ``pending`` Pending
    connections from foreign endpoints ``pe-fleet-<i>-<j>`` and ``approved`` Approved ones
    from own endpoints (stable names).

    Every subscription of the default scenario stays in the scenario (with its state and
    access), so the sandbox login's profile and the emulator agree; their default content
    is dropped unless ``keep_default``."""
    if servers < 0 or pending < 0 or approved < 0:
        raise ValueError("servers, pending and approved must be >= 0")
    if not subscriptions:
        raise ValueError("fleet needs at least one subscription")
    data = default_scenario()
    subs = {s["id"].lower(): s for s in data["subscriptions"]}
    unknown = [s for s in subscriptions if s.lower() not in subs]
    if unknown:
        raise ValueError(
            f"not a subscription of the default scenario: {', '.join(unknown)} "
            f"(use {', '.join(SANDBOX_SUBSCRIPTIONS)})"
        )
    if not keep_default:
        for sub in subs.values():
            sub["resourceGroups"] = []
    width = max(2, len(str(servers - 1)))
    for i in range(servers):
        sub = subs[subscriptions[i % len(subscriptions)].lower()]
        group = next((g for g in sub["resourceGroups"] if g["name"].lower() == resource_group.lower()), None)
        if group is None:
            group = {"name": resource_group, "servers": []}
            sub["resourceGroups"].append(group)
        index = f"{i:0{width}d}"
        conns = [connection(f"pe-fleet-{index}-{j}") for j in range(pending)]
        conns += [
            connection(
                f"pe-fleet-app-{index}-{j}", "Approved", subscription=sub["id"], resource_group="rg-app"
            )
            for j in range(approved)
        ]
        group["servers"].append(server(f"pg-fleet-{index}", conns, public_network_access="Enabled"))
    return data


def subscription_ids(data: dict[str, Any]) -> list[str]:
    """The subscription IDs of a scenario (or of a state dump), in order."""
    return [str(s["id"]) for s in data.get("subscriptions", [])]


def load(state: AzureState, data: dict[str, Any]) -> None:
    """Replace everything in ``state`` with the scenario ``data`` (raises ValueError)."""
    try:
        subs = {s.id.lower(): s for s in map(_subscription, data["subscriptions"])}
    except (KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"invalid scenario: missing or wrong field {exc}") from exc
    with state.lock:
        state.subs = subs
        state.operations = {}
        now = state.clock()
        for sub in subs.values():
            for rg in sub.resource_groups.values():
                for srv in rg.servers.values():
                    if srv.ready_at is not None:
                        srv.ready_at += now


def _subscription(d: dict[str, Any]) -> Subscription:
    rgs = [_resource_group(r) for r in d.get("resourceGroups", [])]
    state, access = str(d.get("state", "Enabled")), str(d.get("access", "full"))
    if state not in SUBSCRIPTION_STATES:
        raise ValueError(
            f"invalid scenario: subscription {d['id']}: state {state!r} is not one of "
            f"{', '.join(SUBSCRIPTION_STATES)}"
        )
    if access not in ACCESS_LEVELS:
        raise ValueError(
            f"invalid scenario: subscription {d['id']}: access {access!r} is not one of "
            f"{', '.join(ACCESS_LEVELS)}"
        )
    return Subscription(
        id=str(d["id"]),
        display_name=str(d.get("displayName", d["id"])),
        state=state,
        resource_groups={rg.name.lower(): rg for rg in rgs},
        access=access,
    )


def _resource_group(d: dict[str, Any]) -> ResourceGroup:
    location = str(d.get("location", "westeurope"))
    servers = [_server(s, location) for s in d.get("servers", [])]
    return ResourceGroup(str(d["name"]), location, {s.name.lower(): s for s in servers})


def _server(d: dict[str, Any], location: str) -> Server:
    conns = [_connection(c) for c in d.get("connections", [])]
    ready_after = d.get("readyAfter")
    return Server(
        name=str(d["name"]),
        location=str(d.get("location", location)),
        state=str(d.get("state", "Ready")),
        public_network_access=str(d.get("publicNetworkAccess", "Disabled")),
        version=str(d.get("version", "16")),
        connections={c.name.lower(): c for c in conns},
        ready_at=None if ready_after is None else float(ready_after),  # made absolute in load
        embed_connection_names=bool(d.get("embedConnectionNames", True)),
    )


def _connection(d: dict[str, Any]) -> Connection:
    return Connection(
        name=str(d["name"]),
        private_endpoint_id=str(d["privateEndpointId"]),
        status=str(d.get("status", "Pending")),
        description=None if d.get("description") is None else str(d["description"]),
        actions_required=str(d.get("actionsRequired", "None")),
        provisioning_state=str(d.get("provisioningState", "Succeeded")),
        group_ids=[str(g) for g in d.get("groupIds", ["postgresqlServer"])],
    )


def dump(state: AzureState) -> dict[str, Any]:
    """The current state in the seed format (``readyAfter`` as seconds from now)."""
    with state.lock:
        state.advance()
        now = state.clock()
        return {"subscriptions": [_dump_sub(s, now) for s in state.subs.values()]}


def _dump_sub(sub: Subscription, now: float) -> dict[str, Any]:
    return {
        "id": sub.id,
        "displayName": sub.display_name,
        "state": sub.state,
        "access": sub.access,
        "resourceGroups": [
            {
                "name": rg.name,
                "location": rg.location,
                "servers": [_dump_server(s, now) for s in rg.servers.values()],
            }
            for rg in sub.resource_groups.values()
        ],
    }


def _dump_server(srv: Server, now: float) -> dict[str, Any]:
    return {
        "name": srv.name,
        "location": srv.location,
        "state": srv.state,
        "busy": srv.operation is not None,  # a connection write is running (not seeded)
        "readyAfter": None if srv.ready_at is None else max(0.0, srv.ready_at - now),
        "publicNetworkAccess": srv.public_network_access,
        "version": srv.version,
        "embedConnectionNames": srv.embed_connection_names,
        "connections": [connection_record(c) for c in srv.connections.values()],
    }


def connection_record(c: Connection) -> dict[str, Any]:
    return {
        "name": c.name,
        "privateEndpointId": c.private_endpoint_id,
        "status": c.status,
        "description": c.description,
        "actionsRequired": c.actions_required,
        "provisioningState": c.provisioning_state,
        "groupIds": list(c.group_ids),
    }
