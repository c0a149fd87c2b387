"""The emulator's model of Azure: subscriptions, resource groups, flexible servers and
their private endpoint connections, plus the long-running writes on connections.

Everything is guarded by one re-entrant lock (``AzureState.lock``); callers that read
several objects for one answer hold it across the reads. Time moves lazily: every public
method first completes what is due (finished operations, servers whose ``readyAfter`` has
passed), so no background thread is needed and a fake clock makes tests instant.

A connection write lasts ``op_seconds`` and keeps its server busy that long. When its effect
becomes visible depends on the timing model (``AzureState.timing``, see ``TIMING_MODELS``):
at the end of the operation (``"at-end"``) or as soon as it is accepted (``"at-once"``).

Names are case-insensitive, as in ARM: objects are keyed by their lower-cased name and keep
the spelling they were seeded with.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone

DEFAULT_TENANT_ID = "72f988bf-0000-4000-8000-00000000beef"
GROUP_ID = "postgresqlServer"
TERMINAL_OK = "Succeeded"

# When a connection write's effect shows; either way the server is busy until the end.
TIMING_MODELS = {
    "at-end": "the connection reads Updating/Deleting with its old status until the "
    "operation ends, then shows the new status (or is gone)",
    "at-once": "the connection shows its new status at once (a deleted one is gone at once); "
    "the server stays Updating and busy until the operation ends",
}
DEFAULT_TIMING = "at-end"

# ARM's subscription states. Only Disabled changes what the emulator answers: a disabled
# subscription is read-only (writes get 409 ReadOnlyDisabledSubscription).
SUBSCRIPTION_STATES = ("Enabled", "Warned", "PastDue", "Disabled", "Deleted")
# What the login may do in a subscription it is listed on: "full", or "none" (every request
# under the subscription gets 403 AuthorizationFailed).
ACCESS_LEVELS = ("full", "none")


def check_timing(model: str) -> str:
    """``model`` if it names a timing model, else ValueError listing the models."""
    if model not in TIMING_MODELS:
        raise ValueError(f"unknown timing model {model!r}: use one of {', '.join(TIMING_MODELS)}")
    return model


def check_op_seconds(value: float) -> float:
    """``value`` as a float if it is a duration (a number >= 0), else ValueError."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
        raise ValueError(f"op_seconds must be a number >= 0, not {value!r}")
    return float(value)


class ArmError(Exception):
    """An error the emulator answers with: HTTP status plus ARM ``code`` and ``message``."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message


def utc_now() -> str:
    """Now as ARM writes it, e.g. ``2026-04-16T21:37:57.237Z``."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class Connection:
    name: str
    private_endpoint_id: str
    status: str = "Pending"
    description: str | None = None  # None: the key is absent (a manual request's Pending)
    actions_required: str = "None"
    provisioning_state: str = TERMINAL_OK
    group_ids: list[str] = field(default_factory=lambda: [GROUP_ID])


@dataclass
class Operation:
    """One asynchronous write (PUT or DELETE) on a connection."""

    id: str
    kind: str  # "put" or "delete"
    subscription: str
    resource_group: str
    server: Server
    connection: str  # lower-cased connection name
    target_status: str | None
    target_description: str | None
    ends: float  # clock value at which the operation completes
    start_time: str = field(default_factory=utc_now)
    status: str = "InProgress"
    # Decided when the write is accepted, reported when the operation ends.
    error: dict[str, str] | None = None
    applied: bool = False  # the effect is visible already (the "at-once" model)


@dataclass
class Server:
    name: str
    location: str = "westeurope"
    state: str = "Ready"
    public_network_access: str = "Disabled"
    version: str = "16"
    connections: dict[str, Connection] = field(default_factory=dict)
    ready_at: float | None = None  # clock value at which ``state`` becomes Ready
    operation: Operation | None = None  # the running write, which makes the server busy
    embed_connection_names: bool = True  # False: server GET lists connections by id only

    @property
    def visible_state(self) -> str:
        # A connection write is a server update in the service: the server shows Updating.
        return "Updating" if self.operation is not None else self.state


