"""A live per-server progress display on stderr, shown only when stderr is a terminal.

rich is imported only here and only when the display is shown, so pipelines and
``azpe --help`` do not pay for it.
"""

from __future__ import annotations

import sys
from collections import Counter
from typing import Any

from azpe.ids import ConnectionRef
from azpe.outcomes import Outcome, TargetResult
from azpe.planning import Plan

_FAILED = (Outcome.FAILED, Outcome.SKIPPED)


class ServerProgress:
    """``start(plan)`` before the writes, ``update(result)`` after each, ``stop()`` at the end."""

    def __init__(self, *, enabled: bool | None = None) -> None:
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self.totals: Counter[str] = Counter()
        self.done: Counter[str] = Counter()
        self.failed: Counter[str] = Counter()
        self._writes: set[ConnectionRef] = set()
        self._live: Any = None

    def start(self, plan: Plan) -> None:
        """Add a run's writes; ``enforce`` starts one run per kind of decision."""
        self._writes |= {i.target for i in plan.writes}
        self.totals = Counter(t.server.name for t in self._writes)
        if self._live is None and self.enabled and self.totals:
            from rich.console import Console
            from rich.live import Live

            self._live = Live(self._render(), console=Console(stderr=True), refresh_per_second=4)
            self._live.start()

    def stop(self) -> None:
        if self._live is not None:
            self._live.update(self._render())
            self._live.stop()
            self._live = None

    def update(self, result: TargetResult) -> None:
        if result.target not in self._writes:
            return  # settled while planning: not part of the writes' progress
        server = result.target.server.name
        if result.outcome in _FAILED:
            self.failed[server] += 1
        else:
            self.done[server] += 1
        if self._live is not None:
            self._live.update(self._render())

    def _render(self) -> Any:
        from rich.table import Table

        table = Table(box=None, pad_edge=False)
        for column in ("server", "done", "failed", "remaining"):
            table.add_column(column, justify="left" if column == "server" else "right")
        for server, total in sorted(self.totals.items()):
            left = total - self.done[server] - self.failed[server]
            table.add_row(server, str(self.done[server]), str(self.failed[server]), str(left))
        return table
