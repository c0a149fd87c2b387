"""Python API of the emulator for tests, and ``prepare_az`` which points an isolated az
configuration at it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from . import scenarios
from .emulator import EmulatorServer
from .faults import Fault
from .identity import APP_ID, APP_SECRET, TENANT_ID
from .state import DEFAULT_TIMING, ArmError, AzureState

CLOUD_NAME = "AzpeSandbox"
MARKER = ".azpe-sandbox"


class SandboxError(Exception):
    """The sandbox could not do what was asked (az setup failed, emulator not running...)."""


class Emulator:
    """An in-process emulator: ``with Emulator() as em: ...`` (seeded with the default
    scenario unless ``scenario`` is given). A connection write lasts ``op_seconds``;
    ``timing`` says when its effect shows (``azpe.sandbox.state.TIMING_MODELS``). ``clock``
    is the state's time (a fake one makes operations and ``readyAfter`` end when a test
    says; ``wait_idle`` then needs the clock moved)."""

    def __init__(
        self,
        op_seconds: float = 2.0,
        state_dir: Path | None = None,
        *,
        scenario: dict[str, Any] | None = None,
        port: int = 0,
        log_to_file: bool = False,
        timing: str = DEFAULT_TIMING,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.state = AzureState(op_seconds, timing, clock)
        scenarios.load(self.state, scenario if scenario is not None else scenarios.default_scenario())
        self._own_dir = state_dir is None
        self.state_dir = (
            Path(tempfile.mkdtemp(prefix="azpe-sandbox-")) if state_dir is None else Path(state_dir)
        )
        self._port = port
        self._log_to_file = log_to_file
        self._server: EmulatorServer | None = None

    # -- lifecycle --------------------------------------------------------------------------
    def start(self) -> Emulator:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self._server = EmulatorServer(
            self.state, self.state_dir, port=self._port, log_to_file=self._log_to_file
        )
        self._server.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None
        if self._own_dir:
            shutil.rmtree(self.state_dir, ignore_errors=True)

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def server(self) -> EmulatorServer:
        if self._server is None:
            raise SandboxError("the emulator is not started")
        return self._server

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def ca_path(self) -> Path:
        return self.server.ca_path

    # -- state ------------------------------------------------------------------------------
    def seed(self, scenario: dict[str, Any]) -> None:
        """Replace the whole state (format: see ``azpe.sandbox.scenarios``)."""
        scenarios.load(self.state, scenario)

    def dump(self) -> dict[str, Any]:
        return scenarios.dump(self.state)

    def set_server_state(
        self,
        subscription: str,
        resource_group: str,
        server: str,
        state: str,
        ready_after: float | None = None,
    ) -> None:
        """Set a server's state; with ``ready_after`` it becomes Ready that many seconds later."""
        self.state.set_server_state(subscription, resource_group, server, state, ready_after)

    def set_timing(self, timing: str | None = None, op_seconds: float | None = None) -> None:
        """Change the timing model (``"at-end"``, ``"at-once"``) and/or the duration of
        connection writes started from now on (one already running keeps its own)."""
        self.state.configure(op_seconds, timing)

    def server_state(self, subscription: str, resource_group: str, server: str) -> str:
        return self.state.server(subscription, resource_group, server).visible_state

    def connection(
        self, subscription: str, resource_group: str, server: str, name: str
    ) -> dict[str, Any] | None:
        """The connection in the seed format, or None if it does not exist."""
        try:
            return scenarios.connection_record(
                self.state.connection(subscription, resource_group, server, name)
            )
        except ArmError:
            return None

    def connections(self, subscription: str, resource_group: str, server: str) -> list[dict[str, Any]]:
        with self.state.lock:
            srv = self.state.server(subscription, resource_group, server)
            return [scenarios.connection_record(c) for c in srv.connections.values()]

    def wait_idle(self, timeout: float = 30.0) -> None:
        """Wait until no connection write is running on any server."""
        deadline = time.monotonic() + timeout
        while True:
            with self.state.lock:
                self.state.advance()
                if all(op.status != "InProgress" for op in self.state.operations.values()):
                    return
            if time.monotonic() > deadline:
                raise SandboxError("operations still running")
            time.sleep(0.05)

    # -- faults and log ---------------------------------------------------------------------
    def inject(
        self,
        method: str,
        path_glob: str,
        status: int | None = None,
        *,
        code: str | None = None,
        message: str | None = None,
        retry_after: int | None = None,
        times: int | None = 1,
        hold_seconds: float | None = None,
        malformed: bool = False,
    ) -> Fault:
        """Script a fault for requests matching ``method`` (or "*") and ``path_glob``."""
        fault = Fault(
            method.upper(), path_glob, status, code, message, retry_after, times, hold_seconds, malformed
        )
        self.server.faults.add(fault)
        return fault

    def clear_faults(self) -> None:
        self.server.faults.clear()

    def requests(self) -> list[dict[str, Any]]:
        return self.server.log.entries()

    def clear_requests(self) -> None:
        self.server.log.clear()


