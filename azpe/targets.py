"""What the user asked for: validated targets and scopes, before any az call.

Targets combine: ``-g RG -s SERVER -n NAME`` (``-n`` repeatable), ``--id ID`` (repeatable),
``--id -`` (stdin: IDs, or the JSON azpe and jq print), and ``--status S`` selecting every
connection in that status within a scope (a server, a resource group, or the subscription).
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TextIO

from azpe.accounts import OWNERS
from azpe.errors import UsageError, shown
from azpe.ids import (
    ConnectionRef,
    ServerRef,
    is_guid,
    parse_connection_id,
    parse_server_id,
    validate_connection_name,
    validate_resource_group,
    validate_server_name,
    validate_subscription,
)
from azpe.models import KNOWN_STATUSES, Connection

STDIN = "-"
log = logging.getLogger("azpe")


@dataclass(frozen=True)
class Shard:
    """Part ``index`` (1-based) of ``count``: a stable split of servers by their ID, so that N
    jobs of a CI matrix each take their own servers, the same ones on every run."""

    index: int
    count: int

    def holds(self, server_id: str) -> bool:
        digest = hashlib.sha256(server_id.lower().encode("utf-8")).digest()
        return int.from_bytes(digest[:8], "big") % self.count == self.index - 1


MAX_SHARDS = 1000


def parse_shard(value: str) -> Shard:
    """``K/N``, 1 <= K <= N <= 1000."""
    match = re.fullmatch(r"([0-9]{1,4})/([0-9]{1,4})", value.strip(), re.ASCII)
    if match is None:
        raise UsageError(f"invalid --shard {shown(value)}", hint="Give K/N, e.g. --shard 2/4 (part 2 of 4).")
    index, count = int(match[1]), int(match[2])
    if not 1 <= index <= count <= MAX_SHARDS:
        raise UsageError(
            f"invalid --shard {shown(value)}: K/N needs 1 <= K <= N <= {MAX_SHARDS}",
            hint="Give K/N, e.g. --shard 2/4 (part 2 of 4).",
        )
    return Shard(index, count)


@dataclass(frozen=True)
class Scope:
    """Where to look: one server, every server of a resource group, or of whole
    subscriptions. ``subscriptions``: those given (by name or ID; none: az's default);
    ``all_subscriptions``: every Enabled one of the login. ``shard``: a stable part of the
    servers found."""

    resource_group: str | None = None
    server: ServerRef | None = None
    subscriptions: tuple[str, ...] = ()
    all_subscriptions: bool = False
    shard: Shard | None = None

    @property
    def several_subscriptions(self) -> bool:
        return self.all_subscriptions or len(self.subscriptions) > 1


@dataclass(frozen=True)
class EndpointFilter:
    """Which connections of a scope, by their private endpoint: its name (globs, any of
    them), its subscription (any of them), and whose it is (``own`` or ``foreign``)."""

    names: tuple[str, ...] = ()
    subscriptions: tuple[str, ...] = ()
    owner: str | None = None

    @property
    def active(self) -> bool:
        return bool(self.names or self.subscriptions or self.owner)

    def matches(self, connection: Connection, owner: str | None) -> bool:
        """``owner``: the connection's owner (needed only when the filter has one)."""
        names = (connection.endpoint_name.lower(), connection.name.lower())
        if self.names and not any(fnmatch.fnmatchcase(n, g.lower()) for g in self.names for n in names):
            return False
        subscription = (connection.endpoint_subscription or "").lower()
        if self.subscriptions and subscription not in {s.lower() for s in self.subscriptions}:
            return False
        return self.owner is None or owner == self.owner


def build_endpoint_filter(
    names: Iterable[str], subscriptions: Iterable[str], owner: str | None
) -> EndpointFilter:
    globs = tuple(names)
    for glob in globs:
        if glob.startswith("-") or len(glob) > 200 or glob.count("[") != glob.count("]"):
            raise UsageError(
                f"invalid --endpoint {shown(glob)}",
                hint="Give a private endpoint's name, or a glob of it (* ? [...]).",
            )
    subs = tuple(subscriptions)
    for sub in subs:
        if not is_guid(sub):
            raise UsageError(
                f"invalid --endpoint-subscription {shown(sub)}: not a subscription ID",
                hint="Endpoint subscriptions are matched by ID (a GUID).",
            )
    if owner is not None and owner.lower() not in OWNERS:
        raise UsageError(f"invalid --owner {shown(owner)}", hint=f"Use one of: {', '.join(OWNERS)}.")
    return EndpointFilter(globs, subs, owner.lower() if owner else None)


NO_FILTER = EndpointFilter()


@dataclass(frozen=True)
class Selection:
    connections: tuple[ConnectionRef, ...]
    statuses: tuple[str, ...]
    scope: Scope
    endpoints: EndpointFilter = NO_FILTER

    @property
    def empty(self) -> bool:
        """Nothing to do: ``--id -`` read no target from stdin, and nothing else was asked."""
        return not self.connections and not self.statuses


def normalise_statuses(values: Iterable[str]) -> tuple[str, ...]:
    known = {s.lower(): s for s in KNOWN_STATUSES}
    out: list[str] = []
    for value in values:
        status = known.get(value.strip().lower())
        if status is None:
            raise UsageError(
                f"invalid --status {shown(value)}",
                hint=f"Use one of: {', '.join(KNOWN_STATUSES)}.",
            )
        if status not in out:
            out.append(status)
    return tuple(out)


def build_scope(
    resource_group: str | None,
    server: str | None,
    server_id: str | None,
    *,
    subscriptions: Iterable[str] = (),
    all_subscriptions: bool = False,
    shard: Shard | None = None,
) -> Scope:
    # "is not None": an empty value is invalid (options.text refuses it), never "not given".
    given = _unique(subscriptions)
    for subscription in given:
        validate_subscription(subscription)
    if all_subscriptions and given:
        raise UsageError("give either --subscription or --all-subscriptions, not both")
    several = all_subscriptions or len(given) > 1
    if server_id is not None:
        if resource_group is not None or server is not None:
            raise UsageError("give either --server-id or -g/-s, not both")
        if several:  # one --subscription: the ID's own wins, as before
            raise UsageError("--server-id names one server: it does not go with several subscriptions")
        _no_shard_for_one(shard)
        return Scope(server=parse_server_id(server_id))
    if server is not None and resource_group is None:
        raise UsageError("-s/--server needs -g/--resource-group (or use --server-id)")
    if resource_group is not None:
        validate_resource_group(resource_group)
    if server is not None and resource_group is not None:
        if several:
            raise UsageError("-g/-s name one server: give one --subscription (or use --server-id)")
        _no_shard_for_one(shard)
        return Scope(
            server=ServerRef(given[0] if given else None, resource_group, validate_server_name(server))
        )
    return Scope(resource_group, None, given, all_subscriptions, shard)


def _unique(values: Iterable[str]) -> tuple[str, ...]:
    return tuple({v.lower(): v for v in values}.values())


def _no_shard_for_one(shard: Shard | None) -> None:
    if shard is not None:
        raise UsageError("--shard splits the servers of a scope (-g, --subscription, --all-subscriptions)")


def stdin_text(stream: TextIO) -> str:
    """All of stdin as text, decoded strictly in the stream's encoding (UTF-8 under a UTF-8
    locale) from its bytes - bytes that do not decode are an error with their line, not a
    crash nor surrogates - and without a leading byte-order mark (Windows tools write one)."""
    buffer = getattr(stream, "buffer", None)
    if buffer is None:  # a text-only stream (already decoded)
        return stream.read().removeprefix("\ufeff")
    data: bytes = buffer.read()
    encoding = stream.encoding or "utf-8"
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise UsageError(f"stdin line {line}: not {encoding} text") from None
    return text.removeprefix("\ufeff")


def parse_stdin_targets(text: str) -> list[ConnectionRef]:
    """Targets from stdin, in each shape that azpe and jq print: one ID per line, JSON lines,
    JSON objects one after another (pretty-printed too), a JSON array of records or of IDs
    (azpe's default output), and JSON strings (jq without -r). An object's target is its
    ``id``. Blank lines and lines starting with ``#`` are skipped. A bad target fails the
    whole input, with the number of the line it starts on."""
    refs: list[ConnectionRef] = []
    for number, value in _StdinValues(text).read():
        if _unread_subscription(value):  # a write's report of a subscription it could not read
            log.warning("stdin line %d: skipped: a subscription that was not read, not a target", number)
            continue
        try:
            refs.append(parse_connection_id(_target_id(value)))
        except UsageError as exc:
            raise UsageError(f"stdin line {number}: {exc.message}", hint=exc.hint) from None
    return refs


_SUBSCRIPTION_ONLY = re.compile(r"/subscriptions/[^/]+/?", re.ASCII)


def _unread_subscription(value: Any) -> bool:
    """A record azpe prints for a subscription it could not read (``reads.Unreadable``)."""
    return (
        isinstance(value, dict)
        and value.get("action") == "failed"
        and isinstance(value.get("id"), str)
        and _SUBSCRIPTION_ONLY.fullmatch(value["id"]) is not None
    )


def _target_id(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        found = value.get("id")
        if isinstance(found, str):
            return found
        raise UsageError("JSON object without a string 'id' field")
    raise UsageError("neither a connection ID nor a JSON object with an 'id'")


_JSON_START = '{["'
_JSON_SPACE = " \t\r\n"


class _StdinValues:
    """Reads stdin's text into (line number, value) pairs: an ID line as its text, a JSON value
    as decoded (each item of a top-level array on its own)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self._line, self._counted = 1, 0  # the line number of position ``_counted``
        self._decoder = json.JSONDecoder()

    def line(self, pos: int) -> int:
        """The line number of ``pos``, counted on from the last position asked for."""
        # Count "\n" only: JSON strings may hold U+2028 and friends raw.
        if pos >= self._counted:
            self._line += self.text.count("\n", self._counted, pos)
        else:
            self._line -= self.text.count("\n", pos, self._counted)
        self._counted = pos
        return self._line

    def read(self) -> list[tuple[int, Any]]:
        values: list[tuple[int, Any]] = []
        text, at_line_start = self.text, True
        while self.pos < len(text):
            ch = text[self.pos]
            if ch == "\n":
                self.pos += 1
                at_line_start = True
            elif ch.isspace():
                self.pos += 1
            elif ch in _JSON_START:
                if ch == "[":
                    values += self._array()
                else:
                    values.append((self.line(self.pos), self._value()))
                at_line_start = False
            elif not at_line_start:
                raise self._error(self.pos, "unexpected text after a JSON value on the same line")
            else:
                end = text.find("\n", self.pos)
                end = len(text) if end < 0 else end
                line = text[self.pos : end].strip()
                if not line.startswith("#"):
                    values.append((self.line(self.pos), line))
                self.pos = end
        return values

    def _value(self) -> Any:
        start = self.pos
        try:
            value, self.pos = self._decoder.raw_decode(self.text, start)
        except json.JSONDecodeError as exc:
            raise self._error(start, f"not valid JSON ({exc.msg})") from None
        except (ValueError, RecursionError):  # e.g. a huge integer, or absurd nesting
            raise self._error(start, "not valid JSON (too large or too deeply nested)") from None
        return value

    def _array(self) -> list[tuple[int, Any]]:
        """A top-level array's items, each with the line it starts on."""
        start = self.pos
        self.pos += 1  # the "["
        items: list[tuple[int, Any]] = []
        self._skip_json_space()
        if self.text.startswith("]", self.pos):
            self.pos += 1
            return items
        while True:
            self._skip_json_space()
            items.append((self.line(self.pos), self._value()))
            self._skip_json_space()
            ch = self.text[self.pos : self.pos + 1]
            self.pos += 1
            if ch == "]":
                return items
            if ch != ",":
                raise self._error(start, "not valid JSON (an array not closed by ']')")

    def _skip_json_space(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] in _JSON_SPACE:
            self.pos += 1

    def _error(self, pos: int, message: str) -> UsageError:
        return UsageError(f"stdin line {self.line(pos)}: {message}")


def build_selection(
    *,
    scope: Scope,
    names: Iterable[str],
    ids: Iterable[str],
    statuses: Iterable[str],
    endpoints: EndpointFilter = NO_FILTER,
    read_stdin: Callable[[], str] | None = None,
) -> Selection:
    """Validate every target; raises ``UsageError`` before anything runs. No target at all is
    an error, unless stdin was to give them: an empty stdin (a quiet night) is nothing to do.
    The endpoint filter and ``--shard`` narrow a ``--status`` selection, never named targets:
    a target given by name or ID is written or reported, not silently left out."""
    refs: list[ConnectionRef] = []
    names = list(names)
    if names:
        if scope.server is None:
            raise UsageError("-n/--name needs the server: -g RG -s SERVER (or --server-id)")
        refs += [ConnectionRef(scope.server, validate_connection_name(n)) for n in names]
    read_from_stdin = False
    for value in ids:
        if value == STDIN:
            read_from_stdin = True
            if read_stdin is None:
                raise UsageError("--id - reads targets from stdin, which is not available here")
            refs += parse_stdin_targets(read_stdin())
        else:
            refs.append(parse_connection_id(value))
    wanted = normalise_statuses(statuses)
    unique = list({ref.key: ref for ref in refs}.values())
    if endpoints.active and not wanted:
        raise UsageError("--endpoint, --endpoint-subscription and --owner filter a --status selection")
    if scope.shard is not None and (refs or read_from_stdin):
        raise UsageError("--shard splits the servers of a scope: it does not take targets by name or ID")
    if not unique and not wanted and not read_from_stdin:  # an empty stdin: nothing to do
        raise UsageError(
            "no targets given",
            hint="Name connections with -g RG -s SERVER -n NAME, --id ID, --id - (stdin), "
            "or select them with --status.",
        )
    return Selection(connections=tuple(unique), statuses=wanted, scope=scope, endpoints=endpoints)
