"""End-to-end fixtures: one emulator and one logged-in az configuration per xdist worker,
re-seeded for every test, and azpe run as a user runs it - as a process.

Every test here runs the real az (``AZPE_TEST_AZ``, default .venv-az/bin/az) against the
local emulator, so it runs only inside a network namespace whose one interface is loopback
(``scripts/netns-run.sh``), unless ``AZPE_E2E_ANY_NETWORK=1``:

    sh scripts/test.sh e2e
"""

from __future__ import annotations

import contextlib
import fnmatch
import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from azpe.sandbox import Emulator, default_scenario, prepare_az
from azpe.sandbox.scenarios import DEFAULT_SUBSCRIPTION

HERE = Path(__file__).parent
ROOT = HERE.parents[1]
AZ = os.environ.get("AZPE_TEST_AZ", str(ROOT / ".venv-az" / "bin" / "az"))
SUB = DEFAULT_SUBSCRIPTION
RG = "rg-data"
TYPE = "Microsoft.DBforPostgreSQL/flexibleServers"
PEC = "*/privateEndpointConnections/*"  # request-log glob: any connection (not the list)
OP_SECONDS = 1.0  # how long the emulator's connection writes take


def loopback_only() -> bool:
    try:
        return [name for _, name in socket.if_nameindex()] == ["lo"]
    except OSError:  # not available on this platform
        return False


