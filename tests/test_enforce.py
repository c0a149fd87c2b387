"""azpe enforce through the CLI, az faked: plan, --check, --explain, --apply and the audit log."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pytest_subprocess import FakeProcess

from tests.azsamples import (
    FOREIGN_SUB,
    SUB,
    conn,
    connection_id,
    connection_raw,
    dumps,
    endpoint_id,
    server_json,
)
from tests.clihelp import records, run, show_argv, write_argv

OWN_APP = "pe-app.11111111-1111-1111-1111-111111111111"
FOREIGN = "pe-foreign.22222222-2222-2222-2222-222222222222"
FOREIGN_OK = "pe-foreign-ok.33333333-3333-3333-3333-333333333333"
ADF = "adf-managed.44444444-4444-4444-4444-444444444444"
POLICY = f"""
[organisation]
subscriptions = ["{SUB}"]

[pending]
matched = "approve"
unmatched = "reject"
description = "not allowed by policy"

[approved]
review = true
description = "approved without a rule"

[[allow]]
name = "own"
subscription = "{SUB}"

[[allow]]
name = "data factory"
subscription = "{FOREIGN_SUB}"   # the service's subscription, as the plan shows it
endpoint = "adf-*"
"""


def population() -> str:
    own = conn(OWN_APP, "Pending")
    own["privateEndpoint"]["id"] = own["privateEndpoint"]["id"].replace(FOREIGN_SUB, SUB)
    return dumps(
        server_json(
            [own, conn(FOREIGN), conn(FOREIGN_OK, "Approved"), conn(ADF, "Approved")], public="Enabled"
        )
    )


@pytest.fixture
def policy(tmp_path: Path) -> str:
    path = tmp_path / "policy.toml"
    path.write_text(POLICY)
    return str(path)


def test_plan_shows_each_decision_with_its_rule_and_owner(fp: FakeProcess, fake_az: str, policy: str) -> None:
    fp.register(show_argv(fake_az), stdout=population())
    result = run("enforce", "--policy", policy, "-g", "rg-data", "-s", "pg-orders")
    assert result.exit_code == 0, result.stderr
    by_name = {r["name"]: r for r in records(result)}
    assert by_name[OWN_APP]["decision"] == "approve"
    assert by_name[OWN_APP]["rule"] == "own"
    assert by_name[OWN_APP]["endpointOwner"] == "own"
    assert by_name[FOREIGN]["decision"] == "reject"
    assert by_name[FOREIGN]["endpointOwner"] == "foreign"
    assert by_name[FOREIGN_OK]["decision"] == "reject"  # Approved, but no rule allows it
    assert by_name[ADF]["decision"] == "leave"
    assert by_name[ADF]["rule"] == "data factory"
    assert len(fp.calls) == 1  # planning writes nothing


def test_check_exits_7_on_drift(fp: FakeProcess, fake_az: str, policy: str) -> None:
    fp.register(show_argv(fake_az), stdout=population())
    result = run("enforce", "--policy", policy, "-g", "rg-data", "-s", "pg-orders", "--check", "-o", "none")
    assert result.exit_code == 7
    assert "3 to change" in result.stderr


def test_check_exits_0_when_compliant(fp: FakeProcess, fake_az: str, policy: str) -> None:
    fp.register(
        show_argv(fake_az), stdout=dumps(server_json([conn(ADF, "Approved"), conn(FOREIGN, "Rejected")]))
    )
    result = run("enforce", "--policy", policy, "-g", "rg-data", "-s", "pg-orders", "--check")
    assert result.exit_code == 0, result.stderr


def test_explain_shows_every_rule_field_by_field(fp: FakeProcess, fake_az: str, policy: str) -> None:
    fp.register(show_argv(fake_az, sub=SUB), stdout=population())
    result = run("enforce", "--policy", policy, "--explain", connection_id(ADF))
    assert result.exit_code == 0, result.stderr
    record = records(result)
    assert record["decision"] == "leave"
    assert record["rules"] == [
        {"name": "own", "matches": False, "fields": {"subscription": False}},
        {"name": "data factory", "matches": True, "fields": {"subscription": True, "endpoint": True}},
    ]


def test_apply_approves_first_then_rejects_and_audits_everything(
    fp: FakeProcess, fake_az: str, policy: str, tmp_path: Path
) -> None:
    audit = tmp_path / "audit.jsonl"
    fp.register(
        [fake_az, "account", "show", "--only-show-errors", "-o", "json"],
        stdout=dumps({"id": SUB, "tenantId": "t", "user": {"name": "dba@example.com", "type": "user"}}),
    )
    fp.register(show_argv(fake_az), stdout=population())
    # A server an earlier round wrote to is read again before the next round (fresh guard view),
    # and once more just before the write that takes its Approved connection away.
    fp.register(show_argv(fake_az, sub=SUB), stdout=population(), occurrences=3)
    fp.register(
        write_argv(fake_az, "approve", OWN_APP, sub=SUB), stdout=dumps(connection_raw(OWN_APP, "Approved"))
    )
    fp.register(
        write_argv(fake_az, "reject", FOREIGN, sub=SUB, description="not allowed by policy"),
        stdout=dumps(connection_raw(FOREIGN, "Rejected")),
    )
    fp.register(
        write_argv(fake_az, "reject", FOREIGN_OK, sub=SUB, description="approved without a rule"),
        stdout=dumps(connection_raw(FOREIGN_OK, "Rejected")),
    )
    result = run(
        "enforce",
        "--policy",
        policy,
        "-g",
        "rg-data",
        "-s",
        "pg-orders",
        "--apply",
        "--audit-log",
        str(audit),
    )
    assert result.exit_code == 0, result.stderr
    actions = [(r["name"], r["action"], r["rule"]) for r in records(result)]
    assert actions[0] == (OWN_APP, "approved", "own")
    assert set(actions[1:]) == {(FOREIGN, "rejected", None), (FOREIGN_OK, "rejected", None)}
    writes = [c for c in fp.calls if "private-endpoint-connection" in c]
    first = writes[0]
    assert isinstance(first, list) and first[3] == "approve"  # approvals first: they can only add access

    lines = [json.loads(line) for line in audit.read_text().splitlines()]
    assert [line["event"] for line in lines].count("decision") == 3
    assert [line["event"] for line in lines].count("outcome") == 3
    outcome = next(
        line for line in lines if line["event"] == "outcome" and line["connectionId"].endswith(FOREIGN)
    )
    assert outcome["identity"]["name"] == "dba@example.com"
    assert outcome["statusBefore"] == "Pending"
    assert outcome["statusAfter"] == "Rejected"
    assert outcome["description"] == "not allowed by policy"
    assert outcome["result"] == "rejected"
    assert outcome["time"].endswith("Z")
    approved = next(
        line for line in lines if line["event"] == "outcome" and line["connectionId"].endswith(OWN_APP)
    )
    assert approved["rule"] == "own"


def test_a_policy_mistake_stops_before_any_az_call(fp: FakeProcess, fake_az: str, tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('[pending]\nmatched = "approve"\n\n[[allow]]\nname = "x"\nendpoint = "pe-[oops"\n')
    result = run("enforce", "--policy", str(path), "-g", "rg-data")
    assert result.exit_code == 2
    assert f"{path}:6: bad glob" in result.stderr
    assert len(fp.calls) == 0


def test_apply_rejects_the_old_approved_once_its_replacement_is_approved(
    fp: FakeProcess, fake_az: str, tmp_path: Path
) -> None:
    # Public access Disabled: rejecting the only Approved connection would trip the guard, but
    # the policy approves its replacement first, and the reject round sees that.
    path = tmp_path / "policy.toml"
    path.write_text(POLICY)
    own = conn(OWN_APP, "Pending")
    own["privateEndpoint"]["id"] = own["privateEndpoint"]["id"].replace(FOREIGN_SUB, SUB)
    before = dumps(server_json([own, conn(FOREIGN_OK, "Approved")], public="Disabled"))
    approved = {**own, "privateLinkServiceConnectionState": {"status": "Approved", "description": None}}
    after = dumps(server_json([approved, conn(FOREIGN_OK, "Approved")], public="Disabled"))
    fp.register(show_argv(fake_az), stdout=before)
    fp.register(
        write_argv(fake_az, "approve", OWN_APP, sub=SUB), stdout=dumps(connection_raw(OWN_APP, "Approved"))
    )
    # The reject round plans on a fresh read, and the guard reads once more before the write.
    fp.register(show_argv(fake_az, sub=SUB), stdout=after, occurrences=2)
    fp.register(
        write_argv(fake_az, "reject", FOREIGN_OK, sub=SUB, description="approved without a rule"),
        stdout=dumps(connection_raw(FOREIGN_OK, "Rejected")),
    )
    result = run("enforce", "--policy", str(path), "-g", "rg-data", "-s", "pg-orders", "--apply")
    assert result.exit_code == 0, result.stderr
    assert [(r["name"], r["action"]) for r in records(result)] == [
        (OWN_APP, "approved"),
        (FOREIGN_OK, "rejected"),
    ]


# -- warnings in the plan: own endpoints rejected, rules that match nothing, the lock-out guard --


def own(name: str, status: str = "Pending", rg: str = "rg-apps") -> dict[str, object]:
    raw = conn(name, status)
    raw["privateEndpoint"]["id"] = endpoint_id(name.split(".")[0], sub=SUB, rg=rg)
    return raw


def write_policy(tmp_path: Path, text: str) -> str:
    path = tmp_path / "policy.toml"
    path.write_text(text)
    return str(path)


def test_plan_warns_when_it_would_reject_an_own_endpoint_and_when_a_rule_matched_nothing(
    fp: FakeProcess, fake_az: str, tmp_path: Path
) -> None:
    path = write_policy(
        tmp_path,
        f"""
