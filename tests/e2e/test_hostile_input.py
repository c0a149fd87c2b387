"""Hostile input with the real az against the emulator (issue 13: items 1, 4, 9, 10, 11).

An empty value never stands for "not given"; names that Unicode folds into ASCII ones never
reach az; bytes that are not UTF-8 (argv, stdin) are invalid input; a byte-order mark on stdin
is dropped; the audit log is checked before any az call, and on a full disk keeps whole lines
only while every result still reaches stdout.

"Nothing run" is checked twice: the emulator saw no request, and az itself (through a wrapper
that logs each call, since ``az account show`` reads only local files) was never started.
"""

from __future__ import annotations

import json
import shlex
import subprocess
from pathlib import Path

import pytest

from tests.e2e.conftest import AZ, RG, Run, Sandbox, connection_id, server_id

PENDING = {"pg-orders": 2, "pg-reports": 1}  # the default scenario's Pending connections in rg-data


def logging_az(sandbox: Sandbox) -> tuple[dict[str, str], Path]:
    """An environment whose az logs each call to a file before it runs the real az."""
    calls = sandbox.tmp_path / "az-calls"
    wrapper = sandbox.tmp_path / "az-logged"
    wrapper.write_text(f'#!/bin/sh\necho "$*" >> {shlex.quote(str(calls))}\nexec {shlex.quote(AZ)} "$@"\n')
    wrapper.chmod(0o755)
    return sandbox.env | {"AZPE_AZ": str(wrapper)}, calls


def assert_nothing_ran(sandbox: Sandbox, calls: Path) -> None:
    assert not calls.exists(), calls.read_text()
    assert sandbox.em.requests() == []


def assert_one_error_line(run: Run, starts: str) -> None:
    lines = run.stderr.splitlines()
    assert "Traceback" not in run.stderr and "internal error" not in run.stderr, run
    assert lines and lines[0].startswith("azpe: error: "), run
    assert starts in lines[0], run
    assert all(line.startswith("azpe: hint: ") for line in lines[1:]), run


def pending(sandbox: Sandbox) -> dict[str, int]:
    return {server: len(sandbox.names(server, "Pending")) for server in PENDING}


# -- 1: empty values -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "options",
    [
        '--server-id "$EMPTY"',
        '-g "$EMPTY"',
        '-g rg-data -s "$EMPTY"',
        '--subscription "$EMPTY"',
        '--az "$EMPTY"',
        '--id "$EMPTY"',
    ],
)
def test_an_unset_variable_never_widens_a_write(sandbox: Sandbox, options: str) -> None:
    env, calls = logging_az(sandbox)
    done = subprocess.run(
        ["sh", "-c", f'EMPTY=""; $AZPE reject {options} --status Pending --yes'],
        env=env | {"AZPE": shlex.join(sandbox.azpe_argv)},
        cwd=sandbox.tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert "must not be empty" in done.stderr
    assert done.stdout == ""
    assert_nothing_ran(sandbox, calls)
    assert pending(sandbox) == PENDING


# -- 10: ASCII names ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "error"),
    [
        # U+017F long s folds to s: "pg-report\u017f" looks like, and case-folds to, pg-reports
        (["-g", RG, "-s", "pg-report\u017f", "--status", "Pending", "--yes"], "invalid flexible server name"),
        (["-g", RG, "-s", "pg-orders", "-n", "pe-bi-report\u017f.1"], "invalid private endpoint connection"),
        (["--server-id", server_id("pg-order\u017f"), "--status", "Pending", "--yes"], "not a PostgreSQL"),
        # U+212A Kelvin sign folds to k
        (["--id", connection_id("pg-\u212a\u212a\u212a", "pe-partner-etl.1")], "not a PostgreSQL"),
        (["-g", "rg-d\u0430ta", "--status", "Pending", "--yes"], "invalid resource group"),  # Cyrillic a
    ],
)
def test_names_that_fold_into_ascii_ones_never_reach_az(
    sandbox: Sandbox, target: list[str], error: str
) -> None:
    env, calls = logging_az(sandbox)
    run = sandbox.azpe("reject", *target, env=env)
    assert run.code == 2, run
    assert_one_error_line(run, error)
    assert_nothing_ran(sandbox, calls)


