"""The date sweep: run the date-sensitive tests once per awkward "today" (`make date-sweep`).

    python scripts/date_sweep.py --days "2026-12-12 2028-02-29T00:30" piazza/payments/bank/tests/...

Each day is a separate pytest run with `PIAZZA_TEST_TODAY=<day>` (piazza/core/testing_clock.py), so
module-level values such as the membership tests' YEAR follow the day too. The runs share one test
database (`--reuse-db`): the first creates it, the others reuse it, and it is dropped at the end; on
SQLite it is a file in var/ instead of the usual in-memory one. Whatever DATABASE_URL says is used.

Every day runs even after a failure; the summary names the days that failed and the exit status is
1 if any did. A test that fails only on some days is a calendar defect, in the test or in the code.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SQLITE_FILE = ROOT / "var" / "test-date-sweep.sqlite3"


def _uses_sqlite() -> bool:
    return not os.environ.get("DATABASE_URL", "").startswith(("postgres", "pgsql"))


def _drop_test_database() -> None:
    if _uses_sqlite():
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{SQLITE_FILE}{suffix}").unlink(missing_ok=True)
        return
    sys.path.insert(0, str(ROOT))
    os.environ["PIAZZA_ENV"] = "test"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from django.db import connection
    from django.db.backends.base.creation import TEST_DATABASE_PREFIX

    old_name = connection.settings_dict["NAME"]
    connection.settings_dict["NAME"] = connection.settings_dict["TEST"].get("NAME") or TEST_DATABASE_PREFIX + old_name
    connection.creation.destroy_test_db(old_name, verbosity=0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--days", required=True, help="space-separated local days: YYYY-MM-DD or YYYY-MM-DDTHH:MM")
    parser.add_argument("--keep-db", action="store_true", help="keep the shared test database afterwards")
    parser.add_argument("tests", nargs="+", help="test modules (and any pytest arguments)")
    args = parser.parse_args()
    days = args.days.split()
    env = {**os.environ, "PIAZZA_ENV": "test"}
    if _uses_sqlite():
        SQLITE_FILE.parent.mkdir(exist_ok=True)
        env["PIAZZA_TEST_DB_FILE"] = str(SQLITE_FILE)
    results: list[tuple[str, int, float]] = []
    started = time.monotonic()
    try:
        for n, day in enumerate(days):
            print(f"\n=== date sweep {n + 1}/{len(days)}: PIAZZA_TEST_TODAY={day}", flush=True)
            command = [
                sys.executable,
                "-m",
                "pytest",
                "-q",
                "--reuse-db",
                *(["--create-db"] if n == 0 else []),
                *args.tests,
            ]
            begun = time.monotonic()
            status = subprocess.call(command, cwd=ROOT, env={**env, "PIAZZA_TEST_TODAY": day})
            results.append((day, status, time.monotonic() - begun))
    finally:
        if not args.keep_db:
            _drop_test_database()
    print(f"\n=== date sweep: {len(days)} days, {time.monotonic() - started:.0f} s")
    for day, status, seconds in results:
        print(f"  {day:<18} {'ok' if status == 0 else f'FAILED (exit {status})':<16} {seconds:6.1f} s")
    return 1 if any(status != 0 for _, status, _ in results) else 0


if __name__ == "__main__":
    sys.exit(main())
