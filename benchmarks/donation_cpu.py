"""Python CPU of one whole donation, or of one paid join, measured deterministically (issue 14, P1/P4/P8).

    python -m benchmarks.donation_cpu [--donations 40] [--callgrind [--callgrind-out DIR]] [--profile FILE]
                                      [--keep-db NAME] [--joins]

Wall-clock rates on a loaded 2-core machine say little; this counts the work itself. The parent
creates a scratch PostgreSQL database, migrates it, loads the ISTAT tree and opens a few live
campaigns (the setup child of `benchmarks.donations`); a measuring child then runs, in one
process through Django's test client and the full middleware stack, what a browser sends for a
gift: the donation form POST and the payment page POST with the sandbox card, tasks queued in
the database as production queues them. Ten warm-up gifts fill the per-process caches and make
the donors returning; then `--donations` gifts are measured:

- `time.process_time()` per donation (CPU of this process only: PostgreSQL's work is not in it);
- with `--callgrind`, the child runs under `valgrind --tool=callgrind --instr-atstart=no`: the
  interpreter's start, `django.setup()` and the warm-up gifts run without instrumentation (about
  ten times faster than instrumented); a tiny C helper loaded with ctypes switches instrumentation
  on and zeroes the counters before the first measured gift, dumps them after the last and
  switches it off. The instructions divided by the gifts: the same code gives the same count
  however loaded the machine is (±0.5%: hash seeds, addresses). `--callgrind-out DIR` keeps the
  dump for `callgrind_annotate`.
- with `--profile FILE`, a cProfile of the measured gifts (cumulative view printed, top 40).

`--joins` measures paid joins instead (P8, ADR 0050), `--donations` of them: the membership
year, 20 circoli of Bologna and applicants are prepared by `benchmarks.membership`'s setup child;
a join is the join form POST and the payment page POST with the sandbox card. The e-mailed
link's payment is looked up in the database between the two, with instrumentation paused (it is
the benchmark's read, not the site's). With `--keep-db` a join run measures on a copy of the kept
database made for the run and dropped after it, so every run (of either commit) starts from the
same rows: a join's work grows with the memberships already there (the one sandbox card every
applicant pays with is a shared instrument, rule M24, flagged with all its memberships).

`--keep-db NAME` (NAME starts with `bench_`) prepares the database once, keeps it with its setup
file, and reuses it on the next run with the same NAME: runs of two commits (before/after, run
alternately) then measure on the same database and skip the migrating and loading. The two
commits must have the same migrations; the database grows by the measured gifts (returning
donors' totals are summed by PostgreSQL, not in this process).

Nothing is written to docs/benchmarks.md: the figures are quoted there by hand, before/after.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from benchmarks.common import (
    ADMIN_URL,
    ROOT,
    create_database,
    database_url,
    django_env,
    drop_database,
    run_django,
    sandbox_env,
    scratch_database,
)
from benchmarks.donations import _child as donations_child
from benchmarks.donations import _error_of
from benchmarks.membership import CARD, JOIN_PATH
from benchmarks.membership import _child as membership_child

WARM_UP = 10
RETURNING = 5  # donors cycled through: every measured gift is a returning donor's
JOIN_APPLICANTS = 3000  # prepared once per kept database: enough for many runs of warm-up + measured joins
CALLGRIND_HELPER = r"""
#include <valgrind/callgrind.h>
void piazza_cg_zero(void) { CALLGRIND_START_INSTRUMENTATION; CALLGRIND_ZERO_STATS; }
void piazza_cg_toggle(void) { CALLGRIND_TOGGLE_COLLECT; }
void piazza_cg_dump(void) { CALLGRIND_DUMP_STATS_AT("donations"); CALLGRIND_STOP_INSTRUMENTATION; }
"""
KEPT_SETUPS = Path(tempfile.gettempdir()) / "piazza-donation-cpu"


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="benchmarks.donation_cpu", description=__doc__.splitlines()[0])
    parser.add_argument("--donations", type=int, default=40, help="measured gifts or joins (after the warm-up)")
    parser.add_argument("--joins", action="store_true", help="measure paid joins (P8) instead of gifts")
    parser.add_argument("--callgrind", action="store_true", help="count instructions under valgrind")
    parser.add_argument("--callgrind-out", help="with --callgrind: keep the dump in this folder")
    parser.add_argument("--profile", help="write a cProfile of the measured gifts to this file")
    parser.add_argument("--keep-db", help="prepare this database once and reuse it (name starts with bench_)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--setup", help=argparse.SUPPRESS)
    parser.add_argument("--helper", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv if argv is not None else sys.argv[1:])
    if args.child:
        return measure(args)
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        if args.keep_db:
            url, setup_file = _kept(args.keep_db, joins=args.joins)
            if args.joins:
                url = stack.enter_context(_copy_of(args.keep_db))
        else:
            url = stack.enter_context(scratch_database(f"bench_donation_cpu_{os.getpid()}"))
            _migrate(url)
            setup_file = _prepare(url, tmp / "setup.json", joins=args.joins)
        out = tmp / "result.json"
        command = [sys.executable, "-m", "benchmarks.donation_cpu", "--child", "--setup", str(setup_file)]
        command += ["--donations", str(args.donations), "--out", str(out)] + (["--joins"] if args.joins else [])
        if args.profile:
            command += ["--profile", args.profile]
        dumps = Path(args.callgrind_out) if args.callgrind_out else tmp
        if args.callgrind:
            dumps.mkdir(parents=True, exist_ok=True)
            helper = tmp / "cg.so"
            source = tmp / "cg.c"
            source.write_text(CALLGRIND_HELPER)
            subprocess.run(["gcc", "-shared", "-fPIC", "-O1", "-o", str(helper), str(source)], check=True)
            command += ["--helper", str(helper)]
            valgrind = shutil.which("valgrind") or "valgrind"
            cg_out = dumps / f"callgrind.out.{os.getpid()}"
            command = [
                valgrind,
                "--tool=callgrind",
                "--instr-atstart=no",
                f"--callgrind-out-file={cg_out}.%p",
                *command,
            ]
        env = django_env(
            url,
            PIAZZA_TASKS_BACKEND="database",
            PUBLIC_FORM_THROTTLE_PER_IP="100000000",
            PUBLIC_FORM_THROTTLE_PER_CODE="100000000",
            **sandbox_env(),
        )
        subprocess.run(command, env=env, cwd=ROOT, check=True)
        result = json.loads(out.read_text())
        if args.callgrind:
            per = "instructions_per_join" if args.joins else "instructions_per_donation"
            result[per] = _instructions(dumps, f"callgrind.out.{os.getpid()}.") / args.donations
    print(json.dumps(result, indent=2))
    return 0


def _migrate(url: str) -> None:
    run_django(url, "migrate", "--noinput", "-v0")
    run_django(url, "load_territory")


def _prepare(url: str, setup_file: Path, *, joins: bool) -> Path:
    """Open three campaigns (gifts) or the membership year with its applicants (joins); ANALYZE
    (autovacuum may be off)."""
    if joins:
        membership_child(url, "setup", setup_file, "--joins", str(JOIN_APPLICANTS))
    else:
        donations_child(url, "setup", setup_file, "--campaigns", "3")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("ANALYZE")
    return setup_file


def _kept(name: str, *, joins: bool) -> tuple[str, Path]:
    """The kept database `name` and the mode's setup file, prepared on the first run that names it
    (a database kept for gifts gets the joins' setup added on its first join run, and the reverse)."""
    setup_file = KEPT_SETUPS / (f"{name}.join.json" if joins else f"{name}.json")
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone() is not None
    if exists and setup_file.exists():
        return database_url(name), setup_file
    KEPT_SETUPS.mkdir(parents=True, exist_ok=True)
    setup_file.unlink(missing_ok=True)
    other = KEPT_SETUPS / (f"{name}.json" if joins else f"{name}.join.json")
    if exists and other.exists():
        url = database_url(name)
    else:
        other.unlink(missing_ok=True)
        url = create_database(name)
        _migrate(url)
    partial = setup_file.with_suffix(".partial")
    _prepare(url, partial, joins=joins)
    partial.rename(setup_file)  # only a completed setup is reused
    return url, setup_file


@contextlib.contextmanager
def _copy_of(name: str) -> Iterator[str]:
    """A scratch copy of the kept database `name` (its template) for one run."""
    copy = f"{name}_run_{os.getpid()}"
    drop_database(copy)
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(sql.Identifier(copy), sql.Identifier(name)))
    try:
        yield database_url(copy)
    finally:
        drop_database(copy)


