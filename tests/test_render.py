"""Output formats (-o) and --query, applied as az applies them."""

from __future__ import annotations

import csv
import io
import json
import shlex
from typing import Any

import pytest
from rich.cells import cell_len

from azpe.errors import UsageError
from azpe.models import Connection, Server
from azpe.render import (
    CONNECTION_COLUMNS,
    FORMATS,
    RESULT_COLUMNS,
    SERVER_COLUMNS,
    apply_query,
    check_format,
    compile_query,
    render,
)
from tests.azsamples import conn, connection_id, server_json

PE1 = "pe-foreign.11111111-1111-1111-1111-111111111111"
PE2 = "pe-other.22222222-2222-2222-2222-222222222222"
REC1 = Connection.from_az(conn(PE1, "Pending", description="from app team")).to_record()
REC2 = Connection.from_az(conn(PE2, "Approved")).to_record()
RECORDS = [REC1, REC2]


def test_the_formats_are_the_documented_ones() -> None:
    assert FORMATS == ("json", "jsonl", "table", "tsv", "csv", "ids", "none")
    for fmt in FORMATS:
        assert check_format(fmt) == fmt


@pytest.mark.parametrize("fmt", ["yaml", "JSON", "", "yamlc"])
def test_unknown_format_is_a_usage_error(fmt: str) -> None:
    with pytest.raises(UsageError, match="invalid output format"):
        check_format(fmt)


# -- each format, for a list and for one record ----------------------------------------------


def test_json_of_a_list_is_an_indented_array() -> None:
    text = render(RECORDS, "json", CONNECTION_COLUMNS)
    assert json.loads(text) == RECORDS
    assert text.startswith("[\n  {")
    assert text.endswith("]\n")


def test_json_of_one_record_is_an_object() -> None:
    assert json.loads(render(REC1, "json")) == REC1


def test_json_keeps_non_ascii_text() -> None:
    assert "zażółć" in render({"description": "zażółć"}, "json")


def test_jsonl_is_one_compact_object_per_line() -> None:
    lines = render(RECORDS, "jsonl").splitlines()
    assert [json.loads(line) for line in lines] == RECORDS
    assert render(REC1, "jsonl") == json.dumps(REC1, ensure_ascii=False) + "\n"


def test_jsonl_of_an_empty_list_is_nothing() -> None:
    assert render([], "jsonl") == ""


def test_ids_prints_one_id_per_line() -> None:
    assert render(RECORDS, "ids") == f"{connection_id(PE1)}\n{connection_id(PE2)}\n"
    assert render(REC1, "ids") == f"{connection_id(PE1)}\n"


def test_ids_skips_rows_without_an_id_and_prints_strings_as_they_are() -> None:
    assert render([{"name": "x"}, {"id": None}, {"id": "/a"}, "/b", 3], "ids") == "/a\n/b\n"


def test_tsv_is_the_values_of_each_record_in_order() -> None:
    lines = render(RECORDS, "tsv").splitlines()
    assert len(lines) == 2
    cells = lines[0].split("\t")
    assert len(cells) == len(REC1)
    assert cells[0] == connection_id(PE1)
    assert cells[1] == PE1
    assert cells[list(REC1).index("groupIds")] == "postgresqlServer"  # a list of words, as a shell has them
    assert render(REC1, "tsv") == lines[0] + "\n"


def test_tsv_shows_null_as_an_empty_cell() -> None:
    assert render({"a": None, "b": "x", "c": 0, "d": False}, "tsv") == "\tx\t0\tFalse\n"


def test_table_has_a_header_a_rule_and_the_chosen_columns() -> None:
    lines = render(RECORDS, "table", CONNECTION_COLUMNS).splitlines()
    assert lines[0].split() == [
        "Name", "Server", "Resource", "Group", "Status", "Private", "Endpoint", "Subscription", "Description"
    ]  # fmt: skip
    assert set(lines[1].replace("  ", "")) == {"-"}
    assert len(lines) == 4
    assert lines[2].startswith(PE1)
    assert "Pending" in lines[2] and "from app team" in lines[2]
    assert lines[3].startswith(PE2) and "Approved" in lines[3]
    assert connection_id(PE1) not in render(RECORDS, "table", CONNECTION_COLUMNS)  # not a column


