"""Options given with an empty value: invalid input (exit 2, nothing run), never "not given".

``SERVER_ID=""; azpe reject --server-id "$SERVER_ID" --status Pending --yes`` once rejected every
Pending connection of the subscription. Every option that takes text is checked here, on
every command that has it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from pytest_subprocess import FakeProcess

from tests.azsamples import SUB, conn, connection_id, dumps, server_id, server_json
from tests.clihelp import list_argv, run, write_argv

PE1 = "pe-foreign.11111111-1111-1111-1111-111111111111"
PE2 = "pe-other.22222222-2222-2222-2222-222222222222"
POLICY = "[pending]\nunmatched = 'reject'\n"

WRITES = ("reject", "approve", "delete")
# Each command with arguments that are otherwise complete, and the text options it takes.
COMMON = ("--subscription", "-o", "--output", "--query", "--az")
TARGETS = ("-g", "--resource-group", "-s", "--server", "-n", "--name", "--id", "--status", "--server-id")
CASES: list[tuple[str, ...]] = [
    *[(w, opt) for w in WRITES for opt in (*COMMON, *TARGETS, "--audit-log")],
    *[(w, opt) for w in ("reject", "approve") for opt in ("-d", "--description")],
    *[("list", opt) for opt in (*COMMON, "-g", "-s", "--server-id", "--status")],
    *[("show", opt) for opt in (*COMMON, "-g", "-s", "-n", "--id")],
    *[("server show", opt) for opt in (*COMMON, "-g", "-s", "--server-id")],
    *[
        ("enforce", opt)
        for opt in (*COMMON, "--policy", "-g", "-s", "--server-id", "--explain", "--audit-log")
    ],
]


def base_args(command: str, option: str, policy: Path) -> list[str]:
    """The command, complete but for the option under test (which is left out if it is here)."""
    if command in WRITES:
        given = ["--id", connection_id(PE1), "--yes"]
    elif command == "enforce":
        given = ["--policy", str(policy), "--apply"]
    elif command == "show":
        given = ["--id", connection_id(PE1)]
    else:
        given = []
    if option in given:
        del given[given.index(option) : given.index(option) + 2]
    return [*command.split(), *given]


@pytest.mark.parametrize(("command", "option"), CASES, ids=[" ".join(c) for c in CASES])
def test_an_empty_value_is_invalid_input_and_nothing_runs(
    fp: FakeProcess, fake_az: str, tmp_path: Path, command: str, option: str
) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text(POLICY)
    result = run(*base_args(command, option, policy), option, "")
    assert result.exit_code == 2, result.output
    assert "must not be empty" in result.stderr
    assert option in result.stderr  # named as the user wrote it
    assert "Traceback" not in result.output
    assert result.stdout == ""
    assert not fp.calls  # no az call at all


@pytest.mark.parametrize("option", ["--server-id", "-g", "--subscription"])
def test_an_unset_variable_does_not_widen_a_write_to_the_subscription(
    fp: FakeProcess, fake_az: str, option: str
) -> None:
    # What azpe would run if the empty value meant "not given": every Pending connection of
    # the subscription, rejected.
    fp.register(list_argv(fake_az), stdout=dumps([server_json([conn(PE1), conn(PE2)])]))
    for name in (PE1, PE2):
        fp.register(write_argv(fake_az, "reject", name, sub=SUB), stdout="{}")
    result = run("reject", option, "", "--status", "Pending", "--yes")
    assert result.exit_code == 2
    assert fp.call_count(list_argv(fake_az)) == 0
    assert fp.call_count(write_argv(fake_az, "reject", PE1, sub=SUB)) == 0


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("Not approved \udcff by the DBA team", "not valid UTF-8"),  # bytes \xff in argv, surrogate-escaped
        ("\udce9", "not valid UTF-8"),
        ("a\x00b", "must not hold a NUL character"),
    ],
)
def test_a_description_that_cannot_reach_az_whole_is_refused(
    fp: FakeProcess, fake_az: str, tmp_path: Path, value: str, problem: str
) -> None:
    audit = tmp_path / "audit.jsonl"
    result = run("reject", "--id", connection_id(PE1), "-d", value, "--audit-log", str(audit))
    assert result.exit_code == 2, result.output
    assert problem in result.stderr
    assert "--description" in result.stderr
    assert not fp.calls
    assert not audit.exists()


@pytest.mark.parametrize("option", ["--query", "-g", "-s", "--status", "--subscription", "-o"])
def test_other_text_options_are_refused_when_not_utf8(fp: FakeProcess, fake_az: str, option: str) -> None:
    result = run("list", option, "x\udcff")
    assert result.exit_code == 2, result.output
    assert "not valid UTF-8" in result.stderr
    assert "Traceback" not in result.output
    assert not fp.calls


def test_paths_may_hold_bytes_that_are_not_utf8(fp: FakeProcess, fake_az: str, tmp_path: Path) -> None:
    result = run("list", "--az", str(tmp_path / "no-such-az-\udcff"))
    assert result.exit_code == 4  # looked for, not refused as text: file names are bytes
    assert "az not found" in result.stderr


def test_a_server_id_given_with_something_is_used(fp: FakeProcess, fake_az: str) -> None:
    fp.register(
        [fake_az, "postgres", "flexible-server", "show", "--resource-group", "rg-data", "--name", "pg-orders",
         "--subscription", SUB, "--only-show-errors", "-o", "json"],
        stdout=dumps(server_json([conn(PE1)])),
    )  # fmt: skip
    result = run("list", "--server-id", server_id())
    assert result.exit_code == 0, result.output
