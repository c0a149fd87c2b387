"""Targets and scopes: what the user asked for, validated before any az call."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from azpe import ids
from azpe.errors import UsageError
from azpe.ids import ConnectionRef, ServerRef, parse_connection_id
from azpe.targets import Scope, build_scope, build_selection, normalise_statuses, parse_stdin_targets
from tests.azsamples import RG, SERVER, SUB, connection_id, server_id

PE1 = "pe-foreign.11111111-1111-1111-1111-111111111111"
PE2 = "pe-other.22222222-2222-2222-2222-222222222222"
REF1 = ConnectionRef(ServerRef(SUB, RG, SERVER), PE1)
REF2 = ConnectionRef(ServerRef(SUB, RG, SERVER), PE2)


# -- stdin ------------------------------------------------------------------------------------


def test_stdin_ids_one_per_line() -> None:
    text = f"{connection_id(PE1)}\n{connection_id(PE2)}/\n"
    assert parse_stdin_targets(text) == [REF1, REF2]


def test_stdin_json_lines_with_id_as_azpe_list_prints_them() -> None:
    lines = [json.dumps({"id": connection_id(PE1), "status": "Pending", "name": PE1})]
    lines.append(json.dumps({"name": "x", "id": connection_id(PE2)}))
    assert parse_stdin_targets("\n".join(lines)) == [REF1, REF2]


def test_stdin_skips_blank_lines_and_comments_and_strips_whitespace() -> None:
    text = f"\n# from azpe list\n   \n  # indented comment\n\t{connection_id(PE1)}  \r\n\n"
    assert parse_stdin_targets(text) == [REF1]


def test_empty_stdin_gives_no_targets() -> None:
    assert parse_stdin_targets("") == []
    assert parse_stdin_targets("# nothing\n\n") == []


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        (f"{connection_id(PE1)}\nnot-an-id\n", 2, "not a PostgreSQL flexible server"),
        (f'# c\n\n{connection_id(PE1)}\n{{"id": 1}}\n', 4, "without a string 'id'"),
        ('{"name": "pe1"}\n', 1, "without a string 'id'"),
        ('{"id": "/subscriptions/x"}\n', 1, "not a PostgreSQL flexible server"),
        ('{"id": \n', 1, "not valid JSON"),
        ("{not json}\n", 1, "not valid JSON"),
        (f"\n\n\n{server_id()}\n", 4, "not a PostgreSQL flexible server"),
        (f"{connection_id(PE1)} {connection_id(PE2)}\n", 1, "not a PostgreSQL"),
    ],
)
def test_bad_stdin_line_is_reported_with_its_number(text: str, line: int, message: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse_stdin_targets(text)
    assert caught.value.message.startswith(f"stdin line {line}: ")
    assert message in caught.value.message


@pytest.mark.parametrize("text", ['["/subscriptions/x"]', '"a string"', "42", "null", "true"])
def test_non_object_json_lines_are_refused(text: str) -> None:
    # A line not starting with '{' is taken as an ID, which these are not.
    with pytest.raises(UsageError, match="stdin line 1"):
        parse_stdin_targets(text)


def test_azpes_default_output_a_json_array_of_records_is_read() -> None:
    records = [{"id": connection_id(PE1), "status": "Pending"}, {"name": "x", "id": connection_id(PE2)}]
    assert parse_stdin_targets(json.dumps(records, indent=2) + "\n") == [REF1, REF2]
    assert parse_stdin_targets(json.dumps(records)) == [REF1, REF2]
    assert parse_stdin_targets("[]\n") == []


def test_jqs_pretty_printed_objects_one_after_another_are_read() -> None:
    text = "\n".join(
        json.dumps({"id": c, "status": "Pending"}, indent=2) for c in (connection_id(PE1), connection_id(PE2))
    )
    assert parse_stdin_targets(text + "\n") == [REF1, REF2]
    assert parse_stdin_targets(text.replace("\n", "")) == [REF1, REF2]  # jq -c without newlines


def test_json_strings_and_arrays_of_ids_are_read() -> None:
    """``jq '.[].id'`` (without -r) prints quoted IDs; ``jq '[.[].id]'`` an array of them."""
    assert parse_stdin_targets(f'"{connection_id(PE1)}"\n"{connection_id(PE2)}"\n') == [REF1, REF2]
    assert parse_stdin_targets(json.dumps([connection_id(PE1), connection_id(PE2)], indent=2)) == [REF1, REF2]


def test_every_shape_mixes_with_ids_and_comments() -> None:
    text = (
        f"# from several tools\n{connection_id(PE1)}\n"
        + json.dumps([{"id": connection_id(PE2)}], indent=2)
        + "\n\n"
        + json.dumps({"id": connection_id(PE1)}, indent=4)
        + "\n"
    )
    assert parse_stdin_targets(text) == [REF1, REF2, REF1]


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        (json.dumps([{"id": connection_id(PE1)}, {"id": 3}], indent=2), 5, "without a string 'id'"),
        (json.dumps([{"id": connection_id(PE1)}, "/subscriptions/x"], indent=2), 5, "not a PostgreSQL"),
        (json.dumps([[connection_id(PE1)]]), 1, "neither a connection ID nor a JSON object"),
        (f'[\n  {{"id": "{connection_id(PE1)}"}}\n', 1, "not closed by ']'"),
        (f'[\n  {{"id": "{connection_id(PE1)}"}},\n  {{"id": \n]\n', 3, "not valid JSON"),
        (f'{{\n  "id": "{connection_id(PE1)}"\n}} trailing\n', 3, "unexpected text after a JSON value"),
        (
            f'{connection_id(PE1)}\n\n{{\n  "id": "{connection_id(PE2)}",\n  "x": 1\n}}\n{{"id": 2}}\n',
            7,
            "'id'",
        ),
    ],
)
def test_a_bad_target_in_json_output_is_reported_with_the_line_it_starts_on(
    text: str, line: int, message: str
) -> None:
    with pytest.raises(UsageError) as caught:
        parse_stdin_targets(text)
    assert caught.value.message.startswith(f"stdin line {line}: "), caught.value.message
    assert message in caught.value.message


@pytest.mark.parametrize(
    "text",
    ['{"id": 1' + "0" * 5000 + "}", '{"a":' * 100_000 + "1" + "}" * 100_000],
    ids=["huge-int", "deep-nesting"],
)
def test_pathological_json_lines_are_usage_errors(text: str) -> None:
    with pytest.raises(UsageError, match="stdin line 1"):
        parse_stdin_targets(text)


@pytest.mark.parametrize("separator", ["\u2028", "\u2029", "\x85"])
def test_jsonl_with_unicode_line_separators_inside_a_string_is_one_line(separator: str) -> None:
    record = {"id": connection_id(PE1), "description": f"first{separator}second"}
    line = json.dumps(record, ensure_ascii=False)
    assert parse_stdin_targets(line + "\n") == [REF1]


STDIN_FRAGMENTS = st.sampled_from(
    [
        connection_id(PE1),
        connection_id(PE2),
        server_id(),
        "\n",
        "\r\n",
        "#",
        " ",
        "{",
        "}",
        '{"id": ',
        '"id"',
        f'"{connection_id(PE1)}"',
        "[",
        "]",
        ",",
        "null",
        "/",
        "-",
    ]
)
STDIN_TEXT = st.text() | st.lists(STDIN_FRAGMENTS | st.text(max_size=4), max_size=15).map("".join)


@settings(max_examples=400, deadline=None)
@given(STDIN_TEXT)
def test_any_stdin_gives_valid_targets_or_a_usage_error(text: str) -> None:
    try:
        refs = parse_stdin_targets(text)
    except UsageError as exc:
        assert exc.message.startswith("stdin line ")
        return
    for ref in refs:
        assert isinstance(ref, ConnectionRef)
        # every target is exactly what its ID says
        server = ref.server
        rebuilt = ids.connection_id(server.subscription or "", server.resource_group, server.name, ref.name)
        assert parse_connection_id(rebuilt) == ref


# -- statuses -----------------------------------------------------------------------------------


def test_statuses_are_normalised_case_insensitively_and_deduplicated() -> None:
    assert normalise_statuses(["pending", "APPROVED", " Pending ", "rejected", "disconnected"]) == (
        "Pending",
        "Approved",
        "Rejected",
        "Disconnected",
    )


@pytest.mark.parametrize("value", ["Gone", "", "Pend", "Unknown", "Approved,Pending"])
def test_unknown_status_is_refused(value: str) -> None:
    with pytest.raises(UsageError, match="invalid --status") as caught:
        normalise_statuses([value])
    assert caught.value.hint and "Pending" in caught.value.hint


# -- scope --------------------------------------------------------------------------------------


def test_scope_of_a_server() -> None:
    scope = build_scope(RG, SERVER, None)
    assert scope == Scope(server=ServerRef(None, RG, SERVER))


def test_scope_of_a_server_carries_the_subscription_option() -> None:
    assert build_scope(RG, SERVER, None, subscriptions=["prod"]).server == ServerRef("prod", RG, SERVER)


def test_scope_of_a_server_id_takes_its_subscription_from_the_id() -> None:
    scope = build_scope(None, None, server_id(), subscriptions=["other"])
    assert scope.server == ServerRef(SUB, RG, SERVER)


def test_scope_of_a_resource_group_and_of_the_subscription() -> None:
    assert build_scope(RG, None, None) == Scope(resource_group=RG)
    assert build_scope(None, None, None) == Scope()


@pytest.mark.parametrize(
    ("rg", "server", "sid", "message"),
    [
        (None, SERVER, None, "-s/--server needs -g"),
        (RG, None, server_id(), "either --server-id or -g/-s"),
        (None, SERVER, server_id(), "either --server-id or -g/-s"),
        (RG, SERVER, server_id(), "either --server-id or -g/-s"),
        ("bad rg", None, None, "invalid resource group"),
        (RG, "Bad_Server", None, "invalid flexible server name"),
        (None, None, connection_id(PE1), "not a PostgreSQL flexible server ID"),
    ],
)
def test_bad_scopes(rg: str | None, server: str | None, sid: str | None, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        build_scope(rg, server, sid)


# -- selection ----------------------------------------------------------------------------------

SERVER_SCOPE = Scope(server=ServerRef(SUB, RG, SERVER))


def test_names_need_a_server_scope() -> None:
    with pytest.raises(UsageError, match="needs the server"):
        build_selection(scope=Scope(resource_group=RG), names=[PE1], ids=[], statuses=[])
    with pytest.raises(UsageError, match="needs the server"):
        build_selection(scope=Scope(), names=[PE1], ids=[], statuses=[])


def test_names_ids_and_stdin_combine_and_are_deduplicated_case_insensitively() -> None:
    selection = build_selection(
        scope=SERVER_SCOPE,
        names=[PE1, PE1.upper()],
        ids=[connection_id(PE1), "-", connection_id(PE2)],
        statuses=[],
        read_stdin=lambda: f"{connection_id(PE2)}\n{connection_id(PE1).upper()}\n",
    )
    assert [ref.key for ref in selection.connections] == [REF1.key, REF2.key]
    assert selection.statuses == ()
    assert selection.scope == SERVER_SCOPE


def test_invalid_name_is_refused() -> None:
    with pytest.raises(UsageError, match="invalid private endpoint connection name"):
        build_selection(scope=SERVER_SCOPE, names=["-rf"], ids=[], statuses=[])


def test_invalid_id_is_refused() -> None:
    with pytest.raises(UsageError, match="not a PostgreSQL flexible server"):
        build_selection(scope=Scope(), names=[], ids=[server_id()], statuses=[])


def test_stdin_without_a_reader_is_refused() -> None:
    with pytest.raises(UsageError, match="stdin"):
        build_selection(scope=Scope(), names=[], ids=["-"], statuses=[])


def test_status_selection_alone_is_a_selection() -> None:
    selection = build_selection(scope=Scope(resource_group=RG), names=[], ids=[], statuses=["pending"])
    assert selection.connections == ()
    assert selection.statuses == ("Pending",)
    assert selection.scope == Scope(resource_group=RG)


def test_unknown_status_in_a_selection_is_refused() -> None:
    with pytest.raises(UsageError, match="invalid --status"):
        build_selection(scope=SERVER_SCOPE, names=[PE1], ids=[], statuses=["Gone"])


def test_no_targets_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="no targets given"):
        build_selection(scope=SERVER_SCOPE, names=[], ids=[], statuses=[])


@pytest.mark.parametrize("stdin", ["", "# only a comment\n\n", "[]\n"])
def test_an_empty_stdin_is_an_empty_selection_not_an_error(stdin: str) -> None:
    selection = build_selection(scope=Scope(), names=[], ids=["-"], statuses=[], read_stdin=lambda: stdin)
    assert selection.empty
    assert not build_selection(scope=Scope(), names=[], ids=[connection_id(PE1)], statuses=[]).empty
