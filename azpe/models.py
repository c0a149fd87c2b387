"""Records built from az's JSON, whichever of its two shapes az printed.

``az postgres flexible-server show`` flattens ``properties`` to the top (connections too);
``az network private-endpoint-connection ...`` prints the raw ARM body with ``properties``.
Both parse into the same frozen records; a wrong shape raises ``AzureError``.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from azpe.errors import AzureError, NotFound, UsageError
from azpe.ids import (
    ConnectionRef,
    ServerRef,
    endpoint_part,
    parse_connection_id,
    parse_server_id,
    split_resource_id,
)
from azpe.not_found import close_matches

log = logging.getLogger("azpe")

KNOWN_STATUSES = ("Pending", "Approved", "Rejected", "Disconnected")


def _props(raw: dict[str, Any]) -> dict[str, Any]:
    """The resource's properties, flattened or not."""
    nested = raw.get("properties")
    return nested if isinstance(nested, dict) else raw


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _str(value: Any) -> str | None:
    """A string field, or None when az printed null or something else there."""
    return value if isinstance(value, str) else None


def _strings(value: Any) -> tuple[str, ...]:
    return tuple(str(v) for v in value) if isinstance(value, list) else ()


def _require_object(raw: Any, what: str) -> dict[str, Any]:
    if not isinstance(raw, dict) or not isinstance(raw.get("id"), str):
        raise AzureError(f"az printed an unexpected {what}: no 'id' field", code="UnexpectedOutput")
    return raw


def _connection_ref(resource_id: str) -> ConnectionRef:
    try:
        return parse_connection_id(resource_id)
    except UsageError:
        raise AzureError(
            f"az printed a connection with an unexpected id {resource_id!r}",
            code="UnexpectedOutput",
        ) from None


def _server_ref(resource_id: str) -> ServerRef:
    try:
        return parse_server_id(resource_id)
    except UsageError:
        raise AzureError(
            f"az printed a server with an unexpected id {resource_id!r}", code="UnexpectedOutput"
        ) from None


@dataclass(frozen=True)
class Connection:
    id: str
    name: str
    subscription: str
    resource_group: str
    server: str
    status: str
    description: str | None
    actions_required: str | None
    provisioning_state: str | None
    private_endpoint_id: str | None
    group_ids: tuple[str, ...] = ()

    @classmethod
    def from_az(cls, raw: Any) -> Connection:
        obj = _require_object(raw, "private endpoint connection")
        ref = _connection_ref(obj["id"])
        props = _props(obj)
        state = _dict(props.get("privateLinkServiceConnectionState"))
        endpoint = _dict(props.get("privateEndpoint"))
        status = state.get("status")
        return cls(
            id=obj["id"],
            # The name from the validated ID, not az's `name` field: text chosen by whoever
            # created the endpoint must not become the write's --name argument.
            name=ref.name,
            subscription=ref.server.subscription or "",
            resource_group=ref.server.resource_group,
            server=ref.server.name,
            status=status if isinstance(status, str) and status else "Unknown",
            description=_str(state.get("description")),
            actions_required=_str(state.get("actionsRequired")),
            provisioning_state=_str(props.get("provisioningState")),
            private_endpoint_id=_str(endpoint.get("id")),
            group_ids=_strings(props.get("groupIds")),
        )

    @property
    def server_ref(self) -> ServerRef:
        return ServerRef(self.subscription, self.resource_group, self.server)

    @property
    def endpoint_name(self) -> str:
        """The private endpoint's name: from its ID, else the connection's name without its
        GUID suffix (names are generated as ``<endpoint>.<guid>``)."""
        return split_resource_id(self.private_endpoint_id or "").get("name") or endpoint_part(self.name)

    @property
    def endpoint_subscription(self) -> str | None:
        return split_resource_id(self.private_endpoint_id or "").get("subscription")

    def to_record(self) -> dict[str, Any]:
        endpoint = split_resource_id(self.private_endpoint_id or "")
        return {
            "id": self.id,
            "name": self.name,
            "subscription": self.subscription,
            "resourceGroup": self.resource_group,
            "server": self.server,
            "status": self.status,
            "description": self.description,
            "actionsRequired": self.actions_required,
            "provisioningState": self.provisioning_state,
            "privateEndpointId": self.private_endpoint_id,
            "privateEndpointSubscription": endpoint.get("subscription"),
            "privateEndpointResourceGroup": endpoint.get("resourceGroup"),
            "groupIds": list(self.group_ids),
        }


