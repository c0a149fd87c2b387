"""The az commands azpe runs, as argv lists, and their outputs as records.

Reads use ``az postgres flexible-server show|list``: one call returns the server's state,
``publicNetworkAccess`` and every private endpoint connection (flattened), so a server costs
one read. Writes use ``az network private-endpoint-connection reject|approve|delete`` in the
``-g --resource-name --type -n`` form of the Azure docs; ``--only-show-errors`` hides the
harmless "Resource ID will be ignored" warning that form prints.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from enum import Enum
from typing import Any

from azpe.accounts import Account, parse_accounts
from azpe.az import AzRunner
from azpe.errors import AzureError
from azpe.ids import SERVER_TYPE, ConnectionRef, ServerRef
from azpe.models import Connection, Server


class Action(str, Enum):
    REJECT = "reject"
    APPROVE = "approve"
    DELETE = "delete"

    @property
    def wanted_status(self) -> str | None:
        """The status the connection must show afterwards; None means: gone."""
        return {"reject": "Rejected", "approve": "Approved", "delete": None}[self.value]

    @property
    def removes_access(self) -> bool:
        """Whether it can take an Approved connection away (the lock-out guard's concern)."""
        return self in (Action.REJECT, Action.DELETE)

    @property
    def done_word(self) -> str:
        return {"reject": "rejected", "approve": "approved", "delete": "deleted"}[self.value]


class AzClient:
    def __init__(self, runner: AzRunner, *, subscription: str | None, write_timeout: float) -> None:
        self.runner = runner
        self.subscription = subscription
        self.write_timeout = write_timeout
        self._accounts: dict[bool, list[Account]] = {}  # az's profile does not change in a run
        self._accounts_lock = threading.Lock()

    @property
    def unreachable(self) -> AzureError | None:
        """Why az calls are no longer made (Azure could not be reached), if so."""
        return self.runner.unreachable

    def kill_running(self) -> int:
        """Stop every az call still running (Ctrl-C after the grace); returns how many."""
        return self.runner.kill_running()

    def _scope(self, subscription: str | None) -> list[str]:
        chosen = subscription or self.subscription
        return ["--subscription", chosen] if chosen else []

    def show_server(self, ref: ServerRef) -> Server:
        args = [
            "postgres", "flexible-server", "show",
            "--resource-group", ref.resource_group,
            "--name", ref.name,
            *self._scope(ref.subscription),
            "--only-show-errors",
        ]  # fmt: skip
        return Server.from_az(self.runner.run_json(args))

    def show_account(self) -> dict[str, Any]:
        """The signed-in identity (for the audit log): ``az account show``'s ``user``."""
        raw = self.runner.run_json(["account", "show", *self._scope(None), "--only-show-errors"])
        user = raw.get("user") if isinstance(raw, dict) else None
        if not isinstance(user, dict):
            raise AzureError("az account show printed no user", code="UnexpectedOutput")
        return {"name": user.get("name"), "type": user.get("type"), "tenantId": raw.get("tenantId")}

    def list_accounts(self, *, every: bool) -> list[Account]:
        """The login's subscriptions from az's profile (no request to Azure): Enabled ones of
        the current cloud, or with ``every`` all of them (``--all``). Read once per run: the
        scope (``--all-subscriptions``) and whose endpoints (``--owner``, tables) both ask."""
        with self._accounts_lock:
            if every not in self._accounts:
                args = ["account", "list", *(["--all"] if every else []), "--only-show-errors"]
                self._accounts[every] = parse_accounts(self.runner.run_json(args))
            return list(self._accounts[every])

    def list_servers(self, resource_group: str | None, subscription: str | None = None) -> list[Server]:
        args = ["postgres", "flexible-server", "list"]
        if resource_group:
            args += ["--resource-group", resource_group]
        raw = self.runner.run_json([*args, *self._scope(subscription), "--only-show-errors"])
        if not isinstance(raw, list):
            raise AzureError("az printed an unexpected server list", code="UnexpectedOutput")
        return [Server.from_az(item) for item in raw]

    def write_args(self, action: Action, target: ConnectionRef, description: str | None) -> list[str]:
        args = [
            "network", "private-endpoint-connection", action.value,
            "--resource-group", target.server.resource_group,
            "--resource-name", target.server.name,
            "--type", SERVER_TYPE,
            "--name", target.name,
            *self._scope(target.server.subscription),
        ]  # fmt: skip
        if action is Action.DELETE:
            args.append("--yes")
        elif description is not None:
            # One element, so that a description starting with "-" is not taken for an option.
            args.append(f"--description={description}")
        return [*args, "--only-show-errors", "-o", "json"]

    def write_argv(self, action: Action, target: ConnectionRef, description: str | None) -> list[str]:
        """The exact argv of a write, for ``--dry-run`` plans."""
        return self.runner.argv(self.write_args(action, target, description))

    def write(
        self,
        action: Action,
        target: ConnectionRef,
        description: str | None,
        *,
        unless: threading.Event | None = None,
    ) -> Connection | None:
        """Run the write (not started if ``unless`` is set while it waits for its turn); the
        connection az printed afterwards (None for delete)."""
        args: Sequence[str] = self.write_args(action, target, description)
        result = self.runner.run(args, timeout=self.write_timeout, unless=unless)
        return _connection_or_none(result.stdout)


def _connection_or_none(stdout: str) -> Connection | None:
    text = stdout.strip()
    if not text:
        return None
    try:
        raw: Any = json.loads(text)
    except json.JSONDecodeError:
        return None  # the write's own output is only a shortcut; a read verifies instead
    try:
        return Connection.from_az(raw)
    except AzureError:
        return None
