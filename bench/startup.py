"""Item 4 of issue 7: ``import ommi`` plus connecting to in-memory SQLite, in a fresh process.

Reports the wall time of the whole process as the parent sees it (interpreter
start included), the time the child spends importing ommi and connecting, and
the child's peak RSS; a bare ``python -c pass`` gives the interpreter's share.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from typing import Any

PROBE = """
import time
start = time.perf_counter()
import asyncio
import ommi

async def main():
    async with ommi.Ommi.connect("sqlite://"):  # opens the database
        pass
asyncio.run(main())
took = time.perf_counter() - start
peak = 0.0
with open("/proc/self/status") as fh:
    for line in fh:
        if line.startswith("VmHWM:"):
            peak = int(line.split()[1]) / 1024
print(took, peak)
"""

BARE = """
peak = 0.0
with open("/proc/self/status") as fh:
    for line in fh:
        if line.startswith("VmHWM:"):
            peak = int(line.split()[1]) / 1024
print(0.0, peak)
"""

TARGET_SECONDS = 0.150
TARGET_MB = 60.0


def _run(code: str) -> tuple[float, float, float]:
    env = {k: v for k, v in os.environ.items() if k != "OMMI_DATABASE_URL"}
    start = time.perf_counter()
    # our own probe script, run by this interpreter
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)  # noqa: S603
    wall = time.perf_counter() - start
    inner, peak = (float(x) for x in done.stdout.split())
    return wall, inner, peak


def measure(repeat: int = 5) -> dict[str, Any]:
    """Medians over ``repeat`` fresh processes (probe and bare interpreter interleaved)."""
    probes, bares = [], []
    for _ in range(repeat):
        probes.append(_run(PROBE))
        bares.append(_run(BARE))
    return {
        "wall_s": statistics.median(p[0] for p in probes),
        "import_connect_s": statistics.median(p[1] for p in probes),
        "peak_mb": statistics.median(p[2] for p in probes),
        "bare_wall_s": statistics.median(b[0] for b in bares),
        "bare_peak_mb": statistics.median(b[2] for b in bares),
        "repeat": repeat,
    }
