"""``azpe sandbox start`` + ``eval "$(azpe sandbox env)"`` with the real az, in ``sh``, from
another directory: az talks to the emulator; ``env --unset`` puts the shell back; from a
directory without a sandbox the eval fails and az stays where it was."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

from tests.e2e.conftest import AZ, SUB


def sh(script: str, cwd: Path, home: Path) -> subprocess.CompletedProcess[str]:
    azpe = shlex.join([sys.executable, "-m", "azpe"])
    base = {k: v for k, v in os.environ.items() if not k.startswith(("AZURE_", "AZPE_", "REQUESTS_"))}
    env = base | {"HOME": str(home), "AZPE_AZ": AZ, "AZ": AZ, "AZPE": azpe}
    return subprocess.run(
        ["sh", "-c", script], cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False
    )


def test_eval_env_points_the_real_az_at_the_sandbox_and_unset_undoes_it(tmp_path: Path) -> None:
    project, elsewhere, home = tmp_path / "project", tmp_path / "elsewhere", tmp_path / "home"
    for d in (project, elsewhere, home):
        d.mkdir()
    start = sh("$AZPE sandbox start --op-seconds 0", project, home)
    assert start.returncode == 0, start.stderr
    try:
        # From another directory with no sandbox: the eval fails and says why.
        done = sh(
            'eval "$($AZPE sandbox env)"; echo "status=$?"; echo "cfg=${AZURE_CONFIG_DIR-}"', elsewhere, home
        )
        assert "status=1" in done.stdout and "cfg=\n" in done.stdout + "\n"
        assert f"no sandbox is running in {elsewhere / '.sandbox'}" in done.stderr
        # Pointed at it by --dir, the real az (and azpe) talk to the emulator from anywhere.
        script = (
            f'eval "$($AZPE sandbox env --dir {shlex.quote(str(project / ".sandbox"))})" || exit 9; '
            '"$AZ" account show -o json; echo "---"; '
            "$AZPE list -g rg-data -s pg-orders -o json; echo '---'; "
            'eval "$($AZPE sandbox env --unset)"; echo "cfg=${AZURE_CONFIG_DIR-<unset>}"'
        )
        done = sh(script, elsewhere, home)
        assert done.returncode == 0, done.stderr
        account, listed, after = done.stdout.split("---\n")
        assert (json.loads(account)["id"], json.loads(account)["environmentName"]) == (SUB, "AzpeSandbox")
        assert len(json.loads(listed)) == 4
        assert after.strip() == "cfg=<unset>"
    finally:
        stop = sh("$AZPE sandbox stop", project, home)
        assert stop.returncode == 0, stop.stderr