@dataclass
class ResourceGroup:
    name: str
    location: str = "westeurope"
    servers: dict[str, Server] = field(default_factory=dict)


@dataclass
class Subscription:
    id: str
    display_name: str
    tenant_id: str = DEFAULT_TENANT_ID
    state: str = "Enabled"
    resource_groups: dict[str, ResourceGroup] = field(default_factory=dict)
    access: str = "full"  # one of ACCESS_LEVELS

    @property
    def read_only(self) -> bool:
        return self.state == "Disabled"


def not_found(resource_type: str, name: str, rg: str) -> ArmError:
    return ArmError(
        404,
        "ResourceNotFound",
        f"The Resource '{resource_type}/{name}' under resource group '{rg}' was not found. "
        "For more details please go to https://aka.ms/ARMResourceNotFoundFix",
    )


SERVER_TYPE = "Microsoft.DBforPostgreSQL/flexibleServers"

# Why approving a Rejected (or Disconnected) connection fails: the service accepts the PUT
# and fails the asynchronous operation with an error that looks transient (see README).
CANNOT_APPROVE = {
    "code": "InternalServerError",
    "message": "An unexpected error occured while processing the request. "
    "A rejected or disconnected private endpoint connection cannot be approved; "
    "recreate the private endpoint instead.",
}


