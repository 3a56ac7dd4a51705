"""Benchmarks: ommi against the raw drivers and peer object mappers.

Run ``python -m bench --help`` from the repository root; the workloads, the
contenders and how to read the results are described in ``docs/benchmarks.md``.
"""
