"""The real az CLI against the emulator: login, server show/list, and the network
private-endpoint-connection family (list, show, reject, delete, errors).

Runs only where az exists (``AZPE_TEST_AZ``, default .venv-az/bin/az) and, unless
``AZPE_E2E_ANY_NETWORK=1``, only inside a namespace whose one interface is loopback:
    scripts/netns-run.sh .venv/bin/pytest -m e2e tests/e2e/test_sandbox_az.py
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from azpe.sandbox import Emulator, default_scenario, prepare_az

pytestmark = pytest.mark.e2e

AZ = os.environ.get("AZPE_TEST_AZ", str(Path(__file__).parents[2] / ".venv-az" / "bin" / "az"))
SUB = "00000000-0000-0000-0000-00000000aaaa"
TYPE = "Microsoft.DBforPostgreSQL/flexibleServers"
SRV = f"/subscriptions/{SUB}/resourceGroups/rg-data/providers/{TYPE}/pg-orders"


def _loopback_only() -> bool:
    try:
        return [name for _, name in socket.if_nameindex()] == ["lo"]
    except OSError:  # not available on this platform
        return False


if not Path(AZ).exists():
    pytest.skip(f"az not found at {AZ} (set AZPE_TEST_AZ)", allow_module_level=True)
if not _loopback_only() and os.environ.get("AZPE_E2E_ANY_NETWORK") != "1":
    pytest.skip("run inside scripts/netns-run.sh (loopback-only network namespace)", allow_module_level=True)


class Az:
    def __init__(self, env: dict[str, str]) -> None:
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("AZURE_")} | env

    def __call__(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [AZ, *args],
            env=self.env,
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            timeout=timeout,
            check=False,
        )


@pytest.fixture(scope="module")
def emulator() -> Iterator[Emulator]:
    with Emulator(op_seconds=1.0) as em:
        yield em


@pytest.fixture(scope="module")
def az(emulator: Emulator, tmp_path_factory: pytest.TempPathFactory) -> Az:
    config = tmp_path_factory.mktemp("az") / "azure"
    return Az(prepare_az(AZ, config, emulator.url, emulator.ca_path))


@pytest.fixture
def em(emulator: Emulator, az: Az) -> Emulator:
    emulator.seed(default_scenario())
    emulator.set_timing("at-end", 1.0)
    emulator.clear_faults()
    emulator.clear_requests()
    return emulator


def names(em: Emulator) -> dict[str, str]:
    return {c["status"]: c["name"] for c in reversed(em.connections(SUB, "rg-data", "pg-orders"))}


def test_login_selects_the_sandbox_subscription(az: Az) -> None:
    done = az("account", "show", "-o", "json")
    assert done.returncode == 0, done.stderr
    account = json.loads(done.stdout)
    assert (account["id"], account["name"], account["environmentName"]) == (
        SUB,
        "azpe-sandbox",
        "AzpeSandbox",
    )


def test_flexible_server_show_is_flattened(az: Az, em: Emulator) -> None:
    done = az("postgres", "flexible-server", "show", "-g", "rg-data", "-n", "pg-orders")
    assert done.returncode == 0, done.stderr
    server = json.loads(done.stdout)
    assert server["state"] == "Ready" and server["network"]["publicNetworkAccess"] == "Disabled"
    statuses = [
        c["privateLinkServiceConnectionState"]["status"] for c in server["privateEndpointConnections"]
    ]
    assert statuses == ["Pending", "Pending", "Approved", "Rejected"]
    # A connection without a description key (a manual request's Pending): az prints null.
    unknown = server["privateEndpointConnections"][1]
    assert unknown["name"].startswith("pe-unknown-4821.")
    assert unknown["privateLinkServiceConnectionState"]["description"] is None
    assert [(r["method"], r["query"]) for r in em.requests()] == [("GET", "api-version=2026-04-01-preview")]


def test_flexible_server_show_not_found_exits_3(az: Az, em: Emulator) -> None:
    done = az("postgres", "flexible-server", "show", "-g", "rg-data", "-n", "nope")
    assert done.returncode == 3
    assert done.stderr.startswith(
        "ERROR: (ResourceNotFound) The Resource 'Microsoft.DBforPostgreSQL/flexibleServers/nope'"
    )
    assert "\nCode: ResourceNotFound\n" in done.stderr


def test_flexible_server_list_by_group(az: Az, em: Emulator) -> None:
    done = az("postgres", "flexible-server", "list", "-g", "rg-data")
    assert done.returncode == 0, done.stderr
    assert [s["name"] for s in json.loads(done.stdout)] == ["pg-orders", "pg-reports"]


def test_network_list_returns_raw_connections(az: Az, em: Emulator) -> None:
    done = az("network", "private-endpoint-connection", "list", "--id", SRV)
    assert done.returncode == 0, done.stderr
    items = json.loads(done.stdout)
    assert [i["properties"]["privateLinkServiceConnectionState"]["status"] for i in items] == [
        "Pending",
        "Pending",
        "Approved",
        "Rejected",
    ]
    assert items[0]["resourceGroup"] == "rg-data"
    # The raw body passes through: no description key stays no description key.
    assert items[1]["properties"]["privateLinkServiceConnectionState"] == {
        "status": "Pending",
        "actionsRequired": "None",
    }
    assert em.requests()[0]["query"] == "api-version=2023-06-01-preview"


def test_network_show_and_show_not_found(az: Az, em: Emulator) -> None:
    name = names(em)["Approved"]
    done = az(
        "network",
        "private-endpoint-connection",
        "show",
        "-g",
        "rg-data",
        "--resource-name",
        "pg-orders",
        "--type",
        TYPE,
        "-n",
        name,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["name"] == name
    assert "WARNING: Resource ID will be ignored" in done.stderr
    done = az(
        "network", "private-endpoint-connection", "show", "--id", f"{SRV}/privateEndpointConnections/nope.1"
    )
    assert done.returncode == 3
    assert done.stderr.startswith('ERROR: Not Found({"error": {"code": "ResourceNotFound"')


def test_network_reject_polls_until_rejected(az: Az, em: Emulator) -> None:
    name = names(em)["Pending"]
    done = az(
        "network",
        "private-endpoint-connection",
        "reject",
        "--id",
        f"{SRV}/privateEndpointConnections/{name}",
        "--description",
        "not ours",
    )
    assert done.returncode == 0, done.stderr
    state = json.loads(done.stdout)["properties"]["privateLinkServiceConnectionState"]
    assert (state["status"], state["description"]) == ("Rejected", "not ours")
    log = em.requests()
    assert [(r["method"], r["status"]) for r in log] == [("GET", 200), ("PUT", 202), ("GET", 200)]
    sent = log[1]["body"]["properties"]["privateLinkServiceConnectionState"]
    assert (sent["status"], sent["description"]) == ("Rejected", "not ours")
    record = em.connection(SUB, "rg-data", "pg-orders", name)
    assert record is not None
    assert record["status"] == "Rejected"


def test_network_delete_and_busy_server(az: Az, em: Emulator) -> None:
    em.state.op_seconds = 30
    first, second = names(em)["Approved"], names(em)["Pending"]
    done = az(
        "network",
        "private-endpoint-connection",
        "delete",
        "--id",
        f"{SRV}/privateEndpointConnections/{first}",
        "--yes",
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    assert "WARNING: Deleting operation is asynchronous" in done.stderr
    done = az(
        "network",
        "private-endpoint-connection",
        "delete",
        "--id",
        f"{SRV}/privateEndpointConnections/{second}",
        "--yes",
    )
    assert done.returncode == 1
    assert done.stderr.startswith('ERROR: Conflict({"error": {"code": "ServerIsBusy"')


def test_network_reject_forbidden(az: Az, em: Emulator) -> None:
    em.inject("PUT", "*/privateEndpointConnections/*", 403, times=None)
    done = az(
        "network",
        "private-endpoint-connection",
        "reject",
        "--id",
        f"{SRV}/privateEndpointConnections/{names(em)['Pending']}",
    )
    assert done.returncode == 1
    assert done.stderr.startswith('ERROR: Forbidden({"error": {"code": "AuthorizationFailed"')


class HeldClock:
    """Emulator time that stands still until the test moves it: how long az takes on a
    loaded machine cannot end the operation early."""

    def __init__(self) -> None:
        self.now = time.monotonic()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def held_clock(em: Emulator) -> Iterator[HeldClock]:
    clock = HeldClock()
    em.state.clock = clock
    yield clock
    em.state.clock = time.monotonic


def test_network_reject_at_once_then_the_server_is_still_busy(
    az: Az, em: Emulator, held_clock: HeldClock
) -> None:
    """``at-once``: az's first re-GET (10 s after the PUT) already sees Rejected/Succeeded, so
    reject returns while the operation runs; the server reads Updating and refuses the next
    write with 409 ServerIsBusy until the operation's 20 s are over."""
    em.set_timing("at-once", 20)
    first, second = [
        c["name"] for c in em.connections(SUB, "rg-data", "pg-orders") if c["status"] == "Pending"
    ]
    done = az(
        "network",
        "private-endpoint-connection",
        "reject",
        "--id",
        f"{SRV}/privateEndpointConnections/{first}",
        "--description",
        "not ours",
    )
    assert done.returncode == 0, done.stderr
    props = json.loads(done.stdout)["properties"]
    assert (props["privateLinkServiceConnectionState"]["status"], props["provisioningState"]) == (
        "Rejected",
        "Succeeded",
    )
    assert [(r["method"], r["status"]) for r in em.requests()] == [("GET", 200), ("PUT", 202), ("GET", 200)]

    done = az(
        "postgres",
        "flexible-server",
        "show",
        "-g",
        "rg-data",
        "-n",
        "pg-orders",
        "--query",
        "[state, privateEndpointConnections[0].privateLinkServiceConnectionState.status]",
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == ["Updating", "Rejected"]

    done = az(
        "network",
        "private-endpoint-connection",
        "reject",
        "--id",
        f"{SRV}/privateEndpointConnections/{second}",
    )
    assert done.returncode == 1
    assert done.stderr.startswith('ERROR: Conflict({"error": {"code": "ServerIsBusy"')
    record = em.connection(SUB, "rg-data", "pg-orders", second)
    assert record is not None
    assert record["status"] == "Pending"

    held_clock.now += 19.9
    assert em.server_state(SUB, "rg-data", "pg-orders") == "Updating"
    held_clock.now += 0.1
    assert em.server_state(SUB, "rg-data", "pg-orders") == "Ready"


# The real az with only its network-family poll interval shortened (10 s -> 0.05 s), so its
# 20 polls take about a second instead of 200 s.
FAST_POLLS = """
import runpy, sys
from azure.cli.command_modules.network.private_link_resource_and_endpoint_connections import (
    resource_providers,
)
resource_providers.RETRY_INTERVAL = 0.05
sys.argv = ["az", *sys.argv[1:]]
runpy.run_module("azure.cli", run_name="__main__", alter_sys=True)
"""


@pytest.mark.parametrize("model", ["at-end", "at-once"])
def test_network_approve_of_a_rejected_connection_gives_up_and_prints_the_202_body(
    az: Az, em: Emulator, model: str
) -> None:
    """The operation fails and the connection stays Rejected: after its 20 polls az warns,
    prints the PUT's 202 body and exits 0 (with an empty 202 body it crashed)."""
    em.set_timing(model, 1.0)
    name = names(em)["Rejected"]
    python = Path(AZ).with_name("python")  # the venv's python, which runs this az
    if not python.exists():
        pytest.skip(f"no python beside {AZ} to run az with shortened polls")
    done = subprocess.run(
        [str(python), "-c", FAST_POLLS, "network", "private-endpoint-connection", "approve", "--id",
         f"{SRV}/privateEndpointConnections/{name}"],
        env=az.env | {"AZ_INSTALLER": "PIP"},
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=120,
        check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stderr.startswith("WARNING: Cannot query the state of private endpoint connection.")
    printed = json.loads(done.stdout)
    assert printed == {
        "operation": "UpsertPrivateEndpointConnectionManagementOperation",
        "startTime": printed["startTime"],
    }
    log = em.requests()
    assert [(r["method"], r["status"]) for r in log] == [("GET", 200), ("PUT", 202)] + [("GET", 200)] * 20
    record = em.connection(SUB, "rg-data", "pg-orders", name)
    assert record is not None
    assert record["status"] == "Rejected"
