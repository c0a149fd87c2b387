"""Read commands: server show, server list, list, show. They parse, call the read use cases
(``azpe.reads``) and render; no az call is made here."""

from typing import Annotated, Any

import typer

from azpe.cli.app import (
    Common,
    OneValueEach,
    OwnerLabels,
    app,
    examples,
    handle_errors,
    open_session,
    organisation_of,
    report_unreadable,
    scope_of,
    server_app,
    with_common_options,
)
from azpe.errors import UsageError
from azpe.ids import ConnectionRef, parse_connection_id, validate_connection_name
from azpe.models import Connection
from azpe.options import (
    AllSubscriptions,
    Endpoints,
    EndpointSubscriptions,
    Organisation,
    Owner,
    ResourceGroup,
    ServerId,
    ServerName,
    ShardOption,
    Status,
    text,
)
from azpe.reads import ScopeRead, read_scope, select
from azpe.render import CONNECTION_COLUMNS, SERVER_COLUMNS, with_subscription
from azpe.retry import reader
from azpe.targets import build_endpoint_filter, build_scope, normalise_statuses


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
    scope = scope_of(common, resource_group, server, server_id)
    if scope.server is None:
        raise UsageError("server show needs -g RG -s SERVER (or --server-id)")
    session = open_session(common)
    session.emit(session.read_server(scope.server).to_record(), SERVER_COLUMNS)


@server_app.command(
    "list",
    short_help="List servers with state, public access and connection counts.",
    cls=OneValueEach,
    epilog=examples(
        "azpe server list -o table",
        "azpe server list --all-subscriptions -o table",
        'azpe server list -g rg-data --query "[?connections.Pending > `0`].name" -o tsv',
    ),
)
@handle_errors
@with_common_options
def server_list(
    common: Common,
    resource_group: ResourceGroup = None,
    all_subscriptions: AllSubscriptions = False,
    shard: ShardOption = None,
) -> None:
    """List the servers of a resource group, of the subscription, or of several subscriptions:
    one row each, with state, public network access and connections counted by status (one az
    call per subscription)."""
    scope = scope_of(common, resource_group, all_subscriptions=all_subscriptions, shard=shard)
    session = open_session(common)
    found = read_scope(session.client, scope, read=reader())
    report_unreadable(found.unreadable)
    columns = with_subscription(SERVER_COLUMNS, scope.several_subscriptions)
    session.emit([s.to_record() for s in found.servers], columns)
    _exit_for(found)


@app.command(
    "list",
    short_help="List connections of servers, resource groups or subscriptions.",
    cls=OneValueEach,
    epilog=examples(
        "azpe list -g rg-data -s pg-orders --status Pending -o table",
        'azpe list -g rg-data --query "[].[server, name, status]" -o tsv',
        "azpe list --all-subscriptions --status Pending --owner foreign -o table",
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
    all_subscriptions: AllSubscriptions = False,
    shard: ShardOption = None,
    endpoint: Endpoints = None,
    endpoint_subscription: EndpointSubscriptions = None,
    owner: Owner = None,
    organisation: Organisation = None,
) -> None:
    """List private endpoint connections of a server, a resource group, the subscription or
    several subscriptions, with whose endpoint each is (own: a subscription of this login)."""
    scope = scope_of(
        common, resource_group, server, server_id, all_subscriptions=all_subscriptions, shard=shard
    )
    wanted = normalise_statuses(status or [])
    endpoints = build_endpoint_filter(endpoint or [], endpoint_subscription or [], owner)
    own = organisation_of(organisation)
    session = open_session(common)
    labels = OwnerLabels(session, own)
    shows_owner = common.output == "table" or endpoints.owner is not None or common.asks_owner
    if shows_owner:
        labels.prefetch()  # beside the reads
    if scope.server is not None:
        found = ScopeRead([session.read_server(scope.server)])
    else:
        found = read_scope(session.client, scope, read=reader())
    report_unreadable(found.unreadable)
    chosen = select(found.servers, wanted or None, endpoints, labels.owners)
    columns = with_subscription(CONNECTION_COLUMNS, scope.several_subscriptions)
    session.emit([_with_owner(c, labels if shows_owner else None) for c in chosen], columns)
    _exit_for(found)


def _with_owner(connection: Connection, labels: OwnerLabels | None) -> dict[str, Any]:
    """A connection's record, with ``owner`` when azpe determined it (a table, an --owner
    filter: one ``az account list --all``, else saved)."""
    record = connection.to_record()
    return record if labels is None else record | {"owner": labels.of(connection)}


def _exit_for(found: ScopeRead) -> None:
    """After the readable part was printed: the exit code says a subscription was not read."""
    if found.unreadable:
        raise typer.Exit(found.exit_code)


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
    target = _one_target(resource_group, server, name, connection_id, common.subscriptions)
    session = open_session(common)
    found = session.read_server(target.server)
    connection = found.find(target.name)
    if connection is None:
        raise found.missing(target.name)
    labels = OwnerLabels(session) if common.output == "table" or common.asks_owner else None
    session.emit(_with_owner(connection, labels), CONNECTION_COLUMNS)


def _one_target(
    resource_group: str | None, server: str | None, name: str | None, connection_id: str | None,
    subscriptions: tuple[str, ...],
) -> ConnectionRef:  # fmt: skip
    if connection_id is not None:
        if resource_group or server or name:
            raise UsageError("give either --id or -g/-s/-n, not both")
        return parse_connection_id(connection_id)
    scope = build_scope(resource_group, server, None, subscriptions=subscriptions)
    if scope.server is None or name is None:
        raise UsageError("show needs -g RG -s SERVER -n NAME, or --id ID")
    return ConnectionRef(scope.server, validate_connection_name(name))
