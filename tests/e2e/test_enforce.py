"""``azpe enforce`` (issue 5) against the emulator with the real az: a mixed population is
planned correctly, ``--check`` exits 7 before and 0 after, ``--apply`` makes it compliant and a
second ``--apply`` changes nothing, the audit log holds every decision and outcome, and a policy
mistake stops before any request. A stranger's endpoint named like a trusted service's
(issue 11) is never Approved: a rule that does not pin the subscription is refused, and the
README's example, filled in, rejects it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from azpe.sandbox import APP_ID, FOREIGN_SUBSCRIPTION, TENANT_ID, connection, scenario, server
from tests.e2e.conftest import PEC, RG, ROOT, SUB, Sandbox, connection_id

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

    logged = [json.loads(line) for line in audit.read_text(encoding="utf-8").splitlines()]
    lines = [line for line in logged if line["event"] in ("decision", "outcome")]  # not the run's end
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
    assert len(audit.read_text(encoding="utf-8").splitlines()) == len(logged)  # nothing to audit

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


# -- issue 11: policies that a stranger cannot satisfy -----------------------------------------

SPOOF = "adf-totally-legit"
# The README's example before issue 11: the Data Factory rule trusted the endpoint's name.
NAME_ONLY = f"""\
[organisation]
subscriptions = ["{SUB}"]

[pending]
matched = "approve"
unmatched = "reject"

[[allow]]
name = "our subscriptions"
subscription = ["{SUB}"]

[[allow]]
name = "data factory"
endpoint = "adf-*"
group_ids = "postgresqlServer"
"""


def spoofed() -> dict[str, Any]:
    """A stranger's endpoint in a foreign subscription, named and grouped like the service's."""
    managed = {"resource_group": "rg-adf-managed-weu"}
    return scenario(
        [
            server(
                "pg-etl",
                [
                    connection("adf-managed-pe", subscription=MICROSOFT_SUB, **managed),
                    connection(SPOOF, subscription=FOREIGN_SUBSCRIPTION, **managed),
                ],
                public_network_access="Enabled",
            )
        ]
    )


def readme_policy() -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Policy enforcement") :]
    return section.split("```toml\n", 1)[1].split("```", 1)[0]


def test_a_stranger_named_like_a_trusted_service_is_never_approved(sandbox: Sandbox, tmp_path: Path) -> None:
    sandbox.seed(spoofed())
    policy = tmp_path / "policy.toml"
    scope = ("--policy", str(policy), "-g", RG)

    # A rule that trusts the name alone is refused, before any request, with its line.
    policy.write_text(NAME_ONLY, encoding="utf-8")
    refused = sandbox.azpe("enforce", *scope, "--apply")
    assert refused.code == 2, refused
    line = NAME_ONLY.splitlines().index('name = "data factory"') + 1
    assert refused.stderr.startswith(
        f"azpe: error: {policy}:{line}: rule 'data factory' can match endpoints of any subscription"
    ), refused.stderr
    assert sandbox.em.requests() == []

    # The README's example, copied as it is, stops at what the admin must fill in.
    policy.write_text(readme_policy(), encoding="utf-8")
    unfilled = sandbox.azpe("enforce", *scope, "--apply")
    assert unfilled.code == 2, unfilled
    assert "subscription is a placeholder" in unfilled.stderr and "fill it in" in unfilled.stderr
    assert sandbox.em.requests() == []
    assert sandbox.names("pg-etl", "Pending") and not sandbox.names("pg-etl", "Approved")

    # Filled in with the service's subscription and resource group (as the plan shows them).
    filled = readme_policy().replace("FILL-IN-the-service-subscription-id", MICROSOFT_SUB)
    policy.write_text(filled.replace("FILL-IN-the-service-resource-group", "rg-adf-managed-weu"))
    plan = sandbox.azpe("enforce", *scope)
    assert plan.code == 0, plan
    decided = {endpoint(r["name"]): (r["decision"], r["rule"], r["endpointOwner"]) for r in plan.json}
    assert decided == {
        "adf-managed-pe": ("approve", "data factory", "foreign"),
        SPOOF: ("reject", None, "foreign"),
    }
    assert "rule 'our subscriptions' matched no connection in scope" in plan.stderr

    applied = sandbox.azpe("enforce", *scope, "--apply", "-o", "jsonl")
    assert applied.code == 0, applied
    assert {endpoint(r["name"]): r["action"] for r in applied.lines} == {
        "adf-managed-pe": "approved",
        SPOOF: "rejected",
    }
    state = {endpoint(n): c["status"] for n, c in sandbox.connections("pg-etl").items()}
    assert state == {"adf-managed-pe": "Approved", SPOOF: "Rejected"}
    verdicts = {
        endpoint(p["path"].rsplit("/", 1)[1]): p["body"]["properties"]["privateLinkServiceConnectionState"][
            "status"
        ]
        for p in sandbox.requests("PUT", PEC)
    }
    assert verdicts == {"adf-managed-pe": "Approved", SPOOF: "Rejected"}  # never an Approved PUT for it


def test_check_warns_of_an_own_endpoint_rejected_and_of_the_lock_out_guard(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    # pg-app: public access Disabled; the policy rejects its only Approved connection (its
    # endpoint is ours, in a resource group the rule does not name) - the guard will refuse.
    sandbox.seed(
        scenario(
            [
                server(
                    "pg-app",
                    [connection("pe-app-main", "Approved", subscription=SUB, resource_group="rg-legacy")],
                )
            ]
        )
    )
    policy = tmp_path / "policy.toml"
    policy.write_text(
        POLICY.replace(f'subscription = "{SUB}"\n', f'subscription = "{SUB}"\nresource_group = "rg-app"\n')
    )
    check = sandbox.azpe("enforce", "--policy", str(policy), "-g", RG, "--check")
    assert check.code == 7, check
    (record,) = check.json
    assert record["decision"] == "reject"
    assert record["warnings"][0] == f"rejects an endpoint of an own subscription ({SUB})"
    assert record["warnings"][1].startswith("the lock-out guard will refuse this reject")
    name = record["name"]
    for warning in record["warnings"]:
        assert f"azpe: warning: pg-app/{name}: {warning}\n" in check.stderr
    assert sandbox.writes() == []

    applied = sandbox.azpe("enforce", "--policy", str(policy), "-g", RG, "--apply")
    assert applied.code == 6, applied  # as the plan said: refused, nothing written
    assert applied.json[0]["error"]["code"] == "LockOutGuard"
    assert sandbox.writes() == []
    assert sandbox.status("pg-app", name) == "Approved"
