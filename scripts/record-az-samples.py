#!/usr/bin/env python3
"""Record what the real az prints against the local emulator into tests/data/az-*.json.

Each file: {"case", "argv", "returncode", "stdout", "stderr", "seconds", "requests"} where
``argv`` starts with "az" and ``requests`` is what az sent (method, path, query, status, PUT
body), from the emulator's log. The core's unit tests replay these as fake az results.

Runs az only inside a loopback-only network namespace: it re-executes itself under
scripts/netns-run.sh when needed.

    .venv/bin/python scripts/record-az-samples.py [--az PATH] [--out DIR] [--only NAME...] [--slow]

--slow adds the cases that take minutes (network approve of a Rejected connection: az polls
20 times, 10 s apart).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from azpe.sandbox import CLOUD_NAME, Emulator, default_scenario, prepare_az, scenarios  # noqa: E402
from azpe.sandbox.api import az_environment, run_az  # noqa: E402

SUB = "00000000-0000-0000-0000-00000000aaaa"
TYPE = "Microsoft.DBforPostgreSQL/flexibleServers"
SRV = f"/subscriptions/{SUB}/resourceGroups/rg-data/providers/{TYPE}/pg-orders"
PEC = f"{SRV}/privateEndpointConnections"
PEC_GLOB = "*/privateEndpointConnections/*"
SERVER_GLOB = "*/flexibleServers/pg-orders"


@dataclass
class Case:
    name: str
    args: list[str]
    setup: Callable[[Emulator], None] = lambda em: None
    env: str = "logged-in"  # or "logged-out"
    slow: bool = False
    note: str = ""
    extra: dict[str, object] = field(default_factory=dict)


def names(em: Emulator) -> dict[str, str]:
    return {c["status"]: c["name"] for c in reversed(em.connections(SUB, "rg-data", "pg-orders"))}


def fixed(status: str) -> str:
    """Connection names are stable (uuid5), so argv can name them before seeding."""
    scenario = default_scenario()
    conns = scenario["subscriptions"][0]["resourceGroups"][0]["servers"][0]["connections"]
    return str(next(c["name"] for c in conns if c["status"] == status))


PENDING, APPROVED, REJECTED = fixed("Pending"), fixed("Approved"), fixed("Rejected")
NO_ACCESS = scenarios.NO_ACCESS_SUBSCRIPTION


def _disabled_pending() -> str:
    sub = next(s for s in default_scenario()["subscriptions"] if s["id"] == scenarios.DISABLED_SUBSCRIPTION)
    group = sub["resourceGroups"][0]
    srv = group["servers"][0]
    name = next(c["name"] for c in srv["connections"] if c["status"] == "Pending")
    return (
        f"/subscriptions/{sub['id']}/resourceGroups/{group['name']}/providers/{TYPE}/{srv['name']}"
        f"/privateEndpointConnections/{name}"
    )


DISABLED_PEC = _disabled_pending()
SHOW = ["postgres", "flexible-server", "show", "-g", "rg-data", "-n", "pg-orders"]
NET = ["network", "private-endpoint-connection"]
PG_PEC = ["postgres", "flexible-server", "private-endpoint-connection"]
PG_SRV = ["-g", "rg-data", "-s", "pg-orders"]
REJECT = [*NET, "reject", "--id", f"{PEC}/{PENDING}", "--description", "Not ours"]


def fault(method: str, glob: str, status: int | None = None, **kw: Any) -> Callable[[Emulator], None]:
    """A setup that scripts one fault; ``kw`` are :meth:`Emulator.inject`'s keyword arguments."""

    def setup(em: Emulator) -> None:
        em.inject(method, glob, status, **kw)

    return setup


def busy(em: Emulator) -> None:
    em.state.op_seconds = 120
    em.state.begin_write(SUB, "rg-data", "pg-orders", APPROVED, "Rejected", "other write")


