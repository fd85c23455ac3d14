"""Process CPU counters for the benchmarks (``bench.py``, ``bench_mailing.py``): what a
process spent, read from its own counters in /proc — not from wall time, which on a
shared machine also measures the neighbours."""

from __future__ import annotations

import os
from pathlib import Path

CLOCK_TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """utime + stime of every thread of ``pid`` so far, in seconds (/proc/<pid>/stat)."""
    with open(f"/proc/{pid}/stat", "rb") as f:
        stat = f.read()
    fields = stat[stat.rindex(b")") + 2:].split()  # after "pid (comm) "; fields[0] is the state (field 3)
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICK  # fields 14 and 15: utime, stime


def find_broker() -> int | None:
    """The RabbitMQ node: the oldest ``beam.smp`` booting ``rabbit`` (rabbitmqctl runs its own, short-lived beam)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if (entry / "comm").read_text().strip() != "beam.smp":
                continue
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
            stat = (entry / "stat").read_bytes()
        except OSError:
            continue
        if b"rabbit" in cmdline and b"boot" in cmdline:
            started = int(stat[stat.rindex(b")") + 2:].split()[19])  # field 22: start time
            found.append((started, int(entry.name)))
    return min(found)[1] if found else None