def _parsable(raw_connections: list[Any], server_id: str) -> list[Connection]:
    """The server's connections; one azpe cannot parse is reported and left out, so that it
    does not block work on the others."""
    out = []
    for raw in raw_connections:
        try:
            out.append(Connection.from_az(raw))
        except AzureError as exc:
            log.warning("ignoring a connection of %s: %s", server_id.rsplit("/", 1)[-1], exc.message)
    return out


@dataclass(frozen=True)
class Server:
    id: str
    name: str
    subscription: str
    resource_group: str
    state: str
    public_network_access: str | None
    connections: tuple[Connection, ...] = field(default=())

    @classmethod
    def from_az(cls, raw: Any) -> Server:
        obj = _require_object(raw, "flexible server")
        ref = _server_ref(obj["id"])
        props = _props(obj)
        network = _dict(props.get("network"))
        raw_connections = props.get("privateEndpointConnections") or []
        if not isinstance(raw_connections, list):
            raise AzureError("az printed unexpected privateEndpointConnections", code="UnexpectedOutput")
        state = props.get("state")
        return cls(
            id=obj["id"],
            name=_str(obj.get("name")) or ref.name,
            subscription=ref.subscription or "",
            resource_group=ref.resource_group,
            state=state if isinstance(state, str) and state else "Unknown",
            public_network_access=_str(network.get("publicNetworkAccess")),
            connections=tuple(_parsable(raw_connections, obj["id"])),
        )

    @property
    def ref(self) -> ServerRef:
        return ServerRef(self.subscription, self.resource_group, self.name)

    @property
    def ready(self) -> bool:
        return self.state.lower() == "ready"

    def missing(self, name: str) -> NotFound:
        """The error for a connection this server does not have, with the names it likely meant."""
        listing = f"azpe list -g {self.resource_group} -s {self.name}"
        matches = close_matches(name, (c.name for c in self.connections))
        if not self.connections:
            hint = f"The server has no private endpoint connections ({listing})."
        elif matches:
            hint = f"Did you mean {' or '.join(repr(m) for m in matches)}? List them with: {listing}"
        else:
            hint = f"List them with: {listing}"
        return NotFound(f"server {self.name} has no private endpoint connection {name!r}", hint=hint)

    def connection(self, name: str) -> Connection | None:
        wanted = name.lower()
        return next((c for c in self.connections if c.name.lower() == wanted), None)

    def find(self, name: str) -> Connection | None:
        """The connection named ``name``; else, for a private endpoint's name given without
        the generated GUID suffix, that endpoint's one connection here. A name that fits
        several connections is a usage error naming them: azpe never picks one."""
        exact = self.connection(name)
        if exact is not None or endpoint_part(name) != name:
            return exact
        wanted = name.lower()
        matches = [c.name for c in self.connections if endpoint_part(c.name).lower() == wanted]
        if len(matches) > 1:
            raise UsageError(
                f"{name!r} fits {len(matches)} connections on server {self.name}: {', '.join(matches)}",
                code="AmbiguousName",
                hint="Give the connection's full name (with its GUID suffix).",
            )
        return self.connection(matches[0]) if matches else None

    def to_record(self) -> dict[str, Any]:
        counts = Counter(c.status for c in self.connections)
        return {
            "id": self.id,
            "name": self.name,
            "subscription": self.subscription,
            "resourceGroup": self.resource_group,
            "state": self.state,
            "publicNetworkAccess": self.public_network_access,
            "connections": {s: counts.get(s, 0) for s in ("Pending", "Approved", "Rejected")}
            | {s: n for s, n in sorted(counts.items()) if s not in ("Pending", "Approved", "Rejected")},
        }