def _instructions(folder: Path, prefix: str) -> int:
    """Instructions (Ir) of the dump taken after the measured gifts (zeroed before them)."""
    for path in folder.glob(f"{prefix}*"):
        text = path.read_text(errors="replace")
        if "client request: donations" not in text.lower():
            continue
        for line in text.splitlines():
            if line.startswith(("summary:", "totals:")):
                return int(line.split()[1])
    raise SystemExit("no callgrind dump of the measured gifts found")


def measure(args: argparse.Namespace) -> int:
    import ctypes
    import time

    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    django.setup()
    from django.test import Client

    setup: dict[str, Any] = json.loads(Path(args.setup).read_text())
    client = Client(HTTP_HOST="127.0.0.1")
    client.cookies["csrftoken"] = setup["csrf"]
    helper = ctypes.CDLL(args.helper) if args.helper else None
    profiler = None
    if args.profile:
        import cProfile

        profiler = cProfile.Profile()
    measuring = [False]
    excluded = [0.0]

    @contextlib.contextmanager
    def unmeasured() -> Any:
        """The benchmark's own work inside a measured step: not counted, profiled or timed."""
        if not measuring[0]:
            yield
            return
        started = time.process_time()
        if helper is not None:
            helper.piazza_cg_toggle()
        if profiler is not None:
            profiler.disable()
        try:
            yield
        finally:
            if profiler is not None:
                profiler.enable()
            if helper is not None:
                helper.piazza_cg_toggle()
            excluded[0] += time.process_time() - started

    step = _join_step(client, setup, unmeasured) if args.joins else _gift_step(client, setup)
    for n in range(WARM_UP):
        step(n)
    measuring[0] = True
    if helper is not None:
        helper.piazza_cg_zero()
    if profiler is not None:
        profiler.enable()
    start = time.process_time()
    for n in range(WARM_UP, WARM_UP + args.donations):
        step(n)
    cpu = time.process_time() - start - excluded[0]
    if profiler is not None:
        profiler.disable()
    if helper is not None:
        helper.piazza_cg_dump()
    if profiler is not None:
        import pstats

        profiler.dump_stats(args.profile)
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(40)
    what = "join" if args.joins else "donation"
    result = {f"{what}s": args.donations, f"process_cpu_ms_per_{what}": round(cpu * 1000 / args.donations, 2)}
    Path(args.out).write_text(json.dumps(result))
    return 0


