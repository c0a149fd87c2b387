"""What one target needs now, from a read of its server: the one decision that planning makes
before the writes and the write engine makes again after every wait and every write."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from azpe.client import Action
from azpe.errors import AzpeError, AzureError, SafetyRefusal
from azpe.models import Connection, Server

# Statuses from which each action is allowed (the portal's rules).
ALLOWED_FROM = {
    Action.REJECT: ("Pending", "Approved"),
    Action.APPROVE: ("Pending",),
}
# provisioningState values of a connection that no operation is changing. A Failed one is
# settled too: an operation ended on it, and waiting will not change it.
SETTLED_STATES = ("succeeded", "ready", "failed", "canceled", "cancelled")
# Server states of a server running an operation: wait for it (other states follow --wait-ready).
BUSY_STATES = ("updating",)


class Need(str, Enum):
    NOTHING = "nothing"  # it holds the wanted state, settled
    WRITE = "write"  # the write can run now
    BUSY = "busy"  # an operation runs on the connection or its server: wait, then look again
    NOT_READY = "not-ready"  # the server is not Ready, and not because of an operation
    CANNOT = "cannot"  # the write cannot work (gone, or refused in its status)


@dataclass(frozen=True)
class Assessment:
    need: Need
    connection: Connection | None
    error: AzpeError | None = None  # why, for CANNOT


def settled(connection: Connection) -> bool:
    return (connection.provisioning_state or "succeeded").lower() in SETTLED_STATES


def failed_provisioning(connection: Connection) -> bool:
    return (connection.provisioning_state or "").lower() == "failed"


def holds(action: Action, connection: Connection | None) -> bool:
    """Whether ``connection`` (None: absent) is in the state ``action`` wants, and settled."""
    wanted = action.wanted_status
    if wanted is None:
        return connection is None
    return connection is not None and connection.status == wanted and settled(connection)


def assess(action: Action, server: Server, name: str, *, guard: bool = False) -> Assessment:
    """``guard``: also refuse a write that would remove the server's last Approved connection
    (the engine's check on a fresh read; planning applies the guard to all targets at once)."""
    connection = server.connection(name)
    if holds(action, connection):
        return Assessment(Need.NOTHING, connection)
    if connection is None:
        return Assessment(Need.CANNOT, None, server.missing(name))
    refusal = refusal_for(action, connection)
    if refusal is None and guard:
        refusal = lockout_refusal(action, server, {connection.name})
    if refusal is not None:
        return Assessment(Need.CANNOT, connection, refusal)
    if not settled(connection) or server.state.lower() in BUSY_STATES:
        return Assessment(Need.BUSY, connection)
    if not server.ready:
        return Assessment(Need.NOT_READY, connection)
    return Assessment(Need.WRITE, connection)


def refusal_for(action: Action, connection: Connection) -> AzpeError | None:
    """Why ``action`` cannot work on ``connection`` in its status (None: it can)."""
    allowed = ALLOWED_FROM.get(action)
    if allowed is None or connection.status in allowed or connection.status == action.wanted_status:
        return None
    if action is Action.APPROVE and connection.status == "Rejected":
        return AzureError(
            f"{connection.name} is Rejected, and a rejected connection cannot be approved",
            code="RejectedIsFinal",
            hint="Ask the endpoint's owner to delete and re-create the private endpoint, "
            "then approve the new connection.",
        )
    return AzureError(
        f"cannot {action.value} {connection.name}: its status is {connection.status}",
        code="InvalidStatus",
        hint=f"{action.value} works on connections in status {' or '.join(allowed)}.",
    )


def lockout_refusal(action: Action, server: Server, removed: set[str]) -> SafetyRefusal | None:
    """The lock-out guard: removing the connections named ``removed`` would leave ``server``
    without an Approved connection while its public network access is not known to be
    Enabled (Disabled, or az did not say: the careful reading) - every client cut off. An
    Approved connection that an operation is changing is not counted as one that stays."""
    if not action.removes_access or (server.public_network_access or "").lower() == "enabled":
        return None
    gone = {name.lower() for name in removed}
    approved = [c for c in server.connections if c.status == "Approved"]
    if not any(c.name.lower() in gone for c in approved):
        return None
    if any(c.name.lower() not in gone and settled(c) for c in approved):
        return None
    names = ", ".join(sorted(c.name for c in approved))
    return SafetyRefusal(
        f"{action.value} would remove the last Approved private endpoint connection(s) "
        f"of server {server.name} ({names}), and its public network access is "
        f"{server.public_network_access or 'unknown'}: every client would be cut off from the database",
        code="LockOutGuard",
        hint="Approve another connection or enable public access first, or pass --force to do it anyway.",
    )
