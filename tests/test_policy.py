"""Policy files: parsing, and mistakes reported with their line before anything runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from azpe.errors import UsageError
from azpe.models import Connection
from azpe.policy import load_policy, parse_policy
from tests.azsamples import SUB, conn

OWN = SUB
MICROSOFT = "b8e1c0a5-0d7e-4c3e-9f55-6a1d2f0adf00"  # where a service's managed endpoints live
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
subscription = "{MICROSOFT}"
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
    adf = policy.first_match(connection(MICROSOFT.upper(), "ADF-prod"))
    assert adf is not None and adf.name == "data factory"  # globs match case-insensitively
    assert policy.first_match(connection(MICROSOFT)) is None
    # A stranger names an endpoint as they like: the name alone is not enough.
    assert policy.first_match(connection("11111111-2222-3333-4444-555555555555", "adf-prod")) is None
    assert policy.is_own(OWN.upper()) and not policy.is_own("x")


def test_defaults_leave_matched_pending_and_reject_unmatched() -> None:
    policy = parse_policy(f'[[allow]]\nserver = "pg-*"\nsubscription = "{OWN}"\n')
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
            "[[allow]]\nname = 'a'\nserver = 'x'\nany_subscription = true\n[[allow]]\nname = 'a'\n",
            6,
            "two [[allow]] rules",
        ),
        ("[[allow]]\nname = 'everything'\n", 2, "would allow everything"),
        ("[[allow]]\nname = 'everything'\nany_subscription = true\n", 2, "would allow everything"),
        ("[[allow]]\nname = 'a'\nserver = 'x'\nany_subscription = 'yes'\n", 4, "true or false"),
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
    with pytest.raises(UsageError, match=r"policy.toml:1: not UTF-8 text"):
        load_policy(path)


# -- hostile files: one clear error (exit 2), never a traceback --------------------------------


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("allow = [1]\n", 1),
        ("allow = [[]]\n", 1),
        ('allow = ["pe-*"]\n', 1),
        ("# rules\nallow = [{ endpoint = 'pe-*', any_subscription = true }, 2]\n", 2),
    ],
)
def test_allow_entries_that_are_not_tables_are_refused(text: str, line: int) -> None:
    with pytest.raises(
        UsageError, match=rf"^p\.toml:{line}: allow rules are written as \[\[allow\]\] tables$"
    ):
        parse_policy(text, "p.toml")


@pytest.mark.parametrize(
    "text",
    [
        "x = " + "[" * 1000 + "]" * 1000 + "\n",
        "x = " + "{a = " * 1000 + "1" + "}" * 1000 + "\n",
        "[[allow]]\nendpoint = " + "[" * 5000 + "'pe'" + "]" * 5000 + "\n",
    ],
)
def test_toml_nested_too_deeply_is_refused(text: str) -> None:
    with pytest.raises(UsageError, match=r"^p\.toml: not valid TOML: nested too deeply$"):
        parse_policy(text, "p.toml")


@pytest.mark.parametrize("section", ["pending", "approved"])
def test_a_nul_in_a_description_is_refused_before_it_can_reach_an_argv(section: str) -> None:
    text = f'[{section}]\n# the text owners see\ndescription = "Rejected\\u0000by policy"\n'
    with pytest.raises(UsageError, match=r"^p\.toml:3: description must not hold a NUL character$"):
        parse_policy(text, "p.toml")


def test_a_byte_order_mark_is_not_toml(tmp_path: Path) -> None:
    path = tmp_path / "policy.toml"
    path.write_bytes(b"\xef\xbb\xbf" + GOOD.encode())
    assert load_policy(path) == parse_policy(GOOD)
    path.write_bytes(b"\xef\xbb\xbf[pending]\nmatched = 'approve'\nbogus = 1\n")
    with pytest.raises(UsageError, match=r"policy.toml:3: unknown key 'bogus'"):  # lines still right
        load_policy(path)


def test_bytes_that_are_not_utf8_are_named_by_their_line(tmp_path: Path) -> None:
    path = tmp_path / "policy.toml"
    path.write_bytes(b"[pending]\nmatched = 'approve'\n# caf\xe9\n")
    with pytest.raises(UsageError, match=r"policy.toml:3: not UTF-8 text$"):
        load_policy(path)


def test_an_echoed_key_or_glob_is_cut_to_a_readable_length() -> None:
    key = "k" * 10_000_000
    with pytest.raises(UsageError) as caught:
        parse_policy(f"[pending]\n{key} = 1\n", "p.toml")
    assert caught.value.message.startswith("p.toml:2: unknown key 'kkk")
    assert "(10000000 characters)" in caught.value.message and len(caught.value.message) < 800
    with pytest.raises(UsageError) as caught:
        parse_policy(f"[[allow]]\nendpoint = '{'[' * 1_000_000}'\n", "p.toml")
    assert "bad glob" in caught.value.message and len(caught.value.message) < 800


# -- rules a stranger cannot satisfy -----------------------------------------------------------


@pytest.mark.parametrize(
    ("rule", "line", "why"),  # line: within the rule; 0 is its [[allow]]
    [
        ('name = "data factory"\nendpoint = "adf-*"\n', 1, "it names no subscription"),
        ('endpoint = "adf-*"\ngroup_ids = "postgresqlServer"\n', 0, "it names no subscription"),
        ('name = "x"\nendpoint = "adf-*"\nsubscription = "*"\n', 3, "the glob '*' in subscription"),
        (
            f'name = "x"\nresource_group = "rg-adf"\nsubscription = ["{OWN}", "*-*-*-*-*"]\n',
            3,
            "the glob '*-*-*-*-*' in subscription",
        ),
        ('name = "x"\nendpoint = "adf-*"\nsubscription = "????????-*"\n', 3, "'????????-*'"),
        ('name = "x"\nendpoint = "adf-*"\nsubscription = "[0-9a-f]*"\n', 3, "'[0-9a-f]*'"),
        ('name = "x"\nendpoint = "adf-*"\nany_subscription = false\n', 1, "names no subscription"),
    ],
)
def test_a_rule_that_can_match_any_subscription_is_refused_with_its_line(
    rule: str, line: int, why: str
) -> None:
    text = f'[organisation]\nsubscriptions = ["{OWN}"]\n[[allow]]\n{rule}'
    with pytest.raises(UsageError) as caught:
        parse_policy(text, "p.toml")
    assert caught.value.message.startswith(f"p.toml:{line + 3}: "), caught.value.message
    assert "can match endpoints of any subscription" in caught.value.message
    assert why in caught.value.message
    assert "any_subscription = true" in caught.value.message  # the way out, named
    assert caught.value.exit_code == 2


def test_any_subscription_true_is_the_explicit_way_to_allow_a_rule_without_a_pinned_subscription() -> None:
    policy = parse_policy('[[allow]]\nname = "by name"\nendpoint = "adf-*"\nany_subscription = true\n')
    stranger = policy.first_match(connection("11111111-2222-3333-4444-555555555555", "adf-totally-legit"))
    assert stranger is not None and stranger.name == "by name"  # what the admin asked for


def test_exact_subscription_ids_pin_a_rule() -> None:
    policy = parse_policy(f'[[allow]]\nname = "pinned"\nsubscription = ["{OWN}", "{MICROSOFT}"]\n')
    assert policy.first_match(connection(MICROSOFT)) is not None
    assert policy.first_match(connection("11111111-2222-3333-4444-555555555555")) is None


def readme_policy() -> str:
    """The policy example of the README's "Policy enforcement" section, as a user copies it."""
    readme = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Policy enforcement") :]
    return section.split("```toml\n", 1)[1].split("```", 1)[0]


