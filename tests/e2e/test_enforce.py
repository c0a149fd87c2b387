"""``azpe enforce`` (issue 5) against the emulator with the real az: a mixed population is
planned correctly, ``--check`` exits 7 before and 0 after, ``--apply`` makes it compliant and a
second ``--apply`` changes nothing, the audit log holds every decision and outcome, and a policy
mistake stops before any request."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from azpe.sandbox import APP_ID, FOREIGN_SUBSCRIPTION, TENANT_ID, connection, scenario, server
from tests.e2e.conftest import PEC, RG, SUB, Sandbox, connection_id

# Azure services' managed private endpoints (Data Factory, ...) live in Microsoft's subscriptions.
MICROSOFT_SUB = "b8e1c0a5-0d7e-4c3e-9f55-6a1d2f0adf00"
OWN = {"subscription": SUB, "resource_group": "rg-app"}

POLICY = f"""\
# Allow our own subscription and the Data Factory's managed endpoints; reject the rest.
[organisation]
subscriptions = ["{SUB}"]

[pending]
matched = "approve"
unmatched = "reject"
description = "Rejected by policy: unknown private endpoint"

[approved]
review = true
description = "Rejected by policy review: approved without a rule"

[[allow]]
name = "own subscription"
subscription = "{SUB}"

