"""Fleets with the real az: several subscriptions (one the login may not read, one
Disabled), owner and endpoint filters, server list, --shard, -n by endpoint name."""

from __future__ import annotations

from typing import Any

import pytest

from azpe.sandbox.scenarios import (
    APPS_SUBSCRIPTION,
    DEFAULT_SUBSCRIPTION,
    DISABLED_SUBSCRIPTION,
    FOREIGN_SUBSCRIPTION,
    NO_ACCESS_SUBSCRIPTION,
    connection,
    default_scenario,
    server,
)
from tests.e2e.conftest import Sandbox

pytestmark = pytest.mark.e2e

SUB, APPS, LOCKED, DISABLED = (
    DEFAULT_SUBSCRIPTION,
    APPS_SUBSCRIPTION,
    NO_ACCESS_SUBSCRIPTION,
    DISABLED_SUBSCRIPTION,
)


def statuses(sandbox: Sandbox, sub: str, rg: str, srv: str) -> dict[str, str]:
    return {c["name"].split(".")[0]: c["status"] for c in sandbox.em.connections(sub, rg, srv)}


def test_list_all_subscriptions_reads_every_enabled_one_and_reports_the_unreadable(
    sandbox: Sandbox,
) -> None:
    run = sandbox.azpe("list", "--all-subscriptions", "--status", "Pending")
    assert run.code == 4, run  # the login may not read azpe-sandbox-locked
    subs = {r["subscription"] for r in run.json}
    assert subs == {SUB, APPS}  # the Disabled subscription is not in az account list
    errors = [line for line in run.stderr.splitlines() if line.startswith("azpe: error:")]
    assert len(errors) == 1 and errors[0].startswith(f"azpe: error: subscription {LOCKED}: "), run
    assert "does not have authorization" in errors[0]
    # One list per subscription, each in its own subscription:
    lists = sandbox.requests("GET", "/subscriptions/*/providers/Microsoft.DBforPostgreSQL/flexibleServers")
    assert sorted(r["path"].split("/")[2] for r in lists) == sorted([SUB, APPS, LOCKED])


def test_server_list_over_given_subscriptions_counts_connections(sandbox: Sandbox) -> None:
    run = sandbox.azpe("server", "list", "--subscription", APPS, "--subscription", "azpe-sandbox")
    assert run.code == 0, run
    rows = [
        (r["subscription"], r["name"], r["connections"]["Pending"], r["connections"]["Approved"])
        for r in run.json
    ]
    assert rows == [
        (APPS, "pg-billing", 2, 1),
        (APPS, "pg-inventory", 1, 2),
        (SUB, "pg-orders", 2, 1),
        (SUB, "pg-reports", 1, 1),
    ]  # subscriptions in the order given (a name works as az takes it), servers as az lists them
    table = sandbox.azpe("server", "list", "--subscription", APPS, "-o", "table")
    assert table.code == 0, table
    assert "pg-billing" in table.stdout and "Pending" in table.stdout.splitlines()[0] + table.stdout


def test_a_disabled_subscription_is_read_but_not_written(sandbox: Sandbox) -> None:
    listed = sandbox.azpe("list", "--subscription", DISABLED, "--status", "Pending")
    assert listed.code == 0, listed
    [pending] = listed.json
    run = sandbox.azpe("reject", "--id", pending["id"])
    assert run.code == 1, run
    [result] = run.json
    assert (result["action"], result["error"]["code"]) == ("failed", "ReadOnlyDisabledSubscription")
    assert statuses(sandbox, DISABLED, "rg-legacy", "pg-legacy")["pe-legacy-partner"] == "Pending"
    assert len(sandbox.writes()) == 1  # one try: a disabled subscription is not retried


def test_reject_foreign_pending_everywhere_leaves_own_endpoints_pending(sandbox: Sandbox) -> None:
    run = sandbox.azpe(
        "reject", "--all-subscriptions", "--status", "Pending", "--owner", "foreign", "--yes",
        "-d", "Not ours",
    )  # fmt: skip
    assert run.code == 4, run  # every readable subscription done; the locked one reported
    done = {r["name"].split(".")[0]: (r["action"], r.get("owner")) for r in run.json if r.get("name")}
    assert done == {
        "pe-partner-etl": ("rejected", "foreign"),
        "pe-unknown-4821": ("rejected", "foreign"),
        "pe-bi-reports": ("rejected", "foreign"),
        "pe-partner-invoicing": ("rejected", "foreign"),
        "pe-scanner-7731": ("rejected", "foreign"),
    }
    [unread] = [r for r in run.json if not r.get("name")]
    assert (unread["id"], unread["action"]) == (f"/subscriptions/{LOCKED}", "failed")
    # The DR endpoint lives in an own subscription: still Pending, never written.
    assert statuses(sandbox, APPS, "rg-apps", "pg-billing")["pe-billing-dr"] == "Pending"
    assert not any("pe-billing-dr" in w["path"] for w in sandbox.writes())


