"""Read what is there, then decide what each target needs (design.md §3, steps 1-3).

Each server is read once (state, ``publicNetworkAccess`` and its connections come in one az
call), servers concurrently. Targets already in the wanted state are ``unchanged``; what
cannot work (approving a Rejected connection) is refused without calling az; the lock-out
guard holds back rejecting or deleting a server's last Approved connection when public
network access is Disabled.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from azpe.accounts import Owners
from azpe.assess import Need, assess, lockout_refusal
from azpe.client import Action, AzClient
from azpe.errors import AzpeError, UsageError
from azpe.ids import ConnectionRef, ServerRef
from azpe.models import Server
from azpe.outcomes import Outcome, TargetResult
from azpe.reads import Unreadable, read_scope, select
from azpe.retry import Reader
from azpe.targets import Selection


@dataclass
class Plan:
    action: Action
    description: str | None
    servers: dict[str, Server] = field(default_factory=dict)
    items: list[TargetResult] = field(default_factory=list)  # one per target, in order
    guarded: list[TargetResult] = field(default_factory=list)  # writes the lock-out guard holds
    unreadable: list[Unreadable] = field(default_factory=list)  # subscriptions not read
    read_at: float = field(default_factory=time.monotonic)  # when ``servers`` were read

    @property
    def writes(self) -> list[TargetResult]:
        """Targets that need a write (outcome PLANNED)."""
        return [i for i in self.items if i.outcome is Outcome.PLANNED]

    def writes_by_server(self) -> dict[str, list[TargetResult]]:
        groups: dict[str, list[TargetResult]] = {}
        for item in self.writes:
            groups.setdefault(server_key(item.target.server), []).append(item)
        return groups


def server_key(ref: ServerRef) -> str:
    """Identity of a server as referred to; a ref without subscription means az's default."""
    return "/".join(ref.key)


def result_key(item: TargetResult) -> tuple[str, str]:
    """Identity of a target's result: its server and its connection name."""
    return (server_key(item.target.server), item.target.name.lower())


def read_servers(
    client: AzClient, refs: Iterable[ServerRef], *, concurrency: int | None, read: Reader
) -> dict[str, Server | AzpeError]:
    """Each server once, concurrently; a failure is kept per server, not raised."""
    unique = {server_key(r): r for r in refs}

    def one(ref: ServerRef) -> Server | AzpeError:
        try:
            return read(lambda: client.show_server(ref))
        except AzpeError as exc:
            return exc

    if len(unique) <= 1:
        return {key: one(ref) for key, ref in unique.items()}
    pool = ThreadPoolExecutor(max_workers=max(1, min(concurrency or len(unique), len(unique))))
    try:
        return dict(zip(unique.keys(), pool.map(one, unique.values()), strict=True))
    except KeyboardInterrupt:
        client.kill_running()  # reads: nothing to protect, nothing to wait for
        raise
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def build_plan(
    action: Action,
    selection: Selection,
    client: AzClient,
    *,
    description: str | None,
    concurrency: int | None,
    read: Reader,
    snapshot: Iterable[Server] = (),
    owners: Callable[[], Owners] | None = None,
) -> Plan:
    """``snapshot``: servers already read (by ``enforce``), used instead of reading again.
    ``owners``: whose each endpoint is (asked only for an ``--owner`` filter)."""
    plan = Plan(action=action, description=description)
    targets = list(selection.connections)
    known: dict[str, Server | AzpeError] = {server_key(s.ref): s for s in snapshot}
    if selection.statuses:
        found = read_scope(client, selection.scope, read=read)
        plan.unreadable = found.unreadable
        for listed in found.servers:
            known[server_key(listed.ref)] = listed
            if selection.scope.server is not None:  # -n targets name it as the user did
                known[server_key(selection.scope.server)] = listed
        chosen = select(found.servers, selection.statuses, selection.endpoints, owners)
        targets += [ConnectionRef(c.server_ref, c.name) for c in chosen]
    missing = [t.server for t in targets if server_key(t.server) not in known]
    known.update(read_servers(client, missing, concurrency=concurrency, read=read))
    plan.servers = {server_key(s.ref): s for s in known.values() if isinstance(s, Server)}
    plan.read_at = time.monotonic()

    seen: set[tuple[str, str]] = set()
    for target in targets:
        result = _decide(plan.action, target, known[server_key(target.server)])
        key = result_key(result)
        if key in seen:
            continue
        seen.add(key)
        plan.items.append(result)
    _guard_lockout(plan)
    return plan


def _decide(action: Action, target: ConnectionRef, server: Server | AzpeError) -> TargetResult:
    if isinstance(server, AzpeError):
        return TargetResult(target, Outcome.FAILED, error=server)
    try:
        named = server.find(target.name)  # an endpoint's name alone finds its one connection
    except UsageError as exc:
        return TargetResult(ConnectionRef(server.ref, target.name), Outcome.FAILED, error=exc)
    found = assess(action, server, named.name if named else target.name)
    connection = found.connection
    # From here on the target carries the server's real subscription and names.
    target = ConnectionRef(server.ref, connection.name if connection else target.name)
    previous = connection.status if connection else None
    result = TargetResult(target, Outcome.PLANNED, connection, previous_status=previous)
    if found.need is Need.NOTHING:
        return result.with_(outcome=Outcome.UNCHANGED)
    if found.need is Need.CANNOT:
        return result.with_(outcome=Outcome.FAILED, error=found.error)
    return result  # the write engine waits for a busy or not-Ready server


def _guard_lockout(plan: Plan) -> None:
    """Mark writes that would remove a server's last Approved connection(s) (see
    ``assess.lockout_refusal``); the engine applies the same rule again before each such write."""
    if not plan.action.removes_access:
        return
    for key, items in plan.writes_by_server().items():
        error = lockout_refusal(plan.action, plan.servers[key], {i.target.name for i in items})
        if error is None:
            continue
        approved = {c.name.lower() for c in plan.servers[key].connections if c.status == "Approved"}
        for item in items:
            if item.target.name.lower() in approved:
                plan.guarded.append(item.with_(error=error))
