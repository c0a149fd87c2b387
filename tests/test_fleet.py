"""Fleets: several subscriptions, owner and endpoint filters, server list, --shard, -n by
endpoint name (az faked with the real az's recorded answers)."""

from __future__ import annotations

import io
import json
import sys
from typing import Any

import pytest
from pytest_subprocess import FakeProcess

from azpe.cli import app
from azpe.targets import Shard
from tests.azsamples import FOREIGN_SUB, RG, SUB, conn, connection_raw, dumps, sdk_error, server_json
from tests.clihelp import list_argv, records, run, show_argv
from tests.fleethelp import account_list_argv, recorded, register_accounts

APPS = "00000000-0000-0000-0000-00000000bbbb"  # the login's second Enabled subscription
LOCKED = "00000000-0000-0000-0000-00000000cccc"  # Enabled, but the login may read nothing
PE1 = "pe-foreign.11111111-1111-1111-1111-111111111111"
PE2 = "pe-other.22222222-2222-2222-2222-222222222222"
OWN_PE = "pe-dr.33333333-3333-3333-3333-333333333333"

FORBIDDEN = recorded("postgres-list-no-access")["stderr"]  # the real az's 403 on LOCKED


def own(connection: dict[str, Any], subscription: str = APPS) -> dict[str, Any]:
    """The connection from an endpoint in one of the login's subscriptions."""
    endpoint = connection["privateEndpoint"]["id"].replace(FOREIGN_SUB, subscription)
    return connection | {"privateEndpoint": {"id": endpoint, "resourceGroup": "rg-apps"}}


def servers(subscription: str, *items: tuple[str, list[dict[str, Any]]]) -> str:
    """``flexible-server list`` of servers in ``subscription`` (their IDs in it)."""
    listing = [server_json(c, server=name) for name, c in items]
    return dumps(listing).replace(f"/subscriptions/{SUB}/", f"/subscriptions/{subscription}/")


def two_subscriptions(fp: FakeProcess, az: str, runs: int = 1) -> None:
    fp.register(list_argv(az, sub=SUB), stdout=servers(SUB, ("pg-orders", [conn(PE1)])), occurrences=runs)
    fp.register(
        list_argv(az, sub=APPS),
        occurrences=runs,
        stdout=servers(
            APPS,
            ("pg-apps", [conn(PE2, server="pg-apps"), own(conn(OWN_PE, server="pg-apps"))]),
        ),
    )


# -- scope across subscriptions ----------------------------------------------------------------


def test_list_over_two_subscriptions_reads_each_and_merges_in_the_order_given(
    fp: FakeProcess, fake_az: str
) -> None:
    two_subscriptions(fp, fake_az)
    result = run("list", "--subscription", APPS, "--subscription", SUB)
    assert result.exit_code == 0, result.stderr
    assert [(r["subscription"], r["name"]) for r in records(result)] == [
        (APPS, PE2),
        (APPS, OWN_PE),
        (SUB, PE1),
    ]
    assert fp.call_count(list_argv(fake_az, sub=SUB)) == 1
    assert fp.call_count(list_argv(fake_az, sub=APPS)) == 1


def test_an_unreadable_subscription_is_reported_and_the_others_are_listed(
    fp: FakeProcess, fake_az: str
) -> None:
    two_subscriptions(fp, fake_az)
    fp.register(list_argv(fake_az, sub=LOCKED), stderr=FORBIDDEN, returncode=1)
    result = run("list", "--subscription", SUB, "--subscription", LOCKED, "--subscription", APPS)
    assert result.exit_code == 4, result.stderr  # not allowed: the login's problem
    assert {r["name"] for r in records(result)} == {PE1, PE2, OWN_PE}
    [line] = [x for x in result.stderr.splitlines() if x.startswith("azpe: error:")]
    assert line.startswith(f"azpe: error: subscription {LOCKED}: ")
    assert "does not have authorization" in line


