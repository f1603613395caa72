"""The on-write duplicate check (P7) of this tree against another commit's, paired, on one database.

    python -m benchmarks.people_onwrite --database bench_people_names --before e78ee68 [--samples 200] [--rounds 2]

Runs `benchmarks.people`'s on-write check (`check_duplicates` of a person drawn at random, in a
transaction rolled back) on an existing, seeded `bench_people_*` database, which is neither
migrated nor changed: each round runs the code of `--before` (unpacked with `git archive`) and of
this tree in turn, in a child process of that code, on the same people (`--seed`). Per run, one
JSON line: median and p99 of the wall time, the process CPU and the PostgreSQL backend CPU per
check (read from /proc: run on the database's machine), the wall median and p99 of the checks
that queued no pair (a new pair adds get-or-create's statements), then, in a second pass over the same
people with Django's debug cursor, the statements per check (all, and the reads: SELECTs) and
the load average. Nothing is written to `docs/benchmarks.md`: paired figures go there by hand.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.common import ROOT, database_url, summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="benchmarks.people_onwrite", description=__doc__.splitlines()[0])
    parser.add_argument("--database", default="bench_people_names", help="a seeded bench_people_* database")
    parser.add_argument("--before", help="git commit to compare with (omit: this tree only)")
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seed", type=int, default=7, help="random seed of the people checked")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv if argv is not None else sys.argv[1:])
    if args.child:
        print(json.dumps(child(args.samples, args.seed)))
        return 0
    if not args.database.startswith("bench_people_"):
        raise SystemExit("--database takes a database named bench_people_*")
    with tempfile.TemporaryDirectory(prefix="bench_onwrite_") as tmp:
        trees = {"after": ROOT}
        if args.before:
            before = Path(tmp) / "before"
            before.mkdir()
            archive = subprocess.run(["git", "-C", str(ROOT), "archive", args.before], capture_output=True, check=True)
            subprocess.run(["tar", "-x", "-C", str(before)], input=archive.stdout, check=True)
            trees = {"before": before, "after": ROOT}
        for round_ in range(1, args.rounds + 1):
            for label, tree in trees.items():
                load = os.getloadavg()[0]
                env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "PIAZZA_TASKS_BACKEND")}
                env.update(
                    DATABASE_URL=database_url(args.database),
                    PIAZZA_ENV="development",
                    DEBUG="0",
                    PIAZZA_TASKS_BACKEND="immediate",
                    PYTHONPATH=os.pathsep.join([str(tree), str(ROOT)]),  # the code under test first
                )
                command = [sys.executable, str(Path(__file__)), "--child", "--samples", str(args.samples)]
                command += ["--seed", str(args.seed)]
                out = subprocess.run(command, cwd=tree, env=env, stdout=subprocess.PIPE, text=True, check=True)
                result = json.loads(out.stdout.strip().splitlines()[-1])
                print(json.dumps({"round": round_, "code": label, "load_before": load, **result}), flush=True)
    return 0


# --- Child: Django of the tree under test ---------------------------------------------------------


def _backend_cpu() -> float:
    """CPU seconds of this connection's PostgreSQL backend (same machine)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def child(samples: int, seed: int) -> dict[str, Any]:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from django.db import connection, transaction
    from django.test.utils import CaptureQueriesContext

    from benchmarks.people import _random_people
    from piazza.people.actions.person import check_duplicates

    people = _random_people(samples, random.Random(seed))
    queued = 0

    def on_write(person: Any) -> int:
        """As `benchmarks.people.measure_p7` measures it."""
        with transaction.atomic():
            found = len(check_duplicates(person))
            transaction.set_rollback(True)
        return found

    for person in people[:20]:  # warm: compiled statements, caches, the first connection
        on_write(person)
    walls, cpus, quiet = [], [], []
    backend = _backend_cpu()
    for person in people:
        wall, cpu = time.perf_counter(), time.process_time()
        found = on_write(person)
        cpus.append(time.process_time() - cpu)
        walls.append(time.perf_counter() - wall)
        queued += found
        if not found:
            quiet.append(walls[-1])
    backend = _backend_cpu() - backend
    statements, reads = [], []
    for person in people:
        with CaptureQueriesContext(connection) as captured:
            on_write(person)
        statements.append(len(captured))
        reads.append(sum(q["sql"].lstrip().upper().startswith("SELECT") for q in captured.captured_queries))
    wall_summary, cpu_summary, quiet_summary = summary(walls), summary(cpus), summary(quiet)
    return {
        "checks": len(people),
        "median_ms": round(wall_summary.median * 1000, 2),
        "p99_ms": round(wall_summary.p99 * 1000, 2),
        "max_ms": round(wall_summary.max * 1000, 2),
        "nothing_queued": {
            "checks": len(quiet),
            "median_ms": round(quiet_summary.median * 1000, 2),
            "p99_ms": round(quiet_summary.p99 * 1000, 2),
        },
        "cpu_median_ms": round(cpu_summary.median * 1000, 2),
        "cpu_p99_ms": round(cpu_summary.p99 * 1000, 2),
        "pg_cpu_ms_per_check": round(backend * 1000 / len(people), 2),
        "statements_per_check": round(sum(statements) / len(people), 2),
        "reads_per_check": round(sum(reads) / len(people), 2),
        "queued_per_check": round(queued / len(people), 2),
        "load_after": os.getloadavg()[0],
    }


if __name__ == "__main__":
    sys.exit(main())
