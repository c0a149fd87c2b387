"""Output formats (``-o``) and ``--query``, as az has them: JMESPath on the JSON, then format.

``json``/``jsonl`` keep the exact data (a non-printable character is written as its JSON
escape, which every parser reads back as the same text). ``table``, ``tsv``, ``csv`` and
``ids`` are text for people and shell tools: every cell is escaped visibly
(``azpe.escape.visible``), so a row stays one row with the same number of fields.
Rows are az's: a list gives one row per item, and an item that is a list (``--query
"[].[name, status]"``) gives one field per element. A query's table columns are named as az
names them: the key with its first letter capitalised, ``Column1``... for a list, ``Result``
for a value. One record (``show``) as a table is one field per line.
"""

from __future__ import annotations

import csv
import io
import json
import shlex
from collections.abc import Callable, Sequence
from typing import Any

import jmespath
import jmespath.exceptions
from jmespath.parser import ParsedResult

from azpe.errors import UsageError, shown
from azpe.escape import json_visible, visible

FORMATS = ("json", "jsonl", "table", "tsv", "csv", "ids", "none")

CONNECTION_COLUMNS = (
    "name",
    "server",
    "resourceGroup",
    "status",
    "owner",
    "privateEndpointSubscription",
    "description",
)
RESULT_COLUMNS = ("name", "server", "owner", "action", "previousStatus", "status", "attempts", "error")
SERVER_COLUMNS = ("name", "resourceGroup", "state", "publicNetworkAccess", "connections")


def with_subscription(columns: tuple[str, ...], several: bool) -> tuple[str, ...]:
    """A table's columns; for a scope of ``several`` subscriptions, with the subscription
    after the first one (which one each row is in)."""
    return (columns[0], "subscription", *columns[1:]) if several else columns


GAP = "  "  # between table columns, as az's tables have it
NARROWEST = 6  # a column is not cut narrower than this to fit the terminal
ELLIPSIS = "…"


def check_format(value: str) -> str:
    if value not in FORMATS:
        raise UsageError(f"invalid output format {shown(value)}", hint=f"Use one of: {', '.join(FORMATS)}.")
    return value


def compile_query(expression: str | None) -> ParsedResult | None:
    if expression is None:
        return None
    try:
        return jmespath.compile(expression)
    except jmespath.exceptions.JMESPathError as exc:
        raise UsageError(
            f"invalid --query {shown(expression)}: {_reason(exc)}", code="InvalidQuery"
        ) from None
    except RecursionError:  # the parser recurses once per level of nesting
        raise UsageError(
            f"invalid --query {shown(expression)}: nested too deeply", code="InvalidQuery"
        ) from None


def _reason(exc: jmespath.exceptions.JMESPathError) -> str:
    """Why jmespath refused an expression, on one line: its own text repeats the whole
    expression over three lines."""
    if isinstance(exc, jmespath.exceptions.IncompleteExpressionError):
        return "incomplete expression"
    if isinstance(exc, jmespath.exceptions.LexerError):
        return f"{repr(exc.message)[1:-1]} at column {exc.lexer_position}"  # it holds the character raw
    if isinstance(exc, jmespath.exceptions.ArityError):
        return str(exc)
    if isinstance(exc, jmespath.exceptions.ParseError):
        return f"{exc.msg} at column {exc.lex_position}, token {shown(str(exc.token_value))}"
    return str(exc)


def apply_query(data: Any, query: ParsedResult | None) -> Any:
    if query is None:
        return data
    try:
        return query.search(data)
    except jmespath.exceptions.JMESPathError as exc:
        raise UsageError(f"--query failed: {exc}", code="InvalidQuery") from None


def render(
    data: Any, fmt: str, columns: Sequence[str] = (), *, queried: bool = False, width: int | None = None
) -> str:
    """The text to print for ``data`` (a record, a list of records, or a query's result).

    ``columns``: the table's columns when they are there (else every key); ``queried``: the
    data is a query's result, so table columns are named as az names them; ``width``: the
    terminal's, which tables fit (None: no limit)."""
    if fmt == "none" or (data is None and fmt != "json"):
        return ""
    if fmt == "json":
        return json_visible(json.dumps(data, indent=2, ensure_ascii=False)) + "\n"
    rows = data if isinstance(data, list) else [data]
    if fmt == "jsonl":
        return "".join(json_visible(json.dumps(row, ensure_ascii=False)) + "\n" for row in rows)
    if fmt == "ids":
        return "".join(f"{visible(value)}\n" for value in map(_id_of, rows) if value)
    if fmt == "tsv":
        return "".join("\t".join(_cell(v) for v in _fields(row)) + "\n" for row in rows)
    title = _az_title if queried else _title
    if fmt == "csv":
        return _csv([_keyed(r) for r in rows])
    if isinstance(data, dict):
        return _record_view(data, title, width)
    return _table([_keyed(r) for r in rows], columns, title, width)


# -- cells -----------------------------------------------------------------------------------


def _id_of(row: Any) -> str:
    if isinstance(row, dict):
        value = row.get("id")
        return value if isinstance(value, str) else ""
    return row if isinstance(row, str) else ""


