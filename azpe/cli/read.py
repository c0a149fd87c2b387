"""Read commands: server show, list, show."""

from typing import Annotated

import typer

from azpe.cli.app import (
    Common,
    OneValueEach,
    app,
    examples,
    handle_errors,
    open_session,
    server_app,
    with_common_options,
)
from azpe.errors import AzpeError, UsageError
from azpe.ids import ConnectionRef, parse_connection_id, validate_connection_name
from azpe.not_found import group_missing
from azpe.options import (
    ResourceGroup,
    ServerId,
    ServerName,
    Status,
    text,
)
from azpe.planning import servers_in_scope
from azpe.render import CONNECTION_COLUMNS, SERVER_COLUMNS
from azpe.retry import reader
from azpe.targets import build_scope, normalise_statuses


@server_app.command(
    "show",
    short_help="Show a server's state, public access and connection counts.",
    cls=OneValueEach,
    epilog=examples(
        "azpe server show -g rg-data -s pg-orders -o table",
        "azpe server show -g rg-data -s pg-orders --query state -o tsv",
    ),
)
@handle_errors
@with_common_options
def server_show(
    common: Common,
    resource_group: ResourceGroup = None,
    server: ServerName = None,
    server_id: ServerId = None,
) -> None:
    """Show a server: state, public network access, and its connections counted by status."""
    scope = build_scope(resource_group, server, server_id, common.subscription)
    if scope.server is None:
        raise UsageError("server show needs -g RG -s SERVER (or --server-id)")
    session = open_session(common)
    session.emit(session.read_server(scope.server).to_record(), SERVER_COLUMNS)


@app.command(
    "list",
    short_help="List connections of a server, resource group or subscription.",
    cls=OneValueEach,
    epilog=examples(
        "azpe list -g rg-data -s pg-orders --status Pending -o table",
        'azpe list -g rg-data --query "[].[server, name, status]" -o tsv',
        "azpe list --status Rejected -o ids",
    ),
)
@handle_errors
@with_common_options
def list_connections(
    common: Common,
    resource_group: ResourceGroup = None,
    server: ServerName = None,
    server_id: ServerId = None,
    status: Status = None,
) -> None:
    """List private endpoint connections of a server, a resource group, or the subscription."""
    scope = build_scope(resource_group, server, server_id, common.subscription)
    wanted = normalise_statuses(status or [])
    session = open_session(common)
    if scope.server is not None:
        servers = [session.read_server(scope.server)]
    else:
        try:
            servers = servers_in_scope(session.client, scope, read=reader())
        except AzpeError as exc:
            raise group_missing(exc, scope.resource_group) from None
    records = [c.to_record() for s in servers for c in s.connections if not wanted or c.status in wanted]
    session.emit(records, CONNECTION_COLUMNS)


@app.command(
    "show",
    short_help="Show one connection.",
    cls=OneValueEach,
    epilog=examples(
        "azpe show -g rg-data -s pg-orders -n pe-partner-etl.6f1c0e1e-... -o table",
        "azpe show --id /subscriptions/.../privateEndpointConnections/NAME --query description -o tsv",
    ),
)
@handle_errors
@with_common_options
def show_connection(
    common: Common,
    resource_group: ResourceGroup = None,
    server: ServerName = None,
    name: Annotated[
        str | None, typer.Option("-n", "--name", metavar="NAME", parser=text, help="Connection name.")
    ] = None,
    connection_id: Annotated[
        str | None, typer.Option("--id", metavar="ID", parser=text, help="Connection ID.")
    ] = None,
) -> None:
    """Show one private endpoint connection (-g RG -s SERVER -n NAME, or --id ID)."""
    target = _one_target(resource_group, server, name, connection_id, common.subscription)
    session = open_session(common)
    found = session.read_server(target.server)
    connection = found.connection(target.name)
    if connection is None:
        raise found.missing(target.name)
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
