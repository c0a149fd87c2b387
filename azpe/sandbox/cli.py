"""``azpe sandbox start|env|status|seed|dump|fault|server-state|timing|stop``: the local
Azure emulator as a background process, with an az configuration directory that is
registered and logged in against it.

The sandbox directory is ``--dir``, else ``$AZPE_SANDBOX_DIR``, else ``./.sandbox``, always
made absolute. ``env`` prints shell code for ``eval``: the exports when the sandbox runs, else
code that writes the reason to stderr and fails (so ``eval`` fails visibly instead of
applying nothing).

Only typer and the standard library are imported here; the emulator loads inside commands.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import sys
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
    return _locate(option)[0]


def _locate(option: Path | None) -> tuple[Path, str]:
    """The sandbox directory (absolute) and what chose it."""
    if option is not None:
        return option.resolve(), "--dir"
    if os.environ.get("AZPE_SANDBOX_DIR"):
        return Path(os.environ["AZPE_SANDBOX_DIR"]).resolve(), "$AZPE_SANDBOX_DIR"
    return Path(".sandbox").resolve(), "the default ./.sandbox; --dir or $AZPE_SANDBOX_DIR choose another"


def _not_running(state_dir: Path) -> str:
    """Why there is no sandbox to talk to in ``state_dir``."""
    where = "the directory does not exist" if not state_dir.is_dir() else "no emulator runs there"
    return (
        f"no sandbox is running in {state_dir} ({where}); start one with `azpe sandbox start`, "
        "or choose the directory of a running one with --dir DIR or AZPE_SANDBOX_DIR"
    )


def _running(state_dir: Path) -> dict[str, Any]:
    from .control import read_info

    info = read_info(state_dir)
    if info is None:
        _fail(_not_running(state_dir))
    return info


def _resolve_az(option: str | None) -> str:
    name = option or os.environ.get("AZPE_AZ") or "az"
    found = shutil.which(name)
    if found is None:
        _fail(f"az not found ({name!r}); install azure-cli, or pass --az PATH or set AZPE_AZ")
    return found


def _read_scenario(path: Path) -> Any:
    try:
        return json.loads(sys.stdin.read() if str(path) == "-" else path.read_text(encoding="utf-8"))
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
    from .scenarios import DEFAULT_SUBSCRIPTION

    state_dir = _sandbox_dir(sandbox_dir)
    info = read_info(state_dir)
    if info is not None:
        _fail(f"a sandbox is already running in {state_dir} at {info['url']} (pid {info['pid']})")
    az_path = _resolve_az(az)
    default_sub: str | None = DEFAULT_SUBSCRIPTION
    if seed is not None:
        if str(seed) == "-":
            _fail("--seed takes a file; to seed from stdin, start and then `azpe sandbox seed -`", 2)
        seeded = _read_scenario(seed)  # fail before starting anything
        if DEFAULT_SUBSCRIPTION.lower() not in _subscription_ids(seeded):
            default_sub = None  # az picks the scenario's first Enabled subscription
    try:
        info = spawn(state_dir, seed.resolve() if seed else None, op_seconds, timing=timing.value)
    except NotRunning as exc:
        _fail(str(exc))
    typer.echo(f"Emulator running at {info['url']} (pid {info['pid']}); logging az in...", err=True)
    try:
        prepare_az(az_path, state_dir / "azure", info["url"], Path(info["ca"]), default_sub)
        (state_dir / AZ_FILE).write_text(json.dumps({"az": az_path}), encoding="utf-8")
    except SandboxError as exc:
        terminate(int(info["pid"]))
        _fail(f"could not set up az against the emulator: {exc}")
    typer.echo(
        f"Sandbox ready in {state_dir}. Point a shell's az and azpe at it (from any directory) with:\n"
        f'    eval "$(azpe sandbox env{_dir_arg(state_dir)})"\n'
        f'Undo that with: eval "$(azpe sandbox env --unset)"\n'
        f"Stop it with: azpe sandbox stop{_dir_arg(state_dir)}",
        err=True,
    )


AZ_FILE = "az.json"  # the az that `start` logged in: `seed` refreshes its login with it


def _subscription_ids(scenario: Any) -> list[str]:
    try:
        return [str(s["id"]).lower() for s in scenario["subscriptions"]]
    except (KeyError, TypeError):
        return []  # the emulator says what is wrong with it


def _dir_arg(state_dir: Path) -> str:
    return f" --dir {shlex.quote(str(state_dir))}"


SAVED = "AZPE_SANDBOX_SAVED"  # JSON: the values EXPORTED had before `env` was applied
EXPORTED = (*ENV_NAMES, "AZPE_SANDBOX_DIR")


def _eval_failure(message: str) -> NoReturn:
    """Fail so that ``eval "$(azpe sandbox env)"`` fails: stdout gets shell code that writes
    the reason to stderr and returns non-zero (on a terminal, the reason goes to stderr)."""
    text = f"azpe sandbox env: {message}. Nothing was applied: this shell's az is unchanged."
    if sys.stdout.isatty():
        typer.echo(text, err=True)
    else:
        typer.echo(f"printf '%s\\n' {shlex.quote(text)} >&2; false")
    raise typer.Exit(1)


@app.command()
def env(
    sandbox_dir: DirOption = None,
    unset: Annotated[
        bool,
        typer.Option("--unset", help="Print code that restores what `env` changed in this shell"),
    ] = False,
) -> None:
    """Print shell code for `eval`: it points az (and azpe sandbox) at the running sandbox, or,
    when there is none, writes why to stderr and fails (non-zero status)."""
    try:
        lines = _unset_lines() if unset else _env_lines(sandbox_dir)
    except typer.Exit:
        raise
    except Exception as exc:  # never let `eval` silently apply nothing
        _eval_failure(f"unexpected error: {exc!r}")
    for line in lines:
        typer.echo(line)


def _env_lines(sandbox_dir: Path | None) -> list[str]:
    from .api import MARKER, az_environment
    from .control import NotRunning, admin, read_info

    state_dir, _ = _locate(sandbox_dir)
    info = read_info(state_dir)
    if info is None:
        _eval_failure(_not_running(state_dir))
    config_dir = state_dir / "azure"
    if not (config_dir / MARKER).is_file():
        _eval_failure(
            f"the sandbox in {state_dir} has no az configuration made by `azpe sandbox start` "
            f"({config_dir}); stop it and start it again"
        )
    try:
        admin(info, "GET", "health", timeout=5)
    except (NotRunning, ValueError) as exc:
        _eval_failure(str(exc))
    values = az_environment(config_dir, Path(info["ca"]).resolve()) | {"AZPE_SANDBOX_DIR": str(state_dir)}
    # Keep what the shell had before the first `env` (a second one, say for another sandbox,
    # must not save the first one's values), so that `env --unset` restores it.
    saved = os.environ.get(SAVED) or json.dumps({name: os.environ.get(name) for name in EXPORTED})
    return [f"export {name}={shlex.quote(values[name])}" for name in EXPORTED] + [
        f"export {SAVED}={shlex.quote(saved)}"
    ]


def _unset_lines() -> list[str]:
    from .api import MARKER

    raw = os.environ.get(SAVED)
    if raw is None:
        config = os.environ.get("AZURE_CONFIG_DIR")
        if config and (Path(config) / MARKER).is_file():  # applied without a record: unset all
            return [f"unset {' '.join(ENV_NAMES)}"]
        typer.echo("azpe sandbox env --unset: no sandbox environment is applied in this shell.", err=True)
        return [":"]
    try:
        saved = json.loads(raw)
        if not isinstance(saved, dict):
            raise ValueError("not an object")
    except ValueError as exc:
        _eval_failure(f"${SAVED} is not what `azpe sandbox env` wrote ({exc}); nothing to restore")
    lines = []
    for name in EXPORTED:
        value = saved.get(name)
        lines.append(f"unset {name}" if value is None else f"export {name}={shlex.quote(str(value))}")
    return [*lines, f"unset {SAVED}"]


@app.command("seed")
def seed_command(
    file: Annotated[Path | None, typer.Argument(help="Scenario JSON (- for stdin), e.g. from `dump`")] = None,
    default: Annotated[bool, typer.Option("--default", help="Seed the demo scenario")] = False,
    keep_login: Annotated[
        bool,
        typer.Option(
            "--keep-login",
            help="Do not refresh the sandbox's az login when the seeded subscriptions differ from its own",
        ),
    ] = False,
    az: Annotated[
        str | None, typer.Option(help="az for the login refresh [default: the one `start` used]")
    ] = None,
    sandbox_dir: DirOption = None,
) -> None:
    """Replace the running emulator's state with a scenario. When its subscriptions differ
    from those the sandbox's az login lists, refresh the login (`az account list --refresh`),
    so that az knows exactly the emulator's subscriptions."""
    from .control import NotRunning, admin
    from .scenarios import default_scenario

    if (file is None) == (not default):
        _fail("give either a scenario FILE or --default", 2)
    scenario = default_scenario() if default else _read_scenario(file) if file else None
    state_dir = _sandbox_dir(sandbox_dir)
    info = _running(state_dir)
    try:
        state = admin(info, "POST", "seed", scenario)
    except ValueError as exc:
        _fail(f"the emulator refused the scenario: {exc}", 2)
    except NotRunning as exc:
        _fail(str(exc))
    if keep_login:
        typer.echo("Seeded (the az login was left as it was).", err=True)
        return
    typer.echo(f"Seeded. {_sync_login(state_dir, info, state, az)}", err=True)


