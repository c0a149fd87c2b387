"""Mutation gate (``make mutate``): break the safety-critical code one line at a time and check
that the unit tests notice.

Each mutation names a file, the exact text it replaces (which must occur exactly once: else
the list itself is wrong and the script says so), the replacement, the behaviour it breaks
and the fewest test files that should catch it. Every mutant runs in a throw-away copy of
``azpe/``, ``tests/``, ``pyproject.toml`` and ``README.md`` - never in the working tree - with
``pytest -x -q -p no:cacheprovider -m "not e2e"`` on its test files.

    .venv/bin/python scripts/mutate.py             # all of them
    .venv/bin/python scripts/mutate.py --list      # the list, nothing run
    .venv/bin/python scripts/mutate.py guard-off idempotence-holds   # some, by id
    .venv/bin/python scripts/mutate.py --jobs 2    # two copies at once

Exit 0 when every mutant was killed; 1 when one survived, or the list does not apply, or the
tests fail without any mutation (a red suite kills everything and proves nothing).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COPIED = ("azpe", "tests", "pyproject.toml", "README.md")  # some tests read the README
# A mutant whose tests run longer than this hangs them: that counts as caught (a hang is a
# visible failure), but is reported as such.
TIMEOUT_SECONDS = 120.0


@dataclass(frozen=True)
class Mutation:
    id: str
    file: str
    original: str
    replacement: str
    breaks: str
    tests: tuple[str, ...]


def m(id: str, file: str, original: str, replacement: str, breaks: str, *tests: str) -> Mutation:
    return Mutation(id, file, original, replacement, breaks, tuple(f"tests/{t}" for t in tests))


ASSESS = "azpe/assess.py"
TARGET = "azpe/target_write.py"
EXECUTOR = "azpe/executor.py"
GAPS = "test_mutation_gaps.py"

MUTATIONS: tuple[Mutation, ...] = (
    # -- the lock-out guard ----------------------------------------------------------------
    m(
        "guard-off",
        ASSESS,
        "if not action.removes_access or (server",
        "if action.removes_access or (server",
        "the guard never holds a reject or delete",
        "test_cli_write.py",
    ),
    m(
        "guard-unknown-public-access",
        ASSESS,
        '(server.public_network_access or "").lower() == "enabled"',
        '(server.public_network_access or "enabled").lower() == "enabled"',
        "public network access az did not report is taken as Enabled",
        "test_cli_write.py",
    ),
    m(
        "guard-counts-unsettled",
        ASSESS,
        "if any(c.name.lower() not in gone and settled(c) for c in approved):",
        "if any(c.name.lower() not in gone for c in approved):",
        "an Approved connection that an operation is changing counts as one that stays",
        GAPS,
    ),
    m(
        "guard-case-sensitive",
        ASSESS,
        "if not any(c.name.lower() in gone for c in approved):",
        "if not any(c.name in gone for c in approved):",
        "a target named in other letter case slips past the guard",
        GAPS,
    ),
    m(
        "guard-not-on-fresh-read",
        TARGET,
        "guard=not self.w.force)",
        "guard=False)",
        "the engine does not re-apply the guard to its fresh read before a write",
        "test_cli_write.py",
    ),
    m(
        "guard-no-fresh-read",
        TARGET,
        "return not self.read_here",
        "return False",
        "no fresh read before taking an Approved connection away",
        "test_cli_write.py",
    ),
    # -- idempotence and refusals ----------------------------------------------------------
    m(
        "idempotence-holds",
        ASSESS,
        "    if holds(action, connection):\n",
        "    if False:\n",
        "a connection already in the wanted state is written again",
        "test_cli_write.py",
    ),
    m(
        "idempotence-unsettled",
        ASSESS,
        "return connection is not None and connection.status == wanted and settled(connection)",
        "return connection is not None and connection.status == wanted",
        "a connection still being changed counts as done",
        GAPS,
    ),
    m(
        "idempotence-reported-unchanged",
        TARGET,
        "outcome = Outcome(self.w.action.done_word) if self.sent else Outcome.UNCHANGED",
        "outcome = Outcome(self.w.action.done_word)",
        "a target already in the wanted state is reported as written",
        "test_cli_write.py",
    ),
    m(
        "refuse-approve-rejected",
        ASSESS,
        'Action.APPROVE: ("Pending",),',
        'Action.APPROVE: ("Pending", "Rejected"),',
        "az is called to approve a Rejected connection (Rejected is final)",
        "test_cli_write.py",
    ),
    m(
        "refuse-reject-approved",
        ASSESS,
        'Action.REJECT: ("Pending", "Approved"),',
        'Action.REJECT: ("Pending",),',
        "an Approved connection can no longer be rejected",
        "test_cli_write.py",
    ),
    # -- re-reads before writes and after unknown outcomes -----------------------------------
    m(
        "reread-stale",
        TARGET,
        "return time.monotonic() - self.at >= FRESH_SECONDS",
        "return False",
        "a server read older than FRESH_SECONDS is trusted before a write",
        "test_executor.py",
    ),
    m(
        "reread-approve-after-write",
        TARGET,
        "return self.w.action is Action.APPROVE and self.look.predates_write",
        "return False",
        "an approve after another write on the server trusts the read from before it",
        "test_executor.py",
    ),
    m(
        "reread-before-retry",
        TARGET,
        "self.needs_read = True  # look again before any retry",
        "self.needs_read = False  # look again before any retry",
        "a failed write is retried without reading what it did",
        "test_cli_write.py",
    ),
    m(
        "unknown-timeout",
        TARGET,
        "if isinstance(exc, AzTimeout) or exc.code in UNKNOWN_OUTCOME:",
        "if exc.code in UNKNOWN_OUTCOME:",
        "a timed-out write is retried instead of decided by a read",
        "test_executor.py",
    ),
    m(
        "unknown-unconfirmed",
        TARGET,
        'UNKNOWN_OUTCOME = ("OperationUnconfirmed", "AzCrashed")',
        'UNKNOWN_OUTCOME = ("AzCrashed",)',
        "az giving up its polls is a failure, not an outcome to read and wait for",
        "test_executor.py",
    ),
    m(
        "unknown-sent",
        TARGET,
        "self.sent = True  # a failed, killed or timed-out az",
        "self.sent = False  # a failed, killed or timed-out az",
        "a failed write is reported without reading whether it landed",
        "test_executor.py",
    ),
    m(
        "after-failure-landed",
        TARGET,
        "        if holds(self.w.action, current):\n",
        "        if False:\n",
        "a write that failed yet landed is reported failed",
        "test_executor.py",
    ),
    # -- verification ------------------------------------------------------------------------
    m(
        "verify-delete-gone",
        TARGET,
        "if action is not Action.DELETE and holds(action, written):",
        "if holds(action, written):",
        "a delete counts as done without a read showing the connection gone",
        "test_executor.py",
    ),
    m(
        "verify-written-status",
        TARGET,
        "if action is not Action.DELETE and holds(action, written):",
        "if action is not Action.DELETE and written is not None:",
        "a write whose output shows the old status counts as done",
        GAPS,
    ),
    m(
        "verify-after-write",
        TARGET,
        "self.needs_read = True  # verify at once",
        "self.needs_read = False  # verify at once",
        "an exit 0 without proof is judged on the read from before the write",
        "test_executor.py",
    ),
    m(
        "verify-out-of-time",
        TARGET,
        "end = _End.STOPPED if self.stop.is_set() else _End.OUT_OF_TIME",
        "end = _End.STOPPED if self.stop.is_set() else _End.DONE",
        "a write that never converged within the budget is reported as success",
        "test_executor.py",
    ),
    m(
        "busy-uses-retries",
        TARGET,
        "except (ServerBusy, ServerNotReady, NotStarted):",
        "except (ServerNotReady, NotStarted):",
        "a 409 busy uses up --retries instead of being waited for",
        "test_executor.py",
    ),
    m(
        "wait-ready-gives-up",
        EXECUTOR,
        "return found.ready or cannot_become_ready(found)",
        "return True",
        "--wait-ready stops at the first read of a server not yet Ready",
        "test_executor.py",
    ),
    # -- interrupts and the scheduler ------------------------------------------------------------
    m(
        "interrupt-flag",
        EXECUTOR,
        "self.interrupted = True",
        "self.interrupted = False",
        "a run stopped by Ctrl-C does not exit 130",
        "test_executor.py",
    ),
    m(
        "interrupt-no-cancel",
        EXECUTOR,
        "self.interrupt_event.set()\n        self.cancelled.set()",
        "self.interrupt_event.set()\n        pass",
        "after Ctrl-C new writes still start",
        "test_executor.py",
    ),
    m(
        "interrupt-no-grace",
        EXECUTOR,
        "if not self._wait_workers(self.options.grace, unless=again):",
        "if not self._wait_workers(0, unless=again):",
        "running az calls are killed at once instead of finishing within the grace",
        "test_executor.py",
    ),
    m(
        "interrupt-next-target-starts",
        EXECUTOR,
        "            if self.cancelled.is_set():\n                self._emit(",
        "            if False:\n                self._emit(",
        "once the run stops, the next target of a server that is not Ready is failed, not skipped",
        GAPS,
    ),
    m(
        "stop-before-read",
        TARGET,
        "if self.stop.is_set():  # stopped while it waited: what it wrote is read once, in _report",
        "if False:  # stopped while it waited: what it wrote is read once, in _report",
        "after Ctrl-C a target asleep between polls is read twice",
        "test_executor.py",
    ),
    m(
        "interrupt-target-step",
        TARGET,
        "            if self.stop.is_set():  # stopped during this step's read",
        "            if False:  # stopped during this step's read",
        "after Ctrl-C a target not yet written is judged on a read (failed) instead of skipped",
        GAPS,
    ),
    m(
        "group-read-predates-write",
        TARGET,
        "newer_than=max(self.look.at, self.look.written_at or 0.0)",
        "newer_than=self.look.at",
        "a group read made while the server's last write ran serves its next target",
        "test_executor.py",
    ),
    m(
        "stop-retry-writes",
        TARGET,
        "            if self.w.cancel.is_set():  # the run stops: no further write, even a retry",
        "            if False:  # the run stops: no further write, even a retry",
        "once the run stopped (its audit failed), a failed write is tried again",
        "test_executor.py",
    ),
    m(
        "stop-cuts-verification",
        TARGET,
        "return self.writer.interrupt.is_set() or (self.writer.cancel.is_set() and not self.run.sent)",
        "return self.writer.interrupt.is_set() or self.writer.cancel.is_set()",
        "once the run stopped (its audit failed), a write that was made is not seen to its end",
        "test_executor.py",
    ),
    m(
        "stop-hides-the-error",
        TARGET,
        "if self.w.interrupt.is_set() or isinstance(exc, Interrupted):",
        "if self.w.cancel.is_set() or isinstance(exc, Interrupted):",
        "once the run stopped (its audit failed), a write's own failure is reported as Interrupted",
        "test_executor.py",
    ),
    m(
        "stop-reads-retry",
        TARGET,
        "self.read = writer.reader(self.stop)  # this target's own reads",
        "self.read = writer.reader(writer.interrupt)  # this target's own reads",
        "once the run stopped, a target that has not written retries its reads before it is skipped",
        "test_executor.py",
    ),
    m(
        "slot-ignores-stop",
        "azpe/az.py",
        "if unless is not None and unless.is_set():\n                raise not_started()  # set while",
        "if False:\n                raise not_started()  # set while",
        "a write that waited for a free place among the az processes starts after Ctrl-C",
        "test_capacity.py",
    ),
    m(
        "stopped-not-re-read",
        TARGET,
        "return self._after_failure(self._stopped_error())  # re-read what was in flight",
        "return self._result(Outcome.FAILED, connection, self._stopped_error())",
        "after Ctrl-C a write in flight is reported from the read before, not re-read",
        "test_executor.py",
    ),
    m(
        "concurrency-bound",
        EXECUTOR,
        "workers = max(1, min(self.options.concurrency or len(self._queue), len(self._queue)))",
        "workers = max(1, len(self._queue))",
        "more servers are written at once than --concurrency",
        "test_executor.py",
    ),
    m(
        "serial-order",
        EXECUTOR,
        "        for item in items:\n            if self.cancelled",
        "        for item in reversed(items):\n            if self.cancelled",
        "a server's writes do not run in plan order",
        "test_executor.py",
    ),
    # -- exit codes ------------------------------------------------------------------------------
    m(
        "exit-mixed",
        "azpe/errors.py",
        "    if len(failed) == 1:\n",
        "    if len(failed) >= 1:\n",
        "targets failed for mixed reasons exit with one reason's code, not 1",
        GAPS,
    ),
    m(
        "exit-ok-counted",
        "azpe/errors.py",
        "failed = {c for c in codes if c != ExitCode.OK}",
        "failed = set(codes)",
        "a target that succeeded turns one failure's code into 1",
        "test_cli_write.py",
    ),
    m(
        "exit-skipped",
        "azpe/outcomes.py",
        "if self.outcome in (Outcome.FAILED, Outcome.SKIPPED) and self.error is not None:",
        "if self.outcome is Outcome.FAILED and self.error is not None:",
        "a skipped target does not count in the exit code",
        "test_writes.py",
    ),
    m(
        "exit-safety-code",
        "azpe/errors.py",
        "    SAFETY = 6\n",
        "    SAFETY = 1\n",
        "a safety refusal no longer exits 6",
        "test_cli_write.py",
    ),
    m(
        "exit-not-found-code",
        "azpe/errors.py",
        "class NotFound(AzpeError):\n    exit_code = ExitCode.NOT_FOUND",
        "class NotFound(AzpeError):\n    exit_code = ExitCode.AZURE_FAILED",
        "a missing server or connection no longer exits 3",
        "test_cli_read.py",
    ),
    m(
        "exit-not-ready-code",
        "azpe/errors.py",
        "class ServerNotReady(AzpeError):\n    exit_code = ExitCode.NOT_READY",
        "class ServerNotReady(AzpeError):\n    exit_code = ExitCode.AZURE_FAILED",
        "a server not Ready no longer exits 5",
        "test_cli_write.py",
    ),
    # -- validation --------------------------------------------------------------------------------
    m(
        "ids-server-length",
        "azpe/ids.py",
        "[a-z0-9](?:[a-z0-9-]{1,61})[a-z0-9]",
        "[a-z0-9](?:[a-z0-9-]{1,62})[a-z0-9]",
        "a 64-character server name is accepted",
        "test_ids.py",
    ),
    m(
        "ids-connection-leading-dash",
        "azpe/ids.py",
        r'_CONNECTION = r"[^\W_](?:',
        r'_CONNECTION = r"[\w.-](?:',
        "a connection name starting with '-' (an option to az) is accepted",
        "test_ids.py",
    ),
    m(
        "ids-connection-id-prefix",
        "azpe/ids.py",
        "match = _CONNECTION_ID_RE.fullmatch(text)",
        "match = _CONNECTION_ID_RE.match(text)",
        "a connection ID followed by more text is accepted",
        "test_ids.py",
    ),
    m(
        "ids-ascii",
        "azpe/ids.py",
        '(?P<name>{_CONNECTION})/?", re.IGNORECASE | re.ASCII',
        '(?P<name>{_CONNECTION})/?", re.IGNORECASE',
        "non-ASCII look-alikes (Kelvin sign, long s) pass as a connection ID",
        "test_ids.py",
    ),
    m(
        "ids-subscription-dash",
        "azpe/ids.py",
        'value == value.strip() and not value.startswith("-")',
        "value == value.strip()",
        "a subscription name starting with '-' is accepted",
        "test_ids.py",
    ),
    # -- classification of az failures, and retries --------------------------------------------------
    m(
        "classify-exit-3",
        "azpe/az_errors.py",
        "if lowered in NOT_FOUND_CODES or returncode == 3:",
        "if lowered in NOT_FOUND_CODES:",
        "az's exit 3 without an ARM code is not a not-found",
        "test_az_errors.py",
    ),
    m(
        "classify-server-busy",
        "azpe/az_errors.py",
        '("ServerIsBusy", "ServerBusy", "AnotherOperationInProgress")',
        '("ServerIsBusy", "AnotherOperationInProgress")',
        "409 ServerBusy is not waited for",
        "test_az_errors.py",
    ),
    m(
        "classify-bare-conflict",
        "azpe/az_errors.py",
        'if code is None and reason and reason.lower() == "conflict":',
        "if False:",
        "a 409 without an ARM code is not taken as busy",
        "test_az_errors.py",
    ),
    m(
        "classify-throttling",
        "azpe/az_errors.py",
        '        "TooManyRequests",\n',
        "",
        "429 TooManyRequests is not retried",
        "test_az_errors.py",
    ),
    m(
        "classify-network",
        "azpe/az_errors.py",
        'return TransientError("az could not reach Azure: "',
        'return AzureError("az could not reach Azure: "',
        "a connection error is not retried",
        "test_az_errors.py",
    ),
    m(
        "retry-attempts",
        "azpe/retry.py",
        "stop_after_attempt(retries + 1)",
        "stop_after_attempt(retries + 2)",
        "--retries N makes more than N + 1 attempts",
        "test_retry.py",
    ),
    m(
        "retry-not-ready-transient",
        "azpe/retry.py",
        "return isinstance(exc, TransientError | ServerNotReady)",
        "return isinstance(exc, TransientError)",
        "a server becoming ready is not retried",
        "test_retry.py",
    ),
    m(
        "retry-reraise",
        "azpe/retry.py",
        "        reraise=True,\n",
        "        reraise=False,\n",
        "exhausted retries raise tenacity's RetryError, not the last az error",
        "test_retry.py",
    ),
    # -- the audit log -------------------------------------------------------------------------------
    m(
        "audit-fsync",
        "azpe/audit.py",
        "                os.fsync(fd)\n",
        "                pass\n",
        "an audit line is not fsynced before the next write starts",
        "test_audit.py",
    ),
    m(
        "audit-flock",
        "azpe/audit.py",
        "fcntl.flock(fd, fcntl.LOCK_EX)",
        "None",
        "concurrent azpe runs append without the lock",
        GAPS,
    ),
    m(
        "audit-torn-line",
        "azpe/audit.py",
        'data = b"\\n" + data',
        "data = data",
        "a line after a torn one is glued onto it",
        "test_audit.py",
    ),
    m(
        "audit-take-back",
        "azpe/audit.py",
        "                _truncate(fd, start)\n",
        "                pass\n",
        "a half-written line stays in the log",
        "test_audit.py",
    ),
)


@dataclass(frozen=True)
class Verdict:
    mutation: Mutation
    killed: bool
    seconds: float
    note: str = ""


def problems(mutations: tuple[Mutation, ...], root: Path) -> list[str]:
    """What is wrong with the list itself: ids, files, texts that do not occur exactly once,
    replacements that do not compile, test files that do not exist."""
    out: list[str] = []
    seen: set[str] = set()
    for mut in mutations:
        where = f"{mut.id} ({mut.file})"
        if mut.id in seen:
            out.append(f"{where}: the id is used twice")
        seen.add(mut.id)
        path = root / mut.file
        if not path.is_file():
            out.append(f"{where}: no such file")
            continue
        source = path.read_text(encoding="utf-8")
        count = source.count(mut.original)
        if count != 1:
            out.append(f"{where}: the original text occurs {count} times, not once: {mut.original!r}")
            continue
        if mut.original == mut.replacement:
            out.append(f"{where}: the replacement is the original")
        try:
            compile(source.replace(mut.original, mut.replacement), mut.file, "exec")
        except SyntaxError as exc:
            out.append(f"{where}: the mutant does not compile: {exc.msg} (line {exc.lineno})")
        out.extend(f"{where}: no test file {t}" for t in mut.tests if not (root / t).is_file())
        if not mut.tests:
            out.append(f"{where}: names no test file")
    return out


@contextmanager
def copy_of_repo(source_root: Path) -> Iterator[Path]:
    """A throw-away copy of the code and its tests: mutants never touch the working tree."""
    with tempfile.TemporaryDirectory(prefix="azpe-mutate-") as tmp:
        root = Path(tmp)
        ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache")
        for name in COPIED:
            source = source_root / name
            if source.is_dir():
                shutil.copytree(source, root / name, ignore=ignore)
            else:
                shutil.copy2(source, root / name)
        yield root


def child_env(root: Path) -> dict[str, str]:
    env = dict(os.environ)
    # The copy first on the path (before the editable install's finder); no bytecode cache: a
    # mutant of the same size written in the same second would otherwise reuse a stale .pyc.
    env["PYTHONPATH"] = str(root)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env.pop("COVERAGE_PROCESS_START", None)
    return env


def check_imports_copy(root: Path) -> None:
    found = subprocess.run(
        [sys.executable, "-c", "import azpe; print(azpe.__file__)"],
        cwd=root, env=child_env(root), capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    if not Path(found).resolve().is_relative_to(root.resolve()):
        raise SystemExit(f"mutate: the tests would import azpe from {found}, not from the copy")


def run_tests(root: Path, tests: tuple[str, ...]) -> tuple[int | None, str]:
    """pytest's exit code (None: it hung past TIMEOUT_SECONDS) and the tail of its output."""
    argv = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", "-m", "not e2e",
            # the suite's gates (a coverage floor) are for the whole suite, not a few files
            "-o", "addopts=--strict-markers", *tests]  # fmt: skip
    try:
        proc = subprocess.run(argv, cwd=root, env=child_env(root), capture_output=True, text=True,
                              timeout=TIMEOUT_SECONDS)  # fmt: skip
    except subprocess.TimeoutExpired:
        return None, ""
    tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
    return proc.returncode, tail


