"""Hostile input through the CLI: one ``azpe: error:`` line and exit 2 with nothing run, never a
traceback (exit 70); values echoed in errors cut to a readable length; the audit log checked
before any az call; a byte-order mark on stdin is not part of the first target.

az is faked (pytest-subprocess) with nothing registered unless a test says so: any az call
that should not happen fails the test.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from pytest_subprocess import FakeProcess

from azpe.errors import UsageError
from azpe.targets import build_scope
from tests.azsamples import SUB, conn, connection_id, dumps, server_json
from tests.clihelp import run, show_argv, write_argv
from tests.fleethelp import register_accounts

PE1 = "pe-foreign.11111111-1111-1111-1111-111111111111"
ACCOUNT = ["account", "show", "--only-show-errors", "-o", "json"]


def one_error_line(result: object) -> str:
    """The run's stderr, which must be one error line (and perhaps a hint)."""
    stderr: str = result.stderr  # type: ignore[attr-defined]
    lines = stderr.splitlines()
    assert "Traceback" not in stderr and "internal error" not in stderr, stderr
    assert lines and lines[0].startswith("azpe: error: "), stderr
    assert all(line.startswith("azpe: hint: ") for line in lines[1:]), stderr
    return lines[0]


# -- stdin ------------------------------------------------------------------------------------


def test_stdin_that_is_not_utf8_is_invalid_input(fp: FakeProcess, fake_az: str) -> None:
    # CliRunner's stdin decodes strictly as UTF-8, as a UTF-8 locale does.
    stdin = f"{connection_id(PE1)}\n# caf\xe9\n".encode("latin-1")
    result = run("reject", "--id", "-", "--yes", stdin=stdin)  # type: ignore[arg-type]
    assert result.exit_code == 2, result.output
    assert one_error_line(result) == "azpe: error: stdin line 2: not utf-8 text"
    assert not fp.calls


def test_a_byte_order_mark_on_stdin_is_not_part_of_the_first_id(fp: FakeProcess, fake_az: str) -> None:
    register_accounts(fp, fake_az)  # a bulk write says whose each endpoint is
    fp.register(show_argv(fake_az, sub=SUB), stdout=dumps(server_json([conn(PE1)])))
    stdin = "\ufeff" + connection_id(PE1) + "\r\n"  # as PowerShell and Notepad write it
    result = run("reject", "--id", "-", "--dry-run", stdin=stdin)
    assert result.exit_code == 0, result.output
    [record] = json.loads(result.stdout)
    assert record["name"] == PE1
    assert record["command"] == write_argv(fake_az, "reject", PE1, sub=SUB)


def test_a_huge_bad_stdin_line_gives_a_short_error_line(fp: FakeProcess, fake_az: str) -> None:
    result = run("reject", "--id", "-", "--yes", stdin="x" * 10_000_000 + "\n")
    assert result.exit_code == 2
    line = one_error_line(result)
    assert line.startswith("azpe: error: stdin line 1: not a PostgreSQL flexible server")
    assert "(10000000 characters)" in line
    assert len(result.stderr) < 1000
    assert not fp.calls


# -- options ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        "[" * 1000 + "a" + "]" * 1000,
        "(" * 1000 + "a" + ")" * 1000,
        "not_null(" * 1000 + "a" + ")" * 1000,
        "{a: " * 1000 + "b" + "}" * 1000,
    ],
)
def test_a_query_nested_too_deeply_is_invalid_input(fp: FakeProcess, fake_az: str, query: str) -> None:
    result = run("list", "--query", query)
    assert result.exit_code == 2, result.output
    line = one_error_line(result)
    assert line.endswith(": nested too deeply")
    assert len(line) < 800
    assert not fp.calls


def test_a_bad_query_is_one_short_line(fp: FakeProcess, fake_az: str) -> None:
    result = run("list", "--query", "[?name == 'x'" + " " * 1_000_000)
    assert result.exit_code == 2
    line = one_error_line(result)
    assert line.startswith("azpe: error: invalid --query \"[?name == 'x'")
    assert len(result.stderr) < 1000


BIG = "x" * 1_000_000 + "\u202e\x1b[2J"


@pytest.mark.parametrize(
    "args",
    [
        ["list", "-g", BIG],
        ["list", "-g", "rg-data", "-s", BIG],
        ["list", "--server-id", BIG],
        ["list", "--status", BIG],
        ["list", "--subscription", BIG],
        ["list", "-o", BIG],
        ["list", "--query", BIG + "["],
        ["show", "-g", "rg-data", "-s", "pg-orders", "-n", BIG],
        ["reject", "--id", BIG],
    ],
    ids=["-g", "-s", "--server-id", "--status", "--subscription", "-o", "--query", "-n", "--id"],
)
def test_a_huge_bad_value_is_echoed_cut_short(fp: FakeProcess, fake_az: str, args: list[str]) -> None:
    result = run(*args)
    assert result.exit_code == 2, result.output[:2000]
    line = one_error_line(result)
    assert re.search(r"\.\.\. \(100000\d characters\)", line)
    assert "\u202e" not in line and "\x1b" not in line  # what survives the cut is escaped
    assert len(result.stderr) < 2000
    assert not fp.calls


def test_an_empty_server_id_is_refused_by_build_scope_itself() -> None:
    with pytest.raises(UsageError, match="not a PostgreSQL flexible server ID: ''"):
        build_scope(None, None, "")
    with pytest.raises(UsageError, match="either --server-id or -g/-s"):
        build_scope("", None, "/subscriptions/x")


# -- the audit log: writable, before any az call ------------------------------------------------


@pytest.mark.parametrize("where", ["missing-dir/audit.jsonl", "."])
@pytest.mark.parametrize(
    "command",
    [
        ["reject", "--id", connection_id(PE1)],
        ["approve", "--id", connection_id(PE1), "--dry-run"],
        ["delete", "--id", connection_id(PE1), "--yes"],
        ["reject", "-g", "rg-data", "--status", "Pending", "--yes"],
    ],
)
def test_an_audit_log_that_cannot_be_opened_stops_before_any_az_call(
    fp: FakeProcess, fake_az: str, tmp_path: Path, command: list[str], where: str
) -> None:
    fp.register([fake_az, *ACCOUNT], stdout=dumps({"id": SUB, "user": {"name": "dba"}}))
    result = run(*command, "--audit-log", str(tmp_path / where))
    assert result.exit_code == 2, result.output
    assert one_error_line(result).startswith(f"azpe: error: cannot open audit log {tmp_path}")
    assert not fp.calls  # not even az account show


def test_enforce_checks_its_audit_log_before_reading_the_servers(
    fp: FakeProcess, fake_az: str, tmp_path: Path
) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text("[pending]\nunmatched = 'reject'\n")
    result = run(
        "enforce", "--policy", str(policy), "--apply", "--audit-log", str(tmp_path / "no" / "a.jsonl")
    )
    assert result.exit_code == 2, result.output
    assert "cannot open audit log" in one_error_line(result)
    assert not fp.calls


# -- policy files -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "allow = [1]\n",
        "allow = [[]]\n",
        "x = " + "[" * 1000 + "]" * 1000 + "\n",
        '[pending]\ndescription = "Rejected\\u0000by policy"\n',
    ],
)
def test_hostile_policies_are_invalid_input(fp: FakeProcess, fake_az: str, tmp_path: Path, text: str) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text(text)
    result = run("enforce", "--policy", str(policy), "--apply")
    assert result.exit_code == 2, result.output
    assert one_error_line(result).startswith(f"azpe: error: {policy}")
    assert not fp.calls
