"""A live per-server progress display on stderr, shown only when stderr is a terminal.

It never touches stdout: stdout carries the results, wherever it leads (a file, a pipe, the
same terminal). rich's ``Live`` would by default redirect stdout into the display; here it
redirects only stderr, so that error lines and logs print above the display instead of
tearing it. When the results stream (``-o jsonl``) to the terminal the display would run on,
it is not shown: each result line is the progress there.

rich is imported only here and only when the display is shown, so pipelines and
``azpe --help`` do not pay for it.
"""

from __future__ import annotations

import sys
from collections import Counter
from typing import Any

from azpe.escape import visible
from azpe.ids import ConnectionRef
from azpe.outcomes import Outcome, TargetResult
from azpe.planning import Plan

COLUMNS = ("server", "done", "failed", "skipped", "remaining")


def _shown_by_default(streaming: bool) -> bool:
    if not sys.stderr.isatty():
        return False
    return not (streaming and sys.stdout.isatty())


class ServerProgress:
    """``start(plan)`` before the writes, ``update(result)`` after each, ``stop()`` at the end."""

    def __init__(self, *, enabled: bool | None = None, streaming: bool = False) -> None:
        self.enabled = _shown_by_default(streaming) if enabled is None else enabled
        self.totals: Counter[str] = Counter()
        self.done: Counter[str] = Counter()
        self.failed: Counter[str] = Counter()
        self.skipped: Counter[str] = Counter()
        self._writes: set[ConnectionRef] = set()
        self._live: Any = None

    def start(self, plan: Plan) -> None:
        """Add a run's writes; ``enforce`` starts one run per kind of decision."""
        self._writes |= {i.target for i in plan.writes}
        self.totals = Counter(t.server.name for t in self._writes)
        if self._live is None and self.enabled and self.totals:
            from rich.console import Console
            from rich.live import Live

            self._live = Live(
                self._render(),
                console=Console(stderr=True),
                refresh_per_second=4,
                redirect_stdout=False,  # stdout is the results' alone
                redirect_stderr=True,
            )
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
        if result.outcome is Outcome.FAILED:
            self.failed[server] += 1
        elif result.outcome is Outcome.SKIPPED:
            self.skipped[server] += 1
        else:
            self.done[server] += 1
        if self._live is not None:
            self._live.update(self._render())

    def rows(self) -> list[tuple[str, int, int, int, int]]:
        """(server, done, failed, skipped, remaining) for each server with writes."""
        out = []
        for server, total in sorted(self.totals.items()):
            done, failed, skipped = self.done[server], self.failed[server], self.skipped[server]
            out.append((server, done, failed, skipped, total - done - failed - skipped))
        return out

    def _render(self) -> Any:
        from rich.table import Table
        from rich.text import Text

        table = Table(box=None, pad_edge=False)
        for column in COLUMNS:
            table.add_column(column, justify="left" if column == "server" else "right")
        for server, *counts in self.rows():
            # Text, not a markup string: a name is shown as it is, escaped, never interpreted.
            table.add_row(Text(visible(server)), *(Text(str(n)) for n in counts))
        return table
