"""The audit log: whole JSON lines, appended only, from concurrent writers."""

from __future__ import annotations

import errno
import fcntl
import json
import multiprocessing
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from azpe.audit import AuditLog
from azpe.errors import AzureError, UsageError
from azpe.ids import ConnectionRef, ServerRef
from azpe.models import Connection
from azpe.outcomes import Outcome, TargetResult
from tests.azsamples import SUB, conn


def result(name: str, padding: int) -> TargetResult:
    connection = Connection.from_az(conn(name, "Rejected", description="x" * padding))
    target = ConnectionRef(ServerRef(SUB, "rg-data", "pg-orders"), name)
    return TargetResult(target, Outcome.REJECTED, connection, previous_status="Pending", attempts=1)


def write_many(path: str, writer: int, count: int) -> None:
    log = AuditLog(Path(path), command="reject", identity={"name": f"writer-{writer}"})
    for i in range(count):
        log.outcome(result(f"pe-{writer}-{i}.1", padding=(i * 997) % 5000))


def test_concurrent_writers_append_whole_lines_and_never_rewrite(tmp_path: Path) -> None:
    """Many writers, lines of up to 5 kB: all whole, all there (the lock itself is tested below)."""
    path = tmp_path / "audit.jsonl"
    path.write_text('{"kept": "a line written before"}\n')
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=write_many, args=(str(path), w, 60)) for w in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(30)
        assert worker.exitcode == 0
    lines = path.read_text().splitlines()
    assert lines[0] == '{"kept": "a line written before"}'  # appended, never rewritten
    records = [json.loads(line) for line in lines[1:]]  # every line is whole JSON
    records = [r for r in records if r["event"] == "outcome"]  # (each after its decision)
    assert len(records) == 240
    per_writer = {w: [r for r in records if r["identity"]["name"] == f"writer-{w}"] for w in range(4)}
    assert all(len(v) == 60 for v in per_writer.values())
    first = records[0]
    assert first["event"] == "outcome"
    assert first["statusBefore"] == "Pending"
    assert first["statusAfter"] == "Rejected"
    assert first["result"] == "rejected"


def append_one(path: str, started: Any, done: Any) -> None:
    log = AuditLog(Path(path), command="reject", identity=None)
    started.set()
    log.outcome(result("pe-blocked.1", padding=0))
    done.set()


def test_a_writer_waits_for_the_lock_another_process_holds(tmp_path: Path) -> None:
    """What keeps concurrent azpe runs apart: while another process holds the log's lock, a line
    is not written (not even looked at); it is, whole, as soon as the lock is let go."""
    path = tmp_path / "audit.jsonl"
    path.write_bytes(b'{"kept": 1}\n{"torn": ')  # a torn line: the writer must look at the end
    context = multiprocessing.get_context("fork")
    started, done = context.Event(), context.Event()
    with open(path, "ab") as held:
        fcntl.flock(held.fileno(), fcntl.LOCK_EX)
        writer = context.Process(target=append_one, args=(str(path), started, done))
        writer.start()
        try:
            assert started.wait(10), "the writer never started"
            assert not done.wait(0.5), "a line was written while another process held the lock"
            assert path.read_bytes() == b'{"kept": 1}\n{"torn": '
            held.write(b'"finished by its owner"}\n')  # the lock holder finishes its line
            held.flush()
        finally:
            fcntl.flock(held.fileno(), fcntl.LOCK_UN)
    try:
        assert done.wait(10), "the writer did not write once the lock was free"
    finally:
        writer.join(10)
        if writer.is_alive():
            writer.kill()
    assert writer.exitcode == 0
    lines = path.read_bytes().split(b"\n")
    assert lines[:2] == [b'{"kept": 1}', b'{"torn": "finished by its owner"}']  # no "\n" put in between
    assert [json.loads(line)["event"] for line in lines[2:-1]] == ["decision", "outcome"]
    assert lines[-1] == b""


