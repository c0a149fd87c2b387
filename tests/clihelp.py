"""Running the azpe CLI in-process, and the exact az argv azpe is expected to build."""

from __future__ import annotations

import json
from typing import Any

from typer.testing import CliRunner

from azpe.cli import app
from tests.azsamples import RG, SERVER


def run(*args: str, stdin: str | None = None) -> Any:
    return CliRunner().invoke(app, list(args), input=stdin)


def records(result: Any) -> Any:
    return json.loads(result.stdout)


def show_argv(az: str, server: str = SERVER, rg: str = RG, sub: str | None = None) -> list[str]:
    scope = ["--subscription", sub] if sub else []
    return [
        az,
        "postgres",
        "flexible-server",
        "show",
        "--resource-group",
        rg,
        "--name",
        server,
        *scope,
        "--only-show-errors",
        "-o",
        "json",
    ]


def list_argv(az: str, rg: str | None = None, sub: str | None = None) -> list[str]:
    group = ["--resource-group", rg] if rg else []
    scope = ["--subscription", sub] if sub else []
    return [az, "postgres", "flexible-server", "list", *group, *scope, "--only-show-errors", "-o", "json"]


def write_argv(
    az: str,
    action: str,
    name: str,
    *,
    server: str = SERVER,
    rg: str = RG,
    sub: str | None = None,
    description: str | None = None,
) -> list[str]:
    """The az argv of a write, in the ``-g --resource-name --type -n`` form of the Azure docs,
    each form written out whole (test_cli_write.py states the same argv with literal values)."""
    scope = ["--subscription", sub] if sub else []
    if action == "delete":
        return [
            az, "network", "private-endpoint-connection", "delete",
            "--resource-group", rg, "--resource-name", server,
            "--type", "Microsoft.DBforPostgreSQL/flexibleServers", "--name", name,
            *scope, "--yes", "--only-show-errors", "-o", "json",
        ]  # fmt: skip
    assert action in ("reject", "approve"), action
    if description is None:
        return [
            az, "network", "private-endpoint-connection", action,
            "--resource-group", rg, "--resource-name", server,
            "--type", "Microsoft.DBforPostgreSQL/flexibleServers", "--name", name,
            *scope, "--only-show-errors", "-o", "json",
        ]  # fmt: skip
    return [
        az, "network", "private-endpoint-connection", action,
        "--resource-group", rg, "--resource-name", server,
        "--type", "Microsoft.DBforPostgreSQL/flexibleServers", "--name", name,
        *scope, f"--description={description}", "--only-show-errors", "-o", "json",
    ]  # fmt: skip
