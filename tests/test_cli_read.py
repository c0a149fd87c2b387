"""server show / list / show through the CLI, with az faked by pytest-subprocess."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest
from pytest_subprocess import FakeProcess

from azpe import __version__
from tests.azsamples import (
    RG,
    SERVER,
    SUB,
    conn,
    connection_id,
    dumps,
    network_error,
    sdk_error,
    server_id,
    server_json,
)
from tests.clihelp import list_argv, records, run, show_argv
from tests.fleethelp import register_accounts

PE1 = "pe-foreign.11111111-1111-1111-1111-111111111111"
PE2 = "pe-other.22222222-2222-2222-2222-222222222222"
APP = "pe-app.33333333-3333-3333-3333-333333333333"
OLD = "pe-old.44444444-4444-4444-4444-444444444444"
INV = "pe-inv.55555555-5555-5555-5555-555555555555"


def orders() -> str:
    return dumps(server_json([conn(PE1), conn(PE2, "Rejected"), conn(APP, "Approved")]))


def two_servers() -> str:
    return dumps(
        [
            server_json([conn(PE1), conn(PE2, "Rejected"), conn(APP, "Approved")]),
            server_json(
                [conn(OLD, "Disconnected", server="pg-billing"), conn(INV, server="pg-billing")],
                server="pg-billing",
                state="Stopped",
                public="Enabled",
            ),
        ]
    )


# -- server show ----------------------------------------------------------------------------------


def test_server_show_prints_the_server_record(fp: FakeProcess, fake_az: str) -> None:
    fp.register(show_argv(fake_az), stdout=orders())
    result = run("server", "show", "-g", RG, "-s", SERVER)
    assert result.exit_code == 0, result.stderr
    assert records(result) == {
        "id": server_id(),
        "name": SERVER,
        "subscription": SUB,
        "resourceGroup": RG,
        "state": "Ready",
        "publicNetworkAccess": "Disabled",
        "connections": {"Pending": 1, "Approved": 1, "Rejected": 1},
    }
    assert result.stderr == ""
    assert list(fp.calls) == [show_argv(fake_az)]


def test_server_show_by_server_id_passes_its_subscription(fp: FakeProcess, fake_az: str) -> None:
    fp.register(show_argv(fake_az, sub=SUB), stdout=orders())
    result = run("server", "show", "--server-id", server_id())
    assert result.exit_code == 0, result.stderr
    assert records(result)["name"] == SERVER


def test_server_show_passes_subscription_through(fp: FakeProcess, fake_az: str) -> None:
    fp.register(show_argv(fake_az, sub="Prod Subscription"), stdout=orders())
    result = run("server", "show", "-g", RG, "-s", SERVER, "--subscription", "Prod Subscription")
    assert result.exit_code == 0, result.stderr


def test_server_show_as_a_table(fp: FakeProcess, fake_az: str) -> None:
    fp.register(show_argv(fake_az), stdout=orders())
    result = run("server", "show", "-g", RG, "-s", SERVER, "-o", "table")
    assert result.exit_code == 0, result.stderr
    # One record: a field per line, not one row as wide as all of them.
    assert [line.split() for line in result.stdout.splitlines()] == [
        ["Id", server_id()],
        ["Name", SERVER],
        ["Subscription", SUB],
        ["Resource", "Group", RG],
        ["State", "Ready"],
        ["Public", "Network", "Access", "Disabled"],
        ["Connections", "Pending=1", "Approved=1", "Rejected=1"],
    ]


def test_server_show_needs_a_server(fp: FakeProcess, fake_az: str) -> None:
    result = run("server", "show", "-g", RG)
    assert result.exit_code == 2
    assert "needs -g RG -s SERVER" in result.stderr
    assert result.stdout == ""
    assert len(fp.calls) == 0


def missing_server(name: str, rg: str = RG) -> str:
    """az's stderr for a server that is not there, as ARM words it (with its link)."""
    return sdk_error(
        "ResourceNotFound",
        f"The Resource 'Microsoft.DBforPostgreSQL/flexibleServers/{name}' under resource group '{rg}' "
        "was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix",
    )


