"""Not found, said plainly: what is missing, and the close matches a read turns up.

ARM's message for a missing server names it inside a resource path and ends with a link;
azpe says which server, in which resource group, and which servers are there. A connection
name is ``<private endpoint name>.<guid>``: the endpoint's name alone finds it.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable

from azpe.errors import AzpeError, NotFound
from azpe.ids import ServerRef

SHOWN_NAMES = 10  # names listed in a hint, at most
CUTOFF = 0.75  # how alike (difflib's ratio) a name must be to be suggested

# "The Resource 'Microsoft.DBforPostgreSQL/flexibleServers/pg-x' under resource group 'rg'
# was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix"
_SERVER_MISSING = re.compile(r"/flexibleServers/[^'/]+' under resource group '[^']+' was not found", re.I)


def close_matches(name: str, candidates: Iterable[str], limit: int = 3) -> list[str]:
    """The candidates ``name`` most likely meant: those it starts (``pe-app`` for
    ``pe-app.6f1c...``), then those most alike; compared without case."""
    names = list(dict.fromkeys(candidates))
    wanted = name.lower()
    starts = [c for c in names if c.lower().startswith(wanted) or c.lower().split(".")[0] == wanted]
    by_lower = {c.lower(): c for c in names}
    alike = difflib.get_close_matches(wanted, list(by_lower), n=limit, cutoff=CUTOFF)
    alike += difflib.get_close_matches(wanted, [c.split(".")[0] for c in by_lower], n=limit, cutoff=CUTOFF)
    for found in alike:
        starts += [c for c in names if c.lower() == found or c.lower().split(".")[0] == found]
    return list(dict.fromkeys(starts))[:limit]


def suggestion(name: str, candidates: Iterable[str], what: str) -> str:
    """``Did you mean 'x'?`` and the names there are (``what``: e.g. "servers in rg-data")."""
    names = sorted(dict.fromkeys(candidates))
    if not names:
        return f"There are no {what}."
    matches = close_matches(name, names)
    meant = f"Did you mean {' or '.join(repr(m) for m in matches)}? " if matches else ""
    listed = ", ".join(names[:SHOWN_NAMES])
    more = f" and {len(names) - SHOWN_NAMES} more" if len(names) > SHOWN_NAMES else ""
    return f"{meant}{what[:1].upper()}{what[1:]}: {listed}{more}."


def is_server_missing(error: AzpeError) -> bool:
    """ARM's 404 for a flexible server (not for one of its connections, nor a group)."""
    return isinstance(error, NotFound) and bool(_SERVER_MISSING.search(error.message))


def server_missing(ref: ServerRef, names: list[str] | None) -> NotFound:
    """The error for a server that is not there; ``names``: the servers of its resource group
    (None: they could not be listed)."""
    where = f"resource group {ref.resource_group!r}"
    if names is None:
        hint = f"List them with: az postgres flexible-server list -g {ref.resource_group} -o table"
    else:
        hint = suggestion(ref.name, names, f"flexible servers in {ref.resource_group}")
    return NotFound(f"server {ref.name!r} not found in {where}", code="ResourceNotFound", hint=hint)


def group_missing(error: AzpeError, resource_group: str | None) -> AzpeError:
    """ARM's 404 for a resource group, said plainly (else ``error`` as it is)."""
    if not isinstance(error, NotFound) or error.code.lower() != "resourcegroupnotfound" or not resource_group:
        return error
    return NotFound(
        f"resource group {resource_group!r} not found",
        code=error.code,
        hint="List them with: az group list -o table (and check --subscription).",
    )
