"""The benchmark runner's quick mode: every contender runs every workload and they all agree.

Correctness only: nothing here looks at timings.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import backend_url, only_with

ROOT = Path(__file__).resolve().parent.parent


def bench(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``python -m bench ARGS`` from the repository root, without the user's database URL."""
    environ = {k: v for k, v in os.environ.items() if k != "OMMI_DATABASE_URL"}
    return subprocess.run(
        [sys.executable, "-m", "bench", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**environ, **(env or {})},
        timeout=600,
    )


def test_quick_benchmark_runs_and_contenders_agree(tmp_path: Path) -> None:
    done = bench("--quick", "--backends", "sqlite", "--json", str(tmp_path / "quick.json"))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "ok: every contender agreed on workloads ABCDEFGHIJK" in done.stdout
    for letter in "ABCDEFGHIJK":
        assert f"| {letter} " in done.stdout, f"workload {letter} missing from the report"
    assert "Startup" in done.stdout
    assert "| ommi paired |" in done.stdout
    assert (tmp_path / "quick.json").exists()
    # quick mode writes nothing into docs/ unless asked
    assert "wrote" not in done.stdout


def test_scaling_run_reports_cost_per_unit_at_each_size(tmp_path: Path) -> None:
    """``--scaling``: the standard run at each size, contenders agreeing at every size (tiny sizes here)."""
    saved = tmp_path / "scaling.json"
    args = ["--scaling", "200,400", "--lookups", "20", "--backends", "sqlite", "--repeat", "1", "--json", str(saved)]
    done = bench(*args, "--no-write")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "| workload | unit | contender | 200 | 400 | growth |" in done.stdout
    for letter in "ABCDEFGHIJK":
        assert f"| {letter} | " in done.stdout, f"workload {letter} missing from the scaling report"
    assert "sqlite/ommi: " in done.stdout and "sqlite/aiosqlite: " in done.stdout
    # a saved run renders again, into the files given
    page, chart = tmp_path / "page.md", tmp_path / "chart.png"
    page.write_text("# Benchmarks\n", encoding="utf-8")
    again = bench("--from-json", str(saved), "--markdown", str(page), "--scaling-chart", str(chart))
    assert again.returncode == 0, again.stderr[-3000:]
    assert "## Scaling" in page.read_text(encoding="utf-8") and chart.stat().st_size > 0


SMALL = ["--rows", "200", "--lookups", "20", "--stream-rows", "500"]


def test_quick_benchmark_on_mongodb_agrees() -> None:
    """ommi and raw PyMongo agree on MongoDB (smaller sizes than --quick, to stay a few seconds)."""
    done = bench("--quick", "--backends", "mongodb", "--no-startup", *SMALL)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "ok: every contender agreed on workloads ABCDEFGHIJK" in done.stdout
    assert "| ommi | pymongo |" in done.stdout


def test_quick_benchmark_on_duckdb_agrees() -> None:
    """ommi, raw duckdb and raw duckdb called through a thread agree on DuckDB (small sizes)."""
    done = bench("--quick", "--backends", "duckdb", "--no-startup", *SMALL)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "ok: every contender agreed on workloads ABCDEFGHIJK" in done.stdout
    assert "| ommi | duckdb | duckdb-thread |" in done.stdout


@only_with("postgresql")
def test_quick_benchmark_on_postgresql_agrees() -> None:
    """ommi, raw asyncpg, SQLAlchemy and Tortoise agree on PostgreSQL (the test server; small sizes)."""
    server = {"OMMI_TEST_POSTGRESQL_URL": backend_url("postgresql")}  # the session's server, not a second one
    done = bench("--quick", "--backends", "postgresql", "--no-startup", *SMALL, env=server)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "ok: every contender agreed on workloads ABCDEFGHIJK" in done.stdout
    assert "| ommi | asyncpg | SQLAlchemy | Tortoise |" in done.stdout


@only_with("mysql")
def test_quick_benchmark_on_mysql_agrees() -> None:
    """ommi, raw asyncmy, SQLAlchemy and Tortoise agree on MariaDB (the test server; small sizes)."""
    server = {"OMMI_TEST_MYSQL_URL": backend_url("mysql")}  # the session's server, not a second one
    done = bench("--quick", "--backends", "mysql", "--no-startup", *SMALL, env=server)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "ok: every contender agreed on workloads ABCDEFGHIJK" in done.stdout
    assert "| ommi | asyncmy | SQLAlchemy | Tortoise |" in done.stdout


def test_repeated_set_based_rounds_each_do_the_first_rounds_work() -> None:
    """F and H are timed several times a repetition: each round must change or delete as many rows as the first."""
    from bench import workload as w

    emails = [w.f_email(r) for r in range(w.ROUNDS["F"])]
    assert emails[0] == w.F_EMAIL and len(set(emails)) == len(emails)  # a repeated value would change no row on MySQL
    bands = [w.h_ages(r) for r in range(w.ROUNDS["H"])]
    ages = [a for low, high in bands for a in range(low, high + 1)]
    assert len(ages) == len(set(ages)) == 10 * len(bands)  # disjoint bands of ten ages: 1,000 rows each
    assert all(a not in range(w.G_AGES[0], w.G_AGES[1] + 1) and a < w.I_MIN_AGE for a in ages)
    assert w.expected("K", w.Sizes(), h_rounds=len(bands)) == 100 - 10 * len(bands)


def test_paired_ratios_pair_each_run_with_the_baseline_run_of_its_repetition() -> None:
    """The paired column: ratios run by run, so drift between repetitions cancels (unlike the ratio of medians)."""
    from bench.run import BackendResult

    result = BackendResult("sqlite", "aiosqlite", ["ommi", "aiosqlite"])
    # the machine slows down over the run: both contenders' times double, ommi stays 10% behind
    result.times[("aiosqlite", "A")] = [1.0, 2.0, 4.0]
    result.times[("ommi", "A")] = [1.1, 2.2, 4.4]
    median, low, high = result.paired("ommi", "A") or (0.0, 0.0, 0.0)
    assert (round(median, 6), round(low, 6), round(high, 6)) == (1.1, 1.1, 1.1)
    # the same times in another order: the same medians, but run by run ommi is now ahead twice and far behind once
    result.times[("ommi", "A")] = [4.4, 1.1, 2.2]
    assert result.ratio("ommi", "A") == 2.2 / 2.0
    median, low, high = result.paired("ommi", "A") or (0.0, 0.0, 0.0)
    assert (round(median, 6), round(low, 6), round(high, 6)) == (0.55, 0.55, 4.4)
    # runs that cannot be paired (one contender ran fewer times) give no figure rather than a wrong one
    result.times[("ommi", "B")] = [1.0, 2.0]
    result.times[("aiosqlite", "B")] = [1.0]
    assert result.paired("ommi", "B") is None
    assert result.paired("ommi", "C") is None