def test_server_show_of_a_missing_server_names_it_and_the_servers_there_are(
    fp: FakeProcess, fake_az: str
) -> None:
    fp.register(show_argv(fake_az, server="pg-ordrs"), returncode=3, stderr=missing_server("pg-ordrs"))
    fp.register(list_argv(fake_az, rg=RG), stdout=two_servers())
    result = run("server", "show", "-g", RG, "-s", "pg-ordrs")
    assert result.exit_code == 3
    assert result.stdout == ""
    assert result.stderr == (
        "azpe: error: server 'pg-ordrs' not found in resource group 'rg-data'\n"
        "azpe: hint: Did you mean 'pg-orders'? Flexible servers in rg-data: pg-billing, pg-orders.\n"
    )
    assert "aka.ms" not in result.stderr
    assert fp.call_count(show_argv(fake_az, server="pg-ordrs")) == 1  # not found is not retried


def test_a_missing_server_in_a_group_without_servers(fp: FakeProcess, fake_az: str) -> None:
    fp.register(show_argv(fake_az), returncode=3, stderr=missing_server(SERVER))
    fp.register(list_argv(fake_az, rg=RG), stdout="[]")
    result = run("list", "-g", RG, "-s", SERVER)
    assert result.exit_code == 3
    assert "azpe: hint: There are no flexible servers in rg-data." in result.stderr


def test_a_missing_server_whose_group_cannot_be_listed_still_says_what_is_missing(
    fp: FakeProcess, fake_az: str
) -> None:
    fp.register(show_argv(fake_az), returncode=3, stderr=missing_server(SERVER))
    fp.register(
        list_argv(fake_az, rg=RG),
        returncode=1,
        stderr=network_error("Forbidden", "AuthorizationFailed", "no"),
    )
    result = run("server", "show", "-g", RG, "-s", SERVER)
    assert result.exit_code == 3
    assert result.stderr.startswith("azpe: error: server 'pg-orders' not found in resource group 'rg-data'\n")
    assert "az postgres flexible-server list -g rg-data" in result.stderr


def test_a_missing_server_named_by_id_is_looked_for_in_the_ids_subscription(
    fp: FakeProcess, fake_az: str
) -> None:
    fp.register(show_argv(fake_az, sub=SUB), returncode=3, stderr=missing_server(SERVER))
    fp.register(list_argv(fake_az, rg=RG, sub=SUB), stdout=two_servers())
    result = run("show", "--id", connection_id(PE1))
    assert result.exit_code == 3
    assert "Did you mean 'pg-orders'?" in result.stderr


# -- list -----------------------------------------------------------------------------------------


def test_list_of_one_server(fp: FakeProcess, fake_az: str) -> None:
    fp.register(show_argv(fake_az), stdout=orders())
    result = run("list", "-g", RG, "-s", SERVER)
    assert result.exit_code == 0, result.stderr
    listed = records(result)
    assert [r["name"] for r in listed] == [PE1, PE2, APP]
    assert [r["status"] for r in listed] == ["Pending", "Rejected", "Approved"]
    assert listed[0]["id"] == connection_id(PE1)
    assert listed[0]["privateEndpointSubscription"] == "99999999-9999-9999-9999-999999999999"
    assert result.stderr == ""


def test_list_of_a_resource_group_lists_its_servers(fp: FakeProcess, fake_az: str) -> None:
    fp.register(list_argv(fake_az, rg=RG), stdout=two_servers())
    result = run("list", "-g", RG)
    assert result.exit_code == 0, result.stderr
    assert [(r["server"], r["name"]) for r in records(result)] == [
        (SERVER, PE1), (SERVER, PE2), (SERVER, APP), ("pg-billing", OLD), ("pg-billing", INV)
    ]  # fmt: skip
    assert list(fp.calls) == [list_argv(fake_az, rg=RG)]


def test_list_of_the_subscription(fp: FakeProcess, fake_az: str) -> None:
    fp.register(list_argv(fake_az), stdout=two_servers())
    result = run("list")
    assert result.exit_code == 0, result.stderr
    assert len(records(result)) == 5


def test_list_passes_subscription_through(fp: FakeProcess, fake_az: str) -> None:
    fp.register(list_argv(fake_az, sub=SUB), stdout="[]\n")
    result = run("list", "--subscription", SUB)
    assert result.exit_code == 0, result.stderr
    assert records(result) == []
    assert list(fp.calls) == [list_argv(fake_az, sub=SUB)]


