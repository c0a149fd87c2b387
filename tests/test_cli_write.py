"""reject / approve / delete through the CLI, with az faked by pytest-subprocess."""

from __future__ import annotations

import io
import json
import subprocess
import sys

import pytest
from pytest_subprocess import FakeProcess

from azpe.cli import app
from tests.azsamples import (
    RG,
    SERVER,
    SUB,
    conn,
    connection_id,
    connection_raw,
    dumps,
    network_error,
    sdk_error,
    server_json,
)
from tests.clihelp import list_argv, records, run, show_argv, write_argv
from tests.fleethelp import register_accounts

PE1 = "pe-foreign.11111111-1111-1111-1111-111111111111"
PE2 = "pe-other.22222222-2222-2222-2222-222222222222"
APP = "pe-app.33333333-3333-3333-3333-333333333333"


def pending_server(**kw: object) -> str:
    return dumps(server_json([conn(PE1), conn(PE2), conn(APP, "Approved")], **kw))  # type: ignore[arg-type]


def test_reject_one_connection_runs_show_then_the_reject(fp: FakeProcess, fake_az: str) -> None:
    fp.register(show_argv(fake_az), stdout=pending_server())
    fp.register(
        write_argv(fake_az, "reject", PE1, sub=SUB, description="not ours"),
        stdout=dumps(connection_raw(PE1, "Rejected", description="not ours")),
    )
    result = run("reject", "-g", "rg-data", "-s", "pg-orders", "-n", PE1, "-d", "not ours")
    assert result.exit_code == 0, result.stderr
    [record] = records(result)
    assert record["action"] == "rejected"
    assert record["previousStatus"] == "Pending"
    assert record["status"] == "Rejected"
    assert record["description"] == "not ours"
    assert record["attempts"] == 1
    assert record["error"] is None
    assert record["id"] == connection_id(PE1)
    assert "1 rejected" in result.stderr
    assert len(fp.calls) == 2  # the write's own output proves the state: no verification read


def test_rerunning_a_reject_is_a_no_op_that_exits_0(fp: FakeProcess, fake_az: str) -> None:
    fp.register(show_argv(fake_az), stdout=dumps(server_json([conn(PE1, "Rejected"), conn(APP, "Approved")])))
    result = run("reject", "-g", "rg-data", "-s", "pg-orders", "-n", PE1)
    assert result.exit_code == 0
    assert records(result)[0]["action"] == "unchanged"
    assert len(fp.calls) == 1  # no write


def test_approve_of_a_rejected_connection_is_refused_without_calling_az(
    fp: FakeProcess, fake_az: str
) -> None:
    fp.register(show_argv(fake_az, sub=SUB), stdout=dumps(server_json([conn(PE1, "Rejected")])))
    result = run("approve", "--id", connection_id(PE1))
    assert result.exit_code == 1
    [record] = records(result)
    assert record["action"] == "failed"
    assert record["error"]["code"] == "RejectedIsFinal"
    assert "cannot be approved" in result.stderr
    assert len(fp.calls) == 1


def test_lockout_guard_refuses_rejecting_the_last_approved_connection(fp: FakeProcess, fake_az: str) -> None:
    fp.register(show_argv(fake_az), stdout=pending_server(public="Disabled"))
    result = run("reject", "-g", "rg-data", "-s", "pg-orders", "-n", APP, "-n", PE1)
    assert result.exit_code == 6
    by_name = {r["name"]: r for r in records(result)}
    assert by_name[APP]["action"] == "failed"
    assert by_name[APP]["error"]["code"] == "LockOutGuard"
    assert by_name[PE1]["action"] == "skipped"  # nothing at all is written
    assert "--force" in result.stderr
    assert len(fp.calls) == 1


def test_lockout_guard_allows_it_with_public_access_enabled(fp: FakeProcess, fake_az: str) -> None:
    fp.register(show_argv(fake_az), stdout=pending_server(public="Enabled"))
    # Before taking an Approved connection away, the guard looks at a fresh read.
    fp.register(show_argv(fake_az, sub=SUB), stdout=pending_server(public="Enabled"))
    fp.register(write_argv(fake_az, "reject", APP, sub=SUB), stdout=dumps(connection_raw(APP)))
    result = run("reject", "-g", "rg-data", "-s", "pg-orders", "-n", APP)
    assert result.exit_code == 0, result.stderr
    assert records(result)[0]["previousStatus"] == "Approved"


def test_force_overrides_the_lockout_guard(fp: FakeProcess, fake_az: str) -> None:
    fp.register(show_argv(fake_az), stdout=pending_server())
    fp.register(write_argv(fake_az, "reject", APP, sub=SUB), stdout=dumps(connection_raw(APP)))
    result = run("reject", "-g", "rg-data", "-s", "pg-orders", "-n", APP, "--force")
    assert result.exit_code == 0, result.stderr
    assert records(result)[0]["action"] == "rejected"
    assert len(fp.calls) == 2  # --force: no guard, so no second read


def test_the_guard_holds_on_a_fresh_read_before_each_write_that_removes_an_approved_connection(
    fp: FakeProcess, fake_az: str
) -> None:
    """Another run took the other Approved connection away after azpe planned: the read just
    before this write shows APP as the last one, so the guard refuses it (the race of two runs
    that each remove one of the last two)."""
    other = "pe-other-approved.44444444-4444-4444-4444-444444444444"
    planned = server_json([conn(APP, "Approved"), conn(other, "Approved")])
    fp.register(show_argv(fake_az), stdout=dumps(planned))
    now = server_json([conn(APP, "Approved"), conn(other, "Rejected")])
    fp.register(show_argv(fake_az, sub=SUB), stdout=dumps(now))
    result = run("reject", "-g", "rg-data", "-s", "pg-orders", "-n", APP)
    assert result.exit_code == 6, result.stderr
    [record] = records(result)
    assert (record["action"], record["error"]["code"]) == ("failed", "LockOutGuard")
    assert fp.call_count(write_argv(fake_az, "reject", APP, sub=SUB)) == 0


def test_dry_run_reads_and_prints_the_exact_write_argv(fp: FakeProcess, fake_az: str) -> None:
    fp.register(show_argv(fake_az), stdout=pending_server())
    result = run("reject", "-g", "rg-data", "-s", "pg-orders", "-n", PE1, "-d", "x y", "--dry-run")
    assert result.exit_code == 0
    [record] = records(result)
    assert record["action"] == "planned"
    assert record["command"] == write_argv(fake_az, "reject", PE1, sub=SUB, description="x y")
    assert len(fp.calls) == 1  # only the read


