"""How a write run behaves: the knobs the CLI sets and tests shrink."""

from __future__ import annotations

from dataclasses import dataclass

from tenacity.wait import wait_base

# How long one target may wait for operations on its server - another write's, or its own
# write's operation to settle - before it fails. Real Azure takes up to a minute per write;
# this covers several queued ones.
BUSY_TIMEOUT = 900.0


@dataclass(frozen=True)
class RunOptions:
    retries: int = 3  # further attempts after a transient failure (busy does not count)
    # Servers written in parallel; None: every server with work (az starts are paced to what
    # the machine can carry, see azpe.capacity).
    concurrency: int | None = None
    wait_ready: float = 0.0  # how long a server that is not Ready at the start is waited for
    # The run is already under way (enforce's rounds after the first): a server that reads
    # Updating is busy with the run's own operations, and is waited for within busy_timeout.
    under_way: bool = False
    busy_timeout: float = BUSY_TIMEOUT
    retry_budget: float = 600.0  # total seconds one target may spend in transient retries
    grace: float = 30.0  # how long running az calls may go on after Ctrl-C
    wait: wait_base | None = None  # retry waits; tests pass wait_none()
    poll: wait_base | None = None  # readiness / busy / convergence polling waits
