"""The write use case: plan, hold back what is unsafe, confirm, execute, report every target."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from azpe.client import Action, AzClient
from azpe.errors import AzpeError, ExitCode, SafetyRefusal, exit_code_for, not_started
from azpe.executor import Executor
from azpe.models import Server
from azpe.outcomes import Outcome, TargetResult
from azpe.planning import Plan, build_plan, server_key
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

    @property
    def exit_code(self) -> ExitCode:
        if self.interrupted:
            return ExitCode.INTERRUPTED
        if self.failure is not None:
            return self.failure.exit_code
        return exit_code_for([r.exit_code for r in self.results])

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
) -> WriteReport:
    """``on_plan`` sees every decision before anything is written (the audit log);
    ``on_start`` is called just before the writes begin; ``on_result`` once per target."""
    options = request.options
    read = reader(options.retries, max_seconds=options.retry_budget, wait=options.wait)
    try:
        plan = build_plan(
            request.action,
            request.selection,
            client,
            description=request.description,
            concurrency=request.options.concurrency,
            read=read,
            snapshot=request.snapshot,
        )
    except KeyboardInterrupt:
        # Interrupted while reading (the reads were stopped): nothing was written.
        skipped = [
            TargetResult(t, Outcome.SKIPPED, error=not_started()) for t in request.selection.connections
        ]
        for result in skipped:
            on_result(result)
        return WriteReport(skipped, interrupted=True)
    on_plan(plan)
    if plan.guarded:
        if not request.force:
            return _finish(plan, _refuse_guarded(plan), on_result)
        log.warning("--force: removing the last Approved connection(s) despite the lock-out guard")
    if request.dry_run:
        return _finish(plan, _dry_run(plan, client, request.options), on_result)
    try:
        confirmed = not plan.writes or confirm(plan)
    except KeyboardInterrupt:  # Ctrl-C at the prompt: nothing was written
        stopped = {id(i): i.with_(outcome=Outcome.SKIPPED, error=not_started()) for i in plan.writes}
        return _finish(plan, stopped, on_result, interrupted=True)
    if not confirmed:
        declined = SafetyRefusal("not confirmed: nothing was written", code="NotConfirmed")
        refused = {id(i): i.with_(outcome=Outcome.SKIPPED, error=declined) for i in plan.writes}
        return _finish(plan, refused, on_result)

    for item in plan.items:
        if item.outcome is not Outcome.PLANNED:
            on_result(item)
    on_start(plan)
    executor = Executor(client, plan, request.options, on_result=on_result)
    written = dict(zip((id(i) for i in plan.writes), executor.run(), strict=True))
    return WriteReport(
        [written.get(id(i), i) for i in plan.items],
        interrupted=executor.interrupted,
        failure=executor.failure,
    )


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


def _refuse_guarded(plan: Plan) -> dict[int, TargetResult]:
    guarded = {(i.target.server, i.target.name): i for i in plan.guarded}
    held = SafetyRefusal(
        "not run: the lock-out guard refused this run, so nothing was written",
        code="LockOutGuard",
        hint="Pass --force to override the guard.",
    )
    out: dict[int, TargetResult] = {}
    for item in plan.writes:
        hit = guarded.get((item.target.server, item.target.name))
        if hit is not None:
            out[id(item)] = hit.with_(outcome=Outcome.FAILED)
        else:
            out[id(item)] = item.with_(outcome=Outcome.SKIPPED, error=held)
    return out


def _finish(
    plan: Plan,
    replaced: dict[int, TargetResult],
    on_result: Callable[[TargetResult], None],
    *,
    interrupted: bool = False,
) -> WriteReport:
    results = [replaced.get(id(i), i) for i in plan.items]
    for result in results:
        on_result(result)
    return WriteReport(results, interrupted=interrupted)
