"""``azpe sandbox`` start/env/status/seed/stop with a fake az that records its argv (the
real az runs in tests/e2e/test_sandbox_az.py)."""

from __future__ import annotations

import json
import os
import re
import shlex
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from azpe.sandbox import APP_ID, default_scenario
from azpe.sandbox.cli import ENV_NAMES, app
from azpe.sandbox.control import read_info

runner = CliRunner()


@pytest.fixture
def fake_az(tmp_path: Path) -> Path:
    script = tmp_path / "az"
    script.write_text('#!/bin/sh\nprintf "%s|%s\\n" "$AZURE_CONFIG_DIR" "$*" >> "$(dirname "$0")/az.log"\n')
    script.chmod(0o755)
    return script


@pytest.fixture
def sandbox(tmp_path: Path, fake_az: Path) -> Iterator[Path]:
    state_dir = tmp_path / "sb"
    result = runner.invoke(app, ["start", "--dir", str(state_dir), "--az", str(fake_az), "--op-seconds", "0"])
    assert result.exit_code == 0, result.output
    yield state_dir
    info = read_info(state_dir)
    if info is not None:
        runner.invoke(app, ["stop", "--dir", str(state_dir)])


def test_start_logs_an_isolated_az_into_the_emulator(sandbox: Path, fake_az: Path) -> None:
    info = read_info(sandbox)
    assert info is not None
    calls = (fake_az.parent / "az.log").read_text().splitlines()
    assert all(c.startswith(f"{sandbox / 'azure'}|") for c in calls)
    argv = [c.split("|", 1)[1] for c in calls]
    assert argv[0] == f"cloud register --name AzpeSandbox --endpoint-resource-manager {info['url']}/"
    assert argv[1] == "cloud set --name AzpeSandbox"
    assert argv[2].startswith(f"login --service-principal --username {APP_ID} --password ")
    assert argv[3] == "account set --subscription 00000000-0000-0000-0000-00000000aaaa"


