"""Read commands against the emulator with the real az: ``--version``, ``server show``,
``list`` at every scope, ``show``, the output formats and ``--query``; not found (3), bad input
(2), and az without a login (4)."""

from __future__ import annotations

from typing import Any

from azpe.sandbox import connection, default_scenario, scenario, server
from tests.e2e.conftest import RG, SUB, TYPE, Sandbox, connection_id, server_id

RECORD_KEYS = {
    "id", "name", "subscription", "resourceGroup", "server", "status", "description",
    "actionsRequired", "provisioningState", "privateEndpointId", "privateEndpointSubscription",
    "privateEndpointResourceGroup", "groupIds",
}  # fmt: skip


def two_groups() -> dict[str, Any]:
    """The default scenario plus a second resource group, rg-other, with one server."""
    data = default_scenario()
    other = scenario([server("pg-other", [connection("pe-other-team")])], resource_group="rg-other")
    data["subscriptions"][0]["resourceGroups"] += other["subscriptions"][0]["resourceGroups"]
    return data


def test_version_runs_no_az(sandbox: Sandbox) -> None:
    run = sandbox.azpe("--version")
    assert run.code == 0, run
    assert run.stdout.startswith("azpe ") and run.stdout.strip().split()[1][0].isdigit()
    assert run.stderr == ""
    assert sandbox.em.requests() == []


def test_server_show(sandbox: Sandbox) -> None:
    run = sandbox.azpe("server", "show", "-g", RG, "-s", "pg-orders")
    assert run.code == 0, run
    assert run.json == {
        "id": server_id("pg-orders"),
        "name": "pg-orders",
        "subscription": SUB,
        "resourceGroup": RG,
        "state": "Ready",
        "publicNetworkAccess": "Disabled",
        "connections": {"Pending": 2, "Approved": 1, "Rejected": 1},
    }
    assert run.stderr == ""
    # One az call, one request: the server GET carries state and connections.
    assert [(r["method"], r["path"]) for r in sandbox.em.requests()] == [("GET", server_id("pg-orders"))]

    sandbox.em.set_server_state(SUB, RG, "pg-reports", "Updating")
    run = sandbox.azpe("server", "show", "--server-id", server_id("pg-reports"), "-o", "tsv")
    assert run.code == 0, run
    assert run.stdout == (
        f"{server_id('pg-reports')}\tpg-reports\t{SUB}\t{RG}\tUpdating\tEnabled\t"
        "Pending=1 Approved=1 Rejected=0\n"
    )


def test_list_at_every_scope_and_status(sandbox: Sandbox) -> None:
    sandbox.seed(two_groups())
    server_scope = sandbox.azpe("list", "-g", RG, "-s", "pg-orders")
    assert server_scope.code == 0, server_scope
    records = server_scope.json
    assert [r["status"] for r in records] == ["Pending", "Pending", "Approved", "Rejected"]
    assert all(set(r) == RECORD_KEYS for r in records)
    first = records[0]
    assert first["id"] == connection_id("pg-orders", first["name"])
    assert first["name"].startswith("pe-partner-etl.")
    assert (first["server"], first["resourceGroup"], first["subscription"]) == ("pg-orders", RG, SUB)
    assert first["description"] == "Please approve: nightly ETL"
    assert first["privateEndpointResourceGroup"] == "rg-network"
    assert first["privateEndpointId"].endswith("/privateEndpoints/pe-partner-etl")
    assert first["groupIds"] == ["postgresqlServer"]

    group_scope = sandbox.azpe("list", "-g", RG, "-o", "jsonl")
    assert group_scope.code == 0, group_scope
    assert [(r["server"], r["status"]) for r in group_scope.lines] == [
        ("pg-orders", "Pending"),
        ("pg-orders", "Pending"),
        ("pg-orders", "Approved"),
        ("pg-orders", "Rejected"),
        ("pg-reports", "Pending"),
        ("pg-reports", "Approved"),
    ]

    everywhere = sandbox.azpe("list", "--status", "Pending", "--status", "rejected", "-o", "jsonl")
    assert everywhere.code == 0, everywhere
    assert sorted((r["resourceGroup"], r["server"], r["status"]) for r in everywhere.lines) == [
        ("rg-data", "pg-orders", "Pending"),
        ("rg-data", "pg-orders", "Pending"),
        ("rg-data", "pg-orders", "Rejected"),
        ("rg-data", "pg-reports", "Pending"),
        ("rg-other", "pg-other", "Pending"),
    ]
    assert everywhere.stderr == ""
    # The subscription scope is one az call: the subscription-wide server list.
    assert [r["path"] for r in sandbox.requests("GET", "*/flexibleServers")] == [
        f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/{TYPE}",
        f"/subscriptions/{SUB}/providers/{TYPE}",
    ]

    by_id = sandbox.azpe("list", "--server-id", server_id("pg-other", "rg-other"), "-o", "ids")
    assert by_id.code == 0, by_id
    (only,) = sandbox.em.connections(SUB, "rg-other", "pg-other")
    assert by_id.stdout == connection_id("pg-other", only["name"], "rg-other") + "\n"