def _fields(row: Any) -> list[Any]:
    if isinstance(row, dict):
        return list(row.values())
    return list(row) if isinstance(row, list) else [row]


def _keyed(row: Any) -> dict[str, Any]:
    """A row as named fields: a list's elements are az's Column1, Column2...; a value is Result."""
    if isinstance(row, dict):
        return row
    if isinstance(row, list):
        return {f"Column{n}": value for n, value in enumerate(row, start=1)}
    return {"Result": row}


def _cell(value: Any) -> str:
    return visible(_text(value))


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict) and set(value) == {"code", "message"}:
        return str(value["code"])  # an error: its code fits a cell, the message does not
    if isinstance(value, dict) and all(isinstance(v, str | int | float) for v in value.values()):
        return " ".join(f"{k}={v}" for k, v in value.items())  # e.g. connection counts
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return shlex.join(value)  # groupIds, a dry run's command: words a shell reads back
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return str(value)


def _title(key: str) -> str:
    """azpe's own tables: ``privateEndpointSubscription`` is headed ``Private Endpoint Subscription``."""
    spaced = "".join(f" {ch}" if ch.isupper() else ch for ch in key).strip()
    return spaced[:1].upper() + spaced[1:]


def _az_title(key: str) -> str:
    """A query's columns, as az heads them: the key with its first letter capitalised."""
    return key[:1].upper() + key[1:]


def _keys(rows: list[dict[str, Any]], columns: Sequence[str]) -> list[str]:
    return [c for c in columns if any(c in r for r in rows)] or list(
        dict.fromkeys(k for r in rows for k in r)
    )


# -- csv, tables, one record ------------------------------------------------------------------------


# A cell starting so is a formula to a spreadsheet (OWASP, "CSV injection"): a description is
# written by whoever created the endpoint, and "=HYPERLINK(...)" must stay text. Tab and CR,
# also on OWASP's list, are escaped visibly in every cell already.
FORMULA_STARTS = ("=", "+", "-", "@")


def _csv(rows: list[dict[str, Any]]) -> str:
    """A header of the keys, then one line per row; quoting and line ends as RFC 4180 has them.
    A text cell that a spreadsheet would take for a formula is kept text by a leading ``'``."""
    if not rows:
        return ""
    keys = list(dict.fromkeys(k for r in rows for k in r))  # every field: a report wants the ids
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([visible(k) for k in keys])
    writer.writerows([_spreadsheet_text(r.get(k)) for k in keys] for r in rows)
    return out.getvalue()


def _spreadsheet_text(value: Any) -> str:
    cell = _cell(value)
    if isinstance(value, int | float) or not cell.startswith(FORMULA_STARTS):
        return cell  # a number (-1 is not a formula), or text that is not one
    return "'" + cell


def _table(
    rows: list[dict[str, Any]], columns: Sequence[str], title: Callable[[str], str], width: int | None
) -> str:
    from rich.cells import cell_len  # only tables need display widths

    if not rows:
        return ""
    keys = _keys(rows, columns)
    header = [visible(title(k)) for k in keys]
    body = [[_cell(r.get(k)) for k in keys] for r in rows]
    widths = [max(cell_len(h), *(cell_len(line[i]) for line in body)) for i, h in enumerate(header)]
    if width is not None:
        widths = _fit(widths, width - len(GAP) * (len(widths) - 1))
    lines = [header, ["-" * w for w in widths], *body]
    return "".join(
        GAP.join(_sized(c, w) for c, w in zip(line, widths, strict=True)).rstrip() + "\n" for line in lines
    )


def _fit(widths: list[int], room: int) -> list[int]:
    """Narrow the widest columns, one cell at a time, until the row fits ``room`` cells (or
    every column is down to ``NARROWEST``; then the terminal wraps it)."""
    widths = list(widths)
    excess = sum(widths) - room
    while excess > 0:
        widest = max(range(len(widths)), key=widths.__getitem__)
        if widths[widest] <= NARROWEST:
            break
        widths[widest] -= 1
        excess -= 1
    return widths


def _sized(text: str, width: int) -> str:
    """``text`` padded to ``width`` cells, or cut to it with an ellipsis."""
    from rich.cells import cell_len, set_cell_size

    if cell_len(text) <= width:
        return set_cell_size(text, width)
    return set_cell_size(text, width - 1) + ELLIPSIS


def _record_view(record: dict[str, Any], title: Callable[[str], str], width: int | None) -> str:
    """One record: a field per line, its name then its value; a long value goes on over the
    next lines, under the first, so that nothing is lost when the terminal is narrow."""
    from rich.cells import cell_len, chop_cells, set_cell_size

    if not record:
        return ""
    names = [visible(title(k)) for k in record]
    name_width = max(cell_len(n) for n in names)
    room = None if width is None else max(20, width - name_width - len(GAP))
    lines = []
    for name, value in zip(names, record.values(), strict=True):
        text = _cell(value)
        parts = chop_cells(text, room) if room is not None and text else [text]
        lines.append(f"{set_cell_size(name, name_width)}{GAP}{parts[0]}".rstrip())
        lines += [f"{' ' * (name_width + len(GAP))}{part}".rstrip() for part in parts[1:]]
    return "".join(line + "\n" for line in lines)