class Recorder:
    """The order of what happens: audit writes and fsyncs (by the file they go to) and az calls."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, audit: Path) -> None:
        self.audit = audit
        self.events: list[tuple[str, str]] = []
        self.real_write, self.real_fsync = os.write, os.fsync
        monkeypatch.setattr("azpe.audit.os.write", self.write)
        monkeypatch.setattr("azpe.audit.os.fsync", self.fsync)

    def _is_audit(self, fd: int) -> bool:
        return os.path.samestat(os.fstat(fd), os.stat(self.audit))

    def write(self, fd: int, data: bytes) -> int:
        if self._is_audit(fd):
            line = json.loads(bytes(data).strip())
            self.events.append(("audit-write", f"{line['event']} {line.get('name', '')}".strip()))
        return self.real_write(fd, data)

    def fsync(self, fd: int) -> None:
        self.real_fsync(fd)
        if self._is_audit(fd):
            self.events.append(("fsync", ""))

    def az(self, name: str) -> Callable[[Any], None]:
        def called(process: Any) -> None:
            self.events.append(("az-write", name))

        return called


def test_each_audit_line_is_fsynced_before_anything_else_happens(
    fp: Any, fake_az: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.azsamples import connection_raw, dumps, server_json
    from tests.clihelp import run, show_argv, write_argv

    pe1, pe2 = "pe-a.11111111-1111-1111-1111-111111111111", "pe-b.22222222-2222-2222-2222-222222222222"
    audit = tmp_path / "audit.jsonl"
    audit.touch()
    recorder = Recorder(monkeypatch, audit)
    fp.register(
        [fake_az, "account", "show", "--only-show-errors", "-o", "json"],
        stdout=dumps({"id": SUB, "tenantId": "t", "user": {"name": "dba@example.com", "type": "user"}}),
    )
    fp.register(show_argv(fake_az), stdout=dumps(server_json([conn(pe1), conn(pe2)])))
    for name in (pe1, pe2):
        fp.register(
            write_argv(fake_az, "reject", name, sub=SUB),
            stdout=dumps(connection_raw(name, "Rejected")),
            callback=recorder.az(name),
        )
    result = run(
        "reject", "-g", "rg-data", "-s", "pg-orders", "-n", pe1, "-n", pe2, "--audit-log", str(audit)
    )
    assert result.exit_code == 0, result.stderr
    events = recorder.events
    assert [e for e in events if e[0] == "az-write"] == [("az-write", pe1), ("az-write", pe2)]
    writes = [i for i, (kind, _) in enumerate(events) if kind == "audit-write"]
    assert len(writes) == 5  # two decisions, two outcomes, the end
    for i in writes:  # each line is on disk before the next line or the next az write starts
        assert events[i + 1] == ("fsync", ""), events
    # the decisions are on disk before the first write; each outcome before the next write
    assert [name for kind, name in events if kind != "fsync"] == [
        f"decision {pe1}",
        f"decision {pe2}",
        pe1,
        f"outcome {pe1}",
        pe2,
        f"outcome {pe2}",
        "end",
    ]


def test_an_unwritable_audit_log_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="cannot open audit log"):
        AuditLog(tmp_path / "missing-dir" / "audit.jsonl", command="reject", identity=None)


# -- whole lines or nothing ---------------------------------------------------------------------


def lines_of(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_bytes().decode().split("\n")[:-1]]


def test_a_line_after_a_torn_one_starts_on_its_own_line(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    path.write_bytes(b'{"kept": 1}\n{"torn by a crash": ')  # what a kill -9 mid-write leaves
    log = AuditLog(path, command="reject", identity=None)
    log.outcome(result("pe-1.1", padding=0))
    log.outcome(result("pe-2.1", padding=0))
    lines = path.read_bytes().split(b"\n")
    assert lines[:2] == [b'{"kept": 1}', b'{"torn by a crash": ']  # never rewritten
    assert [json.loads(line)["connectionId"].rsplit("/", 1)[-1] for line in lines[2:-1]] == [
        "pe-1.1",
        "pe-1.1",
        "pe-2.1",
        "pe-2.1",
    ]  # each outcome after its decision
    assert lines[-1] == b""  # ends in a newline


def test_an_empty_file_gets_no_leading_newline(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    path.touch()
    AuditLog(path, command="reject", identity=None).outcome(result("pe-1.1", padding=0))
    assert path.read_bytes().startswith(b'{"time":')


class FailingDisk:
    """os.write and os.fsync as a disk that fills up (or fails) part-way through a line."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, *, room: int, fsync_error: int | None = None) -> None:
        self.room = room  # bytes the disk still takes
        self.fsync_error = fsync_error
        self.real_write = os.write
        self.real_fsync = os.fsync
        monkeypatch.setattr("azpe.audit.os.write", self.write)
        monkeypatch.setattr("azpe.audit.os.fsync", self.fsync)

    def write(self, fd: int, data: bytes) -> int:
        if self.room <= 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        written = self.real_write(fd, bytes(data[: self.room]))  # a short write, as a full disk does
        self.room -= written
        return written

    def fsync(self, fd: int) -> None:
        if self.fsync_error is not None:
            raise OSError(self.fsync_error, os.strerror(self.fsync_error))
        self.real_fsync(fd)