def test_table_columns_are_aligned() -> None:
    lines = render(RECORDS, "table", CONNECTION_COLUMNS).splitlines()
    start = lines[0].index("Status")
    assert lines[2][start:].startswith("Pending")
    assert lines[3][start:].startswith("Approved")


def test_table_of_one_record_is_a_field_per_line() -> None:
    lines = render(REC1, "table", CONNECTION_COLUMNS).splitlines()
    assert len(lines) == len(REC1)  # every field, the id too: one per line
    assert lines[0].split() == ["Id", connection_id(PE1)]
    assert lines[1].split() == ["Name", PE1]
    assert lines[list(REC1).index("resourceGroup")].split() == ["Resource", "Group", "rg-data"]
    assert lines[list(REC1).index("description")].split() == ["Description", "from", "app", "team"]
    start = lines[0].index(connection_id(PE1))
    assert all(line[start - 2 : start] == "  " and line[start] != " " for line in lines if line[start:])


def test_table_without_columns_shows_every_key() -> None:
    text = render([{"alpha": 1, "betaValue": "x"}, {"gamma": True}], "table")
    assert text.splitlines()[0].split() == ["Alpha", "Beta", "Value", "Gamma"]


def test_table_shows_an_error_as_its_code() -> None:
    rows = [
        {"name": PE1, "action": "failed", "error": {"code": "ServerIsBusy", "message": "Server 'x' is busy"}},
        {"name": PE2, "action": "rejected", "error": None},
    ]
    text = render(rows, "table", RESULT_COLUMNS)
    assert "ServerIsBusy" in text
    assert "is busy" not in text
    assert text.splitlines()[0].split() == ["Name", "Action", "Error"]


def test_tsv_shows_an_error_as_its_code_too() -> None:
    row = {"name": PE1, "error": {"code": "LockOutGuard", "message": "long text"}}
    assert render(row, "tsv") == f"{PE1}\tLockOutGuard\n"


def test_server_table_shows_connection_counts() -> None:
    record = Server.from_az(server_json([conn(PE1), conn(PE2, "Approved")])).to_record()
    lines = render([record], "table", SERVER_COLUMNS).splitlines()
    assert lines[0].split() == [
        "Name",
        "Resource",
        "Group",
        "State",
        "Public",
        "Network",
        "Access",
        "Connections",
    ]
    assert lines[2].endswith("Pending=1 Approved=1 Rejected=0")
    one = render(record, "table", SERVER_COLUMNS).splitlines()
    assert one[-1].split() == ["Connections", "Pending=1", "Approved=1", "Rejected=0"]


def test_nested_structures_in_a_cell_are_compact_json() -> None:
    text = render([{"name": "a", "tags": {"env": ["prod", "eu"]}}], "table")
    assert text.splitlines()[2] == 'a     {"env":["prod","eu"]}'


@pytest.mark.parametrize("fmt", ["table", "tsv", "ids", "jsonl"])
def test_empty_list_renders_nothing(fmt: str) -> None:
    assert render([], fmt, CONNECTION_COLUMNS) == ""


def test_empty_list_in_json_is_an_empty_array() -> None:
    assert json.loads(render([], "json")) == []


@pytest.mark.parametrize("data", [RECORDS, REC1, [], None, "x"])
def test_none_prints_nothing(data: Any) -> None:
    assert render(data, "none", CONNECTION_COLUMNS) == ""


@pytest.mark.parametrize("fmt", ["jsonl", "table", "tsv", "ids"])
def test_null_prints_nothing_but_in_json(fmt: str) -> None:
    assert render(None, fmt) == ""
    assert render(None, "json") == "null\n"


# -- --query ------------------------------------------------------------------------------------


