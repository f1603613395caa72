"""`make bench`: run every benchmark module that exists, each writing to docs/benchmarks.md."""

from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path


def main() -> int:
    names = sorted(
        m.name
        for m in pkgutil.iter_modules([str(Path(__file__).parent)])
        if not m.name.startswith("_") and m.name != "common"
    )
    failures = 0
    for name in names:
        module = importlib.import_module(f"benchmarks.{name}")
        print(f"== benchmarks.{name}")
        failures += int(module.main() or 0)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
