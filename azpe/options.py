"""Command-line options shared by several commands, declared once (Typer ``Annotated`` types)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

READ_TIMEOUT = 60.0
WRITE_TIMEOUT = 300.0
MAX_SECONDS = 86400  # a day: beyond it, timeouts overflow the platform's wait calls

Subscription = Annotated[
    str | None,
    typer.Option(
        "--subscription", metavar="SUBSCRIPTION", help="Subscription name or ID (default: az's default)."
    ),
]
Output = Annotated[
    str, typer.Option("-o", "--output", metavar="FORMAT", help="json, jsonl, table, tsv, ids or none.")
]
Query = Annotated[
    str | None,
    typer.Option("--query", metavar="JMESPATH", help="JMESPath applied to the JSON result, as az does."),
]
AzPath = Annotated[
    str | None, typer.Option("--az", metavar="PATH", help="Path of az [default: $AZPE_AZ, else az on PATH].")
]
Verbose = Annotated[
    int,
    typer.Option("-v", "--verbose", count=True, help="Log every az argv to stderr (-vv: and az's output)."),
]
Timeout = Annotated[
    float | None,
    typer.Option(
        "--timeout",
        metavar="SECONDS",
        min=1,
        max=MAX_SECONDS,
        help="Seconds per az call [default: 60 for reads, 300 for writes; at most a day].",
    ),
]

ResourceGroup = Annotated[
    str | None, typer.Option("-g", "--resource-group", metavar="RG", help="Resource group.")
]
ServerName = Annotated[
    str | None, typer.Option("-s", "--server", metavar="SERVER", help="Flexible server name (with -g).")
]
ServerId = Annotated[
    str | None, typer.Option("--server-id", metavar="ID", help="Full resource ID of a flexible server.")
]
Status = Annotated[
    list[str] | None,
    typer.Option(
        "--status", metavar="STATUS", help="Pending, Approved, Rejected or Disconnected (repeatable)."
    ),
]
Names = Annotated[
    list[str] | None,
    typer.Option("-n", "--name", metavar="NAME", help="Connection name, with -g and -s (repeatable)."),
]
Ids = Annotated[
    list[str] | None,
    typer.Option(
        "--id", metavar="ID", help="Connection ID (repeatable); '-' reads IDs or JSON lines from stdin."
    ),
]

DryRun = Annotated[
    bool, typer.Option("--dry-run", help="Read and plan; write nothing; print each write's az argv.")
]
Yes = Annotated[
    bool,
    typer.Option("--yes", "-y", help="Confirm a --status selection or a delete without asking."),
]
WaitReady = Annotated[
    float,
    typer.Option(
        "--wait-ready",
        metavar="SECONDS",
        min=0,
        max=MAX_SECONDS,
        help="Wait up to SECONDS for a server that is not Ready.",
    ),
]
BusyTimeout = Annotated[
    float,
    typer.Option(
        "--busy-timeout",
        metavar="SECONDS",
        min=0,
        max=MAX_SECONDS,
        help="How long one target may wait for operations on its server: another write's, "
        "or its own write's, to finish [default: 900].",
    ),
]
Retries = Annotated[
    int, typer.Option("--retries", metavar="N", min=0, max=20, help="Retries of a transient failure.")
]
Concurrency = Annotated[
    int, typer.Option("--concurrency", metavar="N", min=1, max=32, help="Servers written in parallel.")
]
Force = Annotated[
    bool,
    typer.Option("--force", help="Override the lock-out guard (last Approved connection, no public access)."),
]
AuditLogFile = Annotated[
    Path | None,
    typer.Option(
        "--audit-log",
        metavar="FILE",
        envvar="AZPE_AUDIT_LOG",
        help="Append one JSON line per decision and per outcome to FILE [env: AZPE_AUDIT_LOG].",
        show_envvar=False,
    ),
]
