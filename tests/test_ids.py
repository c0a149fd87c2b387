"""Azure names and resource IDs: what azpe lets through to an az argv, and what it refuses."""

from __future__ import annotations

import contextlib
import string
import unicodedata
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from azpe.errors import ExitCode, UsageError
from azpe.ids import (
    ConnectionRef,
    ServerRef,
    connection_id,
    parse_connection_id,
    parse_server_id,
    server_id,
    split_resource_id,
    validate_connection_name,
    validate_resource_group,
    validate_server_name,
    validate_subscription,
)
from tests.azsamples import RG, SERVER, SUB

PE = "pe-foreign.11111111-1111-1111-1111-111111111111"
PROVIDER_PATH = "providers/Microsoft.DBforPostgreSQL/flexibleServers"


def _usage_error(fn: Callable[[str], Any], value: str) -> UsageError:
    with pytest.raises(UsageError) as caught:
        fn(value)
    assert caught.value.exit_code == ExitCode.USAGE
    return caught.value


# -- names ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "rg",
        "r",
        "rg-data",
        "RG_Data",
        "rg.data",
        "rg(prod)",
        "a" * 90,
        "rg-",
        "(x)",
        "_",
        "rg.1",
    ],
)
def test_valid_resource_group_names(name: str) -> None:
    assert validate_resource_group(name) == name


@pytest.mark.parametrize(
    "name",
    [
        "",
        "a" * 91,
        "rg.",
        "-rg",
        "rg data",
        "rg/data",
        "rg\n",
        " rg",
        "rg;x",
        "rg$",
        "rg*",
        "--resource-group",
    ],
)
def test_invalid_resource_group_names(name: str) -> None:
    error = _usage_error(validate_resource_group, name)
    assert error.code == "InvalidResourceGroupName"
    assert repr(name) in error.message


@pytest.mark.parametrize(
    "name", ["abc", "pg-orders", "pg1", "123", "a" * 63, "a-b", "a--b", "0-0", "PG-Orders"]
)
def test_valid_server_names(name: str) -> None:
    assert validate_server_name(name) == name


@pytest.mark.parametrize(
    "name",
    [
        "",
        "ab",  # too short
        "a" * 64,  # too long
        "-pg",
        "pg-",
        "pg_orders",
        "pg.orders",
        "pg orders",
        "pg-orders\n",
        "pgö",
        "--name",
    ],
)
def test_invalid_server_names(name: str) -> None:
    error = _usage_error(validate_server_name, name)
    assert error.code == "InvalidServerName"
    assert error.hint and "3-63" in error.hint


@pytest.mark.parametrize(
    "name", [PE, "x", "pe_1", "Pe.Name-1_", "a" * 160, "pe.11111111-1111-1111-1111-111111111111"]
)
def test_valid_connection_names(name: str) -> None:
    assert validate_connection_name(name) == name


@pytest.mark.parametrize(
    "name",
    ["", "-rf", ".pe", "_pe", "pe.", "pe-", "pe name", "pe/x", "pe\t", "a" * 161, "pe;rm", "--yes"],
)
def test_invalid_connection_names(name: str) -> None:
    assert _usage_error(validate_connection_name, name).code == "InvalidConnectionName"


@pytest.mark.parametrize("value", [SUB, SUB.upper(), "Pay-As-You-Go", "My Subscription (prod)"])
def test_valid_subscriptions(value: str) -> None:
    assert validate_subscription(value) == value


@pytest.mark.parametrize("value", ["", "-x", "--subscription", " leading", "a\nb", "tab\there", "x" * 129])
def test_invalid_subscriptions(value: str) -> None:
    assert _usage_error(validate_subscription, value).code == "InvalidSubscription"


# Letters that Unicode case-folds (or that Python's Unicode regex classes take) as ASCII ones:
# U+017F long s ~ s, U+212A Kelvin sign ~ k, U+0131 dotless i ~ i, U+0130 dotted capital I ~ i,
# and letters and digits of other scripts. Azure names are ASCII here, all of them.
NON_ASCII = ["\u017f", "\u212a", "\u0131", "\u0130", "\u00e9", "\u0430", "\u0663", "\uff41"]


