"""The emulator's several subscriptions, seen by the real az: what ``az account list`` shows
with and without ``--all``, a subscription the login may read nothing in (403), a Disabled
one (reads work, writes 409), an unknown ``--subscription``, a subscription state changed
after login, and ``azpe sandbox seed`` refreshing the login to the seeded subscriptions.

The stderr texts asserted here are what az 2.91.0 prints; azpe classifies its errors from
them (``azpe/sandbox/README.md`` lists them)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import cast

from azpe.sandbox import APP_ID
from azpe.sandbox.identity import OBJECT_ID
from azpe.sandbox.scenarios import (
    APPS_SUBSCRIPTION,
    DEFAULT_SUBSCRIPTION,
    DISABLED_SUBSCRIPTION,
    NO_ACCESS_SUBSCRIPTION,
    SANDBOX_SUBSCRIPTIONS,
    connection,
    default_scenario,
    scenario,
    server,
)
from tests.e2e.conftest import AZ, TYPE, Sandbox

UNKNOWN = "11111111-2222-3333-4444-555555555555"
SKIPPED = (
    "WARNING: A few accounts are skipped as they don't have 'Enabled' state. Use '--all' to display them.\n"
)


def az(
    sandbox: Sandbox, *args: str, config: Path | None = None, ca: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """The real az with the worker's login (or another one in ``config``; ``ca``: the
    certificate of another emulator)."""
    env = sandbox.env if config is None else sandbox.env | {"AZURE_CONFIG_DIR": str(config)}
    if ca is not None:
        env = env | {"REQUESTS_CA_BUNDLE": str(ca)}
    return subprocess.run(
        [AZ, *args],
        env=env,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=120,
        check=False,
    )


def accounts(done: subprocess.CompletedProcess[str]) -> list[tuple[str, str, bool]]:
    assert done.returncode == 0, done.stderr
    return [(a["id"], a["state"], a["isDefault"]) for a in json.loads(done.stdout)]


def denied(action: str, scope: str) -> str:
    return (
        f"The client '{APP_ID}' with object id '{OBJECT_ID}' does not have authorization to perform "
        f"action '{action}' over scope '{scope}' or the scope is invalid. If access was recently "
        "granted, please refresh your credentials."
    )


def test_account_list_hides_the_disabled_subscription_and_all_shows_it(sandbox: Sandbox) -> None:
    enabled = az(sandbox, "account", "list", "-o", "json")
    assert accounts(enabled) == [
        (DEFAULT_SUBSCRIPTION, "Enabled", True),
        (APPS_SUBSCRIPTION, "Enabled", False),
        (NO_ACCESS_SUBSCRIPTION, "Enabled", False),
    ]
    assert enabled.stderr == SKIPPED
    every = az(sandbox, "account", "list", "--all", "-o", "json")
    assert accounts(every) == [
        (DEFAULT_SUBSCRIPTION, "Enabled", True),
        (APPS_SUBSCRIPTION, "Enabled", False),
        (NO_ACCESS_SUBSCRIPTION, "Enabled", False),
        (DISABLED_SUBSCRIPTION, "Disabled", False),
    ]
    assert every.stderr == ""
    assert sandbox.em.requests() == []  # both read az's profile only


def test_a_subscription_without_access_is_403_for_both_families(sandbox: Sandbox) -> None:
    listed = az(sandbox, "postgres", "flexible-server", "list", "--subscription", NO_ACCESS_SUBSCRIPTION)
    scope = f"/subscriptions/{NO_ACCESS_SUBSCRIPTION}/providers/{TYPE}"
    message = denied(f"{TYPE}/read", scope)
    assert (listed.returncode, listed.stdout) == (1, "")
    assert (
        listed.stderr
        == f"ERROR: (AuthorizationFailed) {message}\nCode: AuthorizationFailed\nMessage: {message}\n"
    )

    srv = f"/subscriptions/{NO_ACCESS_SUBSCRIPTION}/resourceGroups/rg-locked/providers/{TYPE}/pg-locked"
    network = az(
        sandbox,
        "network",
        "private-endpoint-connection",
        "list",
        "--id",
        srv,
        "--only-show-errors",
        "-o",
        "json",
    )
    body = {"error": {"code": "AuthorizationFailed", "message": denied(f"{TYPE}/read", srv)}}
    assert (network.returncode, network.stdout) == (1, "")
    assert network.stderr == f"ERROR: Forbidden({json.dumps(body)})\n"
    assert [(r["method"], r["status"]) for r in sandbox.em.requests()] == [("GET", 403), ("GET", 403)]


def test_a_disabled_subscription_reads_and_refuses_a_reject(sandbox: Sandbox) -> None:
    listed = az(
        sandbox,
        "postgres",
        "flexible-server",
        "list",
        "--subscription",
        DISABLED_SUBSCRIPTION,
        "--query",
        "[].name",
    )
    assert (listed.returncode, json.loads(listed.stdout), listed.stderr) == (0, ["pg-legacy"], "")
    pending = next(
        c["name"]
        for c in sandbox.em.connections(DISABLED_SUBSCRIPTION, "rg-legacy", "pg-legacy")
        if c["status"] == "Pending"
    )
    sandbox.em.clear_requests()
    reject = az(
        sandbox, "network", "private-endpoint-connection", "reject",
        "--resource-group", "rg-legacy", "--resource-name", "pg-legacy", "--type", TYPE, "--name", pending,
        "--subscription", DISABLED_SUBSCRIPTION, "--description=no", "--only-show-errors", "-o", "json",
    )  # fmt: skip
    body = {
        "error": {
            "code": "ReadOnlyDisabledSubscription",
            "message": (
                f"The subscription '{DISABLED_SUBSCRIPTION}' is disabled and therefore marked as read "
                "only. You cannot perform any write actions on this subscription until it is re-enabled."
            ),
        }
    }
    assert (reject.returncode, reject.stdout) == (1, "")
    assert reject.stderr == f"ERROR: Conflict({json.dumps(body)})\n"
    assert [(r["method"], r["status"]) for r in sandbox.em.requests()] == [("GET", 200), ("PUT", 409)]
    record = sandbox.em.connection(DISABLED_SUBSCRIPTION, "rg-legacy", "pg-legacy", pending)
    assert record is not None
    assert record["status"] == "Pending"


def test_an_unknown_subscription_is_refused_by_az_before_any_request(sandbox: Sandbox) -> None:
    done = az(sandbox, "postgres", "flexible-server", "list", "--subscription", UNKNOWN)
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr == (
        f"WARNING: Subscription '{UNKNOWN}' not recognized.\n"
        f"ERROR: Subscription '{UNKNOWN}' not found. Check the spelling and casing and try again.\n"
    )
    assert sandbox.em.requests() == []
    # A display name works as well as the ID.
    named = az(
        sandbox,
        "postgres",
        "flexible-server",
        "list",
        "--subscription",
        "azpe-sandbox-apps",
        "--query",
        "[].name",
    )
    assert (named.returncode, json.loads(named.stdout)) == (0, ["pg-billing", "pg-inventory"])


def test_az_keeps_the_states_of_its_login_until_a_refresh(sandbox: Sandbox, tmp_path: Path) -> None:
    """A Warned subscription takes writes, yet `az account list` (without --all) hides it."""
    config = tmp_path / "azure"  # a copy: the worker's own login stays as it is
    shutil.copytree(sandbox.az_env["AZURE_CONFIG_DIR"], config)
    state = sandbox.em.dump()
    state["subscriptions"][1]["state"] = "Warned"
    sandbox.em.seed(state)
    cached = az(sandbox, "account", "list", "--query", "[].id", "-o", "json", config=config)
    assert APPS_SUBSCRIPTION in json.loads(cached.stdout)  # still Enabled in the profile
    refreshed = az(sandbox, "account", "list", "--refresh", "--query", "[].id", "-o", "json", config=config)
    assert (refreshed.returncode, refreshed.stderr) == (0, SKIPPED)
    assert json.loads(refreshed.stdout) == [DEFAULT_SUBSCRIPTION, NO_ACCESS_SUBSCRIPTION]
    every = az(
        sandbox,
        "account",
        "list",
        "--all",
        "--query",
        "[].[id, state, isDefault]",
        "-o",
        "json",
        config=config,
    )
    assert json.loads(every.stdout) == [
        [DEFAULT_SUBSCRIPTION, "Enabled", True],
        [APPS_SUBSCRIPTION, "Warned", False],
        [NO_ACCESS_SUBSCRIPTION, "Enabled", False],
        [DISABLED_SUBSCRIPTION, "Disabled", False],
    ]
    assert [r["path"] for r in sandbox.em.requests()] == ["/subscriptions"]  # the refresh's one GET


def test_sandbox_seed_refreshes_the_login_to_the_seeded_subscriptions(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    """A background sandbox with the real az: seeding other subscriptions makes az know
    exactly those (the default kept), and seeding the default scenario brings all back."""
    env = {k: v for k, v in sandbox.env.items() if not k.startswith("AZURE_")}
    state_dir = tmp_path / "sb"

    def azpe(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        argv = [*sandbox.azpe_argv, "sandbox", *args, "--dir", str(state_dir)]
        return subprocess.run(
            argv, env=env, input=stdin, capture_output=True, text=True, timeout=300, check=False
        )

    def known() -> list[list[object]]:
        query = ["--query", "[].[id, isDefault]", "-o", "json"]
        done = az(sandbox, "account", "list", "--all", *query, config=state_dir / "azure")
        assert done.returncode == 0, done.stderr
        return cast(list[list[object]], json.loads(done.stdout))

    started = azpe("start", "--op-seconds", "0")
    assert started.returncode == 0, started.stderr
    try:
        assert [row[0] for row in known()] == list(SANDBOX_SUBSCRIPTIONS)
        new = "00000000-0000-0000-0000-00000000eeee"
        data = scenario([server("pg-a", [connection("pe-a")])])
        data["subscriptions"] += scenario([server("pg-e")], subscription=new, display_name="new")[
            "subscriptions"
        ]
        seeded = azpe("seed", "-", stdin=json.dumps(data))
        assert seeded.returncode == 0, seeded.stderr
        assert seeded.stderr == (
            "Seeded. The az login was refreshed: it lists 2 subscription(s) now, 4 before "
            "(az keeps its default subscription if it is still there).\n"
        )
        assert known() == [[DEFAULT_SUBSCRIPTION, True], [new, False]]
        config = state_dir / "azure"
        listed = az(
            sandbox,
            "postgres",
            "flexible-server",
            "list",
            "--subscription",
            new,
            "--query",
            "[].name",
            config=config,
            ca=state_dir / "ca.pem",
        )
        assert (listed.returncode, json.loads(listed.stdout)) == (0, ["pg-e"])
        again = azpe("seed", "--default")
        assert again.returncode == 0, again.stderr
        assert "it lists 4 subscription(s) now, 2 before" in again.stderr
        assert known() == [[s, s == DEFAULT_SUBSCRIPTION] for s in SANDBOX_SUBSCRIPTIONS]
        same = azpe("seed", "--default")
        assert same.stderr == "Seeded. The az login lists the same 4 subscription(s).\n"
    finally:
        stop = azpe("stop")
        assert stop.returncode == 0, stop.stderr


def test_default_scenario_is_what_the_login_knows(sandbox: Sandbox) -> None:
    """Guard for the e2e workers: they log in once against the default scenario."""
    ids = [s["id"] for s in default_scenario()["subscriptions"]]
    assert [a[0] for a in accounts(az(sandbox, "account", "list", "--all", "-o", "json"))] == ids