def test_busy_server_is_retried_after_a_re_read(fp: FakeProcess, fake_az: str) -> None:
    busy = network_error("Conflict", "ServerIsBusy", "Server 'pg-orders' is busy with another operation.")
    fp.register(show_argv(fake_az), stdout=pending_server())
    fp.register(write_argv(fake_az, "reject", PE1, sub=SUB), returncode=1, stderr=busy)
    fp.register(show_argv(fake_az, sub=SUB), stdout=pending_server())  # re-read before the retry
    fp.register(write_argv(fake_az, "reject", PE1, sub=SUB), stdout=dumps(connection_raw(PE1)))
    result = run("reject", "-g", "rg-data", "-s", "pg-orders", "-n", PE1)
    assert result.exit_code == 0, result.stderr
    assert records(result)[0]["attempts"] == 2
    assert len(fp.calls) == 4


def test_a_retry_stops_when_the_re_read_shows_the_change_landed(fp: FakeProcess, fake_az: str) -> None:
    fp.register(show_argv(fake_az), stdout=pending_server())
    fp.register(
        write_argv(fake_az, "reject", PE1, sub=SUB),
        returncode=1,
        stderr=network_error("Too Many Requests", "TooManyRequests", "slow down"),
    )
    fp.register(
        show_argv(fake_az, sub=SUB), stdout=dumps(server_json([conn(PE1, "Rejected"), conn(APP, "Approved")]))
    )
    result = run("reject", "-g", "rg-data", "-s", "pg-orders", "-n", PE1)
    assert result.exit_code == 0, result.stderr
    [record] = records(result)
    assert record["action"] == "rejected"
    assert record["attempts"] == 1
    assert len(fp.calls) == 3  # no second write


def test_retries_exhausted_exit_1_with_the_arm_code(fp: FakeProcess, fake_az: str) -> None:
    throttled = network_error("Too Many Requests", "TooManyRequests", "throttled")
    fp.register(show_argv(fake_az), stdout=pending_server())
    fp.register(show_argv(fake_az, sub=SUB), stdout=pending_server(), occurrences=3)
    fp.register(write_argv(fake_az, "reject", PE1, sub=SUB), returncode=1, stderr=throttled, occurrences=2)
    result = run("reject", "-g", "rg-data", "-s", "pg-orders", "-n", PE1, "--retries", "1")
    assert result.exit_code == 1
    [record] = records(result)
    assert record["action"] == "failed"
    assert record["error"]["code"] == "TooManyRequests"
    assert record["attempts"] == 2


def test_a_busy_server_is_waited_for_without_using_up_retries(fp: FakeProcess, fake_az: str) -> None:
    busy = network_error("Conflict", "ServerIsBusy", "Server 'pg-orders' is busy with another operation.")
    fp.register(show_argv(fake_az), stdout=pending_server())
    fp.register(write_argv(fake_az, "reject", PE1, sub=SUB), returncode=1, stderr=busy, occurrences=3)
    fp.register(show_argv(fake_az, sub=SUB), stdout=pending_server(state="Updating"), occurrences=2)
    fp.register(show_argv(fake_az, sub=SUB), stdout=pending_server(), occurrences=3)
    fp.register(write_argv(fake_az, "reject", PE1, sub=SUB), stdout=dumps(connection_raw(PE1)))
    result = run("reject", "-g", "rg-data", "-s", "pg-orders", "-n", PE1, "--retries", "0", "-v")
    assert result.exit_code == 0, result.stderr
    [record] = records(result)
    assert record["action"] == "rejected"
    assert record["attempts"] == 4  # three refused as busy, none of them counted as a retry
    assert "is busy (ServerIsBusy); waiting up to" in result.stderr
    assert "retrying" not in result.stderr


def test_a_server_busy_beyond_the_budget_fails_its_target_and_writes_no_more(
    fp: FakeProcess, fake_az: str
) -> None:
    fp.register(show_argv(fake_az), stdout=pending_server())
    fp.register(show_argv(fake_az, sub=SUB), stdout=pending_server(state="Updating"), occurrences=2)
    busy = network_error("Conflict", "ServerIsBusy", "busy")
    fp.register(write_argv(fake_az, "reject", PE1, sub=SUB), returncode=1, stderr=busy)
    result = run("reject", "-g", "rg-data", "-s", "pg-orders", "-n", PE1, "--busy-timeout", "0")
    assert result.exit_code == 5
    [record] = records(result)
    assert record["action"] == "failed"
    assert record["error"]["code"] == "ServerBusy"
    assert "still busy after 0s" in record["error"]["message"]
    assert fp.call_count(write_argv(fake_az, "reject", PE1, sub=SUB)) == 1


def test_timed_out_write_is_re_read_and_counts_if_it_landed(fp: FakeProcess, fake_az: str) -> None:
    def hang(process: object) -> None:
        raise subprocess.TimeoutExpired(cmd="az", timeout=5)

    fp.register(show_argv(fake_az), stdout=pending_server())
    fp.register(write_argv(fake_az, "reject", PE1, sub=SUB), callback=hang)
    fp.register(
        show_argv(fake_az, sub=SUB), stdout=dumps(server_json([conn(PE1, "Rejected"), conn(APP, "Approved")]))
    )
    result = run("reject", "-g", "rg-data", "-s", "pg-orders", "-n", PE1, "--retries", "0")
    assert result.exit_code == 0, result.stderr
    assert records(result)[0]["action"] == "rejected"


def test_permanent_403_exits_4_without_retrying(fp: FakeProcess, fake_az: str) -> None:
    denied = network_error("Forbidden", "AuthorizationFailed", "The client 'x' does not have authorization")
    fp.register(show_argv(fake_az), stdout=pending_server())
    fp.register(show_argv(fake_az, sub=SUB), stdout=pending_server())  # the look after a failed write
    fp.register(write_argv(fake_az, "reject", PE1, sub=SUB), returncode=1, stderr=denied)
    result = run("reject", "-g", "rg-data", "-s", "pg-orders", "-n", PE1)
    assert result.exit_code == 4
    assert records(result)[0]["error"]["code"] == "AuthorizationFailed"
    assert fp.call_count(write_argv(fake_az, "reject", PE1, sub=SUB)) == 1


def test_server_not_found_exits_3_and_says_which_servers_there_are(fp: FakeProcess, fake_az: str) -> None:
    missing = sdk_error(
        "ResourceNotFound",
        "The Resource 'Microsoft.DBforPostgreSQL/flexibleServers/pg-ordres' "
        "under resource group 'rg-data' was not found. For more details please go to https://aka.ms/x",
    )
    fp.register(show_argv(fake_az, server="pg-ordres"), returncode=3, stderr=missing)
    fp.register(list_argv(fake_az, rg="rg-data"), stdout=dumps([server_json([conn(PE1)])]))
    result = run("reject", "-g", "rg-data", "-s", "pg-ordres", "-n", PE1, "-n", PE2)
    assert result.exit_code == 3
    for record in records(result):
        assert record["error"] == {
            "code": "ResourceNotFound",
            "message": "server 'pg-ordres' not found in resource group 'rg-data'",
        }
    assert result.stderr.count("Did you mean 'pg-orders'?") == 2  # one line per target ...
    assert fp.call_count(list_argv(fake_az, rg="rg-data")) == 1  # ... from one listing
    assert "aka.ms" not in result.stdout + result.stderr