def test_the_readme_example_copied_as_it_is_stops_at_what_is_left_to_fill_in() -> None:
    text = readme_policy()
    with pytest.raises(UsageError) as caught:
        parse_policy(text, "policy.toml")
    line = next(n for n, t in enumerate(text.splitlines(), 1) if t.startswith('subscription = "FILL-IN'))
    assert caught.value.message.startswith(f"policy.toml:{line}: subscription is a placeholder")
    assert caught.value.message.endswith("fill it in")
    readme = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")
    assert f"`azpe: error: policy.toml:{line}:\nsubscription is a placeholder" in readme  # as it says


def test_the_readme_example_filled_in_allows_the_service_and_not_a_stranger_named_like_it() -> None:
    text = readme_policy()
    filled = text.replace("FILL-IN-the-service-subscription-id", MICROSOFT).replace(
        "FILL-IN-the-service-resource-group", "rg-adf-managed-weu"
    )
    assert "FILL-IN" not in filled
    policy = parse_policy(filled, "policy.toml")
    assert policy.own_subscriptions == (OWN,)  # the emulator's subscription, as in the README

    def endpoint(subscription: str, name: str) -> Connection:
        raw = conn(f"{name}.1111")
        raw["privateEndpoint"]["id"] = (
            f"/subscriptions/{subscription}/resourceGroups/rg-adf-managed-weu"
            f"/providers/Microsoft.Network/privateEndpoints/{name}"
        )
        return Connection.from_az(raw)

    service = policy.first_match(endpoint(MICROSOFT, "adf-managed-pe"))
    assert service is not None and service.name == "data factory"
    stranger = "11111111-2222-3333-4444-555555555555"
    assert policy.first_match(endpoint(stranger, "adf-totally-legit")) is None
