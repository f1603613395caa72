"""Benchmarks (PERFORMANCE.md): ratios against ceilings measured in the same run."""