def test_all_subscriptions_takes_the_logins_enabled_ones(fp: FakeProcess, fake_az: str) -> None:
    register_accounts(fp, fake_az, every=False)  # aaaa, bbbb, cccc: Enabled; dddd Disabled is left out
    register_accounts(fp, fake_az, every=True)
    two_subscriptions(fp, fake_az)
    fp.register(list_argv(fake_az, sub=LOCKED), stderr=FORBIDDEN, returncode=1)
    result = run("server", "list", "--all-subscriptions")
    assert result.exit_code == 4, result.stderr
    assert (
        "not in scope: subscription azpe-sandbox-disabled (00000000-0000-0000-0000-00000000dddd) is Disabled"
        in (result.stderr)
    )
    assert [(r["subscription"], r["name"], r["connections"]["Pending"]) for r in records(result)] == [
        (SUB, "pg-orders", 1),
        (APPS, "pg-apps", 2),
    ]
    assert fp.call_count(account_list_argv(fake_az, every=False)) == 1
    assert fp.call_count(list_argv(fake_az, sub="00000000-0000-0000-0000-00000000dddd")) == 0


def test_a_group_in_some_subscriptions_only_is_listed_where_it_is(fp: FakeProcess, fake_az: str) -> None:
    missing = sdk_error("ResourceGroupNotFound", f"Resource group '{RG}' could not be found.")
    fp.register(list_argv(fake_az, rg=RG, sub=SUB), stdout=servers(SUB, ("pg-orders", [conn(PE1)])))
    fp.register(list_argv(fake_az, rg=RG, sub=APPS), stderr=missing, returncode=3)
    result = run("list", "-g", RG, "--subscription", SUB, "--subscription", APPS)
    assert result.exit_code == 0, result.stderr
    assert [r["name"] for r in records(result)] == [PE1]


def test_a_group_in_none_of_the_subscriptions_is_not_found(fp: FakeProcess, fake_az: str) -> None:
    missing = sdk_error("ResourceGroupNotFound", "Resource group 'rg-x' could not be found.")
    for sub in (SUB, APPS):
        fp.register(list_argv(fake_az, rg="rg-x", sub=sub), stderr=missing, returncode=3)
    result = run("list", "-g", "rg-x", "--subscription", SUB, "--subscription", APPS)
    assert result.exit_code == 3
    assert "resource group 'rg-x' is in none of the 2 subscriptions" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-g", RG, "-s", "pg-orders", "--subscription", SUB, "--subscription", APPS], "name one server"),
        (["--all-subscriptions", "--subscription", SUB], "not both"),
        (["--server-id", f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.DBforPostgreSQL/"
          "flexibleServers/pg-orders", "--all-subscriptions"], "does not go with several"),
    ],
)  # fmt: skip
def test_one_server_does_not_go_with_several_subscriptions(
    fp: FakeProcess, args: list[str], message: str
) -> None:
    result = run("list", *args)
    assert result.exit_code == 2
    assert message in result.stderr
    assert len(fp.calls) == 0  # nothing ran


# -- whose endpoint ----------------------------------------------------------------------------


def test_owner_filter_uses_every_subscription_of_the_login(fp: FakeProcess, fake_az: str) -> None:
    two_subscriptions(fp, fake_az, runs=2)
    register_accounts(fp, fake_az, every=True, occurrences=2)
    result = run("list", "--subscription", SUB, "--subscription", APPS, "--owner", "foreign")
    assert result.exit_code == 0, result.stderr
    assert [(r["name"], r["owner"]) for r in records(result)] == [(PE1, "foreign"), (PE2, "foreign")]
    result = run("list", "--subscription", SUB, "--subscription", APPS, "--owner", "own")
    assert [(r["name"], r["owner"]) for r in records(result)] == [(OWN_PE, "own")]