@pytest.mark.parametrize("letter", NON_ASCII)
@pytest.mark.parametrize(
    ("validate", "template", "code"),
    [
        (validate_server_name, "pg-{}ales", "InvalidServerName"),
        (validate_resource_group, "rg-{}ata", "InvalidResourceGroupName"),
        (validate_connection_name, "pe-{}.11111111-1111-1111-1111-111111111111", "InvalidConnectionName"),
    ],
)
def test_names_are_ascii_only(validate: Callable[[str], str], template: str, code: str, letter: str) -> None:
    assert _usage_error(validate, template.format(letter)).code == code


def test_a_non_ascii_resource_group_is_refused_though_azure_would_take_it() -> None:
    error = _usage_error(validate_resource_group, "grupa-\u017c\u00f3\u0142w")  # Polish letters
    assert error.code == "InvalidResourceGroupName"


def test_a_long_bad_value_is_cut_in_the_message() -> None:
    error = _usage_error(validate_server_name, "x" * 10_000_000)
    assert len(error.message) < 800
    assert "10000000 characters" in error.message


# -- IDs --------------------------------------------------------------------------------------

CONN_ID = f"/subscriptions/{SUB}/resourceGroups/{RG}/{PROVIDER_PATH}/{SERVER}/privateEndpointConnections/{PE}"


@pytest.mark.parametrize(
    "value",
    [
        CONN_ID,
        CONN_ID + "/",
        f"  {CONN_ID}\n",
        f"\t{CONN_ID}/\r\n",
        CONN_ID.replace("resourceGroups", "resourcegroups").replace("providers", "PROVIDERS"),
        CONN_ID.replace(
            "Microsoft.DBforPostgreSQL/flexibleServers", "microsoft.dbforpostgresql/FLEXIBLESERVERS"
        ),
        CONN_ID.replace("privateEndpointConnections", "privateendpointconnections"),
        CONN_ID.replace("/subscriptions/", "/SUBSCRIPTIONS/"),
    ],
)
def test_connection_ids_parse_case_insensitively_with_slash_and_whitespace(value: str) -> None:
    assert parse_connection_id(value) == ConnectionRef(ServerRef(SUB, RG, SERVER), PE)


def test_connection_id_subscription_is_normalised_to_lowercase() -> None:
    ref = parse_connection_id(CONN_ID.replace(SUB, SUB.upper()))
    assert ref.server.subscription == SUB


def test_connection_id_keeps_the_case_of_rg_and_connection_names() -> None:
    ref = parse_connection_id(CONN_ID.replace(f"/{RG}/", "/RG-Data/").replace(PE, "PE-Foreign.1"))
    assert ref.server.resource_group == "RG-Data"
    assert ref.name == "PE-Foreign.1"
    assert ref.key == (SUB, "rg-data", SERVER, "pe-foreign.1")


@pytest.mark.parametrize(
    "value",
    [
        "",
        "   ",
        "/subscriptions/x/resourceGroups/rg",
        CONN_ID.replace(SUB, "not-a-guid"),
        CONN_ID.replace("DBforPostgreSQL", "DBforMySQL"),
        CONN_ID.replace("flexibleServers", "servers"),
        CONN_ID.replace("privateEndpointConnections", "privateLinkResources"),
        CONN_ID + "//",
        CONN_ID + "/extra",
        CONN_ID.lstrip("/"),
        "https://management.azure.com" + CONN_ID,
        CONN_ID.replace(f"/{SERVER}/", "/-bad/"),
        CONN_ID.replace(PE, "-rf"),
        CONN_ID.replace(PE, "a b"),
        CONN_ID.replace(f"/{RG}/", "/rg./"),
        server_id(SUB, RG, SERVER),  # a server ID is not a connection ID
        f"{CONN_ID}\n{CONN_ID}",
        # letters that fold to ASCII ones, in the server, resource group, name and fixed parts
        CONN_ID.replace(f"/{SERVER}/", "/pg-\u017fales/"),
        CONN_ID.replace(f"/{SERVER}/", "/pg-\u212aeys/"),
        CONN_ID.replace(f"/{RG}/", "/rg-\u0131t/"),
        CONN_ID.replace(PE, "pe-\u0130t.1"),
        CONN_ID.replace("/subscriptions/", "/\u017fubscriptions/"),
        CONN_ID.replace("DBforPostgreSQL", "DBforPo\u017ftgreSQL"),
        CONN_ID.replace("privateEndpointConnections", "privateEndpointConnection\u017f"),
    ],
)
def test_invalid_connection_ids(value: str) -> None:
    error = _usage_error(parse_connection_id, value)
    assert error.code == "InvalidConnectionId"
    assert error.hint and "privateEndpointConnections" in error.hint