def _sync_login(state_dir: Path, info: dict[str, Any], state: dict[str, Any], az: str | None) -> str:
    """Refresh the sandbox's az login to the seeded subscriptions; what happened, in a line."""
    from .api import MARKER, SandboxError, az_environment, refresh_login

    config_dir = state_dir / "azure"
    if not (config_dir / MARKER).is_file():
        return f"(No az login to refresh: {config_dir} was not made by `azpe sandbox start`.)"
    az_path = az or _recorded_az(state_dir) or os.environ.get("AZPE_AZ") or "az"
    found = shutil.which(az_path)
    ids = [str(s["id"]) for s in state["subscriptions"]]
    try:
        if found is None:
            raise SandboxError(f"az not found ({az_path!r}); pass --az PATH")
        before = refresh_login(found, az_environment(config_dir, Path(info["ca"])), ids)
    except SandboxError as exc:
        return (
            f"Warning: the sandbox's az login may not list the seeded subscriptions "
            f"({', '.join(ids) or 'none'}), so az may refuse or miss some --subscription: {exc}"
        )
    if before is None:
        return f"The az login lists the same {len(ids)} subscription(s)."
    return (
        f"The az login was refreshed: it lists {len(ids)} subscription(s) now, {len(before)} before "
        "(az keeps its default subscription if it is still there)."
    )