@pytest.mark.parametrize("before", [b"", b'{"kept": 1}\n', b'{"kept": 1}\n{"torn": '])
@pytest.mark.parametrize("room", [0, 1, 100])
def test_a_failed_append_leaves_the_file_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, before: bytes, room: int
) -> None:
    path = tmp_path / "audit.jsonl"
    path.write_bytes(before)
    log = AuditLog(path, command="reject", identity=None)
    FailingDisk(monkeypatch, room=room)
    with pytest.raises(AzureError, match=r"cannot write the audit log .*No space left on device") as caught:
        log.outcome(result("pe-1.1", padding=0))
    assert caught.value.code == "AuditLogFailed"
    assert path.read_bytes() == before


def test_a_line_whose_fsync_fails_is_taken_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "audit.jsonl"
    path.write_bytes(b'{"kept": 1}\n')
    log = AuditLog(path, command="reject", identity=None)
    disk = FailingDisk(monkeypatch, room=10**6, fsync_error=errno.EIO)
    with pytest.raises(AzureError, match="Input/output error"):
        log.outcome(result("pe-1.1", padding=0))
    disk.fsync_error = None
    assert path.read_bytes() == b'{"kept": 1}\n'  # not there: it was reported as not written


def test_a_log_that_can_be_appended_to_but_not_read_still_takes_lines(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "audit.jsonl"
    path.write_bytes(b'{"kept": 1}\n')
    real_open = os.open

    def write_only(file: str, flags: int, mode: int = 0o777) -> int:  # as mode 0200 is, for non-root
        if flags & os.O_RDWR:
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), file)
        return real_open(file, flags, mode)

    monkeypatch.setattr("azpe.audit.os.open", write_only)
    AuditLog(path, command="reject", identity=None).outcome(result("pe-1.1", padding=0))
    assert len(lines_of(path)) == 3  # kept, decision, outcome


# A real full disk: a 16 KiB tmpfs in a mount namespace of its own (where unshare may run).
FULL_DISK = r"""
import json, os, sys
from pathlib import Path
from azpe.audit import AuditLog
from azpe.errors import AzureError
from tests.test_audit import result

small, copy = Path(sys.argv[1]), Path(sys.argv[2])
path = small / "audit.jsonl"
path.write_bytes(b'{"kept": 1}\n')
log = AuditLog(path, command="reject", identity=None)
written = 0
try:
    while True:
        log.outcome(result(f"pe-{written}.1", padding=written * 37 % 500))
        written += 1
except AzureError as exc:
    error = exc.message
os.truncate(small / "ballast", 0)  # room again: the next line must not be glued onto a torn one
log.outcome(result("pe-after.1", padding=0))
copy.write_bytes(path.read_bytes())
print(json.dumps({"written": written, "error": error}))
"""