CASES = [
    Case("postgres-show", SHOW, note="Ready server with connections"),
    Case(
        "postgres-show-not-found",
        ["postgres", "flexible-server", "show", "-g", "rg-data", "-n", "pg-missing"],
    ),
    Case(
        "postgres-show-updating",
        SHOW,
        lambda em: em.set_server_state(SUB, "rg-data", "pg-orders", "Updating", 60),
    ),
    Case("postgres-list-group", ["postgres", "flexible-server", "list", "-g", "rg-data"]),
    Case("postgres-list-group-not-found", ["postgres", "flexible-server", "list", "-g", "rg-x"]),
    Case("network-list", [*NET, "list", "--id", SRV]),
    Case("network-list-by-name", [*NET, "list", "-g", "rg-data", "-n", "pg-orders", "--type", TYPE]),
    Case("network-show", [*NET, "show", "--id", f"{PEC}/{APPROVED}"]),
    Case(
        "network-show-by-name",
        [*NET, "show", "-g", "rg-data", "--resource-name", "pg-orders", "--type", TYPE, "-n", APPROVED],
    ),
    Case("network-show-not-found", [*NET, "show", "--id", f"{PEC}/pe-gone.0000"]),
    Case("network-reject", REJECT),
    Case("network-reject-no-description", [*NET, "reject", "--id", f"{PEC}/{PENDING}"]),
    Case("network-approve", [*NET, "approve", "--id", f"{PEC}/{PENDING}", "--description", "OK"]),
    Case("network-delete", [*NET, "delete", "--id", f"{PEC}/{APPROVED}", "--yes"]),
    Case("network-delete-no-yes", [*NET, "delete", "--id", f"{PEC}/{APPROVED}"], note="stdin is not a TTY"),
    Case("network-reject-not-found", [*NET, "reject", "--id", f"{PEC}/pe-gone.0000"]),
    Case("network-reject-busy", REJECT, busy, note="another write runs on the same server"),
    Case("network-reject-429", REJECT, fault("PUT", PEC_GLOB, 429, retry_after=1, times=None)),
    Case("network-reject-500", REJECT, fault("PUT", PEC_GLOB, 500, times=None)),
    Case("network-reject-403", REJECT, fault("PUT", PEC_GLOB, 403, times=None)),
    Case(
        "network-show-malformed",
        [*NET, "show", "--id", f"{PEC}/{APPROVED}"],
        fault("GET", PEC_GLOB, malformed=True, times=None),
    ),
    Case("postgres-show-429", SHOW, fault("GET", SERVER_GLOB, 429, retry_after=1, times=None)),
    Case("postgres-show-429-once", SHOW, fault("GET", SERVER_GLOB, 429, retry_after=1)),
    Case("postgres-show-500", SHOW, fault("GET", SERVER_GLOB, 500, times=None)),
    Case("postgres-show-403", SHOW, fault("GET", SERVER_GLOB, 403, times=None)),
    Case(
        "postgres-show-busy",
        SHOW,
        fault(
            "GET",
            SERVER_GLOB,
            409,
            code="ServerIsBusy",
            message="Server 'pg-orders' is busy with another "
            "operation. Please try your operation after some "
            "time.",
            times=None,
        ),
    ),
    Case("postgres-show-malformed", SHOW, fault("GET", SERVER_GLOB, malformed=True, times=None)),
    Case("postgres-show-not-logged-in", SHOW, env="logged-out"),
    Case(
        "postgres-show-unknown-subscription",
        [*SHOW, "--subscription", "99999999-9999-9999-9999-999999999999"],
    ),
    Case("network-reject-not-logged-in", REJECT, env="logged-out"),
    Case(
        "postgres-pec-reject",
        [*PG_PEC, "reject", *PG_SRV, "-n", PENDING, "--description", "Not ours"],
        note="the SDK family follows the async operation",
    ),
    Case(
        "postgres-pec-approve-rejected",
        [*PG_PEC, "approve", *PG_SRV, "-n", REJECTED, "--description", "x"],
        note="the async operation fails",
    ),
    Case("account-list", ["account", "list"], note="the login's Enabled subscriptions (profile only)"),
    Case("account-list-all", ["account", "list", "--all"], note="every subscription of the profile"),
    Case(
        "postgres-list-subscription",
        ["postgres", "flexible-server", "list", "--subscription", SUB],
    ),
    Case(
        "postgres-list-no-access",
        ["postgres", "flexible-server", "list", "--subscription", NO_ACCESS],
        note="the login is listed on the subscription but may read nothing in it",
    ),
    Case(
        "network-reject-disabled-subscription",
        [*NET, "reject", "--id", DISABLED_PEC, "--description", "Not ours"],
        note="a Disabled subscription is read-only",
    ),
    Case("usage-unrecognized-argument", [*SHOW, "--bogus"]),
    Case("usage-bad-query", [*SHOW, "--query", "[[["]),
    Case(
        "network-approve-rejected",
        [*NET, "approve", "--id", f"{PEC}/{REJECTED}"],
        slow=True,
        note="the async operation fails; az polls 20 x 10 s, then crashes on the empty 202",
    ),
]


