"""The fake az outputs of the unit tests (tests/azsamples.py) have the shape of the real az's.

tests/data/ holds outputs of the real az 2.91.0, recorded against the emulator
(scripts/record-az-samples.py). Every builder in azsamples.py is held to them: the same keys
at every level, the same nesting, the same JSON types - only the values may differ, and a value
may be null (az prints null for a field that Azure left out, az-reference.md). A fake that
drifts from what the real az prints (a key renamed, moved under ``properties``, a list made a
string) fails here before it can make a unit test pass against output az never prints.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.azsamples import conn, connection_raw, network_error, sdk_error, server_json

DATA = Path(__file__).parent / "data"
PE1 = "pe-foreign.11111111-1111-1111-1111-111111111111"


def recorded(name: str) -> dict[str, Any]:
    sample: dict[str, Any] = json.loads((DATA / f"az-{name}.json").read_text(encoding="utf-8"))
    return sample


def recorded_stdout(name: str) -> Any:
    return json.loads(recorded(name)["stdout"])


def kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def drift(fake: Any, real: Any, path: str = "$") -> list[str]:
    """Where ``fake`` does not have the shape of ``real``: one line per difference."""
    if fake is None or real is None:
        return []  # a value, not a shape: az prints null for what Azure left out
    if kind(fake) != kind(real):
        return [f"{path}: {kind(fake)} in the fake, {kind(real)} in real az"]
    if isinstance(fake, dict):
        out = [f"{path}.{k}: only in the fake" for k in sorted(set(fake) - set(real))]
        out += [f"{path}.{k}: missing from the fake" for k in sorted(set(real) - set(fake))]
        for key in sorted(set(fake) & set(real)):
            out += drift(fake[key], real[key], f"{path}.{key}")
        return out
    if isinstance(fake, list) and real:
        return [line for i, item in enumerate(fake) for line in drift(item, real[0], f"{path}[{i}]")]
    return []


# -- the checker itself ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fake", "expected"),
    [
        ({"a": 1, "b": {"c": "x"}}, []),
        ({"a": None, "b": {"c": None}}, []),  # values may be null
        ({"a": 1}, ["$.b: missing from the fake"]),
        ({"a": 1, "b": {"c": "x"}, "d": 0}, ["$.d: only in the fake"]),
        ({"a": "1", "b": {"c": "x"}}, ["$.a: string in the fake, number in real az"]),
        ({"a": 1, "b": {"c": ["x"]}}, ["$.b.c: array in the fake, string in real az"]),
        ({"a": 1, "b": {"c": "x", "e": 1}}, ["$.b.e: only in the fake"]),
    ],
)
def test_drift_finds_every_difference_of_shape(fake: Any, expected: list[str]) -> None:
    assert drift(fake, {"a": 2, "b": {"c": "y"}}) == expected


def test_drift_compares_each_item_of_a_list() -> None:
    real = {"items": [{"id": "x", "n": 1}]}
    assert drift({"items": [{"id": "a", "n": 2}, {"id": "b"}]}, real) == [
        "$.items[1].n: missing from the fake"
    ]


# -- the builders against the recordings -------------------------------------------------------------

SERVER_SHOWS = ["postgres-show", "postgres-show-updating", "postgres-show-429-once"]
CONNECTION_OUTPUTS = [
    "network-reject",
    "network-reject-no-description",
    "network-approve",
    "network-show",
    "network-show-by-name",
]


@pytest.mark.parametrize("name", SERVER_SHOWS)
def test_a_fake_server_show_has_the_shape_az_prints(name: str) -> None:
    fake = server_json([conn(PE1), conn("pe-app.1", "Approved", description="ok")])
    assert drift(fake, recorded_stdout(name)) == []


def test_a_fake_server_list_item_has_the_shape_az_prints() -> None:
    real = recorded_stdout("postgres-list-group")
    assert isinstance(real, list) and real
    for item in real:
        assert drift(server_json([conn(PE1)]), item) == []


def test_every_recorded_connection_inside_a_server_has_the_fakes_shape() -> None:
    real = recorded_stdout("postgres-show")["privateEndpointConnections"]
    assert len(real) >= 2
    for item in real:
        assert drift(conn(PE1, description="please"), item) == []


@pytest.mark.parametrize("name", CONNECTION_OUTPUTS)
def test_a_fake_connection_write_or_show_has_the_shape_az_prints(name: str) -> None:
    assert drift(connection_raw(PE1, description="not ours"), recorded_stdout(name)) == []


def test_every_item_of_a_recorded_connection_list_has_the_fakes_shape() -> None:
    real = recorded_stdout("network-list")
    assert isinstance(real, list) and real
    for item in real:
        assert drift(connection_raw(PE1), item) == []


def test_a_delete_prints_nothing_as_the_fakes_do() -> None:
    assert recorded("network-delete")["stdout"].strip() == ""  # the unit tests fake delete with stdout=""


# -- error texts -------------------------------------------------------------------------------

# az's two error forms (az-reference.md): the network commands print the HTTP reason and ARM's
# body; the postgres commands print the SDK's (Code) message with Code: and Message: lines.
NETWORK_ERROR = re.compile(r"ERROR: (?P<reason>[A-Z][A-Za-z ]+)\((?P<body>\{.*\})\)\n", re.DOTALL)
SDK_ERROR = re.compile(r"ERROR: \((?P<code>\w+)\) (?P<message>.+)\nCode: (?P=code)\nMessage: (?P=message)\n")


@pytest.mark.parametrize(
    ("name", "reason", "code"),
    [
        ("network-reject-busy", "Conflict", "ServerIsBusy"),
        ("network-reject-429", "Too Many Requests", "TooManyRequests"),
        ("network-reject-500", "Internal Server Error", "InternalServerError"),
        ("network-reject-403", "Forbidden", "AuthorizationFailed"),
        ("network-reject-not-found", "Not Found", "ResourceNotFound"),
    ],
)
def test_a_fake_network_error_is_written_as_az_writes_it(name: str, reason: str, code: str) -> None:
    real = NETWORK_ERROR.fullmatch(recorded(name)["stderr"])
    assert real is not None, "the recording no longer has the form the fakes copy"
    assert real["reason"] == reason
    real_body = json.loads(real["body"])
    assert real_body["error"]["code"] == code
    fake = NETWORK_ERROR.fullmatch(network_error(reason, code, "a message"))
    assert fake is not None
    assert drift(json.loads(fake["body"]), real_body) == []


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("postgres-show-not-found", "ResourceNotFound"),
        ("postgres-show-busy", "ServerIsBusy"),
        ("postgres-show-500", "InternalServerError"),
        ("postgres-show-403", "AuthorizationFailed"),
        ("postgres-list-group-not-found", "ResourceGroupNotFound"),
    ],
)
def test_a_fake_sdk_error_is_written_as_az_writes_it(name: str, code: str) -> None:
    real = SDK_ERROR.fullmatch(recorded(name)["stderr"])
    assert real is not None, "the recording no longer has the form the fakes copy"
    assert real["code"] == code
    assert SDK_ERROR.fullmatch(sdk_error(code, real["message"])) is not None
    assert sdk_error(code, real["message"]) == recorded(name)["stderr"]