def test_a_missing_connection_suggests_the_one_meant(fp: FakeProcess, fake_az: str) -> None:
    fp.register(show_argv(fake_az), stdout=pending_server())
    # (-n pe-foreign would be the endpoint's name, which finds the connection itself)
    result = run("reject", "-g", "rg-data", "-s", "pg-orders", "-n", "pe-foregn", "--dry-run")
    assert result.exit_code == 3
    assert f"azpe: hint: Did you mean '{PE1}'? List them with: azpe list -g rg-data -s pg-orders" in (
        result.stderr
    )


def test_connection_not_found_exits_3(fp: FakeProcess, fake_az: str) -> None:
    fp.register(show_argv(fake_az), stdout=pending_server())
    result = run("reject", "-g", "rg-data", "-s", "pg-orders", "-n", "pe-nope.1")
    assert result.exit_code == 3
    assert "has no private endpoint connection" in result.stderr


def test_server_not_ready_exits_5_without_writing(fp: FakeProcess, fake_az: str) -> None:
    fp.register(show_argv(fake_az), stdout=pending_server(state="Updating"))
    result = run("reject", "-g", "rg-data", "-s", "pg-orders", "-n", PE1)
    assert result.exit_code == 5
    assert records(result)[0]["error"]["code"] == "ServerNotReady"
    assert "--wait-ready" in result.stderr
    assert len(fp.calls) == 1


def test_wait_ready_polls_until_the_server_is_ready(fp: FakeProcess, fake_az: str) -> None:
    fp.register(show_argv(fake_az), stdout=pending_server(state="Updating"))
    fp.register(show_argv(fake_az, sub=SUB), stdout=pending_server(state="Updating"))
    fp.register(show_argv(fake_az, sub=SUB), stdout=pending_server())
    fp.register(write_argv(fake_az, "reject", PE1, sub=SUB), stdout=dumps(connection_raw(PE1)))
    result = run("reject", "-g", "rg-data", "-s", "pg-orders", "-n", PE1, "--wait-ready", "60")
    assert result.exit_code == 0, result.stderr
    assert len(fp.calls) == 4


def test_unsettled_write_is_verified_by_polling_reads(fp: FakeProcess, fake_az: str) -> None:
    fp.register(show_argv(fake_az), stdout=pending_server())
    updating = connection_raw(PE1, "Pending")
    updating["properties"]["provisioningState"] = "Updating"
    fp.register(write_argv(fake_az, "reject", PE1, sub=SUB), stdout=dumps(updating))
    still = dumps(server_json([conn(PE1, "Pending", state="Updating"), conn(APP, "Approved")]))
    fp.register(show_argv(fake_az, sub=SUB), stdout=still)
    fp.register(show_argv(fake_az, sub=SUB), stdout=pending_server(state="Updating"))
    fp.register(
        show_argv(fake_az, sub=SUB), stdout=dumps(server_json([conn(PE1, "Rejected"), conn(APP, "Approved")]))
    )
    result = run("reject", "-g", "rg-data", "-s", "pg-orders", "-n", PE1)
    assert result.exit_code == 0, result.stderr
    assert records(result)[0]["status"] == "Rejected"


def test_delete_needs_yes_without_a_terminal(fp: FakeProcess, fake_az: str) -> None:
    result = run("delete", "-g", "rg-data", "-s", "pg-orders", "-n", PE1)
    assert result.exit_code == 6
    assert "--yes" in result.stderr
    assert result.stdout == ""
    assert len(fp.calls) == 0


def test_delete_with_yes_verifies_the_connection_is_gone(fp: FakeProcess, fake_az: str) -> None:
    fp.register(show_argv(fake_az), stdout=pending_server())
    fp.register(write_argv(fake_az, "delete", PE1, sub=SUB), stdout="")
    fp.register(show_argv(fake_az, sub=SUB), stdout=dumps(server_json([conn(PE2), conn(APP, "Approved")])))
    result = run("delete", "-g", "rg-data", "-s", "pg-orders", "-n", PE1, "--yes")
    assert result.exit_code == 0, result.stderr
    [record] = records(result)
    assert record["action"] == "deleted"
    assert record["previousStatus"] == "Pending"
    assert record["status"] is None
    assert fp.call_count(show_argv(fake_az, sub=SUB)) == 1  # the read that shows it gone


def test_a_delete_whose_connection_is_still_there_is_not_converged(fp: FakeProcess, fake_az: str) -> None:
    fp.register(show_argv(fake_az), stdout=pending_server())
    fp.register(write_argv(fake_az, "delete", PE1, sub=SUB), stdout="")  # az exits 0: no proof
    fp.register(show_argv(fake_az, sub=SUB), stdout=pending_server())  # settled, still Pending
    result = run("delete", "-g", "rg-data", "-s", "pg-orders", "-n", PE1, "--yes")
    assert result.exit_code == 1, result.stderr
    [record] = records(result)
    assert (record["action"], record["error"]["code"]) == ("failed", "NotConverged")
    assert record["status"] == "Pending"
    assert fp.call_count(write_argv(fake_az, "delete", PE1, sub=SUB)) == 1  # reported, not retried


def test_status_selection_needs_yes_without_a_terminal(fp: FakeProcess, fake_az: str) -> None:
    result = run("reject", "-g", "rg-data", "-s", "pg-orders", "--status", "Pending")
    assert result.exit_code == 6
    assert len(fp.calls) == 0


def test_status_selection_rejects_every_pending_connection(fp: FakeProcess, fake_az: str) -> None:
    register_accounts(fp, fake_az)  # a bulk write says whose each endpoint is
    fp.register(show_argv(fake_az), stdout=pending_server())
    fp.register(write_argv(fake_az, "reject", PE1, sub=SUB), stdout=dumps(connection_raw(PE1)))
    fp.register(write_argv(fake_az, "reject", PE2, sub=SUB), stdout=dumps(connection_raw(PE2)))
    result = run("reject", "-g", "rg-data", "-s", "pg-orders", "--status", "pending", "--yes", "-o", "jsonl")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 2
    assert len(fp.calls) == 4  # one read, whose endpoints, two writes: no read between the rejects
    assert "2 rejected" in result.stderr


