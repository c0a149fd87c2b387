"""``azpe enforce``: decide every connection in scope by a policy, then apply the decisions
through the same write engine as ``reject``/``approve`` (readiness, per-server scheduling,
retries, verification, dry run, lock-out guard, interrupt safety).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Any

from azpe.client import Action, AzClient
from azpe.errors import ExitCode, not_started
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


def decide_all(policy: Policy, servers: Iterable[Server]) -> list[Decision]:
    return [decide(policy, c) for s in servers for c in s.connections]


def explain(policy: Policy, connection: Connection) -> dict[str, Any]:
    """How the policy sees one connection: the decision, and each rule field by field."""
    record = decide(policy, connection).to_record()
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
    groups: dict[tuple[Action, str | None], list[ConnectionRef]] = {}
    for d in decisions:
        if d.action is not None:
            groups.setdefault((d.action, d.description), []).append(d.target)
    ordered = sorted(groups.items(), key=lambda kv: kv[0][0] is not Action.APPROVE)
    results: list[TargetResult] = []
    stopped: WriteReport | None = None  # the run that was interrupted or failed
    fresh = {server_key(s.ref): s for s in snapshot}
    for (action, description), targets in ordered:
        if stopped is not None:
            skipped = [TargetResult(t, Outcome.SKIPPED, error=not_started()) for t in targets]
            for result in skipped:
                on_result(result)
            results += skipped
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
        if report.interrupted or report.failure is not None:
            stopped = report
    return WriteReport(
        results,
        interrupted=stopped is not None and stopped.interrupted,
        failure=stopped.failure if stopped is not None else None,
    )


def drift_exit_code(decisions: list[Decision]) -> ExitCode:
    return ExitCode.DRIFT if any(d.action is not None for d in decisions) else ExitCode.OK
