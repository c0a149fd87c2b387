"""The front door: an option given twice, examples in each command's help, shell completion,
and ``azpe sandbox`` without its extra."""

from __future__ import annotations

import shlex
import subprocess
import sys

import pytest
from pytest_subprocess import FakeProcess
from typer.testing import CliRunner

from azpe.cli import app
from tests.azsamples import RG, SERVER, conn, connection_id, dumps, server_json
from tests.clihelp import run, show_argv

PE1 = "pe-foreign.11111111-1111-1111-1111-111111111111"

# -- an option that takes one value, given twice -------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["list", "-g", RG, "-s", "pg-a", "-s", "pg-b"],
        ["server", "show", "-g", RG, "-s", "pg-a", "--server", "pg-b"],
        ["show", "-g", RG, "-s", SERVER, "-n", PE1, "-n", PE1],
        ["reject", "-g", RG, "-s", "pg-a", "-s", "pg-b", "-n", PE1],
        ["reject", "-g", "rg-a", "-g", "rg-b", "-s", SERVER, "-n", PE1],
        ["approve", "--id", connection_id(PE1), "-d", "one", "-d", "two"],
        ["delete", "--id", connection_id(PE1), "--yes", "-o", "json", "-o", "table"],
        ["enforce", "--policy", "a.toml", "--policy", "b.toml"],
    ],
)
def test_an_option_given_twice_that_takes_one_value_is_refused(fp: FakeProcess, args: list[str]) -> None:
    result = run(*args)
    assert result.exit_code == 2, result.output
    assert "was given 2 times; it takes one value" in result.stderr
    assert len(fp.calls) == 0  # never reduced to the last one, silently


def test_the_refusal_names_the_option(fp: FakeProcess) -> None:
    result = run("list", "-g", RG, "-s", "pg-a", "-s", "pg-b", "--server", "pg-c")
    assert "-s/--server was given 3 times" in result.stderr


def test_repeatable_options_and_flags_may_be_given_more_than_once(fp: FakeProcess, fake_az: str) -> None:
    fp.register(show_argv(fake_az), stdout=dumps(server_json([conn(PE1)])))
    result = run("list", "-g", RG, "-s", SERVER, "--status", "Pending", "--status", "Approved", "-v", "-v")
    assert result.exit_code == 0, result.stderr
    enforce = run("enforce", "--policy", "missing.toml", "-g", RG, "-s", "pg-a", "-s", "pg-b")
    assert "was given" not in enforce.stderr  # enforce takes several servers


# -- help ------------------------------------------------------------------------------------------

COMMANDS = [
    ("server", "show"),
    ("list",),
    ("show",),
    ("reject",),
    ("approve",),
    ("delete",),
    ("enforce",),
]


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_each_commands_help_has_examples_of_itself(command: tuple[str, ...]) -> None:
    result = run(*command, "--help")
    assert result.exit_code == 0
    examples = result.stdout.split("Examples:", 1)[1].splitlines()
    lines = [line.strip() for line in examples if line.strip()]
    assert len(lines) >= 2
    assert all(f"azpe {' '.join(command)} " in line for line in lines), lines


def test_examples_keep_their_lines_and_quotes() -> None:
    """Click rewraps help text; examples must stay one command a line, quotes and all."""
    out = run("reject", "--help").stdout
    assert '-n pe-foreign.6f1c... -d "Not approved by the DBA team"\n' in out
    assert "\n    azpe reject -g rg-data --status Pending --dry-run -o table\n" in out


# -- shell completion -------------------------------------------------------------------------------


def test_the_completion_options_are_offered() -> None:
    out = run("--help").stdout
    assert "--install-completion" in out and "--show-completion" in out


def test_show_completion_prints_a_script_for_azpe(monkeypatch: pytest.MonkeyPatch) -> None:
    # Typer detects the shell from the parent process (sh under make): say it is bash.
    monkeypatch.setattr("typer.completion._get_shell_name", lambda: "bash")
    result = CliRunner().invoke(app, ["--show-completion"], prog_name="azpe")
    assert result.exit_code == 0, result.output
    assert "_AZPE_COMPLETE" in result.stdout and "azpe" in result.stdout


def complete(words: str) -> list[str]:
    """What bash completion offers for the last word of ``words``."""
    env = {
        "_AZPE_COMPLETE": "complete_bash",
        "COMP_WORDS": words,
        "COMP_CWORD": str(len(words.split(" ")) - 1),
    }
    result = CliRunner().invoke(app, [], prog_name="azpe", env=env)
    assert result.exit_code == 0, result.output
    return result.stdout.split()


def test_completion_offers_commands_options_and_values() -> None:
    assert complete("azpe rej") == ["reject"]
    assert complete("azpe list --st") == ["--status"]
    assert complete("azpe list -o ") == ["json", "jsonl", "table", "tsv", "csv", "ids", "none"]
    assert complete("azpe reject --status P") == ["Pending"]


# -- azpe sandbox without the sandbox extra -----------------------------------------------------------

WITHOUT_TRUSTME = (
    "import sys; sys.modules['trustme'] = None; sys.argv[0] = 'azpe'; from azpe.cli import main; main()"
)


@pytest.mark.parametrize("args", [["sandbox", "start"], ["sandbox", "status"], ["sandbox"]])
def test_sandbox_without_its_extra_says_how_to_install_it_in_one_line(args: list[str]) -> None:
    done = subprocess.run(
        [sys.executable, "-c", WITHOUT_TRUSTME, *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr == "azpe: error: the sandbox needs the 'sandbox' extra: pip install 'azpe[sandbox]'\n"


def test_eval_of_sandbox_env_without_the_extra_fails_visibly(tmp_path: object) -> None:
    """``eval "$(azpe sandbox env)"`` must not apply nothing and succeed: the eval fails."""
    azpe = f"{sys.executable} -c {shlex.quote(WITHOUT_TRUSTME)}"
    script = f'eval "$({azpe} sandbox env)"; echo "eval status $?"'
    done = subprocess.run(["sh", "-c", script], capture_output=True, text=True, timeout=60, check=False)
    assert done.stdout == "eval status 1\n"
    assert "pip install 'azpe[sandbox]'" in done.stderr


def test_the_rest_of_azpe_works_without_the_sandbox_extra() -> None:
    done = subprocess.run(
        [sys.executable, "-c", WITHOUT_TRUSTME, "list", "--az", "/nonexistent/az"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 4, done.stderr  # az missing: azpe itself ran
    assert "Traceback" not in done.stderr


def test_with_the_extra_the_sandbox_group_is_the_real_one() -> None:
    assert "start" in run("sandbox", "--help").stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["reject", "--bogus"], "No such option: --bogus"),
        (["reject", "--retries", "x"], "Invalid value for '--retries'"),
        (["rejct"], "No such command 'rejct'. Did you mean 'reject'?"),
    ],
)
def test_a_usage_error_is_one_error_line_and_a_hint(args: list[str], message: str) -> None:
    result = run(*args)
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 2, result.stderr
    assert lines[0].startswith("azpe: error: ") and message in lines[0]
    assert lines[1].startswith("azpe: hint: see 'azpe")
    assert result.stdout == ""
