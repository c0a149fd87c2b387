"""What the user asked for: validated targets and scopes, before any az call.

Targets combine: ``-g RG -s SERVER -n NAME`` (``-n`` repeatable), ``--id ID`` (repeatable),
``--id -`` (stdin: IDs or JSON objects with an ``id``), and ``--status S`` selecting every
connection in that status within a scope (a server, a resource group, or the subscription).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from azpe.errors import UsageError
from azpe.ids import (
    ConnectionRef,
    ServerRef,
    parse_connection_id,
    parse_server_id,
    validate_connection_name,
    validate_resource_group,
    validate_server_name,
)
from azpe.models import KNOWN_STATUSES

STDIN = "-"


@dataclass(frozen=True)
class Scope:
    """Where to look: one server, every server of a resource group, or the subscription."""

    resource_group: str | None = None
    server: ServerRef | None = None


@dataclass(frozen=True)
class Selection:
    connections: tuple[ConnectionRef, ...]
    statuses: tuple[str, ...]
    scope: Scope


def normalise_statuses(values: Iterable[str]) -> tuple[str, ...]:
    known = {s.lower(): s for s in KNOWN_STATUSES}
    out: list[str] = []
    for value in values:
        status = known.get(value.strip().lower())
        if status is None:
            raise UsageError(
                f"invalid --status {value!r}",
                hint=f"Use one of: {', '.join(KNOWN_STATUSES)}.",
            )
        if status not in out:
            out.append(status)
    return tuple(out)


def build_scope(
    resource_group: str | None, server: str | None, server_id: str | None, subscription: str | None
) -> Scope:
    if server_id:
        if resource_group or server:
            raise UsageError("give either --server-id or -g/-s, not both")
        return Scope(server=parse_server_id(server_id))
    if server is not None and resource_group is None:
        raise UsageError("-s/--server needs -g/--resource-group (or use --server-id)")
    if resource_group is not None:
        validate_resource_group(resource_group)
    if server is not None and resource_group is not None:
        return Scope(server=ServerRef(subscription, resource_group, validate_server_name(server)))
    return Scope(resource_group=resource_group)


def parse_stdin_targets(text: str) -> list[ConnectionRef]:
    """One target per line: an ID or a JSON object with an ``id``; blanks and ``#`` skipped."""
    refs: list[ConnectionRef] = []
    # Split on "\n" only: JSON lines may hold U+2028 and friends raw inside strings.
    for number, raw_line in enumerate(text.split("\n"), start=1):
        line = raw_line.strip()
        if not line or line.startswith("#"):
            continue
        try:
            refs.append(parse_connection_id(_id_of_line(line)))
        except UsageError as exc:
            hint = exc.hint
            if line.startswith("["):
                hint = "stdin takes one target per line: pipe 'azpe list -o jsonl' or '-o ids'."
            raise UsageError(f"stdin line {number}: {exc.message}", hint=hint) from None
    return refs


def _id_of_line(line: str) -> str:
    if not line.startswith("{"):
        return line
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as exc:
        raise UsageError(f"not valid JSON ({exc.msg})") from None
    except (ValueError, RecursionError):  # e.g. a huge integer, or absurd nesting
        raise UsageError("not valid JSON (too large or too deeply nested)") from None
    value = obj.get("id") if isinstance(obj, dict) else None
    if not isinstance(value, str):
        raise UsageError("JSON object without a string 'id' field")
    return value


def build_selection(
    *,
    scope: Scope,
    names: Iterable[str],
    ids: Iterable[str],
    statuses: Iterable[str],
    read_stdin: Callable[[], str] | None = None,
) -> Selection:
    """Validate every target; raises ``UsageError`` before anything runs."""
    refs: list[ConnectionRef] = []
    names = list(names)
    if names:
        if scope.server is None:
            raise UsageError("-n/--name needs the server: -g RG -s SERVER (or --server-id)")
        refs += [ConnectionRef(scope.server, validate_connection_name(n)) for n in names]
    for value in ids:
        if value == STDIN:
            if read_stdin is None:
                raise UsageError("--id - reads targets from stdin, which is not available here")
            refs += parse_stdin_targets(read_stdin())
        else:
            refs.append(parse_connection_id(value))
    wanted = normalise_statuses(statuses)
    unique = list({ref.key: ref for ref in refs}.values())
    if not unique and not wanted:
        raise UsageError(
            "no targets given",
            hint="Name connections with -g RG -s SERVER -n NAME, --id ID, --id - (stdin), "
            "or select them with --status.",
        )
    return Selection(connections=tuple(unique), statuses=wanted, scope=scope)