def test_a_disabled_subscription_of_the_login_is_own(fp: FakeProcess, fake_az: str) -> None:
    """az account list --all holds the Disabled one (dddd): its endpoints are ours too."""
    disabled = "00000000-0000-0000-0000-00000000dddd"
    listing = servers(SUB, ("pg-orders", [own(conn(OWN_PE), disabled), conn(PE1)]))
    fp.register(list_argv(fake_az), stdout=listing)
    register_accounts(fp, fake_az, every=True)
    result = run("list", "--owner", "own")
    assert [r["name"] for r in records(result)] == [OWN_PE]


def test_the_organisation_of_a_policy_file_counts_as_own(
    fp: FakeProcess, fake_az: str, tmp_path: Any
) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text(f'[organisation]\nsubscriptions = ["{FOREIGN_SUB}"]\n', encoding="utf-8")
    fp.register(list_argv(fake_az), stdout=servers(SUB, ("pg-orders", [conn(PE1)])))
    register_accounts(fp, fake_az, every=True)
    result = run("list", "--owner", "foreign", "--organisation", str(policy))
    assert result.exit_code == 0, result.stderr
    assert records(result) == []


def test_endpoint_name_glob_and_endpoint_subscription(fp: FakeProcess, fake_az: str) -> None:
    two_subscriptions(fp, fake_az, runs=2)
    both = ["--subscription", SUB, "--subscription", APPS]
    result = run("list", *both, "--endpoint", "PE-O*")  # globs match without case, as Azure names
    assert [r["name"] for r in records(result)] == [PE2]
    result = run("list", *both, "--endpoint-subscription", APPS)
    assert [r["name"] for r in records(result)] == [OWN_PE]
    assert fp.call_count(account_list_argv(fake_az, every=True)) == 0  # no owner asked: no call


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--owner", "ours"], "invalid --owner"),
        (["--endpoint-subscription", "prod"], "not a subscription ID"),
        (["--endpoint", "-x"], "invalid --endpoint"),
    ],
)
def test_bad_endpoint_filters_are_usage_errors(fp: FakeProcess, args: list[str], message: str) -> None:
    result = run("list", *args)
    assert result.exit_code == 2
    assert message in result.stderr
    assert len(fp.calls) == 0


def test_a_write_filters_only_a_status_selection(fp: FakeProcess) -> None:
    result = run("reject", "--id", f"/subscriptions/{SUB}/x", "--owner", "foreign")
    assert result.exit_code == 2
    assert len(fp.calls) == 0