def test_list_of_a_resource_group_with_subscription(fp: FakeProcess, fake_az: str) -> None:
    fp.register(list_argv(fake_az, rg=RG, sub="prod"), stdout=two_servers())
    result = run("list", "-g", RG, "--subscription", "prod")
    assert result.exit_code == 0, result.stderr


def test_list_by_server_id(fp: FakeProcess, fake_az: str) -> None:
    fp.register(show_argv(fake_az, sub=SUB), stdout=orders())
    result = run("list", "--server-id", server_id())
    assert result.exit_code == 0, result.stderr
    assert len(records(result)) == 3


@pytest.mark.parametrize(
    ("statuses", "expected"),
    [
        (["pending"], [PE1, INV]),
        (["Pending", "APPROVED"], [PE1, APP, INV]),
        (["Disconnected"], [OLD]),
        (["rejected", "Rejected"], [PE2]),
    ],
)
def test_list_filters_by_status(
    fp: FakeProcess, fake_az: str, statuses: list[str], expected: list[str]
) -> None:
    fp.register(list_argv(fake_az), stdout=two_servers())
    args = [arg for status in statuses for arg in ("--status", status)]
    result = run("list", *args)
    assert result.exit_code == 0, result.stderr
    assert [r["name"] for r in records(result)] == expected


def test_list_with_an_unknown_status_runs_nothing(fp: FakeProcess, fake_az: str) -> None:
    result = run("list", "--status", "Gone")
    assert result.exit_code == 2
    assert "invalid --status" in result.stderr
    assert len(fp.calls) == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-s", SERVER], "-s/--server needs -g"),
        (["-g", RG, "--server-id", server_id()], "either --server-id or -g/-s"),
        (["--server-id", connection_id(PE1)], "not a PostgreSQL flexible server ID"),
        (["-g", "rg data"], "invalid resource group"),
        (["-o", "yaml"], "invalid output format"),
        (["--query", "[?"], "invalid --query"),
        (["--subscription=-x"], "invalid subscription"),
    ],
)
def test_list_bad_input_exits_2_and_runs_nothing(
    fp: FakeProcess, fake_az: str, args: list[str], message: str
) -> None:
    result = run("list", *args)
    assert result.exit_code == 2, result.stderr
    assert message in result.stderr
    assert result.stdout == ""
    assert len(fp.calls) == 0


@pytest.mark.parametrize(
    ("fmt", "expected"),
    [
        ("ids", f"{connection_id(PE1)}\n{connection_id(PE2)}\n{connection_id(APP)}\n"),
        ("none", ""),
    ],
)
def test_list_output_formats(fp: FakeProcess, fake_az: str, fmt: str, expected: str) -> None:
    fp.register(show_argv(fake_az), stdout=orders())
    result = run("list", "-g", RG, "-s", SERVER, "-o", fmt)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == expected


def test_list_as_jsonl_feeds_a_reject_by_stdin(fp: FakeProcess, fake_az: str) -> None:
    fp.register(show_argv(fake_az), stdout=orders())
    result = run("list", "-g", RG, "-s", SERVER, "-o", "jsonl", "--status", "Pending")
    assert result.exit_code == 0, result.stderr
    [line] = result.stdout.splitlines()
    assert json.loads(line)["id"] == connection_id(PE1)


def test_list_as_a_table_says_whose_each_endpoint_is(fp: FakeProcess, fake_az: str) -> None:
    fp.register(show_argv(fake_az), stdout=orders())
    register_accounts(fp, fake_az)  # the login's subscriptions: SUB among them, not FOREIGN_SUB
    result = run("list", "-g", RG, "-s", SERVER, "-o", "table")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split()[:6] == ["Name", "Server", "Resource", "Group", "Status", "Owner"]
    assert lines[2].split()[:5] == [PE1, SERVER, RG, "Pending", "foreign"]
    assert len(lines) == 5


def test_list_as_tsv(fp: FakeProcess, fake_az: str) -> None:
    fp.register(show_argv(fake_az), stdout=orders())
    result = run("list", "-g", RG, "-s", SERVER, "-o", "tsv")
    assert result.exit_code == 0, result.stderr
    rows = [line.split("\t") for line in result.stdout.splitlines()]
    assert [row[:2] for row in rows] == [[connection_id(n), n] for n in (PE1, PE2, APP)]


