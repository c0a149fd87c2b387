"""``azpe enforce``: decide every connection in scope by a policy, then apply the decisions
through the same write engine as ``reject``/``approve`` (readiness, per-server scheduling,
retries, verification, dry run, lock-out guard, interrupt safety).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Any

from azpe.assess import lockout_refusal
from azpe.client import Action, AzClient
from azpe.errors import ExitCode, SafetyRefusal, not_started
from azpe.escape import visible
from azpe.ids import ConnectionRef
from azpe.models import Connection, Server
from azpe.outcomes import Outcome, TargetResult
from azpe.planning import Plan, server_key
from azpe.policy import RULE_FIELDS, Policy, Rule
from azpe.run_options import RunOptions
from azpe.targets import Scope, Selection
from azpe.writes import WriteReport, WriteRequest, run_write


@dataclass(frozen=True)
class Decision:
    connection: Connection
    action: Action | None  # None: leave it as it is
    rule: str | None
    reason: str
    own_endpoint: bool
    description: str | None = None
    warnings: tuple[str, ...] = ()  # what the admin should look at before applying it

    @property
    def target(self) -> ConnectionRef:
        return ConnectionRef(self.connection.server_ref, self.connection.name)

    def to_record(self) -> dict[str, Any]:
        record = self.connection.to_record()
        record["decision"] = self.action.value if self.action else "leave"
        record["rule"] = self.rule
        record["reason"] = self.reason
        record["endpointOwner"] = "own" if self.own_endpoint else "foreign"
        if self.action is not None:
            record["newDescription"] = self.description
        record["warnings"] = list(self.warnings)
        return record


def decide(policy: Policy, connection: Connection) -> Decision:
    rule = policy.first_match(connection)
    own = policy.is_own(connection.to_record()["privateEndpointSubscription"])
    name = rule.name if rule else None
    if connection.status == "Pending":
        if rule is not None:
            action = Action.APPROVE if policy.pending_matched == "approve" else None
            return Decision(connection, action, name, f"allowed by rule {name!r}", own)
        if policy.pending_unmatched == "reject":
            return Decision(
                connection, Action.REJECT, None, "no allow rule matches", own, policy.pending_description
            )
        return Decision(connection, None, None, "no allow rule matches; policy leaves it Pending", own)
    if connection.status == "Approved":
        if rule is not None:
            return Decision(connection, None, name, f"allowed by rule {name!r}", own)
        if policy.review_approved:
            return Decision(
                connection, Action.REJECT, None, "Approved, but no allow rule matches", own,
                policy.approved_description,
            )  # fmt: skip
        return Decision(connection, None, None, "Approved; the policy does not review Approved", own)
    return Decision(connection, None, name, f"{connection.status}: nothing to decide", own)


def decide_all(policy: Policy, servers: Iterable[Server], *, force: bool = False) -> list[Decision]:
    """Every connection's decision, with its warnings: a reject of an endpoint of an own
    subscription, and (unless ``force``) a step the lock-out guard will refuse."""
    servers = list(servers)
    decisions = [decide(policy, c) for s in servers for c in s.connections]
    guard = {} if force else _guard_preview(decisions, servers)
    out = []
    for d in decisions:
        warnings = list(d.warnings)
        if d.action is Action.REJECT and d.own_endpoint:
            subscription = d.connection.to_record()["privateEndpointSubscription"]
            warnings.append(f"rejects an endpoint of an own subscription ({subscription})")
        if d.connection.id.lower() in guard:
            warnings.append(guard[d.connection.id.lower()])
        out.append(replace(d, warnings=tuple(warnings)))
    return out


def unused_rules(policy: Policy, servers: Iterable[Server]) -> list[str]:
    """The names of the rules that match no connection in scope (a typo, or a stale rule)."""
    connections = [c for s in servers for c in s.connections]
    return [r.name for r in policy.rules if not any(r.matches(c) for c in connections)]


def warning_lines(decisions: Iterable[Decision], unused: Iterable[str]) -> list[str]:
    """The plan's warnings as stderr lines (text from Azure escaped)."""
    lines = [
        f"azpe: warning: {visible(d.connection.server)}/{visible(d.connection.name)}: {visible(w)}"
        for d in decisions
        for w in d.warnings
    ]
    return lines + [f"azpe: warning: rule {visible(repr(n))} matched no connection in scope" for n in unused]


def explain(policy: Policy, server: Server, connection: Connection) -> dict[str, Any]:
    """How the policy sees one connection: the decision, and each rule field by field."""
    decision = next(d for d in decide_all(policy, [server]) if d.connection.id == connection.id)
    record = decision.to_record()
    record["rules"] = [_explain_rule(rule, connection) for rule in policy.rules]
    return record


def _explain_rule(rule: Rule, connection: Connection) -> dict[str, Any]:
    fields = {
        f: Rule(rule.name, {f: rule.patterns[f]}).matches(connection)
        for f in RULE_FIELDS
        if f in rule.patterns
    }
    return {"name": rule.name, "matches": all(fields.values()), "fields": fields}


