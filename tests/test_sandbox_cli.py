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
