"""``python -m bench --profile --contenders ommi --workloads C``: where one contender spends its time.

cProfile in Python 3.11 sees only the thread it was enabled in, and ommi's
SQLite driver does its row work in a worker thread; so a profiler is enabled
in every thread that runs while a workload is timed, and their statistics are
merged. Prints the top functions by own time, with their share of the total.
"""

from __future__ import annotations

import asyncio
import cProfile
import pstats
import shutil
import sys
import tempfile
import threading
from collections.abc import Sequence
from typing import Any

from bench import workload as w
from bench.backends import Backend
from bench.contenders import load


class _AllThreads:
    """Enables a cProfile profiler in each thread that makes a call while active."""

    def __init__(self) -> None:
        self.active = False
        self.profilers: list[cProfile.Profile] = []
        self.started: set[int] = set()

    def hook(self, frame: Any, event: str, arg: Any) -> None:
        ident = threading.get_ident()
        if self.active and ident not in self.started:
            self.started.add(ident)
            profiler = cProfile.Profile()
            self.profilers.append(profiler)
            profiler.enable()  # replaces this hook in this thread


# Where a thread waits for another (the event loop for the worker's answer, the worker for work):
# time, but no work to optimise in itself; left out of the shares and reported apart.
IDLE = ("<method 'poll' of 'select.epoll' objects>", "<method 'get' of '_queue.SimpleQueue' objects>")


def _top(stats: pstats.Stats, limit: int = 25) -> None:
    entries = dict(stats.stats)  # type: ignore[attr-defined]
    idle = sum(v[2] for k, v in entries.items() if k[2] in IDLE)
    entries = {k: v for k, v in entries.items() if k[2] not in IDLE}
    total = sum(v[2] for v in entries.values()) or 1.0
    print(f"busy {total:.3f} s (shares below), waiting {idle:.3f} s (epoll / worker queue)")
    print(f"{'own %':>6} {'own s':>8} {'cum s':>8} {'calls':>9}  function")
    for (filename, line, func), (_cc, calls, own, cum, _callers) in sorted(
        entries.items(), key=lambda item: item[1][2], reverse=True
    )[:limit]:
        where = filename.split("site-packages/")[-1].split("/work/main/")[-1]
        print(f"{own / total:6.1%} {own:8.3f} {cum:8.3f} {calls:9d}  {func} ({where}:{line})")


async def _profile(backend: Backend, name: str, url: str, letters: Sequence[str], sizes: w.Sizes) -> None:
    tracker = _AllThreads()
    threading.setprofile(tracker.hook)
    rows = w.make_rows(sizes.rows)
    contender = load(name)(backend.name, url)
    await contender.setup()
    try:
        for letter in w.BY_LETTER:
            if letter == "J" or not hasattr(contender, w.BY_LETTER[letter].method):
                continue
            await contender.prepare(letter)
            args: tuple[Any, ...] = ()
            if letter in ("A", "B"):
                args = (rows,)
            elif letter == "D":
                args = (w.lookup_keys(await contender.keys(), sizes.lookups),)
            method = getattr(contender, w.BY_LETTER[letter].method)
            if letter not in letters:
                await method(*args)  # keeps the table in the state later workloads expect
                continue
            tracker.started = {threading.get_ident()}
            tracker.profilers = [cProfile.Profile()]
            tracker.active = True
            tracker.profilers[0].enable()
            await method(*args)
            tracker.profilers[0].disable()
            tracker.active = False
            merged = pstats.Stats(tracker.profilers[0])
            for other in tracker.profilers[1:]:
                merged.add(other)
            print(
                f"\n== {name} on {backend.name}, workload {letter}: {w.BY_LETTER[letter].title}"
                f" ({len(tracker.profilers)} thread(s))"
            )
            _top(merged)
            break
    finally:
        await contender.teardown()
        threading.setprofile(None)  # type: ignore[arg-type]


def profile(backend: Backend, name: str, letters: Sequence[str], sizes: w.Sizes) -> int:
    if "J" in letters:
        print(
            "J is measured in a subprocess; profile it with a small --stream-rows via `python -m cProfile`",
            file=sys.stderr,
        )
    workdir = tempfile.mkdtemp(prefix="ommi-bench-profile-")
    try:
        with backend.started(workdir) as run:
            # one fresh contender (and worker threads) per workload: a thread's profiler cannot be
            # stopped from another thread, so it must not outlive its workload
            for letter in letters:
                if letter != "J":
                    url = run.database(name)
                    asyncio.run(_profile(backend, name, url, [letter], sizes))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0
