"""Write commands against the emulator with the real az: reject (and its idempotent re-run),
approve, delete and its confirmation, --dry-run, the lock-out guard, Rejected is final, and a
server that is not Ready (with and without --wait-ready).

Each real reject/approve costs ~11 s (az sleeps 10 s before its re-read), so every test here
makes at most one or two writes."""

from __future__ import annotations

from azpe.sandbox import connection, scenario, server
from tests.e2e.conftest import AZ, PEC, RG, SUB, Sandbox, by_name, connection_id, write_argv

RESULT_KEYS = {"action", "previousStatus", "attempts", "error"}


def test_reject_with_description_then_rerun_is_a_no_op(sandbox: Sandbox) -> None:
    name = sandbox.names("pg-orders", "Pending")[0]
    run = sandbox.azpe(
        "reject", "-g", RG, "-s", "pg-orders", "-n", name, "-d", "Not approved by the DBA team"
    )
    assert run.code == 0, run
    (record,) = run.json
    assert set(record) >= RESULT_KEYS and "command" not in record
    assert (record["id"], record["action"], record["previousStatus"], record["status"]) == (
        connection_id("pg-orders", name),
        "rejected",
        "Pending",
        "Rejected",
    )
    assert (record["attempts"], record["error"]) == (1, None)
    assert record["description"] == "Not approved by the DBA team"
    assert run.stderr == "azpe: reject: 1 rejected\n"

    stored = sandbox.connections("pg-orders")[name]
    assert (stored["status"], stored["description"]) == ("Rejected", "Not approved by the DBA team")
    (put,) = sandbox.requests("PUT", PEC)
    assert put["path"] == connection_id("pg-orders", name) and put["status"] == 202
    sent = put["body"]["properties"]["privateLinkServiceConnectionState"]
    assert (sent["status"], sent["description"]) == ("Rejected", "Not approved by the DBA team")
    others = {n: c["status"] for n, c in sandbox.connections("pg-orders").items() if n != name}
    assert sorted(others.values()) == ["Approved", "Pending", "Rejected"]  # nothing else touched

    sandbox.em.clear_requests()
    again = sandbox.azpe(
        "reject", "--id", connection_id("pg-orders", name), "-d", "Not approved by the DBA team"
    )
    assert again.code == 0, again
    (record,) = again.json
    assert (record["action"], record["previousStatus"], record["status"], record["attempts"]) == (
        "unchanged",
        "Rejected",
        "Rejected",
        0,
    )
    assert again.stderr == "azpe: reject: 1 unchanged\n"
    assert sandbox.writes() == []
    assert [r["method"] for r in sandbox.em.requests()] == ["GET"]  # one server read, nothing else


def test_approve_a_pending_connection(sandbox: Sandbox) -> None:
    name = sandbox.names("pg-reports", "Pending")[0]
    run = sandbox.azpe(
        "approve", "-g", RG, "-s", "pg-reports", "-n", name, "-d", "BI team, ticket 42", "-o", "jsonl"
    )
    assert run.code == 0, run
    (record,) = run.lines
    assert (record["action"], record["previousStatus"], record["status"], record["attempts"]) == (
        "approved",
        "Pending",
        "Approved",
        1,
    )
    stored = sandbox.connections("pg-reports")[name]
    assert (stored["status"], stored["description"]) == ("Approved", "BI team, ticket 42")
    assert sandbox.count("PUT") == 1


def test_approve_of_a_rejected_connection_is_refused_without_az(sandbox: Sandbox) -> None:
    rejected = sandbox.names("pg-orders", "Rejected")[0]
    run = sandbox.azpe("approve", "-g", RG, "-s", "pg-orders", "-n", rejected, "-o", "jsonl")
    assert run.code == 1, run
    (record,) = run.lines
    assert (record["action"], record["status"], record["attempts"]) == ("failed", "Rejected", 0)
    assert record["error"]["code"] == "RejectedIsFinal"
    assert "a rejected connection cannot be approved" in run.stderr
    assert "re-create the private endpoint" in run.stderr
    assert sandbox.writes() == []
    assert sandbox.status("pg-orders", rejected) == "Rejected"


def test_dry_run_writes_nothing_and_prints_each_argv(sandbox: Sandbox) -> None:
    before = sandbox.em.dump()
    pending = {s: sandbox.names(s, "Pending") for s in ("pg-orders", "pg-reports")}

    run = sandbox.azpe("reject", "-g", RG, "--status", "Pending", "--dry-run", "-d", "not ours")
    assert run.code == 0, run
    records = run.json
    assert [(r["server"], r["name"]) for r in records] == [
        (s, n) for s in ("pg-orders", "pg-reports") for n in pending[s]
    ]
    for r in records:
        assert (r["action"], r["status"], r["previousStatus"], r["attempts"]) == (
            "planned",
            "Pending",
            "Pending",
            0,
        )
        assert r["command"] == write_argv("reject", r["server"], r["name"], description="not ours")
    assert run.stderr == "azpe: reject: 3 planned\n"

    table = sandbox.azpe("reject", "-g", RG, "--status", "Pending", "--dry-run", "-o", "table")
    assert table.code == 0, table
    header, _, *rows = table.stdout.splitlines()
    # The dry run of a --status selection says whose each endpoint is (the review before a bulk write).
    assert header.split() == [
        "Name", "Server", "Owner", "Action", "Previous", "Status", "Status", "Attempts", "Error"
    ]  # fmt: skip
    assert [row.split()[:4] for row in rows] == [
        [r["name"], r["server"], "foreign", "planned"] for r in records
    ]

    approved = sandbox.names("pg-reports", "Approved")[0]
    delete = sandbox.azpe("delete", "-g", RG, "-s", "pg-reports", "-n", approved, "--dry-run", "-o", "jsonl")
    assert delete.code == 0, delete
    (record,) = delete.lines
    assert record["action"] == "planned"
    assert record["command"] == [
        AZ, "network", "private-endpoint-connection", "delete", "--resource-group", RG,
        "--resource-name", "pg-reports", "--type", "Microsoft.DBforPostgreSQL/flexibleServers",
        "--name", approved, "--subscription", SUB, "--yes", "--only-show-errors", "-o", "json",
    ]  # fmt: skip

    assert sandbox.writes() == []
    assert {r["method"] for r in sandbox.em.requests()} == {"GET"}
    assert sandbox.em.dump() == before