@pytest.mark.parametrize("expression", ["[[[", "[?status=='Pending'", "foo.", "@@", "length("])
def test_query_compile_errors_are_usage_errors(expression: str) -> None:
    with pytest.raises(UsageError) as caught:
        compile_query(expression)
    assert caught.value.code == "InvalidQuery"
    assert caught.value.exit_code == 2
    assert repr(expression) in caught.value.message


def test_query_runtime_errors_are_usage_errors() -> None:
    query = compile_query("length(@)")
    with pytest.raises(UsageError) as caught:
        apply_query(42, query)
    assert caught.value.code == "InvalidQuery"


def test_no_query_leaves_the_data_alone() -> None:
    assert compile_query(None) is None
    assert apply_query(RECORDS, None) is RECORDS


def test_query_filters_and_projects() -> None:
    query = compile_query("[?status=='Pending'].{n: name, s: server}")
    assert apply_query(RECORDS, query) == [{"n": PE1, "s": "pg-orders"}]


@pytest.mark.parametrize(
    ("expression", "fmt", "expected"),
    [
        ("[].name", "tsv", f"{PE1}\n{PE2}\n"),
        ("[].name", "table", f"Result\n{'-' * len(PE1)}\n{PE1}\n{PE2}\n"),
        ("[].name", "jsonl", f'"{PE1}"\n"{PE2}"\n'),
        ("[].id", "ids", f"{connection_id(PE1)}\n{connection_id(PE2)}\n"),
        ("length(@)", "tsv", "2\n"),
        ("length(@)", "json", "2\n"),
        ("[0].status", "table", "Result\n-------\nPending\n"),
        ("[0].groupIds", "json", '[\n  "postgresqlServer"\n]\n'),
        ("[?status=='Gone']", "json", "[]\n"),
        ("[?status=='Gone'] | [0]", "table", ""),
        ("[].[name, status]", "tsv", f"{PE1}\tPending\n{PE2}\tApproved\n"),
        ("[].[name, groupIds]", "tsv", f"{PE1}\tpostgresqlServer\n{PE2}\tpostgresqlServer\n"),
        ("[0].[name, status]", "tsv", f"{PE1}\nPending\n"),  # one list: a row per item, as az
        ("[].[status]", "csv", "Column1\r\nPending\r\nApproved\r\n"),
        ("[].status", "csv", "Result\r\nPending\r\nApproved\r\n"),
    ],
)
def test_a_querys_result_renders(expression: str, fmt: str, expected: str) -> None:
    shown = apply_query(RECORDS, compile_query(expression))
    assert render(shown, fmt, queried=True) == expected


def test_a_querys_table_names_its_columns_as_az_does() -> None:
    keyed = apply_query(RECORDS, compile_query("[].{conn: name, privateEndpointSubscription: status}"))
    header = render(keyed, "table", queried=True).splitlines()[0]
    assert header.split() == ["Conn", "PrivateEndpointSubscription"]
    lists = apply_query(RECORDS, compile_query("[].[name, status, attempts]"))
    lines = render(lists, "table", queried=True).splitlines()
    assert lines[0].split() == ["Column1", "Column2", "Column3"]
    assert lines[2].split() == [PE1, "Pending"]  # a null is an empty cell
    assert lines[3].split() == [PE2, "Approved"]


def test_while_read_splits_a_list_of_lists_into_its_fields() -> None:
    """``--query "[].[resourceGroup, name]" -o tsv | while read rg name``: one row per inner
    list, one field per element."""
    rows = apply_query(RECORDS, compile_query("[].[resourceGroup, name, description]"))
    lines = render(rows, "tsv", queried=True).splitlines()
    assert [line.split("\t") for line in lines] == [
        ["rg-data", PE1, "from app team"],
        ["rg-data", PE2, ""],
    ]


# -- untrusted text: escaped in text formats, exact in JSON ---------------------------------------

