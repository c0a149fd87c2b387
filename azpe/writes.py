"""The write use case: plan, hold back what is unsafe, confirm, execute, report every target."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from azpe.accounts import Owners
from azpe.client import Action, AzClient
from azpe.errors import AzpeError, ExitCode, SafetyRefusal, UsageError, exit_code_for, not_started
from azpe.executor import Executor
from azpe.models import Server
from azpe.outcomes import Outcome, TargetResult
from azpe.planning import Plan, build_plan, result_key, server_key
from azpe.reads import Unreadable
from azpe.retry import reader
from azpe.run_options import RunOptions
from azpe.target_write import not_ready_error
from azpe.targets import Selection

log = logging.getLogger("azpe")


@dataclass(frozen=True)
class WriteRequest:
    action: Action
    selection: Selection
    description: str | None = None
    dry_run: bool = False
    force: bool = False
    options: RunOptions = field(default_factory=RunOptions)
    snapshot: tuple[Server, ...] = ()  # servers already read; planning does not read them again


@dataclass(frozen=True)
class WriteReport:
    results: list[TargetResult]
    interrupted: bool = False
    failure: AzpeError | None = None  # the run stopped because reporting failed (audit log)
    unreadable: tuple[Unreadable, ...] = ()  # subscriptions of the scope that could not be read

    @property
    def exit_code(self) -> ExitCode:
        if self.interrupted:
            return ExitCode.INTERRUPTED
        if self.failure is not None:
            return self.failure.exit_code
        codes = [r.exit_code for r in self.results] + [u.error.exit_code for u in self.unreadable]
        return exit_code_for(codes)

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for result in self.results:
            out[result.outcome.value] = out.get(result.outcome.value, 0) + 1
        return out


def run_write(
    client: AzClient,
    request: WriteRequest,
    *,
    confirm: Callable[[Plan], bool],
    on_result: Callable[[TargetResult], None],
    on_start: Callable[[Plan], None] = lambda _plan: None,
    on_plan: Callable[[Plan], None] = lambda _plan: None,
    owners: Callable[[], Owners] | None = None,
) -> WriteReport:
    """``on_plan`` sees every decision before anything is written (the audit log);
    ``on_start`` is called just before the writes begin; ``on_result`` once per target.
    A Ctrl-C (or SIGTERM) at any moment still gives every target a result: those not yet
    reported are ``skipped`` (the executor handles one that comes while writes run).
    ``owners``: whose each endpoint is, for an ``--owner`` filter."""
    run = _Run(request, on_result, owners)
    try:
        return run.write(client, confirm=confirm, on_start=on_start, on_plan=on_plan)
    except KeyboardInterrupt:
        return run.interrupted()


class _Run:
    """One write run's plan and what it has reported so far."""

    def __init__(
        self,
        request: WriteRequest,
        on_result: Callable[[TargetResult], None],
        owners: Callable[[], Owners] | None = None,
    ) -> None:
        self.request = request
        self.owners = owners
        self.plan: Plan | None = None
        self.reported: dict[tuple[str, str], TargetResult] = {}
        self._on_result = on_result

    def report(self, result: TargetResult) -> None:
        self.reported[result_key(result)] = result
        self._on_result(result)

    def interrupted(self) -> WriteReport:
        """Every target: its result if it was reported, its decision if it needed no write,
        else ``skipped``: nothing was written for it."""
        if self.plan is not None:
            targets = self.plan.items
        else:
            targets = [TargetResult(t, Outcome.PLANNED) for t in self.request.selection.connections]
        results = []
        for item in targets:
            result = self.reported.get(result_key(item))
            if result is None:
                if item.outcome is Outcome.PLANNED:
                    item = item.with_(outcome=Outcome.SKIPPED, error=not_started())
                self.report(item)
                result = item
            results.append(result)
        return WriteReport(results, interrupted=True, unreadable=self._unreadable())

    def _unreadable(self) -> tuple[Unreadable, ...]:
        return tuple(self.plan.unreadable) if self.plan is not None else ()

    def write(
        self,
        client: AzClient,
        *,
        confirm: Callable[[Plan], bool],
        on_start: Callable[[Plan], None],
        on_plan: Callable[[Plan], None],
    ) -> WriteReport:
        request, options = self.request, self.request.options
        read = reader(options.retries, max_seconds=options.retry_budget, wait=options.wait)
        plan = self.plan = build_plan(
            request.action,
            request.selection,
            client,
            description=request.description,
            concurrency=options.concurrency,
            read=read,
            snapshot=request.snapshot,
            owners=self.owners,
        )
        on_plan(plan)
        invalid = [i for i in plan.items if isinstance(i.error, UsageError)]
        if invalid and plan.writes:  # a name that fits several connections: bad input
            return self._finish(_hold_for_bad_input(plan, invalid[0]))
        if plan.guarded:
            if not request.force:
                held = _hold_guarded_servers(plan)
                plan.items = [held.get(id(i), i) for i in plan.items]  # the other servers go on
            else:
                log.warning("--force: removing the last Approved connection(s) despite the lock-out guard")
        if request.dry_run:
            return self._finish(_dry_run(plan, client, options))
        if plan.writes and not confirm(plan):
            declined = SafetyRefusal("not confirmed: nothing was written", code="NotConfirmed")
            return self._finish(
                {id(i): i.with_(outcome=Outcome.SKIPPED, error=declined) for i in plan.writes}
            )
        for item in plan.items:
            if item.outcome is not Outcome.PLANNED:
                self.report(item)
        on_start(plan)
        executor = Executor(client, plan, options, on_result=self.report, force=request.force)
        written = dict(zip((id(i) for i in plan.writes), executor.run(), strict=True))
        return WriteReport(
            [written.get(id(i), i) for i in plan.items],
            interrupted=executor.interrupted,
            failure=executor.failure,
            unreadable=self._unreadable(),
        )

    def _finish(self, replaced: dict[int, TargetResult]) -> WriteReport:
        assert self.plan is not None
        results = [replaced.get(id(i), i) for i in self.plan.items]
        for result in results:
            self.report(result)
        return WriteReport(results, unreadable=self._unreadable())