def test_status_selection_and_delete_need_yes_without_a_terminal(sandbox: Sandbox) -> None:
    selection = sandbox.azpe("reject", "-g", RG, "--status", "Pending")
    assert selection.code == 6, selection
    assert selection.stdout == "" and "needs confirmation" in selection.stderr and "--yes" in selection.stderr

    name = sandbox.names("pg-reports", "Approved")[0]
    refused = sandbox.azpe("delete", "-g", RG, "-s", "pg-reports", "-n", name)
    assert refused.code == 6, refused
    assert refused.stdout == ""
    assert refused.stderr.startswith("azpe: error: ") and "needs confirmation" in refused.stderr
    assert "--yes" in refused.stderr
    assert sandbox.em.requests() == []  # refused before any az call
    assert sandbox.status("pg-reports", name) == "Approved"

    done = sandbox.azpe("delete", "-g", RG, "-s", "pg-reports", "-n", name, "--yes", "-o", "jsonl")
    assert done.code == 0, done
    (record,) = done.lines
    assert (record["action"], record["previousStatus"], record["status"], record["attempts"]) == (
        "deleted",
        "Approved",
        None,
        1,
    )
    assert sandbox.status("pg-reports", name) is None
    assert sandbox.count("DELETE") == 1 and sandbox.count("PUT") == 0
    assert len(sandbox.connections("pg-reports")) == 1


def test_lock_out_guard_refuses_then_force_rejects(sandbox: Sandbox) -> None:
    # pg-orders: public network access Disabled, one Approved connection.
    approved = sandbox.names("pg-orders", "Approved")[0]
    pending = sandbox.names("pg-orders", "Pending")[0]
    run = sandbox.azpe("reject", "-g", RG, "-s", "pg-orders", "-n", approved, "-n", pending, "-o", "jsonl")
    assert run.code == 6, run
    records = by_name(run.lines)
    assert (records[approved]["action"], records[approved]["error"]["code"]) == ("failed", "LockOutGuard")
    assert (records[pending]["action"], records[pending]["error"]["code"]) == ("skipped", "LockOutGuard")
    assert "every client would be cut off" in run.stderr and "--force" in run.stderr
    assert sandbox.writes() == []
    assert sandbox.status("pg-orders", approved) == "Approved"
    assert sandbox.status("pg-orders", pending) == "Pending"

    forced = sandbox.azpe("reject", "-g", RG, "-s", "pg-orders", "-n", approved, "--force", "-o", "jsonl")
    assert forced.code == 0, forced
    (record,) = forced.lines
    assert (record["action"], record["previousStatus"], record["status"]) == (
        "rejected",
        "Approved",
        "Rejected",
    )
    assert "--force" in forced.stderr
    assert sandbox.status("pg-orders", approved) == "Rejected"
    assert sandbox.count("PUT") == 1


def test_server_not_ready_exits_5_without_writing(sandbox: Sandbox) -> None:
    sandbox.seed(
        scenario(
            [
                server("pg-stopped", [connection("pe-a")], state="Stopped"),
                server("pg-busy", [connection("pe-b")], state="Updating"),
            ]
        )
    )
    for srv in ("pg-stopped", "pg-busy"):
        name = sandbox.names(srv, "Pending")[0]
        run = sandbox.azpe("reject", "-g", RG, "-s", srv, "-n", name, "-o", "jsonl")
        assert run.code == 5, run
        (record,) = run.lines
        assert (record["action"], record["status"], record["error"]["code"]) == (
            "failed",
            "Pending",
            "ServerNotReady",
        )
        state = "Stopped" if srv == "pg-stopped" else "Updating"
        # A Stopped server does not become Ready by itself: start it, waiting will not help.
        hint = f"az postgres flexible-server start -g {RG} -n {srv}" if state == "Stopped" else "--wait-ready"
        assert f"server {srv} is {state}" in run.stderr and "not Ready" in run.stderr and hint in run.stderr
        assert sandbox.status(srv, name) == "Pending"
    assert sandbox.writes() == []


def test_wait_ready_waits_for_a_server_that_becomes_ready(sandbox: Sandbox) -> None:
    name = sandbox.names("pg-reports", "Pending")[0]
    sandbox.em.set_server_state(SUB, RG, "pg-reports", "Updating", ready_after=5)
    run = sandbox.azpe(
        "reject", "-g", RG, "-s", "pg-reports", "-n", name, "--wait-ready", "30", "-o", "jsonl"
    )
    assert run.code == 0, run
    (record,) = run.lines
    assert (record["action"], record["status"], record["attempts"]) == ("rejected", "Rejected", 1)
    assert sandbox.status("pg-reports", name) == "Rejected"
    (put,) = sandbox.requests("PUT", PEC)
    assert put["status"] == 202  # the write went out once the server was Ready, not before
    server_reads = sandbox.requests("GET", "*/flexibleServers/pg-reports")
    assert len(server_reads) >= 2  # the plan's read, then the readiness poll
