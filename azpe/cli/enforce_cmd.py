"""``azpe enforce``: plan (default), check for drift (exit 7), explain, or apply a policy."""

from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any

import typer

from azpe.audit import check_writable
from azpe.cli.app import (
    Common,
    OneValueEach,
    Session,
    app,
    examples,
    handle_errors,
    open_session,
    report_unreadable,
    scope_of,
    with_common_options,
)
from azpe.cli.write import RunReporter, open_audit, run_options
from azpe.enforce import (
    Decision,
    apply_decisions,
    decide_all,
    drift_exit_code,
    explain,
    unused_rules,
    warning_lines,
)
from azpe.errors import AzpeError, ExitCode, UsageError, exit_code_for
from azpe.ids import ServerRef, parse_connection_id, parse_server_id, validate_server_name
from azpe.models import Server
from azpe.options import (
    AllSubscriptions,
    AuditLogFile,
    BusyTimeout,
    Concurrency,
    DryRun,
    Force,
    ResourceGroup,
    Retries,
    ShardOption,
    WaitReady,
    path,
    text,
)
from azpe.outcomes import TargetResult
from azpe.planning import read_servers, server_key
from azpe.policy import load_policy
from azpe.reads import ScopeRead, ServerReader, read_scope
from azpe.retry import Reader, reader
from azpe.run_options import BUSY_TIMEOUT
from azpe.targets import Scope

DECISION_COLUMNS = ("name", "server", "status", "decision", "rule", "endpointOwner", "reason")


@app.command(
    "enforce",
    short_help="Plan, check or apply a connection policy.",
    cls=OneValueEach,
    epilog=examples(
        "azpe enforce --policy policy.toml -g rg-data -o table",
        "azpe enforce --policy policy.toml --check -o none   # exit 7 on drift",
        "azpe enforce --policy policy.toml -g rg-data --apply --audit-log audit.jsonl -o jsonl",
    ),
)
@handle_errors
@with_common_options
def enforce(
    common: Common,
    policy: Annotated[
        Path, typer.Option("--policy", metavar="FILE", parser=path, help="Policy file (TOML).")
    ],
    resource_group: ResourceGroup = None,
    servers: Annotated[
        list[str] | None,
        typer.Option("-s", "--server", metavar="SERVER", parser=text, help="Server, with -g (repeatable)."),
    ] = None,
    server_ids: Annotated[
        list[str] | None,
        typer.Option("--server-id", metavar="ID", parser=text, help="Server ID (repeatable)."),
    ] = None,
    apply: Annotated[
        bool, typer.Option("--apply", help="Make the connections comply (default: plan only).")
    ] = False,
    check: Annotated[
        bool, typer.Option("--check", help="Plan only; exit 7 when anything would change (drift).")
    ] = False,
    explain_id: Annotated[
        str | None,
        typer.Option(
            "--explain", metavar="ID", parser=text, help="Show how one connection is decided, rule by rule."
        ),
    ] = None,
    all_subscriptions: AllSubscriptions = False,
    shard: ShardOption = None,
    dry_run: DryRun = False,
    wait_ready: WaitReady = 0.0,
    busy_timeout: BusyTimeout = BUSY_TIMEOUT,
    retries: Retries = 3,
    concurrency: Concurrency = None,
    force: Force = False,
    audit_log: AuditLogFile = None,
) -> None:
    """Decide every connection in scope (-g RG [-s SERVER]..., --server-id, or the whole
    subscription) by a policy: approve or leave what a rule allows, reject the rest.
    Without --apply it only prints the plan, with the rule behind each decision."""
    rules = load_policy(policy)  # a policy mistake stops here, before any az call
    if apply and (check or explain_id is not None):
        raise UsageError("--apply does not go with --check or --explain")
    scope = scope_of(common, resource_group, all_subscriptions=all_subscriptions, shard=shard)
    refs = _server_refs(scope, servers or [], server_ids or [], common.subscription)
    target = parse_connection_id(explain_id) if explain_id is not None else None
    if apply and audit_log is not None:
        check_writable(audit_log)  # before the reads, as every other input is checked
    session = open_session(common)
    options = run_options(
        retries=retries, concurrency=concurrency, wait_ready=wait_ready, busy_timeout=busy_timeout
    )
    read = reader(options.retries, max_seconds=options.retry_budget, wait=options.wait)

    if target is not None:
        server = ServerReader(session.client, read).server(target.server)
        connection = server.find(target.name)
        if connection is None:
            raise server.missing(target.name)
        session.emit(explain(rules, server, connection), DECISION_COLUMNS)
        return

    found = _read_scope(session, scope, refs, concurrency, read)
    report_unreadable(found.unreadable)
    in_scope = found.servers
    decisions = decide_all(rules, in_scope, force=force)
    for line in warning_lines(decisions, unused_rules(rules, in_scope)):
        typer.echo(line, err=True)
    if not apply:
        session.emit([d.to_record() for d in decisions], DECISION_COLUMNS)
        changes = sum(d.action is not None for d in decisions)
        typer.echo(f"azpe: enforce: {len(decisions)} connection(s), {changes} to change", err=True)
        codes = [drift_exit_code(decisions)] if check else []
        codes += [u.error.exit_code for u in found.unreadable]
        if exit_code_for(codes) != ExitCode.OK:
            raise typer.Exit(exit_code_for(codes))
        return

    by_id = {d.connection.id.lower(): d for d in decisions}
    audit = open_audit(
        audit_log, session, "enforce", rules={k: d.rule for k, d in by_id.items() if d.action is not None},
        actions={k: d.action.value for k, d in by_id.items() if d.action is not None}, dry_run=dry_run,
    )  # fmt: skip
    reporter = RunReporter(session, audit, extra=lambda r: _decision_fields(by_id, r))
    report = reporter.run(
        lambda: replace(
            apply_decisions(
                session.client,
                decisions,
                options=options,
                dry_run=dry_run,
                force=force,
                snapshot=tuple(in_scope),
                on_plan=reporter.on_plan,
                on_result=reporter.on_result,
                on_start=reporter.progress.start,
            ),
            unreadable=tuple(found.unreadable),
        )
    )
    left = [d for d in decisions if d.action is None]
    if left and session.output != "none":
        typer.echo(f"azpe: enforce: {len(left)} connection(s) comply already", err=True)
    reporter.finish(report, "enforce")


