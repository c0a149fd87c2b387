"""Azure names and resource IDs: validation and parsing.

Everything a user types passes through here before it can reach an az argv. The rules are
Azure's own naming rules, made a little stricter where a value could be mistaken for an
option (a leading ``-``), and ASCII only: every pattern is compiled with ``re.ASCII``. Without
it ``[a-z]`` under ``re.IGNORECASE`` matches letters that Unicode case-folds to ASCII (U+017F
long s matches ``s``, U+212A Kelvin sign ``k``, U+0130 and U+0131 ``i``), and a word
character is any script's: names that look like one server and could reach az as another.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from azpe.errors import UsageError, shown

PROVIDER = "Microsoft.DBforPostgreSQL"
SERVER_TYPE = f"{PROVIDER}/flexibleServers"

_GUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
# Resource group: 1-90 of letters, digits, _ ( ) - . ; not ending in a period (nor, here,
# starting with a hyphen: it could pass for an option). Azure also allows non-ASCII letters
# here; azpe does not (see above).
_RG = r"(?!-)[\w().-]{0,89}[\w()-]"
# Flexible server: 3-63 of a-z 0-9 -, not starting or ending with a hyphen.
_SERVER = r"[a-z0-9](?:[a-z0-9-]{1,61})[a-z0-9]"
# Connection: "<private endpoint name>.<guid>" in practice: letters, digits, _ . -, starting
# with a letter or digit.
_CONNECTION = r"[^\W_](?:[\w.-]{0,158}\w)?"

_SERVER_ID = (
    rf"/subscriptions/(?P<sub>{_GUID})/resourceGroups/(?P<rg>{_RG})"
    rf"/providers/{PROVIDER}/flexibleServers/(?P<server>{_SERVER})"
)
_SERVER_ID_RE = re.compile(rf"{_SERVER_ID}/?", re.IGNORECASE | re.ASCII)
_CONNECTION_ID_RE = re.compile(
    rf"{_SERVER_ID}/privateEndpointConnections/(?P<name>{_CONNECTION})/?", re.IGNORECASE | re.ASCII
)
_RG_RE = re.compile(_RG, re.ASCII)
# As in IDs: Azure names are case-insensitive (ASCII case only).
_SERVER_RE = re.compile(_SERVER, re.IGNORECASE | re.ASCII)
_CONNECTION_RE = re.compile(_CONNECTION, re.ASCII)
_GUID_RE = re.compile(_GUID, re.ASCII)


@dataclass(frozen=True, order=True)
class ServerRef:
    """A flexible server. ``subscription`` is None when az's default subscription applies."""

    subscription: str | None
    resource_group: str
    name: str

    @property
    def key(self) -> tuple[str, str, str]:
        """Identity for de-duplication; Azure names are case-insensitive."""
        return ((self.subscription or "").lower(), self.resource_group.lower(), self.name.lower())


@dataclass(frozen=True, order=True)
class ConnectionRef:
    server: ServerRef
    name: str

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (*self.server.key, self.name.lower())


def server_id(subscription: str, resource_group: str, server: str) -> str:
    return f"/subscriptions/{subscription}/resourceGroups/{resource_group}/providers/{SERVER_TYPE}/{server}"


def connection_id(subscription: str, resource_group: str, server: str, name: str) -> str:
    return f"{server_id(subscription, resource_group, server)}/privateEndpointConnections/{name}"


def is_guid(value: str) -> bool:
    return _GUID_RE.fullmatch(value) is not None


_GUID_SUFFIX_RE = re.compile(rf"\.{_GUID}$", re.ASCII)


def endpoint_part(connection_name: str) -> str:
    """A connection name without its generated ``.<guid>`` suffix (the endpoint's name)."""
    return _GUID_SUFFIX_RE.sub("", connection_name)


def validate_resource_group(value: str) -> str:
    if not _RG_RE.fullmatch(value) or value.startswith("-"):
        raise UsageError(
            f"invalid resource group name {shown(value)}",
            code="InvalidResourceGroupName",
            hint="1-90 letters, digits, '_', '(', ')', '-', '.'; not ending in '.'.",
        )
    return value


def validate_server_name(value: str) -> str:
    if not _SERVER_RE.fullmatch(value):
        raise UsageError(
            f"invalid flexible server name {shown(value)}",
            code="InvalidServerName",
            hint="3-63 lowercase letters, digits and hyphens, not starting or ending with '-'.",
        )
    return value


def validate_connection_name(value: str) -> str:
    if not _CONNECTION_RE.fullmatch(value):
        raise UsageError(
            f"invalid private endpoint connection name {shown(value)}",
            code="InvalidConnectionName",
            hint="Connection names look like '<private-endpoint-name>.<guid>'; "
            "see 'azpe list' for the exact names.",
        )
    return value


def validate_subscription(value: str) -> str:
    """A subscription ID or display name, as az accepts both."""
    # A display name: printable, at most 128 characters, and no look of an option.
    printable_name = value.isprintable() and value == value.strip() and not value.startswith("-")
    if _GUID_RE.fullmatch(value) or (printable_name and 0 < len(value) <= 128):
        return value
    raise UsageError(f"invalid subscription {shown(value)}", code="InvalidSubscription")


def parse_connection_id(value: str) -> ConnectionRef:
    text = value.strip()
    match = _CONNECTION_ID_RE.fullmatch(text)
    if not match:
        raise UsageError(
            f"not a PostgreSQL flexible server private endpoint connection ID: {shown(value)}",
            code="InvalidConnectionId",
            hint="Expected /subscriptions/<guid>/resourceGroups/<rg>/providers/"
            "Microsoft.DBforPostgreSQL/flexibleServers/<server>/privateEndpointConnections/<name>",
        )
    server = ServerRef(match["sub"].lower(), match["rg"], match["server"])
    return ConnectionRef(server, match["name"])


def parse_server_id(value: str) -> ServerRef:
    text = value.strip()
    match = _SERVER_ID_RE.fullmatch(text)
    if not match:
        raise UsageError(
            f"not a PostgreSQL flexible server ID: {shown(value)}",
            code="InvalidServerId",
            hint="Expected /subscriptions/<guid>/resourceGroups/<rg>/providers/"
            "Microsoft.DBforPostgreSQL/flexibleServers/<server>",
        )
    return ServerRef(match["sub"].lower(), match["rg"], match["server"])


def split_resource_id(value: str) -> dict[str, str]:
    """Subscription, resource group and last name of any ARM ID (for display only)."""
    parts = value.strip("/").split("/")
    lowered = [p.lower() for p in parts]
    out: dict[str, str] = {}
    for key, label in (("subscriptions", "subscription"), ("resourcegroups", "resourceGroup")):
        if key in lowered and lowered.index(key) + 1 < len(parts):
            out[label] = parts[lowered.index(key) + 1]
    if len(parts) >= 2:
        out["name"] = parts[-1]
    return out