def test_ids_from_stdin_as_json_lines(fp: FakeProcess, fake_az: str) -> None:
    register_accounts(fp, fake_az)  # a bulk write says whose each endpoint is
    fp.register(show_argv(fake_az, sub=SUB), stdout=pending_server())
    fp.register(write_argv(fake_az, "reject", PE1, sub=SUB), stdout=dumps(connection_raw(PE1)))
    stdin = f'# from azpe list\n{{"id": "{connection_id(PE1)}", "status": "Pending"}}\n\n'
    result = run("reject", "--id", "-", stdin=stdin)
    assert result.exit_code == 0, result.stderr
    assert records(result)[0]["action"] == "rejected"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["reject", "-g", "rg-data", "-s", "PG_BAD", "-n", PE1], "invalid flexible server name"),
        (["reject", "-g", "rg-data", "-s", "pg-orders", "-n", "-rf"], "invalid private endpoint connection"),
        (["reject", "--id", "/subscriptions/x/resourceGroups/rg"], "not a PostgreSQL flexible server"),
        (["reject", "-g", "rg-data", "-s", "pg-orders"], "no targets given"),
        (["reject", "-n", PE1], "needs the server"),
        (["reject", "-g", "rg-data", "-s", "pg-orders", "-n", PE1, "-o", "yaml"], "invalid output format"),
        (["reject", "-g", "rg-data", "-s", "pg-orders", "-n", PE1, "--query", "[[["], "invalid --query"),
        (["reject", "-g", "rg-data", "-s", "pg-orders", "--status", "Gone", "--yes"], "invalid --status"),
        (["delete", "-g", "rg-data", "-s", "pg-orders", "-n", PE1, "-d", "x", "--yes"], "no --description"),
    ],
)
def test_bad_input_exits_2_and_runs_nothing(
    fp: FakeProcess, fake_az: str, args: list[str], message: str
) -> None:
    result = run(*args)
    assert result.exit_code == 2, result.stderr
    assert message in result.stderr
    assert result.stderr.startswith("azpe: error: ")
    assert "Traceback" not in result.stderr
    assert len(fp.calls) == 0


def test_bad_stdin_line_is_reported_with_its_number(fp: FakeProcess, fake_az: str) -> None:
    stdin = f"{connection_id(PE1)}\nnot-an-id\n"
    result = run("reject", "--id", "-", "--yes", stdin=stdin)
    assert result.exit_code == 2
    assert "stdin line 2" in result.stderr
    assert len(fp.calls) == 0