def _server_refs(
    scope: Scope, servers: list[str], server_ids: list[str], subscription: str | None
) -> list[ServerRef]:
    """Servers named with -s (in -g) or --server-id; none: the whole scope."""
    if servers and not scope.resource_group:
        raise UsageError("-s/--server needs -g/--resource-group (or use --server-id)")
    if (servers or server_ids) and (scope.several_subscriptions or scope.shard is not None):
        raise UsageError("-s and --server-id name servers: they go with one --subscription, without --shard")
    refs = [
        ServerRef(subscription, scope.resource_group, validate_server_name(s))
        for s in servers
        if scope.resource_group
    ]
    return refs + [parse_server_id(i) for i in server_ids]


def _read_scope(
    session: Session, scope: Scope, refs: list[ServerRef], concurrency: int | None, read: Reader
) -> ScopeRead:
    if not refs:
        return read_scope(session.client, scope, read=read)
    found = read_servers(session.client, refs, concurrency=concurrency, read=read)
    by_key = {server_key(r): r for r in refs}
    for key, value in found.items():
        if isinstance(value, AzpeError):
            raise session.explained(value, by_key[key])
    return ScopeRead([s for s in found.values() if isinstance(s, Server)])


def _decision_fields(by_id: dict[str, Decision], result: TargetResult) -> dict[str, Any]:
    decision = by_id.get((result.to_record()["id"] or "").lower())
    if decision is None:
        return {}
    record = decision.to_record()
    return {k: record[k] for k in ("decision", "rule", "reason", "endpointOwner", "warnings")}
