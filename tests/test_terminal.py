"""At a terminal: stderr a real pseudo-terminal (the progress display runs on it), stdout a
file or a pipe. Every result reaches stdout, in every format; nothing but the display, logs
and errors reaches the terminal; the display counts skipped targets as skipped and shows
names escaped."""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pytest_subprocess import FakeProcess

from azpe.cli import app
from azpe.client import Action
from azpe.ids import ConnectionRef, ServerRef
from azpe.outcomes import Outcome, TargetResult
from azpe.planning import Plan
from azpe.progress import ServerProgress
from tests.azsamples import RG, SERVER, SUB, conn, connection_id, connection_raw, dumps, server_json
from tests.clihelp import show_argv, write_argv

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX pseudo-terminals")

PE1 = "pe-foreign.11111111-1111-1111-1111-111111111111"
PE2 = "pe-other.22222222-2222-2222-2222-222222222222"
APP = "pe-app.33333333-3333-3333-3333-333333333333"


class Terminal:
    """A pseudo-terminal: the slave end is what azpe writes to, the master end is read (as a
    terminal emulator would) so that azpe never blocks on a full buffer."""

    def __init__(self) -> None:
        import pty

        self.master, self.slave = pty.openpty()
        self._chunks: list[bytes] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while True:
            try:
                chunk = os.read(self.master, 65536)
            except OSError:  # the slave end closed (EIO on Linux)
                return
            if not chunk:
                return
            self._chunks.append(chunk)

    def close(self) -> str:
        """Everything that reached the terminal."""
        os.close(self.slave)
        self._reader.join(timeout=10)
        os.close(self.master)
        return b"".join(self._chunks).decode("utf-8", "replace")


@contextlib.contextmanager
def at_a_terminal(stdout_path: Path | None = None) -> Iterator[tuple[Terminal, dict[str, Any]]]:
    """sys.stderr on a pseudo-terminal, sys.stdout on a file (or a pipe, without a path);
    afterwards ``seen["stdout"]`` holds what stdout got and ``seen["terminal"]`` the terminal's.
    (Set here, in the test: pytest's capture puts its own streams back after set-up.)"""
    terminal = Terminal()
    seen: dict[str, Any] = {}
    stderr = open(os.dup(terminal.slave), "w", encoding="utf-8", buffering=1)  # noqa: SIM115
    if stdout_path is not None:
        stdout = open(stdout_path, "w", encoding="utf-8")  # noqa: SIM115
        pipe_read = None
    else:
        pipe_read, pipe_write = os.pipe()
        stdout = open(pipe_write, "w", encoding="utf-8")  # noqa: SIM115
        drained: list[bytes] = []
        drain = threading.Thread(target=lambda: drained.extend(iter(lambda: os.read(pipe_read, 65536), b"")))
        drain.start()
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = stdout, stderr
    assert sys.stderr.isatty() and not sys.stdout.isatty()
    try:
        yield terminal, seen
    finally:
        sys.stdout, sys.stderr = saved
        stdout.close()
        stderr.close()
        seen["terminal"] = terminal.close()
        if stdout_path is not None:
            seen["stdout"] = stdout_path.read_text(encoding="utf-8")
        else:
            drain.join(timeout=10)
            assert pipe_read is not None
            os.close(pipe_read)
            seen["stdout"] = b"".join(drained).decode("utf-8")


def main(*args: str) -> int:
    with pytest.raises(SystemExit) as done:
        app(list(args), prog_name="azpe")
    return int(done.value.code or 0)


def two_rejects(fp: FakeProcess, fake_az: str) -> list[str]:
    """Two Pending connections on one server, rejected one after the other; their IDs."""
    fp.register(
        show_argv(fake_az, sub=SUB), stdout=dumps(server_json([conn(PE1), conn(PE2), conn(APP, "Approved")]))
    )
    after = dumps(server_json([conn(PE1, "Rejected"), conn(PE2), conn(APP, "Approved")]))
    fp.register(show_argv(fake_az, sub=SUB), stdout=after, occurrences=3)
    for name in (PE1, PE2):
        fp.register(
            write_argv(fake_az, "reject", name, sub=SUB), stdout=dumps(connection_raw(name, "Rejected"))
        )
    return [connection_id(PE1), connection_id(PE2)]


def parsed(fmt: str, text: str) -> list[str]:
    """The names of the results on stdout, for each format."""
    if fmt == "json":
        return [r["name"] for r in json.loads(text)]
    if fmt == "jsonl":
        return [json.loads(line)["name"] for line in text.splitlines()]
    if fmt == "tsv":
        return [line.split("\t")[1] for line in text.splitlines()]
    if fmt == "csv":
        return [line.split(",")[1] for line in text.splitlines()[1:]]
    if fmt == "table":
        return [line.split()[0] for line in text.splitlines()[2:]]
    if fmt == "ids":
        return [line.rsplit("/", 1)[1] for line in text.splitlines()]
    return []


FORMATS = ["json", "jsonl", "table", "tsv", "csv", "ids", "none"]


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("stdout_is", ["file", "pipe"])
def test_results_reach_stdout_while_the_progress_display_runs_on_the_terminal(
    fp: FakeProcess, fake_az: str, tmp_path: Path, fmt: str, stdout_is: str
) -> None:
    ids = two_rejects(fp, fake_az)
    with at_a_terminal(tmp_path / "out" if stdout_is == "file" else None) as (_terminal, seen):
        code = main("reject", "--id", ids[0], "--id", ids[1], "-o", fmt)
    assert code == 0, seen["terminal"]
    assert parsed(fmt, seen["stdout"]) == ([] if fmt == "none" else [PE1, PE2])
    terminal = seen["terminal"]
    assert "remaining" in terminal and "skipped" in terminal  # the display ran, on the terminal
    assert "azpe: reject: 2 rejected" in terminal
    assert PE1 not in terminal and PE2 not in terminal  # no record went there


