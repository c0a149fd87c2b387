#!/usr/bin/env python3
"""Benchmark azpe against the bare az, a serial bash loop and xargs -P 4 (issues 4 and 8).

Everything runs the real az against the local emulator (``azpe sandbox``, started in a
temporary directory and stopped at the end), inside a network namespace that has only
loopback (the script re-executes itself under scripts/netns-run.sh when needed):

    make bench        # everything, about half an hour
    # = sh scripts/netns-run.sh .venv/bin/python scripts/bench.py
    #   [--only short|long] [--op-seconds S] [--long-op-seconds S] [--models at-end,at-once]
    #   [--contenders azpe,serial,xargs] [--out FILE]

The short case (``--only short``; emulator operations of ``--op-seconds``, default 1 s):

1. one reject: ``azpe reject -g -s -n --yes`` vs the bare ``az network
   private-endpoint-connection reject`` of the same (reseeded, Pending) connection;
2. bulk: 12 Pending connections on 3 servers (4 each): ``azpe reject -g RG --status Pending``
   vs a serial bash loop (az list, then az reject each) vs ``xargs -P 4`` over the same IDs;
3. the az processes azpe starts for (2) (from ``-v``) and the requests they send (from the
   emulator's request log);
4. startup: ``azpe --version`` and ``azpe --help``.

The real-timing case (``--only long``): the bulk of (2) with server operations of
``--long-op-seconds`` (default 30 s), under each emulator timing model of ``--models``
(``at-end``: the connection reads Updating with its old status until its operation ends;
``at-once``: it shows Rejected at once, the server stays busy and answers 409). Each
contender starts from the same 12 Pending, on servers with no operation left running. It is
judged against the physical bound: the busiest server's operations back to back
(4 x the operation length).

It prints markdown tables and writes every figure as JSON (default bench-results.json; a
run of one part keeps the other part's figures already in the file).
POSIX only: processes are driven with the ``sh`` package.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import hashlib
import itertools
import json
import os
import platform
import re
import resource
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sh

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from azpe.sandbox import control, scenarios  # noqa: E402

PG_TYPE = "Microsoft.DBforPostgreSQL/flexibleServers"
SUB = scenarios.DEFAULT_SUBSCRIPTION
SINGLE_RG, SINGLE_SERVER, SINGLE_ENDPOINT = "rg-bench-one", "pg-one", "pe-single"
BULK_RG = "rg-bench"
BULK_SERVERS = ("pg-bench-1", "pg-bench-2", "pg-bench-3")
PER_SERVER = 4
TARGETS = {
    "reject_ratio_max": 1.15,
    "bulk_speedup_min": 2.5,
    "bulk_bound_ratio_max": 1.2,
    "startup_seconds_max": 0.3,
}
# The real-timing case (issue 8): every connection Rejected, within 1.15x the bound.
LONG_TARGETS = {"azpe_rejected": PER_SERVER * len(BULK_SERVERS), "bound_ratio_max": 1.15}
MODELS = ("at-end", "at-once")
CONTENDERS = ("azpe", "serial", "xargs")
AZ_LINE = "azpe: az: "

# The serial loop as admins write it today: list the Pending IDs per server, reject each.
SERIAL_LOOP = """\
rg=$1; shift
for server in "$@"; do
    ids=$(az network private-endpoint-connection list --type Microsoft.DBforPostgreSQL/flexibleServers \\
        -g "$rg" -n "$server" \\
        --query "[?properties.privateLinkServiceConnectionState.status=='Pending'].id" -o tsv)
    for id in $ids; do
        az network private-endpoint-connection reject --id "$id" > /dev/null
    done
done
"""
# The same listing, then the rejects 4 at a time.
XARGS_LOOP = """\
rg=$1; shift
for server in "$@"; do
    az network private-endpoint-connection list --type Microsoft.DBforPostgreSQL/flexibleServers \\
        -g "$rg" -n "$server" \\
        --query "[?properties.privateLinkServiceConnectionState.status=='Pending'].id" -o tsv
