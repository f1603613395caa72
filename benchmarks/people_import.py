"""Import (P6) of the code of this tree against another commit's, paired, in one go (ADR 0039).

    python -m benchmarks.people_import --before 1116ad4 [--people 100000] [--rows 4000 20000] [--rounds 2]

Seeds `--people` demo people once into `bench_people_import_seed`, writes one file per `--rows`
with `benchmarks.people.build_file`, then for each round, each file and each code (`--before`
unpacked with `git archive` into a temporary directory, and this tree) copies the seeded database
(`CREATE DATABASE … TEMPLATE`), migrates it with that code and imports the file twice (the second
time is the re-import, which must create nobody) in a child process of that code. Prints one JSON
line per run: rows/s, CPU seconds of the Django process and of its PostgreSQL backend (read from
/proc: run on the database's machine), statements as Django's debug cursor counts them (COPY and
savepoints included, as the pinned test counts them; with `--count`, which costs some speed), and
the outcome counts. Nothing is written to `docs/benchmarks.md`: paired figures go there by hand,
with the load, as the machines here are shared.
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

import psycopg
from psycopg import sql

from benchmarks.common import ADMIN_URL, ROOT, create_database, database_url, drop_database

SEED_DB = "bench_people_import_seed"
RUN_DB = "bench_people_import_run"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="benchmarks.people_import", description=__doc__.splitlines()[0])
    parser.add_argument("--before", help="git commit to compare with (omit: this tree only)")
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--rows", type=int, nargs="+", default=[4000, 20000])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--count", action="store_true", help="count statements (debug cursor)")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args(argv if argv is not None else sys.argv[1:])
    if args.child:
        return child(args.child, count=args.count)
    with tempfile.TemporaryDirectory(prefix="bench_import_") as tmp:
        trees = {"after": ROOT}
        if args.before:
            before = Path(tmp) / "before"
            before.mkdir()
            archive = subprocess.run(["git", "-C", str(ROOT), "archive", args.before], capture_output=True, check=True)
            subprocess.run(["tar", "-x", "-C", str(before)], input=archive.stdout, check=True)
            trees = {"before": before, "after": ROOT}
        seed_url = create_database(SEED_DB)
        _django(ROOT, seed_url, "manage.py", "migrate", "--noinput", "-v0")
        _django(ROOT, seed_url, "manage.py", "load_territory")
        _django(ROOT, seed_url, str(Path(__file__)), "--child", "seed", str(args.people))
        files = {}
        for n in args.rows:
            files[n] = Path(tmp) / f"import_{n}.csv"
            _django(ROOT, seed_url, str(Path(__file__)), "--child", "file", str(n), str(files[n]))
        for round_ in range(1, args.rounds + 1):
            for label, tree in trees.items():
                for n, path in files.items():
                    drop_database(RUN_DB)
                    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
                        conn.execute(
                            sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                                sql.Identifier(RUN_DB), sql.Identifier(SEED_DB)
                            )
                        )
                    url = database_url(RUN_DB)
                    _django(tree, url, "manage.py", "migrate", "--noinput", "-v0")
                    load = os.getloadavg()[0]
                    extra = ["--count"] if args.count else []
                    out = _django(tree, url, str(Path(__file__)), "--child", "run", str(path), *extra)
                    result = json.loads(out.strip().splitlines()[-1])
                    print(json.dumps({"round": round_, "code": label, "rows": n, "load_before": load, **result}))
        drop_database(RUN_DB)
        drop_database(SEED_DB)
    return 0


def _django(tree: Path, url: str, *command: str) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "PIAZZA_TASKS_BACKEND")}
    env.update(
        DATABASE_URL=url,
        PIAZZA_ENV="development",
        DEBUG="0",
        PIAZZA_TASKS_BACKEND="immediate",
        PYTHONPATH=os.pathsep.join([str(tree), str(ROOT)]),  # the code under test first
    )
    done = subprocess.run([sys.executable, *command], cwd=tree, env=env, stdout=subprocess.PIPE, text=True, check=True)
    return done.stdout


# --- Child: Django of the tree under test ---------------------------------------------------------


def child(step: list[str], *, count: bool) -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from django.db import connection

    if step[0] == "seed":
        from piazza.people.demo import generate_people
        from piazza.territory.models import Role
        from piazza.territory.testing import build_tree, make_official

        tree = build_tree()
        make_official("bench_nazionale", tree.national, [Role.ADMINISTRATOR])
        generate_people(int(step[1]), seed=1)
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE people_person, people_email, people_phone, territory_territory")
        return 0
    if step[0] == "file":
        from benchmarks.people import build_file

        Path(step[2]).write_bytes(build_file(int(step[1]), random.Random(11)))
        return 0
    print(json.dumps(_run(Path(step[1]).read_bytes(), count=count)))
    return 0


def _backend_cpu() -> float:
    """CPU seconds of this connection's PostgreSQL backend (same machine)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _run(content: bytes, *, count: bool) -> dict[str, Any]:
    from django.contrib.auth import get_user_model
    from django.db import connection

    from piazza.people.actions import imports as imports_actions
    from piazza.people.models import Person
    from piazza.territory.models import Level, Territory

    admin = get_user_model().objects.get(username="bench_nazionale")
    national = Territory.objects.get(level=Level.NATIONAL)
    connection.force_debug_cursor = count
    before = Person.objects.count()
    out: dict[str, Any] = {}
    for label in ("first", "again"):
        connection.queries_log.clear()
        backend = _backend_cpu()
        wall, cpu = time.monotonic(), time.process_time()
        batch = imports_actions.start_import(actor=admin, territory=national, file_name="iscritti.csv", content=content)
        imports_actions.set_import_mapping(actor=admin, batch=batch, mapping=batch.mapping)
        batch = imports_actions.process_import_batch(actor=admin, batch_id=batch.pk)
        wall, cpu = time.monotonic() - wall, time.process_time() - cpu
        logged = list(connection.queries_log)
        out[label] = {
            "rate": round(batch.total_rows / wall),
            "wall": round(wall, 2),
            "cpu": round(cpu, 2),
            "pg_cpu": round(_backend_cpu() - backend, 2),
            "statements": len(logged) if count else None,
            "copy": sum(q["sql"].startswith("COPY") for q in logged) if count else None,
            "summary": batch.summary,
        }
        if label == "first":
            out["created"] = Person.objects.count() - before
    out["created_again"] = Person.objects.count() - before - out["created"]
    return out


if __name__ == "__main__":
    sys.exit(main())