def _dry_run(plan: Plan, client: AzClient, options: RunOptions) -> dict[int, TargetResult]:
    """Each write's exact argv; a server that is not Ready fails its targets as a real run
    would (unless --wait-ready gives it time)."""
    out: dict[int, TargetResult] = {}
    for item in plan.writes:
        server = plan.servers[server_key(item.target.server)]
        if not server.ready and options.wait_ready <= 0:
            out[id(item)] = item.with_(outcome=Outcome.FAILED, error=not_ready_error(server))
        else:
            argv = client.write_argv(plan.action, item.target, plan.description)
            out[id(item)] = item.with_(command=tuple(argv))
    return out


def _hold_for_bad_input(plan: Plan, bad: TargetResult) -> dict[int, TargetResult]:
    """Invalid input found on reading (``-n`` naming an endpoint with several connections):
    as for any invalid input, nothing is written (exit 2) - the other targets are skipped."""
    held = UsageError(
        f"not run: target {bad.target.name!r} is not valid input, so nothing is written",
        code="NotRun",
        hint="Name the connections unambiguously (the full name, with its GUID suffix).",
    )
    return {id(i): i.with_(outcome=Outcome.SKIPPED, error=held) for i in plan.writes}


def _hold_guarded_servers(plan: Plan) -> dict[int, TargetResult]:
    """The lock-out guard's one rule: on a server where it trips, nothing is written - the
    guarded writes fail with the guard's error, the server's other writes are skipped - and
    the other servers go on (the run exits 6)."""
    guarded = {result_key(i): i for i in plan.guarded}
    servers = {server_key(i.target.server) for i in plan.guarded}
    out: dict[int, TargetResult] = {}
    for item in plan.writes:
        if server_key(item.target.server) not in servers:
            continue
        hit = guarded.get(result_key(item))
        if hit is not None:
            out[id(item)] = hit.with_(outcome=Outcome.FAILED)
        else:
            held = SafetyRefusal(
                f"not run: the lock-out guard refused a write on server {item.target.server.name}, "
                "so nothing on it is written",
                code="LockOutGuard",
                hint="Pass --force to override the guard.",
            )
            out[id(item)] = item.with_(outcome=Outcome.SKIPPED, error=held)
    return out