def test_output_formats_and_query(sandbox: Sandbox) -> None:
    pending = sandbox.names("pg-orders", "Pending")
    base = ("list", "-g", RG, "-s", "pg-orders", "--status", "Pending")

    table = sandbox.azpe(*base, "-o", "table")
    assert table.code == 0, table
    header, rule, *rows = table.stdout.splitlines()
    assert header.split() == [
        "Name", "Server", "Resource", "Group", "Status", "Owner", "Private", "Endpoint", "Subscription",
        "Description",
    ]  # fmt: skip
    assert set(rule) == {"-", " "}
    assert [row.split()[0] for row in rows] == pending
    assert all(row.split()[1:5] == ["pg-orders", RG, "Pending", "foreign"] for row in rows)

    tsv = sandbox.azpe(*base, "-o", "tsv")
    assert tsv.code == 0, tsv
    cells = [line.split("\t") for line in tsv.stdout.splitlines()]
    assert [c[1] for c in cells] == pending and all(len(c) == len(RECORD_KEYS) for c in cells)

    ids = sandbox.azpe(*base, "-o", "ids")
    assert ids.stdout.splitlines() == [connection_id("pg-orders", n) for n in pending]

    none = sandbox.azpe(*base, "-o", "none")
    assert (none.code, none.stdout, none.stderr) == (0, "", "")

    query = sandbox.azpe(
        "list", "-g", RG, "--query", "[?status=='Approved'].{n: name, s: server}", "-o", "tsv"
    )
    assert query.code == 0, query
    approved = sorted(
        (c["name"], s) for s in ("pg-orders", "pg-reports") for c in sandbox.em.connections(SUB, RG, s)
        if c["status"] == "Approved"
    )  # fmt: skip
    assert sorted(tuple(line.split("\t")) for line in query.stdout.splitlines()) == approved

    count = sandbox.azpe("list", "-g", RG, "--query", "length(@)")
    assert (count.code, count.stdout) == (0, "6\n")


def test_show_by_names_and_by_id(sandbox: Sandbox) -> None:
    name = sandbox.names("pg-orders", "Approved")[0]
    by_names = sandbox.azpe("show", "-g", RG, "-s", "pg-orders", "-n", name)
    assert by_names.code == 0, by_names
    record = by_names.json
    assert set(record) == RECORD_KEYS
    assert (record["id"], record["status"], record["description"]) == (
        connection_id("pg-orders", name),
        "Approved",
        "Auto-approved",
    )
    assert record["privateEndpointSubscription"] == SUB  # an endpoint of our own subscription

    by_id = sandbox.azpe("show", "--id", connection_id("pg-orders", name.upper()), "-o", "json")
    assert by_id.code == 0, by_id
    assert by_id.json == record  # Azure names are case-insensitive; the record has the real one
    assert by_id.stderr == ""

    query = sandbox.azpe("show", "--id", record["id"], "--query", "status", "-o", "tsv")
    assert (query.code, query.stdout) == (0, "Approved\n")
    assert sandbox.count("PUT") == 0 and sandbox.count("DELETE") == 0