def test_az_missing_exits_4(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    monkeypatch.setenv("AZPE_AZ", "/nonexistent/az")
    result = run("reject", "-g", "rg-data", "-s", "pg-orders", "-n", PE1)
    assert result.exit_code == 4
    assert "az not found" in result.stderr


def test_not_logged_in_exits_4(fp: FakeProcess, fake_az: str) -> None:
    fp.register(show_argv(fake_az), returncode=1, stderr="ERROR: Please run 'az login' to setup account.\n")
    result = run("reject", "-g", "rg-data", "-s", "pg-orders", "-n", PE1)
    assert result.exit_code == 4
    assert "az login" in result.stderr


def test_mixed_failures_exit_1_and_every_target_is_reported(fp: FakeProcess, fake_az: str) -> None:
    # pg-orders is not Ready (5), pg-reports has no pe-nope.1 (3), pg-spare's reject lands (0):
    # two reasons, neither of them 1, make the run's code 1.
    def server(name: str, state: str = "Ready") -> str:
        return dumps(server_json([conn(PE1, server=name), conn(APP, "Approved", server=name)], server=name,
                                 state=state))  # fmt: skip

    fp.register(show_argv(fake_az, sub=SUB), stdout=server("pg-orders", "Updating"))
    fp.register(show_argv(fake_az, server="pg-reports", sub=SUB), stdout=server("pg-reports"))
    fp.register(show_argv(fake_az, server="pg-spare", sub=SUB), stdout=server("pg-spare"))
    fp.register(
        write_argv(fake_az, "reject", PE1, server="pg-spare", sub=SUB),
        stdout=dumps(connection_raw(PE1, server="pg-spare")),
    )
    result = run(
        "reject",
        "--id", connection_id(PE1),
        "--id", connection_id("pe-nope.1", server="pg-reports"),
        "--id", connection_id(PE1, server="pg-spare"),
    )  # fmt: skip
    assert result.exit_code == 1, result.stderr
    outcomes = {
        (r["server"], r["name"]): (r["action"], (r["error"] or {}).get("code")) for r in records(result)
    }
    assert outcomes == {
        ("pg-orders", PE1): ("failed", "ServerNotReady"),
        ("pg-reports", "pe-nope.1"): ("failed", "ResourceNotFound"),
        ("pg-spare", PE1): ("rejected", None),
    }


@pytest.mark.parametrize(
    ("state", "missing", "code"),
    [("Ready", ["pe-nope.1", "pe-nope.2"], 3), ("Updating", [], 5)],
    ids=["both-not-found", "both-not-ready"],
)
def test_failures_for_one_reason_exit_with_that_reasons_code(
    fp: FakeProcess, fake_az: str, state: str, missing: list[str], code: int
) -> None:
    fp.register(show_argv(fake_az), stdout=pending_server(state=state))
    names = missing or [PE1, PE2]
    result = run("reject", "-g", "rg-data", "-s", "pg-orders", "-n", names[0], "-n", names[1])
    assert result.exit_code == code, result.stderr
    assert [r["action"] for r in records(result)] == ["failed", "failed"]
    assert not [c for c in fp.calls if "private-endpoint-connection" in c]  # nothing written


def test_one_failure_beside_a_plan_exits_with_the_failures_code(fp: FakeProcess, fake_az: str) -> None:
    fp.register(show_argv(fake_az), stdout=pending_server())
    result = run("approve", "-g", "rg-data", "-s", "pg-orders", "-n", PE1, "-n", "pe-nope.1", "--dry-run")
    assert result.exit_code == 3  # planned is no failure: one failure reason gives its own code
    assert [r["action"] for r in records(result)] == ["planned", "failed"]


def test_lockout_guard_also_holds_when_public_access_is_unknown(fp: FakeProcess, fake_az: str) -> None:
    fp.register(show_argv(fake_az), stdout=pending_server(public=None))
    result = run("reject", "-g", "rg-data", "-s", "pg-orders", "-n", APP)
    assert result.exit_code == 6
    assert "public network access is unknown" in result.stderr
    assert len(fp.calls) == 1


def test_n_and_status_on_one_server_read_it_once(fp: FakeProcess, fake_az: str) -> None:
    fp.register(show_argv(fake_az), stdout=pending_server())
    register_accounts(fp, fake_az)  # the dry run of a --status selection says whose each endpoint is
    result = run("reject", "-g", "rg-data", "-s", "pg-orders", "-n", PE1, "--status", "Pending", "--dry-run")
    assert result.exit_code == 0, result.stderr
    assert sorted((r["name"], r["owner"]) for r in records(result)) == sorted(
        [(PE1, "foreign"), (PE2, "foreign")]
    )
    assert fp.call_count(show_argv(fake_az)) == 1  # PE1 once, the server read once


def test_a_description_starting_with_a_dash_reaches_az_as_one_argument(fp: FakeProcess, fake_az: str) -> None:
    fp.register(show_argv(fake_az), stdout=pending_server())
    argv = write_argv(fake_az, "reject", PE1, sub=SUB, description="-x --yes")
    assert "--description=-x --yes" in argv
    fp.register(argv, stdout=dumps(connection_raw(PE1, description="-x --yes")))
    result = run("reject", "-g", "rg-data", "-s", "pg-orders", "-n", PE1, "-d", "-x --yes")
    assert result.exit_code == 0, result.stderr
    assert records(result)[0]["description"] == "-x --yes"


@pytest.mark.parametrize("value", ["inf", "1e9", "nan", "0"])
def test_out_of_range_timeouts_are_usage_errors(fp: FakeProcess, fake_az: str, value: str) -> None:
    result = run("reject", "-g", "rg-data", "-s", "pg-orders", "-n", PE1, "--timeout", value)
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert len(fp.calls) == 0


def test_dry_run_reports_a_server_that_is_not_ready_as_a_real_run_would(
    fp: FakeProcess, fake_az: str
) -> None:
    fp.register(show_argv(fake_az), stdout=pending_server(state="Stopped"))
    result = run("reject", "-g", "rg-data", "-s", "pg-orders", "-n", PE1, "--dry-run")
    assert result.exit_code == 5
    [record] = records(result)
    assert record["action"] == "failed"
    assert record["error"]["code"] == "ServerNotReady"
    assert "command" not in record


def test_an_audit_log_that_cannot_be_written_stops_cleanly(fp: FakeProcess, fake_az: str) -> None:
    fp.register(
        [fake_az, "account", "show", "--only-show-errors", "-o", "json"],
        stdout=dumps({"id": SUB, "user": {"name": "dba", "type": "user"}}),
    )
    fp.register(show_argv(fake_az), stdout=pending_server())
    result = run("reject", "-g", "rg-data", "-s", "pg-orders", "-n", PE1, "--audit-log", "/dev/full")
    assert result.exit_code == 1
    assert "cannot write the audit log /dev/full" in result.stderr
    assert "Traceback" not in result.stderr
    assert fp.call_count(write_argv(fake_az, "reject", PE1, sub=SUB)) == 0  # nothing unaudited


def test_an_empty_resource_group_is_named_as_the_problem(fp: FakeProcess, fake_az: str) -> None:
    result = run("reject", "-g", "", "-s", "pg-orders", "-n", PE1)
    assert result.exit_code == 2
    assert "'-g' / '--resource-group': must not be empty" in result.stderr


def test_azpes_default_json_output_feeds_a_write_on_stdin(fp: FakeProcess, fake_az: str) -> None:
    """``azpe list ... | azpe reject --id -``: list's default output is a pretty JSON array."""
    register_accounts(fp, fake_az)  # a bulk write says whose each endpoint is
    fp.register(show_argv(fake_az), stdout=pending_server())
    listed = run("list", "-g", "rg-data", "-s", "pg-orders", "--status", "Pending")
    assert listed.stdout.startswith("[\n  {")
    fp.register(show_argv(fake_az, sub=SUB), stdout=pending_server())
    result = run("reject", "--id", "-", "--dry-run", stdin=listed.stdout)
    assert result.exit_code == 0, result.stderr
    assert sorted(r["name"] for r in records(result)) == sorted([PE1, PE2])


def test_a_bad_item_in_a_json_array_on_stdin_fails_with_its_line(fp: FakeProcess, fake_az: str) -> None:
    stdin = f'[\n  {{"id": "{connection_id(PE1)}"}},\n  {{"id": "x"}}\n]\n'
    result = run("reject", "--id", "-", stdin=stdin)
    assert result.exit_code == 2
    assert result.stderr.startswith("azpe: error: stdin line 3: ")
    assert len(fp.calls) == 0


@pytest.mark.parametrize(("output", "stdout"), [("json", "[]\n"), ("jsonl", ""), ("table", ""), ("csv", "")])
@pytest.mark.parametrize("stdin", ["", "\n# nothing tonight\n", "[]\n"])
def test_an_empty_stdin_is_nothing_to_do(
    fp: FakeProcess, fake_az: str, output: str, stdout: str, stdin: str
) -> None:
    result = run("reject", "--id", "-", "-o", output, "-d", "quiet night", stdin=stdin)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == stdout
    assert result.stderr == "azpe: reject: no targets on stdin: nothing to do\n"
    assert len(fp.calls) == 0


def test_an_empty_stdin_with_other_targets_runs_those(fp: FakeProcess, fake_az: str) -> None:
    register_accounts(fp, fake_az)  # a bulk write says whose each endpoint is
    fp.register(show_argv(fake_az, sub=SUB), stdout=pending_server())
    result = run("reject", "--id", "-", "--id", connection_id(PE1), "--dry-run", stdin="")
    assert result.exit_code == 0, result.stderr
    assert [r["name"] for r in records(result)] == [PE1]


def test_a_retry_waits_for_a_write_already_under_way_instead_of_writing_again(
    fp: FakeProcess, fake_az: str
) -> None:
    busy = network_error("Conflict", "ServerIsBusy", "busy")
    fp.register(show_argv(fake_az), stdout=pending_server())
    fp.register(write_argv(fake_az, "reject", PE1, sub=SUB), returncode=1, stderr=busy)
    updating = conn(PE1, "Pending", state="Updating")  # e.g. a timed-out write still running
    fp.register(show_argv(fake_az, sub=SUB), stdout=dumps(server_json([updating, conn(APP, "Approved")])))
    fp.register(
        show_argv(fake_az, sub=SUB), stdout=dumps(server_json([conn(PE1, "Rejected"), conn(APP, "Approved")]))
    )
    result = run("reject", "-g", "rg-data", "-s", "pg-orders", "-n", PE1)
    assert result.exit_code == 0, result.stderr
    # The one write was refused (409): someone else's operation rejected it, not azpe.
    assert records(result)[0]["action"] == "unchanged"
    assert fp.call_count(write_argv(fake_az, "reject", PE1, sub=SUB)) == 1


def test_a_retry_is_not_made_when_a_re_read_shows_it_cannot_work(fp: FakeProcess, fake_az: str) -> None:
    failed = network_error("Internal Server Error", "InternalServerError", "An unexpected error occured")
    fp.register(show_argv(fake_az), stdout=pending_server())
    fp.register(write_argv(fake_az, "approve", PE1, sub=SUB), returncode=1, stderr=failed)
    rejected = dumps(server_json([conn(PE1, "Rejected"), conn(APP, "Approved")]))
    fp.register(show_argv(fake_az, sub=SUB), stdout=rejected, occurrences=2)
    result = run("approve", "-g", "rg-data", "-s", "pg-orders", "-n", PE1)
    assert result.exit_code == 1
    assert records(result)[0]["error"]["code"] == "RejectedIsFinal"
    assert fp.call_count(write_argv(fake_az, "approve", PE1, sub=SUB)) == 1  # never retried


# -- the confirmation prompt ------------------------------------------------------------------------


class TerminalInput(io.StringIO):
    """stdin as a terminal with a person typing ``text``."""

    def isatty(self) -> bool:
        return True


class CtrlC(TerminalInput):
    def readline(self, size: int | None = -1) -> str:  # type: ignore[override]
        raise KeyboardInterrupt


def at_a_terminal(monkeypatch: pytest.MonkeyPatch, answer: str | TerminalInput, *args: str) -> int:
    """azpe as its console script runs it, stdin a terminal; the exit code."""
    monkeypatch.setattr(sys, "stdin", answer if isinstance(answer, TerminalInput) else TerminalInput(answer))
    with pytest.raises(SystemExit) as done:
        app(list(args), prog_name="azpe")
    return int(done.value.code or 0)


HOSTILE_NAME = "pe-x\x1b]0;owned\x07\u202e.55555555-5555-5555-5555-555555555555"


def hostile_server() -> str:
    """A Pending connection whose name field (as az prints it) holds terminal controls."""
    sneaky = conn("pe-x.55555555-5555-5555-5555-555555555555") | {"name": HOSTILE_NAME}
    return dumps(server_json([conn(PE1), sneaky, conn(APP, "Approved")]))


@pytest.mark.parametrize(
    ("answer", "code", "how"),
    [("n\n", 6, "not confirmed"), ("\n", 6, "not confirmed"), ("", 6, "not confirmed")],
    ids=["no", "enter", "ctrl-d"],
)
def test_declining_at_the_prompt_prints_a_short_summary_not_every_record(
    fp: FakeProcess, fake_az: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    answer: str, code: int, how: str,
) -> None:  # fmt: skip
    register_accounts(fp, fake_az)  # the prompt says whose endpoints they are
    fp.register(show_argv(fake_az), stdout=pending_server())
    exit_code = at_a_terminal(monkeypatch, answer, "reject", "-g", RG, "-s", SERVER, "--status", "Pending")
    out, err = capsys.readouterr()
    assert exit_code == code
    assert out == ""  # no records: nothing was done
    # A typed answer ends the prompt's line on the terminal (its echo); Ctrl-D does not, so azpe does.
    prompt = "Reject them on 1 server(s)? [y/N] " + ("\n" if answer == "" else "")
    assert err.endswith(f"\n{prompt}azpe: reject: {how}; nothing was written (2 skipped)\n")
    assert err.count("\n") == (
        6 if answer == "" else 5
    )  # "about to", 2 connections, whose endpoints, (the prompt), the summary
    assert fp.call_count(write_argv(fake_az, "reject", PE1, sub=SUB)) == 0


def test_ctrl_c_at_the_prompt_ends_its_line_and_exits_130(
    fp: FakeProcess, fake_az: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    register_accounts(fp, fake_az)  # the prompt says whose endpoints they are
    fp.register(show_argv(fake_az), stdout=pending_server())
    exit_code = at_a_terminal(monkeypatch, CtrlC(), "reject", "-g", RG, "-s", SERVER, "--status", "Pending")
    out, err = capsys.readouterr()
    assert exit_code == 130
    assert out == ""
    assert "[y/N] \nazpe: reject: interrupted at the prompt; nothing was written (2 skipped)\n" in err


def test_yes_at_the_prompt_writes(
    fp: FakeProcess, fake_az: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    register_accounts(fp, fake_az)
    fp.register(show_argv(fake_az), stdout=pending_server())
    fp.register(show_argv(fake_az, sub=SUB), stdout=pending_server(), occurrences=3)
    for name in (PE1, PE2):
        fp.register(write_argv(fake_az, "reject", name, sub=SUB), stdout=dumps(connection_raw(name)))
    exit_code = at_a_terminal(monkeypatch, "y\n", "reject", "-g", RG, "-s", SERVER, "--status", "Pending")
    out, err = capsys.readouterr()
    assert exit_code == 0, err
    assert [r["action"] for r in json.loads(out)] == ["rejected", "rejected"]


def test_the_prompt_shows_names_from_azure_escaped(
    fp: FakeProcess, fake_az: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    register_accounts(fp, fake_az)
    fp.register(show_argv(fake_az), stdout=hostile_server())
    at_a_terminal(monkeypatch, "n\n", "reject", "-g", RG, "-s", SERVER, "--status", "Pending")
    err = capsys.readouterr().err
    assert "\x1b" not in err and "\x07" not in err and "\u202e" not in err
    # The name is the validated ID's, not az's `name` field (which whoever created it chose).
    assert "  pg-orders/pe-x.55555555-5555-5555-5555-555555555555 (Pending)  [foreign]\n" in err
    assert "owned" not in err


# -- error lines ------------------------------------------------------------------------------------


def test_error_lines_escape_what_az_echoes_from_the_service(fp: FakeProcess, fake_az: str) -> None:
    evil = network_error("Forbidden", "AuthorizationFailed", "denied\x1b[2J\x1b]0;x\x07\rfake line\u202e")
    fp.register(show_argv(fake_az), stdout=pending_server())
    fp.register(show_argv(fake_az, sub=SUB), stdout=pending_server())
    fp.register(write_argv(fake_az, "reject", PE1, sub=SUB), returncode=1, stderr=evil)
    result = run("reject", "-g", RG, "-s", SERVER, "-n", PE1)
    assert result.exit_code == 4
    assert [ch for ch in result.stderr if not ch.isprintable() and ch != "\n"] == []
    assert "denied\\x1b[2J\\x1b]0;x\\x07\\rfake line\\u202e" in result.stderr
    assert json.loads(result.stdout)[0]["error"]["message"].startswith("denied\x1b[2J")  # exact in JSON


def test_verbose_logs_escape_azs_output(fp: FakeProcess, fake_az: str) -> None:
    described = server_json([conn(PE1, description="a\x9b2J\u202eb"), conn(APP, "Approved")])
    sneaky = json.dumps(described, indent=2, ensure_ascii=False)  # as az prints it: raw
    fp.register(show_argv(fake_az), stdout=sneaky)
    result = run("list", "-g", RG, "-s", SERVER, "-vv")
    assert result.exit_code == 0, result.stderr
    assert [ch for ch in result.stderr if not ch.isprintable() and ch != "\n"] == []
    assert "a\\x9b2J\\u202eb" in result.stderr


def test_the_guard_holds_its_server_and_the_other_servers_go_on(fp: FakeProcess, fake_az: str) -> None:
    """One rule for reject, delete and enforce: where the guard trips nothing is written; the
    other servers' writes run; the run exits 6."""
    other = "pg-other"
    fp.register(show_argv(fake_az, sub=SUB), stdout=pending_server(public="Disabled"))
    fp.register(
        show_argv(fake_az, server=other, sub=SUB),
        stdout=dumps(server_json([conn(PE1, server=other)], server=other, public="Enabled")),
    )
    fp.register(
        write_argv(fake_az, "reject", PE1, server=other, sub=SUB),
        stdout=dumps(connection_raw(PE1, server=other)),
    )
    targets = [connection_id(APP), connection_id(PE1), connection_id(PE1, server=other)]
    result = run("reject", *[arg for t in targets for arg in ("--id", t)], "--concurrency", "1")
    assert result.exit_code == 6, result.stderr
    by_target = {(r["server"], r["name"]): r for r in records(result)}
    assert by_target[("pg-orders", APP)]["error"]["code"] == "LockOutGuard"
    assert by_target[("pg-orders", PE1)]["action"] == "skipped"
    assert by_target[("pg-orders", PE1)]["error"]["code"] == "LockOutGuard"
    assert by_target[(other, PE1)]["action"] == "rejected"
    assert fp.call_count(write_argv(fake_az, "reject", PE1, sub=SUB)) == 0


# -- --wait-ready ------------------------------------------------------------------------------------


@pytest.mark.parametrize("state", ["Stopped", "Disabled"])
def test_a_server_that_cannot_become_ready_by_itself_is_not_waited_for(
    fp: FakeProcess, fake_az: str, state: str
) -> None:
    fp.register(show_argv(fake_az), stdout=pending_server(state=state))
    result = run("reject", "-g", RG, "-s", SERVER, "-n", PE1, "--wait-ready", "600")
    assert result.exit_code == 5
    assert len(fp.calls) == 1  # no polling: it would be in vain
    assert f"server pg-orders is {state}, not Ready" in result.stderr
    assert "--wait-ready" not in result.stderr and "waiting" not in result.stderr
    if state == "Stopped":
        assert "azpe: hint: Start it first: az postgres flexible-server start -g rg-data -n pg-orders" in (
            result.stderr
        )


def test_wait_ready_says_what_it_waits_for_and_how_long_it_waited(fp: FakeProcess, fake_az: str) -> None:
    fp.register(show_argv(fake_az), stdout=pending_server(state="Starting"))
    fp.register(show_argv(fake_az, sub=SUB), stdout=pending_server(state="Starting"))
    fp.register(show_argv(fake_az, sub=SUB), stdout=pending_server())
    fp.register(write_argv(fake_az, "reject", PE1, sub=SUB), stdout=dumps(connection_raw(PE1)))
    result = run("reject", "-g", RG, "-s", SERVER, "-n", PE1, "--wait-ready", "60")
    assert result.exit_code == 0, result.stderr
    lines = result.stderr.splitlines()
    assert lines[0] == "azpe: server pg-orders is Starting: waiting up to 60s for it to be Ready"
    assert lines[1].startswith("azpe: server pg-orders is still Starting after ")
    assert lines[2].startswith("azpe: server pg-orders is Ready after ")


def test_a_wait_that_ran_out_does_not_hint_to_wait(fp: FakeProcess, fake_az: str) -> None:
    fp.register(show_argv(fake_az), stdout=pending_server(state="Starting"))
    fp.register(show_argv(fake_az, sub=SUB), stdout=pending_server(state="Starting"))
    fp.keep_last_process(True)
    result = run("reject", "-g", RG, "-s", SERVER, "-n", PE1, "--wait-ready", "0.2")
    assert result.exit_code == 5
    assert "server pg-orders was still Starting after 0.2s, not Ready" in result.stderr
    assert "azpe: hint: Retry when the server is Ready." in result.stderr
    assert "Pass --wait-ready" not in result.stderr


def test_a_server_that_stops_while_waited_for_fails_at_once(fp: FakeProcess, fake_az: str) -> None:
    fp.register(show_argv(fake_az), stdout=pending_server(state="Starting"))
    fp.register(show_argv(fake_az, sub=SUB), stdout=pending_server(state="Stopped"))
    result = run("reject", "-g", RG, "-s", SERVER, "-n", PE1, "--wait-ready", "600")
    assert result.exit_code == 5
    assert len(fp.calls) == 2
    assert "server pg-orders is Stopped, not Ready" in result.stderr
    assert "Start it first" in result.stderr


# -- --query on a write's results ---------------------------------------------------------------


def test_a_query_that_cannot_work_on_the_results_fails_before_any_write(
    fp: FakeProcess, fake_az: str
) -> None:
    fp.register(show_argv(fake_az), stdout=pending_server())
    result = run(
        "reject",
        "-g",
        "rg-data",
        "-s",
        "pg-orders",
        "-n",
        PE1,
        "-n",
        PE2,
        "-o",
        "jsonl",
        "--query",
        "abs(name)",
    )
    assert result.exit_code == 2, result.stderr
    assert "--query failed" in result.stderr
    assert result.stdout == ""
    assert len(fp.calls) == 1  # the read only: nothing was written


def test_a_query_that_fails_only_on_a_result_is_reported_and_the_run_goes_on(
    fp: FakeProcess, fake_az: str
) -> None:
    """Planned, each record has a status; deleted, it has none: ``starts_with(status, ...)``
    fails on the results only. Every delete still runs; the exit code is the writes'."""
    fp.register(show_argv(fake_az), stdout=pending_server())
    for name in (PE1, PE2):
        fp.register(write_argv(fake_az, "delete", name, sub=SUB), stdout="")
    fp.register(show_argv(fake_az, sub=SUB), stdout=dumps(server_json([conn(PE2), conn(APP, "Approved")])))
    fp.register(show_argv(fake_az, sub=SUB), stdout=dumps(server_json([conn(APP, "Approved")])))
    result = run(
        "delete", "-g", "rg-data", "-s", "pg-orders", "-n", PE1, "-n", PE2, "--yes",
        "-o", "jsonl", "--query", "starts_with(status, 'P')",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert result.stderr.count("--query failed") == 2  # one line per result
    assert fp.call_count(write_argv(fake_az, "delete", PE2, sub=SUB)) == 1
    assert "2 deleted" in result.stderr


def test_the_write_names_the_connection_by_its_validated_id_not_azs_name_field(
    fp: FakeProcess, fake_az: str
) -> None:
    """A connection's `name` as az prints it is chosen by whoever created the endpoint; the
    write's --name comes from the connection's ID, which azpe validates."""
    register_accounts(fp, fake_az)  # a bulk write says whose each endpoint is
    real = "pe-x.55555555-5555-5555-5555-555555555555"
    fp.register(show_argv(fake_az), stdout=hostile_server())
    fp.register(write_argv(fake_az, "reject", PE1, sub=SUB), stdout=dumps(connection_raw(PE1)))
    fp.register(write_argv(fake_az, "reject", real, sub=SUB), stdout=dumps(connection_raw(real)))
    result = run("reject", "-g", RG, "-s", SERVER, "--status", "Pending", "--yes")
    assert result.exit_code == 0, result.stderr
    assert fp.call_count(write_argv(fake_az, "reject", real, sub=SUB)) == 1
    assert {r["name"] for r in records(result)} == {PE1, real}


# -- the contract stated: each write's az argv, written out in full ------------------------------
# (the form of the Azure docs: -g --resource-name --type -n; tests/clihelp.py's write_argv, which
# the other tests use, must give these same lists)

SHOW_PG_ORDERS = ["postgres", "flexible-server", "show", "--resource-group", "rg-data", "--name", "pg-orders"]
LITERAL_WRITES = [
    (
        ["reject", "-g", "rg-data", "-s", "pg-orders", "-n", PE1, "-d", "Not approved by the DBA team"],
        [
            "network", "private-endpoint-connection", "reject",
            "--resource-group", "rg-data", "--resource-name", "pg-orders",
            "--type", "Microsoft.DBforPostgreSQL/flexibleServers",
            "--name", "pe-foreign.11111111-1111-1111-1111-111111111111",
            "--subscription", "00000000-0000-0000-0000-00000000aaaa",
            "--description=Not approved by the DBA team",
            "--only-show-errors", "-o", "json",
        ],
    ),
    (
        ["reject", "-g", "rg-data", "-s", "pg-orders", "-n", PE1],
        [
            "network", "private-endpoint-connection", "reject",
            "--resource-group", "rg-data", "--resource-name", "pg-orders",
            "--type", "Microsoft.DBforPostgreSQL/flexibleServers",
            "--name", "pe-foreign.11111111-1111-1111-1111-111111111111",
            "--subscription", "00000000-0000-0000-0000-00000000aaaa",
            "--only-show-errors", "-o", "json",
        ],
    ),
    (
        ["approve", "-g", "rg-data", "-s", "pg-orders", "-n", PE1, "--description", "OK"],
        [
            "network", "private-endpoint-connection", "approve",
            "--resource-group", "rg-data", "--resource-name", "pg-orders",
            "--type", "Microsoft.DBforPostgreSQL/flexibleServers",
            "--name", "pe-foreign.11111111-1111-1111-1111-111111111111",
            "--subscription", "00000000-0000-0000-0000-00000000aaaa",
            "--description=OK",
            "--only-show-errors", "-o", "json",
        ],
    ),
    (
        ["delete", "-g", "rg-data", "-s", "pg-orders", "-n", PE1, "--yes"],
        [
            "network", "private-endpoint-connection", "delete",
            "--resource-group", "rg-data", "--resource-name", "pg-orders",
            "--type", "Microsoft.DBforPostgreSQL/flexibleServers",
            "--name", "pe-foreign.11111111-1111-1111-1111-111111111111",
            "--subscription", "00000000-0000-0000-0000-00000000aaaa",
            "--yes",
            "--only-show-errors", "-o", "json",
        ],
    ),
]  # fmt: skip
LITERAL_IDS = ["reject-as-in-the-docs", "reject-without-description", "approve", "delete-with-yes"]


def literal_output(action: str) -> str:
    if action == "delete":
        return ""
    status = {"reject": "Rejected", "approve": "Approved"}[action]
    return dumps(connection_raw(PE1, status))


@pytest.mark.parametrize(("args", "write"), LITERAL_WRITES, ids=LITERAL_IDS)
def test_each_write_runs_the_az_argv_of_the_azure_docs(
    fp: FakeProcess, fake_az: str, args: list[str], write: list[str]
) -> None:
    fp.register([fake_az, *SHOW_PG_ORDERS, "--only-show-errors", "-o", "json"], stdout=pending_server())
    fp.register([fake_az, *write], stdout=literal_output(args[0]))
    fp.register(
        [fake_az, *SHOW_PG_ORDERS, "--subscription", SUB, "--only-show-errors", "-o", "json"],
        stdout=dumps(server_json([conn(PE2), conn(APP, "Approved")])),
    )  # fmt: skip  (delete's check)
    result = run(*args)
    assert result.exit_code == 0, result.stderr
    assert fp.call_count([fake_az, *write]) == 1


@pytest.mark.parametrize(("args", "write"), LITERAL_WRITES, ids=LITERAL_IDS)
def test_a_dry_run_prints_the_az_argv_of_the_azure_docs(
    fp: FakeProcess, fake_az: str, args: list[str], write: list[str]
) -> None:
    fp.register([fake_az, *SHOW_PG_ORDERS, "--only-show-errors", "-o", "json"], stdout=pending_server())
    result = run(*args, "--dry-run")
    assert result.exit_code == 0, result.stderr
    assert [r["command"] for r in records(result)] == [[fake_az, *write]]


def test_with_subscription_the_read_and_the_write_name_it(fp: FakeProcess, fake_az: str) -> None:
    fp.register(
        [
            fake_az, "postgres", "flexible-server", "show",
            "--resource-group", "rg-data", "--name", "pg-orders",
            "--subscription", "00000000-0000-0000-0000-00000000aaaa",
            "--only-show-errors", "-o", "json",
        ],
        stdout=pending_server(),
    )  # fmt: skip
    write = [
        fake_az, "network", "private-endpoint-connection", "reject",
        "--resource-group", "rg-data", "--resource-name", "pg-orders",
        "--type", "Microsoft.DBforPostgreSQL/flexibleServers",
        "--name", "pe-foreign.11111111-1111-1111-1111-111111111111",
        "--subscription", "00000000-0000-0000-0000-00000000aaaa",
        "--description=not ours",
        "--only-show-errors", "-o", "json",
    ]  # fmt: skip
    fp.register(write, stdout=dumps(connection_raw(PE1, "Rejected", description="not ours")))
    result = run(
        "reject", "--subscription", "00000000-0000-0000-0000-00000000aaaa",
        "-g", "rg-data", "-s", "pg-orders", "-n", PE1, "-d", "not ours",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert fp.call_count(write) == 1


@pytest.mark.parametrize(("args", "write"), LITERAL_WRITES, ids=LITERAL_IDS)
def test_the_helper_the_other_tests_use_gives_the_stated_argv(args: list[str], write: list[str]) -> None:
    description = next((a.split("=", 1)[1] for a in write if a.startswith("--description=")), None)
    assert write_argv("az", args[0], PE1, sub=SUB, description=description) == ["az", *write]
