"""The az runner: the only module that starts processes.

It resolves az once, runs it with an argv list (never a shell) in a clean environment with a
timeout, decodes its JSON and turns failures into typed errors (``azpe.az_errors``).
Children run in their own session so that a Ctrl-C at the terminal reaches azpe only: azpe
decides whether a running az may finish (design.md §3, step 8).
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from azpe.az_errors import classify
from azpe.capacity import Capacity, StartPacer
from azpe.errors import AuthError, AzCall, AzpeError, AzTimeout, AzureError, Interrupted, not_started

log = logging.getLogger("azpe")

# Consecutive az calls that could not reach Azure before azpe stops calling az: more than one
# call's whole retry schedule (1 + 3 attempts at the default --retries), so one unlucky call
# does not trip it, yet an outage ends the run after a few seconds of backoff.
UNREACHABLE_AFTER = 6

# Settings forced on every az child: no telemetry upload, no colour codes in stderr.
_CHILD_SETTINGS = {
    # A configured default resource group would silently narrow a subscription-wide
    # "flexible-server list"; an empty value overrides the one in az's config file.
    "AZURE_DEFAULTS_GROUP": "",
    "AZURE_CORE_COLLECT_TELEMETRY": "false",
    "AZURE_CORE_NO_COLOR": "true",
    "AZURE_CORE_SURVEY_MESSAGE": "false",
    "PYTHONIOENCODING": "utf-8",
}
# Settings that would change az's output shape or silence errors azpe must see.
_CHILD_DROPPED = (
    "AZURE_CORE_OUTPUT",
    "AZURE_CORE_ONLY_SHOW_ERRORS",
    "AZURE_CORE_DISABLE_CONFIRM_PROMPT",
)


def child_env(base: Mapping[str, str]) -> dict[str, str]:
    """The environment for az: the user's (login, proxies, config dir) made predictable."""
    env = {k: v for k, v in base.items() if k not in _CHILD_DROPPED}
    env.update(_CHILD_SETTINGS)
    return env


def resolve_az(explicit: str | None, environ: Mapping[str, str]) -> str:
    """``--az``, else ``$AZPE_AZ``, else ``az`` on PATH; ``shutil.which`` finds az.cmd too."""
    wanted = explicit or environ.get("AZPE_AZ") or "az"
    found = shutil.which(wanted)
    if found is None:
        raise AuthError(
            f"az not found: {wanted!r}",
            code="AzNotFound",
            hint="Install the Azure CLI (https://aka.ms/azcli) or point azpe at it "
            "with --az PATH or AZPE_AZ.",
        )
    return found


@dataclass(frozen=True)
class AzResult:
    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str
    seconds: float


