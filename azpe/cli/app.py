"""The Typer app and its edge: the one place errors become exit codes, logging, signals,
and the session (az runner, output format, query) every command opens."""

import contextlib
import functools
import inspect
import logging
import os
import signal
import sys
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, ParamSpec, TypeVar

import typer

from azpe import __version__
from azpe.az import AzRunner, resolve_az
from azpe.client import AzClient
from azpe.errors import AzpeError, ExitCode
from azpe.ids import validate_subscription
from azpe.options import READ_TIMEOUT, WRITE_TIMEOUT, AzPath, Output, Query, Subscription, Timeout, Verbose
from azpe.render import (
    apply_query,
    check_format,
    compile_query,
    render,
)
from azpe.sandbox.cli import app as sandbox_app

P = ParamSpec("P")
R = TypeVar("R")
log = logging.getLogger("azpe")

app = typer.Typer(
    name="azpe",
    help="Manage the private endpoint connections of Azure Database for PostgreSQL flexible "
    "servers - above all, reject the ones that should not reach your data. azpe drives the az "
    "CLI of your 'az login' session. stdout carries data only; logs and errors go to stderr.\n\n"
    "Exit codes: 0 ok, 1 Azure operation failed, 2 usage, 3 not found, 4 az missing / not "
    "logged in / not allowed, 5 server not Ready, 6 refused for safety, 7 policy drift (enforce "
    "--check), 70 bug, 130 interrupted.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    pretty_exceptions_show_locals=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)
server_app = typer.Typer(help="Inspect flexible servers.", no_args_is_help=True)
app.add_typer(server_app, name="server")
app.add_typer(sandbox_app, name="sandbox")


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
    stdout_closed: threading.Event = field(default_factory=threading.Event)

    def emit(self, data: Any, columns: tuple[str, ...]) -> None:
        """Print data on stdout. A reader that has gone (``| head -1``) ends the printing, not
        the run: every planned write still runs and is audited, and the exit code is the run's."""
        shown = apply_query(data, self.query)
        text = render(shown, self.output, () if self.query is not None else columns)
        if not text or self.stdout_closed.is_set():
            return
        try:
            sys.stdout.write(text)
            sys.stdout.flush()
        except BrokenPipeError:
            self.stdout_closed.set()
            _stdout_to_devnull()
            log.info("stdout was closed by its reader; the run goes on without printing results")


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

    subscription: str | None
    output: str
    query: str | None
    az: str | None
    verbose: int
    timeout: float | None


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
        common = Common(**{p.name: kwargs.pop(p.name) for p in _COMMON_PARAMETERS})
        fn(**kwargs, common=common)

    wrapper.__signature__ = signature.replace(parameters=[*own, *_COMMON_PARAMETERS])  # type: ignore[attr-defined]
    return wrapper


def open_session(common: Common) -> Session:
    """Validate the common options, then find az. Nothing has run yet."""
    setup_logging(common.verbose)
    check_format(common.output)
    compiled = compile_query(common.query)
    if common.subscription is not None:
        validate_subscription(common.subscription)
    runner = AzRunner(resolve_az(common.az, os.environ), timeout=common.timeout or READ_TIMEOUT)
    client = AzClient(runner, subscription=common.subscription, write_timeout=common.timeout or WRITE_TIMEOUT)
    return Session(client, common.output, compiled)
