"""The ``azpe`` command: options, prompts, rendering, and the one place errors become exit codes."""

import functools
import logging
import os
import signal
import sys
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, ParamSpec, TypeVar

import typer

from azpe import __version__
from azpe.az import AzRunner, resolve_az
from azpe.client import Action, AzClient
from azpe.errors import AzpeError, ExitCode, NotFound, SafetyRefusal, UsageError
from azpe.executor import RunOptions
from azpe.ids import ConnectionRef, parse_connection_id, validate_connection_name, validate_subscription
from azpe.options import (
    READ_TIMEOUT,
    WRITE_TIMEOUT,
    AzPath,
    Concurrency,
    DryRun,
    Force,
    Ids,
    Names,
    Output,
    Query,
    ResourceGroup,
    Retries,
    ServerId,
    ServerName,
    Status,
    Subscription,
    Timeout,
    Verbose,
    WaitReady,
    Yes,
)
from azpe.outcomes import Outcome, TargetResult
from azpe.planning import Plan, servers_in_scope
from azpe.render import (
    CONNECTION_COLUMNS,
    RESULT_COLUMNS,
    SERVER_COLUMNS,
    apply_query,
    check_format,
    compile_query,
    render,
)

# SANDBOX from azpe.sandbox.cli import app as sandbox_app
from azpe.targets import STDIN, Scope, build_scope, build_selection, normalise_statuses
from azpe.writes import WriteReport, WriteRequest, reader, run_write

P = ParamSpec("P")
R = TypeVar("R")
log = logging.getLogger("azpe")

