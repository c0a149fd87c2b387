#!/usr/bin/env python3
"""Benchmark azpe against the bare az, a serial bash loop and xargs -P 4 (issue 4's targets).

Everything runs the real az against the local emulator (``azpe sandbox``, started in a
temporary directory and stopped at the end), inside a network namespace that has only
loopback (the script re-executes itself under scripts/netns-run.sh when needed):

    make bench
    # = sh scripts/netns-run.sh .venv/bin/python scripts/bench.py [--out FILE] [--op-seconds S]

1. one reject: ``azpe reject -g -s -n --yes`` vs the bare ``az network
   private-endpoint-connection reject`` of the same (reseeded, Pending) connection;
2. bulk: 12 Pending connections on 3 servers (4 each): ``azpe reject -g RG --status Pending``
   vs a serial bash loop (az list, then az reject each) vs ``xargs -P 4`` over the same IDs;
3. the az processes azpe starts for (2) (from ``-v``) and the requests they send (from the
   emulator's request log);
4. startup: ``azpe --version`` and ``azpe --help``.

It prints a markdown table and writes every figure as JSON (default bench-results.json).
POSIX only: processes are driven with the ``sh`` package.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import re
import shlex
import shutil
import signal
import socket
import statistics
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


def run(argv: list[str], env: dict[str, str], timeout: float, stdin: str = "") -> Run:
    """Run argv (no TTY anywhere, in its own session), timed from fork to exit. On a timeout
    or an interrupt its whole process group is killed. (The timeout is ours, not sh's
    ``_timeout``: sh polls that one every 0.1 s and joins the poller, which adds ~0.1 s.)"""
    lines: list[tuple[float, str]] = []
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
    try:
        proc.wait()
    except BaseException as exc:
        _kill_group(proc.pid)
        if timed_out.is_set():
            raise TimeoutError(f"{shlex.join(argv[:6])} ... ran over {timeout:.0f} s; killed") from exc
        raise
    finally:
        timer.cancel()
    seconds = time.perf_counter() - t0
    stdout = proc.stdout.decode("utf-8", "replace")
    return Run(argv, int(proc.exit_code or 0), seconds, started, stdout, lines)


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


def step_bulk(sb: Sandbox, azpe: str, shell: str) -> dict[str, Any]:
    scenario, ids = bulk_scenario()
    approaches = {
        "azpe": [azpe, "reject", "-g", BULK_RG, "--status", "Pending", "--yes", "-o", "jsonl", "-v"],
        "serial": [shell, "-c", SERIAL_LOOP, "bench-serial", BULK_RG, *BULK_SERVERS],
        "xargs": [shell, "-c", XARGS_LOOP, "bench-xargs", BULK_RG, *BULK_SERVERS],
    }
    results: dict[str, Any] = {}
    for who, argv in approaches.items():
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
        f"{m['cores']} cores, Python {m['python']}, azure-cli {m['az_version']}, azpe {m['azpe_version']}, "
        f"{m['platform']}, load average {m['loadavg_at_start'][0]} (start) {m['loadavg_at_end'][0]} (end). "
        f"The real az against the local emulator (`azpe sandbox`, op-seconds "
        f"{res['op_seconds']}: each connection write keeps its server busy that long; az reject itself "
        "sleeps 10 s before its first poll), in a loopback-only network namespace.",
        "",
        "| measure | value | target | verdict |",
        "|---|---|---|---|",
    ]
    return "\n".join(head + [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows]) + "\n"


# --- main ----------------------------------------------------------------------------------


def loopback_only() -> bool:
    try:
        return [n for _, n in socket.if_nameindex()] == ["lo"]
    except OSError:
        return False


def _terminate(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "bench-results.json", help="JSON results file")
    parser.add_argument("--op-seconds", type=float, default=1.0, help="emulator write duration (s)")
    parser.add_argument("--reps", type=int, default=3, help="one-reject repetitions of each")
    parser.add_argument("--startup-reps", type=int, default=10)
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
    version_env = {k: v for k, v in os.environ.items() if not k.startswith(("AZURE_", "AZPE_"))}
    started = time.monotonic()
    sb = Sandbox(azpe, az, args.op_seconds, single_scenario()[0])
    try:
        az_version = json.loads(run([az, "version", "-o", "json"], sb.env(), timeout=60).stdout)
        machine = {
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
        log(f"sandbox in {sb.dir}, op-seconds {args.op_seconds}; step 1: one reject")
        single = step_single(sb, azpe, az, args.reps)
        log("step 2: bulk (12 Pending on 3 servers)")
        bulk = step_bulk(sb, azpe, shell)
    finally:
        sb.stop()
    log("step 4: startup")
    startup = step_startup(azpe, args.startup_reps)
    machine["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    bound = PER_SERVER * single["median_s"]["az"]
    bulk["bound_s"] = round(bound, 3)
    bulk["bound_definition"] = (
        f"{PER_SERVER} x the median single bare az reject of step 1: the sum of the busiest "
        "server's own writes, which cannot overlap (per-server busy lock)"
    )
    bulk["speedup_vs_serial"] = round(bulk["serial"]["seconds"] / bulk["azpe"]["seconds"], 3)
    bulk["azpe_vs_bound"] = round(bulk["azpe"]["seconds"] / bound, 3)
    results: dict[str, Any] = {
        "machine": machine,
        "op_seconds": args.op_seconds,
        "targets": TARGETS,
        "single": single,
        "bulk": bulk,
        "processes": step_processes(bulk),
        "startup": startup,
        "total_seconds": round(time.monotonic() - started, 1),
    }
    p = results["processes"]
    results["verdicts"] = {
        "one_reject_ratio": single["ratio"] <= TARGETS["reject_ratio_max"] and single["all_rejected"],
        "bulk_speedup": bulk["speedup_vs_serial"] >= TARGETS["bulk_speedup_min"],
        "bulk_bound": bulk["azpe_vs_bound"] <= TARGETS["bulk_bound_ratio_max"],
        "bulk_all_rejected": bulk["azpe"]["not_rejected"] == 0,
        "xargs_left_some": bulk["xargs"]["not_rejected"] > 0,
        "az_processes": p["met"],
        "startup": all(
            v["median_s"] < TARGETS["startup_seconds_max"] for k, v in startup.items() if k.startswith("azpe")
        ),
    }
    table = report(results)
    results["table"] = table
    args.out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(table)
    log(f"results written to {args.out} ({results['total_seconds']} s in all)")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        log("interrupted; the sandbox is stopped and nothing is left running")
        sys.exit(130)