def test_not_found_exits_3(sandbox: Sandbox) -> None:
    missing_server = sandbox.azpe("server", "show", "-g", RG, "-s", "pg-nope")
    assert missing_server.code == 3, missing_server
    assert missing_server.stdout == ""
    assert missing_server.stderr.startswith("azpe: error: ")
    assert "pg-nope" in missing_server.stderr and "Traceback" not in missing_server.stderr

    missing_group = sandbox.azpe("list", "-g", "rg-nope")
    assert missing_group.code == 3, missing_group
    assert "rg-nope" in missing_group.stderr

    missing = "pe-nope.00000000-0000-0000-0000-000000000001"
    missing_connection = sandbox.azpe("show", "-g", RG, "-s", "pg-orders", "-n", missing)
    assert missing_connection.code == 3, missing_connection
    assert missing_connection.stdout == ""
    assert f"azpe: error: server pg-orders has no private endpoint connection '{missing}'" in (
        missing_connection.stderr
    )

    # A write: every target gets a record, and the exit code says why.
    write = sandbox.azpe("reject", "--id", connection_id("pg-nope", missing), "--id",
                         connection_id("pg-orders", missing), "-o", "jsonl")  # fmt: skip
    assert write.code == 3, write
    records = write.lines
    assert [(r["server"], r["action"], r["error"]["code"]) for r in records] == [
        ("pg-nope", "failed", "ResourceNotFound"),
        ("pg-orders", "failed", "ResourceNotFound"),
    ]
    assert "Traceback" not in write.stderr
    assert sandbox.writes() == []


def test_bad_input_exits_2_before_any_request(sandbox: Sandbox) -> None:
    pending = sandbox.names("pg-orders", "Pending")[0]
    good_id = connection_id("pg-orders", pending)
    cases = [
        (("show", "--id", "/subscriptions/nope/whatever"), "not a PostgreSQL flexible server"),
        (("server", "show", "-g", RG, "-s", "PG_Orders"), "invalid flexible server name 'PG_Orders'"),
        (("reject", "-g", "rg data!", "-s", "pg-orders", "-n", pending), "invalid resource group name"),
        (("reject", "-g", RG, "-s", "pg-orders", "-n", "-rf"), "invalid private endpoint connection"),
        (("reject", "--id", good_id, "--status", "Maybe", "--yes"), "invalid --status 'Maybe'"),
        (("list", "-g", RG, "--query", "[[["), "invalid --query"),
        (("list", "-g", RG, "-o", "yaml"), "invalid output format 'yaml'"),
        (("list", "-s", "pg-orders"), "-s/--server needs -g/--resource-group"),
        (("reject",), "no targets given"),
        (("delete", "--id", good_id, "-d", "why", "--yes"), "delete takes no --description"),
        (("approve", "--id", good_id, "--subscription", "-x"), "invalid subscription"),
    ]
    for args, message in cases:
        run = sandbox.azpe(*args)
        assert run.code == 2, (args, str(run))
        assert run.stdout == "", args
        assert run.stderr.startswith("azpe: error: ") and message in run.stderr, (args, run.stderr)
        assert "Traceback" not in run.stderr, args

    stdin = f"# targets\n{good_id}\n/subscriptions/{SUB}/resourceGroups/{RG}\n"
    run = sandbox.azpe("reject", "--id", "-", stdin=stdin)
    assert run.code == 2, run
    assert run.stderr.startswith("azpe: error: stdin line 3: not a PostgreSQL flexible server")

    unknown_option = sandbox.azpe("list", "--bogus")  # Click's own usage error
    assert unknown_option.code == 2 and "No such option" in unknown_option.stderr
    assert "Traceback" not in unknown_option.stderr
    assert sandbox.em.requests() == []


def test_az_not_logged_in_exits_4(sandbox: Sandbox) -> None:
    empty = sandbox.tmp_path / "fresh-azure-config"
    empty.mkdir()
    env = sandbox.env | {"AZURE_CONFIG_DIR": str(empty)}
    run = sandbox.azpe("list", "-g", RG, env=env)
    assert run.code == 4, run
    assert run.stdout == ""
    assert run.stderr.startswith("azpe: error: ") and "az login" in run.stderr
    assert "Traceback" not in run.stderr

    write = sandbox.azpe("reject", "--id", connection_id("pg-orders", "pe-x.1"), "-o", "jsonl", env=env)
    assert write.code == 4, write
    assert write.lines[0]["error"]["code"] == "NotLoggedIn"
    assert sandbox.em.requests() == []

    missing_az = sandbox.azpe("list", "--az", str(sandbox.tmp_path / "no-az-here"))
    assert missing_az.code == 4, missing_az
    assert "azpe: error: az not found" in missing_az.stderr
    assert sandbox.em.requests() == []