def apply_decisions(
    client: AzClient,
    decisions: list[Decision],
    *,
    options: RunOptions,
    dry_run: bool,
    force: bool,
    snapshot: tuple[Server, ...],
    on_plan: Callable[[Plan], None],
    on_result: Callable[[TargetResult], None],
    on_start: Callable[[Plan], None],
) -> WriteReport:
    """Approvals first (they can only add access), then rejections, one engine run per kind.
    Each run plans on ``snapshot`` (the servers the decisions were made on) except for servers
    an earlier run wrote to: those are read again, so that the lock-out guard sees the
    connections just approved."""
    results: list[TargetResult] = []
    stopped: WriteReport | None = None  # the run that was interrupted or failed
    fresh = {server_key(s.ref): s for s in snapshot}
    held: set[str] = set()  # servers where the lock-out guard tripped: nothing more is written
    for action, description, group in _rounds(decisions):
        if stopped is not None:
            skipped = [TargetResult(d.target, Outcome.SKIPPED, error=not_started()) for d in group]
            for result in skipped:
                on_result(result)
            results += skipped
            continue
        on_held = [d for d in group if server_key(d.connection.server_ref) in held]
        for d in on_held:
            result = TargetResult(
                d.target, Outcome.SKIPPED, d.connection, d.connection.status,
                error=_held(d.connection.server, action),
            )  # fmt: skip
            on_result(result)
            results.append(result)
        targets = [d.target for d in group if server_key(d.connection.server_ref) not in held]
        if not targets:
            continue
        request = WriteRequest(
            action=action,
            selection=Selection(connections=tuple(targets), statuses=(), scope=Scope()),
            description=description,
            dry_run=dry_run,
            force=force,
            options=replace(options, under_way=bool(results)),
            snapshot=tuple(fresh.values()),
        )
        report = run_write(
            client, request, confirm=lambda _p: True, on_plan=on_plan, on_result=on_result, on_start=on_start
        )
        results += report.results
        for result in report.results:
            if result.attempts:
                fresh.pop(server_key(result.target.server), None)
            if result.error is not None and result.error.code == "LockOutGuard":
                held.add(server_key(result.target.server))
        if report.interrupted or report.failure is not None:
            stopped = report
    return WriteReport(
        results,
        interrupted=stopped is not None and stopped.interrupted,
        failure=stopped.failure if stopped is not None else None,
    )


def _rounds(decisions: Iterable[Decision]) -> list[tuple[Action, str | None, list[Decision]]]:
    """The engine runs of ``--apply``, in order: one per action and description, approvals
    first (they can only add access)."""
    groups: dict[tuple[Action, str | None], list[Decision]] = {}
    for d in decisions:
        if d.action is not None:
            groups.setdefault((d.action, d.description), []).append(d)
    ordered = sorted(groups.items(), key=lambda kv: kv[0][0] is not Action.APPROVE)
    return [(action, description, group) for (action, description), group in ordered]


def _guard_preview(decisions: list[Decision], servers: list[Server]) -> dict[str, str]:
    """What the lock-out guard will refuse when the decisions are applied, by connection ID
    (lower case): the rounds of ``apply_decisions`` played on the servers as read, each round
    that the guard lets through changing the statuses the next round sees."""
    state = {server_key(s.ref): s for s in servers}
    held: set[str] = set()
    out: dict[str, str] = {}
    for action, _description, group in _rounds(decisions):
        by_server: dict[str, list[Decision]] = {}
        for d in group:
            by_server.setdefault(server_key(d.connection.server_ref), []).append(d)
        for key, items in by_server.items():
            server = state.get(key)
            if server is None:
                continue
            names = {d.connection.name.lower() for d in items}
            refusal = None if key in held else lockout_refusal(action, server, names)
            if refusal is None and key not in held:
                state[key] = _after(server, action, names)
                continue
            held.add(key)
            approved = {c.name.lower() for c in server.connections if c.status == "Approved"}
            for d in items:
                out[d.connection.id.lower()] = (
                    f"the lock-out guard will refuse this {action.value}: {refusal.message}"
                    if refusal is not None and d.connection.name.lower() in approved
                    else f"will not run: {_held(server.name, action).message}"
                )
    return out


def _held(server: str, action: Action) -> SafetyRefusal:
    return SafetyRefusal(
        f"the lock-out guard refuses a {action.value} on server {server}, so nothing on it is written",
        code="LockOutGuard",
        hint="Pass --force to override the guard.",
    )


def _after(server: Server, action: Action, names: set[str]) -> Server:
    """``server`` as it will read once ``action`` has been applied to the connections ``names``."""
    wanted = action.wanted_status
    connections = tuple(
        c
        if c.name.lower() not in names
        else replace(c, status=wanted or c.status, provisioning_state="Succeeded")
        for c in server.connections
        if wanted is not None or c.name.lower() not in names
    )
    return replace(server, connections=connections)


def drift_exit_code(decisions: list[Decision]) -> ExitCode:
    return ExitCode.DRIFT if any(d.action is not None for d in decisions) else ExitCode.OK
