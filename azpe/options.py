"""Command-line options shared by several commands, declared once (Typer ``Annotated`` types).

Every option that takes text is read through ``text`` (or ``path``): a value given empty is
refused (exit 2, nothing run), never taken for "not given" - ``--server-id "$ID"`` with ``ID``
unset must not widen a write to the whole subscription.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from azpe.models import KNOWN_STATUSES
from azpe.render import FORMATS

READ_TIMEOUT = 60.0
WRITE_TIMEOUT = 300.0
MAX_SECONDS = 86400  # a day: beyond it, timeouts overflow the platform's wait calls


def path_text(value: str) -> str:
    """A path as given (``--az ./az`` and ``--az az`` differ: only the second searches PATH):
    not empty (``Path("")`` is the current directory) and without NUL. A path may hold bytes
    that are not UTF-8: file names are bytes."""
    if value == "":
        raise typer.BadParameter("must not be empty (give a path, or leave the option out)")
    if "\0" in value:
        raise typer.BadParameter("must not hold a NUL character")
    return value


def path(value: str) -> Path:
    return Path(path_text(value))


def text(value: str) -> str:
    """Any other option's text: not empty, valid UTF-8 (an argument that is not arrives with
    surrogate escapes, which can be neither printed as JSON nor written to the audit log), and
    without NUL (no argv can carry one to az)."""
    if value == "":
        raise typer.BadParameter("must not be empty (give a value, or leave the option out)")
    if "\0" in value:
        raise typer.BadParameter("must not hold a NUL character")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise typer.BadParameter("not valid UTF-8") from None
    return value


Subscription = Annotated[
    list[str] | None,
    typer.Option(
        "--subscription",
        metavar="SUBSCRIPTION",
        parser=text,
        help="Subscription name or ID [default: az's default]; repeatable where a command takes "
        "a scope (each is read on its own, in parallel).",
    ),
]
AllSubscriptions = Annotated[
    bool,
    typer.Option(
        "--all-subscriptions",
        help="The scope is every usable subscription of the login in az's current cloud: Enabled, "
        "Warned or PastDue (az account list --all); Disabled ones are named and left out.",
    ),
]
ShardOption = Annotated[
    str | None,
    typer.Option(
        "--shard",
        metavar="K/N",
        parser=text,
        help="Take part K of N of the servers in scope (a stable split, for a CI matrix).",
    ),
]
Endpoints = Annotated[
    list[str] | None,
    typer.Option(
        "--endpoint",
        metavar="GLOB",
        parser=text,
        help="Only connections of private endpoints whose name (or the connection's) matches GLOB "
        "(repeatable; * ? [...] as in the shell, case-insensitive).",
    ),
]
EndpointSubscriptions = Annotated[
    list[str] | None,
    typer.Option(
        "--endpoint-subscription",
        metavar="ID",
        parser=text,
        help="Only connections of private endpoints in this subscription (repeatable).",
    ),
]
Owner = Annotated[
    str | None,
    typer.Option(
        "--owner",
        metavar="OWNER",
        parser=text,
        autocompletion=lambda: ["own", "foreign"],
        help="own: endpoints in a subscription of this login (or of --organisation); foreign: the rest.",
    ),
]
Organisation = Annotated[
    Path | None,
    typer.Option(
        "--organisation",
        metavar="FILE",
        parser=path,
        help="A policy file: the subscriptions its [organisation] names count as own too.",
    ),
]
Output = Annotated[
    str,
    typer.Option(
        "-o",
        "--output",
        metavar="FORMAT",
        parser=text,
        autocompletion=lambda: list(FORMATS),
        help="json, jsonl, table, tsv, csv, ids or none.",
    ),
]
Query = Annotated[
    str | None,
    typer.Option(
        "--query", metavar="JMESPATH", parser=text, help="JMESPath applied to the JSON result, as az does."
    ),
]
AzPath = Annotated[
    str | None,
    typer.Option(
        "--az", metavar="PATH", parser=path_text, help="Path of az [default: $AZPE_AZ, else az on PATH]."
    ),
]
Verbose = Annotated[
    int,
    typer.Option(
        "-v",
        "--verbose",
        count=True,
        show_default=False,
        help="Log every az argv to stderr (-vv: and az's output).",
    ),
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
    str | None, typer.Option("-g", "--resource-group", metavar="RG", parser=text, help="Resource group.")
]
ServerName = Annotated[
    str | None,
    typer.Option("-s", "--server", metavar="SERVER", parser=text, help="Flexible server name (with -g)."),
]
ServerId = Annotated[
    str | None,
    typer.Option("--server-id", metavar="ID", parser=text, help="Full resource ID of a flexible server."),
]
Status = Annotated[
    list[str] | None,
    typer.Option(
        "--status",
        metavar="STATUS",
        parser=text,
        autocompletion=lambda: list(KNOWN_STATUSES),
        help="Pending, Approved, Rejected or Disconnected (repeatable).",
    ),
]
Names = Annotated[
    list[str] | None,
    typer.Option(
        "-n", "--name", metavar="NAME", parser=text, help="Connection name, with -g and -s (repeatable)."
    ),
]
Ids = Annotated[
    list[str] | None,
    typer.Option(
        "--id",
        metavar="ID",
        parser=text,
        help="Connection ID (repeatable); '-' reads IDs, or azpe's or jq's JSON, from stdin.",
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
        "or its own write's, to finish.",
    ),
]
Retries = Annotated[
    int, typer.Option("--retries", metavar="N", min=0, max=20, help="Retries of a transient failure.")
]
Concurrency = Annotated[
    int | None,
    typer.Option(
        "--concurrency",
        metavar="N",
        min=1,
        max=256,
        help="At most N servers written in parallel [default: every server with work; az is "
        "started at the pace this machine's CPUs take it].",
    ),
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
        parser=path,
        envvar="AZPE_AUDIT_LOG",
        help="Append one JSON line per decision and per outcome to FILE [env: AZPE_AUDIT_LOG].",
        show_envvar=False,
    ),
]