SERVER_ID = f"/subscriptions/{SUB}/resourceGroups/{RG}/{PROVIDER_PATH}/{SERVER}"


@pytest.mark.parametrize(
    "value",
    [
        SERVER_ID,
        SERVER_ID + "/",
        f" {SERVER_ID} ",
        SERVER_ID.lower(),
        SERVER_ID.replace("resourceGroups", "RESOURCEGROUPS"),
    ],
)
def test_server_ids_parse(value: str) -> None:
    assert parse_server_id(value) == ServerRef(SUB, RG, SERVER)


@pytest.mark.parametrize(
    "value",
    [
        "",
        CONN_ID,
        SERVER_ID + "/privateEndpointConnections",
        SERVER_ID.replace("flexibleServers", "servers"),
        SERVER_ID.replace(SUB, "sub"),
        SERVER_ID.replace(f"/{SERVER}", "/ab"),
        SERVER_ID + "//",
        SERVER_ID.replace(f"/{SERVER}", "/pg-\u017fales"),
        SERVER_ID.replace("flexibleServers", "flexibleServer\u017f"),
    ],
)
def test_invalid_server_ids(value: str) -> None:
    assert _usage_error(parse_server_id, value).code == "InvalidServerId"


def test_id_builders_produce_the_documented_shape() -> None:
    assert server_id(SUB, RG, SERVER) == SERVER_ID
    assert connection_id(SUB, RG, SERVER, PE) == CONN_ID


def test_split_resource_id_of_a_private_endpoint() -> None:
    endpoint = f"/subscriptions/{SUB}/resourceGroups/rg-apps/providers/Microsoft.Network/privateEndpoints/pe1"
    assert split_resource_id(endpoint) == {"subscription": SUB, "resourceGroup": "rg-apps", "name": "pe1"}
    assert split_resource_id("") == {}


# -- properties ---------------------------------------------------------------------------------

VALIDATORS: list[Callable[[str], Any]] = [
    validate_resource_group,
    validate_server_name,
    validate_connection_name,
]
PARSERS: list[Callable[[str], Any]] = [parse_connection_id, parse_server_id]

# Text that often comes close to valid: ID-ish fragments, separators, unicode, controls.
ID_FRAGMENTS = st.sampled_from(
    [
        "/subscriptions/",
        SUB,
        "/resourceGroups/",
        "/resourcegroups/",
        "/providers/Microsoft.DBforPostgreSQL/flexibleServers/",
        "/privateEndpointConnections/",
        RG,
        SERVER,
        PE,
        "-",
        "/",
        " ",
        "\n",
        "\x00",
        ".",
        "é",
    ]
)
NEAR_IDS = st.lists(ID_FRAGMENTS | st.text(max_size=5), max_size=12).map("".join)
ANY_TEXT = st.text() | NEAR_IDS


def _is_control_or_space(ch: str) -> bool:
    return ch.isspace() or unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp")


def _argv_safe(value: str) -> None:
    assert value, "empty value passed validation"
    assert not value.startswith("-"), f"{value!r} could pass for an option"
    assert not any(_is_control_or_space(ch) for ch in value), f"{value!r} has whitespace/control chars"


