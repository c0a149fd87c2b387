"""Connection policies for ``azpe enforce``: a TOML file, checked whole before anything runs.

    [organisation]
    subscriptions = ["<our subscription id>", ...]   # endpoints here are "own"

    [pending]
    matched = "approve"      # or "leave": Pending connections that an allow rule matches
    unmatched = "reject"     # or "leave": Pending connections that no rule matches
    description = "Rejected by policy: not an allowed private endpoint"

    [approved]
    review = false           # true: reject Approved connections that no rule allows
    description = "..."

    [[allow]]
    name = "our apps"
    subscription = ["<our subscription id>"]    # globs, a string or a list of strings
    resource_group = "rg-app-*"
    endpoint = "pe-*"                            # the private endpoint's name
    group_ids = ["postgresqlServer"]
    server = "pg-*"
    # any_subscription = true   # only to allow endpoints of any subscription (see below)

A rule matches when every field it names matches (globs, case-insensitive); a field it leaves
out matches anything. Mistakes are reported with the file's line and the reason.

Whoever creates a private endpoint chooses its name and resource group, not its subscription:
only the subscription says whose it is. So a rule must pin ``subscription`` to exact IDs; one
that leaves it out or puts a wildcard in it (which a stranger's subscription can match) is
refused unless it says ``any_subscription = true``.
"""

from __future__ import annotations

import fnmatch
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from azpe.errors import UsageError, shown
from azpe.models import Connection

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

RULE_FIELDS = ("subscription", "resource_group", "endpoint", "group_ids", "server")
SECTIONS: dict[str, tuple[str, ...]] = {
    "organisation": ("subscriptions",),
    "pending": ("matched", "unmatched", "description"),
    "approved": ("review", "description"),
}
_GLOB = re.compile(r"[\w.*?\[\]()!-]+")
_WILDCARDS = frozenset("*?[")
PLACEHOLDER = "fill-in"  # what the README's examples leave to the admin
DEFAULT_DESCRIPTION = "Rejected by policy: this private endpoint is not allowed"


@dataclass(frozen=True)
class Rule:
    name: str
    patterns: dict[str, tuple[str, ...]]

    def matches(self, connection: Connection) -> bool:
        record = connection.to_record()
        endpoint = (connection.private_endpoint_id or "").rsplit("/", 1)[-1]
        values: dict[str, list[str]] = {
            "subscription": [record["privateEndpointSubscription"] or ""],
            "resource_group": [record["privateEndpointResourceGroup"] or ""],
            "endpoint": [endpoint],
            "group_ids": list(connection.group_ids) or [""],
            "server": [connection.server],
        }
        return all(
            any(fnmatch.fnmatchcase(v.lower(), p.lower()) for v in values[field] for p in patterns)
            for field, patterns in self.patterns.items()
        )


@dataclass(frozen=True)
class Policy:
    own_subscriptions: tuple[str, ...]
    pending_matched: str  # approve | leave
    pending_unmatched: str  # reject | leave
    pending_description: str
    review_approved: bool
    approved_description: str
    rules: tuple[Rule, ...]

    def first_match(self, connection: Connection) -> Rule | None:
        return next((r for r in self.rules if r.matches(connection)), None)

    def is_own(self, subscription: str | None) -> bool:
        return (subscription or "").lower() in {s.lower() for s in self.own_subscriptions}


def load_policy(path: Path) -> Policy:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read policy {path}: {exc.strerror}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise UsageError(f"{path}:{line}: not UTF-8 text", code="InvalidPolicy") from None
    # An editor's byte-order mark is not TOML; the first line's numbers stay right without it.
    return parse_policy(text.removeprefix("\ufeff"), str(path))


def parse_policy(text: str, source: str = "<policy>") -> Policy:
    where = _Locator(text, source)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{source}: not valid TOML: {exc}", code="InvalidPolicy") from None
    except RecursionError:  # the parser recurses once per level of nested arrays and tables
        raise UsageError(f"{source}: not valid TOML: nested too deeply", code="InvalidPolicy") from None
    for key in data:
        if key not in (*SECTIONS, "allow"):
            raise where.error(key, None, f"unknown section or key {shown(key)}")
    for section, keys in SECTIONS.items():
        table = data.get(section, {})
        if not isinstance(table, dict):
            raise where.error(section, None, f"{section!r} must be a table: [{section}]")
        for key in table:
            if key not in keys:
                raise where.error(key, section, f"unknown key {shown(key)} in [{section}]")

    organisation = data.get("organisation", {})
    pending = data.get("pending", {})
    approved = data.get("approved", {})
    own = _strings(organisation.get("subscriptions", []), where, "subscriptions", "organisation")
    matched = _choice(pending.get("matched", "leave"), ("approve", "leave"), where, "matched", "pending")
    unmatched = _choice(
        pending.get("unmatched", "reject"), ("reject", "leave"), where, "unmatched", "pending"
    )
    review = approved.get("review", False)
    if not isinstance(review, bool):
        raise where.error("review", "approved", "review must be true or false")
    rules = _rules(data.get("allow", []), where)
    if review and not rules:
        raise where.error(
            "review", "approved",
            "review = true with no [[allow]] rule would reject every Approved connection",
        )  # fmt: skip
    return Policy(
        own_subscriptions=own,
        pending_matched=matched,
        pending_unmatched=unmatched,
        pending_description=_text(pending, "description", where, "pending"),
        review_approved=review,
        approved_description=_text(approved, "description", where, "approved"),
        rules=rules,
    )


