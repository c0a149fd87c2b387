"""Write commands: reject, approve, delete."""

import contextlib
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any

import typer

from azpe.accounts import FOREIGN, OWN
from azpe.audit import AuditLog, check_writable
from azpe.cli.app import (
    Common,
    OneValueEach,
    OwnerLabels,
    Session,
    app,
    examples,
    handle_errors,
    open_session,
    organisation_of,
    report_error,
    report_unreadable,
    scope_of,
    with_common_options,
)
from azpe.client import Action
from azpe.errors import AzpeError, ExitCode, SafetyRefusal, UsageError
from azpe.escape import visible
from azpe.options import (
    AllSubscriptions,
    AuditLogFile,
    BusyTimeout,
    Concurrency,
    DryRun,
    Endpoints,
    EndpointSubscriptions,
    Force,
    Ids,
    Names,
    Organisation,
    Owner,
    ResourceGroup,
    Retries,
    ServerId,
    ServerName,
    ShardOption,
    Status,
    WaitReady,
    Yes,
    text,
)
from azpe.outcomes import Outcome, TargetResult
from azpe.planning import Plan
from azpe.progress import ServerProgress
from azpe.reads import signed_in
from azpe.render import RESULT_COLUMNS, apply_query, with_subscription
from azpe.run_options import BUSY_TIMEOUT, RunOptions
from azpe.targets import STDIN, build_endpoint_filter, build_selection, stdin_text
from azpe.writes import WriteReport, WriteRequest, run_write

SHOWN_OWN = 5  # own endpoints named in the warning, at most


