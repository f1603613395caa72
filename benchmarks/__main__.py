"""`make bench`: run every benchmark module that exists, each writing to docs/benchmarks.md.

Modules are found by name, so a new benchmark is registered by existing: `benchmarks.soak` (the
one-hour memory soak of issue 14) runs with the others. `BENCH_SKIP=soak,failover` leaves the named
ones out (a quick pass), `BENCH_ONLY=soak` runs only those.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import sys
from pathlib import Path

HELPERS = {"common", "urls"}  # shared code and the benchmark server's URLconf, not benchmarks


def _names(variable: str) -> set[str]:
    return {name.strip() for name in os.environ.get(variable, "").split(",") if name.strip()}


def main() -> int:
    skip, only = _names("BENCH_SKIP"), _names("BENCH_ONLY")
    names = sorted(
        m.name
        for m in pkgutil.iter_modules([str(Path(__file__).parent)])
        if not m.name.startswith("_") and m.name not in HELPERS | skip and (not only or m.name in only)
    )
    failures = 0
    for name in names:
        module = importlib.import_module(f"benchmarks.{name}")
        print(f"== benchmarks.{name}")
        failures += int(module.main() or 0)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
