"""Seed scenarios: the JSON format that ``Emulator.seed`` and ``POST /_sandbox/seed`` take,
builders for it, and the default scenario of the demo.

Format (every key but the names is optional; ``GET /_sandbox/state`` answers the same
format, so a state can be saved and seeded again)::

    {"subscriptions": [{
        "id": "00000000-0000-0000-0000-00000000aaaa", "displayName": "azpe-sandbox",
        "state": "Enabled",
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
subscriptions are visible to the emulator's service principal.
"""

from __future__ import annotations

import uuid
from typing import Any

from .state import AzureState, Connection, ResourceGroup, Server, Subscription

DEFAULT_SUBSCRIPTION = "00000000-0000-0000-0000-00000000aaaa"
DEFAULT_SUBSCRIPTION_NAME = "azpe-sandbox"
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
    """The demo: pg-orders (public access Disabled) and pg-reports (Enabled)."""
    own = {"subscription": DEFAULT_SUBSCRIPTION, "resource_group": "rg-app"}
    return scenario(
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
    return Subscription(
        id=str(d["id"]),
        display_name=str(d.get("displayName", d["id"])),
        state=str(d.get("state", "Enabled")),
        resource_groups={rg.name.lower(): rg for rg in rgs},
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
