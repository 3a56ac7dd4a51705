"""Turn results into the markdown table (between markers in docs/benchmarks.md) and the PNG chart."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench import workload as w

if TYPE_CHECKING:
    from bench.run import BackendResult

START = "<!-- bench:results:start -->"
END = "<!-- bench:results:end -->"
J_MEMORY_TARGET_MB = 150.0


@dataclasses.dataclass
class Meta:
    command: str
    when: str
    python: str
    machine: str
    sizes: w.Sizes
    repeat: int
    rounds: dict[str, int] = dataclasses.field(default_factory=dict)  # runs per repetition, where more than one


def _ms(seconds: float) -> str:
    ms = seconds * 1000
    if ms >= 1_000:
        return f"{seconds:.2f} s"
    if ms >= 100:
        return f"{ms:.0f} ms"
    if ms >= 10:
        return f"{ms:.1f} ms"
    return f"{ms:.2f} ms"


def _title(letter: str, sizes: w.Sizes, stream_rows: int, rounds: dict[str, int]) -> str:
    n, tenth = f"{sizes.rows:,}", f"{sizes.rows // 10:,}"
    return {
        "A": f"A insert {n}, one add() each, one transaction",
        "B": f"B bulk add() of {n}",
        "C": f"C fetch {n} into objects",
        "D": f"D {sizes.lookups:,} point lookups by key",
        "E": f"E filtered query ({tenth} rows)",
        "F": f"F set-based update of {tenth}",
        "G": f"G load-modify-save {tenth}",
        "H": f"H set-based delete of {tenth}",
        "I": "I count with a filter",
        "J": f"J stream {stream_rows:,} rows: time",
        "K": f"K group_by + Count/Sum ({w.expected('K', sizes, rounds.get('H', 1))} groups)",
    }[letter]


PEERS = ("SQLAlchemy", "Tortoise")


def _target(result: BackendResult, letter: str) -> str:
    if "ommi" not in result.contenders:
        return ""
    notes = []
    target = w.BY_LETTER[letter].target
    ratio = result.ratio("ommi", letter)
    if target is not None:
        if ratio is None:
            notes.append(f"≤ {target:g}x")
        else:
            notes.append(f"≤ {target:g}x: " + ("met" if ratio <= target else f"**missed** ({ratio:.2f}x)"))
    mine = result.median("ommi", letter)
    for peer in PEERS:
        theirs = result.median(peer, letter) if peer in result.contenders else None
        if mine is not None and theirs is not None and theirs < mine:
            notes.append(f"**slower than {peer}**")
    return "; ".join(notes)


def _and(items: Sequence[str]) -> str:
    return ", ".join(items[:-1]) + " and " + items[-1] if len(items) > 1 else items[0]


def _rounds_note(rounds: dict[str, int]) -> str:
    """Say which workloads were timed more than once per repetition (``bench.workload.ROUNDS``)."""
    if not rounds:
        return ""
    by_count: dict[int, list[str]] = {}
    for letter, n in rounds.items():
        by_count.setdefault(n, []).append(letter)
    parts = _and([f"{_and(names)} {n} times" for n, names in sorted(by_count.items())])
    return f" (in each repetition, interleaved, {parts}; their medians are over every run)"


def backend_table(result: BackendResult, meta: Meta, letters: Sequence[str]) -> list[str]:
    names = result.contenders
    rounds = {letter: n for letter, n in meta.rounds.items() if n > 1 and letter in letters}
    pairs = "ommi" in names and result.baseline in names and result.baseline != "ommi"
    lines = [
        f"### {result.backend}",
        "",
        f"Median of {meta.repeat} repetitions{_rounds_note(rounds)}; in brackets the ratio to "
        f"**{result.baseline}** (lower is better)."
        + (
            f" The last column pairs each of ommi's runs with {result.baseline}'s run of the same "
            "repetition: the median of those ratios, and in brackets the lowest and the highest."
            if pairs
            else ""
        ),
        "",
        "| workload | " + " | ".join(names) + " | ommi target |" + (" ommi paired |" if pairs else ""),
        "| --- | " + " | ".join("---:" for _ in names) + " | --- |" + (" ---: |" if pairs else ""),
    ]
    for letter in letters:
        if not any((n, letter) in result.times for n in names):
            continue
        cells = []
        for name in names:
            median = result.median(name, letter)
            ratio = result.ratio(name, letter)
            if median is None:
                cells.append("—")
            else:
                cells.append(_ms(median) + (f" ({ratio:.2f}x)" if ratio is not None else ""))
        paired = ""
        if pairs:
            spread = result.paired("ommi", letter)
            paired = " — |" if spread is None else f" {spread[0]:.2f}x ({spread[1]:.2f}-{spread[2]:.2f}) |"
        lines.append(
            f"| {_title(letter, meta.sizes, result.stream_rows, meta.rounds)} | "
            + " | ".join(cells)
            + f" | {_target(result, letter)} |"
            + paired
        )
        if letter == "J":
            cells = []
            for name in names:
                peak = result.peak(name)
                cells.append("—" if peak is None else f"{peak[0]:.0f} MB (+{peak[1]:.0f})")
            ommi_peak = result.peak("ommi")
            verdict = ""
            if ommi_peak is not None:
                ok = ommi_peak[0] < J_MEMORY_TARGET_MB
                verdict = f"< {J_MEMORY_TARGET_MB:.0f} MB: " + ("met" if ok else "**missed**")
            tail = " |" if pairs else ""
            lines.append("| J peak RSS (growth while streaming) | " + " | ".join(cells) + f" | {verdict} |{tail}")
    return lines


def markdown(
    results: Sequence[BackendResult], startup: dict[str, Any] | None, meta: Meta, letters: Sequence[str]
) -> str:
    lines = [
        f"Generated by `{meta.command.strip()}` on {meta.when}: Python {meta.python}, {meta.machine}; "
        f"{meta.sizes.rows:,} rows, {meta.sizes.lookups:,} lookups.",
        "",
    ]
    for result in results:
        if not result.contenders:
            continue
        lines += backend_table(result, meta, letters)
        if result.skipped:
            lines += ["", "Left out: " + "; ".join(f"{k} ({v})" for k, v in result.skipped.items()) + "."]
        lines.append("")
    if startup is not None:
        lines += startup_table(startup)
    lines += ["Versions:", ""]
    seen: dict[str, str] = {}
    for result in results:
        for versions in result.versions.values():
            seen.update(versions)
    lines += [f"- {k} {v}" for k, v in sorted(seen.items())]
    return "\n".join(lines) + "\n"


def startup_table(startup: dict[str, Any]) -> list[str]:
    """The start-up section: ommi against ``asyncio`` + ``sqlite3``, with the parts of each."""
    from bench.startup import TARGET_MB, TARGET_RATIO

    if "ommi" not in startup:  # a run saved before the baseline was measured
        return []
    ommi, base, bare = startup["ommi"], startup["baseline"], startup["bare"]
    ratio = ommi["total_s"] / base["total_s"]
    wall_ratio = ommi["wall_s"] / base["wall_s"]
    parts = ("import asyncio", "other imports", "start the loop¹", "connect", "first query²", "close")

    def row(label: str, data: dict[str, Any]) -> str:
        cells = [_ms(s) for s in data["parts_s"]]
        return (
            f"| {label} | " + " | ".join(cells) + f" | **{_ms(data['total_s'])}** | {_ms(data['wall_s'])} "
            f"| {data['peak_mb']:.1f} MB |"
        )

    verdict = "met" if ratio <= TARGET_RATIO else "**missed**"
    return [
        "### Startup: `import ommi` + connect to in-memory SQLite + a first query "
        f"(fresh processes, median of {startup['repeat']})",
        "",
        "| | " + " | ".join(parts) + " | in the process | whole process | peak RSS |",
        "| --- | " + " | ".join("---:" for _ in parts) + " | ---: | ---: | ---: |",
        row("ommi", ommi),
        row("`asyncio` + `sqlite3`", base),
        "| ommi / baseline | " + " | ".join("" for _ in parts) + f" | **{ratio:.2f}x** | {wall_ratio:.2f}x | |",
        "| bare `python -c pass` | " + " | ".join("" for _ in parts) + f" | | {_ms(bare['wall_s'])} "
        f"| {bare['peak_mb']:.1f} MB |",
        "",
        f"Target: ommi at most {TARGET_RATIO:g}x the baseline in the process: {verdict} ({ratio:.2f}x); "
        f"peak RSS under {TARGET_MB:.0f} MB: " + ("met" if ommi["peak_mb"] < TARGET_MB else "**missed**") + ". "
        "¹ ommi: also decorating the model class. "
        "² ommi: `schema().create_models()` and `find(Person).all()`; "
        "the baseline: `CREATE TABLE` and `SELECT` with `sqlite3` directly, on the event loop's thread.",
        "",
    ]


def write_markdown(path: Path, table: str) -> None:
    """Replace what lies between the markers in ``path`` (appending them if absent)."""
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    block = f"{START}\n{table}{END}"
    if START in text and END in text:
        head, _, rest = text.partition(START)
        _, _, tail = rest.partition(END)
        text = head + block + tail
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    path.write_text(text, encoding="utf-8")


def write_chart(path: Path, results: Sequence[BackendResult], letters: Sequence[str]) -> None:
    """One panel per backend: each contender's ratio to the raw driver per workload, log scale."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = [r for r in results if r.contenders]
    if not shown:
        return
    everyone = list(dict.fromkeys(n for r in shown for n in r.contenders))
    palette = plt.get_cmap("tab10")
    colour = {name: palette(i % 10) for i, name in enumerate(everyone)}  # one colour per contender in every panel
    fig, axes = plt.subplots(len(shown), 1, figsize=(11, 4.2 * len(shown)), squeeze=False)
    for ax, result in zip(axes[:, 0], shown, strict=True):
        present = [x for x in letters if any((n, x) in result.times for n in result.contenders)]
        width = 0.8 / max(1, len(result.contenders))
        for i, name in enumerate(result.contenders):
            xs, ys = [], []
            for j, letter in enumerate(present):
                ratio = result.ratio(name, letter)
                if ratio is not None:
                    xs.append(j + (i - (len(result.contenders) - 1) / 2) * width)
                    ys.append(ratio)
            ax.bar(xs, ys, width=width, label=name, color=colour[name])
        for j, letter in enumerate(present):
            target = w.BY_LETTER[letter].target
            if target is not None:
                ax.plot([j - 0.45, j + 0.45], [target, target], color="black", linestyle=":", linewidth=1)
        ax.axhline(1.0, color="grey", linewidth=0.8)
        ax.set_yscale("log")
        ax.set_xticks(range(len(present)), present)
        ax.set_ylabel(f"time / {result.baseline} (log)")
        ax.set_title(f"{result.backend}: median time relative to {result.baseline} (dotted: ommi's target)")
        ax.legend(ncol=len(result.contenders), fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def from_json(data: dict[str, Any]) -> tuple[list[BackendResult], dict[str, Any] | None, Meta]:
    """Rebuild what :func:`as_json` saved, to re-render a report without re-running."""
    from bench.run import BackendResult

    meta_data = dict(data["meta"])
    meta_data["sizes"] = w.Sizes(**meta_data["sizes"])
    results = []
    for b in data["backends"]:
        result = BackendResult(b["backend"], b["baseline"], list(b["contenders"]))
        result.versions = b["versions"]
        result.stream_rows = b["stream_rows"]
        for key, values in b["times"].items():
            contender, _, letter = key.rpartition("/")
            result.times[(contender, letter)] = list(values)
        for contender, runs in b["memory"].items():
            result.memory[contender] = list(runs)
        results.append(result)
    return results, data.get("startup"), Meta(**meta_data)


def as_json(results: Sequence[BackendResult], startup: dict[str, Any] | None, meta: Meta) -> dict[str, Any]:
    return {
        "meta": {**dataclasses.asdict(meta)},
        "startup": startup,
        "backends": [
            {
                "backend": r.backend,
                "baseline": r.baseline,
                "contenders": r.contenders,
                "versions": r.versions,
                "times": {f"{c}/{x}": v for (c, x), v in r.times.items()},
                "memory": r.memory,
                "stream_rows": r.stream_rows,
            }
            for r in results
        ],
    }
