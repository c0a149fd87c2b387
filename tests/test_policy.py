"""Policy files: parsing, and mistakes reported with their line before anything runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from azpe.errors import UsageError
from azpe.models import Connection
from azpe.policy import load_policy, parse_policy
from tests.azsamples import SUB, conn

OWN = SUB
GOOD = f"""
[organisation]
subscriptions = ["{OWN}"]

[pending]
matched = "approve"
unmatched = "reject"
description = "Rejected by policy"

[approved]
review = true
description = "Approved without a rule"

[[allow]]
name = "own subscription"
subscription = "{OWN}"

[[allow]]
name = "data factory"
endpoint = ["adf-*", "synapse-*"]
group_ids = "postgresqlServer"
"""


def connection(endpoint_sub: str, endpoint: str = "pe-x", status: str = "Pending") -> Connection:
    raw = conn(f"{endpoint}.1111", status)
    raw["privateEndpoint"]["id"] = (
        f"/subscriptions/{endpoint_sub}/resourceGroups/rg-net/providers/Microsoft.Network/privateEndpoints/{endpoint}"
    )
    return Connection.from_az(raw)


def test_a_good_policy_parses_and_matches_by_rule() -> None:
    policy = parse_policy(GOOD)
    assert policy.pending_matched == "approve"
    assert policy.review_approved is True
    assert [r.name for r in policy.rules] == ["own subscription", "data factory"]
    own = policy.first_match(connection(OWN))
    assert own is not None and own.name == "own subscription"
    adf = policy.first_match(connection("11111111-2222-3333-4444-555555555555", "ADF-prod"))
    assert adf is not None and adf.name == "data factory"  # globs match case-insensitively
    assert policy.first_match(connection("11111111-2222-3333-4444-555555555555")) is None
    assert policy.is_own(OWN.upper()) and not policy.is_own("x")


def test_defaults_leave_matched_pending_and_reject_unmatched() -> None:
    policy = parse_policy('[[allow]]\nserver = "pg-*"\n')
    assert (policy.pending_matched, policy.pending_unmatched, policy.review_approved) == (
        "leave",
        "reject",
        False,
    )


@pytest.mark.parametrize(
    ("text", "line", "reason"),
    [
        ("[pending]\nmatched = 'approve'\nunmatch = 'reject'\n", 3, "unknown key 'unmatch'"),
        (
            "[organisation]\nsubscriptions = []\n[[allow]]\nname = 'a'\nendpont = 'x'\n",
            5,
            "unknown key 'endpont'",
        ),
        ("[[allow]]\nname = 'a'\nendpoint = 'pe-[x'\n", 3, "bad glob"),
        ("[[allow]]\nname = 'a'\nendpoint = 'pe x'\n", 3, "bad glob"),
        ("[[allow]]\nname = 'a'\nserver = []\n", 3, "could never match"),
        ("[pending]\nmatched = 'reject'\n", 2, "matched must be one of"),
        ("[pending]\nunmatched = 'approve'\n", 2, "unmatched must be one of"),
        ("[approved]\nreview = true\n", 2, "would reject every Approved connection"),
        ("[approved]\nreview = 'yes'\n", 2, "true or false"),
        (
            "[[allow]]\nname = 'a'\nserver = 'x'\n[[allow]]\nname = 'a'\nserver = 'y'\n",
            5,
            "two [[allow]] rules",
        ),
        ("[[allow]]\nname = 'everything'\n", 2, "would allow everything"),
        ("[extra]\nx = 1\n", 1, "unknown section"),
    ],
)
def test_policy_mistakes_name_the_line_and_the_reason(text: str, line: int, reason: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse_policy(text, "policy.toml")
    assert caught.value.message.startswith(f"policy.toml:{line}: ")
    assert reason in caught.value.message
    assert caught.value.exit_code == 2


def test_invalid_toml_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="not valid TOML"):
        parse_policy("[pending\n", "p.toml")


def test_a_rule_that_matches_everything_is_refused() -> None:
    with pytest.raises(UsageError, match=r"p.toml:3: .*would allow everything"):
        parse_policy("[[allow]]\nname = 'all'\nendpoint = '*'\nserver = ['**', 'pg-*']\n", "p.toml")


def test_a_policy_that_is_not_utf8_is_a_usage_error(tmp_path: Path) -> None:
    path = tmp_path / "policy.toml"
    path.write_bytes(b"\xff\xfe[pending]\n")
    with pytest.raises(UsageError, match="not a UTF-8 text file"):
        load_policy(path)