# -- 9 and 11: bytes that are not UTF-8, a byte-order mark ----------------------------------------


def test_a_description_that_is_not_utf8_is_refused_before_anything_runs(sandbox: Sandbox) -> None:
    env, calls = logging_az(sandbox)
    name = sandbox.names("pg-reports", "Pending")[0]
    # "\udcff" is how Python hands over the argv byte 0xff: the process gets the raw byte.
    run = sandbox.azpe(
        "reject", "--id", connection_id("pg-reports", name), "-d", "Rejected \udcff by the DBA team",
        "--audit-log", "audit.jsonl", "-o", "jsonl", env=env,
    )  # fmt: skip
    assert run.code == 2, run
    assert "not valid UTF-8" in run.stderr
    assert run.stdout == ""
    assert not (sandbox.tmp_path / "audit.jsonl").exists()
    assert_nothing_ran(sandbox, calls)
    assert sandbox.status("pg-reports", name) == "Pending"


@pytest.mark.parametrize("io_encoding", [None, "utf-8:strict"], ids=["C.UTF-8", "strict-utf-8"])
def test_stdin_that_is_not_utf8_is_one_error_line(sandbox: Sandbox, io_encoding: str | None) -> None:
    # C.UTF-8 decodes stdin with surrogate escapes; most UTF-8 locales (en_US.UTF-8) strictly.
    env, calls = logging_az(sandbox)
    if io_encoding is not None:
        env = env | {"PYTHONIOENCODING": io_encoding}
    stdin = (connection_id("pg-reports", "pe-x.1") + "\n" + "# r\xe9sum\xe9\n").encode("latin-1")
    done = subprocess.run(
        [*sandbox.azpe_argv, "reject", "--id", "-", "--yes"],
        input=stdin, capture_output=True, env=env, cwd=sandbox.tmp_path, timeout=120, check=False,
    )  # fmt: skip
    stderr = done.stderr.decode("utf-8", "replace")
    assert done.returncode == 2, stderr
    assert stderr == "azpe: error: stdin line 2: not utf-8 text\n"
    assert_nothing_ran(sandbox, calls)


def test_a_byte_order_mark_on_stdin_is_dropped(sandbox: Sandbox) -> None:
    name = sandbox.names("pg-reports", "Pending")[0]
    (sandbox.tmp_path / "ids.txt").write_bytes(
        b"\xef\xbb\xbf" + connection_id("pg-reports", name).encode() + b"\r\n"
    )
    run = sandbox.shell("$AZPE reject --id - --dry-run -o jsonl < ids.txt")
    assert run.code == 0, run
    [record] = run.lines
    assert (record["name"], record["action"]) == (name, "planned")
    assert sandbox.writes() == []


# -- 11: the audit log is checked before any az call ----------------------------------------------


@pytest.mark.parametrize(
    "command",
    [
        ["reject", "-g", RG, "--status", "Pending", "--yes"],
        ["enforce", "--policy", "policy.toml", "-g", RG, "--apply"],
    ],
    ids=["reject", "enforce"],
)
def test_an_audit_log_that_cannot_be_opened_stops_before_any_az_call(
    sandbox: Sandbox, command: list[str]
) -> None:
    (sandbox.tmp_path / "policy.toml").write_text("[pending]\nunmatched = 'reject'\n")
    env, calls = logging_az(sandbox)
    run = sandbox.azpe(*command, "--audit-log", "no-such-dir/audit.jsonl", env=env)
    assert run.code == 2, run
    assert_one_error_line(run, "cannot open audit log no-such-dir/audit.jsonl: No such file or directory")
    assert_nothing_ran(sandbox, calls)
    assert pending(sandbox) == PENDING


# -- 4: a full disk ----------------------------------------------------------------------------------


