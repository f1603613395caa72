"""Audit inserts per second on PostgreSQL with the hash chain (issue 10, finding 11; docs/adr/0014).

Each client is a process running Django that appends entries through `piazza.core.audit.record`,
one transaction per entry, back to back for a few seconds; 1 client measures the cost of the
link (lock + head read + HMAC), several clients measure the serialisation. Run the same module
on the commit before the chain to get the "before" figures (see the ADR).

    python -m benchmarks.audit_chain            # writes the section of docs/benchmarks.md
"""

from __future__ import annotations

import subprocess
import sys

from benchmarks.common import ROOT, ceiling_insert, django_env, run_django, scratch_database, write_section

SECONDS = 4.0
CLIENTS = (1, 4)

CHILD = """
import os, sys, time, django
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django.setup()
from django.db import transaction
from piazza.core.audit import record
seconds = float(sys.argv[1])
count = 0
deadline = time.monotonic() + seconds
while time.monotonic() < deadline:
    with transaction.atomic():
        record("bench.audit", actor=None, data={"n": count})
    count += 1
print(count)
"""


def rate(url: str, clients: int, seconds: float = SECONDS) -> float:
    children = [
        subprocess.Popen(
            [sys.executable, "-c", CHILD, str(seconds)],
            env=django_env(url),
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(clients)
    ]
    # Each child counts only inside its own window of `seconds` (after Django's start-up).
    return sum(int((child.communicate()[0] or "0").strip()) for child in children) / seconds


def main() -> int:
    with scratch_database("bench_audit_chain") as url:
        run_django(url, "migrate", "-v0")
        rates = {clients: (rate(url, clients), ceiling_insert(url, clients=clients)) for clients in CLIENTS}
    lines = ["| clients | audit inserts/s | raw INSERT commits/s (ceiling) |", "|---|---|---|"]
    lines += [f"| {clients} | {value:.0f} | {ceiling:.0f} |" for clients, (value, ceiling) in rates.items()]
    print("\n".join(lines))
    if "--no-write" not in sys.argv:
        write_section("audit_chain", "\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
