"""The benchmark runner: ``python -m bench [options]`` (see ``--help`` and docs/benchmarks.md).

Contenders are interleaved: within each repetition every workload runs for
every contender before the next workload starts, in an order rotated per
repetition, so machine noise falls on all of them alike. J runs in a fresh
process per contender and repetition so memory numbers do not mix.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import gc
import importlib.util
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench import workload as w
from bench.backends import BACKENDS, Backend
from bench.contenders import OPT_IN, REGISTRY, load
from bench.contenders.base import Contender

ROOT = Path(__file__).resolve().parent.parent
QUICK = w.Sizes(rows=500, lookups=50, stream=2_000)

# The libraries each contender imports: a contender whose library is missing is left out, with a note.
NEEDS = {
    "aiosqlite": ["aiosqlite"],
    "SQLAlchemy": ["sqlalchemy", "greenlet"],
    "Tortoise": ["tortoise"],
    "asyncpg": ["asyncpg"],
    "duckdb": ["duckdb"],
    "duckdb-thread": ["duckdb"],
    "pymongo": ["pymongo"],
    "pymongo-keys": ["pymongo"],
    "pymongo-keys-retryable": ["pymongo"],
}


@dataclasses.dataclass
class BackendResult:
    backend: str
    baseline: str
    contenders: list[str]
    times: dict[tuple[str, str], list[float]] = dataclasses.field(default_factory=lambda: defaultdict(list))
    memory: dict[str, list[dict[str, float]]] = dataclasses.field(default_factory=lambda: defaultdict(list))
    stream_rows: int = 0
    versions: dict[str, dict[str, str]] = dataclasses.field(default_factory=dict)
    skipped: dict[str, str] = dataclasses.field(default_factory=dict)

    def median(self, contender: str, letter: str) -> float | None:
        values = self.times.get((contender, letter))
        return statistics.median(values) if values else None

    def ratio(self, contender: str, letter: str) -> float | None:
        mine, base = self.median(contender, letter), self.median(self.baseline, letter)
        if mine is None or base is None or base <= 0:
            return None
        return mine / base

    def paired(self, contender: str, letter: str) -> tuple[float, float, float] | None:
        """The median, lowest and highest of the ratios of each run to the baseline's run beside it.

        The contenders take turns within a repetition, so the i-th time of each
        comes from the same minutes: a ratio per pair cancels the machine's slow
        drift, which the ratio of the medians (the table's figure) does not.
        ``None`` where the two did not run the same number of times.
        """
        mine, base = self.times.get((contender, letter)), self.times.get((self.baseline, letter))
        if not mine or not base or len(mine) != len(base) or min(base) <= 0:
            return None
        ratios = sorted(m / b for m, b in zip(mine, base, strict=True))
        return statistics.median(ratios), ratios[0], ratios[-1]

    def peak(self, contender: str) -> tuple[float, float] | None:
        runs = self.memory.get(contender)
        if not runs:
            return None
        return statistics.median(r["peak_mb"] for r in runs), statistics.median(r["growth_mb"] for r in runs)


class Mismatch(Exception):
    pass


class Checker:
    """Compares every contender's normalised result of each workload (and the expected counts)."""

    def __init__(self, sizes: w.Sizes, letters: Sequence[str]) -> None:
        self.sizes = sizes
        self.h_rounds = rounds("H", letters)
        self.seen: dict[tuple[str, str], tuple[str, Any]] = {}
        self.problems: list[str] = []

    def check(self, backend: str, contender: str, letter: str, value: Any) -> None:
        norm = w.NORMALISE.get(letter, lambda v: v)(value)
        want = w.expected(letter, self.sizes, self.h_rounds)
        got = len(norm) if isinstance(norm, list) else norm
        if want is not None and got != want:
            self.problems.append(f"{backend}/{contender} {letter}: expected {want}, got {got}")
        first = self.seen.setdefault((backend, letter), (contender, norm))
        if first[1] != norm:
            self.problems.append(f"{backend} {letter}: {contender} disagrees with {first[0]}")


def machine() -> str:
    """The machine a run ran on, as the report's header names it: system, CPU model and count,
    and whether it is a virtual machine (runs on different machines differ in absolute times)."""
    model, virtual = "", False
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                key, _, value = line.partition(":")
                key = key.strip()
                if key == "model name" and not model:
                    model = value.strip()
                elif key == "flags":
                    virtual = virtual or "hypervisor" in value.split()
    except OSError:  # not Linux: the system and the count say what there is to say
        pass
    parts = [f"{platform.system()} {platform.machine()}", f"{os.cpu_count()} CPUs"]
    if model:
        parts.append(model)
    if virtual:
        parts.append("a virtual machine")
    return ", ".join(parts)


def rounds(letter: str, letters: Sequence[str]) -> int:
    """How many times ``letter`` runs in a repetition: its rounds when timed, once (untimed) otherwise."""
    return w.ROUNDS.get(letter, 1) if letter in letters else 1


def available(name: str) -> str | None:
    """Why contender ``name`` cannot run here, or None."""
    missing = [m for m in NEEDS.get(name, []) if importlib.util.find_spec(m) is None]
    return f"not installed: {', '.join(missing)}" if missing else None


async def _timed(contender: Contender, letter: str, keys: list[int] | None, rows: list[Any]) -> tuple[float, Any]:
    method = getattr(contender, w.BY_LETTER[letter].method)
    args: tuple[Any, ...] = ()
    if letter in ("A", "B"):
        args = (rows,)
    elif letter == "D":
        args = (keys,)
    gc.collect()
    start = time.perf_counter()
    value = await method(*args)
    return time.perf_counter() - start, value


async def one_repetition(
    *,
    backend: Backend,
    urls: dict[str, str],
    classes: list[type[Contender]],
    letters: Sequence[str],
    sizes: w.Sizes,
    result: BackendResult,
    checker: Checker,
    log: Any,
) -> None:
    rows = w.make_rows(sizes.rows)
    instances = [cls(backend.name, urls[cls.name]) for cls in classes]
    try:
        for c in instances:
            await c.setup()
        for letter in w.BY_LETTER:
            # J runs in its own process; a workload left out still runs (untimed) when later
            # ones need the table it leaves (all but A, whose rows B starts by dropping)
            if letter == "J" or (letter == "A" and letter not in letters):
                continue
            for round_ in range(rounds(letter, letters)):
                for c in instances:
                    if not hasattr(c, w.BY_LETTER[letter].method):
                        continue
                    if letter == "F":
                        c.f_email = w.f_email(round_)
                    elif letter == "H":
                        c.h_ages = w.h_ages(round_)
                    await c.prepare(letter)
                    keys = w.lookup_keys(await c.keys(), sizes.lookups) if letter == "D" else None
                    seconds, value = await _timed(c, letter, keys, rows)
                    if letter not in letters:
                        continue
                    result.times[(c.name, letter)].append(seconds)
                    checker.check(backend.name, c.name, letter, value)
            if letter not in letters:
                continue
            log(
                f"  {letter}: "
                + "  ".join(
                    f"{c.name} {result.times[(c.name, letter)][-1] * 1000:.1f}ms"
                    for c in instances
                    if (c.name, letter) in result.times
                )
            )
        if hasattr(instances[0], "fetch_all"):  # the state all the writes left behind must agree too
            for c in instances:
                if hasattr(c, "fetch_all"):
                    checker.check(backend.name, c.name, "final", w.NORMALISE["C"](await c.fetch_all()))
    finally:
        for c in instances:
            await c.teardown()


def stream_in_subprocess(backend: str, contender: str, url: str) -> dict[str, float]:
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    done = subprocess.run(  # noqa: S603 - our own module, run by this interpreter
        [sys.executable, "-m", "bench.stream", backend, contender, url],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"stream process for {contender} on {backend} failed:\n{done.stderr[-3000:]}")
    data: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return data


def run_backend(
    *,
    backend: Backend,
    names: list[str],
    letters: Sequence[str],
    sizes: w.Sizes,
    repeat: int,
    checker: Checker,
    log: Any,
) -> BackendResult:
    result = BackendResult(backend.name, backend.baseline, [])
    classes = []
    for name in names:
        reason = available(name)
        if reason is None:
            cls = load(name)
            if backend.name not in cls.backends:
                continue
            classes.append(cls)
            result.contenders.append(name)
            result.versions[name] = cls.versions()
        else:
            result.skipped[name] = reason
    if not classes:
        return result
    stream_rows = sizes.stream if sizes.stream else backend.stream_rows
    result.stream_rows = stream_rows
    workdir = tempfile.mkdtemp(prefix=f"ommi-bench-{backend.name}-")
    try:
        with backend.started(workdir) as run:
            for rep in range(repeat):
                shift = rep % len(classes)
                order = classes[shift:] + classes[:shift]
                log(f"{backend.name}: repetition {rep + 1}/{repeat} ({', '.join(c.name for c in order)})")
                # fresh databases first: server backends create them with event loops of their own
                urls = {cls.name: run.database(cls.name) for cls in order}
                asyncio.run(
                    one_repetition(
                        backend=backend,
                        urls=urls,
                        classes=order,
                        letters=letters,
                        sizes=sizes,
                        result=result,
                        checker=checker,
                        log=log,
                    )
                )
                if "J" in letters:
                    url = run.stream_database(stream_rows)
                    for cls in order:
                        if not hasattr(cls, "stream"):
                            continue
                        data = stream_in_subprocess(backend.name, cls.name, url)
                        result.times[(cls.name, "J")].append(data["seconds"])
                        result.memory[cls.name].append(data)
                        checker.check(backend.name, cls.name, "J", (int(data["rows"]), int(data["ages"])))
                        log(f"  J: {cls.name} {data['seconds']:.2f}s peak {data['peak_mb']:.0f} MB")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return result


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default="sqlite", help=f"comma-separated, of {', '.join(BACKENDS)}")
    parser.add_argument(
        "--contenders",
        help="comma-separated contender labels (default: all; with --scaling, ommi and each backend's raw driver)",
    )
    parser.add_argument("--workloads", default="".join(x.letter for x in w.WORKLOADS), help="letters, e.g. ABCK")
    parser.add_argument("--repeat", type=int, help="repetitions (default 5; 1 with --quick)")
    parser.add_argument("--rows", type=int, help="rows for A, B and C (default 10,000)")
    parser.add_argument("--lookups", type=int, help="point lookups in D (default 1,000)")
    parser.add_argument("--stream-rows", type=int, help="rows streamed in J (default per backend)")
    parser.add_argument("--quick", action="store_true", help="tiny sizes, one repetition, correctness only")
    parser.add_argument("--no-startup", action="store_true", help="skip the startup check")
    parser.add_argument(
        "--write",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="rewrite docs/benchmarks.md and docs/benchmarks.png (default: yes, no with --quick)",
    )
    parser.add_argument("--markdown", type=Path, default=ROOT / "docs" / "benchmarks.md")
    parser.add_argument("--chart", type=Path, default=ROOT / "docs" / "benchmarks.png")
    parser.add_argument("--json", type=Path, help="also write the raw timings here")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="profile the chosen workloads (one contender, cProfile over all threads) instead",
    )
    parser.add_argument("--from-json", type=Path, help="re-render the report of a run saved with --json")
    parser.add_argument(
        "--scaling",
        metavar="SIZES",
        help="run at each of these row counts (e.g. 1000,10000,100000) and report the cost per unit of work "
        "(writes the Scaling section of docs/benchmarks.md and docs/benchmarks-scaling.png)",
    )
    parser.add_argument("--scaling-chart", type=Path, default=ROOT / "docs" / "benchmarks-scaling.png")
    parser.add_argument("-q", "--quiet", action="store_true")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    base = QUICK if args.quick else w.Sizes()
    sizes = w.Sizes(
        rows=args.rows or base.rows,
        lookups=args.lookups or base.lookups,
        stream=args.stream_rows or (base.stream if args.quick else 0),
    )
    repeat = args.repeat or (1 if args.quick else 5)
    write = args.write if args.write is not None else not args.quick
    letters = [x for x in args.workloads.upper() if x in w.BY_LETTER]
    contenders = args.contenders or ("ommi," + ",".join(b.baseline for b in BACKENDS.values()) if args.scaling else "")
    standard = ",".join(n for n in REGISTRY if n not in OPT_IN)
    names = [n.strip() for n in (contenders or standard).split(",") if n.strip()]
    unknown = [n for n in names if n not in REGISTRY] + [
        b for b in args.backends.split(",") if b.strip() not in BACKENDS
    ]
    if unknown:
        print(f"unknown contender or backend: {', '.join(unknown)}", file=sys.stderr)
        return 2

    def log(msg: str) -> None:
        if not args.quiet:
            print(msg, flush=True)

    saved = json.loads(args.from_json.read_text(encoding="utf-8")) if args.from_json else None
    if args.scaling or (saved is not None and "scaling" in saved):
        return run_scaling(args, names, letters, log, saved)

    if saved is not None:
        from bench import report

        results, startup, meta = report.from_json(saved)
        table = report.markdown(results, startup, meta, letters)
        print(table)
        if args.write is not False:
            report.write_markdown(args.markdown, table)
            report.write_chart(args.chart, results, letters)
            log(f"wrote {args.markdown} and {args.chart}")
        return 0

    if args.profile:
        from bench.profile import profile

        return profile(BACKENDS[args.backends.split(",")[0].strip()], names[0], letters, sizes)

    checker = Checker(sizes, letters)
    results = []
    for backend_name in args.backends.split(","):
        backend = BACKENDS[backend_name.strip()]
        results.append(
            run_backend(
                backend=backend,
                names=names,
                letters=letters,
                sizes=sizes,
                repeat=repeat,
                checker=checker,
                log=log,
            )
        )

    startup = None
    if not args.no_startup:
        from bench import startup as startup_check

        startup = startup_check.measure(repeat=startup_check.PROBES if not args.quick else 1)

    from bench import report

    meta = report.Meta(
        command="python -m bench " + " ".join(argv if argv is not None else sys.argv[1:]),
        when=time.strftime("%Y-%m-%d %H:%M"),
        python=platform.python_version(),
        machine=machine(),
        sizes=sizes,
        repeat=repeat,
        rounds={letter: w.ROUNDS[letter] for letter in letters if letter in w.ROUNDS},
    )
    table = report.markdown(results, startup, meta, letters)
    print(table)
    ran = {letter for r in results for (_, letter) in r.times}
    missing = [x for x in letters if x not in ran and any(r.contenders for r in results)]
    for letter in missing:
        checker.problems.append(f"workload {letter} did not run for any contender")
    if args.json:
        args.json.write_text(json.dumps(report.as_json(results, startup, meta), indent=2), encoding="utf-8")
    if write:
        report.write_markdown(args.markdown, table)
        report.write_chart(args.chart, results, letters)
        log(f"wrote {args.markdown} and {args.chart}")
    if checker.problems:
        print("RESULTS DISAGREE:\n  " + "\n  ".join(checker.problems), file=sys.stderr)
        return 1
    print(f"ok: every contender agreed on workloads {''.join(sorted(ran))}")
    return 0