def loopback_only() -> bool:
    try:
        return [n for _, n in socket.if_nameindex()] == ["lo"]
    except OSError:
        return False


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--az", default=os.environ.get("AZPE_TEST_AZ", str(ROOT / ".venv-az/bin/az")))
    parser.add_argument("--out", type=Path, default=ROOT / "tests" / "data")
    parser.add_argument("--only", nargs="*", default=None)
    parser.add_argument("--slow", action="store_true")
    args = parser.parse_args()
    if not loopback_only():
        netns = str(ROOT / "scripts" / "netns-run.sh")
        os.execv(netns, [netns, sys.executable, *sys.argv])
    args.out.mkdir(parents=True, exist_ok=True)
    with Emulator(op_seconds=1.0) as em, tempfile.TemporaryDirectory() as tmp:
        envs = {
            "logged-in": prepare_az(args.az, Path(tmp) / "in", em.url, em.ca_path),
            "logged-out": logged_out_env(args.az, Path(tmp) / "out", em),
        }
        for case in CASES:
            if (args.only and case.name not in args.only) or (case.slow and not args.slow):
                continue
            record(case, args.az, envs[case.env], em, args.out)
    return 0


def logged_out_env(az: str, config: Path, em: Emulator) -> dict[str, str]:
    """The sandbox cloud registered and selected, but nobody logged in."""
    config.mkdir(parents=True)
    env = az_environment(config, em.ca_path)
    run_az(az, ["cloud", "register", "--name", CLOUD_NAME, "--endpoint-resource-manager", em.url + "/"], env)
    run_az(az, ["cloud", "set", "--name", CLOUD_NAME], env)
    return env


def record(case: Case, az: str, env: dict[str, str], em: Emulator, out: Path) -> None:
    em.seed(default_scenario())
    em.state.op_seconds = 1.0
    em.clear_faults()
    case.setup(em)
    em.clear_requests()
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("AZURE_")} | env
    started = time.monotonic()
    done = subprocess.run(
        [az, *case.args],
        env=full_env,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=600,
        check=False,
    )
    seconds = round(time.monotonic() - started, 2)
    sample = {
        "case": case.name,
        "note": case.note,
        "argv": ["az", *case.args],
        "returncode": done.returncode,
        "stdout": done.stdout,
        "stderr": done.stderr,
        "seconds": seconds,
        "requests": [
            {k: r[k] for k in ("method", "path", "query", "status", "body") if r[k] is not None}
            for r in em.requests()
        ],
    }
    (out / f"az-{case.name}.json").write_text(json.dumps(sample, indent=2) + "\n")
    first = done.stderr.strip().splitlines()[0][:90] if done.stderr.strip() else ""
    print(f"{case.name:38} rc={done.returncode} {seconds:6.2f}s  {first}", file=sys.stderr)


if __name__ == "__main__":
    raise SystemExit(main())