class AzureState:
    def __init__(
        self,
        op_seconds: float = 2.0,
        timing: str = DEFAULT_TIMING,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.lock = threading.RLock()
        self.op_seconds = check_op_seconds(op_seconds)
        self._timing = check_timing(timing)
        self.clock = clock
        self.tenant_id = DEFAULT_TENANT_ID
        self.subs: dict[str, Subscription] = {}
        self.operations: dict[str, Operation] = {}

    @property
    def timing(self) -> str:
        """The timing model of new writes (``TIMING_MODELS``); a running one keeps its own."""
        return self._timing

    @timing.setter
    def timing(self, model: str) -> None:
        with self.lock:
            self._timing = check_timing(model)

    def configure(self, op_seconds: float | None = None, timing: str | None = None) -> None:
        """Change the duration and/or the timing model of writes started from now on; checks
        both before changing either."""
        seconds = None if op_seconds is None else check_op_seconds(op_seconds)
        model = None if timing is None else check_timing(timing)
        with self.lock:
            if seconds is not None:
                self.op_seconds = seconds
            if model is not None:
                self._timing = model

    # -- time -----------------------------------------------------------------------------
    def advance(self) -> None:
        """Complete every operation that is due and every server whose wait is over."""
        with self.lock:
            now = self.clock()
            for op in self.operations.values():
                if op.status == "InProgress" and op.ends <= now:
                    self._finish(op)
            for sub in self.subs.values():
                for rg in sub.resource_groups.values():
                    for srv in rg.servers.values():
                        if srv.ready_at is not None and srv.ready_at <= now:
                            srv.state, srv.ready_at = "Ready", None

    def _finish(self, op: Operation) -> None:
        op.server.operation = None
        if op.error is not None:
            op.status = "Failed"
            conn = op.server.connections.get(op.connection)
            if conn is not None:
                # The update was never applied: the connection keeps its status and is
                # again in a stable provisioning state.
                conn.provisioning_state = TERMINAL_OK
            return
        op.status = TERMINAL_OK
        if not op.applied:
            self._apply(op)

    def _apply(self, op: Operation) -> None:
        """Make a successful write's effect visible (at its end, or at once)."""
        op.applied = True
        srv = op.server
        conn = srv.connections.get(op.connection)
        if conn is None:
            return
        if op.kind == "delete":
            del srv.connections[op.connection]
            return
        conn.status = op.target_status or conn.status
        conn.description = op.target_description
        conn.provisioning_state = TERMINAL_OK

    # -- lookups --------------------------------------------------------------------------
    def subscription(self, sub_id: str) -> Subscription:
        with self.lock:
            self.advance()
            sub = self.subs.get(sub_id.lower())
            if sub is None:
                raise ArmError(
                    404, "SubscriptionNotFound", f"The subscription '{sub_id}' could not be found."
                )
            return sub

    def resource_group(self, sub_id: str, rg_name: str) -> ResourceGroup:
        with self.lock:
            rg = self.subscription(sub_id).resource_groups.get(rg_name.lower())
            if rg is None:
                raise ArmError(
                    404, "ResourceGroupNotFound", f"Resource group '{rg_name}' could not be found."
                )
            return rg

    def server(self, sub_id: str, rg_name: str, name: str) -> Server:
        with self.lock:
            srv = self.resource_group(sub_id, rg_name).servers.get(name.lower())
            if srv is None:
                raise not_found(SERVER_TYPE, name, rg_name)
            return srv

    def connection(self, sub_id: str, rg_name: str, server: str, name: str) -> Connection:
        with self.lock:
            conn = self.server(sub_id, rg_name, server).connections.get(name.lower())
            if conn is None:
                raise not_found(f"{SERVER_TYPE}/{server}/privateEndpointConnections", name, rg_name)
            return conn

    def operation(self, op_id: str) -> Operation:
        with self.lock:
            self.advance()
            op = self.operations.get(op_id.lower())
            if op is None:
                raise ArmError(404, "OperationNotFound", f"Operation '{op_id}' was not found.")
            return op

    # -- writes ---------------------------------------------------------------------------
    def begin_write(
        self,
        sub_id: str,
        rg_name: str,
        server: str,
        name: str,
        target_status: str | None,
        description: str | None = None,
    ) -> Operation | None:
        """Start a PUT (``target_status`` set) or DELETE (``None``) on a connection.

        Returns None for a DELETE of a connection that does not exist (ARM answers 204).
        """
        with self.lock:
            srv = self.server(sub_id, rg_name, server)
            conn = srv.connections.get(name.lower())
            if conn is None and target_status is not None:
                self.connection(sub_id, rg_name, server, name)  # raises the 404
            if srv.operation is not None:
                raise ArmError(
                    409,
                    "ServerIsBusy",
                    f"Server '{srv.name}' is busy with another operation. "
                    "Please try your operation after some time.",
                )
            if conn is None:
                return None
            if srv.state != "Ready":
                raise ArmError(
                    409,
                    "ServerIsNotReady",
                    f"Server '{srv.name}' is not ready for the operation. Current state: '{srv.state}'.",
                )
            error = None
            if target_status == "Approved" and conn.status in ("Rejected", "Disconnected"):
                error = dict(CANNOT_APPROVE)
            op = Operation(
                id=str(uuid.uuid4()),
                kind="delete" if target_status is None else "put",
                subscription=sub_id,
                resource_group=rg_name,
                server=srv,
                connection=name.lower(),
                target_status=target_status,
                target_description=description,
                ends=self.clock() + self.op_seconds,
                error=error,
            )
            srv.operation = op
            self.operations[op.id] = op
            if self.op_seconds <= 0:
                self._finish(op)
            elif self._timing == "at-once":
                # The outcome shows at once: the new status, the deletion, or (for a write
                # that will fail) the connection as it was.
                if error is None:
                    self._apply(op)
            else:
                conn.provisioning_state = "Deleting" if target_status is None else "Updating"
            return op

    def set_server_state(
        self, sub_id: str, rg_name: str, server: str, state: str, ready_after: float | None = None
    ) -> None:
        with self.lock:
            srv = self.server(sub_id, rg_name, server)
            srv.state = state
            srv.ready_at = None if ready_after is None else self.clock() + ready_after