def _recorded_az(state_dir: Path) -> str | None:
    try:
        return str(json.loads((state_dir / AZ_FILE).read_text(encoding="utf-8"))["az"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _admin(info: dict[str, Any], method: str, name: str, data: Any = None) -> Any:
    from .control import NotRunning, admin

    try:
        return admin(info, method, name, data)
    except ValueError as exc:
        _fail(f"the emulator refused: {exc}", 2)
    except NotRunning as exc:
        _fail(str(exc))


@app.command()
def status(sandbox_dir: DirOption = None) -> None:
    """Show which sandbox directory and emulator (URL, pid) this is, whether this shell's az
    points at it, and its servers and connections."""
    state_dir, source = _locate(sandbox_dir)
    info = _running(state_dir)
    state = _admin(info, "GET", "state")
    requests = _admin(info, "GET", "requests")
    timing = _admin(info, "GET", "timing")
    config_dir = state_dir / "azure"
    typer.echo(f"sandbox directory: {state_dir} ({source})")
    typer.echo(f"emulator: running at {info['url']}, pid {info['pid']}")
    typer.echo(f"az configuration: {config_dir}")
    typer.echo(f"this shell: {_shell_target(config_dir)}")
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


def _shell_target(config_dir: Path) -> str:
    current = os.environ.get("AZURE_CONFIG_DIR")
    if current and Path(current).resolve() == config_dir:
        return "az uses this sandbox (AZURE_CONFIG_DIR is its az configuration)"
    where = f"AZURE_CONFIG_DIR={current}" if current else "AZURE_CONFIG_DIR is unset: your own az login"
    return f'az does NOT use this sandbox ({where}); run: eval "$(azpe sandbox env)"'


@app.command()
def dump(
    sandbox_dir: DirOption = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write to this file [default: stdout]")
    ] = None,
) -> None:
    """Print the emulator's state in the seed format (`azpe sandbox seed` takes it back)."""
    info = _running(_sandbox_dir(sandbox_dir))
    text = json.dumps(_admin(info, "GET", "state"), indent=2)
    if output is None:
        typer.echo(text)
    else:
        output.write_text(text + "\n", encoding="utf-8")


fault_app = typer.Typer(
    help="Script faults: answer matching requests with an error, a hang or a malformed body.",
    no_args_is_help=True,
)
app.add_typer(fault_app, name="fault")


@fault_app.command("add")
def fault_add(
    path: Annotated[
        str,
        typer.Argument(
            help="Glob over the URL path, case-insensitive, e.g. '*/privateEndpointConnections/*'"
        ),
    ] = "*",
    method: Annotated[str, typer.Option(help="HTTP method, or * for any")] = "*",
    status: Annotated[
        int | None,
        typer.Option(min=100, max=599, help="Answer this HTTP status instead (the request is not run)"),
    ] = None,
    code: Annotated[str | None, typer.Option(help="ARM error code [default: from the status]")] = None,
    message: Annotated[str | None, typer.Option(help="Error message [default: from the status]")] = None,
    retry_after: Annotated[int | None, typer.Option(min=0, help="Send Retry-After: SECONDS")] = None,
    times: Annotated[int, typer.Option(min=1, help="How many matching requests it hits")] = 1,
    always: Annotated[
        bool, typer.Option("--always", help="Hit every matching request (not --times)")
    ] = False,
    hold_seconds: Annotated[
        float | None,
        typer.Option(min=0, help="Hold the answer this long (without --status the request runs)"),
    ] = None,
    hold_forever: Annotated[
        bool, typer.Option("--hold-forever", help="Hold the answer until the emulator stops")
    ] = False,
    malformed: Annotated[bool, typer.Option("--malformed", help="Answer a non-JSON (HTML) body")] = False,
    sandbox_dir: DirOption = None,
) -> None:
    """Add a fault (POST /_sandbox/faults); prints the pending faults as JSON."""
    if hold_seconds is not None and hold_forever:
        _fail("give --hold-seconds or --hold-forever, not both", 2)
    hold = -1.0 if hold_forever else hold_seconds
    if status is None and hold is None and not malformed:
        _fail("a fault needs --status, --hold-seconds, --hold-forever or --malformed", 2)
    fault = {
        "method": method.upper(),
        "path": path,
        "status": status,
        "code": code,
        "message": message,
        "retry_after": retry_after,
        "times": None if always else times,
        "hold_seconds": hold,
        "malformed": malformed,
    }
    info = _running(_sandbox_dir(sandbox_dir))
    typer.echo(json.dumps(_admin(info, "POST", "faults", fault), indent=2))


@fault_app.command("list")
def fault_list(sandbox_dir: DirOption = None) -> None:
    """Print the pending faults as JSON."""
    info = _running(_sandbox_dir(sandbox_dir))
    typer.echo(json.dumps(_admin(info, "GET", "faults"), indent=2))


@fault_app.command("clear")
def fault_clear(sandbox_dir: DirOption = None) -> None:
    """Remove every pending fault."""
    info = _running(_sandbox_dir(sandbox_dir))
    _admin(info, "DELETE", "faults")
    typer.echo("Faults cleared.", err=True)


@app.command("server-state")
def server_state(
    server: Annotated[str, typer.Argument(help="Server name")],
    state: Annotated[str, typer.Argument(help="The state it reads: Ready, Updating, Stopped, ...")],
    resource_group: Annotated[
        str | None, typer.Option("--resource-group", "-g", help="[default: the one holding SERVER]")
    ] = None,
    subscription: Annotated[
        str | None, typer.Option(help="Subscription ID [default: the one holding SERVER]")
    ] = None,
    ready_after: Annotated[
        float | None, typer.Option(min=0, help="Become Ready again this many seconds later")
    ] = None,
    sandbox_dir: DirOption = None,
) -> None:
    """Set a server's state (POST /_sandbox/server-state), e.g. Updating for 30 s."""
    info = _running(_sandbox_dir(sandbox_dir))
    found = [
        (sub["id"], rg["name"])
        for sub in _admin(info, "GET", "state")["subscriptions"]
        if subscription is None or sub["id"].lower() == subscription.lower()
        for rg in sub["resourceGroups"]
        if resource_group is None or rg["name"].lower() == resource_group.lower()
        for srv in rg["servers"]
        if srv["name"].lower() == server.lower()
    ]
    if not found:
        _fail(f"no server {server!r} in the sandbox (see `azpe sandbox status`)", 2)
    if len(found) > 1:
        where = ", ".join(f"--subscription {s} -g {g}" for s, g in found)
        _fail(f"server {server!r} is in more than one place; choose one: {where}", 2)
    sub_id, rg_name = found[0]
    body = {
        "subscription": sub_id,
        "resourceGroup": rg_name,
        "server": server,
        "state": state,
        "readyAfter": ready_after,
    }
    _admin(info, "POST", "server-state", body)
    later = "" if ready_after is None else f", Ready after {ready_after:g} s"
    typer.echo(f"{rg_name}/{server}: {state}{later}", err=True)


@app.command()
def timing(
    op_seconds: Annotated[
        float | None, typer.Option(min=0, help="Duration of connection writes started from now on")
    ] = None,
    model: Annotated[Timing | None, typer.Option("--timing", help=TIMING_HELP)] = None,
    sandbox_dir: DirOption = None,
) -> None:
    """Show, or change for writes started afterwards, the duration and timing model of
    connection writes (POST /_sandbox/timing)."""
    info = _running(_sandbox_dir(sandbox_dir))
    if op_seconds is None and model is None:
        now = _admin(info, "GET", "timing")
    else:
        body: dict[str, Any] = {}
        if op_seconds is not None:
            body["opSeconds"] = op_seconds
        if model is not None:
            body["timing"] = model.value
        now = _admin(info, "POST", "timing", body)
    typer.echo(f"connection writes: {now['opSeconds']:g} s, timing {now['timing']}")


@app.command()
def stop(sandbox_dir: DirOption = None) -> None:
    """Stop the sandbox's emulator (the az configuration directory stays)."""
    from .control import terminate

    state_dir = _sandbox_dir(sandbox_dir)
    info = _running(state_dir)
    terminate(int(info["pid"]))
    (state_dir / "server.json").unlink(missing_ok=True)
    typer.echo(f"Stopped the sandbox emulator (pid {info['pid']}).", err=True)