def mount_namespace() -> list[str]:
    for argv in (["unshare", "--mount"], ["unshare", "--user", "--map-root-user", "--mount"]):
        try:
            if subprocess.run([*argv, "true"], capture_output=True, check=False).returncode == 0:
                return argv
        except OSError:
            break
    pytest.skip("cannot create a mount namespace here (unshare --mount)")


DISK = 64 * 1024  # the small disk's size: a tmpfs takes exactly this many bytes of data
ROOM = 50  # what the disk has left for the run's first outcome line (far shorter than one)


def test_on_a_full_disk_the_audit_log_keeps_whole_lines_and_every_result_is_printed(
    sandbox: Sandbox,
) -> None:
    unshare = mount_namespace()
    # The same run as a dry run, on a roomy disk, gives the exact size of its decision lines.
    command = ["delete", "-g", RG, "--status", "Pending", "--yes", "-o", "jsonl"]
    dry = sandbox.azpe(*command, "--dry-run", "--audit-log", "dry.jsonl")
    assert dry.code == 0, dry
    # The real run's decision lines are the dry run's, but for "dryRun": one byte longer.
    decisions = [
        line.replace(b'"dryRun":true', b'"dryRun":false')
        for line in (sandbox.tmp_path / "dry.jsonl").read_bytes().splitlines(keepends=True)
        if json.loads(line)["event"] == "decision"
    ]  # fmt: skip
    assert len(decisions) == 3
    # A log written before, which fills the disk but for the decisions and ROOM bytes.
    filler_size = DISK - sum(map(len, decisions)) - ROOM
    filler = b'{"filler": "' + b"x" * (filler_size - 15) + b'"}\n'
    assert len(filler) == filler_size
    (sandbox.tmp_path / "before.jsonl").write_bytes(filler)
    (sandbox.tmp_path / "small").mkdir()
    (sandbox.tmp_path / "run.sh").write_text(
        f"mount -t tmpfs -o size={DISK} tmpfs small || exit 99\n"
        "cp before.jsonl small/audit.jsonl\n"
        f"$AZPE {shlex.join(command)} --audit-log small/audit.jsonl > out.jsonl 2> err.txt\n"
        "echo $? > rc\n"
        "cp small/audit.jsonl after.jsonl\n"
    )
    sandbox.em.clear_requests()

    run = sandbox.shell(f"{shlex.join(unshare)} sh run.sh", timeout=180)

    assert run.code == 0, run
    out = sandbox.tmp_path
    stderr = (out / "err.txt").read_text()
    assert (out / "rc").read_text() == "1\n", stderr
    assert "cannot write the audit log small/audit.jsonl: No space left on device" in stderr
    assert "Traceback" not in stderr

    # The audit log: what was there, then the three decisions, whole, and nothing of the
    # outcome line that did not fit (a torn line would fill the disk to its last byte).
    after = (out / "after.jsonl").read_bytes()
    assert after.startswith(filler)
    written = after[len(filler) :]
    assert len(written) == sum(map(len, decisions)) == DISK - filler_size - ROOM
    records = [json.loads(line) for line in written.splitlines()]
    assert [r["event"] for r in records] == ["decision"] * 3
    ids = sorted(json.loads(line)["connectionId"] for line in decisions)
    assert sorted(r["connectionId"] for r in records) == ids

    # stdout: one result per target - the one whose outcome could not be audited, the write
    # that was still under way on the other server, the one never started - each as the
    # emulator has it now.
    results = [json.loads(line) for line in (out / "out.jsonl").read_text().splitlines()]
    assert sorted(r["id"] for r in results) == ids
    deleted = sorted(r["server"] for r in results if r["action"] == "deleted")
    skipped = sorted(r["server"] for r in results if r["action"] == "skipped")
    assert (deleted, skipped) == (["pg-orders", "pg-reports"], ["pg-orders"])
    for record in results:
        now = sandbox.status(record["server"], record["name"])
        assert now == (None if record["action"] == "deleted" else "Pending"), record
    assert sandbox.count("DELETE") == 2