def az_environment(config_dir: Path, ca_path: Path) -> dict[str, str]:
    """The variables that keep az on the emulator (merge them over ``os.environ``)."""
    return {
        "AZURE_CONFIG_DIR": str(config_dir),
        "REQUESTS_CA_BUNDLE": str(ca_path),
        "AZURE_CORE_INSTANCE_DISCOVERY": "false",  # else MSAL asks login.microsoftonline.com
        "AZURE_CORE_COLLECT_TELEMETRY": "false",
        "AZURE_CORE_NO_COLOR": "true",
    }


def prepare_az(
    az: str,
    config_dir: Path,
    emulator_url: str,
    ca_path: Path,
    subscription: str | None = scenarios.DEFAULT_SUBSCRIPTION,
    timeout: float = 120.0,
) -> dict[str, str]:
    """Register the emulator as a cloud in a fresh ``config_dir``, log in as the sandbox's
    service principal, select ``subscription`` (None: the one az picks, its first Enabled
    one); return the environment for az."""
    if config_dir.exists() and any(config_dir.iterdir()):
        # Never wipe a directory we did not make (such as someone's ~/.azure).
        if not (config_dir / MARKER).exists():
            raise SandboxError(f"{config_dir} is not empty and not an azpe sandbox az directory")
        shutil.rmtree(config_dir)
    config_dir.mkdir(parents=True, exist_ok=True)
    (config_dir / MARKER).write_text("az configuration made by azpe sandbox\n", encoding="utf-8")
    env = az_environment(config_dir, ca_path)
    base = emulator_url.rstrip("/")
    steps = [
        ["cloud", "register", "--name", CLOUD_NAME, "--endpoint-resource-manager", base + "/"],
        ["cloud", "set", "--name", CLOUD_NAME],
        LOGIN,
    ]
    if subscription is not None:
        steps.append(["account", "set", "--subscription", subscription])
    for args in steps:
        run_az(az, args, env, timeout)
    return env


LOGIN = [
    "login",
    "--service-principal",
    "--username",
    APP_ID,
    "--password",
    APP_SECRET,
    "--tenant",
    TENANT_ID,
    "--output",
    "none",
]


def login_subscriptions(az: str, env: dict[str, str], timeout: float = 120.0) -> list[str]:
    """The subscription IDs in az's profile (``az account list --all``: Disabled ones too)."""
    out = run_az(az, ["account", "list", "--all", "--only-show-errors", "--output", "json"], env, timeout)
    try:
        accounts = json.loads(out)
        return [str(a["id"]) for a in accounts]
    except (ValueError, TypeError, KeyError) as exc:
        raise SandboxError(f"`az account list --all` printed no list of accounts: {out[:200]!r}") from exc


def refresh_login(
    az: str, env: dict[str, str], subscriptions: Sequence[str], timeout: float = 120.0
) -> list[str] | None:
    """Make az's profile (the login of ``env``'s AZURE_CONFIG_DIR) list exactly
    ``subscriptions``, as the emulator now holds them. az checks ``--subscription`` against
    its profile, which it fills at login: without this, a newly seeded subscription is "not
    found" and a removed one still listed.

    Returns None when the profile already matched, else the IDs it listed before. az keeps its
    default subscription when it still exists, else picks the first Enabled one. Raises
    SandboxError when az fails or the profile still differs (az cannot hold zero
    subscriptions of a service principal, so a scenario without any is refused here)."""
    wanted = {s.lower() for s in subscriptions}
    before = login_subscriptions(az, env, timeout)
    if {s.lower() for s in before} == wanted:
        return None
    if not wanted:
        raise SandboxError("the scenario has no subscription; az's login keeps the ones it has")
    if before:
        # Re-reads GET /subscriptions with the stored credentials, replacing the list.
        run_az(
            az,
            ["account", "list", "--refresh", "--all", "--only-show-errors", "--output", "none"],
            env,
            timeout,
        )
    else:  # nothing to refresh from: log in again
        run_az(az, LOGIN, env, timeout)
    after = login_subscriptions(az, env, timeout)
    if {s.lower() for s in after} != wanted:
        raise SandboxError(
            f"az's login lists {', '.join(after) or 'no subscription'} after the refresh, "
            f"the emulator {', '.join(subscriptions)}"
        )
    return before


def run_az(az: str, args: list[str], env: dict[str, str], timeout: float = 120.0) -> str:
    """Run az with ``env`` over a copy of the environment minus inherited AZURE_* settings."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("AZURE_")}
    full_env.update(env)
    try:
        done = subprocess.run(
            [az, *args],
            env=full_env,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SandboxError(f"az {args[0]} {args[1]} failed: {exc}") from exc
    if done.returncode != 0:
        shown = [a if a != APP_SECRET else "***" for a in args]
        raise SandboxError(f"`az {' '.join(shown)}` exited {done.returncode}: {done.stderr.strip()}")
    return done.stdout
