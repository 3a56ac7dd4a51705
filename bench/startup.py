"""Start-up: ``import ommi`` + connect to in-memory SQLite + a first query, in a fresh process.

Measured side by side with the baseline an async program without ommi
starts with: ``import asyncio, sqlite3``, connect, and the same statements
(create the table, read it back) run directly with ``sqlite3``. Each probe
is a fresh interpreter; probes of the two kinds and a bare ``python -c pass``
are interleaved, and medians reported. Every probe times its own parts
(``import asyncio``, the rest of the imports, connect, the first query,
closing) and reports its peak RSS; the parent times the whole process,
interpreter start and exit included.

Before timing, each probe runs once with bytecode writing allowed, so the
modules are loaded from their ``.pyc`` files as in an installed package
(``PYTHONDONTWRITEBYTECODE`` would otherwise make every run compile ommi
from source).
"""

from __future__ import annotations

import itertools
import json
import os
import statistics
import subprocess
import sys
import time
from typing import Any

_PEAK = """
def _peak():
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0
"""

OMMI = (
    """
import time
_t = [time.perf_counter()]
import asyncio
_t.append(time.perf_counter())
from dataclasses import dataclass
import ommi
_t.append(time.perf_counter())

@ommi.ommi_model
@dataclass
class Person:
    name: str
    id: int | None = None

async def main():
    _t.append(time.perf_counter())
    db = await ommi.Ommi.connect("sqlite://")
    _t.append(time.perf_counter())
    await db.schema().create_models().or_raise()
    rows = await db.find(Person).all().or_raise()
    assert rows == []
    _t.append(time.perf_counter())
    await db.close()

asyncio.run(main())
_t.append(time.perf_counter())
"""
    + _PEAK
    + """
import json
print(json.dumps({"t": _t, "peak_mb": _peak()}))
"""
)

BASELINE = (
    """
import time
_t = [time.perf_counter()]
import asyncio
_t.append(time.perf_counter())
import sqlite3
_t.append(time.perf_counter())

async def main():
    _t.append(time.perf_counter())
    conn = sqlite3.connect(":memory:")
    _t.append(time.perf_counter())
    conn.execute("CREATE TABLE person (name TEXT NOT NULL, id INTEGER PRIMARY KEY)")
    rows = conn.execute("SELECT name, id FROM person").fetchall()
    assert rows == []
    _t.append(time.perf_counter())
    conn.close()

asyncio.run(main())
_t.append(time.perf_counter())
"""
    + _PEAK
    + """
import json
print(json.dumps({"t": _t, "peak_mb": _peak()}))
"""
)

BARE = _PEAK + """
import json
print(json.dumps({"t": [], "peak_mb": _peak()}))
"""

# The marks each probe appends, in order: start, asyncio imported, everything imported,
# loop running, connected, first query answered, finished (closed, loop shut down).
PARTS = ("import asyncio", "other imports", "event loop", "connect", "first query", "close")

TARGET_RATIO = 1.5
TARGET_MB = 60.0

# Fresh processes of each kind in a full run. A probe takes about a tenth of a second, and
# with 5 of each one slow ``import asyncio`` (13 ms apart between the sides in one run) moved
# the ratio by half a point; 15 costs about 5 seconds.
PROBES = 15


def _env(write_bytecode: bool) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "OMMI_DATABASE_URL"}
    if write_bytecode:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def _run(code: str, *, write_bytecode: bool = False) -> dict[str, Any]:
    start = time.perf_counter()
    done = subprocess.run(  # noqa: S603 - our own probe script, run by this interpreter
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=_env(write_bytecode)
    )
    wall = time.perf_counter() - start
    data: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    marks = data.pop("t")
    data["wall_s"] = wall
    if marks:
        data["parts_s"] = [b - a for a, b in itertools.pairwise(marks)]
        data["total_s"] = marks[-1] - marks[0]
    return data


def _summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "wall_s": statistics.median(r["wall_s"] for r in runs),
        "peak_mb": statistics.median(r["peak_mb"] for r in runs),
    }
    if "total_s" in runs[0]:
        out["total_s"] = statistics.median(r["total_s"] for r in runs)
        out["parts_s"] = [statistics.median(r["parts_s"][i] for r in runs) for i in range(len(PARTS))]
    return out


def measure(repeat: int = PROBES) -> dict[str, Any]:
    """Medians over ``repeat`` fresh processes of each kind (ommi, the baseline and a bare interpreter, interleaved)."""
    probes = {"ommi": OMMI, "baseline": BASELINE, "bare": BARE}
    for code in probes.values():  # untimed: leaves .pyc files behind, as an installed package has
        _run(code, write_bytecode=True)
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in probes}
    names = list(probes)
    for rep in range(repeat):
        shift = rep % len(names)
        for name in names[shift:] + names[:shift]:
            runs[name].append(_run(probes[name]))
    result = {name: _summary(r) for name, r in runs.items()}
    result["repeat"] = repeat
    return result


def main() -> None:
    """``python -m bench.startup [REPEAT]``: print the medians as JSON."""
    repeat = int(sys.argv[1]) if len(sys.argv) > 1 else PROBES
    print(json.dumps(measure(repeat), indent=2))


if __name__ == "__main__":
    main()