def skip_reason() -> str | None:
    if not Path(AZ).exists():
        return f"az not found at {AZ} (set AZPE_TEST_AZ)"
    if not loopback_only() and os.environ.get("AZPE_E2E_ANY_NETWORK") != "1":
        return "run inside scripts/netns-run.sh (loopback-only network namespace)"
    return None


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Everything in this directory is e2e (before ``-m`` selects), and skips where az may not run."""
    reason = skip_reason()
    for item in items:
        if HERE in item.path.parents:
            item.add_marker(pytest.mark.e2e)
            item.add_marker(pytest.mark.timeout(600))  # real az: writes of ~11 s, on shared cores
            if reason is not None:
                item.add_marker(pytest.mark.skip(reason=reason))


def server_id(server: str, rg: str = RG, sub: str = SUB) -> str:
    return f"/subscriptions/{sub}/resourceGroups/{rg}/providers/{TYPE}/{server}"


def connection_id(server: str, name: str, rg: str = RG, sub: str = SUB) -> str:
    return f"{server_id(server, rg, sub)}/privateEndpointConnections/{name}"


def write_argv(
    verb: str, server: str, name: str, *, description: str | None = None, rg: str = RG
) -> list[str]:
    """The exact az argv azpe runs for a write (what ``--dry-run`` prints), in the
    ``-g --resource-name --type -n`` form of the Azure docs, each form written out whole."""
    if verb == "delete":
        return [
            AZ, "network", "private-endpoint-connection", "delete",
            "--resource-group", rg, "--resource-name", server,
            "--type", "Microsoft.DBforPostgreSQL/flexibleServers", "--name", name,
            "--subscription", SUB, "--yes", "--only-show-errors", "-o", "json",
        ]  # fmt: skip
    assert verb in ("reject", "approve"), verb
    if description is None:
        return [
            AZ, "network", "private-endpoint-connection", verb,
            "--resource-group", rg, "--resource-name", server,
            "--type", "Microsoft.DBforPostgreSQL/flexibleServers", "--name", name,
            "--subscription", SUB, "--only-show-errors", "-o", "json",
        ]  # fmt: skip
    return [
        AZ, "network", "private-endpoint-connection", verb,
        "--resource-group", rg, "--resource-name", server,
        "--type", "Microsoft.DBforPostgreSQL/flexibleServers", "--name", name,
        "--subscription", SUB, f"--description={description}", "--only-show-errors", "-o", "json",
    ]  # fmt: skip


@dataclass(frozen=True)
class Run:
    """One finished azpe process."""

    argv: list[str]
    code: int
    stdout: str
    stderr: str
    seconds: float

    @property
    def json(self) -> Any:
        return json.loads(self.stdout)

    @property
    def lines(self) -> list[dict[str, Any]]:
        """stdout as JSON lines (``-o jsonl``)."""
        return [json.loads(line) for line in self.stdout.splitlines()]

    def __str__(self) -> str:  # shown by a failing assert
        return f"azpe exited {self.code}\n--- stdout\n{self.stdout}--- stderr\n{self.stderr}"


def by_name(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["name"]: r for r in records}


def log_time(entry: dict[str, Any]) -> float:
    return datetime.fromisoformat(entry["time"]).timestamp()


def wait_for(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(0.05)


class Sandbox:
    """The emulator as one test sees it, plus azpe as a process."""

    def __init__(self, em: Emulator, az_env: dict[str, str], tmp_path: Path) -> None:
        self.em = em
        self.az_env = az_env
        self.tmp_path = tmp_path
        base = {k: v for k, v in os.environ.items() if not k.startswith(("AZURE_", "AZPE_"))}
        self.env = base | az_env | {"AZPE_AZ": AZ, "PYTHONUNBUFFERED": "1"}
        self.azpe_argv = [sys.executable, "-m", "azpe"]

    # -- state ----------------------------------------------------------------------------
    def seed(self, scenario: dict[str, Any]) -> None:
        """Replace the whole state; forget faults and logged requests; timing back to
        ``at-end`` with OP_SECONDS."""
        self.em.seed(scenario)
        self.set_timing("at-end", OP_SECONDS)
        self.em.clear_faults()
        self.em.clear_requests()

    def set_timing(self, model: str, op_seconds: float) -> None:
        """The emulator's timing model (``at-end``, ``at-once``) and write duration."""
        self.em.state.timing = model
        self.em.state.op_seconds = op_seconds

    def connections(self, server: str, rg: str = RG) -> dict[str, dict[str, Any]]:
        """The emulator's connections of a server, by name."""
        return by_name(self.em.connections(SUB, rg, server))

    def status(self, server: str, name: str, rg: str = RG) -> str | None:
        found = self.em.connection(SUB, rg, server, name)
        return None if found is None else found["status"]

    def names(self, server: str, status: str, rg: str = RG) -> list[str]:
        return [c["name"] for c in self.em.connections(SUB, rg, server) if c["status"] == status]

    # -- request log ------------------------------------------------------------------------
    def requests(self, method: str = "*", path: str = "*") -> list[dict[str, Any]]:
        """Logged requests matching ``method`` and a glob over the path (case-insensitive)."""
        return [
            r
            for r in self.em.requests()
            if method in ("*", r["method"]) and fnmatch.fnmatchcase(r["path"].lower(), path.lower())
        ]

    def count(self, method: str, path: str = PEC) -> int:
        return len(self.requests(method, path))

    def writes(self) -> list[dict[str, Any]]:
        """Every PUT and DELETE of a connection that reached the emulator."""
        return self.requests("PUT", PEC) + self.requests("DELETE", PEC)

    # -- azpe -------------------------------------------------------------------------------
    def azpe(
        self,
        *args: str,
        stdin: str | None = None,
        timeout: float = 120,
        env: dict[str, str] | None = None,
    ) -> Run:
        argv = [*self.azpe_argv, *args]
        started = time.monotonic()
        done = subprocess.run(
            argv,
            input=stdin,
            stdin=subprocess.DEVNULL if stdin is None else None,
            capture_output=True,
            text=True,
            env=self.env if env is None else env,
            cwd=self.tmp_path,
            timeout=timeout,
            check=False,
        )
        seconds = time.monotonic() - started
        return Run(argv, done.returncode, done.stdout, done.stderr, seconds)

    def popen(self, *args: str) -> subprocess.Popen[str]:
        """azpe in the background, as a shell starts it: SIGINT and SIGTERM at their defaults
        (an xdist worker may ignore SIGINT, and a child would inherit that)."""

        def default_signals() -> None:
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)

        return subprocess.Popen(
            [*self.azpe_argv, *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=self.env,
            cwd=self.tmp_path,
            preexec_fn=default_signals,
        )

    def shell(self, script: str, timeout: float = 120) -> Run:
        """A real ``sh -c`` pipeline; ``$AZPE`` in ``script`` runs azpe."""
        env = self.env | {"AZPE": shlex.join(self.azpe_argv)}
        started = time.monotonic()
        done = subprocess.run(
            ["sh", "-c", script],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            env=env,
            cwd=self.tmp_path,
            timeout=timeout,
            check=False,
        )
        return Run(
            ["sh", "-c", script], done.returncode, done.stdout, done.stderr, time.monotonic() - started
        )

    # -- processes -----------------------------------------------------------------------------
    def az_processes(self) -> list[int]:
        """Running az processes of this worker (their AZURE_CONFIG_DIR is ours)."""
        marker = f"AZURE_CONFIG_DIR={self.az_env['AZURE_CONFIG_DIR']}".encode()
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) == os.getpid():
                continue
            try:
                environ = (entry / "environ").read_bytes()
            except OSError:  # gone meanwhile, or not ours
                continue
            if marker in environ.split(b"\0"):
                found.append(int(entry.name))
        return found


@pytest.fixture(scope="session")
def emulator_and_az(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Emulator, dict[str, str]]]:
    """One emulator and one logged-in az configuration per xdist worker (login costs ~1 s)."""
    reason = skip_reason()
    if reason is not None:
        pytest.skip(reason)
    with Emulator(op_seconds=OP_SECONDS) as em:
        config = tmp_path_factory.mktemp("az") / "azure"
        yield em, prepare_az(AZ, config, em.url, em.ca_path)


@pytest.fixture
def sandbox(emulator_and_az: tuple[Emulator, dict[str, str]], tmp_path: Path) -> Iterator[Sandbox]:
    """The default scenario, no faults, an empty request log; afterwards, no az left running."""
    em, az_env = emulator_and_az
    box = Sandbox(em, az_env, tmp_path)
    box.seed(default_scenario())
    yield box
    deadline = time.monotonic() + 5
    while (left := box.az_processes()) and time.monotonic() < deadline:
        time.sleep(0.1)
    for pid in left:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    assert not left, f"az processes left running after the test: {left}"
