"""Annual tax statements (rules F7, F8; issue 13): statements per second of the yearly generation.

    python -m benchmarks.tax_statements [--donors 20000] [--gifts 3] [--keep]

Goal (issue 13): 300,000 statements in at most an hour on one machine, i.e. >= 84 statements/s.

The parent creates the scratch database `bench_taxstatements_<pid>`, migrates it and loads the
ISTAT tree. A Django child process then bulk-loads `--donors` persons (each with an email
address) and about `--gifts` succeeded card donations each (skewed sizes, median about EUR 25,
spread over campaigns of the national party, regions and federations), then runs ANALYZE
(autovacuum is off on this PostgreSQL: without it the planner guesses).

A second child runs the generation the way the back office starts it (`start_tax_statements`),
with tasks inline (one process, one core: the plan, every chunk task and every email batch, the
emails going to Django's in-memory backend), and times:

- the first run: every statement written (bulk inserts in chunks of 1,000 donors);
- the rerun: nothing changed, so no statement and no email (idempotence), only the reading.

It checks that one statement exists per donor and entity, that the rerun wrote nothing, and
reports statements/s and the projected time for 300,000. Ceiling in the same run: C_copy, rows/s
of a raw COPY of rows shaped like the statements (the fastest the database takes such rows).
Figures go to `docs/benchmarks.md` (section "tax-statements").
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.common import ceiling_copy, django_env, run_child, run_django, scratch_database, write_section

GOAL_STATEMENTS = 300_000
GOAL_SECONDS = 3600
GOAL_RATE = GOAL_STATEMENTS / GOAL_SECONDS  # 83.3/s
YEAR = 2026


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="benchmarks.tax_statements", description=__doc__.splitlines()[0])
    parser.add_argument("--donors", type=int, default=20_000, help="donors to load (default 20,000)")
    parser.add_argument("--gifts", type=int, default=3, help="average gifts per donor (default 3)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    parser.add_argument("--child", choices=["load", "run"], help=argparse.SUPPRESS)
    parser.add_argument("--file", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv if argv is not None else sys.argv[1:] if __name__ == "__main__" else [])
    if args.child == "load":
        return child_load(args)
    if args.child == "run":
        return child_run(args)
    name = f"bench_taxstatements_{os.getpid()}"
    started = time.monotonic()
    with scratch_database(name, keep=args.keep) as url, tempfile.TemporaryDirectory() as tmp:
        run_django(url, "migrate", "--noinput", "-v0")
        run_django(url, "load_territory")
        loaded = _child(url, "load", Path(tmp) / "load.json", "--donors", str(args.donors), "--gifts", str(args.gifts))
        result = _child(url, "run", Path(tmp) / "run.json")
        sample = [
            (i, i % 500, YEAR, 1, "Nome Cognome", "RSSMRA80A01A944X", 4000, 0, 4000, 4000, 1040, 2600, 3000, 3000000)
            for i in range(max(result["statements"], 10_000))
        ]
        c_copy = ceiling_copy(url, sample)
    return report(args, loaded, result, c_copy, time.monotonic() - started)


def _child(url: str, step: str, path: Path, *extra: str) -> dict[str, Any]:
    return run_child(
        "benchmarks.tax_statements",
        url,
        step,
        path,
        *extra,
        env=django_env(url, EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend"),
    )


# --- children (Django) ----------------------------------------------------------------------------


def _setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()


def child_load(args: argparse.Namespace) -> int:
    """Persons, their emails and their gifts of the year, in bulk; then ANALYZE."""
    _setup_django()
    import datetime as dt
    import random
    import secrets

    from django.db import connection
    from django.utils import timezone

    from piazza.funding.models import Campaign, Donation, DonationStatus
    from piazza.people.models import Email, Person
    from piazza.territory.models import Comune, Level, Territory

    rng = random.Random(13)
    started = time.monotonic()
    comune = Comune.objects.filter(name="Bologna").first() or Comune.objects.first()
    national = Territory.objects.get(level=Level.NATIONAL)
    regions = list(Territory.objects.filter(level=Level.REGION)[:20])
    federations = list(Territory.objects.filter(level=Level.FEDERATION)[:100])
    receivers = [national, *regions, *federations]
    deadline = timezone.now() + dt.timedelta(days=365)
    campaigns = Campaign.objects.bulk_create(
        [
            Campaign(
                territory=t,
                slug=f"bench-{t.pk}",
                title=f"Raccolta {t.name}"[:140],
                summary="Benchmark",
                goal_cents=1_000_000,
                deadline=deadline,
            )
            for t in receivers
        ]
    )
    year_start = dt.datetime(YEAR, 1, 1, 9, tzinfo=dt.UTC)
    people: list[Person] = []
    batch = 5_000
    gifts = 0
    for start in range(0, args.donors, batch):
        size = min(batch, args.donors - start)
        people = Person.objects.bulk_create(
            [Person(first_name=f"Nome{start + i}", last_name="Donatore", territory=national) for i in range(size)]
        )
        Email.objects.bulk_create([Email(person=p, value=f"donatore{p.pk}@example.org", primary=True) for p in people])
        donations = []
        for p in people:
            for _ in range(max(1, int(rng.expovariate(1 / args.gifts)))):
                amount = int(min(100_000_00, max(5_00, rng.lognormvariate(3.2, 1.0) * 100)))
                donations.append(
                    Donation(
                        campaign=rng.choice(campaigns),
                        person=p,
                        amount_cents=amount,
                        status=DonationStatus.SUCCEEDED,
                        first_name=p.first_name,
                        last_name=p.last_name,
                        codice_fiscale="",
                        email=f"donatore{p.pk}@example.org",
                        address="Via Zamboni 1",
                        postal_code="40126",
                        comune=comune,
                        attestation_version="2026-01",
                        idempotency_key=secrets.token_hex(16),
                        manage_token=secrets.token_urlsafe(24),
                        succeeded_at=year_start + dt.timedelta(minutes=rng.randrange(0, 300 * 24 * 60)),
                    )
                )
        Donation.objects.bulk_create(donations, batch_size=5_000)
        gifts += len(donations)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")  # autovacuum is off here: give the planner real statistics
    Path(args.file).write_text(
        json.dumps({"donors": args.donors, "gifts": gifts, "seconds": time.monotonic() - started})
    )
    return 0


def child_run(args: argparse.Namespace) -> int:
    """The generation as the back office starts it, tasks inline; then the idempotent rerun."""
    _setup_django()
    from django.contrib.auth import get_user_model
    from django.core import mail

    from piazza.compliance.models import TaxStatement, TaxStatementRun, TaxStatementRunStatus
    from piazza.compliance.tax_statements.actions.runs import start_tax_statements
    from piazza.territory.models import Level, Role, RoleAssignment, Territory

    national = Territory.objects.get(level=Level.NATIONAL)
    user = get_user_model().objects.create_user("bench.tesoreria", "tesoreria@example.org", "x")
    RoleAssignment.objects.create(user=user, territory=national, role=Role.TREASURY)
    mail.outbox = []

    started = time.monotonic()
    first = start_tax_statements(actor=user, year=YEAR)
    first_seconds = time.monotonic() - started
    first.refresh_from_db()
    emails = len(mail.outbox)

    started = time.monotonic()
    second = start_tax_statements(actor=user, year=YEAR)
    second_seconds = time.monotonic() - started
    second.refresh_from_db()

    statements = TaxStatement.objects.filter(year=YEAR).count()
    problems = []
    if first.status != TaxStatementRunStatus.DONE or second.status != TaxStatementRunStatus.DONE:
        problems.append(f"runs ended {first.status}/{second.status}: {first.errors or second.errors}")
    if first.created != statements:
        problems.append(f"first run wrote {first.created}, table holds {statements}")
    if second.created or len(mail.outbox) != emails:
        problems.append(f"rerun wrote {second.created} statements and sent {len(mail.outbox) - emails} emails")
    if TaxStatementRun.objects.count() != 2:
        problems.append("expected two runs")
    Path(args.file).write_text(
        json.dumps(
            {
                "statements": statements,
                "donors": first.total,
                "first_seconds": first_seconds,
                "second_seconds": second_seconds,
                "emails": emails,
                "unchanged": second.unchanged,
                "problems": problems,
            }
        )
    )
    return 0


# --- report ---------------------------------------------------------------------------------------


def report(args: argparse.Namespace, loaded: dict[str, Any], result: dict[str, Any], c_copy: float, wall: float) -> int:
    rate = result["statements"] / result["first_seconds"]
    rerun_rate = result["statements"] / result["second_seconds"]
    projected = GOAL_STATEMENTS / rate
    ok = rate >= GOAL_RATE and not result["problems"]
    rows = [
        ("donors loaded", f"{loaded['donors']:,}"),
        ("gifts loaded", f"{loaded['gifts']:,}"),
        ("statements written", f"{result['statements']:,}"),
        ("first run", f"{result['first_seconds']:.1f} s"),
        ("statements/s (first run)", f"{rate:,.0f}"),
        ("donors/s (first run)", f"{result['donors'] / result['first_seconds']:,.0f}"),
        ("projected time for 300,000", f"{projected / 60:.1f} min (goal <= 60 min)"),
        ("rerun, nothing changed", f"{result['second_seconds']:.1f} s ({rerun_rate:,.0f} statements/s checked)"),
        ("emails queued (first run / rerun)", f"{result['emails']:,} / 0"),
        ("C_copy (rows/s)", f"{c_copy:,.0f}"),
        ("statements/s / C_copy", f"{rate / c_copy:.1%}"),
    ]
    table = "\n".join(f"| {k} | {v} |" for k, v in rows)
    verdict = "met" if ok else "NOT met"
    markdown = f"""## Annual tax statements (issue 13, rules F7/F8)

`python -m benchmarks.tax_statements --donors {args.donors} --gifts {args.gifts}`: one process, tasks
inline (plan, chunk tasks of 1,000 donors, email batches), PostgreSQL, after ANALYZE.
Goal: 300,000 statements in at most an hour (>= {GOAL_RATE:.0f}/s): **{verdict}**.
Whole benchmark {wall / 60:.1f} min.

| measure | value |
|---|---|
{table}
"""
    if result["problems"]:
        markdown += "\nProblems: " + "; ".join(result["problems"]) + "\n"
    print(markdown)
    write_section("tax-statements", markdown)
    return 0 if not result["problems"] else 1


if __name__ == "__main__":
    sys.exit(main())
