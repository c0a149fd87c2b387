"""Running the emulator as a background process: start, find, talk to and stop it. Used by
``azpe sandbox`` (``cli.py``) and by out-of-process tests and benchmarks."""

from __future__ import annotations

import json
import os
import signal
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
import warnings
from pathlib import Path
from typing import Any

INFO_FILE = "server.json"
LOG_FILE = "emulator.log"


class NotRunning(Exception):
    pass


def read_info(state_dir: Path) -> dict[str, Any] | None:
    """The running emulator's pid/port/url/ca, or None (a stale file is removed)."""
    path = state_dir / INFO_FILE
    try:
        info: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not _is_emulator(int(info["pid"])):
        path.unlink(missing_ok=True)
        return None
    return info


def admin(info: dict[str, Any], method: str, name: str, data: Any = None, timeout: float = 10.0) -> Any:
    """Call an admin endpoint (``/_sandbox/<name>``); JSON in, JSON out."""
    context = ssl.create_default_context(cafile=info["ca"])
    body = None if data is None else json.dumps(data).encode()
    request = urllib.request.Request(
        f"{info['url']}/_sandbox/{name}",
        data=body,
        method=method,
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, context=context, timeout=timeout) as response:
            raw = response.read()
    except urllib.error.HTTPError as err:
        detail = err.read().decode("utf-8", "replace")
        raise ValueError(f"{method} /_sandbox/{name}: HTTP {err.code} {detail}") from err
    except (urllib.error.URLError, OSError) as err:
        raise NotRunning(f"the emulator at {info['url']} does not answer: {err}") from err
    return json.loads(raw) if raw else None


def spawn(
    state_dir: Path,
    seed: Path | None,
    op_seconds: float,
    port: int = 0,
    wait: float = 20.0,
    *,
    timing: str = "at-end",
) -> dict[str, Any]:
    """Start ``python -m azpe.sandbox serve`` detached; return its info once it answers."""
    state_dir.mkdir(parents=True, exist_ok=True)
    (state_dir / INFO_FILE).unlink(missing_ok=True)
    argv = [
        sys.executable,
        "-m",
        "azpe.sandbox",
        "serve",
        "--dir",
        str(state_dir),
        "--op-seconds",
        str(op_seconds),
        "--timing",
        timing,
        "--port",
        str(port),
    ]
    if seed is not None:
        argv += ["--seed", str(seed)]
    with (state_dir / LOG_FILE).open("wb") as log:
        process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
            cwd=state_dir,
        )
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = (state_dir / LOG_FILE).read_text(encoding="utf-8", errors="replace")[-2000:]
            raise NotRunning(f"the emulator exited with {process.returncode}:\n{tail}")
        info = read_info(state_dir)
        if info is not None:
            try:
                admin(info, "GET", "health", timeout=2)
            except NotRunning:
                pass
            else:
                # It runs in its own session and outlives this handle (`stop` ends it by
                # pid): drop the handle without Popen's "still running" ResourceWarning.
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", ResourceWarning)
                    del process
                return info
        time.sleep(0.1)
    terminate(process.pid)
    raise NotRunning(f"the emulator did not answer within {wait:.0f} s")


def terminate(pid: int, grace: float = 10.0) -> None:
    """SIGTERM, then SIGKILL after ``grace`` seconds; returns when the process is gone."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if not _alive(pid):
            return
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)


def _alive(pid: int) -> bool:
    try:
        # Reap it if it is our child (the tests start and stop it in one process).
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _is_emulator(pid: int) -> bool:
    """Alive and (where /proc tells) really an azpe emulator, not a recycled pid."""
    if not _alive(pid):
        return False
    cmdline = Path(f"/proc/{pid}/cmdline")
    if cmdline.exists():
        return b"azpe.sandbox" in cmdline.read_bytes()
    return True