def _gift_step(client: Any, setup: dict[str, Any]) -> Callable[[int], None]:
    """Gift n: the donation form POST and the payment page POST, a returning donor's from the warm-up on."""
    campaigns, donors = setup["campaigns"], setup["donors"][:RETURNING]

    def give(n: int) -> None:
        campaign, donor = campaigns[n % len(campaigns)], donors[n % len(donors)]
        form = {
            "csrfmiddlewaretoken": setup["csrf"],
            "campaign_token": campaign["token"],
            "idempotency_key": uuid.uuid4().hex,
            "preset": "2500",
            "frequency": "one_off",
            "publication": "accept",
            "postal_code": "40126",
            "comune": "Bologna",
            "address": "Via Zamboni 1",
            **donor,
            **{f"attest_{k}": "on" for k in setup["attestations"]},
            "notice_version": setup.get("notice_version", ""),
        }
        submitted = client.post(f"/raccolte/{campaign['slug']}/dona/", form)
        if submitted.status_code != 302:
            raise SystemExit(f"donation form answered HTTP {submitted.status_code}")
        pay = {"csrfmiddlewaretoken": setup["csrf"], "idempotency_key": uuid.uuid4().hex, **CARD}
        paid = client.post(submitted["Location"], pay)
        if paid.status_code != 302 or "/raccolte/donazione/" not in paid["Location"]:
            raise SystemExit(f"payment page answered HTTP {paid.status_code}: {_error_of(paid.content.decode())}")

    return give


def _join_step(client: Any, setup: dict[str, Any], unmeasured: Callable[[], Any]) -> Callable[[int], None]:
    """Join n: the n-th applicant not yet a member's join form POST and payment page POST (what
    `benchmarks.membership`'s `Joiner` sends over HTTP)."""
    from django.db import connection

    with connection.cursor() as cursor:  # a kept database may hold the joins of earlier runs
        cursor.execute("SELECT codice_fiscale FROM people_person WHERE source = 'membership'")
        joined = {code for (code,) in cursor.fetchall()}
    applicants = [a for a in setup["applicants"] if a["codice_fiscale"] not in joined]

    def join(n: int) -> None:
        if n >= len(applicants):
            raise SystemExit(f"only {len(applicants)} applicants left")
        applicant = applicants[n]
        submitted = client.post(JOIN_PATH, {"csrfmiddlewaretoken": setup["csrf"], **applicant})
        if submitted.status_code != 302 or "/iscriviti/inviata/" not in submitted["Location"]:
            raise SystemExit(
                f"join form answered HTTP {submitted.status_code}: {_error_of(submitted.content.decode())}"
            )
        with unmeasured(), connection.cursor() as cursor:  # following the e-mailed link
            cursor.execute(
                "SELECT p.token FROM payments_payment p"
                " JOIN membership_membership m ON p.creation_key = 'membership:' || m.id"
                " JOIN people_person pe ON pe.id = m.person_id WHERE pe.codice_fiscale = %s",
                [applicant["codice_fiscale"]],
            )
            (token,) = cursor.fetchone()
        pay = {"csrfmiddlewaretoken": setup["csrf"], "idempotency_key": uuid.uuid4().hex, **CARD}
        paid = client.post(f"/pagamenti/{token}/", pay)
        if paid.status_code != 302 or "/tesseramento/iscrizione/" not in paid["Location"]:
            raise SystemExit(f"payment page answered HTTP {paid.status_code}: {_error_of(paid.content.decode())}")

    return join


if __name__ == "__main__":
    sys.exit(main())
