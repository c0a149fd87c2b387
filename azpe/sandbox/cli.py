"""``azpe sandbox start|stop|env|seed|status``: the local Azure emulator as a background
process, with an az configuration directory that is registered and logged in against it.

Only typer and the standard library are imported here; the emulator loads inside commands.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

app = typer.Typer(
    help="Run a local Azure emulator and point az (and azpe) at it.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)

DirOption = Annotated[
    Path | None,
    typer.Option("--dir", help="Sandbox directory [default: $AZPE_SANDBOX_DIR or ./.sandbox]"),
]
ENV_NAMES = (
    "AZURE_CONFIG_DIR",
    "REQUESTS_CA_BUNDLE",
    "AZURE_CORE_INSTANCE_DISCOVERY",
    "AZURE_CORE_COLLECT_TELEMETRY",
)


class Timing(str, Enum):
    """The emulator's timing models (``azpe.sandbox.state.TIMING_MODELS``, not imported here:
    this module loads with every azpe command)."""

    AT_END = "at-end"
    AT_ONCE = "at-once"


TIMING_HELP = (
    "When a connection write's effect shows. at-end: the connection reads Updating/Deleting "
    "with its old status until the operation ends, then the new status (or it is gone). "
    "at-once: the new status (or the deletion) shows at once. Either way the server reads "
    "Updating and answers other writes with 409 ServerIsBusy until the operation ends."
)


def _fail(message: str, code: int = 1) -> NoReturn:
    typer.echo(f"azpe sandbox: {message}", err=True)
    raise typer.Exit(code)


def _sandbox_dir(option: Path | None) -> Path:
    return (option or Path(os.environ.get("AZPE_SANDBOX_DIR") or ".sandbox")).resolve()


def _running(state_dir: Path) -> dict[str, Any]:
    from .control import read_info

    info = read_info(state_dir)
    if info is None:
        _fail(f"no sandbox is running in {state_dir}; start one with `azpe sandbox start`")
    return info


def _resolve_az(option: str | None) -> str:
    name = option or os.environ.get("AZPE_AZ") or "az"
    found = shutil.which(name)
    if found is None:
        _fail(f"az not found ({name!r}); install azure-cli, or pass --az PATH or set AZPE_AZ")
    return found


def _read_scenario(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        _fail(f"cannot read scenario {path}: {exc}", 2)


@app.command()
def start(
    sandbox_dir: DirOption = None,
    seed: Annotated[Path | None, typer.Option(help="Scenario JSON [default: the demo scenario]")] = None,
    op_seconds: Annotated[
        float,
        typer.Option(
            min=0, help="Duration of a connection write (async operation); the server is busy that long"
        ),
    ] = 2.0,
    timing: Annotated[Timing, typer.Option(help=TIMING_HELP)] = Timing.AT_END,
    az: Annotated[str | None, typer.Option(help="az executable [default: $AZPE_AZ or az]")] = None,
) -> None:
    """Start the emulator in the background and log an isolated az configuration into it."""
    from .api import SandboxError, prepare_az
    from .control import NotRunning, read_info, spawn, terminate

    state_dir = _sandbox_dir(sandbox_dir)
    info = read_info(state_dir)
    if info is not None:
        _fail(f"a sandbox is already running in {state_dir} at {info['url']} (pid {info['pid']})")
    az_path = _resolve_az(az)
    if seed is not None:
        _read_scenario(seed)  # fail before starting anything
    try:
        info = spawn(state_dir, seed.resolve() if seed else None, op_seconds, timing=timing.value)
    except NotRunning as exc:
        _fail(str(exc))
    typer.echo(f"Emulator running at {info['url']} (pid {info['pid']}); logging az in...", err=True)
    try:
        prepare_az(az_path, state_dir / "azure", info["url"], Path(info["ca"]))
    except SandboxError as exc:
        terminate(int(info["pid"]))
        _fail(f"could not set up az against the emulator: {exc}")
    typer.echo(
        f"Sandbox ready in {state_dir}. Point this shell's az and azpe at it with:\n"
        f'    eval "$(azpe sandbox env{_dir_arg(sandbox_dir)})"\n'
        f"Stop it with: azpe sandbox stop{_dir_arg(sandbox_dir)}",
        err=True,
    )


def _dir_arg(option: Path | None) -> str:
    return "" if option is None else f" --dir {shlex.quote(str(option))}"


@app.command()
def env(sandbox_dir: DirOption = None) -> None:
    """Print `export` lines that point az at the running sandbox."""
    from .api import az_environment

    state_dir = _sandbox_dir(sandbox_dir)
    info = _running(state_dir)
    values = az_environment(state_dir / "azure", Path(info["ca"]))
    for name in ENV_NAMES:
        typer.echo(f"export {name}={shlex.quote(values[name])}")


@app.command("seed")
def seed_command(
    file: Annotated[Path | None, typer.Argument(help="Scenario JSON")] = None,
    default: Annotated[bool, typer.Option("--default", help="Seed the demo scenario")] = False,
    sandbox_dir: DirOption = None,
) -> None:
    """Replace the running emulator's state with a scenario."""
    from .control import NotRunning, admin
    from .scenarios import default_scenario

    if (file is None) == (not default):
        _fail("give either a scenario FILE or --default", 2)
    scenario = default_scenario() if default else _read_scenario(file) if file else None
    info = _running(_sandbox_dir(sandbox_dir))
    try:
        admin(info, "POST", "seed", scenario)
    except ValueError as exc:
        _fail(f"the emulator refused the scenario: {exc}", 2)
    except NotRunning as exc:
        _fail(str(exc))
    typer.echo("Seeded.", err=True)


@app.command()
def status(sandbox_dir: DirOption = None) -> None:
    """Show whether the sandbox runs, where, and its servers and connections."""
    from .control import NotRunning, admin

    state_dir = _sandbox_dir(sandbox_dir)
    info = _running(state_dir)
    try:
        state = admin(info, "GET", "state")
        requests = admin(info, "GET", "requests")
        timing = admin(info, "GET", "timing")
    except NotRunning as exc:
        _fail(str(exc))
    typer.echo(f"running  {info['url']}  pid {info['pid']}  dir {state_dir}")
    typer.echo(f"connection writes: {timing['opSeconds']:g} s, timing {timing['timing']}")
    typer.echo(f"requests served: {len(requests)}")
    for sub in state["subscriptions"]:
        for rg in sub["resourceGroups"]:
            for srv in rg["servers"]:
                counts: dict[str, int] = {}
                for conn in srv["connections"]:
                    counts[conn["status"]] = counts.get(conn["status"], 0) + 1
                summary = ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "none"
                busy = " (busy)" if srv.get("busy") else ""
                typer.echo(
                    f"{sub['displayName']}/{rg['name']}/{srv['name']}: {srv['state']}{busy}, "
                    f"public access {srv['publicNetworkAccess']}, connections: {summary}"
                )


@app.command()
def stop(sandbox_dir: DirOption = None) -> None:
    """Stop the sandbox's emulator (the az configuration directory stays)."""
    from .control import terminate

    state_dir = _sandbox_dir(sandbox_dir)
    info = _running(state_dir)
    terminate(int(info["pid"]))
    (state_dir / "server.json").unlink(missing_ok=True)
    typer.echo(f"Stopped the sandbox emulator (pid {info['pid']}).", err=True)