class RunReporter:
    """Everything a write run tells the user and the audit log, as it happens.

    Results stream with -o jsonl (one line as each target finishes), else print at the end;
    failures get a line on stderr; on a terminal a per-server progress display runs on stderr.
    ``extra`` adds fields to each printed record (enforce adds its decision and rule).
    """

    def __init__(
        self, session: Session, audit: AuditLog | None = None,
        extra: Callable[[TargetResult], dict[str, Any]] = lambda _r: {},
        owners: OwnerLabels | None = None,
        columns: tuple[str, ...] = RESULT_COLUMNS,
    ) -> None:  # fmt: skip
        self.session = session
        self.columns = columns
        self.audit = audit
        self.extra = extra
        self.owners = owners  # None: whose each endpoint is stays unasked (one az call saved)
        self.warns_own = False  # say so on stderr when a bulk write takes own endpoints
        self.streaming = session.output == "jsonl"
        self.streamed: set[tuple[str, ...]] = set()  # targets whose result was printed
        self.progress = ServerProgress(streaming=self.streaming)
        self.declined: str | None = None  # how the prompt was answered, when not with yes

    def record(self, result: TargetResult) -> dict[str, Any]:
        record = self._explained(result).to_record()
        if self.owners is not None:  # whose endpoint, when azpe determined it
            record["owner"] = self.owners.of(result.connection)
        return record | self.extra(result)

    def _explained(self, result: TargetResult) -> TargetResult:
        """A target whose server (or group) is not there gets the plain error, with the
        servers there are."""
        if result.error is None:
            return result
        error = self.session.explained(result.error, result.target.server)
        return result if error is result.error else result.with_(error=error)

    def confirming(self, ask: Callable[[Plan], bool]) -> Callable[[Plan], bool]:
        """``ask``, remembering a no (or Ctrl-C) for the summary."""

        def confirm(plan: Plan) -> bool:
            try:
                yes = ask(plan)
            except KeyboardInterrupt:
                self.declined = "interrupted at the prompt"
                raise
            self.declined = None if yes else "not confirmed"
            return yes

        return confirm

    def on_plan(self, plan: Plan) -> None:
        self._check_query(plan)  # before anything is audited or written
        if self.warns_own:
            self._warn_own(plan)
        report_unreadable(plan.unreadable)  # the other subscriptions go on
        for unreadable in plan.unreadable if self.streaming else ():
            self._print(unreadable.to_record(), f"subscription {unreadable.subscription}")
        if self.audit is not None:
            self.audit.decisions(plan)

    def _warn_own(self, plan: Plan) -> None:
        """Without a prompt (--yes, a pipeline), a bulk reject or delete still says on stderr
        when it takes endpoints of your own subscriptions (a DR endpoint: Rejected is final)."""
        if self.owners is None or not plan.action.removes_access or self.declined is not None:
            return
        own = [w for w in plan.writes if self.owners.of(w.connection) == OWN]
        if not own:
            return
        shown = ", ".join(visible(f"{w.target.server.name}/{w.target.name}") for w in own[:SHOWN_OWN])
        more = f" and {len(own) - SHOWN_OWN} more" if len(own) > SHOWN_OWN else ""
        typer.echo(
            f"azpe: warning: {plan.action.value} takes {len(own)} endpoint(s) of your own subscriptions: "
            f"{shown}{more}",
            err=True,
        )

    def _check_query(self, plan: Plan) -> None:
        """A --query that fails on the records this run will print fails now (exit 2, nothing
        written), tried on them as planned: one record at a time with -o jsonl, else all."""
        if self.session.query is None:
            return
        records = [self.record(item) for item in plan.items]
        for data in records if self.streaming else [records]:
            apply_query(data, self.session.query)

    def _print(self, data: Any, what: str) -> None:
        """Print results; a --query that fails on them now (after writes) is reported, and
        neither stops the run nor changes its exit code: the writes' own code stands."""
        try:
            self.session.emit(data, self.columns)
        except UsageError as exc:
            report_error(exc, prefix=f"{what}: ")

    def on_result(self, result: TargetResult) -> None:
        result = self._explained(result)
        self.progress.update(result)
        if result.error is not None and result.outcome is Outcome.FAILED:
            named = result.error.message.startswith(result.target.name)
            report_error(result.error, prefix="" if named else f"{result.target.name}: ")
        if self.streaming and self.declined is None:
            self._print(self.record(result), result.target.name)
            self.streamed.add(result.target.key)
        if self.audit is not None:  # last: if it fails, the result was still printed
            self.audit.outcome(result)

    def run(self, work: Callable[[], WriteReport]) -> WriteReport:
        """The write run, then its end line in the audit log (also when it stops on an error,
        so that only a killed run lacks one)."""
        try:
            report = work()
        except BaseException as exc:
            code = exc.exit_code if isinstance(exc, AzpeError) else (
                ExitCode.INTERRUPTED if isinstance(exc, KeyboardInterrupt) else ExitCode.INTERNAL
            )  # fmt: skip
            if self.audit is not None:
                with contextlib.suppress(AzpeError):  # the error being raised is the one to report
                    self.audit.end(code, {}, exc if isinstance(exc, AzpeError) else None)
            raise
        finally:
            self.progress.stop()
        if self.audit is not None:
            try:
                unread = {"subscriptionsNotRead": len(report.unreadable)} if report.unreadable else {}
                self.audit.end(report.exit_code, report.counts() | unread, report.failure)
            except AzpeError as exc:  # the run's end not on record: the run failed
                if report.failure is None:
                    report = replace(report, failure=exc)
        return report

    def finish(self, report: WriteReport, label: str) -> None:
        if self.declined is not None:  # a person said no: a line, not every record
            skipped = report.counts().get(Outcome.SKIPPED.value, 0)
            typer.echo(f"azpe: {label}: {self.declined}; nothing was written ({skipped} skipped)", err=True)
            raise typer.Exit(report.exit_code)
        if not self.streaming:
            unread = [u.to_record() for u in report.unreadable]
            self._print(unread + [self.record(r) for r in report.results], "the results")
        else:  # once the audit log failed, results stopped coming: those still running, or never started
            for result in report.results:
                if result.target.key not in self.streamed:
                    self._print(self.record(result), result.target.name)
        counts = ", ".join(f"{n} {word}" for word, n in report.counts().items()) or "no targets"
        if report.unreadable:
            counts += f"; {len(report.unreadable)} subscription(s) not read"
        typer.echo(f"azpe: {label}: {counts}", err=True)
        if report.failure is not None:
            report_error(report.failure)
        if report.exit_code != ExitCode.OK:
            raise typer.Exit(report.exit_code)


