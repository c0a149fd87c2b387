"""A reader that goes away (``azpe ... | head -1``): stdout stops, the run does not."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pytest_subprocess import FakeProcess

from azpe.cli import app
from azpe.cli.app import Session
from azpe.render import CONNECTION_COLUMNS
from tests.azsamples import RG, SERVER, SUB, conn, connection_raw, dumps, server_json
from tests.clihelp import show_argv, write_argv

PE1 = "pe-foreign.11111111-1111-1111-1111-111111111111"
PE2 = "pe-other.22222222-2222-2222-2222-222222222222"
APP = "pe-app.33333333-3333-3333-3333-333333333333"

posix_only = pytest.mark.skipif(sys.platform == "win32", reason="POSIX pipes and /dev/null")


def session(output: str = "jsonl") -> Session:
    return Session(client=None, output=output, query=None)  # type: ignore[arg-type]  # emit needs none


def is_devnull(fd: int) -> bool:
    here, null = os.fstat(fd), os.stat(os.devnull)
    return (here.st_dev, here.st_ino) == (null.st_dev, null.st_ino)


@contextlib.contextmanager
def closed_pipe() -> Iterator[int]:
    """sys.stdout: a real, buffered pipe whose reader has gone. Python ignores SIGPIPE, so
    writing it raises BrokenPipeError (EPIPE), as ``| head -1`` does once head has exited.
    (Set in the test itself: pytest's capture puts its own sys.stdout back after set-up.)"""
    read_end, write_end = os.pipe()
    os.close(read_end)
    saved, sys.stdout = sys.stdout, open(write_end, "w", encoding="utf-8")  # noqa: SIM115
    try:
        yield write_end
    finally:
        stream, sys.stdout = sys.stdout, saved
        with contextlib.suppress(BrokenPipeError):  # only without the fix: let its asserts speak
            stream.close()  # closes the descriptor even when the last flush fails


@posix_only
def test_emit_to_a_closed_pipe_points_stdout_at_devnull_and_carries_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    out = session()
    with caplog.at_level(logging.DEBUG, logger="azpe"), closed_pipe() as fd:
        assert not is_devnull(fd)
        out.emit({"id": "a"}, CONNECTION_COLUMNS)  # EPIPE: does not raise
        out.emit({"id": "b"}, CONNECTION_COLUMNS)
        assert out.stdout_closed.is_set()
        assert is_devnull(fd)  # the descriptor now leads nowhere ...
        sys.stdout.write("still buffered\n")
        sys.stdout.flush()  # ... so the interpreter's last flush at exit is quiet too
    notes = [r for r in caplog.records if "stdout was closed" in r.getMessage()]
    assert [r.levelno for r in notes] == [logging.INFO]  # one note, shown with -v


class BrokenStdout(io.TextIOBase):
    """A stdout that raises BrokenPipeError, with no file descriptor to redirect."""

    def __init__(self) -> None:
        self.attempts = 0

    def write(self, text: str) -> int:
        self.attempts += 1
        raise BrokenPipeError(32, "Broken pipe")


def test_emit_to_a_broken_stdout_without_a_descriptor_stops_writing(monkeypatch: pytest.MonkeyPatch) -> None:
    broken = BrokenStdout()
    monkeypatch.setattr(sys, "stdout", broken)
    out = session("json")
    out.emit([{"id": "a"}], CONNECTION_COLUMNS)
    out.emit([{"id": "b"}], CONNECTION_COLUMNS)
    assert out.stdout_closed.is_set()
    assert broken.attempts == 1  # tried once; afterwards nothing is written


def test_emit_writes_and_flushes_while_the_reader_is_there(capsys: pytest.CaptureFixture[str]) -> None:
    out = session()
    out.emit({"id": "a"}, CONNECTION_COLUMNS)
    out.emit({"id": "b"}, CONNECTION_COLUMNS)
    assert [json.loads(line) for line in capsys.readouterr().out.splitlines()] == [{"id": "a"}, {"id": "b"}]
    assert not out.stdout_closed.is_set()


# -- a whole write run, its stdout closed -------------------------------------------------------


def audit_outcomes(path: Path) -> dict[str, str]:
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    return {
        line["connectionId"].rsplit("/", 1)[1]: line["result"] for line in lines if line["event"] == "outcome"
    }


def main(*args: str) -> Any:
    """azpe as its console script runs it: the exit code from SystemExit."""
    with pytest.raises(SystemExit) as done:
        app([*args], prog_name="azpe")
    return done.value.code


@posix_only
@pytest.mark.parametrize("output", ["jsonl", "json"])
def test_a_write_run_whose_stdout_is_closed_writes_and_audits_every_target(
    fp: FakeProcess,
    fake_az: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    output: str,
) -> None:
    fp.register(
        [fake_az, "account", "show", "--only-show-errors", "-o", "json"],
        stdout=dumps({"id": SUB, "user": {"name": "dba", "type": "user"}}),
    )
    fp.register(show_argv(fake_az), stdout=dumps(server_json([conn(PE1), conn(PE2), conn(APP, "Approved")])))
    # The engine may look at the server again between the two writes (is it busy?).
    after_first = server_json([conn(PE1, "Rejected"), conn(PE2), conn(APP, "Approved")])
    fp.register(show_argv(fake_az, sub=SUB), stdout=dumps(after_first), occurrences=3)
    for name in (PE1, PE2):
        fp.register(
            write_argv(fake_az, "reject", name, sub=SUB), stdout=dumps(connection_raw(name, "Rejected"))
        )
    audit = tmp_path / "audit.jsonl"
    with closed_pipe():
        code = main(
            "reject", "-g", RG, "-s", SERVER, "-n", PE1, "-n", PE2, "-o", output, "--audit-log", str(audit)
        )
    err = capsys.readouterr().err
    assert code == 0, err
    for name in (PE1, PE2):
        assert fp.call_count(write_argv(fake_az, "reject", name, sub=SUB)) == 1
    assert audit_outcomes(audit) == {PE1: "rejected", PE2: "rejected"}
    assert err.endswith("azpe: reject: 2 rejected\n")
    assert "Traceback" not in err and "BrokenPipe" not in err
