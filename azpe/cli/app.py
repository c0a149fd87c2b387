"""The Typer app and its edge: the one place errors become exit codes, logging, signals,
and the session (az runner, output format, query) every command opens."""

import contextlib
import functools
import importlib.util
import inspect
import logging
import os
import shlex
import shutil
import signal
import sys
import threading
import traceback
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, ParamSpec, TypeVar

import typer

# Typer vendors Click; its exceptions are not re-exported at the top level.
from typer._click.exceptions import ClickException, NoArgsIsHelpError, UsageError
from typer.core import TyperCommand, TyperGroup, TyperOption

from azpe import __version__
from azpe.accounts import Lazy, Owners
from azpe.az import AzRunner, resolve_az
from azpe.capacity import Capacity
from azpe.client import AzClient
from azpe.errors import AzpeError, ExitCode
from azpe.escape import visible
from azpe.ids import ServerRef, validate_subscription
from azpe.models import Connection, Server
from azpe.options import READ_TIMEOUT, WRITE_TIMEOUT, AzPath, Output, Query, Subscription, Timeout, Verbose
from azpe.policy import load_policy
from azpe.reads import ServerReader, Unreadable, load_owners
from azpe.render import (
    apply_query,
    check_format,
    compile_query,
    render,
)
from azpe.retry import reader
from azpe.targets import Scope, build_scope, parse_shard

P = ParamSpec("P")
R = TypeVar("R")
log = logging.getLogger("azpe")


class _OneLineErrors(TyperGroup):
    """Usage errors as one ``azpe: error:`` line and a hint (Click prints three lines: usage,
    a try-help line and the error); the exit code stays 2."""

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        windows_expand_args: bool = True,
        **extra: Any,
    ) -> Any:
        def run(standalone: bool) -> Any:
            return super(_OneLineErrors, self).main(
                args, prog_name, complete_var, standalone, windows_expand_args, **extra
            )

        if not standalone_mode:
            return run(False)
        try:
            code = run(False)
        except NoArgsIsHelpError as exc:  # `azpe` alone: the help, as before
            exc.show()
            sys.exit(exc.exit_code)
        except UsageError as exc:
            command = exc.ctx.command_path if exc.ctx is not None else "azpe"
            typer.echo(f"azpe: error: {visible(exc.format_message())}", err=True)
            typer.echo(f"azpe: hint: see '{command} -h'", err=True)
            sys.exit(exc.exit_code)
        except ClickException as exc:
            exc.show()
            sys.exit(exc.exit_code)
        except typer.Abort:
            typer.echo("azpe: interrupted", err=True)
            sys.exit(ExitCode.INTERRUPTED)
        sys.exit(code if isinstance(code, int) else 0)


app = typer.Typer(
    cls=_OneLineErrors,
    name="azpe",
    help="Manage the private endpoint connections of Azure Database for PostgreSQL flexible "
    "servers - above all, reject the ones that should not reach your data. azpe drives the az "
    "CLI of your 'az login' session. stdout carries data only; logs and errors go to stderr.\n\n"
    "Exit codes: 0 ok, 1 Azure operation failed, 2 usage, 3 not found, 4 az missing / not "
    "logged in / not allowed, 5 server not Ready, 6 refused for safety, 7 policy drift (enforce "
    "--check), 70 bug, 130 interrupted.",
    no_args_is_help=True,
    add_completion=True,  # --install-completion, --show-completion
    pretty_exceptions_enable=False,
    pretty_exceptions_show_locals=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)
server_app = typer.Typer(help="Inspect flexible servers.", no_args_is_help=True)
app.add_typer(server_app, name="server")

SANDBOX_EXTRA = "the sandbox needs the 'sandbox' extra: pip install 'azpe[sandbox]'"


def _mount_sandbox() -> None:
    """``azpe sandbox``, when its extra (trustme) is installed; else a command that says, in
    one line, how to install it, whatever follows it. Looking for the extra imports nothing."""
    if importlib.util.find_spec("trustme") is not None:
        from azpe.sandbox.cli import app as sandbox_app

        app.add_typer(sandbox_app, name="sandbox")
        return

    @app.command(
        "sandbox",
        help=f"Run a local Azure emulator (not installed: {SANDBOX_EXTRA}).",
        context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
        add_help_option=False,
    )
    def _not_installed(args: Annotated[list[str] | None, typer.Argument(hidden=True)] = None) -> None:
        typer.echo(f"azpe: error: {SANDBOX_EXTRA}", err=True)
        if args and args[0] == "env" and not sys.stdout.isatty():
            # Read by `eval "$(azpe sandbox env)"`: make the eval itself fail, not apply nothing.
            typer.echo(f"printf '%s\\n' {shlex.quote('azpe: ' + SANDBOX_EXTRA)} >&2; false")
        raise typer.Exit(ExitCode.USAGE)


_mount_sandbox()


