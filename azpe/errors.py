"""Typed errors and the exit codes they map to.

Every error azpe expects carries its exit code and a hint; only ``azpe.cli`` prints them.
The codes are part of the public contract (README) and are never renumbered.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    AZURE_FAILED = 1
    USAGE = 2
    NOT_FOUND = 3
    AUTH = 4
    NOT_READY = 5
    SAFETY = 6
    DRIFT = 7  # azpe enforce --check: something would change
    INTERNAL = 70
    INTERRUPTED = 130


# How much of az's output an error keeps: the end of it, where az prints the error.
TAIL_LINES = 20
TAIL_LINE_CHARACTERS = 500


def _tail(text: str) -> tuple[str, ...]:
    lines = [line.rstrip() for line in text.splitlines() if line.strip()][-TAIL_LINES:]
    return tuple(
        line
        if len(line) <= TAIL_LINE_CHARACTERS
        else f"{line[:TAIL_LINE_CHARACTERS]}... ({len(line)} characters)"
        for line in lines
    )


@dataclass(frozen=True)
class AzCall:
    """The az run behind an error, kept so that a failure az printed in a way azpe does not
    know can be diagnosed without a rerun: what ran, how it ended, the end of what it printed."""

    argv: tuple[str, ...]
    returncode: int | None  # None: az was stopped before it exited (--timeout)
    stderr_tail: tuple[str, ...] = ()
    stdout_tail: tuple[str, ...] = ()

    @classmethod
    def of(cls, argv: Sequence[str], returncode: int | None, stderr: str, stdout: str = "") -> AzCall:
        return cls(tuple(argv), returncode, _tail(stderr), _tail(stdout))

    def lines(self) -> list[str]:
        """``az command:`` as a shell takes it, then how it ended and the tail of its output."""
        if self.returncode is None:
            ended = "az was stopped before it exited"
        elif self.returncode < 0:
            ended = f"az was killed by signal {-self.returncode}"
        else:
            ended = f"az exited {self.returncode}"
        out = [f"az command: {shlex.join(self.argv)}", ended]
        for name, tail in (("stdout", self.stdout_tail), ("stderr", self.stderr_tail)):
            if tail:
                out.append(f"az {name} (last {len(tail)} lines):" if len(tail) > 1 else f"az {name}:")
                out.extend(f"  {line}" for line in tail)
        if not self.stderr_tail:
            out.append("az stderr: (empty)")
        return out


class AzpeError(Exception):
    """Base of every expected error. ``code`` is a short machine-readable name; ``az_call``
    the az run it comes from, when it comes from one."""

    exit_code: ExitCode = ExitCode.AZURE_FAILED
    default_code = "Failed"

    def __init__(self, message: str, *, code: str | None = None, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.hint = hint
        self.az_call: AzCall | None = None

    def as_record(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}

    def details(self) -> list[str]:
        """Lines beyond the message and hint, for ``-v``: the az call behind the error (its argv
        as a shell takes it, its exit, the end of its output). Raw text from az: escape it."""
        return self.az_call.lines() if self.az_call is not None else []


class UsageError(AzpeError):
    """Invalid input or options: nothing was run."""

    exit_code = ExitCode.USAGE
    default_code = "InvalidInput"


class AzureError(AzpeError):
    """An Azure operation failed for good (ARM said no, or retries ran out)."""

    exit_code = ExitCode.AZURE_FAILED
    default_code = "AzureError"


class TransientError(AzureError):
    """A failure worth retrying: throttling, busy server, 5xx, network trouble, az timeout."""

    default_code = "Transient"


class ServerBusy(TransientError):
    """409: the server is running an operation (its own write, or anyone's). A write waits for
    the server to be free, within the busy budget; it does not use up ``--retries``."""

    default_code = "ServerIsBusy"


class AzTimeout(TransientError):
    """az did not finish within ``--timeout``; it was killed. A write may still have landed."""

    default_code = "Timeout"


class NotFound(AzpeError):
    exit_code = ExitCode.NOT_FOUND
    default_code = "ResourceNotFound"


class AuthError(AzpeError):
    """az missing, not logged in, or the identity lacks permission."""

    exit_code = ExitCode.AUTH
    default_code = "AuthorizationFailed"


class ServerNotReady(AzpeError):
    exit_code = ExitCode.NOT_READY
    default_code = "ServerNotReady"


class SafetyRefusal(AzpeError):
    exit_code = ExitCode.SAFETY
    default_code = "Refused"


class Interrupted(AzpeError):
    exit_code = ExitCode.INTERRUPTED
    default_code = "Interrupted"


SHOWN_CHARACTERS = 500  # more than the longest valid connection ID (about 460)


def shown(value: str, limit: int = SHOWN_CHARACTERS) -> str:
    """A value echoed in an error message: quoted with its control characters escaped, and cut
    to ``limit`` characters (a 10-MB stdin line must not become a 10-MB error line)."""
    if len(value) <= limit:
        return repr(value)
    return f"{value[:limit]!r}... ({len(value)} characters)"


class NotStarted(Interrupted):
    """Ctrl-C came before this az call (or write) started: nothing was done."""


def not_started() -> NotStarted:
    return NotStarted("not started: azpe was interrupted", hint="Run the command again to finish.")


def exit_code_for(codes: list[ExitCode]) -> ExitCode:
    """Exit code of a run from the codes of its failed targets (design.md §2)."""
    failed = {c for c in codes if c != ExitCode.OK}
    if not failed:
        return ExitCode.OK
    if len(failed) == 1:
        return failed.pop()
    return ExitCode.AZURE_FAILED
