"""``azpe sandbox`` as a shell uses it: ``eval "$(azpe sandbox env)"`` in real ``sh`` from
other directories (applied, or a visible failure), ``env --unset``, ``status``, ``dump``,
``fault``, ``server-state`` and ``timing``. The emulator runs with a fake az (no real az)."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from azpe.sandbox import default_scenario
from azpe.sandbox.cli import app
from azpe.sandbox.control import admin, read_info
from azpe.sandbox.scenarios import DEFAULT_SUBSCRIPTION

runner = CliRunner()
SHOWN = ("AZURE_CONFIG_DIR", "REQUESTS_CA_BUNDLE", "AZPE_SANDBOX_DIR", "AZPE_SANDBOX_SAVED")


@pytest.fixture
def bin_dir(tmp_path: Path) -> Path:
    """A PATH directory with ``azpe`` (this interpreter's) and a fake ``az``."""
    path = tmp_path / "bin"
    path.mkdir()
    (path / "azpe").write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} -m azpe "$@"\n')
    (path / "az").write_text("#!/bin/sh\nexit 0\n")
    for name in ("azpe", "az"):
        (path / name).chmod(0o755)
    return path


def clean_env(bin_dir: Path, **extra: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("AZURE_", "AZPE_", "REQUESTS_"))}
    return base | {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"} | extra


def sh(script: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["sh", "-c", script], cwd=cwd, env=env, capture_output=True, text=True, timeout=60, check=False
    )


def show_vars() -> str:
    """Shell code printing each of SHOWN as NAME=value or NAME unset."""
    return "; ".join(f'echo "{n}=${{{n}-<unset>}}"' for n in SHOWN)


def shown(stdout: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in stdout.splitlines() if line.split("=", 1)[0] in SHOWN)


@pytest.fixture
def sandbox(tmp_path: Path, bin_dir: Path) -> Iterator[Path]:
    state_dir = tmp_path / "project" / ".sandbox"
    state_dir.parent.mkdir()
    argv = ["start", "--dir", str(state_dir), "--az", str(bin_dir / "az"), "--op-seconds", "0"]
    result = runner.invoke(app, argv)
    assert result.exit_code == 0, result.output
    yield state_dir
    if read_info(state_dir) is not None:
        runner.invoke(app, ["stop", "--dir", str(state_dir)])


# -- env: applied, or a visible failure ---------------------------------------------------------


@pytest.mark.parametrize("setup", ["none", "stopped"])
def test_eval_env_without_a_sandbox_fails_visibly(tmp_path: Path, bin_dir: Path, setup: str) -> None:
    here = tmp_path / "elsewhere"
    here.mkdir()
    if setup == "stopped":  # a sandbox directory whose emulator is gone
        (here / ".sandbox" / "azure").mkdir(parents=True)
    env = clean_env(bin_dir)
    done = sh(f'eval "$(azpe sandbox env)"; echo "status=$?"; {show_vars()}', here, env)
    assert "status=1" in done.stdout.splitlines()
    assert shown(done.stdout) == dict.fromkeys(SHOWN, "<unset>")
    why = "the directory does not exist" if setup == "none" else "no emulator runs there"
    assert f"no sandbox is running in {here / '.sandbox'} ({why})" in done.stderr
    assert "Nothing was applied: this shell's az is unchanged." in done.stderr
    # Under `set -e` the script stops at the eval.
    strict = sh('set -e; eval "$(azpe sandbox env)"; echo reached', here, env)
    assert strict.returncode != 0 and "reached" not in strict.stdout
    assert "no sandbox is running" in strict.stderr


def test_env_on_a_terminal_writes_the_reason_to_stderr(tmp_path: Path, bin_dir: Path) -> None:
    """Without eval (stdout a terminal) the reason goes to stderr, not shell code to stdout."""
    script = "import pty, sys; sys.exit(pty.spawn(['azpe', 'sandbox', 'env']) >> 8)"  # exit status
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        env=clean_env(bin_dir),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert "azpe sandbox env: no sandbox is running" in done.stdout  # the pty carries both
    assert "printf" not in done.stdout and "false" not in done.stdout


def test_eval_env_applies_from_another_directory_and_unset_restores(
    sandbox: Path, tmp_path: Path, bin_dir: Path
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = clean_env(bin_dir, REQUESTS_CA_BUNDLE="/etc/my-ca.pem")
    script = (
        f'eval "$(azpe sandbox env --dir {shlex.quote(str(sandbox))})"; echo "status=$?"; {show_vars()}; '
        # once applied, azpe sandbox finds the same sandbox from any directory
        'cd /; azpe sandbox status | head -4; echo "---"; '
        f'eval "$(azpe sandbox env --unset)"; echo "unset=$?"; {show_vars()}'
    )
    done = sh(script, elsewhere, env)
    assert done.returncode == 0, done.stderr
    applied, after = done.stdout.split("---\n")
    assert "status=0" in applied.splitlines()
    values = shown(applied)
    assert values["AZURE_CONFIG_DIR"] == str(sandbox / "azure")
    assert values["REQUESTS_CA_BUNDLE"] == str(sandbox / "ca.pem")
    assert values["AZPE_SANDBOX_DIR"] == str(sandbox)
    assert f"sandbox directory: {sandbox} ($AZPE_SANDBOX_DIR)" in applied
    assert "this shell: az uses this sandbox" in applied
    assert "unset=0" in after.splitlines()
    assert shown(after) == dict.fromkeys(SHOWN, "<unset>") | {"REQUESTS_CA_BUNDLE": "/etc/my-ca.pem"}


@pytest.mark.parametrize("how", ["--dir", "AZPE_SANDBOX_DIR"])
def test_exported_paths_are_absolute(sandbox: Path, bin_dir: Path, how: str) -> None:
    project = sandbox.parent
    relative = ".sandbox"
    if how == "--dir":
        env, script = clean_env(bin_dir), f'eval "$(azpe sandbox env --dir {relative})"'
    else:
        env, script = clean_env(bin_dir, AZPE_SANDBOX_DIR=relative), 'eval "$(azpe sandbox env)"'
    done = sh(f"{script}; {show_vars()}", project, env)
    values = shown(done.stdout)
    for name in ("AZURE_CONFIG_DIR", "REQUESTS_CA_BUNDLE", "AZPE_SANDBOX_DIR"):
        assert Path(values[name]).is_absolute(), (name, values[name])
    assert values["AZPE_SANDBOX_DIR"] == str(sandbox)


def test_a_second_env_keeps_what_the_shell_had_before_the_first(sandbox: Path, bin_dir: Path) -> None:
    env = clean_env(bin_dir, AZURE_CONFIG_DIR="/home/me/.azure")
    here = sandbox.parent
    script = (
        'eval "$(azpe sandbox env)"; eval "$(azpe sandbox env)"; '
        f'eval "$(azpe sandbox env --unset)"; {show_vars()}'
    )
    done = sh(script, here, env)
    assert shown(done.stdout) == dict.fromkeys(SHOWN, "<unset>") | {"AZURE_CONFIG_DIR": "/home/me/.azure"}


def test_unset_without_an_applied_env_changes_nothing(tmp_path: Path, bin_dir: Path) -> None:
    env = clean_env(bin_dir, AZURE_CONFIG_DIR="/home/me/.azure")
    done = sh(f'eval "$(azpe sandbox env --unset)"; echo "status=$?"; {show_vars()}', tmp_path, env)
    assert "status=0" in done.stdout.splitlines()
    assert shown(done.stdout)["AZURE_CONFIG_DIR"] == "/home/me/.azure"
    assert "no sandbox environment is applied in this shell" in done.stderr


def test_env_refuses_a_sandbox_without_its_az_configuration(sandbox: Path, bin_dir: Path) -> None:
    (sandbox / "azure" / ".azpe-sandbox").unlink()
    done = sh(
        f'eval "$(azpe sandbox env)"; echo "status=$?"; {show_vars()}', sandbox.parent, clean_env(bin_dir)
    )
    assert "status=1" in done.stdout.splitlines()
    assert shown(done.stdout)["AZURE_CONFIG_DIR"] == "<unset>"
    assert "has no az configuration made by `azpe sandbox start`" in done.stderr


def test_env_fails_visibly_when_the_emulator_does_not_answer(
    sandbox: Path, bin_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    info = json.loads((sandbox / "server.json").read_text())
    info["url"] = "https://127.0.0.1:1"  # the process lives, the port answers nothing
    (sandbox / "server.json").write_text(json.dumps(info))
    done = sh('eval "$(azpe sandbox env)"; echo "status=$?"', sandbox.parent, clean_env(bin_dir))
    assert "status=1" in done.stdout.splitlines()
    assert "does not answer" in done.stderr


# -- status -------------------------------------------------------------------------------------


def test_status_says_which_directory_and_emulator(sandbox: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AZPE_SANDBOX_DIR", raising=False)
    monkeypatch.delenv("AZURE_CONFIG_DIR", raising=False)
    monkeypatch.chdir(sandbox.parent)
    info = read_info(sandbox)
    assert info is not None
    lines = runner.invoke(app, ["status"]).stdout.splitlines()
    assert lines[:4] == [
        f"sandbox directory: {sandbox} (the default ./.sandbox; --dir or $AZPE_SANDBOX_DIR choose another)",
        f"emulator: running at {info['url']}, pid {info['pid']}",
        f"az configuration: {sandbox / 'azure'}",
        "this shell: az does NOT use this sandbox (AZURE_CONFIG_DIR is unset: your own az login); "
        'run: eval "$(azpe sandbox env)"',
    ]
    monkeypatch.setenv("AZURE_CONFIG_DIR", str(sandbox / "azure"))
    assert "this shell: az uses this sandbox" in runner.invoke(app, ["status", "--dir", str(sandbox)]).stdout


# -- dump, fault, server-state, timing ----------------------------------------------------------


def test_dump_prints_the_state_in_the_seed_format(sandbox: Path, tmp_path: Path) -> None:
    info = read_info(sandbox)
    assert info is not None
    result = runner.invoke(app, ["dump", "--dir", str(sandbox)])
    assert result.exit_code == 0
    assert json.loads(result.stdout) == admin(info, "GET", "state")
    # ... which seed takes back (from stdin here), after a change
    state = json.loads(result.stdout)
    servers = state["subscriptions"][0]["resourceGroups"][0]["servers"]
    servers[0]["connections"][0]["status"] = "Rejected"
    del servers[1]
    seeded = runner.invoke(app, ["seed", "-", "--dir", str(sandbox)], input=json.dumps(state))
    assert seeded.exit_code == 0, seeded.output
    again = json.loads(runner.invoke(app, ["dump", "--dir", str(sandbox)]).stdout)
    assert again == state
    out = tmp_path / "state.json"
    assert runner.invoke(app, ["dump", "--dir", str(sandbox), "-o", str(out)]).exit_code == 0
    assert json.loads(out.read_text()) == state


def test_fault_add_list_clear(sandbox: Path) -> None:
    info = read_info(sandbox)
    assert info is not None
    d = ["--dir", str(sandbox)]
    argv = ["fault", "add", "*/privateEndpointConnections/*", "--method", "put", "--status", "429"]
    result = runner.invoke(app, [*argv, "--retry-after", "3", "--times", "2", *d])
    assert result.exit_code == 0, result.output
    expected = {
        "method": "PUT",
        "path": "*/privateEndpointConnections/*",
        "status": 429,
        "code": None,
        "message": None,
        "retry_after": 3,
        "times": 2,
        "hold_seconds": None,
        "malformed": False,
    }
    assert json.loads(result.stdout) == [expected]
    argv = ["fault", "add", "--method", "GET", "--hold-forever", "--always", "--malformed", *d]
    assert runner.invoke(app, argv).exit_code == 0
    held = expected | {"method": "GET", "path": "*", "status": None, "retry_after": None}
    held |= {"times": None, "hold_seconds": -1, "malformed": True}
    assert admin(info, "GET", "faults") == [expected, held]
    assert json.loads(runner.invoke(app, ["fault", "list", *d]).stdout) == [expected, held]
    assert runner.invoke(app, ["fault", "clear", *d]).exit_code == 0
    assert admin(info, "GET", "faults") == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "a fault needs --status, --hold-seconds, --hold-forever or --malformed"),
        (["--hold-seconds", "3", "--hold-forever"], "not both"),
    ],
)
def test_fault_add_refuses_a_fault_that_does_nothing(sandbox: Path, args: list[str], message: str) -> None:
    result = runner.invoke(app, ["fault", "add", *args, "--dir", str(sandbox)])
    assert result.exit_code == 2
    assert message in result.stderr


def test_a_fault_answers_the_request(sandbox: Path) -> None:
    import ssl
    import urllib.error
    import urllib.request

    info = read_info(sandbox)
    assert info is not None
    argv = ["fault", "add", "/subscriptions/*", "--status", "503", "--message", "down for test"]
    assert runner.invoke(app, [*argv, "--dir", str(sandbox)]).exit_code == 0
    context = ssl.create_default_context(cafile=info["ca"])
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(f"{info['url']}/subscriptions/x?api-version=1", context=context, timeout=10)
    with err.value:  # closes its connection
        assert err.value.code == 503
        assert "down for test" in err.value.read().decode()


def test_server_state_sets_a_state_for_a_while(sandbox: Path) -> None:
    d = ["--dir", str(sandbox)]
    result = runner.invoke(app, ["server-state", "pg-orders", "Updating", "--ready-after", "60", *d])
    assert result.exit_code == 0, result.output
    assert "rg-data/pg-orders: Updating, Ready after 60 s" in result.stderr
    servers = json.loads(runner.invoke(app, ["dump", *d]).stdout)["subscriptions"][0]["resourceGroups"][0]
    orders = next(s for s in servers["servers"] if s["name"] == "pg-orders")
    assert orders["state"] == "Updating" and 55 < orders["readyAfter"] <= 60
    argv = ["server-state", "pg-reports", "Stopped", "-g", "rg-data", "--subscription", DEFAULT_SUBSCRIPTION]
    assert runner.invoke(app, [*argv, *d]).exit_code == 0
    assert "pg-reports: Stopped" in runner.invoke(app, ["status", *d]).stdout


def test_server_state_names_an_unknown_or_ambiguous_server(sandbox: Path) -> None:
    d = ["--dir", str(sandbox)]
    result = runner.invoke(app, ["server-state", "pg-nope", "Updating", *d])
    assert result.exit_code == 2 and "no server 'pg-nope' in the sandbox" in result.stderr
    scenario = default_scenario()
    twin = json.loads(json.dumps(scenario["subscriptions"][0]["resourceGroups"][0]))
    twin["name"] = "rg-twin"
    scenario["subscriptions"][0]["resourceGroups"].append(twin)
    assert runner.invoke(app, ["seed", "-", *d], input=json.dumps(scenario)).exit_code == 0
    result = runner.invoke(app, ["server-state", "pg-orders", "Updating", *d])
    assert result.exit_code == 2 and "is in more than one place" in result.stderr
    assert "-g rg-twin" in result.stderr
    assert runner.invoke(app, ["server-state", "pg-orders", "Updating", "-g", "rg-twin", *d]).exit_code == 0


def test_timing_shows_and_changes_the_connection_writes(sandbox: Path) -> None:
    d = ["--dir", str(sandbox)]
    assert runner.invoke(app, ["timing", *d]).stdout == "connection writes: 0 s, timing at-end\n"
    result = runner.invoke(app, ["timing", "--op-seconds", "4.5", "--timing", "at-once", *d])
    assert result.stdout == "connection writes: 4.5 s, timing at-once\n"
    info = read_info(sandbox)
    assert info is not None and admin(info, "GET", "timing") == {"opSeconds": 4.5, "timing": "at-once"}


def test_admin_faults_match_a_lowercase_method(sandbox: Path) -> None:
    """POST /_sandbox/faults with "method": "get" matches GET requests (it never did)."""
    import ssl
    import urllib.error
    import urllib.request

    info = read_info(sandbox)
    assert info is not None
    admin(info, "POST", "faults", {"method": "get", "path": "/subscriptions/*", "status": 502})
    context = ssl.create_default_context(cafile=info["ca"])
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(f"{info['url']}/subscriptions/x?api-version=1", context=context, timeout=10)
    with err.value:  # closes its connection
        assert err.value.code == 502