def test_list_with_a_query(fp: FakeProcess, fake_az: str) -> None:
    fp.register(show_argv(fake_az), stdout=orders())
    result = run("list", "-g", RG, "-s", SERVER, "--query", "[?status=='Pending'].name", "-o", "tsv")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == f"{PE1}\n"


def test_list_with_a_query_as_a_table_shows_the_querys_keys(fp: FakeProcess, fake_az: str) -> None:
    fp.register(show_argv(fake_az), stdout=orders())
    register_accounts(fp, fake_az)
    result = run("list", "-g", RG, "-s", SERVER, "--query", "[].{conn: name, id: id}", "-o", "table")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines()[0].split() == ["Conn", "Id"]


def test_list_retries_a_throttled_read(fp: FakeProcess, fake_az: str) -> None:
    throttled = sdk_error("TooManyRequests", "The request is being throttled.")
    fp.register(show_argv(fake_az), returncode=1, stderr=throttled)
    fp.register(show_argv(fake_az), stdout=orders())
    result = run("list", "-g", RG, "-s", SERVER)
    assert result.exit_code == 0, result.stderr
    assert len(records(result)) == 3
    assert "attempt 1 failed (TooManyRequests)" in result.stderr
    assert len(fp.calls) == 2


def test_list_when_not_logged_in_exits_4(fp: FakeProcess, fake_az: str) -> None:
    fp.register(list_argv(fake_az), returncode=1, stderr="ERROR: Please run 'az login' to setup account.\n")
    result = run("list")
    assert result.exit_code == 4
    assert result.stdout == ""
    assert "azpe: hint: Run 'az login' first." in result.stderr


def test_a_server_in_a_missing_resource_group_names_the_group(fp: FakeProcess, fake_az: str) -> None:
    fp.register(
        show_argv(fake_az, rg="rg-x"),
        returncode=3,
        stderr=sdk_error("ResourceGroupNotFound", "Resource group 'rg-x' could not be found."),
    )
    result = run("server", "show", "-g", "rg-x", "-s", SERVER)
    assert result.exit_code == 3
    assert result.stderr.startswith("azpe: error: resource group 'rg-x' not found\n")
    assert len(fp.calls) == 1  # no listing of a group that is not there


def test_list_of_a_missing_resource_group_exits_3(fp: FakeProcess, fake_az: str) -> None:
    fp.register(
        list_argv(fake_az, rg="rg-x"),
        returncode=3,
        stderr=sdk_error("ResourceGroupNotFound", "Resource group 'rg-x' could not be found."),
    )
    result = run("list", "-g", "rg-x")
    assert result.exit_code == 3
    assert result.stderr.startswith("azpe: error: resource group 'rg-x' not found\n")
    assert "az group list" in result.stderr


def test_list_with_unexpected_az_output_exits_1(fp: FakeProcess, fake_az: str) -> None:
    fp.register(list_argv(fake_az), stdout=dumps({"value": []}))
    result = run("list")
    assert result.exit_code == 1
    assert "unexpected server list" in result.stderr
    assert "Traceback" not in result.stderr


def test_verbose_logs_the_az_argv_on_stderr_and_stdout_stays_json(fp: FakeProcess, fake_az: str) -> None:
    fp.register(show_argv(fake_az), stdout=orders())
    result = run("list", "-g", RG, "-s", SERVER, "-v")
    assert result.exit_code == 0, result.stderr
    assert len(json.loads(result.stdout)) == 3
    assert f"azpe: az: {' '.join(show_argv(fake_az))}\n" in result.stderr


