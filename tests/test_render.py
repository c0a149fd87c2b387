"""Output formats (-o) and --query, applied as az applies them."""

from __future__ import annotations

import json
from typing import Any

import pytest

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
    assert FORMATS == ("json", "jsonl", "table", "tsv", "ids", "none")
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
    assert cells[list(REC1).index("groupIds")] == '["postgresqlServer"]'
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


def test_table_of_one_record() -> None:
    lines = render(REC1, "table", CONNECTION_COLUMNS).splitlines()
    assert len(lines) == 3
    assert lines[2].startswith(PE1)


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
    lines = render(record, "table", SERVER_COLUMNS).splitlines()
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
        ("[].name", "table", f"{PE1}\n{PE2}\n"),
        ("[].name", "jsonl", f'"{PE1}"\n"{PE2}"\n'),
        ("[].id", "ids", f"{connection_id(PE1)}\n{connection_id(PE2)}\n"),
        ("length(@)", "tsv", "2\n"),
        ("length(@)", "json", "2\n"),
        ("[0].status", "table", "Pending\n"),
        ("[0].groupIds", "json", '[\n  "postgresqlServer"\n]\n'),
        ("[?status=='Gone']", "json", "[]\n"),
        ("[?status=='Gone'] | [0]", "table", ""),
        ("[].[name, status]", "tsv", f'["{PE1}","Pending"]\n["{PE2}","Approved"]\n'),
    ],
)
def test_a_querys_result_renders(expression: str, fmt: str, expected: str) -> None:
    shown = apply_query(RECORDS, compile_query(expression))
    assert render(shown, fmt) == expected
