"""The result a write command prints for each target."""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import Enum
from typing import Any

from azpe.errors import AzpeError, ExitCode
from azpe.ids import ConnectionRef, connection_id, is_guid
from azpe.models import Connection


class Outcome(str, Enum):
    REJECTED = "rejected"
    APPROVED = "approved"
    DELETED = "deleted"
    UNCHANGED = "unchanged"
    PLANNED = "planned"
    FAILED = "failed"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class TargetResult:
    target: ConnectionRef
    outcome: Outcome
    connection: Connection | None = None
    previous_status: str | None = None
    attempts: int = 0
    waited: float = 0.0  # seconds spent waiting for operations on the server
    error: AzpeError | None = None
    command: tuple[str, ...] | None = None

    @property
    def exit_code(self) -> ExitCode:
        if self.outcome in (Outcome.FAILED, Outcome.SKIPPED) and self.error is not None:
            return self.error.exit_code
        return ExitCode.OK

    def with_(self, **changes: Any) -> TargetResult:
        return replace(self, **changes)

    def to_record(self) -> dict[str, Any]:
        if self.connection is not None:
            record = self.connection.to_record()
        else:
            record = _record_from_ref(self.target)
        if self.outcome is Outcome.DELETED:
            record["status"] = None  # it no longer exists
        record["action"] = self.outcome.value
        record["previousStatus"] = self.previous_status
        record["attempts"] = self.attempts
        record["waitedSeconds"] = round(self.waited, 1)
        record["error"] = self.error.as_record() if self.error else None
        if self.command is not None:
            record["command"] = list(self.command)
        return record


def _record_from_ref(ref: ConnectionRef) -> dict[str, Any]:
    """What is known of a connection that could not be read (server or connection missing)."""
    sub = ref.server.subscription
    # Only a subscription ID makes a valid connection ID (--subscription may be a name).
    server = ref.server
    full_id = (
        connection_id(sub, server.resource_group, server.name, ref.name) if sub and is_guid(sub) else None
    )
    return {
        "id": full_id,
        "name": ref.name,
        "subscription": sub,
        "resourceGroup": ref.server.resource_group,
        "server": ref.server.name,
        "status": None,
        "description": None,
        "actionsRequired": None,
        "provisioningState": None,
        "privateEndpointId": None,
        "privateEndpointSubscription": None,
        "privateEndpointResourceGroup": None,
        "groupIds": [],
    }
