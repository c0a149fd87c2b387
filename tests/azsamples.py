"""az outputs for unit tests, in the shapes real az 2.91.0 prints (az-reference.md).

``server_json`` is what ``az postgres flexible-server show`` prints (properties flattened,
connections flattened too); ``connection_raw`` is what ``az network private-endpoint-connection``
prints (raw ARM body with ``properties`` plus ``resourceGroup``). Each builder has the keys,
nesting and value types of the real az output recorded in tests/data/ (values differ, and a
value may be null where az prints null for a field Azure left out): test_recorded.py checks it.
"""

from __future__ import annotations

import json
from typing import Any

SUB = "00000000-0000-0000-0000-00000000aaaa"
FOREIGN_SUB = "99999999-9999-9999-9999-999999999999"
RG = "rg-data"
SERVER = "pg-orders"
PROVIDER = "providers/Microsoft.DBforPostgreSQL/flexibleServers"


def server_id(server: str = SERVER, rg: str = RG, sub: str = SUB) -> str:
    return f"/subscriptions/{sub}/resourceGroups/{rg}/{PROVIDER}/{server}"


def connection_id(name: str, server: str = SERVER, rg: str = RG, sub: str = SUB) -> str:
    return f"{server_id(server, rg, sub)}/privateEndpointConnections/{name}"


def endpoint_id(name: str, sub: str = FOREIGN_SUB, rg: str = "rg-apps") -> str:
    network = "providers/Microsoft.Network/privateEndpoints"
    return f"/subscriptions/{sub}/resourceGroups/{rg}/{network}/{name}"


def conn(
    name: str,
    status: str = "Pending",
    *,
    server: str = SERVER,
    state: str = "Succeeded",
    description: str | None = None,
) -> dict[str, Any]:
    """A connection as flattened inside ``flexible-server show``."""
    return {
        "id": connection_id(name, server),
        "name": name,
        "type": "Microsoft.DBforPostgreSQL/flexibleServers/privateEndpointConnections",
        "groupIds": ["postgresqlServer"],
        "privateEndpoint": {"id": endpoint_id(name.split(".")[0]), "resourceGroup": "rg-apps"},
        "privateLinkServiceConnectionState": {
            "status": status,
            "description": description,
            "actionsRequired": "None",
        },
        "provisioningState": state,
        "resourceGroup": RG,
        "systemData": None,
    }


def connection_raw(
    name: str, status: str = "Rejected", *, server: str = SERVER, description: str | None = None
) -> dict[str, Any]:
    """A connection as ``az network private-endpoint-connection show|reject`` prints it."""
    flat = conn(name, status, server=server, description=description)
    del flat["systemData"]  # az prints it only inside a server
    props = {
        k: flat.pop(k)
        for k in ("groupIds", "privateEndpoint", "privateLinkServiceConnectionState", "provisioningState")
    }
    return {**flat, "properties": props}


def server_json(
    connections: list[dict[str, Any]],
    *,
    server: str = SERVER,
    state: str = "Ready",
    public: str | None = "Disabled",
    rg: str = RG,
) -> dict[str, Any]:
    return {
        "id": server_id(server, rg),
        "name": server,
        "location": "westeurope",
        "resourceGroup": rg,
        "type": "Microsoft.DBforPostgreSQL/flexibleServers",
        "state": state,
        "version": "16",
        "minorVersion": "8",
        "network": {
            "publicNetworkAccess": public,
            "delegatedSubnetResourceId": None,
            "privateDnsZoneArmResourceId": None,
        },
        "privateEndpointConnections": connections,
        "tags": None,
        **SERVER_DETAILS,
    }


# What else az prints of a server (azpe reads none of it), as az 2.91.0 prints it.
SERVER_DETAILS: dict[str, Any] = {
    "administratorLogin": "pgadmin",
    "administratorLoginPassword": None,
    "authConfig": {"activeDirectoryAuth": "Disabled", "passwordAuth": "Enabled", "tenantId": None},
    "availabilityZone": "1",
    "backup": {"backupRetentionDays": 7, "earliestRestoreDate": None, "geoRedundantBackup": "Disabled"},
    "cluster": None,
    "createMode": None,
    "dataEncryption": {
        "geoBackupEncryptionKeyStatus": None,
        "geoBackupFederatedIdentityClientId": None,
        "geoBackupKeyUri": None,
        "geoBackupUserAssignedIdentityId": None,
        "primaryEncryptionKeyStatus": None,
        "primaryFederatedIdentityClientId": None,
        "primaryKeyUri": None,
        "primaryUserAssignedIdentityId": None,
        "type": "SystemManaged",
    },
    "fullyQualifiedDomainName": "pg-orders.postgres.database.azure.com",
    "highAvailability": {"mode": "Disabled", "standbyAvailabilityZone": None, "state": None},
    "identity": None,
    "maintenanceWindow": {"customWindow": "Disabled", "dayOfWeek": 0, "startHour": 0, "startMinute": 0},
    "pointInTimeUtc": None,
    "replica": {
        "capacity": 5,
        "promoteMode": None,
        "promoteOption": None,
        "replicationState": None,
        "role": "Primary",
    },
    "replicaCapacity": 5,
    "replicationRole": "Primary",
    "sku": {"name": "Standard_D2ds_v5", "tier": "GeneralPurpose"},
    "sourceServerResourceId": None,
    "storage": {
        "autoGrow": "Disabled",
        "iops": 500,
        "storageSizeGb": 128,
        "throughput": None,
        "tier": "P10",
        "type": "",
    },
    "systemData": {
        "createdAt": "2025-01-15T09:30:00+00:00",
        "createdBy": None,
        "createdByType": None,
        "lastModifiedAt": None,
        "lastModifiedBy": None,
        "lastModifiedByType": None,
    },
}


def dumps(obj: Any) -> str:
    return json.dumps(obj, indent=2) + "\n"


def network_error(reason: str, code: str, message: str) -> str:
    body = json.dumps({"error": {"code": code, "message": message}})
    return f"ERROR: {reason}({body})\n"


def sdk_error(code: str, message: str) -> str:
    return f"ERROR: ({code}) {message}\nCode: {code}\nMessage: {message}\n"