def test_az_missing_exits_4(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AZPE_AZ", "/nonexistent/az")
    result = run("list", "-g", RG)
    assert result.exit_code == 4
    assert "az not found" in result.stderr
    assert result.stdout == ""


@pytest.mark.skipif(sys.platform == "win32", reason="a #! script")
@pytest.mark.parametrize(
    "content", [b"#!/nonexistent\n", b"\x7fELF\x00garbage\x01\x02"], ids=["shebang", "bytes"]
)
def test_an_az_that_cannot_start_exits_4_without_a_traceback(tmp_path: Path, content: bytes) -> None:
    az = tmp_path / "az"
    az.write_bytes(content)
    az.chmod(0o755)
    result = run("list", "-g", RG, "-s", SERVER, "--az", str(az))
    assert result.exit_code == 4, result.stderr
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert lines[0].startswith(f"azpe: error: cannot run az {az}: ")
    assert ("No such file or directory" if content.startswith(b"#!") else "Exec format error") in lines[0]
    assert lines[1].startswith("azpe: hint: ") and "--az" in lines[1]
    assert len(lines) == 2  # one error, one hint, nothing else
    assert "Traceback" not in result.stderr


def test_the_az_option_wins_over_azpe_az(
    fp: FakeProcess, fake_az: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AZPE_AZ", "/nonexistent/az")
    fp.register(show_argv(fake_az), stdout=orders())
    result = run("list", "-g", RG, "-s", SERVER, "--az", fake_az)
    assert result.exit_code == 0, result.stderr


# -- show -----------------------------------------------------------------------------------------


def test_show_by_name(fp: FakeProcess, fake_az: str) -> None:
    fp.register(show_argv(fake_az), stdout=orders())
    result = run("show", "-g", RG, "-s", SERVER, "-n", PE2)
    assert result.exit_code == 0, result.stderr
    record = records(result)
    assert record["name"] == PE2
    assert record["status"] == "Rejected"
    assert record["id"] == connection_id(PE2)


def test_show_by_name_is_case_insensitive(fp: FakeProcess, fake_az: str) -> None:
    fp.register(show_argv(fake_az), stdout=orders())
    result = run("show", "-g", RG, "-s", SERVER, "-n", PE2.upper())
    assert result.exit_code == 0, result.stderr
    assert records(result)["name"] == PE2


def test_show_by_id_reads_the_server_in_the_ids_subscription(fp: FakeProcess, fake_az: str) -> None:
    fp.register(show_argv(fake_az, sub=SUB), stdout=orders())
    result = run("show", "--id", connection_id(APP))
    assert result.exit_code == 0, result.stderr
    assert records(result)["status"] == "Approved"


def test_show_with_subscription(fp: FakeProcess, fake_az: str) -> None:
    fp.register(show_argv(fake_az, sub="prod"), stdout=orders())
    result = run("show", "-g", RG, "-s", SERVER, "-n", PE1, "--subscription", "prod")
    assert result.exit_code == 0, result.stderr


def test_show_of_a_missing_connection_exits_3(fp: FakeProcess, fake_az: str) -> None:
    fp.register(show_argv(fake_az), stdout=orders())
    result = run("show", "-g", RG, "-s", SERVER, "-n", "pe-nope.1")
    assert result.exit_code == 3
    assert result.stdout == ""
    assert "has no private endpoint connection 'pe-nope.1'" in result.stderr
    assert f"azpe list -g {RG} -s {SERVER}" in result.stderr


def test_show_on_a_missing_server_exits_3(fp: FakeProcess, fake_az: str) -> None:
    fp.register(
        show_argv(fake_az, sub=SUB),
        returncode=3,
        stderr=sdk_error("ResourceNotFound", "The Resource 'x' was not found."),
    )
    result = run("show", "--id", connection_id(PE1))
    assert result.exit_code == 3
    assert "The Resource 'x' was not found." in result.stderr
    assert result.stdout == ""


def test_show_when_forbidden_exits_4(fp: FakeProcess, fake_az: str) -> None:
    fp.register(
        show_argv(fake_az),
        returncode=1,
        stderr=network_error("Forbidden", "AuthorizationFailed", "does not have authorization"),
    )
    result = run("show", "-g", RG, "-s", SERVER, "-n", PE1)
    assert result.exit_code == 4
    assert len(fp.calls) == 1  # permanent: not retried


@pytest.mark.parametrize(
    ("fmt", "check"),
    [
        ("ids", lambda out: out == f"{connection_id(PE1)}\n"),
        ("jsonl", lambda out: json.loads(out)["name"] == PE1 and out.count("\n") == 1),
        ("tsv", lambda out: out.split("\t")[:2] == [connection_id(PE1), PE1]),
        ("table", lambda out: out.splitlines()[1].split() == ["Name", PE1]),
        ("none", lambda out: out == ""),
    ],
)
def test_show_output_formats(fp: FakeProcess, fake_az: str, fmt: str, check: object) -> None:
    fp.register(show_argv(fake_az), stdout=orders())
    if fmt == "table":  # a table says whose the endpoint is: one az account list --all
        register_accounts(fp, fake_az)
    result = run("show", "-g", RG, "-s", SERVER, "-n", PE1, "-o", fmt)
    assert result.exit_code == 0, result.stderr
    assert check(result.stdout)  # type: ignore[operator]


def test_show_with_a_query(fp: FakeProcess, fake_az: str) -> None:
    fp.register(show_argv(fake_az), stdout=orders())
    result = run("show", "-g", RG, "-s", SERVER, "-n", PE1, "--query", "status")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == "Pending"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "show needs -g RG -s SERVER -n NAME, or --id ID"),
        (["-g", RG, "-s", SERVER], "show needs -g RG -s SERVER -n NAME"),
        (["--id", connection_id(PE1), "-n", PE1], "either --id or -g/-s/-n"),
        (["--id", server_id()], "not a PostgreSQL flexible server private endpoint connection ID"),
        (["-g", RG, "-s", SERVER, "-n", "-rf"], "invalid private endpoint connection name"),
        (["-g", RG, "-s", "PG", "-n", PE1], "invalid flexible server name"),
    ],
)
def test_show_bad_input_exits_2_and_runs_nothing(
    fp: FakeProcess, fake_az: str, args: list[str], message: str
) -> None:
    result = run("show", *args)
    assert result.exit_code == 2, result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert len(fp.calls) == 0