def _rules(raw: Any, where: _Locator) -> tuple[Rule, ...]:
    if not isinstance(raw, list):
        raise where.error("allow", None, "allow rules are written as [[allow]] tables")
    rules: list[Rule] = []
    for index, entry in enumerate(raw):
        section = f"allow#{index}"
        if not isinstance(entry, dict):  # allow = [1], allow = [[]]: an array, not [[allow]]
            raise where.error("allow", None, "allow rules are written as [[allow]] tables")
        for key in entry:
            if key not in ("name", "any_subscription", *RULE_FIELDS):
                raise where.error(key, section, f"unknown key {shown(key)} in an [[allow]] rule")
        name = entry.get("name", f"allow #{index + 1}")
        if not isinstance(name, str) or not name.strip():
            raise where.error("name", section, "a rule's name must be a non-empty string")
        if any(r.name == name for r in rules):
            raise where.error("name", section, f"two [[allow]] rules are named {shown(name)}")
        patterns = {f: _globs(entry[f], where, f, section) for f in RULE_FIELDS if f in entry}
        if not patterns:
            raise where.error(
                "name" if "name" in entry else "allow", section,
                f"rule {shown(name)} names no field to match, so it would allow everything",
            )  # fmt: skip
        if all(any(set(p) == {"*"} for p in globs) for globs in patterns.values()):
            raise where.error(
                next(iter(patterns)), section,
                f"rule {shown(name)} matches every connection ('*' in each field), "
                "so it would allow everything",
            )  # fmt: skip
        any_subscription = entry.get("any_subscription", False)
        if not isinstance(any_subscription, bool):
            raise where.error("any_subscription", section, "any_subscription must be true or false")
        wide = _wide_subscriptions(patterns.get("subscription"))
        if wide is not None and not any_subscription:
            raise where.error(
                "subscription" if "subscription" in patterns else "name" if "name" in entry else "allow",
                section,
                f"rule {shown(name)} can match endpoints of any subscription ({wide}), and an "
                "endpoint's name and resource group are chosen by whoever creates it: pin "
                "subscription to exact subscription IDs, or say any_subscription = true",
            )  # fmt: skip
        rules.append(Rule(name, patterns))
    return tuple(rules)


def _wide_subscriptions(globs: tuple[str, ...] | None) -> str | None:
    """Why ``subscription`` does not pin the endpoint's owner (None: it does). A wildcard can
    match a subscription a stranger creates (IDs are random, and creating more is cheap)."""
    if globs is None:
        return "it names no subscription"
    loose = next((g for g in globs if _WILDCARDS & set(g)), None)
    return None if loose is None else f"the glob {shown(loose)} in subscription"


def _globs(value: Any, where: _Locator, key: str, section: str) -> tuple[str, ...]:
    globs = _strings(value, where, key, section)
    if not globs:
        raise where.error(key, section, f"{key} is empty: it could never match")
    for glob in globs:
        if not _GLOB.fullmatch(glob) or glob.count("[") != glob.count("]"):
            raise where.error(key, section, f"bad glob {shown(glob)} in {key}")
        if PLACEHOLDER in glob.lower():  # an example copied before it was completed
            raise where.error(key, section, f"{key} is a placeholder, {shown(glob)}: fill it in")
    return globs


def _strings(value: Any, where: _Locator, key: str, section: str) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
        raise where.error(key, section, f"{key} must be a string or a list of strings")
    return tuple(items)


def _choice(value: Any, allowed: tuple[str, ...], where: _Locator, key: str, section: str) -> str:
    if value not in allowed:
        raise where.error(key, section, f"{key} must be one of {', '.join(map(repr, allowed))}")
    return str(value)


def _text(table: dict[str, Any], key: str, where: _Locator, section: str) -> str:
    value = table.get(key, DEFAULT_DESCRIPTION)
    if not isinstance(value, str):
        raise where.error(key, section, f"{key} must be a string")
    if "\0" in value:  # TOML can write one ("\u0000"); no argv can carry it to az
        raise where.error(key, section, f"{key} must not hold a NUL character")
    return value


class _Locator:
    """Finds the line of a key in the TOML text (tomllib keeps no positions)."""

    _HEADER = re.compile(r"^\s*(\[\[?)\s*([A-Za-z0-9_.-]+)\s*\]\]?")
    _KEY = re.compile(r"^\s*([A-Za-z0-9_-]+|\"[^\"]*\")\s*=")

    def __init__(self, text: str, source: str) -> None:
        self.source = source
        self.lines: dict[tuple[str | None, str], int] = {}
        section: str | None = None
        counts: dict[str, int] = {}
        for number, line in enumerate(text.splitlines(), start=1):
            header = self._HEADER.match(line)
            if header:
                name = header[2]
                if header[1] == "[[":
                    counts[name] = counts.get(name, -1) + 1
                    section = f"{name}#{counts[name]}"
                    self.lines.setdefault((section, name), number)
                else:
                    section = name
                self.lines.setdefault((None, name), number)
                continue
            key = self._KEY.match(line)
            if key:
                self.lines.setdefault((section, key[1].strip('"')), number)

    def error(self, key: str, section: str | None, reason: str) -> UsageError:
        line = self.lines.get((section, key)) or self.lines.get((None, key))
        if line is None and section:
            line = self.lines.get((section, section.split("#")[0])) or self.lines.get(
                (None, section.split("#")[0])
            )
        at = f"{self.source}:{line}" if line else self.source
        return UsageError(f"{at}: {reason}", code="InvalidPolicy")