@settings(max_examples=300, deadline=None)
@given(ANY_TEXT)
def test_parsers_and_validators_only_ever_raise_usage_error(text: str) -> None:
    for fn in [*VALIDATORS, *PARSERS, validate_subscription]:
        with contextlib.suppress(UsageError):  # anything else fails the test
            fn(text)


@settings(max_examples=300, deadline=None)
@given(ANY_TEXT)
def test_names_that_pass_validation_are_safe_in_an_argv(text: str) -> None:
    for fn in VALIDATORS:
        try:
            value = fn(text)
        except UsageError:
            continue
        assert value == text
        _argv_safe(value)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=string.ascii_letters + string.digits + "-_. ()\x7f\x85\x9f\t", max_size=20))
def test_subscription_names_that_pass_validation_cannot_pass_for_an_option(text: str) -> None:
    try:
        value = validate_subscription(text)
    except UsageError:
        return
    assert not value.startswith("-")
    assert not value[0].isspace()
    assert not any(unicodedata.category(ch) == "Cc" and ch not in "\x7f\x85\x9f" for ch in value)


@pytest.mark.parametrize("value", ["prod\x7f", "prod\x85name", "prod\x9b[2J"])
def test_subscription_with_control_characters_is_refused(value: str) -> None:
    _usage_error(validate_subscription, value)


def _parts_are_argv_safe(ref: ConnectionRef | ServerRef) -> None:
    server = ref.server if isinstance(ref, ConnectionRef) else ref
    for value in (server.name, server.subscription or ""):
        _argv_safe(value)
    rg = server.resource_group
    _argv_safe(rg)
    if isinstance(ref, ConnectionRef):
        _argv_safe(ref.name)


# What each part of an ID may hold, for IDs the parser must accept.
SUBS = st.uuids().map(str)
RG_CHARS = string.ascii_letters + string.digits + "_()-."
RGS = st.text(alphabet=RG_CHARS, min_size=1, max_size=90).filter(
    lambda s: not s.endswith(".") and not s.startswith("-")
)
SERVERS = st.from_regex(r"[a-z0-9][a-z0-9-]{1,61}[a-z0-9]", fullmatch=True)
CONNECTIONS = st.from_regex(r"[A-Za-z0-9]([A-Za-z0-9_.-]{0,40}[A-Za-z0-9_])?", fullmatch=True)


@settings(max_examples=200, deadline=None)
@given(SUBS, RGS, SERVERS, CONNECTIONS, st.sampled_from(["", "/"]), st.sampled_from(["", " ", "\n"]))
def test_generated_connection_ids_round_trip(
    sub: str, rg: str, server: str, name: str, slash: str, space: str
) -> None:
    ref = parse_connection_id(space + connection_id(sub.upper(), rg, server, name) + slash + space)
    assert ref == ConnectionRef(ServerRef(sub.lower(), rg, server), name)
    _parts_are_argv_safe(ref)
    # and the parts pass the same validators as names typed with -g/-s/-n
    assert validate_resource_group(ref.server.resource_group)
    assert validate_server_name(ref.server.name)
    assert validate_connection_name(ref.name)


@settings(max_examples=200, deadline=None)
@given(SUBS, RGS, SERVERS)
def test_generated_server_ids_round_trip(sub: str, rg: str, server: str) -> None:
    assert parse_server_id(server_id(sub, rg, server)) == ServerRef(sub, rg, server)


@settings(max_examples=300, deadline=None)
@given(NEAR_IDS)
def test_parts_of_any_accepted_id_are_safe_in_an_argv(text: str) -> None:
    for parse in PARSERS:
        try:
            ref = parse(text)
        except UsageError:
            continue
        _parts_are_argv_safe(ref)


@pytest.mark.parametrize("parse", PARSERS)
def test_ids_with_a_resource_group_that_looks_like_an_option_are_refused(
    parse: Callable[[str], Any],
) -> None:
    value = CONN_ID if parse is parse_connection_id else SERVER_ID
    _usage_error(parse, value.replace(f"/{RG}/", "/-rf/"))