def test_reject_foreign_pending_across_subscriptions_leaves_own_endpoints(
    fp: FakeProcess, fake_az: str
) -> None:
    two_subscriptions(fp, fake_az)
    register_accounts(fp, fake_az, every=True)
    rejected = {
        (SUB, "pg-orders", PE1): connection_raw(PE1),
        (APPS, "pg-apps", PE2): connection_raw(PE2, server="pg-apps"),
    }
    for (sub, server, name), answer in rejected.items():
        argv = [
            fake_az, "network", "private-endpoint-connection", "reject",
            "--resource-group", RG, "--resource-name", server,
            "--type", "Microsoft.DBforPostgreSQL/flexibleServers", "--name", name,
            "--subscription", sub, "--only-show-errors", "-o", "json",
        ]  # fmt: skip
        fp.register(argv, stdout=dumps(answer).replace(f"/subscriptions/{SUB}/", f"/subscriptions/{sub}/"))
        fp.register(show_argv(fake_az, server=server, sub=sub), occurrences=2, stdout=servers(sub, (server, [
            conn(name, "Rejected", server=server)])).removeprefix("[").removesuffix("]"))  # fmt: skip
    result = run(
        "reject", "--subscription", SUB, "--subscription", APPS, "--status", "Pending",
        "--owner", "foreign", "--yes",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert sorted((r["name"], r["action"], r["owner"]) for r in records(result)) == [
        (PE1, "rejected", "foreign"),
        (PE2, "rejected", "foreign"),
    ]
    writes = [c for c in fp.calls if "reject" in c]
    assert len(writes) == 2  # the own endpoint's connection was never written


def test_a_write_over_subscriptions_reports_the_unreadable_one_in_its_results(
    fp: FakeProcess, fake_az: str
) -> None:
    register_accounts(fp, fake_az)  # a bulk write says whose each endpoint is
    fp.register(list_argv(fake_az, sub=SUB), stdout=servers(SUB, ("pg-orders", [conn(PE1, "Rejected")])))
    fp.register(list_argv(fake_az, sub=LOCKED), stderr=FORBIDDEN, returncode=1)
    result = run("reject", "--subscription", SUB, "--subscription", LOCKED, "--status", "Rejected", "--yes")
    assert result.exit_code == 4, result.stderr
    [failed] = [r for r in records(result) if r["action"] == "failed"]
    assert failed["id"] == f"/subscriptions/{LOCKED}"
    assert failed["error"]["code"] == "AuthorizationFailed"
    assert "1 subscription(s) not read" in result.stderr


class TerminalInput(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_prompt_says_whose_each_endpoint_is_and_counts_them(
    fp: FakeProcess, fake_az: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    two_subscriptions(fp, fake_az)
    register_accounts(fp, fake_az, every=True)
    monkeypatch.setattr(sys, "stdin", TerminalInput("n\n"))
    with pytest.raises(SystemExit) as done:
        app(
            ["reject", "--subscription", SUB, "--subscription", APPS, "--status", "Pending"], prog_name="azpe"
        )
    _out, err = capsys.readouterr()
    assert done.value.code == 6
    assert f"  pg-apps/{OWN_PE} (Pending)  [own]\n" in err
    assert f"  pg-orders/{PE1} (Pending)  [foreign]\n" in err
    assert "azpe: endpoints: 1 own, 2 foreign\n" in err
    assert "azpe: warning: 1 of them is an endpoint of your own subscriptions\n" in err
    assert not [c for c in fp.calls if "reject" in c]


# -- -n by endpoint name -----------------------------------------------------------------------


def test_n_given_an_endpoint_name_takes_its_one_connection(fp: FakeProcess, fake_az: str) -> None:
    fp.register(show_argv(fake_az), stdout=dumps(server_json([conn(PE1), conn(PE2)])))
    result = run("reject", "-g", RG, "-s", "pg-orders", "-n", "pe-foreign", "--dry-run")
    assert result.exit_code == 0, result.stderr
    [planned] = records(result)
    assert planned["name"] == PE1
    assert planned["command"][planned["command"].index("--name") + 1] == PE1


def test_n_given_an_endpoint_name_of_several_connections_names_them(fp: FakeProcess, fake_az: str) -> None:
    twin = "pe-foreign.44444444-4444-4444-4444-444444444444"
    fp.register(show_argv(fake_az), stdout=dumps(server_json([conn(PE1), conn(twin)])))
    result = run("reject", "-g", RG, "-s", "pg-orders", "-n", "pe-foreign", "--dry-run")
    assert result.exit_code == 2
    assert f"fits 2 connections on server pg-orders: {PE1}, {twin}" in result.stderr
    assert records(result)[0]["action"] == "failed"


def test_show_takes_an_endpoint_name(fp: FakeProcess, fake_az: str) -> None:
    fp.register(show_argv(fake_az), stdout=dumps(server_json([conn(PE1), conn(PE2)])))
    result = run("show", "-g", RG, "-s", "pg-orders", "-n", "pe-other")
    assert result.exit_code == 0, result.stderr
    assert records(result)["name"] == PE2


# -- --shard -----------------------------------------------------------------------------------


def test_shards_split_the_servers_into_disjoint_parts_that_cover_them_all(
    fp: FakeProcess, fake_az: str
) -> None:
    names = [f"pg-{i:02d}" for i in range(24)]
    listing = servers(SUB, *((n, [conn(PE1, server=n)]) for n in names))
    fp.register(list_argv(fake_az), stdout=listing, occurrences=4)
    parts = []
    for k in range(1, 5):
        result = run("server", "list", "--shard", f"{k}/4")
        assert result.exit_code == 0, result.stderr
        parts.append([r["name"] for r in records(result)])
    assert sorted(n for part in parts for n in part) == names
    assert all(parts), parts  # 24 servers in 4 parts: none empty
    again = Shard(2, 4)
    assert [n for n in names if again.holds(json.loads(listing)[names.index(n)]["id"])] == parts[1]


@pytest.mark.parametrize("value", ["0/4", "5/4", "1/0", "a/b", "1/1001", "2"])
def test_bad_shards_are_usage_errors(fp: FakeProcess, value: str) -> None:
    result = run("server", "list", "--shard", value)
    assert result.exit_code == 2
    assert "invalid --shard" in result.stderr
    assert len(fp.calls) == 0


def test_a_shard_does_not_take_named_targets(fp: FakeProcess) -> None:
    result = run("reject", "--id", "-", "--shard", "1/2", "--yes", stdin="")
    assert result.exit_code == 2
    assert "--shard splits the servers of a scope" in result.stderr


# -- enforce over subscriptions ------------------------------------------------------------------

POLICY = f"""
[organisation]
subscriptions = ["{SUB}", "{APPS}"]

[pending]
matched = "approve"
unmatched = "reject"

[[allow]]
name = "own"
subscription = "{APPS}"
"""


def test_enforce_plans_over_every_subscription_and_reports_the_unreadable(
    fp: FakeProcess, fake_az: str, tmp_path: Any
) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text(POLICY, encoding="utf-8")
    register_accounts(fp, fake_az, every=False)
    register_accounts(fp, fake_az, every=True)
    two_subscriptions(fp, fake_az)
    fp.register(list_argv(fake_az, sub=LOCKED), stderr=FORBIDDEN, returncode=1)
    result = run("enforce", "--policy", str(policy), "--all-subscriptions", "--check")
    decisions = {r["name"]: r["decision"] for r in records(result)}
    assert decisions == {PE1: "reject", PE2: "reject", OWN_PE: "approve"}
    assert result.exit_code == 1, result.stderr  # drift (7) and a 403 (4): mixed reasons
    assert f"azpe: error: subscription {LOCKED}: " in result.stderr


def test_enforce_check_without_drift_still_says_a_subscription_was_not_read(
    fp: FakeProcess, fake_az: str, tmp_path: Any
) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text(POLICY, encoding="utf-8")
    fp.register(
        list_argv(fake_az, sub=APPS), stdout=servers(APPS, ("pg-apps", [own(conn(OWN_PE, "Approved"))]))
    )
    fp.register(list_argv(fake_az, sub=LOCKED), stderr=FORBIDDEN, returncode=1)
    result = run(
        "enforce", "--policy", str(policy), "--subscription", APPS, "--subscription", LOCKED, "--check"
    )
    assert result.exit_code == 4, result.stderr  # nothing to change where it could read; one it could not


def test_a_write_in_a_disabled_subscription_fails_once_not_waited_for_as_busy(
    fp: FakeProcess, fake_az: str
) -> None:
    """ARM answers 409 Conflict, as for a busy server, but with ReadOnlyDisabledSubscription:
    a refusal for good (exit 1, one try), never a busy server to wait for."""
    sample = recorded("network-reject-disabled-subscription")
    disabled = "00000000-0000-0000-0000-00000000dddd"
    target = sample["argv"][sample["argv"].index("--id") + 1]
    srv = target.split("/privateEndpointConnections/")[0]
    name = target.rsplit("/", 1)[1]
    rg, server = srv.split("/")[4], srv.split("/")[-1]
    listing = servers(disabled, (server, [conn(name, server=server)])).replace(
        f"/resourceGroups/{RG}/", f"/resourceGroups/{rg}/"
    )
    fp.register(
        show_argv(fake_az, server=server, rg=rg, sub=disabled),
        stdout=dumps(json.loads(listing)[0]),
        occurrences=3,
    )
    write = [
        fake_az, "network", "private-endpoint-connection", "reject",
        "--resource-group", rg, "--resource-name", server,
        "--type", "Microsoft.DBforPostgreSQL/flexibleServers", "--name", name,
        "--subscription", disabled, "--only-show-errors", "-o", "json",
    ]  # fmt: skip
    fp.register(write, stderr=sample["stderr"], returncode=sample["returncode"], occurrences=5)
    result = run("reject", "--id", target)
    assert result.exit_code == 1, result.stderr
    [failed] = records(result)
    assert failed["error"]["code"] == "ReadOnlyDisabledSubscription", failed["error"]
    assert fp.call_count(write) == 1


def test_the_audit_trail_says_a_subscription_was_not_read(
    fp: FakeProcess, fake_az: str, tmp_path: Any
) -> None:
    register_accounts(fp, fake_az)  # a bulk write says whose each endpoint is
    account = {"user": {"name": "dba@example.com", "type": "user"}, "tenantId": "t"}
    fp.register([fake_az, "account", "show", "--only-show-errors", "-o", "json"], stdout=dumps(account))
    fp.register(list_argv(fake_az, sub=SUB), stdout=servers(SUB, ("pg-orders", [conn(PE1, "Rejected")])))
    fp.register(list_argv(fake_az, sub=LOCKED), stderr=FORBIDDEN, returncode=1)
    log = tmp_path / "audit.jsonl"
    result = run(
        "reject", "--subscription", SUB, "--subscription", LOCKED, "--status", "Rejected", "--yes",
        "--audit-log", str(log),
    )  # fmt: skip
    assert result.exit_code == 4, result.stderr
    [end] = [json.loads(line) for line in log.read_text().splitlines() if json.loads(line)["event"] == "end"]
    assert end["exitCode"] == 4
    assert end["results"]["subscriptionsNotRead"] == 1


# -- the pieces, directly ---------------------------------------------------------------------


def test_shard_and_scope_rules() -> None:
    from azpe.errors import UsageError
    from azpe.ids import parse_connection_id
    from azpe.targets import build_scope, build_selection, parse_shard

    with pytest.raises(UsageError, match="--shard splits the servers of a scope"):
        build_scope(RG, "pg-orders", None, shard=parse_shard("1/2"))
    scope = build_scope(RG, None, None, shard=parse_shard("1/2"))
    target = (
        f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.DBforPostgreSQL/flexibleServers/pg-a"
    )
    with pytest.raises(UsageError, match="does not take targets by name or ID"):
        build_selection(
            scope=scope, names=[], ids=[f"{target}/privateEndpointConnections/{PE1}"], statuses=["Pending"]
        )
    assert parse_connection_id(f"{target}/privateEndpointConnections/{PE1}").name == PE1


def test_accounts_and_owners_from_odd_output() -> None:
    from azpe.accounts import Owners, parse_accounts
    from azpe.errors import AzureError
    from azpe.models import Connection

    with pytest.raises(AzureError, match="no list"):
        parse_accounts({"id": SUB})
    with pytest.raises(AzureError, match="unexpected subscription"):
        parse_accounts([{"name": "no id"}])
    [account] = parse_accounts([{"id": SUB, "name": None, "state": 3}])
    assert (account.name, account.state) == ("", "")  # odd fields read as unknown
    without_endpoint = conn(PE1) | {"privateEndpoint": None}
    connection = Connection.from_az(without_endpoint)
    assert Owners.of([SUB]).owner(connection) is None  # whose, nobody can say


NOT_LOGGED_IN = "ERROR: Please run 'az login' to setup account.\n"


def test_a_table_whose_owners_cannot_be_listed_says_so_once_and_shows_none(
    fp: FakeProcess, fake_az: str
) -> None:
    fp.register(list_argv(fake_az), stdout=servers(SUB, ("pg-orders", [conn(PE1), conn(PE2)])))
    fp.register(account_list_argv(fake_az, every=True), stderr=NOT_LOGGED_IN, returncode=1)
    result = run("list", "-o", "table")
    assert result.exit_code == 0, result.stderr
    assert result.stderr.count("owner unknown: az account list --all failed") == 1
    assert PE1 in result.stdout
    assert not any(" foreign " in line or " own " in line for line in result.stdout.splitlines())


def test_an_owner_filter_whose_owners_cannot_be_listed_fails(fp: FakeProcess, fake_az: str) -> None:
    fp.register(list_argv(fake_az), stdout=servers(SUB, ("pg-orders", [conn(PE1)])))
    fp.register(account_list_argv(fake_az, every=True), stderr=NOT_LOGGED_IN, returncode=1)
    result = run("list", "--owner", "foreign")
    assert result.exit_code == 4
    assert result.stdout == ""  # nothing printed that the filter could not vouch for


def test_all_subscriptions_of_a_login_without_enabled_ones_is_an_error(fp: FakeProcess, fake_az: str) -> None:
    fp.register(account_list_argv(fake_az, every=False), stdout="[]")
    fp.register(account_list_argv(fake_az, every=True), stdout="[]")
    result = run("server", "list", "--all-subscriptions")
    assert result.exit_code == 4
    assert "no usable subscription" in result.stderr


def test_all_subscriptions_takes_a_warned_one_too(fp: FakeProcess, fake_az: str) -> None:
    """az account list shows Enabled subscriptions only; a Warned one (a billing warning)
    still takes writes, and is in scope: it comes from az account list --all."""
    every = json.loads(recorded("account-list-all")["stdout"])
    for account in every:
        if account["id"] == APPS:
            account["state"] = "Warned"
    enabled = [a for a in every if a["state"] == "Enabled"]
    fp.register(account_list_argv(fake_az, every=False), stdout=json.dumps(enabled))
    fp.register(account_list_argv(fake_az, every=True), stdout=json.dumps(every))
    two_subscriptions(fp, fake_az)
    fp.register(list_argv(fake_az, sub=LOCKED), stdout="[]")
    result = run("server", "list", "--all-subscriptions")
    assert result.exit_code == 0, result.stderr
    assert [r["name"] for r in records(result)] == ["pg-orders", "pg-apps"]


def test_an_ambiguous_endpoint_name_writes_nothing_at_all(fp: FakeProcess, fake_az: str) -> None:
    """Invalid input is exit 2 with nothing run, also when it shows only on reading."""
    twin = "pe-foreign.44444444-4444-4444-4444-444444444444"
    fp.register(show_argv(fake_az), stdout=dumps(server_json([conn(PE1), conn(twin), conn(PE2)])))
    result = run("reject", "-g", RG, "-s", "pg-orders", "-n", "pe-foreign", "-n", PE2, "-o", "json")
    assert result.exit_code == 2, result.stderr
    assert {r["name"]: r["action"] for r in records(result)} == {"pe-foreign": "failed", PE2: "skipped"}
    assert not [c for c in fp.calls if "reject" in c]


def test_a_writes_report_of_an_unread_subscription_feeds_back_as_nothing(
    fp: FakeProcess, fake_az: str
) -> None:
    register_accounts(fp, fake_az)  # a bulk write says whose each endpoint is
    unread = {"id": f"/subscriptions/{LOCKED}", "subscription": LOCKED, "action": "failed", "error": {}}
    target = f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.DBforPostgreSQL/flexibleServers/"
    report = [unread, {"id": f"{target}pg-orders/privateEndpointConnections/{PE1}", "action": "planned"}]
    fp.register(show_argv(fake_az, sub=SUB), stdout=dumps(server_json([conn(PE1)])))
    result = run("reject", "--id", "-", "--dry-run", stdin=json.dumps(report))
    assert result.exit_code == 0, result.stderr
    assert [r["name"] for r in records(result)] == [PE1]
    assert "stdin line 1: skipped: a subscription that was not read" in result.stderr


def test_endpoint_globs_match_the_connection_name_too_and_bad_globs_are_refused(
    fp: FakeProcess, fake_az: str
) -> None:
    fp.register(list_argv(fake_az), stdout=servers(SUB, ("pg-orders", [conn(PE1), conn(PE2)])))
    result = run("list", "--endpoint", PE2)  # the full name, as the table shows it
    assert [r["name"] for r in records(result)] == [PE2]
    bad = run("list", "--endpoint", "pe-[x")
    assert bad.exit_code == 2 and "invalid --endpoint" in bad.stderr


def test_tables_over_several_subscriptions_say_which_subscription(fp: FakeProcess, fake_az: str) -> None:
    two_subscriptions(fp, fake_az)
    result = run("server", "list", "--subscription", SUB, "--subscription", APPS, "-o", "table")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split()[:2] == ["Name", "Subscription"]
    assert lines[2].split()[:2] == ["pg-orders", SUB] and lines[3].split()[:2] == ["pg-apps", APPS]


def test_a_query_naming_the_owner_gets_it(fp: FakeProcess, fake_az: str) -> None:
    fp.register(list_argv(fake_az), stdout=servers(SUB, ("pg-orders", [conn(PE1)])))
    register_accounts(fp, fake_az)
    result = run("list", "--query", "[].[name, owner]", "-o", "tsv")
    assert result.stdout == f"{PE1}\tforeign\n"


def test_the_prompt_names_what_the_lock_out_guard_refuses_before_the_answer(
    fp: FakeProcess, fake_az: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    guarded = json.loads(servers(SUB, ("pg-orders", [conn(PE1, "Approved")])))  # its last Approved
    other = json.loads(servers(SUB, ("pg-other", [conn(PE2, server="pg-other")])))
    fp.register(list_argv(fake_az, rg=RG), stdout=dumps(guarded + other))
    register_accounts(fp, fake_az)
    monkeypatch.setattr(sys, "stdin", TerminalInput("n\n"))
    with pytest.raises(SystemExit) as done:
        app(["reject", "-g", RG, "--status", "Approved", "--status", "Pending"], prog_name="azpe")
    _out, err = capsys.readouterr()
    assert done.value.code == 6
    refused = f"azpe: refused by the lock-out guard (not written): pg-orders/{PE1}\n"
    assert refused in err and err.index(refused) < err.index("[y/N]")


def test_a_bulk_reject_without_a_prompt_still_warns_of_own_endpoints(fp: FakeProcess, fake_az: str) -> None:
    fp.register(
        list_argv(fake_az, sub=APPS), stdout=servers(APPS, ("pg-apps", [own(conn(OWN_PE, server="pg-apps"))]))
    )
    register_accounts(fp, fake_az)
    result = run("reject", "--subscription", APPS, "--status", "Pending", "--yes", "--dry-run")
    assert result.exit_code == 0, result.stderr
    assert f"azpe: warning: reject takes 1 endpoint(s) of your own subscriptions: pg-apps/{OWN_PE}\n" in (
        result.stderr
    )
    assert [r["owner"] for r in records(result)] == ["own"]


def test_the_logins_subscriptions_are_read_once_for_the_scope_and_the_owners(
    fp: FakeProcess, fake_az: str
) -> None:
    register_accounts(fp, fake_az, every=False, occurrences=2)
    register_accounts(fp, fake_az, every=True, occurrences=2)
    two_subscriptions(fp, fake_az)
    fp.register(list_argv(fake_az, sub=LOCKED), stdout="[]")
    result = run("list", "--all-subscriptions", "--owner", "foreign", "-o", "table")
    assert result.exit_code == 0, result.stderr
    assert fp.call_count(account_list_argv(fake_az, every=True)) == 1  # the scope's and the owners'
    assert fp.call_count(account_list_argv(fake_az, every=False)) == 1
