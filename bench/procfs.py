"""What the benchmarks read from /proc: the processes of a server, their memory (RSS and PSS) and their CPU time."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable
from pathlib import Path


def children_of(pid: int) -> list[int]:
    """The live direct children of `pid`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, IndexError):
            stat = (entry / "stat").read_text()
            state, ppid = stat.rsplit(")", 1)[1].split()[:2]
            if int(ppid) == pid and state != "Z":
                found.append(int(entry.name))
    return sorted(found)


def pids_named(name: str) -> list[int]:
    """The live processes whose command name is `name` (e.g. every PostgreSQL backend)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if (entry / "comm").read_text().strip() == name:
                    found.append(int(entry.name))
    return found


def rss_bytes(pids: Iterable[int]) -> int:
    """The summed resident set size of `pids` (those that exited count 0)."""
    total = 0
    page = os.sysconf("SC_PAGE_SIZE")
    for pid in pids:
        with contextlib.suppress(OSError):
            total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * page
    return total


def pss_bytes(pids: Iterable[int]) -> int:
    """The summed proportional set size of `pids` (/proc/<pid>/smaps_rollup): each shared page counts once over
    every process that maps it, so the sum is what they hold together (RSS would count a shared page in each)."""
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1]) * 1024
                    break
    return total


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine spent busy so far (all cores, /proc/stat)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle, iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids: Iterable[int]) -> float:
    """The summed user + system CPU time of `pids` so far."""
    total = 0
    ticks = os.sysconf("SC_CLK_TCK")
    for pid in pids:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / ticks


def cpu_seconds_tree(pid: int) -> float:
    """CPU time of `pid`, of its children that exited (reaped: cutime, cstime) and of its live children: a server's
    whole cost, even when its workers or backends come and go."""
    ticks = os.sysconf("SC_CLK_TCK")
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    own = sum(int(fields[i]) for i in (11, 12, 13, 14)) / ticks  # utime, stime, cutime, cstime
    return own + cpu_seconds(children_of(pid))


def postmaster_pid() -> int | None:
    """The PostgreSQL server's parent process (the backends' parent), if it runs on this machine."""
    pids = set(pids_named("postgres"))
    for pid in pids:
        with contextlib.suppress(OSError, IndexError):
            ppid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
            if ppid not in pids:
                return pid
    return None
