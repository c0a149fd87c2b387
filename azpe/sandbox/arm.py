"""The ARM routes the emulator serves for flexible servers and their private endpoint
connections, answered from ``AzureState`` in the real service's shapes."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

from . import access, shapes
from .shapes import Reply, arm_error
from .state import ArmError, AzureState, Operation

_SUB = r"/subscriptions/(?P<sub>[^/]+)"
_RG = _SUB + r"/resourceGroups/(?P<rg>[^/]+)"
_PG = r"/providers/Microsoft\.DBforPostgreSQL"
_SRV = _RG + _PG + r"/flexibleServers/(?P<srv>[^/]+)"
_OPS = _SUB + _PG + r"/locations/(?P<loc>[^/]+)"

Handler = Callable[["ArmRequest"], Reply]


class ArmRequest:
    def __init__(
        self,
        state: AzureState,
        base: str,
        method: str,
        match: re.Match[str],
        query: str,
        body: bytes,
    ) -> None:
        self.state, self.base, self.method, self.body = state, base, method, body
        self.p = match.groupdict()
        self.api_version = parse_qs(query).get("api-version", [""])[0]


def handle(state: AzureState, base: str, method: str, path: str, query: str, body: bytes) -> Reply:
    for pattern, resource_type, methods in ROUTES:
        match = pattern.match(path)
        if match is None:
            continue
        handler = methods.get(method)
        if handler is None:
            return arm_error(
                405,
                "MethodNotAllowed",
                f"The requested resource does not support http method '{method}'.",
            )
        request = ArmRequest(state, base, method, match, query, body)
        if not request.api_version:
            return arm_error(
                400,
                "MissingApiVersionParameter",
                "The api-version query parameter (?api-version=) is required for all requests.",
            )
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}(-preview)?", request.api_version):
            return arm_error(
                400,
                "InvalidApiVersionParameter",
                f"The api-version '{request.api_version}' is invalid. "
                "The supported versions are '2026-04-01-preview,2023-06-01-preview,2022-12-01'.",
            )
        try:
            with state.lock:
                if resource_type is not None:
                    access.check(state, request.p["sub"], method, path, resource_type)
                return handler(request)
        except ArmError as err:
            return arm_error(err.status, err.code, err.message)
    return arm_error(404, "NotFound", f"The path '{path}' is not served by the azpe sandbox.")


def _subscriptions(r: ArmRequest) -> Reply:
    r.state.advance()
    subs = [shapes.subscription_json(s) for s in r.state.subs.values()]
    return Reply(200, {"value": subs, "count": {"type": "Total", "value": len(subs)}})


def _subscription(r: ArmRequest) -> Reply:
    return Reply(200, shapes.subscription_json(r.state.subscription(r.p["sub"])))


def _resource_group(r: ArmRequest) -> Reply:
    rg = r.state.resource_group(r.p["sub"], r.p["rg"])
    rg_id = f"/subscriptions/{r.p['sub']}/resourceGroups/{rg.name}"
    return Reply(
        200,
        {
            "id": rg_id,
            "name": rg.name,
            "type": "Microsoft.Resources/resourceGroups",
            "location": rg.location,
            "properties": {"provisioningState": "Succeeded"},
        },
    )


def _servers(r: ArmRequest) -> Reply:
    sub = r.state.subscription(r.p["sub"])
    groups = (
        [r.state.resource_group(sub.id, r.p["rg"])] if r.p.get("rg") else list(sub.resource_groups.values())
    )
    value = [shapes.server_json(sub.id, g.name, s) for g in groups for s in g.servers.values()]
    return Reply(200, {"value": value})


def _server(r: ArmRequest) -> Reply:
    srv = r.state.server(r.p["sub"], r.p["rg"], r.p["srv"])
    return Reply(200, shapes.server_json(r.p["sub"], r.p["rg"], srv))


def _connections(r: ArmRequest) -> Reply:
    srv = r.state.server(r.p["sub"], r.p["rg"], r.p["srv"])
    value = [shapes.connection_json(r.p["sub"], r.p["rg"], srv, c) for c in srv.connections.values()]
    return Reply(200, {"value": value})


def _link_resources(r: ArmRequest) -> Reply:
    srv = r.state.server(r.p["sub"], r.p["rg"], r.p["srv"])
    return Reply(200, shapes.private_link_resources_json(r.p["sub"], r.p["rg"], srv))


def _connection(r: ArmRequest) -> Reply:
    p = r.p
    conn = r.state.connection(p["sub"], p["rg"], p["srv"], p["pec"])
    srv = r.state.server(p["sub"], p["rg"], p["srv"])
    return Reply(200, shapes.connection_json(p["sub"], p["rg"], srv, conn))


def _put_connection(r: ArmRequest) -> Reply:
    try:
        body: Any = json.loads(r.body or b"null")
        link_state = body["properties"]["privateLinkServiceConnectionState"]
        status, description = link_state["status"], link_state.get("description")
    except (ValueError, KeyError, TypeError) as exc:
        return arm_error(
            400,
            "InvalidRequestContent",
            "The request content was invalid and could not be deserialized: "
            f"'Required property {exc} not found or body is not valid JSON.'",
        )
    if status not in ("Approved", "Rejected"):
        return arm_error(
            400,
            "InvalidParameterValue",
            f"Invalid value '{status}' for privateLinkServiceConnectionState.status. "
            "Allowed values: Approved, Rejected.",
        )
    p = r.p
    op = r.state.begin_write(p["sub"], p["rg"], p["srv"], p["pec"], status, description)
    if op is None:  # begin_write raises the 404 for a PUT on a missing connection
        raise AssertionError("PUT started no operation")
    return Reply(202, shapes.accepted_json(op), _operation_headers(r, op))


def _delete_connection(r: ArmRequest) -> Reply:
    p = r.p
    op = r.state.begin_write(p["sub"], p["rg"], p["srv"], p["pec"], None)
    return Reply(204) if op is None else Reply(202, shapes.accepted_json(op), _operation_headers(r, op))


def _operation_headers(r: ArmRequest, op: Operation) -> dict[str, str]:
    # No Retry-After, as the service answers (the SDK then polls every 30 s).
    location = op.server.location.replace(" ", "").lower()
    ops = f"{r.base}/subscriptions/{op.subscription}/providers/Microsoft.DBforPostgreSQL/locations/{location}"
    query = f"?api-version={r.api_version}"
    return {
        "Azure-AsyncOperation": f"{ops}/azureAsyncOperation/{op.id}{query}",
        "Location": f"{ops}/operationResults/{op.id}{query}",
    }


def _async_operation(r: ArmRequest) -> Reply:
    r.state.subscription(r.p["sub"])
    return Reply(200, shapes.operation_json(r.state.operation(r.p["op"])))


def _operation_result(r: ArmRequest) -> Reply:
    r.state.subscription(r.p["sub"])
    op = r.state.operation(r.p["op"])
    if op.status == "InProgress":
        return Reply(202, b"", _operation_headers(r, op))
    if op.status == "Failed" and op.error is not None:
        return arm_error(500, op.error["code"], op.error["message"])
    conn = op.server.connections.get(op.connection)
    if op.kind == "delete" or conn is None:
        return Reply(204)
    return Reply(200, shapes.connection_json(op.subscription, op.resource_group, op.server, conn))


def _route(regex: str) -> re.Pattern[str]:
    return re.compile(f"^{regex}$", re.IGNORECASE)


_FLEX = "Microsoft.DBforPostgreSQL/flexibleServers"
_PEC = _FLEX + "/privateEndpointConnections"
_LOC = "Microsoft.DBforPostgreSQL/locations"

# (path, RBAC resource type of the path - None: not checked -, handlers by method)
ROUTES: list[tuple[re.Pattern[str], str | None, dict[str, Handler]]] = [
    (_route(r"/subscriptions"), None, {"GET": _subscriptions}),
    (_route(_SUB), None, {"GET": _subscription}),  # a listed subscription reads, access or not
    (_route(_RG), "Microsoft.Resources/subscriptions/resourceGroups", {"GET": _resource_group}),
    (_route(_SUB + _PG + r"/flexibleServers"), _FLEX, {"GET": _servers}),
    (_route(_RG + _PG + r"/flexibleServers"), _FLEX, {"GET": _servers}),
    (_route(_SRV), _FLEX, {"GET": _server}),
    (_route(_SRV + r"/privateEndpointConnections"), _PEC, {"GET": _connections}),
    (_route(_SRV + r"/privateLinkResources"), _FLEX + "/privateLinkResources", {"GET": _link_resources}),
    (
        _route(_SRV + r"/privateEndpointConnections/(?P<pec>[^/]+)"),
        _PEC,
        {"GET": _connection, "PUT": _put_connection, "DELETE": _delete_connection},
    ),
    (
        _route(_OPS + r"/azureAsyncOperation/(?P<op>[^/]+)"),
        _LOC + "/azureAsyncOperation",
        {"GET": _async_operation},
    ),
    (
        _route(_OPS + r"/operationResults/(?P<op>[^/]+)"),
        _LOC + "/operationResults",
        {"GET": _operation_result},
    ),
]