def open_audit(
    path: Path | None, session: Session, command: str, rules: dict[str, str | None] | None = None,
    *, actions: dict[str, str] | None = None, dry_run: bool = False,
) -> AuditLog | None:  # fmt: skip
    """The audit log, with the acting identity from az's account, or None without --audit-log."""
    if path is None:
        return None
    check_writable(path)  # before az account show: the first az call of a write command
    identity = signed_in(session.client)
    return AuditLog(path, command=command, identity=identity, rules=rules, actions=actions, dry_run=dry_run)


def run_options(
    *, retries: int, concurrency: int | None, wait_ready: float, busy_timeout: float
) -> RunOptions:
    return RunOptions(
        retries=retries, concurrency=concurrency, wait_ready=wait_ready, busy_timeout=busy_timeout
    )


def _confirm_on_terminal(owners: OwnerLabels) -> Callable[[Plan], bool]:
    """Ask at the terminal (only reached when a person is there to answer), saying whose
    each endpoint is: Rejected is final, and an own endpoint (a disaster-recovery one) must
    not go by unnoticed. Names and statuses come from Azure: escaped."""

    def ask(plan: Plan) -> bool:
        servers = {i.target.server.key for i in plan.writes}
        whose = [owners.of(i.connection) for i in plan.writes]
        typer.echo(f"azpe: about to {plan.action.value} {len(plan.writes)} connection(s):", err=True)
        for item, owner in zip(plan.writes, whose, strict=True):
            where = visible(f"{item.target.server.name}/{item.target.name} ({item.previous_status})")
            typer.echo(f"  {where}  [{owner or 'owner unknown'}]", err=True)
        counted = Counter(o or "owner unknown" for o in whose)
        endpoints = ", ".join(f"{counted[o]} {o}" for o in (OWN, FOREIGN, "owner unknown") if counted[o])
        typer.echo(f"azpe: endpoints: {endpoints}", err=True)
        if counted[OWN] and plan.action.removes_access:
            own = "1 of them is an endpoint" if counted[OWN] == 1 else f"{counted[OWN]} of them are endpoints"
            typer.echo(f"azpe: warning: {own} of your own subscriptions", err=True)
        writing = {i.target.key for i in plan.writes}
        for item in (g for g in plan.guarded if g.target.key not in writing):  # named now, not after
            where = visible(f"{item.target.server.name}/{item.target.name}")
            typer.echo(f"azpe: refused by the lock-out guard (not written): {where}", err=True)
        # Read the answer ourselves: end of input declines (exit 6), Ctrl-C interrupts (130);
        # either way the prompt's line is ended, so that what follows starts on a line of its own.
        sys.stderr.write(f"{plan.action.value.capitalize()} them on {len(servers)} server(s)? [y/N] ")
        sys.stderr.flush()
        try:
            answer = sys.stdin.readline()
        except KeyboardInterrupt:
            sys.stderr.write("\n")
            raise
        if not answer.endswith("\n"):
            sys.stderr.write("\n")
        return answer.strip().lower() in ("y", "yes")

    return ask


