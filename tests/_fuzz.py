"""Shared helpers of the property and fuzz tests (test_differential, test_roundtrip, ...).

Hypothesis does not drive async tests directly, so it is used as a
*generator*: :func:`generate` runs a strategy inside a synchronous Hypothesis
test and collects the examples, and the async test then runs the batch
against a backend. Generation is derandomized (the same examples on every
run) unless ``OMMI_FUZZ_SEED`` is set; ``OMMI_SOAK=N`` multiplies every
example count by ``N`` for a long soak run.
"""

from __future__ import annotations

import os
from typing import Any, TypeVar

from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

T = TypeVar("T")

SOAK = max(1, int(os.environ.get("OMMI_SOAK", "1") or "1"))
SEED = os.environ.get("OMMI_FUZZ_SEED")


def scaled(n: int) -> int:
    """``n`` examples, times ``$OMMI_SOAK``."""
    return n * SOAK


def generate(strategy: st.SearchStrategy[T], n: int) -> list[T]:
    """Draw ``n`` examples of ``strategy`` (deterministic unless ``$OMMI_FUZZ_SEED`` is set)."""
    out: list[T] = []

    @settings(
        database=None,
        derandomize=SEED is None,
        max_examples=n,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        phases=["generate"],
    )
    @given(strategy)
    def collect(value: T) -> None:
        out.append(value)

    if SEED is not None:
        collect = seed(int(SEED))(collect)
    collect()
    return out[:n]


def pinned(what: str, detail: Any) -> str:
    """The message of a failed differential check: what to paste into a regression test."""
    how = f"OMMI_FUZZ_SEED={SEED}" if SEED is not None else "derandomized default run"
    return f"{what} ({how}):\n{detail}"