def test_enforce_apply_results_reach_a_file_while_the_display_runs(
    fp: FakeProcess, fake_az: str, tmp_path: Path
) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text('[pending]\nunmatched = "reject"\ndescription = "not ours"\n')
    fp.register(show_argv(fake_az), stdout=dumps(server_json([conn(PE1), conn(APP, "Approved")])))
    fp.register(
        show_argv(fake_az, sub=SUB),
        stdout=dumps(server_json([conn(PE1), conn(APP, "Approved")])),
        occurrences=3,
    )
    fp.register(
        write_argv(fake_az, "reject", PE1, sub=SUB, description="not ours"),
        stdout=dumps(connection_raw(PE1, "Rejected")),
    )
    with at_a_terminal(tmp_path / "out.jsonl") as (_terminal, seen):
        code = main("enforce", "--policy", str(policy), "-g", RG, "-s", SERVER, "--apply", "-o", "jsonl")
    assert code == 0, seen["terminal"]
    [record] = [json.loads(line) for line in seen["stdout"].splitlines()]
    assert (record["name"], record["action"]) == (PE1, "rejected")
    assert '"action"' not in seen["terminal"]


def test_error_lines_and_logs_go_to_the_terminal_above_the_display(
    fp: FakeProcess, fake_az: str, tmp_path: Path
) -> None:
    fp.register(
        show_argv(fake_az, sub=SUB),
        stdout=dumps(server_json([conn(PE1, "Rejected"), conn(PE2), conn(APP, "Approved")])),
    )
    fp.register(
        show_argv(fake_az, sub=SUB),
        stdout=dumps(server_json([conn(PE1, "Rejected"), conn(PE2), conn(APP, "Approved")])),
        occurrences=3,
    )
    fp.register(write_argv(fake_az, "reject", PE2, sub=SUB), stdout=dumps(connection_raw(PE2, "Rejected")))
    with at_a_terminal(tmp_path / "out") as (_terminal, seen):
        code = main("approve", "--id", connection_id(PE1), "-v", "-o", "jsonl")
    assert code == 1
    assert "azpe: error: " in seen["terminal"] and "cannot be approved" in seen["terminal"]
    assert "azpe: az: " in seen["terminal"]  # -v: the argv, logged to the terminal
    assert [json.loads(line)["action"] for line in seen["stdout"].splitlines()] == ["failed"]


# -- the display itself ------------------------------------------------------------------------------


def plan_of(*names: str, server: str = SERVER) -> Plan:
    ref = ServerRef(SUB, RG, server)
    plan = Plan(action=Action.REJECT, description=None)
    plan.items = [TargetResult(ConnectionRef(ref, n), Outcome.PLANNED) for n in names]
    return plan


def test_the_display_counts_skipped_targets_as_skipped_not_failed() -> None:
    progress = ServerProgress(enabled=False)
    plan = plan_of(PE1, PE2, APP)
    progress.start(plan)
    progress.update(plan.items[0].with_(outcome=Outcome.REJECTED))
    progress.update(plan.items[1].with_(outcome=Outcome.FAILED))
    assert progress.rows() == [(SERVER, 1, 1, 0, 1)]  # server, done, failed, skipped, remaining
    progress.update(plan.items[2].with_(outcome=Outcome.SKIPPED))
    assert progress.rows() == [(SERVER, 1, 1, 1, 0)]


def test_the_display_shows_names_escaped_on_the_terminal() -> None:
    evil = "pg-x\x1b]0;owned\x07\x1b[2J\u202e"
    progress = ServerProgress(enabled=True)
    with at_a_terminal() as (_terminal, seen):
        progress.start(plan_of(PE1, server=evil))
        progress.stop()
    assert "pg-x\\x1b]0;owned\\x07\\x1b[2J\\u202e" in seen["terminal"]
    assert "owned\x07" not in seen["terminal"] and "\u202e" not in seen["terminal"]
    assert seen["stdout"] == ""


def test_the_display_is_not_shown_when_results_stream_to_the_same_terminal(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr(sys, "stderr", Tty())
    monkeypatch.setattr(sys, "stdout", Tty())
    assert not ServerProgress(streaming=True).enabled  # each result line is the progress there
    assert ServerProgress(streaming=False).enabled  # results print after the display stops
    monkeypatch.setattr(sys, "stdout", io.StringIO())
    assert ServerProgress(streaming=True).enabled


def test_logs_follow_stderr_as_it_is_at_each_record(monkeypatch: pytest.MonkeyPatch) -> None:
    """The display redirects sys.stderr to print lines above itself; a log handler that kept
    the stream it was given at start-up would write through the display and tear it."""
    import logging

    from azpe.cli.app import setup_logging

    monkeypatch.setattr(sys, "stderr", io.StringIO())
    setup_logging(1)
    later = io.StringIO()
    monkeypatch.setattr(sys, "stderr", later)
    logging.getLogger("azpe").info("az: a\x1b[2Jb")
    assert later.getvalue() == "azpe: az: a\\x1b[2Jb\n"