class OneValueEach(TyperCommand):
    """A command that refuses an option given twice when it takes one value: Click would keep
    the last (``-s a -s b`` would act on b alone, silently)."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:  # ctx: Click's own Context
        try:
            _opts, _rest, order = self.make_parser(ctx).parse_args(args=list(args))
        except Exception:  # a usage error: the real parse below reports it
            return super().parse_args(ctx, args)
        given = Counter(p for p in order if isinstance(p, TyperOption) and _takes_one_value(p))
        for param, times in given.items():
            if times > 1:
                names = "/".join(param.opts)
                ctx.fail(f"{names} was given {times} times; it takes one value (give it once)")
        return super().parse_args(ctx, args)


def _takes_one_value(param: TyperOption) -> bool:
    return not (param.multiple or param.count or param.is_flag)


def examples(*lines: str) -> str:
    """A command's help epilog: examples, one command line each, kept as they are (Click
    rewraps help text, but not a paragraph after ``\b``)."""
    return "Examples:\n\n\b\n" + "\n".join(f"  {line}" for line in lines)


# -- the edge: errors, logging, signals ------------------------------------------------------


def handle_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """Expected errors: one line and a hint. Ctrl-C: 130. Anything else is a bug: 70."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        _IN_COMMAND.set()
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
            # A bug's traceback may quote text from Azure too: each line escaped.
            typer.echo("\n".join(map(visible, traceback.format_exc().split("\n"))), err=True)
            typer.echo("azpe: internal error: this is a bug in azpe; please report it.", err=True)
            raise typer.Exit(ExitCode.INTERNAL) from None
        finally:
            _IN_COMMAND.clear()

    return wrapper


def report_error(exc: AzpeError, prefix: str = "") -> None:
    """One error line (and a hint line). Messages echo text from Azure and az: escaped."""
    typer.echo(f"azpe: error: {visible(prefix + exc.message)}", err=True)
    if exc.hint:
        typer.echo(f"azpe: hint: {visible(exc.hint)}", err=True)
    if log.isEnabledFor(logging.INFO):  # -v: the failed az call, to diagnose without a rerun
        for line in exc.details():
            typer.echo(f"azpe: detail: {visible(line)}", err=True)


def report_unreadable(unreadable: Iterable[Unreadable]) -> None:
    """One error line per subscription of the scope that could not be read."""
    for each in unreadable:
        report_error(each.error, prefix=f"subscription {each.subscription}: ")


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to ``sys.stderr`` as it is at each record (the progress display redirects it,
    to print the line above itself)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


class _VisibleFormatter(logging.Formatter):
    """Log lines carry az's argv and (with -vv) its output: each line escaped visibly."""

    def format(self, record: logging.LogRecord) -> str:
        return "\n".join(visible(line) for line in super().format(record).split("\n"))


def setup_logging(verbose: int) -> None:
    handler = _StderrHandler()
    handler.setFormatter(_VisibleFormatter("azpe: %(message)s"))
    log.handlers[:] = [handler]
    log.propagate = False
    log.setLevel(logging.DEBUG if verbose >= 2 else logging.INFO if verbose == 1 else logging.WARNING)


_IN_COMMAND = threading.Event()  # a command's body runs (inside handle_errors)


def _sigterm_as_interrupt() -> None:
    """SIGTERM (cron, a cancelled CI job) takes the same careful path as Ctrl-C while a
    command runs. Before (start-up, parsing) or after it there is nothing to report: exit 130
    at once, without a traceback."""

    def handler(signum: int, frame: object) -> None:
        if _IN_COMMAND.is_set():
            raise KeyboardInterrupt
        sys.stderr.write("azpe: interrupted\n")
        sys.stderr.flush()
        os._exit(ExitCode.INTERRUPTED)

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
    stdout_closed: threading.Event = field(default_factory=threading.Event)
    servers: ServerReader = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "servers", ServerReader(self.client, reader()))

    def read_server(self, ref: ServerRef) -> Server:
        """One server, read under the read retry policy; not found is said plainly."""
        return self.servers.server(ref)

    def explained(self, error: AzpeError, ref: ServerRef) -> AzpeError:
        """The error of reading server ``ref``; when the server or its group is not there,
        said plainly, with the servers there are."""
        return self.servers.explained(error, ref)

    def emit(self, data: Any, columns: tuple[str, ...]) -> None:
        """Print data on stdout. A reader that has gone (``| head -1``) ends the printing, not
        the run: every planned write still runs and is audited, and the exit code is the run's."""
        shown = apply_query(data, self.query)
        queried = self.query is not None
        text = render(shown, self.output, () if queried else columns, queried=queried, width=_width())
        if not text or self.stdout_closed.is_set():
            return
        try:
            sys.stdout.write(text)
            sys.stdout.flush()
        except BrokenPipeError:
            self.stdout_closed.set()
            _stdout_to_devnull()
            log.info("stdout was closed by its reader; the run goes on without printing results")


