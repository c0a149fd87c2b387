"""Read commands: server show, list, show."""

from typing import Annotated

import typer

from azpe.cli.app import app, handle_errors, open_session, server_app
from azpe.errors import NotFound, UsageError
from azpe.executor import RunOptions
from azpe.ids import ConnectionRef, parse_connection_id, validate_connection_name
from azpe.options import (
    AzPath,
    Output,
    Query,
    ResourceGroup,
    ServerId,
    ServerName,
    Status,
    Subscription,
    Timeout,
    Verbose,
)
from azpe.planning import servers_in_scope
from azpe.render import CONNECTION_COLUMNS, SERVER_COLUMNS
from azpe.targets import build_scope, normalise_statuses
from azpe.writes import reader


@server_app.command("show")
@handle_errors
def server_show(
    resource_group: ResourceGroup = None,
    server: ServerName = None,
    server_id: ServerId = None,
    subscription: Subscription = None,
    output: Output = "json",
    query: Query = None,
    az: AzPath = None,
    verbose: Verbose = 0,
    timeout: Timeout = None,
) -> None:
    """Show a server: state, public network access, and its connections counted by status."""
    scope = build_scope(resource_group, server, server_id, subscription)
    if scope.server is None:
        raise UsageError("server show needs -g RG -s SERVER (or --server-id)")
    session = open_session(
        subscription=subscription, output=output, query=query, az=az, verbose=verbose, timeout=timeout
    )
    ref = scope.server
    found = reader(RunOptions())(lambda: session.client.show_server(ref))
    session.emit(found.to_record(), SERVER_COLUMNS)


@app.command("list")
@handle_errors
def list_connections(
    resource_group: ResourceGroup = None,
    server: ServerName = None,
    server_id: ServerId = None,
    status: Status = None,
    subscription: Subscription = None,
    output: Output = "json",
    query: Query = None,
    az: AzPath = None,
    verbose: Verbose = 0,
    timeout: Timeout = None,
) -> None:
    """List private endpoint connections of a server, a resource group, or the subscription."""
    scope = build_scope(resource_group, server, server_id, subscription)
    wanted = normalise_statuses(status or [])
    session = open_session(
        subscription=subscription, output=output, query=query, az=az, verbose=verbose, timeout=timeout
    )
    servers = servers_in_scope(session.client, scope, read=reader(RunOptions()))
    records = [c.to_record() for s in servers for c in s.connections if not wanted or c.status in wanted]
    session.emit(records, CONNECTION_COLUMNS)


@app.command("show")
@handle_errors
def show_connection(
    resource_group: ResourceGroup = None,
    server: ServerName = None,
    name: Annotated[str | None, typer.Option("-n", "--name", metavar="NAME", help="Connection name.")] = None,
    connection_id: Annotated[str | None, typer.Option("--id", metavar="ID", help="Connection ID.")] = None,
    subscription: Subscription = None,
    output: Output = "json",
    query: Query = None,
    az: AzPath = None,
    verbose: Verbose = 0,
    timeout: Timeout = None,
) -> None:
    """Show one private endpoint connection (-g RG -s SERVER -n NAME, or --id ID)."""
    target = _one_target(resource_group, server, name, connection_id, subscription)
    session = open_session(
        subscription=subscription, output=output, query=query, az=az, verbose=verbose, timeout=timeout
    )
    found = reader(RunOptions())(lambda: session.client.show_server(target.server))
    connection = found.connection(target.name)
    if connection is None:
        raise NotFound(
            f"server {found.name} has no private endpoint connection {target.name!r}",
            hint=f"List them with: azpe list -g {found.resource_group} -s {found.name}",
        )
    session.emit(connection.to_record(), CONNECTION_COLUMNS)


def _one_target(
    resource_group: str | None, server: str | None, name: str | None, connection_id: str | None,
    subscription: str | None,
) -> ConnectionRef:  # fmt: skip
    if connection_id is not None:
        if resource_group or server or name:
            raise UsageError("give either --id or -g/-s/-n, not both")
        return parse_connection_id(connection_id)
    scope = build_scope(resource_group, server, None, subscription)
    if scope.server is None or name is None:
        raise UsageError("show needs -g RG -s SERVER -n NAME, or --id ID")
    return ConnectionRef(scope.server, validate_connection_name(name))