def try_mutant(root: Path, mut: Mutation) -> Verdict:
    path = root / mut.file
    original = path.read_text(encoding="utf-8")
    started = time.monotonic()
    path.write_text(original.replace(mut.original, mut.replacement, 1), encoding="utf-8")
    try:
        code, tail = run_tests(root, mut.tests)
    finally:
        path.write_text(original, encoding="utf-8")
    seconds = time.monotonic() - started
    if code is None:
        return Verdict(mut, True, seconds, f"the tests hung (> {TIMEOUT_SECONDS:g} s)")
    if code == 1 and " failed" in tail:
        return Verdict(mut, True, seconds)
    if code == 1:  # with -x a collection or fixture error exits 1 too: caught, but not by a test
        return Verdict(mut, True, seconds, f"by an error, not a failing test:\n{tail}")
    if code == 0:
        return Verdict(mut, False, seconds)
    # 2: interrupted or collection failed, 3: internal error, 4: usage, 5: no tests
    return Verdict(mut, False, seconds, f"pytest exited {code}, not a test failure:\n{tail}")


def baseline(root: Path, mutations: tuple[Mutation, ...]) -> None:
    files = tuple(sorted({t for mut in mutations for t in mut.tests}))
    code, tail = run_tests(root, files)
    if code != 0:
        raise SystemExit(f"mutate: the tests fail without any mutation (pytest exit {code}):\n{tail}")


