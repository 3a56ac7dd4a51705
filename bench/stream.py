"""Workload J in a fresh process: stream every row of a pre-filled table, report time and memory.

``python -m bench.stream BACKEND CONTENDER URL`` prints one JSON object. The
peak is the process's high-water RSS (``VmHWM``), reset just before streaming
where Linux allows it, so it covers the interpreter and libraries too; the
growth is that peak minus the RSS just before streaming.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import sys
import time

from bench.contenders import load


def _status(field: str) -> float:
    """A ``/proc/self/status`` memory field in MB (0 where unavailable)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _reset_peak() -> None:
    # Linux >= 4.0: writing 5 resets the high-water mark to the current RSS.
    with contextlib.suppress(OSError), open("/proc/self/clear_refs", "w", encoding="ascii") as fh:
        fh.write("5")


async def measure(backend: str, contender: str, url: str) -> dict[str, float]:
    instance = load(contender)(backend, url)
    await instance.connect()
    try:
        gc.collect()
        before = _status("VmRSS")
        _reset_peak()
        start = time.perf_counter()
        rows, ages = await instance.stream()  # type: ignore[attr-defined]
        seconds = time.perf_counter() - start
        peak = max(_status("VmHWM"), _status("VmRSS"))
    finally:
        await instance.teardown()
    return {
        "seconds": seconds,
        "rows": rows,
        "ages": ages,
        "rss_before_mb": before,
        "peak_mb": peak,
        "growth_mb": peak - before,
    }


def main(argv: list[str]) -> int:
    backend, contender, url = argv
    print(json.dumps(asyncio.run(measure(backend, contender, url))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