def _write_command(action: Action, short: str, summary: str, epilog: str) -> None:
    description_help = "Text stored with the decision, seen by the endpoint's owner."

    def command(
        common: Common,
        resource_group: ResourceGroup = None,
        server: ServerName = None,
        names: Names = None,
        ids: Ids = None,
        status: Status = None,
        server_id: ServerId = None,
        all_subscriptions: AllSubscriptions = False,
        shard: ShardOption = None,
        endpoint: Endpoints = None,
        endpoint_subscription: EndpointSubscriptions = None,
        owner: Owner = None,
        organisation: Organisation = None,
        description: Annotated[
            str | None,
            typer.Option(
                "-d",
                "--description",
                metavar="TEXT",
                parser=text,
                help=description_help,
                hidden=action is Action.DELETE,
            ),
        ] = None,
        dry_run: DryRun = False,
        yes: Yes = False,
        wait_ready: WaitReady = 0.0,
        busy_timeout: BusyTimeout = BUSY_TIMEOUT,
        retries: Retries = 3,
        concurrency: Concurrency = None,
        force: Force = False,
        audit_log: AuditLogFile = None,
    ) -> None:
        if description is not None and action is Action.DELETE:
            raise UsageError("delete takes no --description")
        reads_stdin = STDIN in (ids or [])
        scope = scope_of(
            common, resource_group, server, server_id, all_subscriptions=all_subscriptions, shard=shard
        )
        selection = build_selection(
            scope=scope,
            names=names or [],
            ids=ids or [],
            statuses=status or [],
            endpoints=build_endpoint_filter(endpoint or [], endpoint_subscription or [], owner),
            read_stdin=lambda: stdin_text(sys.stdin),
        )
        own = organisation_of(organisation)
        needs_confirmation = bool(selection.statuses) or action is Action.DELETE
        if needs_confirmation and not (yes or dry_run) and (reads_stdin or not sys.stdin.isatty()):
            what = "a delete" if action is Action.DELETE else f"{action.value} with a --status selection"
            raise SafetyRefusal(
                f"{what} needs confirmation, and there is no terminal to ask",
                code="ConfirmationRequired",
                hint="Pass --yes (or --dry-run to see the plan first).",
            )
        session = open_session(common)
        if selection.empty:  # a quiet night: stdin gave no targets
            typer.echo(f"azpe: {action.value}: no targets on stdin: nothing to do", err=True)
            session.emit([], RESULT_COLUMNS)
            return
        request = WriteRequest(
            action=action,
            selection=selection,
            description=description,
            dry_run=dry_run,
            force=force,
            options=run_options(
                retries=retries, concurrency=concurrency, wait_ready=wait_ready, busy_timeout=busy_timeout
            ),
        )
        labels = OwnerLabels(session, own)
        asks = needs_confirmation and not (yes or dry_run)
        # Whose endpoints (one az account list --all): for the prompt, an --owner filter, a
        # --query naming the owner, and every bulk write (its dry run too: the review before it).
        bulk = bool(selection.statuses) or reads_stdin
        shows_owner = asks or bulk or selection.endpoints.owner is not None or common.asks_owner
        audit = open_audit(audit_log, session, action.value, dry_run=dry_run)
        columns = with_subscription(RESULT_COLUMNS, scope.several_subscriptions)
        reporter = RunReporter(session, audit, owners=labels if shows_owner else None, columns=columns)
        reporter.warns_own = bulk and not asks  # the prompt says it itself
        if shows_owner:
            labels.prefetch()
        ask = _confirm_on_terminal(labels) if asks else (lambda _plan: True)
        report = reporter.run(
            lambda: run_write(
                session.client,
                request,
                confirm=reporter.confirming(ask),
                on_plan=reporter.on_plan,
                on_result=reporter.on_result,
                on_start=reporter.progress.start,
                owners=labels.owners,
            )
        )
        reporter.finish(report, action.value)

    command.__doc__ = summary
    app.command(action.value, short_help=short, cls=OneValueEach, epilog=epilog)(
        handle_errors(with_common_options(command))
    )


_write_command(
    Action.REJECT,
    "Reject connections (Pending or Approved; final).",
    "Reject private endpoint connections (Pending or Approved -> Rejected). Rejected is final: "
    "the endpoint's owner must re-create the endpoint to ask again.",
    examples(
        'azpe reject -g rg-data -s pg-orders -n pe-foreign.6f1c... -d "Not approved by the DBA team"',
        "azpe reject -g rg-data --status Pending --dry-run -o table",
        "azpe list -g rg-data --status Pending -o jsonl | azpe reject --id - -o jsonl",
    ),
)
_write_command(
    Action.APPROVE,
    "Approve Pending connections.",
    "Approve Pending private endpoint connections.",
    examples(
        'azpe approve -g rg-data -s pg-orders -n pe-app.6f1c... -d "Approved for the app team"',
        "azpe approve --id /subscriptions/.../privateEndpointConnections/NAME --wait-ready 300",
    ),
)
_write_command(
    Action.DELETE,
    "Delete connections (asks first).",
    "Delete private endpoint connections. Asks first, or needs --yes when stdin is not a terminal.",
    examples(
        "azpe delete -g rg-data -s pg-orders --status Rejected",
        "azpe list -g rg-data --status Disconnected -o ids | azpe delete --id - --yes",
    ),
)