# -- version and help -------------------------------------------------------------------------------


def test_version() -> None:
    result = run("--version")
    assert result.exit_code == 0
    assert result.stdout == f"azpe {__version__}\n"


def test_no_arguments_shows_help() -> None:
    result = run()
    assert "Usage: azpe" in result.stdout + result.stderr


COMMON = ["--subscription", "--output", "--query", "--az", "--verbose", "--timeout", "--help"]
WRITE = ["--resource-group", "--server", "--name", "--id", "--status", "--server-id", "--dry-run", "--yes",
         "--wait-ready", "--retries", "--concurrency", "--force"]  # fmt: skip
HELP = {
    ("--help",): ["--version", "reject", "approve", "delete", "list", "show", "server", "Exit codes"],
    ("server", "--help"): ["show"],
    ("server", "show", "--help"): ["--resource-group", "--server", "--server-id", *COMMON],
    ("list", "--help"): ["--resource-group", "--server", "--server-id", "--status", *COMMON],
    ("show", "--help"): ["--resource-group", "--server", "--name", "--id", *COMMON],
    ("reject", "--help"): [*WRITE, "--description", *COMMON],
    ("approve", "--help"): [*WRITE, "--description", *COMMON],
    ("delete", "--help"): [*WRITE, *COMMON],
}


@pytest.mark.parametrize("args", HELP.keys(), ids=[" ".join(a) for a in HELP])
def test_help_exits_0_and_mentions_the_options(fp: FakeProcess, args: tuple[str, ...]) -> None:
    result = run(*args)
    assert result.exit_code == 0
    for word in HELP[args]:
        assert word in result.stdout, f"{word} missing from azpe {' '.join(args)}"
    assert len(fp.calls) == 0


def test_delete_help_does_not_offer_a_description() -> None:
    assert "--description" not in run("delete", "--help").stdout


def test_every_command_has_help(fp: FakeProcess) -> None:
    top = run("--help").stdout
    names = re.findall(r"^  ([a-z][a-z-]*)  ", top.split("Commands:", 1)[1], re.M)
    assert {"reject", "approve", "delete", "list", "show", "server"} <= set(names)
    for name in names:
        result = run(name, "--help")
        assert result.exit_code == 0, name
        assert f"Usage: azpe {name}" in result.stdout


def test_verbose_shows_the_failed_az_call_so_it_can_be_diagnosed_without_a_rerun(
    fp: FakeProcess, fake_az: str
) -> None:
    stderr = "ERROR: The command failed with an unexpected error. Here is the traceback:\nKeyError: 'x'\n"
    fp.register(show_argv(fake_az), stderr=stderr, returncode=1, occurrences=2)
    quiet = run("show", "-g", RG, "-s", SERVER, "-n", PE1)
    assert quiet.exit_code != 0 and "azpe: detail:" not in quiet.stderr
    loud = run("show", "-g", RG, "-s", SERVER, "-n", PE1, "-v")
    details = [line for line in loud.stderr.splitlines() if line.startswith("azpe: detail: ")]
    assert f"azpe: detail: az command: {fake_az} postgres flexible-server show" in details[0]
    assert any("KeyError: 'x'" in line for line in details)
