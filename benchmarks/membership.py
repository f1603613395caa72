"""Membership deadline surge (PERFORMANCE.md P8) on PostgreSQL, in a scratch database.

    python -m benchmarks.membership [--joins 10000] [--threads 8] [--keep]

Goal P8: 10,000 joins with payment in 10 minutes (≥ 16.7 joins/s), zero errors, public pages
still answering. The parent creates `bench_membership_<pid>`, migrates it and loads the ISTAT
tree; a child process with Django pointed at it runs `--joins` complete joins — the application
(`apply_for_membership`: eligibility, codice fiscale, duplicate check, fee), the payment
(`start_online_payment` with the M8 allocations, then the sandbox card through
`payments.actions.pay`), the card number and the digital card (effective, rule M13) — from
`--threads` threads at once, while a probe thread keeps loading the public join page and times
it. The parent measures C_insert with the same number of clients and writes the figures to
`docs/benchmarks.md` (section "membership").

It is an in-process load (Django's stack below the HTTP server), not loopback HTTP: it measures
the database and application work of a join, which is what overwhelmed the 2023 platform.
A run that loses a join, pays twice, assigns a card number twice or leaves the ledger
unbalanced exits 1.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time

from benchmarks.common import ceiling_insert, django_env, run_django, scratch_database, summary, write_section

GOAL_JOINS = 10_000
GOAL_SECONDS = 600


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="benchmarks.membership", description=__doc__.splitlines()[0])
    parser.add_argument("--joins", type=int, default=GOAL_JOINS, help="joins with payment (default 10,000)")
    parser.add_argument("--threads", type=int, default=8, help="concurrent joiners")
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv if argv is not None else sys.argv[1:] if __name__ == "__main__" else [])
    if args.child:
        return child(args)
    name = f"bench_membership_{os.getpid()}"
    with scratch_database(name, keep=args.keep) as url:
        run_django(url, "migrate", "--noinput", "-v0")
        run_django(url, "load_territory")
        c_insert = ceiling_insert(url, clients=args.threads, seconds=3.0)
        out = subprocess.run(
            [sys.executable, "-m", "benchmarks.membership", "--child", "--joins", str(args.joins),
             "--threads", str(args.threads)],
            env=django_env(url), capture_output=True, text=True, check=False)
    if out.returncode != 0:
        print(out.stdout[-3000:], out.stderr[-3000:])
        return 1
    result = json.loads(out.stdout.strip().splitlines()[-1])
    rate = result["joins"] / result["seconds"]
    projected = GOAL_JOINS / rate if rate else float("inf")
    lines = [
        "| figure | value |", "|---|---|",
        f"| joins with payment | {result['joins']} ({args.threads} threads), errors {result['errors']} |",
        f"| throughput | {rate:.1f} joins/s (goal ≥ {GOAL_JOINS / GOAL_SECONDS:.1f}/s) |",
        f"| projected time for 10,000 | {projected / 60:.1f} min (goal ≤ 10 min): "
        f"{'met' if projected <= GOAL_SECONDS and not result['errors'] else 'NOT met'} |",
        f"| per join | {result['join_latency']} |",
        f"| public join page during the surge | {result['probe']} ({result['probe_errors']} errors) |",
        f"| C_insert ({args.threads} clients) | {c_insert:.0f} commits/s |",
        f"| ratio joins/s ÷ C_insert | {rate / c_insert:.3f} |",
        f"| integrity | {result['integrity']} |",
        f"| error samples | {'; '.join(result['error_samples']) or '—'} |",
        "",
        "In-process load (application and database below the HTTP server), sandbox card provider. "
        f"Run size: {result['joins']} joins" + (" (smaller than the 10,000 of the goal; the rate is projected)."
                                                 if result["joins"] < GOAL_JOINS else "."),
    ]
    table = "\n".join(lines)
    print(table)
    write_section("membership", "## Membership deadline surge (P8)\n\n" + table)
    return 0 if result["integrity"] == "ok" and not result["errors"] else 1


def child(args: argparse.Namespace) -> int:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    django.setup()
    import datetime as dt

    from django.db import connection
    from django.test import Client
    from django.utils import timezone

    from piazza.ledger.checks import run_checks
    from piazza.membership import actions
    from piazza.membership.models import FeeSchedule, Membership, Status
    from piazza.membership.payments import start_online_payment
    from piazza.payments.actions import pay
    from piazza.people.codice_fiscale import make_codice_fiscale
    from piazza.territory.models import Comune, Kind, Level, Territory

    year = timezone.localdate().year
    FeeSchedule.objects.create(year=year, base_fee_cents=1500, national_surcharge_cents=500,
                               regional_deadline=dt.date(year, 1, 10), opens_at=timezone.now() - dt.timedelta(days=1))
    bologna = Territory.objects.get(level=Level.FEDERATION, code="037")
    comune = Comune.objects.get(istat_code="037006")
    circoli = []
    for i in range(20):
        node = Territory(parent=bologna, level=Level.CIRCOLO, kind=Kind.TERRITORIAL, name=f"Circolo bench {i}")
        node.save()
        node.comuni.set([comune])
        circoli.append(node)
    from faker import Faker

    fake = Faker("it_IT")
    fake.seed_instance(8)
    items: list[actions.JoinData] = []
    for n in range(args.joins):
        birth = dt.date(1940, 1, 1) + dt.timedelta(days=(n * 7919) % 25_000)
        sex = "F" if n % 2 else "M"
        first = fake.first_name_female() if sex == "F" else fake.first_name_male()
        last = fake.last_name()
        items.append(actions.JoinData(
            first_name=first, last_name=last, birth_date=birth, sex=sex, birth_comune=comune,
            codice_fiscale=make_codice_fiscale(first_name=first, last_name=last, sex=sex,
                                               birth_date=birth, belfiore=comune.belfiore),
            residence_street=f"Via Indipendenza {n}", residence_comune=comune, email=f"m{n}@example.org",
            declarations_accepted=True, art9_authorised=True))
    connection.close()
    lock = threading.Lock()
    cursor = {"next": 0}
    errors: list[str] = []
    latencies: list[float] = []
    done = threading.Event()

    def worker() -> None:
        from django.db import connection as conn

        while True:
            with lock:
                index = cursor["next"]
                cursor["next"] += 1
            if index >= len(items):
                break
            started = time.perf_counter()
            try:
                m = actions.apply_for_membership(actor=None, data=items[index], circolo=circoli[index % 20],
                                                 year=year)
                payment = start_online_payment(m, actor=None, provider="sandbox")
                pay(actor=None, payment=payment, client_key=f"bench-{index}",
                    data={"card_number": "4242424242424242", "expiry": "12/39", "cvc": "123"}, return_url="")
            except Exception as exc:  # counted and reported: P8 demands zero
                with lock:
                    errors.append(f"{type(exc).__name__}: {exc}"[:200])
            else:
                with lock:
                    latencies.append(time.perf_counter() - started)
        conn.close()

    probe_samples: list[float] = []
    probe_errors = [0]

    def probe() -> None:
        from django.db import connection as conn

        client = Client()
        while not done.is_set():
            started = time.perf_counter()
            response = client.get("/tesseramento/iscriviti/?comune=Bologna")
            probe_samples.append(time.perf_counter() - started)
            if response.status_code != 200:
                probe_errors[0] += 1
            time.sleep(0.2)
        conn.close()

    threads = [threading.Thread(target=worker) for _ in range(args.threads)]
    prober = threading.Thread(target=probe)
    started = time.monotonic()
    prober.start()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.monotonic() - started
    done.set()
    prober.join()

    effective = Membership.objects.filter(year=year, status=Status.EFFECTIVE).count()
    cards = Membership.objects.filter(year=year).exclude(card_number="").values("card_number").distinct().count()
    from piazza.payments.models import Payment

    payments = Payment.objects.filter(state="succeeded").count()
    violations = run_checks()
    problems = []
    if effective != args.joins - len(errors):
        problems.append(f"{effective} effective memberships for {args.joins - len(errors)} joins")
    if cards != effective:
        problems.append(f"{cards} distinct card numbers for {effective} memberships")
    if payments != effective:
        problems.append(f"{payments} succeeded payments for {effective} memberships")
    if violations:
        problems.append(f"ledger: {violations[:3]}")
    print(json.dumps({
        "joins": args.joins, "errors": len(errors), "error_samples": errors[:5], "seconds": seconds,
        "join_latency": summary(latencies).ms() if latencies else "n/a",
        "probe": summary(probe_samples).ms() if probe_samples else "n/a", "probe_errors": probe_errors[0],
        "integrity": "ok" if not problems else "; ".join(problems),
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