def _width() -> int | None:
    """The terminal's width when stdout is a terminal (tables fit it), else no limit."""
    try:
        return shutil.get_terminal_size().columns if sys.stdout.isatty() else None
    except (AttributeError, ValueError, OSError):  # a stdout without a descriptor
        return None


def _stdout_to_devnull() -> None:
    """Point stdout's file descriptor at devnull (the Python docs' "Note on SIGPIPE"), so that
    what is still buffered, flushed when the interpreter exits, goes nowhere instead of raising
    "Exception ignored ... BrokenPipeError". A stdout without a descriptor (a test's) is left
    as it is: emit writes it no more."""
    with contextlib.suppress(OSError, ValueError):  # io.UnsupportedOperation: no descriptor
        fd = sys.stdout.fileno()
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, fd)
        finally:
            os.close(devnull)


@dataclass(frozen=True)
class Common:
    """The options every command takes, in the order they appear after its own."""

    subscriptions: tuple[str, ...]
    output: str
    query: str | None
    az: str | None
    verbose: int
    timeout: float | None

    @property
    def asks_owner(self) -> bool:
        """A --query that names the owner field: determine it (one az account list --all)."""
        return self.query is not None and "owner" in self.query

    @property
    def subscription(self) -> str | None:
        """The one subscription given (None: az's default, or several were given)."""
        return self.subscriptions[0] if len(self.subscriptions) == 1 else None


_COMMON_PARAMETERS = [
    inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation)
    for name, annotation, default in (
        ("subscription", Subscription, None),
        ("output", Output, "json"),
        ("query", Query, None),
        ("az", AzPath, None),
        ("verbose", Verbose, 0),
        ("timeout", Timeout, None),
    )
]


def with_common_options(fn: Callable[..., None]) -> Callable[..., None]:
    """Give a command the common options (declared once, here) and hand them to it as
    ``common``: Typer reads the command's options from the signature set below."""
    signature = inspect.signature(fn)
    own = [
        p.replace(kind=inspect.Parameter.KEYWORD_ONLY)
        for n, p in signature.parameters.items()
        if n != "common"
    ]

    @functools.wraps(fn)
    def wrapper(**kwargs: Any) -> None:
        values = {p.name: kwargs.pop(p.name) for p in _COMMON_PARAMETERS}
        values["subscriptions"] = tuple(values.pop("subscription") or ())
        common = Common(**values)
        fn(**kwargs, common=common)

    wrapper.__signature__ = signature.replace(parameters=[*own, *_COMMON_PARAMETERS])  # type: ignore[attr-defined]
    return wrapper


def open_session(common: Common) -> Session:
    """Validate the common options, then find az. Nothing has run yet."""
    setup_logging(common.verbose)
    check_format(common.output)
    compiled = compile_query(common.query)
    for subscription in common.subscriptions:
        validate_subscription(subscription)
    runner = AzRunner(
        resolve_az(common.az, os.environ),
        timeout=common.timeout or READ_TIMEOUT,
        capacity=Capacity.of_this_machine(),
    )
    client = AzClient(runner, subscription=common.subscription, write_timeout=common.timeout or WRITE_TIMEOUT)
    return Session(client, common.output, compiled)


def scope_of(
    common: Common,
    resource_group: str | None,
    server: str | None = None,
    server_id: str | None = None,
    *,
    all_subscriptions: bool = False,
    shard: str | None = None,
) -> Scope:
    """The scope the options name; validated, before any az call."""
    return build_scope(
        resource_group,
        server,
        server_id,
        subscriptions=common.subscriptions,
        all_subscriptions=all_subscriptions,
        shard=parse_shard(shard) if shard is not None else None,
    )


def organisation_of(path: Path | None) -> tuple[str, ...]:
    """The own subscriptions a policy file names in ``[organisation]`` (read before any az call)."""
    return load_policy(path).own_subscriptions if path is not None else ()


class OwnerLabels:
    """Whose each endpoint is, for records, tables and prompts: ``az account list --all`` is
    run once, when first needed. Labels for display only: if az cannot list the accounts,
    the owner is unknown (None) and a warning says why; a filter by owner uses ``owners``,
    whose error stops the command instead."""

    def __init__(self, session: Session, organisation: tuple[str, ...] = ()) -> None:
        self._owners: Lazy[Owners] = Lazy(lambda: load_owners(session.client, reader(), organisation))
        self._warned = False

    def owners(self) -> Owners:
        return self._owners.get()

    def prefetch(self) -> None:
        """Start ``az account list --all`` now, beside the reads, so that the answer is there
        when the plan needs it (its error, if any, is kept for the first asker)."""
        threading.Thread(target=self._try, name="azpe-owners", daemon=True).start()

    def _try(self) -> None:
        with contextlib.suppress(Exception):
            self._owners.get()

    def of(self, connection: Connection | None) -> str | None:
        if connection is None:
            return None
        try:
            return self.owners().owner(connection)
        except AzpeError as exc:
            if not self._warned:
                self._warned = True
                log.warning("owner unknown: az account list --all failed: %s", exc.message)
            return None
