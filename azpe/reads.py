"""The read use cases: the servers of a scope - across subscriptions, read in parallel -, one
server with its errors explained, and whose each private endpoint is.

A scope in one subscription is one ``az postgres flexible-server list`` (its failure is the
command's). Across several, each subscription is listed on its own; one that cannot be read
(403, unknown to the login, disabled) is reported as ``Unreadable`` and the others go on.
Servers come in a stable order: subscriptions as given (or as ``az account list`` prints
them), then as az lists them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from azpe.accounts import Owners
from azpe.client import AzClient
from azpe.errors import AuthError, AzpeError, ExitCode, NotFound, exit_code_for
from azpe.ids import ServerRef
from azpe.models import Connection, Server
from azpe.not_found import group_missing, is_server_missing, server_missing
from azpe.retry import Reader
from azpe.targets import NO_FILTER, EndpointFilter, Scope

log = logging.getLogger("azpe")

# Subscriptions listed at once: each is one az process, mostly waiting for ARM.
SUBSCRIPTIONS_IN_PARALLEL = 8


@dataclass(frozen=True)
class Unreadable:
    """A subscription that could not be read."""

    subscription: str
    error: AzpeError

    def to_record(self) -> dict[str, Any]:
        """As a result record: what failed and why (no connection fields: none was read)."""
        return {
            "id": f"/subscriptions/{self.subscription}",
            "subscription": self.subscription,
            "action": "failed",
            "error": self.error.as_record(),
        }


@dataclass(frozen=True)
class ScopeRead:
    servers: list[Server]
    unreadable: list[Unreadable] = field(default_factory=list)

    @property
    def exit_code(self) -> ExitCode:
        return exit_code_for([u.error.exit_code for u in self.unreadable])


def subscriptions_of(client: AzClient, scope: Scope, read: Reader) -> tuple[str, ...]:
    """The subscriptions a scope covers: those given, or every usable one of the login in
    az's current cloud. ``az account list`` alone shows Enabled ones only - a Warned or
    PastDue subscription, where writes still work, would be left out -, so the current
    cloud comes from it and the subscriptions from ``az account list --all``; each left out
    (Disabled, Deleted) is named on stderr."""
    if not scope.all_subscriptions:
        return scope.subscriptions
    enabled = read(lambda: client.list_accounts(every=False))
    every = read(lambda: client.list_accounts(every=True))
    clouds = {a.cloud for a in enabled} or {a.cloud for a in every}
    if len(clouds) > 1 and not enabled:
        raise AuthError("the login has no Enabled subscription in az's current cloud (az account list)")
    mine = [a for a in every if a.cloud in clouds]
    for account in mine:
        if not account.usable:
            log.warning("not in scope: subscription %s (%s) is %s", account.name, account.id,
                        account.state or "in an unknown state")  # fmt: skip
    found = tuple(a.id for a in mine if a.usable)
    if not found:
        raise AuthError("the login has no usable subscription (az account list --all)")
    return found


def read_scope(client: AzClient, scope: Scope, *, read: Reader) -> ScopeRead:
    """Every server in ``scope`` (one server, a resource group, or whole subscriptions), cut
    to its shard."""
    if scope.server is not None:
        ref = scope.server
        return ScopeRead([read(lambda: client.show_server(ref))])
    subscriptions = subscriptions_of(client, scope, read)
    group = scope.resource_group
    if not scope.several_subscriptions:
        only = subscriptions[0] if subscriptions else None
        try:
            servers = read(lambda: client.list_servers(group, only))
        except AzpeError as exc:
            raise group_missing(exc, group) from None
        return ScopeRead(_in_shard(scope, servers))
    return _across(client, scope, subscriptions, read)


def _across(client: AzClient, scope: Scope, subscriptions: tuple[str, ...], read: Reader) -> ScopeRead:
    group = scope.resource_group

    def one(subscription: str) -> list[Server] | AzpeError:
        try:
            return read(lambda: client.list_servers(group, subscription))
        except AzpeError as exc:
            return exc

    workers = max(1, min(SUBSCRIPTIONS_IN_PARALLEL, len(subscriptions)))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        try:
            answers = list(pool.map(one, subscriptions))
        except KeyboardInterrupt:
            client.kill_running()  # reads: nothing to protect, nothing to wait for
            raise
    servers: dict[str, Server] = {}
    unreadable: list[Unreadable] = []
    missing_group: list[AzpeError] = []
    for subscription, answer in zip(subscriptions, answers, strict=True):
        if isinstance(answer, AzpeError):
            if group is not None and _group_missing(answer, group):
                missing_group.append(answer)  # the group is in some subscriptions only
            else:
                unreadable.append(Unreadable(subscription, answer))
            continue
        for server in answer:
            servers.setdefault(server.id.lower(), server)  # a subscription given by name and ID
    if group is not None and len(missing_group) == len(subscriptions):
        raise NotFound(
            f"resource group {group!r} is in none of the {len(subscriptions)} subscriptions",
            code="ResourceGroupNotFound",
        )
    return ScopeRead(_in_shard(scope, list(servers.values())), unreadable)


def _group_missing(error: AzpeError, group: str) -> bool:
    return group_missing(error, group) is not error


def _in_shard(scope: Scope, servers: Iterable[Server]) -> list[Server]:
    shard = scope.shard
    return [s for s in servers if shard is None or shard.holds(s.id)]


def select(
    servers: Iterable[Server],
    statuses: tuple[str, ...] | None,
    endpoints: EndpointFilter = NO_FILTER,
    owners: Callable[[], Owners] | None = None,
) -> list[Connection]:
    """The connections in one of ``statuses`` (None: in any status) whose endpoint passes
    the filter."""
    chosen = [c for s in servers for c in s.connections if statuses is None or c.status in statuses]
    if not endpoints.active:
        return chosen
    owner_of = owners().owner if endpoints.owner is not None and owners is not None else (lambda _c: None)
    return [c for c in chosen if endpoints.matches(c, owner_of(c))]


def load_owners(client: AzClient, read: Reader, organisation: Iterable[str] = ()) -> Owners:
    """Own endpoint subscriptions: every subscription of the login (``az account list
    --all``: Disabled ones too) and those the organisation names."""
    accounts = read(lambda: client.list_accounts(every=True))
    return Owners.of([a.id for a in accounts] + list(organisation))


def signed_in(client: AzClient) -> dict[str, Any]:
    """Who az acts as (for the audit log): ``az account show``'s user and tenant."""
    return client.show_account()


class ServerReader:
    """Reads one server at a time, saying plainly when it or its group is not there (with
    the servers there are: one more az call, made once per group)."""

    def __init__(self, client: AzClient, read: Reader) -> None:
        self.client = client
        self.read = read
        self._names: dict[tuple[str, str], list[str] | None] = {}

    def server(self, ref: ServerRef) -> Server:
        try:
            return self.read(lambda: self.client.show_server(ref))
        except AzpeError as exc:
            raise self.explained(exc, ref) from None

    def explained(self, error: AzpeError, ref: ServerRef) -> AzpeError:
        if not is_server_missing(error):
            return group_missing(error, ref.resource_group)
        key = ((ref.subscription or "").lower(), ref.resource_group.lower())
        if key not in self._names:
            subscription = ref.subscription or self.client.subscription
            try:
                self._names[key] = [
                    s.name for s in self.client.list_servers(ref.resource_group, subscription)
                ]
            except AzpeError:
                self._names[key] = None
        return server_missing(ref, self._names[key])
