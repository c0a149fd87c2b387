"""Fake az answers for fleet tests, replayed from the real az's recordings in tests/data/."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pytest_subprocess import FakeProcess

DATA = Path(__file__).parent / "data"


def recorded(case: str) -> dict[str, Any]:
    """A recording of the real az (scripts/record-az-samples.py)."""
    data: dict[str, Any] = json.loads((DATA / f"az-{case}.json").read_text(encoding="utf-8"))
    return data


def account_list_argv(az: str, *, every: bool) -> list[str]:
    return [az, "account", "list", *(["--all"] if every else []), "--only-show-errors", "-o", "json"]


def register_accounts(fp: FakeProcess, az: str, *, every: bool = True, occurrences: int = 1) -> list[Any]:
    """``az account list [--all]`` as the real az printed it against the sandbox's login;
    returns the accounts."""
    sample = recorded("account-list-all" if every else "account-list")
    fp.register(account_list_argv(az, every=every), stdout=sample["stdout"], occurrences=occurrences)
    accounts: list[Any] = json.loads(sample["stdout"])
    return accounts