app = typer.Typer(
    name="azpe",
    help="Manage the private endpoint connections of Azure Database for PostgreSQL flexible "
    "servers - above all, reject the ones that should not reach your data. azpe drives the az "
    "CLI of your 'az login' session. stdout carries data only; logs and errors go to stderr.\n\n"
    "Exit codes: 0 ok, 1 Azure operation failed, 2 usage, 3 not found, 4 az missing / not "
    "logged in / not allowed, 5 server not Ready, 6 refused for safety, 70 bug, 130 interrupted.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    pretty_exceptions_show_locals=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)
server_app = typer.Typer(help="Inspect flexible servers.", no_args_is_help=True)
app.add_typer(server_app, name="server")
# SANDBOX app.add_typer(sandbox_app, name="sandbox")


# -- the edge: errors, logging, signals ------------------------------------------------------


def handle_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """Expected errors: one line and a hint. Ctrl-C: 130. Anything else is a bug: 70."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except (typer.Exit, typer.Abort):
            raise
        except AzpeError as exc:
            report_error(exc)
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            typer.echo("azpe: interrupted", err=True)
            raise typer.Exit(ExitCode.INTERRUPTED) from None
        except Exception:
            typer.echo(traceback.format_exc(), err=True)
            typer.echo("azpe: internal error: this is a bug in azpe; please report it.", err=True)
            raise typer.Exit(ExitCode.INTERNAL) from None

    return wrapper


def report_error(exc: AzpeError, prefix: str = "") -> None:
    typer.echo(f"azpe: error: {prefix}{exc.message}", err=True)
    if exc.hint:
        typer.echo(f"azpe: hint: {exc.hint}", err=True)


def setup_logging(verbose: int) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("azpe: %(message)s"))
    log.handlers[:] = [handler]
    log.propagate = False
    log.setLevel(logging.DEBUG if verbose >= 2 else logging.INFO if verbose == 1 else logging.WARNING)


def _sigterm_as_interrupt() -> None:
    """SIGTERM (cron, a cancelled CI job) takes the same careful path as Ctrl-C."""

    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, handler)


def main() -> None:
    _sigterm_as_interrupt()
    app()


def _version(value: bool) -> None:
    if value:
        typer.echo(f"azpe {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit.")
    ] = False,
) -> None:
    """Top-level options."""


# -- shared set-up ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Session:
    client: AzClient
    output: str
    query: Any  # a compiled JMESPath expression, or None

    def emit(self, data: Any, columns: tuple[str, ...]) -> None:
        shown = apply_query(data, self.query)
        text = render(shown, self.output, () if self.query is not None else columns)
        if text:
            sys.stdout.write(text)
            sys.stdout.flush()


def open_session(
    *, subscription: str | None, output: str, query: str | None, az: str | None, verbose: int,
    timeout: float | None,
) -> Session:  # fmt: skip
    """Validate the common options, then find az. Nothing has run yet."""
    setup_logging(verbose)
    check_format(output)
    compiled = compile_query(query)
    if subscription is not None:
        validate_subscription(subscription)
    runner = AzRunner(resolve_az(az, os.environ), timeout=timeout or READ_TIMEOUT)
    client = AzClient(runner, subscription=subscription, write_timeout=timeout or WRITE_TIMEOUT)
    return Session(client, output, compiled)


# -- read commands ----------------------------------------------------------------------------


@server_app.command("show")
@handle_errors
def server_show(
    resource_group: ResourceGroup = None,
    server: ServerName = None,
    server_id: ServerId = None,
    subscription: Subscription = None,
    output: Output = "json",
    query: Query = None,
    az: AzPath = None,
    verbose: Verbose = 0,
    timeout: Timeout = None,
) -> None:
    """Show a server: state, public network access, and its connections counted by status."""
    scope = build_scope(resource_group, server, server_id, subscription)
    if scope.server is None:
        raise UsageError("server show needs -g RG -s SERVER (or --server-id)")
    session = open_session(
        subscription=subscription, output=output, query=query, az=az, verbose=verbose, timeout=timeout
    )
    found = reader(RunOptions())(lambda: session.client.show_server(scope.server))  # type: ignore[arg-type]
    session.emit(found.to_record(), SERVER_COLUMNS)


@app.command("list")
@handle_errors
def list_connections(
    resource_group: ResourceGroup = None,
    server: ServerName = None,
    server_id: ServerId = None,
    status: Status = None,
    subscription: Subscription = None,
    output: Output = "json",
    query: Query = None,
    az: AzPath = None,
    verbose: Verbose = 0,
    timeout: Timeout = None,
) -> None:
    """List private endpoint connections of a server, a resource group, or the subscription."""
    scope = build_scope(resource_group, server, server_id, subscription)
    wanted = normalise_statuses(status or [])
    session = open_session(
        subscription=subscription, output=output, query=query, az=az, verbose=verbose, timeout=timeout
    )
    servers = servers_in_scope(session.client, scope, read=reader(RunOptions()))
    records = [c.to_record() for s in servers for c in s.connections if not wanted or c.status in wanted]
    session.emit(records, CONNECTION_COLUMNS)


@app.command("show")
@handle_errors
def show_connection(
    resource_group: ResourceGroup = None,
    server: ServerName = None,
    name: Annotated[str | None, typer.Option("-n", "--name", metavar="NAME", help="Connection name.")] = None,
    connection_id: Annotated[str | None, typer.Option("--id", metavar="ID", help="Connection ID.")] = None,
    subscription: Subscription = None,
    output: Output = "json",
    query: Query = None,
    az: AzPath = None,
    verbose: Verbose = 0,
    timeout: Timeout = None,
) -> None:
    """Show one private endpoint connection (-g RG -s SERVER -n NAME, or --id ID)."""
    target = _one_target(resource_group, server, name, connection_id, subscription)
    session = open_session(
        subscription=subscription, output=output, query=query, az=az, verbose=verbose, timeout=timeout
    )
    found = reader(RunOptions())(lambda: session.client.show_server(target.server))
    connection = found.connection(target.name)
    if connection is None:
        raise NotFound(
            f"server {found.name} has no private endpoint connection {target.name!r}",
            hint=f"List them with: azpe list -g {found.resource_group} -s {found.name}",
        )
    session.emit(connection.to_record(), CONNECTION_COLUMNS)


def _one_target(
    resource_group: str | None, server: str | None, name: str | None, connection_id: str | None,
    subscription: str | None,
) -> ConnectionRef:  # fmt: skip
    if connection_id is not None:
        if resource_group or server or name:
            raise UsageError("give either --id or -g/-s/-n, not both")
        return parse_connection_id(connection_id)
    scope = build_scope(resource_group, server, None, subscription)
    if scope.server is None or name is None:
        raise UsageError("show needs -g RG -s SERVER -n NAME, or --id ID")
    return ConnectionRef(scope.server, validate_connection_name(name))


# -- write commands ---------------------------------------------------------------------------


class ResultPrinter:
    """Streams results with -o jsonl (one line as each target finishes); else prints at the end."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.streaming = session.output == "jsonl"

    def on_result(self, result: TargetResult) -> None:
        if result.error is not None and result.outcome is Outcome.FAILED:
            report_error(result.error, prefix=f"{result.target.name}: ")
        if self.streaming:
            self.session.emit(result.to_record(), RESULT_COLUMNS)

    def finish(self, report: WriteReport, action: Action) -> None:
        if not self.streaming:
            self.session.emit([r.to_record() for r in report.results], RESULT_COLUMNS)
        counts = ", ".join(f"{n} {word}" for word, n in report.counts().items()) or "no targets"
        typer.echo(f"azpe: {action.value}: {counts}", err=True)


def _confirm_on_terminal(plan: Plan) -> bool:
    """Ask at the terminal (only reached when a person is there to answer)."""
    servers = {i.target.server.name for i in plan.writes}
    typer.echo(f"azpe: about to {plan.action.value} {len(plan.writes)} connection(s):", err=True)
    for item in plan.writes:
        typer.echo(f"  {item.target.server.name}/{item.target.name} ({item.previous_status})", err=True)
    return typer.confirm(f"{plan.action.value.capitalize()} them on {len(servers)} server(s)?", err=True)


def _write_command(action: Action, summary: str) -> None:
    description_help = "Text stored with the decision, seen by the endpoint's owner."

    def command(
        resource_group: ResourceGroup = None,
        server: ServerName = None,
        names: Names = None,
        ids: Ids = None,
        status: Status = None,
        server_id: ServerId = None,
        description: Annotated[
            str | None,
            typer.Option(
                "-d", "--description", metavar="TEXT", help=description_help, hidden=action is Action.DELETE
            ),
        ] = None,
        dry_run: DryRun = False,
        yes: Yes = False,
        wait_ready: WaitReady = 0.0,
        retries: Retries = 3,
        concurrency: Concurrency = 4,
        force: Force = False,
        subscription: Subscription = None,
        output: Output = "json",
        query: Query = None,
        az: AzPath = None,
        verbose: Verbose = 0,
        timeout: Timeout = None,
    ) -> None:
        if description is not None and action is Action.DELETE:
            raise UsageError("delete takes no --description")
        reads_stdin = STDIN in (ids or [])
        scope: Scope = build_scope(resource_group, server, server_id, subscription)
        selection = build_selection(
            scope=scope, names=names or [], ids=ids or [], statuses=status or [], read_stdin=sys.stdin.read
        )
        needs_confirmation = bool(selection.statuses) or action is Action.DELETE
        if needs_confirmation and not (yes or dry_run) and (reads_stdin or not sys.stdin.isatty()):
            raise SafetyRefusal(
                f"{action.value} with a --status selection or a delete needs confirmation, and "
                "there is no terminal to ask",
                code="ConfirmationRequired",
                hint="Pass --yes (or --dry-run to see the plan first).",
            )
        session = open_session(
            subscription=subscription, output=output, query=query, az=az, verbose=verbose, timeout=timeout
        )
        request = WriteRequest(
            action=action,
            selection=selection,
            description=description,
            dry_run=dry_run,
            force=force,
            options=RunOptions(
                retries=retries,
                concurrency=concurrency,
                wait_ready=wait_ready,
                converge_timeout=timeout or WRITE_TIMEOUT,
            ),
        )
        printer = ResultPrinter(session)
        confirm = (lambda _plan: True) if (yes or not needs_confirmation) else _confirm_on_terminal
        report = run_write(session.client, request, confirm=confirm, on_result=printer.on_result)
        printer.finish(report, action)
        if report.exit_code != ExitCode.OK:
            raise typer.Exit(report.exit_code)

    command.__doc__ = summary
    app.command(action.value)(handle_errors(command))


_write_command(
    Action.REJECT,
    "Reject private endpoint connections (Pending or Approved -> Rejected). Rejected is final: "
    "the endpoint's owner must re-create the endpoint to ask again.",
)
_write_command(Action.APPROVE, "Approve Pending private endpoint connections.")
_write_command(
    Action.DELETE,
    "Delete private endpoint connections. Asks first, or needs --yes when stdin is not a terminal.",
)