def test_env_prints_shell_exports(sandbox: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (*ENV_NAMES, "AZPE_SANDBOX_DIR", "AZPE_SANDBOX_SAVED"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/my-ca.pem")
    result = runner.invoke(app, ["env", "--dir", str(sandbox)])
    assert result.exit_code == 0
    saved: dict[str, str | None] = dict.fromkeys((*ENV_NAMES, "AZPE_SANDBOX_DIR"))
    saved["REQUESTS_CA_BUNDLE"] = "/etc/my-ca.pem"
    assert result.stdout.splitlines() == [
        f"export AZURE_CONFIG_DIR={shlex.quote(str(sandbox / 'azure'))}",
        f"export REQUESTS_CA_BUNDLE={shlex.quote(str(sandbox / 'ca.pem'))}",
        "export AZURE_CORE_INSTANCE_DISCOVERY=false",
        "export AZURE_CORE_COLLECT_TELEMETRY=false",
        f"export AZPE_SANDBOX_DIR={shlex.quote(str(sandbox))}",
        f"export AZPE_SANDBOX_SAVED={shlex.quote(json.dumps(saved))}",
    ]


def test_status_seed_and_stop(sandbox: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["status", "--dir", str(sandbox)])
    assert result.exit_code == 0
    assert (
        "pg-orders: Ready, public access Disabled, connections: Approved 1, Pending 2, "
        "Rejected 1" in result.stdout
    )

    scenario = default_scenario()
    scenario["subscriptions"][0]["resourceGroups"][0]["servers"].pop()
    seed = tmp_path / "seed.json"
    seed.write_text(json.dumps(scenario))
    assert runner.invoke(app, ["seed", str(seed), "--dir", str(sandbox)]).exit_code == 0
    assert "pg-reports" not in runner.invoke(app, ["status", "--dir", str(sandbox)]).stdout

    pid = int(json.loads((sandbox / "server.json").read_text())["pid"])
    result = runner.invoke(app, ["stop", "--dir", str(sandbox)])
    assert result.exit_code == 0
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert not (sandbox / "server.json").exists()
    final = json.loads((sandbox / "state.json").read_text())
    assert len(final["subscriptions"][0]["resourceGroups"][0]["servers"]) == 1


def test_start_twice_is_an_error(sandbox: Path, fake_az: Path) -> None:
    result = runner.invoke(app, ["start", "--dir", str(sandbox), "--az", str(fake_az)])
    assert result.exit_code == 1
    assert "already running" in result.stderr


@pytest.mark.parametrize(
    "command",
    [
        ["status"],
        ["stop"],
        ["seed", "--default"],
        ["dump"],
        ["fault", "list"],
        ["fault", "clear"],
        ["fault", "add", "--status", "500"],
        ["server-state", "pg-orders", "Updating"],
        ["timing"],
    ],
)
def test_commands_need_a_running_sandbox(tmp_path: Path, command: list[str]) -> None:
    result = runner.invoke(app, [*command, "--dir", str(tmp_path)])
    assert result.exit_code == 1
    assert f"no sandbox is running in {tmp_path} (no emulator runs there)" in result.stderr


def test_seed_needs_a_file_or_default(tmp_path: Path) -> None:
    result = runner.invoke(app, ["seed", "--dir", str(tmp_path)])
    assert result.exit_code == 2


def test_missing_az_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AZPE_AZ", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    result = runner.invoke(app, ["start", "--dir", str(tmp_path / "sb")])
    assert result.exit_code == 1
    assert "az not found" in result.stderr
    assert read_info(tmp_path / "sb") is None


def test_failed_az_setup_stops_the_emulator(tmp_path: Path) -> None:
    bad = tmp_path / "az"
    bad.write_text("#!/bin/sh\necho 'ERROR: boom' >&2\nexit 1\n")
    bad.chmod(0o755)
    result = runner.invoke(app, ["start", "--dir", str(tmp_path / "sb"), "--az", str(bad)])
    assert result.exit_code == 1
    assert "ERROR: boom" in result.stderr
    assert read_info(tmp_path / "sb") is None


def test_prepare_az_never_wipes_a_foreign_config_dir(tmp_path: Path, fake_az: Path) -> None:
    from azpe.sandbox import SandboxError, prepare_az

    foreign = tmp_path / "dot-azure"
    foreign.mkdir()
    (foreign / "azureProfile.json").write_text("{}")
    with pytest.raises(SandboxError, match="not an azpe sandbox"):
        prepare_az(str(fake_az), foreign, "https://127.0.0.1:1", tmp_path / "ca.pem")
    assert (foreign / "azureProfile.json").exists()


def plain(text: str) -> str:
    """Typer's boxed text with the box drawing removed and the lines joined."""
    return " ".join(re.sub("[│╭╮╰╯─]", " ", text).split())


def test_start_takes_the_timing_model_and_status_shows_it(tmp_path: Path, fake_az: Path) -> None:
    from azpe.sandbox.control import admin

    state_dir = tmp_path / "sb"
    argv = ["start", "--dir", str(state_dir), "--az", str(fake_az), "--op-seconds", "7.5"]
    result = runner.invoke(app, [*argv, "--timing", "at-once"])
    assert result.exit_code == 0, result.output
    try:
        info = read_info(state_dir)
        assert info is not None and (info["opSeconds"], info["timing"]) == (7.5, "at-once")
        status = runner.invoke(app, ["status", "--dir", str(state_dir)])
        assert status.exit_code == 0
        assert "connection writes: 7.5 s, timing at-once\n" in status.stdout
        # Changed at runtime through the admin endpoint: status asks the emulator.
        assert admin(info, "POST", "timing", {"timing": "at-end", "opSeconds": 20}) == {
            "opSeconds": 20.0,
            "timing": "at-end",
        }
        status = runner.invoke(app, ["status", "--dir", str(state_dir)])
        assert "connection writes: 20 s, timing at-end\n" in status.stdout
    finally:
        runner.invoke(app, ["stop", "--dir", str(state_dir)])


def test_default_timing_is_at_end(sandbox: Path) -> None:
    status = runner.invoke(app, ["status", "--dir", str(sandbox)])
    assert "connection writes: 0 s, timing at-end\n" in status.stdout


def test_an_unknown_timing_model_is_a_usage_error(tmp_path: Path, fake_az: Path) -> None:
    result = runner.invoke(app, ["start", "--dir", str(tmp_path), "--az", str(fake_az), "--timing", "soon"])
    assert result.exit_code == 2
    assert "'soon' is not one of 'at-end', 'at-once'" in plain(result.stderr)
    assert read_info(tmp_path) is None


def test_timing_choices_are_the_emulator_models_and_help_explains_them() -> None:
    from azpe.sandbox.cli import Timing
    from azpe.sandbox.state import TIMING_MODELS

    assert [t.value for t in Timing] == list(TIMING_MODELS)
    text = plain(runner.invoke(app, ["start", "--help"]).stdout)
    assert "at-end: the connection reads Updating/Deleting with its old status" in text
    assert "at-once: the new status (or the deletion) shows at once" in text
    assert "409 ServerIsBusy" in text


ACCOUNT_LIST = "account list --all --only-show-errors --output json"
REFRESH = "account list --refresh --all --only-show-errors --output none"


@pytest.fixture
def accounts_az(tmp_path: Path) -> Path:
    """A fake az whose profile is accounts.json; a refresh copies refreshed.json over it."""
    folder = tmp_path / "accounts-az"
    folder.mkdir()
    script = folder / "az"
    script.write_text(
        "#!/bin/sh\n"
        'd="$(dirname "$0")"\n'
        'printf "%s\\n" "$*" >> "$d/az.log"\n'
        f'case "$*" in\n'
        f'  "{ACCOUNT_LIST}") cat "$d/accounts.json" ;;\n'
        f'  "{REFRESH}") cp "$d/refreshed.json" "$d/accounts.json" ;;\n'
        "  *) exit 3 ;;\n"
        "esac\n"
    )
    script.chmod(0o755)
    return script


def set_accounts(az: Path, now: list[str], refreshed: list[str]) -> None:
    (az.parent / "accounts.json").write_text(json.dumps([{"id": i, "state": "Enabled"} for i in now]))
    (az.parent / "refreshed.json").write_text(json.dumps([{"id": i} for i in refreshed]))


def az_calls(az: Path) -> list[str]:
    log = az.parent / "az.log"
    return log.read_text().splitlines() if log.exists() else []


def test_seed_refreshes_the_login_when_the_subscriptions_differ(sandbox: Path, accounts_az: Path) -> None:
    from azpe.sandbox.scenarios import SANDBOX_SUBSCRIPTIONS, scenario

    one = [SANDBOX_SUBSCRIPTIONS[0]]
    set_accounts(accounts_az, list(SANDBOX_SUBSCRIPTIONS), [one[0].upper()])  # az's own spelling
    seed = ["seed", "-", "--az", str(accounts_az), "--dir", str(sandbox)]
    result = runner.invoke(app, seed, input=json.dumps(scenario([])))
    assert result.exit_code == 0, result.output
    assert az_calls(accounts_az) == [ACCOUNT_LIST, REFRESH, ACCOUNT_LIST]
    assert result.stderr == (
        "Seeded. The az login was refreshed: it lists 1 subscription(s) now, 4 before "
        "(az keeps its default subscription if it is still there).\n"
    )
    # The same subscriptions again (IDs compared without case): nothing to refresh.
    result = runner.invoke(app, seed, input=json.dumps(scenario([], subscription=one[0])))
    assert result.exit_code == 0, result.output
    assert az_calls(accounts_az)[3:] == [ACCOUNT_LIST]
    assert result.stderr == "Seeded. The az login lists the same 1 subscription(s).\n"


def test_seed_warns_when_the_login_cannot_be_made_to_match(sandbox: Path, accounts_az: Path) -> None:
    from azpe.sandbox.scenarios import DEFAULT_SUBSCRIPTION

    set_accounts(accounts_az, [DEFAULT_SUBSCRIPTION], [DEFAULT_SUBSCRIPTION])  # the refresh changes nothing
    result = runner.invoke(app, ["seed", "--default", "--az", str(accounts_az), "--dir", str(sandbox)])
    assert result.exit_code == 0  # the emulator was seeded
    assert result.stderr.startswith(
        "Seeded. Warning: the sandbox's az login may not list the seeded subscriptions"
    )
    assert f"az's login lists {DEFAULT_SUBSCRIPTION} after the refresh" in result.stderr
    assert az_calls(accounts_az) == [ACCOUNT_LIST, REFRESH, ACCOUNT_LIST]


def test_seed_uses_the_az_that_start_logged_in_and_keep_login_skips_it(sandbox: Path, fake_az: Path) -> None:
    before = len(az_calls(fake_az))
    result = runner.invoke(app, ["seed", "--default", "--dir", str(sandbox)])
    assert result.exit_code == 0
    assert az_calls(fake_az)[before:] == [f"{sandbox / 'azure'}|{ACCOUNT_LIST}"]
    assert "`az account list --all` printed no list of accounts" in result.stderr  # this fake prints none
    result = runner.invoke(app, ["seed", "--default", "--keep-login", "--dir", str(sandbox)])
    assert result.exit_code == 0
    assert result.stderr == "Seeded (the az login was left as it was).\n"
    assert len(az_calls(fake_az)) == before + 1


def test_start_with_a_scenario_without_the_default_subscription_lets_az_choose(
    tmp_path: Path, fake_az: Path
) -> None:
    from azpe.sandbox.scenarios import APPS_SUBSCRIPTION, scenario

    seed = tmp_path / "apps.json"
    seed.write_text(json.dumps(scenario([], subscription=APPS_SUBSCRIPTION)))
    state_dir = tmp_path / "sb"
    result = runner.invoke(app, ["start", "--dir", str(state_dir), "--az", str(fake_az), "--seed", str(seed)])
    try:
        assert result.exit_code == 0, result.output
        calls = [c.split("|", 1)[1] for c in az_calls(fake_az)]
        assert calls[2].startswith("login --service-principal") and len(calls) == 3  # no `account set`
    finally:
        runner.invoke(app, ["stop", "--dir", str(state_dir)])