# A description as a stranger may write it: a terminal title (OSC), a colour and a screen
# clear (CSI), BEL, CR (overwrites the line), TAB and newline (new fields and rows), a C1 CSI,
# a bidi override, a line separator and an invisible tag character.
HOSTILE = (
    "ok\x1b]0;pwned\x07 \x1b[31mred\x1b[2J\rfake\tcell\nrow \x9b31m \u202eevil\u202c \u2028 \U000e0041 end"
)
CONTROLS = [chr(c) for c in (*range(0x20), 0x7F, *range(0x80, 0xA0))] + [
    "\u202e", "\u202c", "\u2066", "\u200f", "\u2028", "\u2029", "\U000e0041", "\ufeff",
]  # fmt: skip
HOSTILE_RECORDS = [REC1 | {"description": HOSTILE}, REC2 | {"description": "plain"}]


def raw_controls(text: str, separator: str = "") -> list[str]:
    """Every non-printable character in ``text`` but the newlines that end its lines (and the
    format's field ``separator``)."""
    return [ch for ch in text.replace("\r\n", "\n") if not ch.isprintable() and ch not in ("\n", separator)]


@pytest.mark.parametrize("fmt", ["table", "tsv", "csv", "ids"])
def test_no_control_character_from_azure_reaches_a_text_format(fmt: str) -> None:
    separator = "\t" if fmt == "tsv" else ""
    for data in (HOSTILE_RECORDS, HOSTILE_RECORDS[0]):
        text = render(data, fmt, CONNECTION_COLUMNS, width=80)
        assert raw_controls(text, separator) == []
    queried = render([HOSTILE, "x"], fmt, queried=True)  # --query "[].description"
    assert raw_controls(queried) == []
    assert "\\x1b]0;pwned\\x07" in queried and "\\u202eevil" in queried


def test_every_kind_of_control_is_escaped_visibly() -> None:
    for ch in CONTROLS:
        shown = render([{"description": f"a{ch}b"}], "tsv")
        assert raw_controls(shown) == [], repr(ch)
        assert shown == f"a{ascii(ch)[1:-1]}b\n", repr(ch)  # as Python's repr shows it


def test_a_hostile_tsv_row_stays_one_row_with_the_same_fields() -> None:
    lines = render(HOSTILE_RECORDS, "tsv").splitlines()
    assert len(lines) == 2
    assert len(lines[0].split("\t")) == len(lines[1].split("\t")) == len(REC1)
    cell = lines[0].split("\t")[list(REC1).index("description")]
    assert cell == (
        "ok\\x1b]0;pwned\\x07 \\x1b[31mred\\x1b[2J\\rfake\\tcell\\nrow \\x9b31m \\u202eevil\\u202c"
        " \\u2028 \\U000e0041 end"
    )


def test_a_hostile_table_keeps_its_rows_and_columns() -> None:
    lines = render(HOSTILE_RECORDS, "table", CONNECTION_COLUMNS).splitlines()
    assert len(lines) == 4
    assert lines[2].index("ok\\x1b]0;pwned") == lines[0].index("Description")


def test_a_hostile_csv_parses_back_into_the_same_rows() -> None:
    parsed = list(csv.reader(io.StringIO(render(HOSTILE_RECORDS, "csv"), newline="")))
    assert len(parsed) == 3
    assert parsed[0] == list(REC1)
    assert parsed[1][list(REC1).index("description")] == render([HOSTILE], "tsv").rstrip("\n")


@pytest.mark.parametrize("fmt", ["json", "jsonl"])
def test_json_keeps_the_exact_text_with_no_raw_control_character(fmt: str) -> None:
    text = render(HOSTILE_RECORDS, fmt)
    assert raw_controls(text) == []  # written as JSON escapes ...
    values = json.loads(text) if fmt == "json" else [json.loads(line) for line in text.splitlines()]
    assert values[0]["description"] == HOSTILE  # ... which read back as the exact text
    assert "zażółć" in render({"d": "zażółć"}, fmt)  # printable text stays as it is


# -- csv ------------------------------------------------------------------------------------------