done | xargs -P 4 -n 1 az network private-endpoint-connection reject --id > /dev/null
"""


def log(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


# --- running processes ---------------------------------------------------------------------


@dataclass
class Run:
    argv: list[str]
    exit_code: int
    seconds: float
    started: float  # wall clock (time.time()) at start, to line up with the request log
    stdout: str
    stderr: list[tuple[float, str]] = field(default_factory=list)  # (seconds since start, line)
    # CPU seconds (user + system) of the whole process tree: the children this script reaped
    # during the run, and what they reaped (az processes azpe or the shell waited for).
    cpu_s: float = 0.0
    # The top process's own CPU seconds (excluding its children), sampled from /proc while it
    # ran (``sample_cpu``; the last sample, up to SAMPLE_SECONDS before its exit), else None.
    own_cpu_s: float | None = None
    # The samples behind own_cpu_s: (seconds since start, own CPU seconds then).
    own_cpu_series: list[tuple[float, float]] = field(default_factory=list)


SAMPLE_SECONDS = 0.2


def proc_cpu(pid: int) -> tuple[float, float] | None:
    """(own, reaped children's) CPU seconds of a live process, from /proc/PID/stat."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    tick = os.sysconf("SC_CLK_TCK")
    utime, stime, cutime, cstime = (int(x) for x in fields[11:15])
    return (utime + stime) / tick, (cutime + cstime) / tick


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run(
    argv: list[str], env: dict[str, str], timeout: float, stdin: str = "", sample_cpu: bool = False
) -> Run:
    """Run argv (no TTY anywhere, in its own session), timed from fork to exit. On a timeout
    or an interrupt its whole process group is killed. (The timeout is ours, not sh's
    ``_timeout``: sh polls that one every 0.1 s and joins the poller, which adds ~0.1 s.)"""
    lines: list[tuple[float, str]] = []
    cpu_before = children_cpu()
    started = time.time()
    t0 = time.perf_counter()

    def on_err(line: str) -> None:
        lines.append((time.perf_counter() - t0, line.rstrip("\n")))

    proc = sh.Command(argv[0])(
        *argv[1:],
        _env=env,
        _in=stdin,
        _err=on_err,
        _bg=True,
        _bg_exc=False,
        _new_session=True,
        _tty_out=False,
        _ok_code=list(range(256)),
        _decode_errors="replace",
    )
    timed_out = threading.Event()

    def kill_on_timeout() -> None:
        timed_out.set()
        _kill_group(proc.pid)

    timer = threading.Timer(timeout, kill_on_timeout)
    timer.start()
    own: list[float] = []
    series: list[tuple[float, float]] = []
    finished = threading.Event()

    def sample() -> None:
        while not finished.wait(SAMPLE_SECONDS):
            got = proc_cpu(proc.pid)
            if got is not None:
                own[:] = [got[0]]
                series.append((round(time.perf_counter() - t0, 3), got[0]))

    sampler = threading.Thread(target=sample, daemon=True) if sample_cpu else None
    if sampler is not None:
        sampler.start()
    try:
        proc.wait()
    except BaseException as exc:
        _kill_group(proc.pid)
        if timed_out.is_set():
            raise TimeoutError(f"{shlex.join(argv[:6])} ... ran over {timeout:.0f} s; killed") from exc
        raise
    finally:
        timer.cancel()
        finished.set()
    seconds = time.perf_counter() - t0
    if sampler is not None:
        sampler.join()
    stdout = proc.stdout.decode("utf-8", "replace")
    return Run(
        argv,
        int(proc.exit_code or 0),
        seconds,
        started,
        stdout,
        lines,
        cpu_s=round(children_cpu() - cpu_before, 2),
        own_cpu_s=round(own[0], 2) if own else None,
        own_cpu_series=series,
    )


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


# --- the sandbox ---------------------------------------------------------------------------


class Sandbox:
    """``azpe sandbox start`` in a temporary directory; admin calls; ``stop`` at the end."""

    def __init__(self, azpe: str, az: str, op_seconds: float, seed: dict[str, Any]) -> None:
        self.azpe, self.az, self.op_seconds = azpe, az, op_seconds
        self.dir = Path(tempfile.mkdtemp(prefix="azpe-bench-"))
        seed_file = self.dir / "seed.json"
        seed_file.write_text(json.dumps(seed), encoding="utf-8")
        self.info: dict[str, Any] | None = None
        self._sandbox = sh.Command(azpe).bake("sandbox", _tty_out=False, _in="", _err_to_out=True)
        self.state_dir = str(self.dir / "sb")
        try:
            self._start(seed_file)
        except BaseException:
            self.stop()
            raise

    def _start(self, seed_file: Path) -> None:
        sandbox, state_dir = self._sandbox, self.state_dir
        out = sandbox(
            "start",
            "--dir",
            state_dir,
            "--seed",
            str(seed_file),
            "--op-seconds",
            str(self.op_seconds),
            "--az",
            self.az,
            _timeout=120,
        )
        self.info = control.read_info(Path(state_dir))
        if self.info is None:
            raise RuntimeError(f"azpe sandbox start did not leave a running emulator:\n{out}")
        exports = str(sandbox("env", "--dir", state_dir, _timeout=30))
        self.exports = dict(
            shlex.split(line.removeprefix("export "))[0].split("=", 1)
            for line in exports.splitlines()
            if line.startswith("export ")
        )

    def env(self) -> dict[str, str]:
        """A child environment: the sandbox's az settings, the real az first on PATH."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AZURE_", "AZPE_"))}
        env.update(self.exports)
        env["AZURE_CORE_NO_COLOR"] = "true"
        env["AZPE_AZ"] = self.az
        env["PATH"] = os.pathsep.join([str(Path(self.az).parent), env.get("PATH", "/usr/bin:/bin")])
        return env

    def admin(self, method: str, name: str, data: Any = None) -> Any:
        assert self.info is not None
        return control.admin(self.info, method, name, data)

    def reseed(self, scenario: dict[str, Any]) -> None:
        self.admin("POST", "seed", scenario)
        self.admin("DELETE", "faults")
        self.admin("DELETE", "requests")

    def set_timing(self, op_seconds: float, model: str) -> None:
        """Operation length and timing model of the writes started from now on."""
        got = self.admin("POST", "timing", {"opSeconds": op_seconds, "timing": model})
        if got != {"opSeconds": op_seconds, "timing": model}:
            raise RuntimeError(f"the emulator did not take the timing: {got}")

    def servers(self) -> list[dict[str, Any]]:
        return [
            srv
            for sub in self.admin("GET", "state")["subscriptions"]
            for rg in sub["resourceGroups"]
            for srv in rg["servers"]
        ]

    def wait_idle(self, timeout: float) -> float:
        """Wait until no server has an operation running and every one is Ready; the seconds
        it took (0 when they already were)."""
        t0 = time.monotonic()
        while True:
            pending = [s["name"] for s in self.servers() if s["busy"] or s["state"] != "Ready"]
            if not pending:
                return round(time.monotonic() - t0, 2)
            if time.monotonic() - t0 > timeout:
                raise RuntimeError(f"servers still busy after {timeout:.0f} s: {', '.join(pending)}")
            time.sleep(0.1)

    def cpu(self) -> float | None:
        """The emulator's own CPU seconds so far."""
        assert self.info is not None
        got = proc_cpu(int(self.info["pid"]))
        return None if got is None else got[0]

    def statuses(self) -> dict[str, str]:
        """Connection ID (lower case) -> status."""
        result = {}
        for sub in self.admin("GET", "state")["subscriptions"]:
            for rg in sub["resourceGroups"]:
                for srv in rg["servers"]:
                    for conn in srv["connections"]:
                        cid = connection_id(rg["name"], srv["name"], conn["name"], sub["id"])
                        result[cid.lower()] = conn["status"]
        return result

    def stop(self) -> None:
        if self.info is None:  # a start that failed half-way may still have left one
            self.info = control.read_info(Path(self.state_dir))
        if self.info is not None:
            try:
                self._sandbox("stop", "--dir", self.state_dir, _timeout=30)
            except Exception as exc:  # make sure it goes, whatever the CLI said
                log(f"azpe sandbox stop failed ({exc}); terminating pid {self.info['pid']}")
            control.terminate(int(self.info["pid"]))
            self.info = None
        shutil.rmtree(self.dir, ignore_errors=True)


def connection_id(rg: str, server: str, name: str, sub: str = SUB) -> str:
    return (
        f"/subscriptions/{sub}/resourceGroups/{rg}/providers/{PG_TYPE}/{server}"
        f"/privateEndpointConnections/{name}"
    )


def single_scenario() -> tuple[dict[str, Any], str]:
    conn = scenarios.connection(SINGLE_ENDPOINT)
    srv = scenarios.server(SINGLE_SERVER, [conn], public_network_access="Enabled")
    return scenarios.scenario([srv], resource_group=SINGLE_RG), conn["name"]


def bulk_scenario() -> tuple[dict[str, Any], list[str]]:
    servers, ids = [], []
    for i, name in enumerate(BULK_SERVERS, 1):
        conns = [scenarios.connection(f"pe-bulk-{i}-{j}") for j in range(1, PER_SERVER + 1)]
        # Public access Enabled: the lock-out guard has nothing to protect here.
        servers.append(scenarios.server(name, conns, public_network_access="Enabled"))
        ids += [connection_id(BULK_RG, name, c["name"]) for c in conns]
    return scenarios.scenario(servers, resource_group=BULK_RG), ids


# --- reading what happened -----------------------------------------------------------------

_SRV = re.compile(r"/flexibleServers/(?P<server>[^/]+)$", re.I)
_PEC = re.compile(r"/flexibleServers/(?P<server>[^/]+)/privateEndpointConnections/[^/]+$", re.I)


def classify_request(entry: dict[str, Any]) -> str:
    path, method, query = entry["path"].rstrip("/"), entry["method"], entry.get("query", "")
    if method == "GET" and path.lower().endswith("/flexibleservers"):
        return "server list (postgres flexible-server list)"
    if method == "GET" and _SRV.search(path):
        # The network family reads the whole server for `private-endpoint-connection list`.
        if "2023-06-01" in query:
            return "server GET by network list (connection list)"
        return "server GET (postgres flexible-server show)"
    if _PEC.search(path):
        return f"connection {method}"
    if "operation" in path.lower():
        return "operation status GET"
    return f"other {method}"


def request_summary(entries: list[dict[str, Any]]) -> dict[str, Any]:
    kinds = Counter(classify_request(e) for e in entries)
    puts = [e for e in entries if classify_request(e) == "connection PUT"]
    per_server: dict[str, Counter[str]] = {}
    for e in entries:
        m = _SRV.search(e["path"].rstrip("/")) or _PEC.search(e["path"])
        if m:
            per_server.setdefault(m["server"], Counter())[classify_request(e)] += 1
    return {
        "total": len(entries),
        "by_kind": dict(sorted(kinds.items())),
        "put_status": dict(Counter(str(e["status"]) for e in puts)),
        "per_server": {s: dict(sorted(c.items())) for s, c in sorted(per_server.items())},
    }


def az_processes(r: Run) -> list[list[str]]:
    """The az argvs azpe logged with -v (``azpe: az: <argv>``)."""
    argvs = []
    for _, line in r.stderr:
        if line.startswith(AZ_LINE):
            text = line[len(AZ_LINE) :]
            try:
                argvs.append(shlex.split(text))
            except ValueError:
                argvs.append(text.split())
    return argvs


def az_command(argv: list[str]) -> str:
    """``az network private-endpoint-connection reject ...`` -> that group and verb."""
    words = []
    for word in argv[1:]:
        if word.startswith("-"):
            break
        words.append(word)
    return "az " + " ".join(words)


def not_rejected(statuses: dict[str, str], ids: list[str]) -> list[str]:
    return [i for i in ids if statuses.get(i.lower()) != "Rejected"]


def request_times(entries: list[dict[str, Any]], started: float) -> list[tuple[float, dict[str, Any]]]:
    return [(dt.datetime.fromisoformat(e["time"]).timestamp() - started, e) for e in entries]


def write_timeline(entries: list[dict[str, Any]], r: Run) -> dict[str, Any]:
    """Where azpe's wall time goes: before the first write, the writes, after the last request."""
    timed = request_times(entries, r.started)
    puts = [t for t, e in timed if classify_request(e) == "connection PUT"]
    last = max((t for t, _ in timed), default=0.0)
    per_server: dict[str, list[float]] = {}
    for t, e in timed:
        if classify_request(e) == "connection PUT" and (m := _PEC.search(e["path"])):
            per_server.setdefault(m["server"], []).append(round(t, 2))
    return {
        "first_request_s": round(min((t for t, _ in timed), default=0.0), 2),
        "first_put_s": round(min(puts, default=0.0), 2),
        "last_put_s": round(max(puts, default=0.0), 2),
        "last_request_s": round(last, 2),
        "after_last_request_s": round(r.seconds - last, 2),
        "put_times_per_server_s": per_server,
    }


# --- the steps -----------------------------------------------------------------------------


def step_single(sb: Sandbox, azpe: str, az: str, reps: int) -> dict[str, Any]:
    scenario, name = single_scenario()
    cid = connection_id(SINGLE_RG, SINGLE_SERVER, name)
    commands = {
        "azpe": [azpe, "reject", "-g", SINGLE_RG, "-s", SINGLE_SERVER, "-n", name, "--yes", "-v"],
        "az": [
            az,
            *("network", "private-endpoint-connection", "reject"),
            *("--resource-group", SINGLE_RG, "--resource-name", SINGLE_SERVER),
            *("--type", PG_TYPE, "--name", name),
        ],
    }
    runs: dict[str, list[dict[str, Any]]] = {"azpe": [], "az": []}
    for rep in range(reps):
        order = ("azpe", "az") if rep % 2 == 0 else ("az", "azpe")  # interleaved, ABBA
        for who in order:
            sb.reseed(scenario)
            r = run(commands[who], sb.env(), timeout=300)
            status = sb.statuses().get(cid.lower())
            entries = sb.admin("GET", "requests")
            record: dict[str, Any] = {
                "seconds": round(r.seconds, 3),
                "exit_code": r.exit_code,
                "final_status": status,
                "requests": request_summary(entries),
            }
            record["timeline"] = write_timeline(entries, r)
            if who == "azpe":
                record["az_processes"] = [az_command(a) for a in az_processes(r)]
            runs[who].append(record)
            log(f"one reject, rep {rep + 1}/{reps}: {who} {r.seconds:.2f} s, exit {r.exit_code}, {status}")
            if r.exit_code != 0 or status != "Rejected":
                log("  stderr: " + " | ".join(line for _, line in r.stderr[-5:]))
    med = {who: statistics.median(x["seconds"] for x in runs[who]) for who in runs}
    first_put = {who: statistics.median(x["timeline"]["first_put_s"] for x in runs[who]) for who in runs}
    return {
        "commands": {k: [Path(v[0]).name, *v[1:]] for k, v in commands.items()},
        "runs": runs,
        "median_s": {k: round(v, 3) for k, v in med.items()},
        "ratio": round(med["azpe"] / med["az"], 3),
        "median_first_put_s": {k: round(v, 3) for k, v in first_put.items()},
        "all_rejected": all(x["final_status"] == "Rejected" for rs in runs.values() for x in rs),
    }


def bulk_commands(azpe: str, shell: str) -> dict[str, list[str]]:
    return {
        "azpe": [azpe, "reject", "-g", BULK_RG, "--status", "Pending", "--yes", "-o", "jsonl", "-v"],
        "serial": [shell, "-c", SERIAL_LOOP, "bench-serial", BULK_RG, *BULK_SERVERS],
        "xargs": [shell, "-c", XARGS_LOOP, "bench-xargs", BULK_RG, *BULK_SERVERS],
    }


def step_bulk(sb: Sandbox, azpe: str, shell: str) -> dict[str, Any]:
    scenario, ids = bulk_scenario()
    approaches = bulk_commands(azpe, shell)
    results: dict[str, Any] = {}
    for who, argv in approaches.items():
        sb.wait_idle(timeout=120)  # the previous contender's last operations have ended
        sb.reseed(scenario)
        r = run(argv, sb.env(), timeout=900)
        left = not_rejected(sb.statuses(), ids)
        entries = sb.admin("GET", "requests")
        busy = sum("ServerIsBusy" in line or "ServerBusy" in line for _, line in r.stderr)
        res: dict[str, Any] = {
            "seconds": round(r.seconds, 3),
            "exit_code": r.exit_code,
            "targets": len(ids),
            "not_rejected": len(left),
            "not_rejected_ids": left,
            "busy_errors_on_stderr": busy,
            "requests": request_summary(entries),
        }
        if who == "azpe":
            results_out = [json.loads(line) for line in r.stdout.splitlines() if line.strip()]
            res["actions"] = dict(Counter(x.get("action") for x in results_out))
            res["attempts"] = sum(int(x.get("attempts") or 0) for x in results_out)
            res["az_argvs"] = [[Path(a[0]).name, *a[1:]] for a in az_processes(r)]
            res["az_processes"] = dict(Counter(az_command(a) for a in az_processes(r)))
            res["timeline"] = write_timeline(entries, r)
            res["summary_line"] = next(
                (line for _, line in reversed(r.stderr) if line.startswith("azpe: reject:")), None
            )
        results[who] = res
        log(
            f"bulk {who}: {r.seconds:.1f} s, exit {r.exit_code}, "
            f"{len(left)}/{len(ids)} not Rejected, {busy} busy errors"
        )
        if who == "azpe" and (r.exit_code != 0 or left):
            log("  stderr: " + " | ".join(line for _, line in r.stderr[-8:]))
    results["scripts"] = {"serial": SERIAL_LOOP, "xargs": XARGS_LOOP, "shell": shell}
    return results


def is_write(e: dict[str, Any]) -> bool:
    return e["method"] in ("PUT", "DELETE") and bool(_PEC.search(e["path"]))


def _short_kind(e: dict[str, Any]) -> str:
    kind = classify_request(e)
    return {
        "server GET (postgres flexible-server show)": "show",
        "server GET by network list (connection list)": "list",
        "server list (postgres flexible-server list)": "server list",
        "connection GET": "conn GET",
        "connection PUT": "PUT",
        "connection DELETE": "DELETE",
    }.get(kind, kind)


def operations_timeline(entries: list[dict[str, Any]], r: Run, op_seconds: float) -> dict[str, Any]:
    """Per server, the operations the accepted writes started (each lasts ``op_seconds`` from
    its PUT) and what happened between one operation's end and the next accepted PUT: the
    gap, and every request on that server in it (seconds after the operation's end)."""
    timed = sorted(request_times(entries, r.started), key=lambda x: x[0])
    per_server: dict[str, list[tuple[float, dict[str, Any]]]] = {}
    for t, e in timed:
        m = _SRV.search(e["path"].rstrip("/")) or _PEC.search(e["path"])
        if m:
            per_server.setdefault(m["server"].lower(), []).append((t, e))
    servers: dict[str, Any] = {}
    gaps: list[float] = []
    first_after: list[float] = []
    ends: list[float] = []
    for server, reqs in sorted(per_server.items()):
        accepted = [t for t, e in reqs if is_write(e) and 200 <= int(e["status"]) < 300]
        refused = [round(t, 2) for t, e in reqs if int(e["status"]) == 409]
        between = []
        for prev, nxt in itertools.pairwise(accepted):
            end = prev + op_seconds
            seen = [(round(t - end, 2), _short_kind(e), int(e["status"])) for t, e in reqs if end <= t <= nxt]
            gap = round(nxt - end, 2)
            gaps.append(gap)
            if seen:
                first_after.append(seen[0][0])
            between.append({"gap_s": gap, "requests_after_end": seen})
        ends += [t + op_seconds for t in accepted]
        servers[server] = {
            "accepted_writes_s": [round(t, 2) for t in accepted],
            "refused_409_s": refused,
            "lead_s": round(accepted[0], 2) if accepted else None,
            "last_operation_end_s": round(accepted[-1] + op_seconds, 2) if accepted else None,
            "between_operations": between,
        }
    work_done = max(ends, default=0.0)
    return {
        "operations_ended_s": round(work_done, 2),
        "exit_after_last_operation_end_s": round(r.seconds - work_done, 2),
        "gap_s": {
            "median": round(statistics.median(gaps), 2) if gaps else None,
            "max": round(max(gaps), 2) if gaps else None,
            "sum": round(sum(gaps), 2),
        },
        "first_request_after_end_s": {
            "median": round(statistics.median(first_after), 2) if first_after else None,
            "max": round(max(first_after), 2) if first_after else None,
        },
        "per_server": servers,
    }


def step_long(
    sb: Sandbox, azpe: str, shell: str, model: str, op_seconds: float, contenders: list[str]
) -> dict[str, Any]:
    """The bulk reject at real timing under one timing model, for each contender."""
    scenario, ids = bulk_scenario()
    commands = bulk_commands(azpe, shell)
    bound = PER_SERVER * op_seconds
    settle = op_seconds + 120
    timeout = max(900.0, len(ids) * (op_seconds + 20) + 120)
    sb.set_timing(op_seconds, model)
    results: dict[str, Any] = {}
    for who in contenders:
        before = sb.wait_idle(timeout=settle)
        if before >= 0.1:
            log(f"  waited {before:.1f} s for the servers to be Ready")
        sb.reseed(scenario)
        pending = sum(1 for i in ids if sb.statuses().get(i.lower()) == "Pending")
        if pending != len(ids):
            raise RuntimeError(f"reseed left {pending}/{len(ids)} Pending")
        em_cpu = sb.cpu()
        r = run(commands[who], sb.env(), timeout=timeout, sample_cpu=(who == "azpe"))
        at_exit = len(ids) - len(not_rejected(sb.statuses(), ids))
        leftover = sb.wait_idle(timeout=settle)  # its last operations end
        left = not_rejected(sb.statuses(), ids)
        em_cpu_after = sb.cpu()
        entries = sb.admin("GET", "requests")
        summary = request_summary(entries)
        res: dict[str, Any] = {
            "seconds": round(r.seconds, 3),
            "exit_code": r.exit_code,
            "targets": len(ids),
            "rejected": len(ids) - len(left),
            "rejected_at_exit": at_exit,
            "not_rejected_ids": left,
            "operations_left_running_at_exit_s": leftover,
            "ratio_to_bound": round(r.seconds / bound, 3),
            # The machine may be shared: the 1-minute load average when it ended.
            "loadavg_1m_at_end": round(os.getloadavg()[0], 2),
            "http_409": sum(1 for e in entries if int(e["status"]) == 409),
            "writes_accepted": sum(1 for e in entries if is_write(e) and 200 <= int(e["status"]) < 300),
            "requests": summary,
            "timeline": operations_timeline(entries, r, op_seconds),
            "cpu_s": {
                "process_tree": r.cpu_s,
                "top_process_own": r.own_cpu_s,
                "emulator": None
                if em_cpu is None or em_cpu_after is None
                else round(em_cpu_after - em_cpu, 2),
            },
        }
        if who == "azpe":
            out = [json.loads(line) for line in r.stdout.splitlines() if line.strip()]
            res["actions"] = dict(Counter(x.get("action") for x in out))
            res["attempts"] = sum(int(x.get("attempts") or 0) for x in out)
            res["waited_s"] = [x.get("waitedSeconds") for x in out]
            argvs = az_processes(r)
            res["az_process_count"] = len(argvs)
            res["az_processes"] = dict(Counter(az_command(a) for a in argvs))
            res["summary_line"] = next(
                (line for _, line in reversed(r.stderr) if line.startswith("azpe: reject:")), None
            )
            # The evidence behind the timeline: azpe's -v log and the requests, in seconds
            # since azpe started.
            res["stderr"] = [[round(t, 2), line] for t, line in r.stderr]
            res["request_log"] = [
                [round(t, 2), e["method"], _short_kind(e), e["path"].rsplit("/", 1)[-1], int(e["status"])]
                for t, e in sorted(request_times(entries, r.started), key=lambda x: x[0])
            ]
        results[who] = res
        tl = res["timeline"]
        log(
            f"{model} {who}: {r.seconds:.1f} s ({res['ratio_to_bound']:.3f}x bound), exit {r.exit_code}, "
            f"{res['rejected']}/{len(ids)} Rejected ({at_exit} at exit), {res['http_409']} x 409, "
            f"gaps median {tl['gap_s']['median']} max {tl['gap_s']['max']} s, "
            f"operations ended at {tl['operations_ended_s']:.1f} s, cpu {r.cpu_s} s"
            + (f", {res['az_process_count']} az processes" if who == "azpe" else "")
        )
        if who == "azpe" and (r.exit_code != 0 or left):
            log("  stderr: " + " | ".join(line for _, line in r.stderr[-8:]))
    sb.wait_idle(timeout=settle)
    return {"timing": model, "op_seconds": op_seconds, "bound_s": bound, "contenders": results}


def step_processes(bulk: dict[str, Any]) -> dict[str, Any]:
    """Judge azpe's az processes and requests for the bulk reject against the target."""
    a = bulk["azpe"]
    procs: dict[str, int] = a["az_processes"]
    kinds: dict[str, int] = a["requests"]["by_kind"]
    n_servers, n_targets = len(BULK_SERVERS), a["targets"]
    server_reads = procs.get("az postgres flexible-server list", 0) + procs.get(
        "az postgres flexible-server show", 0
    )
    list_calls = procs.get("az network private-endpoint-connection list", 0)
    writes = procs.get("az network private-endpoint-connection reject", 0)
    verify = procs.get("az network private-endpoint-connection show", 0)
    other = sum(procs.values()) - server_reads - list_calls - writes - verify
    puts = kinds.get("connection PUT", 0)
    accepted = int(a["requests"]["put_status"].get("202", 0))
    # az reject itself GETs the connection before its PUT and polls it once after its 10 s
    # sleep (the operation takes --op-seconds < 10 s); any other connection GET is a re-read.
    extra_gets = kinds.get("connection GET", 0) - puts - accepted
    per_server_reads = {
        s: c.get("server GET (postgres flexible-server show)", 0)
        + kinds.get("server list (postgres flexible-server list)", 0)
        for s, c in a["requests"]["per_server"].items()
    }
    ideal = (1 if procs.get("az postgres flexible-server list") else n_servers) + n_targets
    checks = {
        "server reads: one per server (one RG list, or one show each)": (
            server_reads <= n_servers and all(v == 1 for v in per_server_reads.values())
        ),
        "connection lists: at most one per server": list_calls <= n_servers,
        "writes: one per target": writes == n_targets and puts == n_targets,
        "no verification reads (show / extra connection GETs)": verify == 0 and extra_gets <= 0,
    }
    return {
        "az_processes_total": sum(procs.values()),
        "az_processes_ideal": ideal,
        "server_read_processes": server_reads,
        "connection_list_processes": list_calls,
        "write_processes": writes,
        "verification_read_processes": verify,
        "other_processes": other,
        "requests": a["requests"],
        "server_reads_per_server": per_server_reads,
        "connection_gets_beyond_az_reject": extra_gets,
        "checks": checks,
        "met": all(checks.values()),
    }


def step_startup(azpe: str, reps: int) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AZPE_")}
    out: dict[str, Any] = {}
    for label, argv in {
        "azpe --version": [azpe, "--version"],
        "azpe --help": [azpe, "--help"],
        "/bin/true (harness overhead)": ["/bin/true"],
    }.items():
        times = []
        for _ in range(reps):
            r = run(argv, env, timeout=60)
            if r.exit_code != 0:
                raise RuntimeError(f"{argv} exited {r.exit_code}")
            times.append(r.seconds)
        out[label] = {"median_s": round(statistics.median(times), 4), "runs_s": [round(t, 4) for t in times]}
        log(f"startup {label}: median {statistics.median(times):.3f} s")
    return out


# --- report --------------------------------------------------------------------------------


def verdict(ok: bool) -> str:
    return "met" if ok else "**MISSED**"


def source_note(m: dict[str, Any]) -> str:
    src = m.get("azpe_source") or {}
    if not src.get("commit"):
        return ""
    dirty = len(src.get("uncommitted_files") or [])
    return f" (commit {src['commit'][:10]}" + (f" + {dirty} uncommitted file(s)" if dirty else "") + ")"


def report(res: dict[str, Any]) -> str:
    m, one, bulk, proc = res["machine"], res["single"], res["bulk"], res["processes"]
    v, t = res["verdicts"], TARGETS
    rows: list[tuple[str, str, str, str]] = [
        (
            f"one reject: azpe (median of {len(one['runs']['azpe'])})",
            f"{one['median_s']['azpe']:.2f} s",
            "",
            "",
        ),
        (
            f"one reject: bare az (median of {len(one['runs']['az'])})",
            f"{one['median_s']['az']:.2f} s",
            "",
            "",
        ),
        (
            "one reject: azpe / bare az",
            f"{one['ratio']:.3f}x",
            f"<= {t['reject_ratio_max']}x",
            verdict(v["one_reject_ratio"]),
        ),
        (
            "one reject: its PUT sent after (azpe / bare az), median",
            f"{one['median_first_put_s']['azpe']:.2f} s / {one['median_first_put_s']['az']:.2f} s",
            "",
            "",
        ),
    ]
    labels = {
        "azpe": "azpe reject -g RG --status Pending",
        "serial": "serial bash loop",
        "xargs": "xargs -P 4",
    }
    for who, label in labels.items():
        b = bulk[who]
        value = (
            f"{b['seconds']:.1f} s ({b['not_rejected']}/{b['targets']} not Rejected, exit {b['exit_code']})"
        )
        rows.append((f"bulk, 12 on 3 servers: {label}", value, "", ""))
    left = "/".join(str(bulk[w]["not_rejected"]) for w in labels)
    tl = bulk["azpe"]["timeline"]
    xargs_note = "xargs left some" if v["xargs_left_some"] else "xargs left none"
    rows += [
        (
            "bulk: azpe speedup vs serial loop",
            f"{bulk['speedup_vs_serial']:.2f}x",
            f">= {t['bulk_speedup_min']}x",
            verdict(v["bulk_speedup"]),
        ),
        (
            f"bulk: bound = {PER_SERVER} x median bare az reject (busiest server's writes)",
            f"{bulk['bound_s']:.1f} s",
            "",
            "",
        ),
        (
            "bulk: azpe / bound",
            f"{bulk['azpe_vs_bound']:.3f}x",
            f"<= {t['bulk_bound_ratio_max']}x",
            verdict(v["bulk_bound"]),
        ),
        (
            "bulk: not Rejected afterwards, azpe/serial/xargs",
            left,
            "azpe 0",
            f"{verdict(v['bulk_all_rejected'])}; {xargs_note}",
        ),
        (
            "bulk azpe: az processes (total / ideal)",
            f"{proc['az_processes_total']} / {proc['az_processes_ideal']}",
            "",
            verdict(v["az_processes"]),
        ),
        (
            "bulk azpe: server reads / connection lists / writes / verification reads",
            " / ".join(
                str(proc[k])
                for k in (
                    "server_read_processes",
                    "connection_list_processes",
                    "write_processes",
                    "verification_read_processes",
                )
            ),
            "<=3 (1 RG list or 1 show each) / <=3 / 12 / 0",
            "",
        ),
        (
            "bulk azpe: first PUT after / last PUT after / exit after last request",
            f"{tl['first_put_s']:.2f} s / {tl['last_put_s']:.2f} s / {tl['after_last_request_s']:.2f} s",
            "",
            "",
        ),
        (
            "bulk azpe: requests sent",
            ", ".join(f"{k}: {n}" for k, n in proc["requests"]["by_kind"].items()),
            "",
            "",
        ),
    ]
    for label, s in res["startup"].items():
        ours = label.startswith("azpe")
        rows.append(
            (
                f"startup: {label} (median of {len(s['runs_s'])})",
                f"{s['median_s']:.3f} s",
                f"< {t['startup_seconds_max']} s" if ours else "",
                verdict(s["median_s"] < t["startup_seconds_max"]) if ours else "",
            )
        )
    head = [
        f"## azpe benchmark, {m['date']}",
        "",
        f"{m['cores']} cores, Python {m['python']}, azure-cli {m['az_version']}, "
        f"azpe {m['azpe_version']}{source_note(m)}, "
        f"{m['platform']}, load average {m['loadavg_at_start'][0]} (start) {m['loadavg_at_end'][0]} (end). "
        f"The real az against the local emulator (`azpe sandbox`, op-seconds "
        f"{res['op_seconds']}: each connection write keeps its server busy that long; az reject itself "
        "sleeps 10 s before its first poll), in a loopback-only network namespace.",
        "",
        "| measure | value | target | verdict |",
        "|---|---|---|---|",
    ]
    return "\n".join(head + [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows]) + "\n"


LABELS = {
    "azpe": "`azpe reject -g RG --status Pending --yes`",
    "serial": "serial bash loop (docs)",
    "xargs": "`xargs -P 4`",
}


def long_verdicts(long: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for model, part in long["models"].items():
        a = part["contenders"].get("azpe")
        if a is None:
            continue
        out[model] = {
            "azpe_all_rejected": a["rejected"] == LONG_TARGETS["azpe_rejected"],
            "azpe_within_bound": a["ratio_to_bound"] <= LONG_TARGETS["bound_ratio_max"],
        }
    return out


def report_long(long: dict[str, Any]) -> str:
    m, t = long["machine"], LONG_TARGETS
    op = long["op_seconds"]
    bound = PER_SERVER * op
    head = [
        f"## azpe benchmark at real timing, {m['date']}",
        "",
        f"{m['cores']} cores, Python {m['python']}, azure-cli {m['az_version']}, "
        f"azpe {m['azpe_version']}{source_note(m)}, "
        f"load average {m['loadavg_at_start'][0]} (start) {m['loadavg_at_end'][0]} (end). "
        f"12 Pending on 3 servers (4 each); each connection write is a server operation of {op:g} s "
        "(the server reads Updating and answers other writes 409 meanwhile). Bound: the busiest "
        f"server's operations back to back, {PER_SERVER} x {op:g} s = {bound:g} s. Targets for azpe: "
        f"{t['azpe_rejected']}/12 Rejected and <= {t['bound_ratio_max']}x the bound, under both models.",
        "",
        "| timing | contender | wall | Rejected | exit | / bound | 409s | az processes "
        "| last operation ended | CPU (process tree) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    rows = []
    for model, part in long["models"].items():
        for who, res in part["contenders"].items():
            procs = str(res.get("az_process_count", "")) if who == "azpe" else ""
            verdicts = long["verdicts"].get(model, {})
            rej = f"{res['rejected']}/{res['targets']}"
            ratio = f"{res['ratio_to_bound']:.3f}x"
            if who == "azpe":
                rej += "" if verdicts.get("azpe_all_rejected") else " **MISSED**"
                ratio += "" if verdicts.get("azpe_within_bound") else " **MISSED**"
            rows.append(
                f"| {model} | {LABELS[who]} | {res['seconds']:.1f} s | {rej} | {res['exit_code']} | {ratio} "
                f"| {res['http_409']} | {procs} | {res['timeline']['operations_ended_s']:.1f} s "
                f"| {res['cpu_s']['process_tree']:.1f} s |"
            )
    notes = [""]
    for model, part in long["models"].items():
        a = part["contenders"].get("azpe")
        if a is None:
            continue
        tl = a["timeline"]
        busiest = max(
            (s for s in tl["per_server"].values() if s["last_operation_end_s"] is not None),
            key=lambda s: s["last_operation_end_s"],
            default=None,
        )
        lead = busiest["lead_s"] if busiest else None
        gaps = [g["gap_s"] for g in busiest["between_operations"]] if busiest else []
        gap_list = ", ".join(f"{g:.1f}" for g in gaps)
        first_after = tl["first_request_after_end_s"]["median"]
        notes.append(
            f"- {model}, azpe: first accepted PUT at {lead} s; on its last server to finish the gaps "
            f"between one operation's end and the next accepted PUT were {gap_list} s "
            f"(all servers: median {tl['gap_s']['median']} s, max {tl['gap_s']['max']} s; the first "
            f"request after an operation's end came after a median {first_after} s); "
            f"it exited {tl['exit_after_last_operation_end_s']:+.1f} s after the last operation ended; "
            f"CPU {a['cpu_s']['process_tree']:.1f} s in all (azpe itself ~{a['cpu_s']['top_process_own']} s, "
            f"emulator {a['cpu_s']['emulator']} s); az processes: "
            + ", ".join(f"{k.removeprefix('az ')} {n}" for k, n in a["az_processes"].items())
            + "."
        )
    return "\n".join(head + rows + notes) + "\n"


# --- the fleet case (issue 9) ----------------------------------------------------------------

FLEET_RG = "rg-fleet"
FLEET_SERVERS, FLEET_PENDING = 24, 2
FLEET_BARE_REPS = 5  # bare rejects alone (the least CPU of them is the bound's); 3 pairs more
FLEET_SUBSCRIPTIONS = (
    SUB,
    "00000000-0000-0000-0000-0000000f1ee1",
    "00000000-0000-0000-0000-0000000f1ee2",
    "00000000-0000-0000-0000-0000000f1ee3",
)
FLEET_TARGETS = {"bound_ratio_max": 1.3}


def fleet_scenario(spread: int) -> tuple[dict[str, Any], list[str]]:
    """24 servers with 2 Pending connections each, round-robin over the first ``spread`` of
    FLEET_SUBSCRIPTIONS; all four subscriptions exist in every seed (the login knows them)."""
    subs: list[dict[str, Any]] = [
        {"id": s, "displayName": f"bench-fleet-{i}", "resourceGroups": [{"name": FLEET_RG, "servers": []}]}
        for i, s in enumerate(FLEET_SUBSCRIPTIONS)
    ]
    ids = []
    for i in range(FLEET_SERVERS):
        sub = subs[i % spread]
        name = f"pg-fleet-{i:02d}"
        conns = [scenarios.connection(f"pe-fleet-{i:02d}-{j}") for j in range(FLEET_PENDING)]
        sub["resourceGroups"][0]["servers"].append(
            scenarios.server(name, conns, public_network_access="Enabled")
        )
        ids += [connection_id(FLEET_RG, name, c["name"], sub["id"]) for c in conns]
    return {"subscriptions": subs}, ids


def fleet_bare_reject(sb: Sandbox, az: str, reps: int) -> dict[str, Any]:
    """Bare ``az ... reject --id`` of one Pending connection, ``reps`` times (different servers
    of the fleet): its median wall seconds and its least CPU seconds, for the bound. The
    least, because this VM's CPU cost of one az varies by up to 2x from minute to minute (1.0
    to 2.3 CPU-s seen in one hour), and noise only ever adds."""
    scenario, ids = fleet_scenario(1)
    sb.wait_idle(timeout=300)
    sb.reseed(scenario)
    walls, cpus, before, tails = [], [], [], []
    firsts = ids[0::2]  # the first connection of servers 0, 1, 2, ...
    for target in firsts[:reps]:
        r = run(
            [az, "network", "private-endpoint-connection", "reject", "--id", target], sb.env(),
            timeout=300, sample_cpu=True,
        )  # fmt: skip
        if r.exit_code != 0:
            raise RuntimeError(f"bare az reject failed: {r.stderr[-3:]}")
        walls.append(r.seconds)
        cpus.append(r.cpu_s)
        sleep_at, cpu_then = sleep_start(r.own_cpu_series)
        before.append(round(cpu_then, 2))
        tails.append(round(r.seconds - sleep_at, 2))
    return {"median_s": round(statistics.median(walls), 3), "cpu_s": round(min(cpus), 3),
            "runs_s": [round(w, 2) for w in walls], "cpu_runs_s": cpus,
            "cpu_before_sleep_s": round(min(before), 3), "cpu_before_sleep_runs_s": before,
            "after_sleep_start_s": round(statistics.median(tails), 3),
            "pair_cpu_s": pair_cpu(sb, az, firsts[reps : reps + 6])}  # fmt: skip


def pair_cpu(sb: Sandbox, az: str, targets: list[str]) -> float:
    """The least CPU seconds of an az reject while a second one runs beside it (two started
    at once, on two other servers): what a reject costs when the cores are shared."""
    each = []
    for a, b in zip(targets[0::2], targets[1::2], strict=True):
        before = children_cpu()
        procs = [
            subprocess.Popen(
                [az, "network", "private-endpoint-connection", "reject", "--id", target], env=sb.env(),
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )
            for target in (a, b)
        ]  # fmt: skip
        if any(p.wait(timeout=300) != 0 for p in procs):
            raise RuntimeError("a bare az reject of the pair failed")
        each.append((children_cpu() - before) / 2)
    return round(min(each), 3)


def sleep_start(series: list[tuple[float, float]]) -> tuple[float, float]:
    """When an az process began its longest idle spell (its fixed sleep after the PUT), and
    the CPU seconds it had used by then: the start of the longest run of samples over which
    its CPU time did not grow by more than one clock tick a sample."""
    tick = 1 / os.sysconf("SC_CLK_TCK")
    best = (0.0, 0.0, 0.0)  # (length, start time, cpu at start)
    start = 0
    for i in range(1, len(series) + 1):
        if i == len(series) or series[i][1] - series[i - 1][1] > tick:
            length = series[i - 1][0] - series[start][0]
            if length > best[0]:
                best = (length, series[start][0], series[start][1])
            start = i
    if best[0] <= 0:
        raise RuntimeError("no idle spell in the az process's CPU samples")
    return best[1], best[2]


def fleet_run(sb: Sandbox, azpe: str, spread: int, label: str, extra: list[str]) -> dict[str, Any]:
    scenario, ids = fleet_scenario(spread)
    sb.wait_idle(timeout=300)
    sb.reseed(scenario)
    scope = ["--all-subscriptions"] if spread > 1 else []
    argv = [
        azpe,
        "reject",
        "-g",
        FLEET_RG,
        *scope,
        "--status",
        "Pending",
        "--yes",
        "-o",
        "jsonl",
        "-v",
        *extra,
    ]
    r = run(argv, sb.env(), timeout=1800)
    left = not_rejected(sb.statuses(), ids)
    entries = sb.admin("GET", "requests")
    results = [json.loads(line) for line in r.stdout.splitlines() if line.strip()]
    procs = az_processes(r)
    writes = sorted(t for t, e in request_times(entries, r.started) if is_write(e))
    log(f"fleet {label}: {r.seconds:.1f} s, exit {r.exit_code}, {len(left)}/{len(ids)} not Rejected")
    if r.exit_code != 0 or left:
        log("  stderr: " + " | ".join(line for _, line in r.stderr[-8:]))
    return {
        "argv": [Path(argv[0]).name, *argv[1:]],
        "seconds": round(r.seconds, 3),
        "exit_code": r.exit_code,
        "targets": len(ids),
        "not_rejected": len(left),
        "actions": dict(Counter(x.get("action") for x in results)),
        "az_processes": len(procs),
        "az_by_command": dict(Counter(az_command(a) for a in procs)),
        "cpu_s": r.cpu_s,
        "first_write_s": round(writes[0], 2) if writes else None,
        "last_write_s": round(writes[-1], 2) if writes else None,
        "busy_409s": sum(1 for e in entries if is_write(e) and e.get("status") == 409),
        "timeline": write_timeline(entries, r),  # every server's PUT times: where the time went
    }


def step_fleet(azpe: str, az: str, op_seconds: float, long_op_seconds: float, reps: int) -> dict[str, Any]:
    """24 servers x 2 Pending, at the defaults: in one subscription, spread over four, and the
    four at real timing (long operations). Bound: the busiest server's two writes, or the CPU
    the 48 writes' az processes need on this machine's cores, whichever is larger."""
    cores = os.cpu_count() or 1
    sb = Sandbox(azpe, az, op_seconds, fleet_scenario(4)[0])
    try:
        sb.set_timing(op_seconds, "at-end")
        bare = fleet_bare_reject(sb, az, max(reps, FLEET_BARE_REPS))
        writes = FLEET_SERVERS * FLEET_PENDING
        bound = max(FLEET_PENDING * bare["median_s"], writes * bare["cpu_s"] / cores)
        # No schedule of these az processes beats this: every write's CPU before its sleep
        # on the cores, then the last one's sleep and the rest of it.
        floor = max(
            FLEET_PENDING * bare["median_s"],
            writes * bare["cpu_before_sleep_s"] / cores + bare["after_sleep_start_s"],
        )
        out: dict[str, Any] = {
            "servers": FLEET_SERVERS, "pending_per_server": FLEET_PENDING, "cores": cores,
            "op_seconds": op_seconds, "bare_reject": bare, "bound_s": round(bound, 3),
            "floor_s": round(floor, 3), "floor_to_bound": round(floor / bound, 3),
            "floor_definition": (
                f"max(the busiest server's writes, {writes} x a bare reject's CPU seconds before its "
                f"sleep / {cores} cores + the rest of a bare reject from its sleep on): no schedule "
                "of these az processes on these cores ends sooner"
            ),
            "bound_definition": (
                f"max({FLEET_PENDING} x the median bare az reject = busiest server's writes, "
                f"{writes} x its least CPU seconds / {cores} cores = the CPU the writes need)"
            ),
            "runs": {},
        }  # fmt: skip
        for label, spread in (("one subscription", 1), ("four subscriptions", 4)):
            res = fleet_run(sb, azpe, spread, label, [])
            res["ratio_to_bound"] = round(res["seconds"] / bound, 3)
            res["ratio_to_floor"] = round(res["seconds"] / floor, 3)
            out["runs"][label] = res
        sb.wait_idle(timeout=300)
        sb.set_timing(long_op_seconds, "at-end")
        long_bound = FLEET_PENDING * long_op_seconds
        res = fleet_run(sb, azpe, 4, f"four subscriptions, {long_op_seconds:g}-s operations", [])
        res["bound_s"] = long_bound
        res["ratio_to_bound"] = round(res["seconds"] / long_bound, 3)
        back_to_back = (
            f"the busiest server's operations back to back: {FLEET_PENDING} x {long_op_seconds:g} s"
        )
        out["long"] = {"op_seconds": long_op_seconds, "bound_definition": back_to_back, **res}
        sb.wait_idle(timeout=600)
    finally:
        sb.stop()
    out["targets"] = FLEET_TARGETS
    out["verdicts"] = {
        label: r["not_rejected"] == 0 and r["ratio_to_bound"] <= FLEET_TARGETS["bound_ratio_max"]
        for label, r in [*out["runs"].items(), ("long", out["long"])]
    }
    out["table"] = report_fleet(out)
    return out


def report_fleet(f: dict[str, Any]) -> str:
    rows = [
        "| fleet: 24 servers x 2 Pending, defaults | wall | Rejected | / bound | az processes | CPU "
        "| first / last write |",
        "|---|---|---|---|---|---|---|",
    ]
    for label, r in [
        *f["runs"].items(),
        (f"four subscriptions, {f['long']['op_seconds']:g}-s operations", f["long"]),
    ]:
        bound = r.get("bound_s", f["bound_s"])
        rows.append(
            f"| {label} (bound {bound:.1f} s) | {r['seconds']:.1f} s | {r['targets'] - r['not_rejected']}/"
            f"{r['targets']} | **{r['ratio_to_bound']:.2f}x** | {r['az_processes']} | {r['cpu_s']:.1f} s | "
            f"{r['first_write_s']} / {r['last_write_s']} s |"
        )
    b = f["bare_reject"]
    rows.append("")
    rows.append(
        f"Bound: {f['bound_definition']}; bare az reject {b['median_s']:.2f} s wall, {b['cpu_s']:.2f} s CPU "
        f"(wall: median, CPU: least of {len(b['runs_s'])}); {f['cores']} cores."
    )
    rows.append(
        f"Floor: {f['floor_definition']}; CPU before the sleep {b['cpu_before_sleep_s']:.2f} s, from the "
        f"sleep on {b['after_sleep_start_s']:.2f} s: {f['floor_s']:.1f} s = {f['floor_to_bound']:.2f}x the "
        "bound; azpe / floor: "
        + ", ".join(f"{label} {r['ratio_to_floor']:.2f}x" for label, r in f["runs"].items())
        + "."
    )
    shared = b["pair_cpu_s"] / b["cpu_s"]
    at_pair_cost = f["servers"] * f["pending_per_server"] * b["pair_cpu_s"] / f["cores"]
    rows.append(
        f"Two bare rejects at once cost {b['pair_cpu_s']:.2f} CPU-s each ({shared:.2f}x one alone): at that "
        f"cost the writes' CPU alone is {at_pair_cost:.1f} s."
    )
    return "\n".join(rows)


def snapshot_azpe(dest: Path) -> dict[str, Any]:
    """Copy azpe's source (the working tree, which others may be editing) to ``dest`` and put
    it first on PYTHONPATH, so that every azpe process and the emulator of this run use the
    same code however long the run takes. Returns what was copied: the commit, the files
    that differ from it, and a hash of the copied sources."""
    src = ROOT / "azpe"
    shutil.copytree(src, dest / "azpe", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    digest = hashlib.sha256()
    for path in sorted((dest / "azpe").rglob("*")):
        if path.is_file():
            digest.update(str(path.relative_to(dest)).encode() + b"\0" + path.read_bytes())
    old = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = str(dest) + (os.pathsep + old if old else "")

    def git(*argv: str) -> str:
        try:
            out = subprocess.run(["git", "-C", str(ROOT), *argv], capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            return ""
        return out.stdout.rstrip("\n") if out.returncode == 0 else ""  # porcelain starts with spaces

    dirty = [line[3:] for line in git("status", "--porcelain", "--", "azpe").splitlines()]
    return {
        "commit": git("rev-parse", "HEAD").strip() or None,
        "commit_subject": git("log", "-1", "--format=%s")[:200] or None,
        "uncommitted_files": dirty,
        "sha256": digest.hexdigest(),
        "snapshot": "copied at the start of the run; every azpe process of the run used it",
    }


def machine_info(azpe: str, az: str, sb: Sandbox) -> dict[str, Any]:
    version_env = {k: v for k, v in os.environ.items() if not k.startswith(("AZURE_", "AZPE_"))}
    az_version = json.loads(run([az, "version", "-o", "json"], sb.env(), timeout=60).stdout)
    return {
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "az_version": az_version.get("azure-cli"),
        "azpe_version": run([azpe, "--version"], version_env, timeout=60).stdout.split()[-1],
        "sh_version": sh.__version__,
        "network": "loopback-only namespace",
        "loadavg_at_start": [round(x, 2) for x in os.getloadavg()],
    }


# --- main ----------------------------------------------------------------------------------


def loopback_only() -> bool:
    try:
        return [n for _, n in socket.if_nameindex()] == ["lo"]
    except OSError:
        return False


def _terminate(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def _names(allowed: tuple[str, ...]) -> Any:
    def parse(text: str) -> list[str]:
        names = [n.strip() for n in text.split(",") if n.strip()]
        bad = [n for n in names if n not in allowed]
        if bad or not names:
            raise argparse.ArgumentTypeError(f"use a comma-separated list of {', '.join(allowed)}")
        return names

    return parse


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "bench-results.json", help="JSON results file")
    parser.add_argument(
        "--only", choices=("short", "long", "fleet"), help="run one part (default: all three)"
    )
    parser.add_argument(
        "--op-seconds", type=float, default=1.0, help="short case: emulator write duration (s)"
    )
    parser.add_argument("--reps", type=int, default=3, help="short case: one-reject repetitions of each")
    parser.add_argument("--startup-reps", type=int, default=10)
    parser.add_argument(
        "--long-op-seconds", type=float, default=30.0, help="real-timing case: server operation length (s)"
    )
    parser.add_argument(
        "--models",
        type=_names(MODELS),
        default=list(MODELS),
        help="real-timing case: timing models, comma-separated (default: at-end,at-once)",
    )
    parser.add_argument(
        "--contenders",
        type=_names(CONTENDERS),
        default=list(CONTENDERS),
        help="real-timing case: contenders, comma-separated (default: azpe,serial,xargs)",
    )
    parser.add_argument("--azpe", default=str(ROOT / ".venv" / "bin" / "azpe"))
    parser.add_argument("--az", default=os.environ.get("AZPE_TEST_AZ", str(ROOT / ".venv-az" / "bin" / "az")))
    args = parser.parse_args()
    if not loopback_only():
        if os.environ.get("AZPE_BENCH_IN_NETNS") == "1":
            log("not in a loopback-only network namespace; refusing to run az")
            return 1
        os.environ["AZPE_BENCH_IN_NETNS"] = "1"
        netns = str(ROOT / "scripts" / "netns-run.sh")
        os.execv("/bin/sh", ["sh", netns, sys.executable, *sys.argv])
    signal.signal(signal.SIGTERM, _terminate)
    azpe, az = str(Path(args.azpe).resolve()), str(Path(args.az).resolve())
    shell = shutil.which("bash") or "/bin/sh"
    parts = [args.only] if args.only else ["short", "long", "fleet"]
    results: dict[str, Any] = {}
    if args.only and args.out.exists():  # keep the other part's figures
        with contextlib.suppress(ValueError):
            results = json.loads(args.out.read_text(encoding="utf-8"))
    started = time.monotonic()
    snapshot_dir = Path(tempfile.mkdtemp(prefix="azpe-bench-src-"))
    try:
        source = snapshot_azpe(snapshot_dir)
        log(
            f"azpe source: commit {str(source['commit'])[:10]}, "
            f"{len(source['uncommitted_files'])} uncommitted file(s), sha256 {source['sha256'][:12]}"
        )
        return _run_parts(args, parts, results, azpe, az, shell, started, source)
    finally:
        shutil.rmtree(snapshot_dir, ignore_errors=True)


def _run_parts(
    args: argparse.Namespace,
    parts: list[str],
    results: dict[str, Any],
    azpe: str,
    az: str,
    shell: str,
    started: float,
    source: dict[str, Any],
) -> int:
    sb = Sandbox(azpe, az, args.op_seconds, single_scenario()[0])
    long: dict[str, Any] | None = None
    try:
        machine = machine_info(azpe, az, sb)
        machine["azpe_source"] = source
        if "short" in parts:
            sb.set_timing(args.op_seconds, "at-end")
            log(f"sandbox in {sb.dir}, op-seconds {args.op_seconds}; step 1: one reject")
            single = step_single(sb, azpe, az, args.reps)
            log("step 2: bulk (12 Pending on 3 servers)")
            bulk = step_bulk(sb, azpe, shell)
            machine["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]
        if "long" in parts:
            long = {"machine": dict(machine), "op_seconds": args.long_op_seconds, "models": {}}
            long["machine"]["date"] = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
            long["machine"]["loadavg_at_start"] = [round(x, 2) for x in os.getloadavg()]
            long_started = time.monotonic()
            for model in args.models:
                log(
                    f"real timing: 12 Pending on 3 servers, operations of {args.long_op_seconds:g} s, {model}"
                )
                long["models"][model] = step_long(
                    sb, azpe, shell, model, args.long_op_seconds, args.contenders
                )
            long["seconds"] = round(time.monotonic() - long_started, 1)
            long["machine"]["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    finally:
        sb.stop()
    fleet = None
    if "fleet" in parts:
        log(
            f"fleet: {FLEET_SERVERS} servers x {FLEET_PENDING} Pending "
            "(one subscription, four, long operations)"
        )
        fleet = step_fleet(azpe, az, args.op_seconds, args.long_op_seconds, args.reps)
        fleet["machine"] = dict(machine)
        results["fleet"] = fleet
    if "short" in parts:
        log("step 4: startup")
        startup = step_startup(azpe, args.startup_reps)
        bound = PER_SERVER * single["median_s"]["az"]
        bulk["bound_s"] = round(bound, 3)
        bulk["bound_definition"] = (
            f"{PER_SERVER} x the median single bare az reject of step 1: the sum of the busiest "
            "server's own writes, which cannot overlap (per-server busy lock)"
        )
        bulk["speedup_vs_serial"] = round(bulk["serial"]["seconds"] / bulk["azpe"]["seconds"], 3)
        bulk["azpe_vs_bound"] = round(bulk["azpe"]["seconds"] / bound, 3)
        short: dict[str, Any] = {
            "machine": machine,
            "op_seconds": args.op_seconds,
            "targets": TARGETS,
            "single": single,
            "bulk": bulk,
            "processes": step_processes(bulk),
            "startup": startup,
        }
        p = short["processes"]
        short["verdicts"] = {
            "one_reject_ratio": single["ratio"] <= TARGETS["reject_ratio_max"] and single["all_rejected"],
            "bulk_speedup": bulk["speedup_vs_serial"] >= TARGETS["bulk_speedup_min"],
            "bulk_bound": bulk["azpe_vs_bound"] <= TARGETS["bulk_bound_ratio_max"],
            "bulk_all_rejected": bulk["azpe"]["not_rejected"] == 0,
            "xargs_left_some": bulk["xargs"]["not_rejected"] > 0,
            "az_processes": p["met"],
            "startup": all(
                v["median_s"] < TARGETS["startup_seconds_max"]
                for k, v in startup.items()
                if k.startswith("azpe")
            ),
        }
        short["table"] = report(short)
        results.update(short)
    if long is not None:
        long["targets"] = LONG_TARGETS
        long["bound_s"] = PER_SERVER * args.long_op_seconds
        long["bound_definition"] = (
            f"the busiest server's operations back to back: {PER_SERVER} x {args.long_op_seconds:g} s "
            "(writes on one server cannot overlap)"
        )
        long["verdicts"] = long_verdicts(long)
        long["table"] = report_long(long)
        results["long"] = long
    results["total_seconds"] = round(time.monotonic() - started, 1)
    results["parts_run"] = parts
    tables = [results["table"]] if "short" in parts else []
    if long is not None:
        tables.append(long["table"])
    if fleet is not None:
        tables.append(fleet["table"])
    args.out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print("\n".join(tables))
    log(f"results written to {args.out} ({results['total_seconds']} s in all)")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        log("interrupted; the sandbox is stopped and nothing is left running")
        sys.exit(130)
