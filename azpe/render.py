"""Output formats (``-o``) and ``--query``, as az has them: JMESPath on the JSON, then format."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import jmespath
import jmespath.exceptions
from jmespath.parser import ParsedResult

from azpe.errors import UsageError

FORMATS = ("json", "jsonl", "table", "tsv", "ids", "none")

CONNECTION_COLUMNS = (
    "name",
    "server",
    "resourceGroup",
    "status",
    "privateEndpointSubscription",
    "description",
)
RESULT_COLUMNS = ("name", "server", "action", "previousStatus", "status", "attempts", "error")
SERVER_COLUMNS = ("name", "resourceGroup", "state", "publicNetworkAccess", "connections")


def check_format(value: str) -> str:
    if value not in FORMATS:
        raise UsageError(f"invalid output format {value!r}", hint=f"Use one of: {', '.join(FORMATS)}.")
    return value


def compile_query(expression: str | None) -> ParsedResult | None:
    if expression is None:
        return None
    try:
        return jmespath.compile(expression)
    except jmespath.exceptions.JMESPathError as exc:
        raise UsageError(f"invalid --query {expression!r}: {exc}", code="InvalidQuery") from None


def apply_query(data: Any, query: ParsedResult | None) -> Any:
    if query is None:
        return data
    try:
        return query.search(data)
    except jmespath.exceptions.JMESPathError as exc:
        raise UsageError(f"--query failed: {exc}", code="InvalidQuery") from None


def render(data: Any, fmt: str, columns: Sequence[str] = ()) -> str:
    """The text to print for ``data`` (a record, a list of records, or a query's result)."""
    if fmt == "none" or (data is None and fmt != "json"):
        return ""
    if fmt == "json":
        return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    rows = data if isinstance(data, list) else [data]
    if fmt == "jsonl":
        return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    if fmt == "ids":
        return "".join(f"{_id_of(row)}\n" for row in rows if _id_of(row))
    if fmt == "tsv":
        return "".join("\t".join(_cell(v) for v in _values(row)) + "\n" for row in rows)
    return _table(rows, columns)


def _id_of(row: Any) -> str:
    if isinstance(row, dict):
        value = row.get("id")
        return value if isinstance(value, str) else ""
    return row if isinstance(row, str) else ""


def _values(row: Any) -> list[Any]:
    return list(row.values()) if isinstance(row, dict) else [row]


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict) and set(value) == {"code", "message"}:
        return str(value["code"])  # an error: its code fits a cell, the message does not
    if isinstance(value, dict) and all(isinstance(v, str | int | float) for v in value.values()):
        return " ".join(f"{k}={v}" for k, v in value.items())  # e.g. connection counts
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return str(value)


def _table(rows: list[Any], columns: Sequence[str]) -> str:
    if not rows:
        return ""
    if not all(isinstance(r, dict) for r in rows):
        return "".join(_cell(r) + "\n" for r in rows)
    keys = [c for c in columns if any(c in r for r in rows)] or list(
        dict.fromkeys(k for r in rows for k in r)
    )
    header = [_title(k) for k in keys]
    body = [[_cell(r.get(k)) for k in keys] for r in rows]
    widths = [max(len(h), *(len(line[i]) for line in body)) for i, h in enumerate(header)]
    lines = [header, ["-" * w for w in widths], *body]
    return "".join(
        "  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() + "\n" for line in lines
    )


def _title(key: str) -> str:
    spaced = "".join(f" {ch}" if ch.isupper() else ch for ch in key)
    return spaced[:1].upper() + spaced[1:]