def run_scaling(
    args: argparse.Namespace, names: list[str], letters: list[str], log: Any, saved: dict[str, Any] | None
) -> int:
    """``--scaling SIZES``: the standard run at each size, reported as cost per unit of work."""
    from bench import scaling

    if saved is not None:
        run = scaling.from_json(saved)
    else:
        try:
            counts = [int(x.replace("_", "")) for x in args.scaling.split(",") if x.strip()]
        except ValueError:
            print(f"--scaling takes row counts, e.g. 1000,10000,100000 (got {args.scaling!r})", file=sys.stderr)
            return 2
        repeat = args.repeat or 3
        problems: list[str] = []
        run = scaling.ScalingRun(
            sizes=[w.Sizes(rows=n, lookups=min(n, args.lookups or w.Sizes.lookups), stream=n) for n in sorted(counts)],
            results=[],
            command="python -m bench " + " ".join(sys.argv[1:]),
            when=time.strftime("%Y-%m-%d %H:%M"),
            machine=f"Python {platform.python_version()}, {machine()}",
            repeat=repeat,
        )
        for sizes in run.sizes:
            checker = Checker(sizes, letters)
            results = []
            for backend_name in args.backends.split(","):
                log(f"== {sizes.rows:,} rows")
                results.append(
                    run_backend(
                        backend=BACKENDS[backend_name.strip()],
                        names=names,
                        letters=letters,
                        sizes=sizes,
                        repeat=repeat,
                        checker=checker,
                        log=log,
                    )
                )
            run.results.append(results)
            problems += [f"{sizes.rows:,} rows: {p}" for p in checker.problems]
        if args.json:
            args.json.write_text(json.dumps(scaling.as_json(run), indent=2), encoding="utf-8")
        if problems:
            print("RESULTS DISAGREE:\n  " + "\n  ".join(problems), file=sys.stderr)
            return 1
    table = scaling.markdown(run, letters)
    print(table)
    print("\n".join(scaling.summary(run, letters)))
    if args.write is not False:
        scaling.write_markdown(args.markdown, table)
        scaling.write_chart(args.scaling_chart, run, letters)
        log(f"wrote {args.markdown} and {args.scaling_chart}")
    return 0
