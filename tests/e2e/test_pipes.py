"""A reader that leaves early (``| head -1``, ``| true``) in a real shell pipeline: azpe stops
printing, not writing - every planned write runs and is audited, the exit code is the run's,
and no traceback reaches stderr (issue 8)."""

from __future__ import annotations

import json

import pytest

from tests.e2e.conftest import RG, Sandbox, connection_id

# The default scenario's Pending connections in rg-data: two on pg-orders (written one after
# the other), one on pg-reports. Approved ones stay: the lock-out guard has nothing to say.
PENDING = {"pg-orders": ("pe-partner-etl", "pe-unknown-4821"), "pg-reports": ("pe-bi-reports",)}


@pytest.mark.parametrize(
    ("output", "reader"),
    [("jsonl", "head -1"), ("json", "true")],
    ids=["jsonl-head-1", "json-true"],
)
def test_a_reader_that_leaves_early_cuts_nothing_short(sandbox: Sandbox, output: str, reader: str) -> None:
    targets = {server: sorted(sandbox.names(server, "Pending")) for server in PENDING}
    assert {s: tuple(n.split(".")[0] for n in names) for s, names in targets.items()} == PENDING

    run = sandbox.shell(
        f"{{ $AZPE reject -g {RG} --status Pending --yes -o {output} --audit-log audit.jsonl;"
        f" echo $? > rc; }} | {reader}",
        timeout=180,
    )

    assert (sandbox.tmp_path / "rc").read_text() == "0\n", run  # azpe's own exit code
    for word in ("Traceback", "Exception ignored", "BrokenPipeError"):
        assert word not in run.stderr, run
    assert run.stderr.endswith("azpe: reject: 3 rejected\n"), run
    if reader == "head -1":
        [first] = run.lines  # what head let through: one whole result
        assert first["action"] == "rejected"
    else:
        assert run.stdout == ""

    for server, names in targets.items():  # every write ran
        for name in names:
            assert sandbox.status(server, name) == "Rejected", (server, name)
    assert sandbox.count("PUT") == 3

    audit = [json.loads(line) for line in (sandbox.tmp_path / "audit.jsonl").read_text().splitlines()]
    wanted = sorted(connection_id(server, name) for server, names in targets.items() for name in names)
    outcomes = [line for line in audit if line["event"] == "outcome"]
    assert sorted(line["connectionId"] for line in outcomes) == wanted  # every write audited
    assert {(line["result"], line["statusAfter"]) for line in outcomes} == {("rejected", "Rejected")}