def test_endpoint_glob_and_endpoint_subscription_filters(sandbox: Sandbox) -> None:
    both = ("--subscription", SUB, "--subscription", APPS)
    run = sandbox.azpe("list", *both, "--endpoint", "pe-partner-*")
    assert run.code == 0, run
    assert sorted(r["name"].split(".")[0] for r in run.json) == ["pe-partner-etl", "pe-partner-invoicing"]
    run = sandbox.azpe("list", *both, "--endpoint-subscription", SUB, "-o", "table")
    assert run.code == 0, run
    names = {line.split()[0].split(".")[0] for line in run.stdout.splitlines()[2:]}
    assert names == {"pe-app-orders", "pe-app-reports", "pe-billing-dr"}
    assert all(" own " in line for line in run.stdout.splitlines()[2:])  # their owner column


def test_shards_split_the_servers_of_all_subscriptions(sandbox: Sandbox) -> None:
    everything = sandbox.azpe("server", "list", "--subscription", SUB, "--subscription", APPS)
    assert everything.code == 0, everything
    parts = []
    for k in (1, 2, 3):
        run = sandbox.azpe(
            "server", "list", "--subscription", SUB, "--subscription", APPS, "--shard", f"{k}/3"
        )
        assert run.code == 0, run
        parts.append([r["id"] for r in run.json])
    assert sorted(i for part in parts for i in part) == sorted(r["id"] for r in everything.json)
    again = sandbox.azpe("server", "list", "--subscription", SUB, "--subscription", APPS, "--shard", "2/3")
    assert [r["id"] for r in again.json] == parts[1]  # stable: the same servers on every run


def test_n_given_an_endpoint_name_rejects_its_one_connection(sandbox: Sandbox) -> None:
    run = sandbox.azpe("reject", "-g", "rg-data", "-s", "pg-orders", "-n", "pe-partner-etl")
    assert run.code == 0, run
    [result] = run.json
    assert result["name"].startswith("pe-partner-etl.") and result["action"] == "rejected"
    assert statuses(sandbox, SUB, "rg-data", "pg-orders")["pe-partner-etl"] == "Rejected"


def test_n_given_an_endpoint_name_with_two_connections_writes_nothing(sandbox: Sandbox) -> None:
    scenario: dict[str, Any] = default_scenario()
    orders = scenario["subscriptions"][0]["resourceGroups"][0]["servers"][0]
    twin = connection("pe-partner-etl", subscription=FOREIGN_SUBSCRIPTION, resource_group="rg-other")
    orders["connections"].append(twin)
    sandbox.seed(scenario)
    run = sandbox.azpe("reject", "-g", "rg-data", "-s", "pg-orders", "-n", "pe-partner-etl")
    assert run.code == 2, run
    assert "fits 2 connections on server pg-orders" in run.stderr
    assert sandbox.writes() == []


def test_reject_over_two_subscriptions_writes_in_each(sandbox: Sandbox) -> None:
    scenario: dict[str, Any] = default_scenario()
    apps = next(s for s in scenario["subscriptions"] if s["id"] == APPS)
    apps["resourceGroups"][0]["servers"].append(server("pg-extra", [connection("pe-extra")]))
    sandbox.seed(scenario)
    run = sandbox.azpe(
        "reject", "--subscription", SUB, "--subscription", APPS, "--status", "Pending",
        "--endpoint", "pe-extra", "--endpoint", "pe-bi-*", "--yes", "-o", "jsonl",
    )  # fmt: skip
    assert run.code == 0, run
    assert sorted((r["subscription"], r["server"], r["action"]) for r in run.lines) == [
        (SUB, "pg-reports", "rejected"),
        (APPS, "pg-extra", "rejected"),
    ]
    puts = sandbox.requests("PUT")
    assert sorted(p["path"].split("/")[2] for p in puts) == sorted([SUB, APPS])