[[allow]]
name = "data factory"
subscription = ["{MICROSOFT_SUB}"]
resource_group = "rg-adf-managed-*"
endpoint = "adf-*"
group_ids = ["postgresqlServer"]
"""


def population() -> dict[str, Any]:
    return scenario(
        [
            server(
                "pg-app",  # public network access Disabled: keeps an Approved connection
                [
                    connection("pe-app-new", **OWN),
                    connection("pe-stranger", resource_group="rg-x"),
                    connection("pe-app-main", "Approved", **OWN),
                ],
            ),
            server(
                "pg-etl",
                [
                    connection(
                        "adf-managed-pe", subscription=MICROSOFT_SUB, resource_group="rg-adf-managed-weu"
                    ),
                    connection("pe-partner-old", "Approved"),
                    connection("pe-vendor", "Rejected", description="Vendor contract ended"),
                ],
                public_network_access="Enabled",
            ),
        ]
    )


# name -> (decision, rule, endpointOwner, status after --apply)
EXPECTED = {
    "pe-app-new": ("approve", "own subscription", "own", "Approved"),
    "pe-stranger": ("reject", None, "foreign", "Rejected"),
    "pe-app-main": ("leave", "own subscription", "own", "Approved"),
    "adf-managed-pe": ("approve", "data factory", "foreign", "Approved"),
    "pe-partner-old": ("reject", None, "foreign", "Rejected"),
    "pe-vendor": ("leave", None, "foreign", "Rejected"),
}


def endpoint(name: str) -> str:
    return name.split(".")[0]


def test_enforce_plans_applies_and_audits_a_mixed_population(sandbox: Sandbox, tmp_path: Path) -> None:
    sandbox.seed(population())
    policy = tmp_path / "policy.toml"
    policy.write_text(POLICY, encoding="utf-8")
    audit = tmp_path / "audit.jsonl"
    scope = ("--policy", str(policy), "-g", RG)

    check = sandbox.azpe("enforce", *scope, "--check")
    assert check.code == 7, check  # drift
    plan = {endpoint(r["name"]): r for r in check.json}
    assert {n: (r["decision"], r["rule"], r["endpointOwner"]) for n, r in plan.items()} == {
        n: e[:3] for n, e in EXPECTED.items()
    }
    assert plan["adf-managed-pe"]["privateEndpointSubscription"] == MICROSOFT_SUB
    assert plan["pe-stranger"]["privateEndpointSubscription"] == FOREIGN_SUBSCRIPTION
    assert plan["pe-stranger"]["newDescription"] == "Rejected by policy: unknown private endpoint"
    assert plan["pe-partner-old"]["reason"] == "Approved, but no allow rule matches"
    assert check.stderr == "azpe: enforce: 6 connection(s), 4 to change\n"

    table = sandbox.azpe("enforce", *scope, "-o", "table")  # the plan, as a person reads it
    assert table.code == 0, table
    assert table.stdout.splitlines()[0].split()[:6] == [
        "Name",
        "Server",
        "Status",
        "Decision",
        "Rule",
        "Endpoint",
    ]

    adf_id = connection_id("pg-etl", plan["adf-managed-pe"]["name"])
    explained = sandbox.azpe("enforce", "--policy", str(policy), "--explain", adf_id)
    assert explained.code == 0, explained
    assert (explained.json["decision"], explained.json["rule"]) == ("approve", "data factory")
    assert [(r["name"], r["matches"]) for r in explained.json["rules"]] == [
        ("own subscription", False),
        ("data factory", True),
    ]
    assert sandbox.writes() == []

    applied = sandbox.azpe("enforce", *scope, "--apply", "--audit-log", str(audit), "-o", "jsonl")
    assert applied.code == 0, applied
    results = {endpoint(r["name"]): r for r in applied.lines}
    assert {n: (r["action"], r["status"], r["decision"], r["rule"]) for n, r in results.items()} == {
        "pe-app-new": ("approved", "Approved", "approve", "own subscription"),
        "adf-managed-pe": ("approved", "Approved", "approve", "data factory"),
        "pe-stranger": ("rejected", "Rejected", "reject", None),
        "pe-partner-old": ("rejected", "Rejected", "reject", None),
    }
    assert "2 connection(s) comply already" in applied.stderr
    state = {endpoint(n): c for s in ("pg-app", "pg-etl") for n, c in sandbox.connections(s).items()}
    assert {n: c["status"] for n, c in state.items()} == {n: e[3] for n, e in EXPECTED.items()}
    assert state["pe-stranger"]["description"] == "Rejected by policy: unknown private endpoint"
    assert state["pe-partner-old"]["description"] == "Rejected by policy review: approved without a rule"
    assert state["pe-vendor"]["description"] == "Vendor contract ended"
    puts = sandbox.requests("PUT", PEC)
    assert sorted(p["path"].rsplit("/", 1)[1].split(".")[0] for p in puts) == sorted(results)
    # Approvals first (they only add access), then the rejections.
    verdicts = [p["body"]["properties"]["privateLinkServiceConnectionState"]["status"] for p in puts]
    assert verdicts == ["Approved", "Approved", "Rejected", "Rejected"]

    lines = [json.loads(line) for line in audit.read_text(encoding="utf-8").splitlines()]
    decisions = {
        endpoint(line["connectionId"].rsplit("/", 1)[1]): line
        for line in lines
        if line["event"] == "decision"
    }
    outcomes = {
        endpoint(line["connectionId"].rsplit("/", 1)[1]): line for line in lines if line["event"] == "outcome"
    }
    assert len(lines) == 8 and sorted(decisions) == sorted(outcomes) == sorted(results)
    for name, line in [*decisions.items(), *outcomes.items()]:
        assert line["identity"] == {"name": APP_ID, "type": "servicePrincipal", "tenantId": TENANT_ID}
        assert line["command"] == "enforce"
        assert line["time"].endswith("Z")
        assert line["privateEndpointId"].endswith(f"/privateEndpoints/{name}")
        assert line["statusBefore"] == {"pe-partner-old": "Approved"}.get(name, "Pending")
        assert line["rule"] == EXPECTED[name][1]
        assert line["error"] is None
    for name, line in outcomes.items():
        assert (line["result"], line["statusAfter"]) == (results[name]["action"], EXPECTED[name][3])
    assert decisions["pe-stranger"]["decision"] == "reject: write"
    assert outcomes["pe-partner-old"]["description"] == "Rejected by policy review: approved without a rule"
    # Each decision is on disk before its outcome.
    order = [(line["event"], endpoint(line["connectionId"].rsplit("/", 1)[1])) for line in lines]
    assert all(order.index(("decision", n)) < order.index(("outcome", n)) for n in results)

    sandbox.em.clear_requests()
    again = sandbox.azpe("enforce", *scope, "--apply", "--audit-log", str(audit), "-o", "jsonl")
    assert again.code == 0, again
    assert again.stdout == ""
    assert sandbox.writes() == []
    assert len(audit.read_text(encoding="utf-8").splitlines()) == 8  # nothing written, nothing to audit

    after = sandbox.azpe("enforce", *scope, "--check", "-o", "none")
    assert after.code == 0, after
    assert after.stderr == "azpe: enforce: 6 connection(s), 0 to change\n"


def test_policy_mistake_stops_before_any_request(sandbox: Sandbox, tmp_path: Path) -> None:
    policy = tmp_path / "policy.toml"
    lines = POLICY.splitlines()
    at = lines.index('endpoint = "adf-*"')
    lines[at] = 'endpiont = "adf-*"'  # a typo: this rule would silently allow more
    policy.write_text("\n".join(lines) + "\n", encoding="utf-8")

    for extra in ((), ("--apply",), ("--check",)):
        run = sandbox.azpe("enforce", "--policy", str(policy), "-g", RG, *extra)
        assert run.code == 2, run
        assert run.stdout == ""
        assert run.stderr.startswith(
            f"azpe: error: {policy}:{at + 1}: unknown key 'endpiont' in an [[allow]] rule"
        ), run.stderr
        assert "Traceback" not in run.stderr
    assert sandbox.em.requests() == []
