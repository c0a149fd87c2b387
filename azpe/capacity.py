"""What this machine can carry of az, and how fast to start it.

An az process costs CPU mostly at its start (Python importing azure-cli): measured 0.55
CPU-seconds for ``az postgres flexible-server show`` and 1.1-1.3 for ``az network
private-endpoint-connection reject`` on this project's 2-core machine (azure-cli 2.91.0),
then it mostly waits (for ARM, or in the network family's 10-s sleep). Started all at once,
a fleet's az processes fight for the CPU - each then burns more of it - and all sleep
together; started at the pace the CPUs can take a write, one process's start overlaps the
others' waits. Pacing at 1.1 CPU-seconds a start, against 0.6 before, cut a fleet's
(24 servers x 2 Pending) wall time from 46.3 to 44.0 s and its CPU from 73 to 65 s
(``make bench``). Memory bounds how many may run at once (measured 60 MB resident; 100 MB
allowed each).
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass

AZ_START_CPU_SECONDS = 1.1
AZ_MEMORY_BYTES = 100 * 2**20
MAX_AZ_PROCESSES = 256  # beyond this, threads and file handles, not az, become the problem


@dataclass(frozen=True)
class Capacity:
    cpus: int
    max_processes: int  # az processes running at once

    @property
    def starts_per_second(self) -> float:
        """How many az starts the CPUs take per second (0 seconds each: no limit)."""
        return self.cpus / AZ_START_CPU_SECONDS if AZ_START_CPU_SECONDS > 0 else float("inf")

    @classmethod
    def of_this_machine(cls) -> Capacity:
        cpus = _cpus()
        memory = _available_memory()
        by_memory = MAX_AZ_PROCESSES if memory is None else max(cpus, memory // AZ_MEMORY_BYTES)
        return cls(cpus=cpus, max_processes=min(MAX_AZ_PROCESSES, by_memory))


def _cpus() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))  # the CPUs this process may use (Linux)
    except AttributeError:
        return max(1, os.cpu_count() or 1)


def _available_memory() -> int | None:
    """MemAvailable on Linux; None where it cannot be read (then only MAX_AZ_PROCESSES holds)."""
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


class StartPacer:
    """Spaces az starts ``1 / starts_per_second`` apart, letting ``cpus`` start at once after a
    quiet spell (a token bucket), and bounds the az processes running at once."""

    def __init__(self, capacity: Capacity) -> None:
        self.capacity = capacity
        self.running = threading.BoundedSemaphore(capacity.max_processes)
        self._lock = threading.Lock()
        self._next = 0.0  # monotonic time of the next free start slot

    def delay(self) -> float:
        """Reserve the next start slot; how long to wait for it."""
        rate = self.capacity.starts_per_second
        if rate == float("inf"):
            return 0.0
        interval = 1.0 / rate
        with self._lock:
            now = time.monotonic()
            earliest = now - (self.capacity.cpus - 1) * interval  # the burst after a quiet spell
            slot = max(self._next, earliest)
            self._next = slot + interval
            return max(0.0, slot - now)