[organisation]
subscriptions = ["{SUB}"]
[pending]
matched = "approve"
[[allow]]
name = "app"
subscription = "{SUB}"
resource_group = "rg-app"
[[allow]]
name = "retired vendor"
subscription = "{FOREIGN_SUB}"
endpoint = "pe-vendor-*"
""",
    )
    fp.register(
        show_argv(fake_az),
        stdout=dumps(server_json([own(OWN_APP, rg="rg-app-typo"), conn(FOREIGN)], public="Enabled")),
    )
    result = run("enforce", "--policy", path, "-g", "rg-data", "-s", "pg-orders", "--check")
    assert result.exit_code == 7
    by_name = {r["name"]: r for r in records(result)}
    assert by_name[OWN_APP]["decision"] == "reject"
    assert by_name[OWN_APP]["warnings"] == [f"rejects an endpoint of an own subscription ({SUB})"]
    assert by_name[FOREIGN]["decision"] == "reject"
    assert by_name[FOREIGN]["warnings"] == []  # a foreign endpoint rejected: what a policy is for
    lines = result.stderr.splitlines()
    assert f"azpe: warning: pg-orders/{OWN_APP}: rejects an endpoint of an own subscription ({SUB})" in lines
    assert "azpe: warning: rule 'retired vendor' matched no connection in scope" in lines
    assert "azpe: warning: rule 'app' matched no connection in scope" in lines
    assert not any("foreign" in line for line in lines if "warning" in line)


def test_a_quiet_plan_has_no_warnings(fp: FakeProcess, fake_az: str, policy: str) -> None:
    fp.register(show_argv(fake_az), stdout=population())
    result = run("enforce", "--policy", policy, "-g", "rg-data", "-s", "pg-orders")
    assert result.exit_code == 0, result.stderr
    assert all(r["warnings"] == [] for r in records(result))
    assert "warning" not in result.stderr


GUARDED = f"""
[organisation]
subscriptions = ["{SUB}"]
[pending]
unmatched = "reject"
description = "{{pending}}"
[approved]
review = true
description = "{{approved}}"
[[allow]]
name = "own"
subscription = "{SUB}"
"""


@pytest.mark.parametrize("same_description", [False, True])
def test_check_and_the_plan_say_when_the_lock_out_guard_will_refuse_a_step(
    fp: FakeProcess, fake_az: str, tmp_path: Path, same_description: bool
) -> None:
    # Public access Disabled, and the policy rejects the only Approved connection.
    texts = ("not allowed", "not allowed") if same_description else ("not allowed", "withdrawn")
    path = write_policy(tmp_path, GUARDED.format(pending=texts[0], approved=texts[1]))
    fp.register(show_argv(fake_az), stdout=dumps(server_json([conn(FOREIGN), conn(FOREIGN_OK, "Approved")])))
    result = run("enforce", "--policy", path, "-g", "rg-data", "-s", "pg-orders", "--check")
    assert result.exit_code == 7
    by_name = {r["name"]: r for r in records(result)}
    (refused,) = by_name[FOREIGN_OK]["warnings"]
    assert refused.startswith("the lock-out guard will refuse this reject: reject would remove the last")
    warned = [line for line in result.stderr.splitlines() if line.startswith("azpe: warning: pg-orders/")]
    assert f"azpe: warning: pg-orders/{FOREIGN_OK}: {refused}" in warned
    if same_description:  # one engine run holds the whole server: the Pending one waits too
        assert by_name[FOREIGN]["warnings"] == [
            "will not run: the lock-out guard refuses a reject on server pg-orders, "
            "so nothing on it is written"
        ]
        assert len(warned) == 2
    else:  # its own run, earlier, that removes no Approved connection: the guard lets it pass
        assert by_name[FOREIGN]["warnings"] == []
        assert len(warned) == 1


def test_the_plan_counts_approvals_before_rejections_so_a_replaced_connection_is_not_flagged(
    fp: FakeProcess, fake_az: str, policy: str
) -> None:
    fp.register(show_argv(fake_az), stdout=dumps(server_json([own(OWN_APP), conn(FOREIGN_OK, "Approved")])))
    result = run("enforce", "--policy", policy, "-g", "rg-data", "-s", "pg-orders", "--check")
    assert result.exit_code == 7
    assert [r["warnings"] for r in records(result)] == [[], []]  # OWN_APP is approved first
    assert "pg-orders/" not in result.stderr


def test_with_force_the_plan_does_not_predict_a_refusal(
    fp: FakeProcess, fake_az: str, tmp_path: Path
) -> None:
    path = write_policy(tmp_path, GUARDED.format(pending="x", approved="y"))
    fp.register(show_argv(fake_az), stdout=dumps(server_json([conn(FOREIGN_OK, "Approved")])))
    result = run("enforce", "--policy", path, "-g", "rg-data", "-s", "pg-orders", "--force")
    assert result.exit_code == 0, result.stderr
    assert records(result)[0]["warnings"] == []


@pytest.mark.parametrize(
    ("descriptions", "approved_first"),
    [(("x", "x"), False), (("x", "y"), True)],  # one engine run; or the guarded run first
)
def test_apply_does_what_the_plan_said_the_guard_would_do(
    fp: FakeProcess, fake_az: str, tmp_path: Path, descriptions: tuple[str, str], approved_first: bool
) -> None:
    # Nothing on a server where the guard trips is written, in this run or a later one.
    path = write_policy(tmp_path, GUARDED.format(pending=descriptions[0], approved=descriptions[1]))
    both = [conn(FOREIGN), conn(FOREIGN_OK, "Approved")]
    population = dumps(server_json(both[::-1] if approved_first else both))
    fp.register(show_argv(fake_az), stdout=population)
    plan = run("enforce", "--policy", path, "-g", "rg-data", "-s", "pg-orders")
    predicted = {r["name"]: r["warnings"] for r in records(plan)}
    fp.register(show_argv(fake_az), stdout=population)
    applied = run("enforce", "--policy", path, "-g", "rg-data", "-s", "pg-orders", "--apply")
    assert applied.exit_code == 6
    results = {r["name"]: r for r in records(applied)}
    assert {n: (r["action"], r["error"]["code"]) for n, r in results.items()} == {
        FOREIGN_OK: ("failed", "LockOutGuard"),
        FOREIGN: ("skipped", "LockOutGuard"),
    }
    assert {n: r["warnings"] for n, r in results.items()} == predicted
    assert all(predicted.values())
    assert not [c for c in fp.calls if "private-endpoint-connection" in c]  # nothing written