def test_csv_has_a_header_and_rfc_4180_quoting() -> None:
    rows = [{"name": "a", "description": 'say "hi", then go'}, {"name": "b", "description": None}]
    assert render(rows, "csv") == 'name,description\r\na,"say ""hi"", then go"\r\nb,\r\n'


def test_csv_of_records_has_every_field() -> None:
    parsed = list(csv.reader(io.StringIO(render(RECORDS, "csv", CONNECTION_COLUMNS), newline="")))
    assert parsed[0] == list(REC1)
    assert parsed[1][0] == connection_id(PE1)
    assert [row[list(REC1).index("status")] for row in parsed[1:]] == ["Pending", "Approved"]


@pytest.mark.parametrize(
    "description",
    ['=HYPERLINK("http://evil.example","click")', "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(A1:A9)"],
)
def test_a_csv_cell_that_a_spreadsheet_would_run_as_a_formula_stays_text(description: str) -> None:
    rows = [{"name": "a", "description": description, "attempts": -1}]
    parsed = list(csv.reader(io.StringIO(render(rows, "csv"), newline="")))
    assert parsed[1] == ["a", "'" + description, "-1"]  # a number is not a formula
    assert json.loads(render(rows, "json"))[0]["description"] == description  # json: exact
    assert render(rows, "tsv") == f"a\t{description}\t-1\n"  # tsv is for shell tools


def test_csv_of_nothing_is_nothing() -> None:
    assert render([], "csv") == ""


# -- cells -----------------------------------------------------------------------------------------


def test_a_dry_runs_command_is_a_line_a_shell_reads_back() -> None:
    argv = ["az", "network", "--description=Not ours; ask the DBA team", "--name", "pe-x.1"]
    cell = render([{"command": argv}], "tsv").rstrip("\n")
    assert cell == "az network '--description=Not ours; ask the DBA team' --name pe-x.1"
    assert shlex.split(cell) == argv


# -- terminal width -------------------------------------------------------------------------------


def test_a_table_fits_the_terminal_width() -> None:
    long = REC1 | {"description": "x" * 300}
    for width in (60, 80, 120):
        lines = render([long, REC2], "table", CONNECTION_COLUMNS, width=width).splitlines()
        assert max(cell_len(line) for line in lines) <= width, width
        assert lines[2].endswith("…")  # the description, cut
        assert lines[2].startswith(PE1[:5])
    wide = render([long, REC2], "table", CONNECTION_COLUMNS).splitlines()
    assert wide[2].endswith("x" * 300)  # no terminal: nothing is cut


def test_a_table_narrows_the_widest_column_first() -> None:
    rows = [{"a": "1" * 10, "b": "2" * 40}]
    lines = render(rows, "table", width=40).splitlines()
    assert lines[2] == "1" * 10 + "  " + "2" * 27 + "…"


def test_wide_characters_count_as_two_cells() -> None:
    rows = [{"name": "数据库" * 10, "status": "ok"}, {"name": "a", "status": "ok"}]
    lines = render(rows, "table", width=30).splitlines()
    assert all(cell_len(line) <= 30 for line in lines)
    assert lines[2].endswith("…  ok")
    before = [cell_len(line[: line.index("ok")]) for line in lines[2:]]
    assert before[0] == before[1]  # the same column, counted in cells


def test_one_record_wraps_long_values_and_loses_nothing() -> None:
    record = REC1 | {"description": "y" * 150}
    lines = render(record, "table", width=60).splitlines()
    assert max(len(line) for line in lines) <= 60
    value_at = lines[0].index(connection_id(PE1)[:10])
    fields: dict[str, str] = {}
    for line in lines:  # a name starts a field; a line without one goes on with its value
        name, value = line[:value_at].strip(), line[value_at:]
        if name:
            current, fields[name] = name, value
        else:
            fields[current] += value
    assert fields["Id"] == connection_id(PE1)
    assert fields["Description"] == "y" * 150
    assert fields["Status"] == "Pending"