def run_all(mutations: tuple[Mutation, ...], source: Path, jobs: int) -> list[Verdict]:
    """Each job works in its own copy; a copy runs one mutant at a time."""
    chunks = [mutations[i::jobs] for i in range(jobs)]

    def work(chunk: tuple[Mutation, ...]) -> list[Verdict]:
        verdicts = []
        with copy_of_repo(source) as root:
            for mut in chunk:
                verdict = try_mutant(root, mut)
                state = "killed" if verdict.killed else "SURVIVED"
                print(f"{state:8} {mut.id:32} {verdict.seconds:5.1f} s  {' '.join(mut.tests)}", flush=True)
                verdicts.append(verdict)
        return verdicts

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        results = [v for chunk in pool.map(work, [c for c in chunks if c]) for v in chunk]
    order = {mut.id: n for n, mut in enumerate(mutations)}
    return sorted(results, key=lambda v: order[v.mutation.id])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("ids", nargs="*", help="run only these mutations")
    parser.add_argument("--list", action="store_true", help="print the list and run nothing")
    parser.add_argument("--jobs", "-j", type=int, default=1, help="copies to run at once (default 1)")
    parser.add_argument("--source", type=Path, default=ROOT, help="the tree to copy (default: this repo's)")
    args = parser.parse_args(argv)

    unknown = sorted(set(args.ids) - {mut.id for mut in MUTATIONS})
    if unknown:
        parser.error(f"no such mutation: {', '.join(unknown)}")
    chosen = tuple(mut for mut in MUTATIONS if not args.ids or mut.id in args.ids)
    if args.list:
        for mut in chosen:
            print(f"{mut.id:32} {mut.file:22} {mut.breaks}  [{' '.join(mut.tests)}]")
        return 0

    started = time.monotonic()
    with copy_of_repo(args.source) as root:
        wrong = problems(chosen, root)
        if wrong:
            print("mutate: the mutation list does not apply to this code:", file=sys.stderr)
            for line in wrong:
                print(f"  {line}", file=sys.stderr)
            return 1
        check_imports_copy(root)
        baseline(root, chosen)
    verdicts = run_all(chosen, args.source, max(1, args.jobs))

    killed = sum(v.killed for v in verdicts)
    print(f"\nmutation score: {killed}/{len(verdicts)} killed in {time.monotonic() - started:.0f} s")
    for v in verdicts:
        if v.note and v.killed:
            print(f"  {v.mutation.id}: killed, {v.note}")
    survivors = [v for v in verdicts if not v.killed]
    for v in survivors:
        mut = v.mutation
        print(f"survived: {mut.id} ({mut.file}): {mut.breaks}; not caught by {' '.join(mut.tests)}")
        if v.note:
            print(f"  {v.note}")
    return 1 if survivors else 0


if __name__ == "__main__":
    sys.exit(main())