def unshare_mount() -> list[str] | None:
    for argv in (["unshare", "--mount"], ["unshare", "--user", "--map-root-user", "--mount"]):
        try:
            probe = subprocess.run([*argv, "true"], capture_output=True, check=False, timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            return None
        if probe.returncode == 0:
            return argv
    return None


def test_on_a_real_full_disk_every_line_is_whole(tmp_path: Path) -> None:
    unshare = unshare_mount()
    if unshare is None:
        pytest.skip("cannot create a mount namespace here (unshare --mount)")
    small, copy = tmp_path / "small", tmp_path / "after.jsonl"
    small.mkdir()
    # ballast takes most of the space, so that the log fills up within a few lines
    script = (
        'mount -t tmpfs -o size=16k tmpfs "$1" && head -c 12000 /dev/zero > "$1/ballast" '
        '&& exec "$3" -c "$4" "$1" "$2"'
    )
    done = subprocess.run(
        [*unshare, "sh", "-c", script, "sh", str(small), str(copy), sys.executable, FULL_DISK],
        capture_output=True,
        text=True,
        cwd=Path(__file__).parents[1],
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["written"] >= 1 and "No space left on device" in report["error"]
    data = copy.read_bytes()
    assert data.startswith(b'{"kept": 1}\n')
    assert data.endswith(b"\n")
    records = lines_of(copy)  # every line whole JSON: nothing torn, nothing glued
    outcomes = [r for r in records[1:] if r["event"] == "outcome"]
    assert len(outcomes) == report["written"] + 1
    assert records[-1]["connectionId"].endswith("/pe-after.1")


# -- who, which run, and whether it was a dry run -----------------------------------------------


def test_every_line_names_its_run_version_os_user_and_host(tmp_path: Path) -> None:
    import getpass
    import socket

    import azpe

    path = tmp_path / "audit.jsonl"
    first = AuditLog(path, command="reject", identity=None)
    first.outcome(result("pe-1.1", padding=0))
    first.outcome(result("pe-2.1", padding=0))
    first.end(0, {"rejected": 2})
    AuditLog(path, command="reject", identity=None).outcome(result("pe-3.1", padding=0))
    lines = lines_of(path)
    events = ["decision", "outcome", "decision", "outcome", "end", "decision", "outcome"]
    assert [line["event"] for line in lines] == events
    assert {line["run"] for line in lines[:5]} == {first.run}  # one id for one invocation's lines
    assert lines[5]["run"] == lines[6]["run"] != first.run
    for line in lines:
        assert line["azpeVersion"] == azpe.__version__
        assert line["osUser"] == getpass.getuser()
        assert line["host"] == socket.gethostname()
        assert line["dryRun"] is False
    assert lines[4]["exitCode"] == 0 and lines[4]["results"] == {"rejected": 2}


def test_the_lines_of_a_dry_run_say_so(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    log = AuditLog(path, command="reject", identity=None, dry_run=True)
    log.outcome(result("pe-1.1", padding=0))
    log.end(0, {"planned": 1})
    assert [line["dryRun"] for line in lines_of(path)] == [True, True, True]


def test_a_run_that_logged_nothing_logs_no_end(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    AuditLog(path, command="enforce", identity=None).end(0, {})
    assert path.read_bytes() == b""


def test_an_outcome_never_planned_gets_its_decision_first(tmp_path: Path) -> None:
    # enforce, stopped in its approve round, reports the reject round's targets as skipped.
    path = tmp_path / "audit.jsonl"
    skipped = result("pe-1.1", padding=0).with_(outcome=Outcome.SKIPPED, connection=None)
    conn_id = skipped.to_record()["id"]
    log = AuditLog(path, command="enforce", identity=None, actions={conn_id.lower(): "reject"})
    log.outcome(skipped)
    decision, outcome = lines_of(path)
    assert (decision["event"], decision["decision"]) == ("decision", "reject: skipped")
    assert (outcome["event"], outcome["result"]) == ("outcome", "skipped")
    assert decision["connectionId"] == outcome["connectionId"] == conn_id


# -- through the CLI: a dry run's lines, and the end of every run --------------------------------

PE1 = "pe-foreign.11111111-1111-1111-1111-111111111111"


def reject_cli(fp: object, fake_az: str, audit: Path, *extra: str) -> object:
    from tests.azsamples import dumps, server_json
    from tests.clihelp import run, show_argv

    fp.register(  # type: ignore[attr-defined]
        [fake_az, "account", "show", "--only-show-errors", "-o", "json"],
        stdout=dumps({"id": SUB, "tenantId": "t", "user": {"name": "dba@example.com", "type": "user"}}),
    )
    fp.register(show_argv(fake_az), stdout=dumps(server_json([conn(PE1)])))  # type: ignore[attr-defined]
    return run("reject", "-g", "rg-data", "-s", "pg-orders", "-n", PE1, "--audit-log", str(audit), *extra)


def test_a_dry_run_is_audited_as_one(fp: object, fake_az: str, tmp_path: Path) -> None:
    audit = tmp_path / "audit.jsonl"
    done = reject_cli(fp, fake_az, audit, "--dry-run")
    assert done.exit_code == 0, done.stderr  # type: ignore[attr-defined]
    decision, outcome, end = lines_of(audit)
    assert (decision["decision"], decision["dryRun"]) == ("reject: write", True)
    assert (outcome["result"], outcome["dryRun"]) == ("planned", True)
    assert (end["event"], end["dryRun"], end["exitCode"], end["results"]) == ("end", True, 0, {"planned": 1})
    assert decision["run"] == outcome["run"] == end["run"]
    assert end["identity"]["name"] == "dba@example.com"


def test_a_real_run_ends_with_its_exit_code(fp: object, fake_az: str, tmp_path: Path) -> None:
    from tests.azsamples import connection_raw, dumps
    from tests.clihelp import write_argv

    fp.register(  # type: ignore[attr-defined]
        write_argv(fake_az, "reject", PE1, sub=SUB), stdout=dumps(connection_raw(PE1, "Rejected"))
    )
    audit = tmp_path / "audit.jsonl"
    done = reject_cli(fp, fake_az, audit)
    assert done.exit_code == 0, done.stderr  # type: ignore[attr-defined]
    lines = lines_of(audit)
    assert [(line["event"], line["dryRun"]) for line in lines] == [
        ("decision", False), ("outcome", False), ("end", False)
    ]  # fmt: skip
    assert (lines[-1]["exitCode"], lines[-1]["results"], lines[-1]["error"]) == (0, {"rejected": 1}, None)


def reporter_of(log: AuditLog) -> object:
    from azpe.cli.app import Session
    from azpe.cli.write import RunReporter

    return RunReporter(Session(client=None, output="json", query=None), log)  # type: ignore[arg-type]


def test_a_run_that_stops_on_an_error_still_ends(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    log = AuditLog(path, command="reject", identity=None)
    log.outcome(result("pe-1.1", padding=0))

    def work() -> object:
        raise AzureError("az said no", code="Boom")

    with pytest.raises(AzureError):
        reporter_of(log).run(work)  # type: ignore[attr-defined]
    end = lines_of(path)[-1]
    assert (end["event"], end["exitCode"]) == ("end", 1)
    assert end["error"] == {"code": "Boom", "message": "az said no"}


def test_a_run_whose_end_cannot_be_logged_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from azpe.writes import WriteReport

    path = tmp_path / "audit.jsonl"
    log = AuditLog(path, command="reject", identity=None)
    done = result("pe-1.1", padding=0)
    log.outcome(done)
    FailingDisk(monkeypatch, room=0)
    report = reporter_of(log).run(lambda: WriteReport([done]))  # type: ignore[attr-defined]
    assert report.failure is not None and report.failure.code == "AuditLogFailed"
    assert report.exit_code == 1


# -- enforce: a dry run, and a round never started ---------------------------------------------

OWN = "pe-app.33333333-3333-3333-3333-333333333333"
ENFORCE_POLICY = f"""
[organisation]
subscriptions = ["{SUB}"]

[pending]
matched = "approve"
unmatched = "reject"

[[allow]]
name = "own"
subscription = "{SUB}"
"""


def enforce_cli(fp: object, fake_az: str, tmp_path: Path, *extra: str) -> tuple[object, Path]:
    from tests.azsamples import FOREIGN_SUB, dumps, server_json
    from tests.clihelp import run, show_argv

    own = conn(OWN, "Pending")
    own["privateEndpoint"]["id"] = own["privateEndpoint"]["id"].replace(FOREIGN_SUB, SUB)
    population = dumps(server_json([own, conn(PE1)], public="Enabled"))
    fp.register(  # type: ignore[attr-defined]
        [fake_az, "account", "show", "--only-show-errors", "-o", "json"],
        stdout=dumps({"id": SUB, "tenantId": "t", "user": {"name": "dba@example.com", "type": "user"}}),
    )
    fp.register(show_argv(fake_az), stdout=population)  # type: ignore[attr-defined]
    fp.register(show_argv(fake_az, sub=SUB), stdout=population, occurrences=3)  # type: ignore[attr-defined]
    policy, audit = tmp_path / "policy.toml", tmp_path / "audit.jsonl"
    policy.write_text(ENFORCE_POLICY)
    done = run("enforce", "--policy", str(policy), "-g", "rg-data", "-s", "pg-orders", "--apply",
               "--audit-log", str(audit), *extra)  # fmt: skip
    return done, audit


def test_an_enforce_dry_run_is_audited_as_one(fp: object, fake_az: str, tmp_path: Path) -> None:
    done, audit = enforce_cli(fp, fake_az, tmp_path, "--dry-run")
    assert done.exit_code == 0, done.stderr  # type: ignore[attr-defined]
    lines = lines_of(audit)
    assert [line["event"] for line in lines] == ["decision", "outcome"] * 2 + ["end"]
    assert {line["dryRun"] for line in lines} == {True}


def test_an_interrupted_enforce_logs_the_round_it_never_started(
    fp: object, fake_az: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def ctrl_c(*_args: object) -> None:  # just before the approve round's writes start
        raise KeyboardInterrupt

    monkeypatch.setattr("azpe.cli.write.ServerProgress.start", ctrl_c)
    done, audit = enforce_cli(fp, fake_az, tmp_path)
    assert done.exit_code == 130, done.stderr  # type: ignore[attr-defined]
    lines = lines_of(audit)
    rejects = [line for line in lines if line.get("name") == PE1]  # the reject round's target
    assert [(line["event"], line.get("decision"), line.get("result")) for line in rejects] == [
        ("decision", "reject: skipped", None), ("outcome", None, "skipped"),
    ]  # fmt: skip
    assert lines[-1]["event"] == "end" and lines[-1]["exitCode"] == 130
    assert verify_lines(audit)["problems"] == []


def verify_lines(path: Path) -> dict[str, object]:
    from azpe.audit_verify import verify

    return verify(path.read_bytes())
