"""ARM JSON shapes of the emulated resources, as the real service returns them (not the
flattened form that ``az postgres`` prints)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .state import SERVER_TYPE, Connection, Operation, Server, Subscription

PROVIDER = "Microsoft.DBforPostgreSQL"
CONNECTION_TYPE = f"{SERVER_TYPE}/privateEndpointConnections"


@dataclass
class Reply:
    """One HTTP answer. ``body`` is JSON-encoded unless it is bytes."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


def arm_error(status: int, code: str, message: str, **headers: str) -> Reply:
    return Reply(status, error_body(code, message), dict(headers))


def error_body(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}


def subscription_json(sub: Subscription) -> dict[str, Any]:
    return {
        "id": f"/subscriptions/{sub.id}",
        "authorizationSource": "RoleBased",
        "managedByTenants": [],
        "subscriptionId": sub.id,
        "tenantId": sub.tenant_id,
        "displayName": sub.display_name,
        "state": sub.state,
        "subscriptionPolicies": {
            "locationPlacementId": "Public_2014-09-01",
            "quotaId": "PayAsYouGo_2014-09-01",
            "spendingLimit": "Off",
        },
    }


def server_id(sub: str, rg: str, name: str) -> str:
    return f"/subscriptions/{sub}/resourceGroups/{rg}/providers/{SERVER_TYPE}/{name}"


def connection_json(sub: str, rg: str, srv: Server, conn: Connection) -> dict[str, Any]:
    link_state: dict[str, Any] = {"status": conn.status}
    if conn.description is not None:
        # A Pending connection from a manual request has no description key at all.
        link_state["description"] = conn.description
    link_state["actionsRequired"] = conn.actions_required
    return {
        "id": f"{server_id(sub, rg, srv.name)}/privateEndpointConnections/{conn.name}",
        "name": conn.name,
        "type": CONNECTION_TYPE,
        "properties": {
            "groupIds": list(conn.group_ids),
            "privateEndpoint": {"id": conn.private_endpoint_id},
            "privateLinkServiceConnectionState": link_state,
            "provisioningState": conn.provisioning_state,
        },
    }


def server_json(sub: str, rg: str, srv: Server) -> dict[str, Any]:
    connections = []
    for conn in srv.connections.values():
        item = connection_json(sub, rg, srv, conn)
        if not srv.embed_connection_names:
            # Some service versions list embedded connections by id only.
            del item["name"], item["type"]
        connections.append(item)
    return {
        "sku": {"name": "Standard_D2ds_v5", "tier": "GeneralPurpose"},
        "systemData": {
            "createdAt": "2025-01-15T09:30:00.0000000Z",
        },
        "properties": {
            "replica": {"role": "Primary", "capacity": 5},
            "storage": {
                "iops": 500,
                "tier": "P10",
                "storageSizeGB": 128,
                "autoGrow": "Disabled",
                "type": "",
            },
            "authConfig": {"activeDirectoryAuth": "Disabled", "passwordAuth": "Enabled"},
            "dataEncryption": {"type": "SystemManaged"},
            "fullyQualifiedDomainName": f"{srv.name}.postgres.database.azure.com",
            "version": srv.version,
            "minorVersion": "8",
            "administratorLogin": "pgadmin",
            "state": srv.visible_state,
            "availabilityZone": "1",
            "backup": {"backupRetentionDays": 7, "geoRedundantBackup": "Disabled"},
            "network": {"publicNetworkAccess": srv.public_network_access},
            "highAvailability": {"mode": "Disabled"},
            "maintenanceWindow": {
                "customWindow": "Disabled",
                "dayOfWeek": 0,
                "startHour": 0,
                "startMinute": 0,
            },
            "replicationRole": "Primary",
            "replicaCapacity": 5,
            "privateEndpointConnections": connections,
        },
        "location": srv.location,
        "tags": {},
        "id": server_id(sub, rg, srv.name),
        "name": srv.name,
        "type": SERVER_TYPE,
    }


# The name the service gives a connection write in its 202 answer, by kind.
OPERATION_NAMES = {
    "put": "UpsertPrivateEndpointConnectionManagementOperation",
    "delete": "DropPrivateEndpointConnectionManagementOperation",
}


def accepted_json(op: Operation) -> dict[str, Any]:
    """The body of the 202 that accepts a connection PUT or DELETE."""
    return {"operation": OPERATION_NAMES[op.kind], "startTime": op.start_time}


def operation_json(op: Operation) -> dict[str, Any]:
    """An operation status: no ``endTime``, even when finished (as recorded)."""
    body: dict[str, Any] = {"name": op.id, "status": op.status, "startTime": op.start_time}
    if op.status == "Failed" and op.error is not None:
        body["error"] = dict(op.error)
    return body


def private_link_resources_json(sub: str, rg: str, srv: Server) -> dict[str, Any]:
    return {
        "value": [
            {
                "id": f"{server_id(sub, rg, srv.name)}/privateLinkResources/postgresqlServer",
                "name": "postgresqlServer",
                "type": f"{SERVER_TYPE}/privateLinkResources",
                "properties": {
                    "groupId": "postgresqlServer",
                    "requiredMembers": ["postgresqlServer"],
                    "requiredZoneNames": ["privatelink.postgres.database.azure.com"],
                },
            }
        ]
    }
