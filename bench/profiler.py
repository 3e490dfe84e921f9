"""A CPU profiler for a server's worker processes (`python -m bench.http_load --profile`)."""

from __future__ import annotations

import cProfile
import os
import pstats
import signal
import threading
import time
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent.parent

PROFILE_ENV = "BENCH_PROFILE_DIR"
SITECUSTOMIZE = f"""import os
if os.environ.get("{PROFILE_ENV}"):
    from bench.profiler import ThreadProfiler
    ThreadProfiler(os.environ["{PROFILE_ENV}"]).install()
"""


class ThreadProfiler:
    """cProfile in every thread of a process, timed by each thread's own CPU clock (time.thread_time): time a
    thread spends blocked, or waiting for the GIL, counts nowhere, so the totals say where the process burns CPU.

    SIGUSR1 forgets what was profiled so far (the warm-up); SIGUSR2 writes `<directory>/profile-<pid>.pstats`: the main
    thread (the event loop, which handles the signals) and every thread that ended meanwhile (a request's sync code
    runs in a thread of its own under ASGI). Threads still running are left out: a profiler is only safe to read
    from its own thread.
    """

    def __init__(self, directory: str) -> None:
        self.directory = Path(directory)
        self._ended: list[cProfile.Profile] = []
        self._lock = threading.Lock()
        self._main = cProfile.Profile(time.thread_time)

    def install(self) -> None:
        original = threading.Thread.run

        def run(thread: threading.Thread) -> None:
            profile = cProfile.Profile(time.thread_time)
            profile.enable()
            try:
                original(thread)
            finally:
                profile.disable()
                with self._lock:
                    self._ended.append(profile)

        threading.Thread.run = run
        signal.signal(signal.SIGUSR1, self._forget)
        signal.signal(signal.SIGUSR2, self._write)
        self._main.enable()

    def _forget(self, signum: int, frame: object) -> None:
        self._main.clear()
        with self._lock:
            self._ended.clear()

    def _write(self, signum: int, frame: object) -> None:
        self._main.disable()
        with self._lock:
            stats = pstats.Stats(self._main)
            for profile in self._ended:
                stats.add(profile)
        path = self.directory / f"profile-{os.getpid()}.pstats"  # this process's pid: a forked worker's own
        partial = path.with_suffix(".partial")
        stats.dump_stats(partial)
        partial.rename(path)  # whole or not at all: the reader polls for it
        self._main.enable()


def merged_profile(directory: Path, top: int = 80) -> dict[str, Any]:
    """The profiles every process wrote into `directory`, merged: the functions with the most CPU time, inclusive
    (cumulative) and their own (total), as shares of all the CPU time profiled."""
    paths = sorted(directory.glob("profile-*.pstats"))
    if not paths:
        return {"cpu_seconds": 0.0, "inclusive_percent": [], "self_percent": []}
    stats = pstats.Stats(*map(str, paths))
    total = stats.total_tt

    def named(key: tuple[str, int, str]) -> str:
        filename, line, function = key
        return f"{_short_path(filename)}:{line}({function})" if line else function

    def ranked(index: int) -> list[tuple[str, float]]:
        rows = sorted(stats.stats.items(), key=lambda item: item[1][index], reverse=True)[:top]
        return [(named(key), round(100 * row[index] / total, 1)) for key, row in rows]

    return {"cpu_seconds": round(total, 2), "inclusive_percent": ranked(3), "self_percent": ranked(2)}


def _short_path(filename: str) -> str:
    for marker in ("site-packages/", "lib/python3.11/", str(PROJECT_ROOT) + "/"):
        if marker in filename:
            return filename.split(marker, 1)[1]
    return filename