class AzRunner:
    """Runs az. Thread-safe: scheduler workers share one runner."""

    def __init__(
        self,
        executable: str,
        *,
        timeout: float,
        env: Mapping[str, str] | None = None,
        capacity: Capacity | None = None,
    ) -> None:
        self.executable = executable
        self.timeout = timeout
        # None: start az at once, as many as asked (tests; a single call)
        self._pacer = StartPacer(capacity) if capacity is not None else None
        self._env = child_env(os.environ if env is None else env)
        self._lock = threading.Lock()
        self._running: set[subprocess.Popen[str]] = set()
        self._stopped: set[subprocess.Popen[str]] = set()  # killed by kill_running()
        self._kills = 0  # calls of kill_running(), so that an az being started is not missed
        self._network_failures = 0  # az calls in a row that could not reach Azure
        self.unreachable: AzureError | None = None  # set once the breaker has tripped

    def argv(self, args: Sequence[str]) -> list[str]:
        return [self.executable, *args]

    def run(
        self, args: Sequence[str], *, timeout: float | None = None, unless: threading.Event | None = None
    ) -> AzResult:
        """Run az once; raise a typed error unless it exited 0. With a capacity, az starts at
        the pace the machine takes; ``unless`` set while it waits for its turn: not started."""
        if self.unreachable is not None:  # the breaker tripped: start no az
            raise self.unreachable
        if self._pacer is None:
            return self._run(args, timeout)
        delay = self._pacer.delay()
        if delay > 0:
            if unless is None:
                time.sleep(delay)
            elif unless.wait(delay):
                raise not_started()
        with self._pacer.running:  # a turn among the az processes the machine can hold
            if unless is not None and unless.is_set():
                raise not_started()  # set while it waited for that turn
            return self._run(args, timeout)

    def _run(self, args: Sequence[str], timeout: float | None) -> AzResult:
        argv = self.argv(args)
        limit = self.timeout if timeout is None else timeout
        log.info("az: %s", shlex.join(argv))  # as a shell takes it: the line can be pasted
        started = time.monotonic()
        with self._lock:
            kills_before = self._kills
        try:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=self._env,
                text=True,
                encoding="utf-8",
                errors="replace",
                **_new_session(),
            )
        except OSError as exc:  # the exec failed: no az ran, nothing to reap
            raise _not_runnable(self.executable, exc) from None
        with self._lock:
            self._running.add(proc)
            if self._kills != kills_before:  # kill_running() came while this one was starting
                self._stopped.add(proc)
                _kill(proc)
        try:
            stdout, stderr = proc.communicate(timeout=limit)
        except KeyboardInterrupt:
            # Only the main thread sees Ctrl-C, and it runs reads only: nothing to protect.
            _kill(proc)
            _reap(proc)
            raise
        except subprocess.TimeoutExpired:
            _kill(proc)
            timed_out = AzTimeout(
                f"az did not answer within {limit:g} s and was stopped: {' '.join(args[:3])}",
                hint="Raise --timeout if the service is slow; azpe re-reads state before "
                "deciding what a timed-out write did.",
            )
            timed_out.az_call = AzCall.of(argv, None, *_reap(proc))
            raise timed_out from None
        finally:
            with self._lock:
                self._running.discard(proc)
        with self._lock:
            stopped = proc in self._stopped
            self._stopped.discard(proc)
        if stopped:
            interrupted = Interrupted(
                f"az was stopped after the grace period: {' '.join(args[:3])}",
                hint="azpe re-reads the connection to report what that call did.",
            )
            interrupted.az_call = AzCall.of(argv, proc.returncode, stderr, stdout)
            raise interrupted
        result = AzResult(tuple(argv), proc.returncode, stdout, stderr, time.monotonic() - started)
        # A failure shows at -v with the end of what az said (-vv: all of it); a success's
        # streams only at -vv.
        failed = result.returncode != 0
        call = AzCall.of(argv, result.returncode, result.stderr)
        if failed:
            said = result.stderr.strip() if log.isEnabledFor(logging.DEBUG) else "\n".join(call.stderr_tail)
            log.info(
                "az exited %d after %.2f s; stderr: %s", result.returncode, result.seconds, said or "(empty)"
            )
        else:
            log.debug("az exited %d after %.2f s", result.returncode, result.seconds)
            if result.stderr.strip():
                log.debug("az stderr: %s", result.stderr.strip())
        if result.stdout.strip():
            log.debug("az stdout: %s", result.stdout.strip())
        error = classify(result.returncode, result.stderr) if failed else None
        if error is not None:
            error.az_call = call
        self._count_network_failure(error)
        if error is not None:
            raise error
        return result

    def run_json(self, args: Sequence[str], *, timeout: float | None = None) -> Any:
        """Run az with ``-o json`` and decode stdout (None when az printed nothing)."""
        result = self.run([*args, "-o", "json"], timeout=timeout)
        text = result.stdout.strip()
        if not text:
            return None
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            unexpected = AzureError(
                f"az printed output that is not JSON ({exc.msg} at line {exc.lineno})",
                code="UnexpectedOutput",
                hint="Run with -v to see the end of what az printed (-vv: all of it).",
            )
            unexpected.az_call = AzCall.of(result.argv, result.returncode, result.stderr, result.stdout)
            raise unexpected from None

    def _count_network_failure(self, error: AzpeError | None) -> None:
        """The breaker: after ``UNREACHABLE_AFTER`` az calls in a row that could not reach
        Azure (and none that did in between), start no more az: every later call fails at
        once with the cause, so that an outage ends a run in seconds, not in every target's
        full retry schedule."""
        with self._lock:
            if error is None or error.code != "NetworkError":
                self._network_failures = 0
                return
            self._network_failures += 1
            if self._network_failures >= UNREACHABLE_AFTER and self.unreachable is None:
                self.unreachable = AzureError(
                    f"not run: {self._network_failures} az calls in a row could not reach Azure "
                    f"({error.message.removeprefix('az could not reach Azure: ')})",
                    code="AzureUnreachable",
                    hint="Check the network, a proxy or Azure's status, then run the command again.",
                )
                self.unreachable.az_call = error.az_call  # the last call that could not reach it
                log.warning("Azure cannot be reached: starting no more az calls")

    def kill_running(self) -> int:
        """Stop every az still running (after the Ctrl-C grace); returns how many."""
        with self._lock:
            self._kills += 1
            procs = [p for p in self._running if p.returncode is None]
            self._stopped.update(procs)
            for proc in procs:  # under the lock: a reaped process's pid could be reused
                _kill(proc)
        return len(procs)


def _not_runnable(executable: str, exc: OSError) -> AuthError:
    """az exists but the OS will not start it: a bad ``#!`` line, a file that is not a
    program, no permission, or gone since it was found."""
    reason = exc.strerror or str(exc)
    if exc.errno == errno.ENOENT and os.path.exists(executable):
        # execve says ENOENT when the file is there but its #! interpreter (or a binary's
        # loader) is not: name the likely culprit rather than deny the file exists.
        reason = f"{reason}: the interpreter on its #! line (or its loader) does not exist"
    return AuthError(
        f"cannot run az {executable}: {reason}",
        code="AzNotRunnable",
        hint=f"Check that it is the Azure CLI and starts on its own ('{executable} version'); "
        "reinstall it, or point azpe at a working az with --az PATH or AZPE_AZ.",
    )


def _kill(proc: subprocess.Popen[str]) -> None:
    """Kill az and whatever it started: the deb and Homebrew ``az`` are shell wrappers that
    run python as a child, so killing only the wrapper would leave the real az running."""
    if sys.platform != "win32" and proc.pid > 0:  # pid 0 would mean our own process group
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)  # its own session: process group id == pid
    with contextlib.suppress(ProcessLookupError):
        proc.kill()


def _reap(proc: subprocess.Popen[str]) -> tuple[str, str]:
    """Collect a killed az; (stderr, stdout): what it printed before it was killed."""
    with contextlib.suppress(subprocess.TimeoutExpired):
        stdout, stderr = proc.communicate(timeout=5)
        return stderr or "", stdout or ""
    return "", ""


def _new_session() -> dict[str, Any]:
    if sys.platform == "win32":
        return {"creationflags": subprocess.CREATE_NEW_PROCESS_GROUP}
    return {"start_new_session": True}
