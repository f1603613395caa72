"""People database at scale (PERFORMANCE.md P5, P6, P7) on PostgreSQL, in a scratch database.

    python -m benchmarks.people [--size 1000000] [--import-rows 20000] [--samples 200] [--keep]
                                [--reuse bench_people_NAME] [--import-seed 11] [--no-write]

The parent process creates `bench_people_<pid>`, migrates it and loads the ISTAT tree, then runs
this module again as a child with Django pointed at it (DATABASE_URL); the child seeds `--size`
demo people (`piazza.people.demo`), measures, and prints its figures as JSON; the parent writes
them, with the ceilings measured in the same run, into `docs/benchmarks.md` (section "people").

`--reuse bench_people_NAME` keeps that database between runs and seeds it only when it holds no
demo people yet, so iterations at 1,000,000 do not reseed for minutes (migrations still run, so a
new index is built on the seeded data). The import adds people each time: give each reused run
its own `--import-seed` so its file holds new people rather than the ones a previous run created.

Goals missed are reported, not failed (machines here are shared and noisy); a run that loses an
import row or creates people twice when the same file is imported again exits 1.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import json
import os
import random
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import psycopg

from benchmarks.common import (
    ADMIN_URL,
    ceiling_copy,
    ceiling_insert,
    create_database,
    database_url,
    django_env,
    run_django,
    scratch_database,
    summary,
    write_section,
)

HEADERS = [
    "Cognome",
    "Nome",
    "Codice fiscale",
    "Sesso",
    "Data di nascita",
    "Luogo di nascita",
    "Stato di nascita",
    "Indirizzo",
    "CAP",
    "Comune",
    "E-mail",
    "Cellulare",
]


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="benchmarks.people", description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1_000_000, help="demo people to seed (default 1,000,000)")
    parser.add_argument("--import-rows", type=int, default=20_000, help="rows of the imported file")
    parser.add_argument("--samples", type=int, default=200, help="samples per latency figure")
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    parser.add_argument(
        "--reuse", metavar="NAME", help="keep and reuse this bench_people_* database; seed only if it has no people"
    )
    parser.add_argument("--import-seed", type=int, default=11, help="random seed of the imported file")
    parser.add_argument("--no-write", action="store_true", help="print the section, leave docs/benchmarks.md")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv if argv is not None else sys.argv[1:] if __name__ == "__main__" else [])
    if args.child:
        return child(args)
    started = time.monotonic()
    if args.reuse:
        if not args.reuse.startswith("bench_people_"):
            raise SystemExit("--reuse takes a database named bench_people_*")
        database = reused_database(args.reuse)
    else:
        database = scratch_database(f"bench_people_{os.getpid()}", keep=args.keep)
    with database as url:
        run_django(url, "migrate", "--noinput", "-v0")
        if not args.reuse or not _has_territory(url):
            run_django(url, "load_territory")
        command = [
            sys.executable,
            "-m",
            "benchmarks.people",
            "--child",
            "--size",
            str(args.size),
            "--import-rows",
            str(args.import_rows),
            "--samples",
            str(args.samples),
            "--import-seed",
            str(args.import_seed),
        ]
        done = subprocess.run(command, env=django_env(url), stdout=subprocess.PIPE, text=True, check=False)
        if done.returncode != 0:
            print(done.stdout)
            print(f"benchmarks.people: the child process failed (exit {done.returncode})", file=sys.stderr)
            return 1
        results = json.loads(done.stdout.strip().splitlines()[-1])
    results["wall_minutes"] = (time.monotonic() - started) / 60
    markdown = render(results)
    if not args.no_write:
        write_section("people", markdown)
    print(markdown)
    return 0 if results["correct"] else 1


@contextlib.contextmanager
def reused_database(name: str) -> Iterator[str]:
    """`name` as it is (created empty if missing), never dropped."""
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
    yield database_url(name) if exists else create_database(name)


def _has_territory(url: str) -> bool:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT EXISTS (SELECT 1 FROM territory_comune)").fetchone()
        return bool(row and row[0])


# --- Child: Django against the scratch database --------------------------------------------------


def log(message: str) -> None:
    print(f"[people] {message}", file=sys.stderr, flush=True)


class _Stderr:
    def write(self, text: str) -> None:
        log(text.strip())


def child(args: argparse.Namespace) -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.db import connection

    from piazza.people.demo import generate_people
    from piazza.people.models import Person, Source
    from piazza.territory.models import Role
    from piazza.territory.testing import build_tree, make_official

    url = os.environ["DATABASE_URL"]
    tree = build_tree()  # the real ISTAT tree plus the demo circoli (Bologna Centro, Navile, …)
    User = get_user_model()
    admin = User.objects.filter(username="bench_nazionale").first() or make_official(
        "bench_nazionale", tree.national, [Role.ADMINISTRATOR]
    )
    secretary = User.objects.filter(username="bench_segretario").first() or make_official(
        "bench_segretario", tree.bologna_centro, [Role.ORGANISATION, Role.MEMBERSHIP]
    )
    out: dict[str, Any] = {
        "size": args.size,
        "samples": args.samples,
        "import_rows": args.import_rows,
        "load_start": os.getloadavg()[1],
    }
    seeded = Person.objects.filter(source=Source.DEMO).count()
    if seeded == 0:
        log(f"seeding {args.size:,} people")
        started = time.monotonic()
        generate_people(args.size, seed=1, stdout=_Stderr())
        out["seed_seconds"] = time.monotonic() - started
    elif seeded != args.size:
        raise SystemExit(f"the reused database holds {seeded:,} demo people, not {args.size:,}")
    else:
        log(f"reusing {seeded:,} seeded people")
        out["seed_seconds"] = None
    with connection.cursor() as cursor:
        # The territory tree too: without its statistics the planner takes the scope filter
        # (path LIKE '/1/%') for one territory and runs the name search once per territory.
        cursor.execute("VACUUM ANALYZE people_person, people_email, people_phone, people_consent, territory_territory")
        cursor.execute("SELECT pg_size_pretty(pg_database_size(current_database()))")
        out["database_size"] = cursor.fetchone()[0]
    out["c_insert"] = ceiling_insert(url, clients=1)
    log("P5")
    out.update(measure_p5(args, tree, admin, secretary))
    log("P7")
    out.update(measure_p7(args))
    log("P6")
    out.update(measure_p6(args, url, tree, admin))
    out["load_end"] = os.getloadavg()[1]
    print(json.dumps(out))
    return 0


def _random_people(n: int, rnd: random.Random, **filters: Any) -> list[Any]:
    from django.db.models import Max, Min

    from piazza.people.models import Person

    bounds = Person.objects.aggregate(lo=Min("pk"), hi=Max("pk"))
    ids = [rnd.randint(bounds["lo"], bounds["hi"]) for _ in range(n * 3)]
    people = list(Person.objects.filter(pk__in=ids, **filters).prefetch_related("emails")[:n])
    rnd.shuffle(people)
    return people


def _latency(function: Any, inputs: list[Any]) -> Any:
    samples = []
    for value in inputs:
        started = time.perf_counter()
        function(value)
        samples.append(time.perf_counter() - started)
    return summary(samples)


def measure_p5(args: argparse.Namespace, tree: Any, admin: Any, secretary: Any) -> dict[str, Any]:
    from django.urls import reverse

    from piazza.people.demo import typo
    from piazza.people.queries import SEGMENT_COUNT_CAP, CappedPaginator, count_capped, people_for
    from piazza.territory.testing import verified_client

    rnd = random.Random(5)
    people = _random_people(args.samples, rnd)
    codes = [p.codice_fiscale for p in people if p.codice_fiscale]
    emails = [e.value for p in people for e in p.emails.all()][: args.samples]

    def page(definition: dict[str, Any]) -> None:
        # What the list page runs: the count (capped at 1,000) and the first page.
        paginator = CappedPaginator(people_for(admin, definition).select_related("territory", "residence_comune"), 50)
        list(paginator.get_page(1))

    def lookup(text: str) -> None:
        found = list(people_for(admin, {"q": text})[:50])
        assert found, text

    names = [
        f"{p.last_name} {p.first_name}" if i % 2 else f"{typo(p.last_name, rnd)} {p.first_name}"
        for i, p in enumerate(people)
    ]
    definitions = [
        {"consent": "political_communication", "territory": tree.emilia.pk},
        {"age_min": 30, "age_max": 50, "territory": tree.lombardia.pk},
        {"tags": ["volontario"]},
        {"consent": "newsletter", "age_min": 65},
        {"territory": tree.bologna.pk, "age_max": 35},
    ]
    client = verified_client(secretary)
    list_url = reverse("people:list")

    def circolo_page(number: int) -> None:
        response = client.get(list_url, {"page": number})
        assert response.status_code == 200

    client.get(list_url)  # warm-up: session, templates
    members = people_for(secretary, {}).count()
    pages = max(1, -(-members // 50))
    return {
        "p5_cf": _latency(lookup, codes).__dict__,
        "p5_email": _latency(lookup, emails).__dict__,
        "p5_name": _latency(lambda q: page({"q": q}), names).__dict__,
        # What the segment pages run (ADR 0040): exact up to 10,000, "più di 10.000" above.
        "p5_segment": _latency(
            lambda d: count_capped(people_for(admin, d), SEGMENT_COUNT_CAP),
            [definitions[i % len(definitions)] for i in range(args.samples)],
        ).__dict__,
        "p5_circolo": _latency(circolo_page, [rnd.randint(1, pages) for _ in range(args.samples)]).__dict__,
        "circolo_members": members,
    }


def measure_p7(args: argparse.Namespace) -> dict[str, Any]:
    from django.db import transaction

    from piazza.people.actions.duplicates import scan_duplicates
    from piazza.people.actions.person import check_duplicates
    from piazza.people.models import DuplicateCandidate

    DuplicateCandidate.objects.all().delete()
    started = time.monotonic()
    new = scan_duplicates(actor=None)
    full = time.monotonic() - started
    people = _random_people(args.samples, random.Random(7))

    def on_write(person: Any) -> None:
        with transaction.atomic():
            check_duplicates(person)
            transaction.set_rollback(True)

    return {"p7_full_seconds": full, "p7_pairs": new, "p7_on_write": _latency(on_write, people).__dict__}


def build_file(rows: int, rnd: random.Random) -> bytes:
    """A circolo-style sheet: mostly new people, some already on record, some bad rows."""
    from django.utils import timezone

    from piazza.people.demo import generate, load_world
    from piazza.territory.models import Comune

    names = dict(Comune.objects.values_list("pk", "name"))
    world = load_world(rnd)
    fresh = generate(world, rnd, range(10**12, 10**12 + rows), timezone.now())
    contacts: dict[int, dict[str, str]] = {}
    for pk, value, *_rest in fresh.email:
        contacts.setdefault(pk, {})["email"] = value
    for pk, value, *_rest in fresh.phone:
        contacts.setdefault(pk, {})["phone"] = value[3:6] + " " + value[6:]

    def line(p: tuple[Any, ...], c: dict[str, str]) -> list[str]:
        return [
            p[2],
            p[1],
            p[8],
            p[4],
            p[5].strftime("%d/%m/%Y") if p[5] else "",
            names.get(p[6], ""),
            p[7],
            p[11],
            p[12],
            names.get(p[13], ""),
            c.get("email", ""),
            c.get("phone", ""),
        ]

    lines = [line(p, contacts.get(p[0], {})) for p in fresh.person]
    known = _random_people(rows // 10, rnd)
    for person in known:  # already on record: matched, never created again
        lines[rnd.randrange(len(lines))] = [
            person.last_name,
            person.first_name,
            person.codice_fiscale,
            person.sex,
            person.birth_date.strftime("%d/%m/%Y") if person.birth_date else "",
            "",
            "",
            "",
            "",
            "",
            "",
            "",
        ]
    for i in rnd.sample(range(len(lines)), rows // 20):  # typing slips a circolo really makes
        bad = list(lines[i])
        kind = i % 4
        if kind == 0 and bad[2]:
            bad[2] = bad[2][:15] + ("A" if bad[2][15] != "A" else "B")
        elif kind == 1:
            bad[10] = "mario.rossi@@libero"
        elif kind == 2:
            bad[9] = "Città Inesistente"
        else:
            bad = bad[:-2]
        lines[i] = bad
    text = io.StringIO()
    writer = csv.writer(text, delimiter=";", lineterminator="\r\n")
    writer.writerow(HEADERS)
    writer.writerows(lines)
    return text.getvalue().encode("cp1252", errors="replace")


def measure_p6(args: argparse.Namespace, url: str, tree: Any, admin: Any) -> dict[str, Any]:
    from piazza.people.actions import imports as imports_actions
    from piazza.people.imports import read_upload
    from piazza.people.models import ImportRow, Person, RowStatus

    content = build_file(args.import_rows, random.Random(args.import_seed))
    parsed = read_upload("iscritti.csv", content)
    c_copy = ceiling_copy(url, parsed.rows)
    started = time.monotonic()
    batch = imports_actions.start_import(
        actor=admin, territory=tree.national, file_name="iscritti.csv", content=content
    )
    staging = time.monotonic() - started
    imports_actions.set_import_mapping(actor=admin, batch=batch, mapping=batch.mapping)
    before = Person.objects.count()
    started = time.monotonic()
    batch = imports_actions.process_import_batch(actor=admin, batch_id=batch.pk)
    process = time.monotonic() - started
    created = Person.objects.count() - before
    rows = ImportRow.objects.filter(batch=batch)
    lost = rows.filter(status=RowStatus.PENDING).count() + abs(sum(batch.summary.values()) - args.import_rows)
    orphan = rows.exclude(status=RowStatus.REJECTED).filter(person__isnull=True).count()
    log("P6 again: the same file a second time")
    again = imports_actions.start_import(
        actor=admin, territory=tree.national, file_name="iscritti.csv", content=content
    )
    imports_actions.set_import_mapping(actor=admin, batch=again, mapping=again.mapping)
    started = time.monotonic()
    again = imports_actions.process_import_batch(actor=admin, batch_id=again.pk)
    rerun = time.monotonic() - started
    created_again = Person.objects.count() - before - created
    return {
        "c_copy": c_copy,
        "p6_staging_rate": args.import_rows / staging,
        "p6_rate": args.import_rows / (staging + process),
        "p6_process_rate": args.import_rows / process,
        "p6_summary": batch.summary,
        "p6_created": created,
        "p6_rerun_rate": args.import_rows / rerun,
        "p6_rerun_summary": again.summary,
        "p6_rerun_created": created_again,
        "correct": lost == 0 and orphan == 0 and created_again == 0,
        "p6_lost": lost,
        "p6_orphan": orphan,
    }


# --- Report --------------------------------------------------------------------------------------


def _verdict(ok: bool) -> str:
    return "met" if ok else "**missed**"


def render(r: dict[str, Any]) -> str:
    def s(key: str) -> Any:
        return summary([0.0]).__class__(**r[key])

    rows = [
        ("P5 exact lookup by codice fiscale", s("p5_cf").ms(), "p99 ≤ 5 ms", s("p5_cf").p99 <= 0.005),
        ("P5 exact lookup by email", s("p5_email").ms(), "p99 ≤ 5 ms", s("p5_email").p99 <= 0.005),
        (
            "P5 name search (name words, ADR 0038, nearest first; count capped at 1,000 + first page of 50)",
            s("p5_name").ms(),
            "p99 ≤ 100 ms",
            s("p5_name").p99 <= 0.1,
        ),
        (
            "P5 segment count (5 definitions in rotation; capped at 10,000, ADR 0040)",
            s("p5_segment").ms(),
            "p99 ≤ 200 ms",
            s("p5_segment").p99 <= 0.2,
        ),
        (
            f"P5 circolo member list page ({r['circolo_members']:,} members, full HTTP request through Django)",
            s("p5_circolo").ms(),
            "p99 ≤ 50 ms",
            s("p5_circolo").p99 <= 0.05,
        ),
        (
            "P6 import end to end (stage + validate + dedupe + create)",
            f"{r['p6_rate']:,.0f} rows/s (processing alone {r['p6_process_rate']:,.0f} rows/s)",
            "≥ 2,000 rows/s",
            r["p6_rate"] >= 2000,
        ),
        (
            "P6 staging vs C_copy",
            f"{r['p6_staging_rate']:,.0f} rows/s = {r['p6_staging_rate'] / r['c_copy']:.0%} of C_copy",
            "≥ 25% of C_copy",
            r["p6_staging_rate"] >= 0.25 * r["c_copy"],
        ),
        (
            "P7 full duplicate pass",
            f"{r['p7_full_seconds']:.1f} s ({r['p7_pairs']:,} pairs queued)",
            "≤ 300 s",
            r["p7_full_seconds"] <= 300,
        ),
        ("P7 on-write duplicate check", s("p7_on_write").ms(), "p99 ≤ 20 ms", s("p7_on_write").p99 <= 0.02),
    ]
    table = ["| goal | measured | target | verdict |", "|---|---|---|---|"]
    table += [f"| {a} | {b} | {c} | {_verdict(d)} |" for a, b, c, d in rows]
    return "\n".join(
        [
            f"## People database (P5–P7) at {r['size']:,} persons, PostgreSQL",
            "",
            f"Scratch database `bench_people_*` ({r['database_size']} after seeding); {r['size']:,} demo people "
            + (
                f"seeded in {r['seed_seconds']:.0f} s ({r['size'] / r['seed_seconds']:,.0f} people/s with contacts, "
                "consents, tags and timeline, COPY)"
                if r["seed_seconds"]
                else "seeded by an earlier run (`--reuse`)"
            )
            + f"; whole run {r['wall_minutes']:.1f} min. Latencies: {r['samples']} samples "
            "each, one client, queries as a national administrator (the widest scope) except the circolo page.",
            "",
            f"Machine load (5-minute load average, 2 cores shared with other developers' tests and benchmarks): "
            f"{r.get('load_start', float('nan')):.1f} when seeding began, {r.get('load_end', float('nan')):.1f} at the "
            "end. Figures are from a contended machine; the ratios against the ceilings of the same run matter more.",
            "",
            f"Ceilings measured in this run: C_insert = {r['c_insert']:,.0f} single-row INSERT commits/s (1 client, "
            f"psycopg); C_copy = {r['c_copy']:,.0f} rows/s (raw COPY of the import file into a scratch table).",
            "",
            *table,
            "",
            f"Import file: {r['import_rows']:,} rows (cp1252, semicolons, Italian headers; ~10% people already on "
            f"record, 5% bad rows). Outcome {json.dumps(r['p6_summary'])}; {r['p6_created']:,} people created. "
            f"Importing the same file again: {r['p6_rerun_rate']:,.0f} rows/s, outcome "
            f"{json.dumps(r['p6_rerun_summary'])}, {r['p6_rerun_created']} people created. "
            f"Rows lost: {r['p6_lost']}; rows without a person: {r['p6_orphan']}.",
            "",
            f"Correctness: {'passed' if r['correct'] else '**FAILED**'}.",
        ]
    )


if __name__ == "__main__":
    sys.exit(main())
