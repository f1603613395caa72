"""Membership deadline surge (PERFORMANCE.md P8) over loopback HTTP, PostgreSQL, gunicorn.

    python -m benchmarks.membership [--joins 10000] [--rate 16.7] [--seconds 20] [--keep]

Goal P8: 10,000 joins with payment in 10 minutes (an arrival rate of 16.7 joins/s), zero
errors, public pages still answering; and (issue 14) saturation at least 3 × that rate (50 joins/s).

The parent creates the scratch database `bench_membership_<pid>`, migrates it, loads the ISTAT
tree, and has a Django child process open the membership year (fee schedule), add 20 circoli
covering Bologna and prepare `--joins` applicants with valid codici fiscali. It then starts
gunicorn with 2 × cores sync workers on a free loopback port (this module's WSGI entry
`application`) and drives it with an asyncio httpx client. One join is what a person does on
the deadline night: the application form POST (`/tesseramento/iscriviti/`: eligibility, codice
fiscale, duplicate check, fee, person, Albo) and the payment page POST with the sandbox card
(charge, M8 ledger booking, card number, digital card: effective at once, rule M13).

Phases, every one bounded in count and time:

- C_view: the ceiling, a bare Django view doing one INSERT (served by this module's WSGI entry
  only, never by piazza's URLs), saturated by the same client; C_insert from `benchmarks.common`.
- Saturation: `--seconds` of joins from CONCURRENCY clients back to back: the most joins/s.
- Surge: the open model of P8: joins arrive at `--rate` per second (latency measured from the
  scheduled arrival, so no coordinated omission) until `--joins` have arrived, at most
  4 × CONCURRENCY in flight (an arrival beyond that is an error, not an unbounded queue),
  while a probe loads the public join page every 0.5 s and times it.

A child process then checks integrity: one effective membership and one succeeded payment per
completed join, card numbers unique, no second membership per person and year, `check_ledger`
clean. Any loss, duplicate or ledger violation exits 1. Figures go to `docs/benchmarks.md`
(section "membership").
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from benchmarks.common import (
    Phase,
    ceiling_insert,
    closed_loop,
    django_env,
    free_port,
    run_child,
    run_django,
    sandbox_env,
    scratch_database,
    start_gunicorn,
    stop_server,
    summary,
    write_section,
)

GOAL_JOINS = 10_000
GOAL_SECONDS = 600
GOAL_RATE = GOAL_JOINS / GOAL_SECONDS
# Issue 14: saturation at least three times the surge's rate, so the surge leaves room for the rest.
GOAL_SATURATION = 3 * GOAL_RATE
CONCURRENCY = 16  # in-flight joins of the saturating client (bounded)
CARD = {"card_number": "4242424242424242", "expiry": "12/39", "cvc": "123"}
CEILING_PATH = "/_bench/membership/insert/"
JOIN_PATH = "/tesseramento/iscriviti/?comune=Bologna"


# --- the WSGI entry of the benchmark server -------------------------------------------------------

_django_app: Any = None


def application(environ: dict[str, Any], start_response: Any) -> Any:
    """gunicorn `benchmarks.membership:application`: piazza, plus the C_view ceiling path."""
    global _django_app
    if _django_app is None:
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
        from django.core.wsgi import get_wsgi_application

        _django_app = get_wsgi_application()
    if environ.get("PATH_INFO") == CEILING_PATH:
        return _ceiling_view(environ, start_response)
    return _django_app(environ, start_response)


def _ceiling_view(environ: dict[str, Any], start_response: Any) -> Any:
    """C_view: the same server and workers, a Django request object, one INSERT, one commit."""
    from django.core.handlers.wsgi import WSGIRequest
    from django.db import connection, transaction

    request = WSGIRequest(environ)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("INSERT INTO bench_view_insert (at, note) VALUES (now(), %s)", [request.path])
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
    return [b"ok"]


# --- parent ---------------------------------------------------------------------------------------


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="benchmarks.membership", description=__doc__.splitlines()[0])
    parser.add_argument("--joins", type=int, default=GOAL_JOINS, help="joins arriving in the surge (default 10,000)")
    parser.add_argument("--rate", type=float, default=GOAL_RATE, help="arrival rate of the surge, joins/s")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of the saturation and ceiling phases")
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    parser.add_argument("--child", choices=["setup", "verify"], help=argparse.SUPPRESS)
    parser.add_argument("--file", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv if argv is not None else sys.argv[1:] if __name__ == "__main__" else [])
    if args.child == "setup":
        return child_setup(args)
    if args.child == "verify":
        return child_verify(args)
    workers = 2 * (os.cpu_count() or 1)
    name = f"bench_membership_{os.getpid()}"
    started = time.monotonic()
    with scratch_database(name, keep=args.keep) as url, tempfile.TemporaryDirectory() as tmp:
        run_django(url, "migrate", "--noinput", "-v0")
        run_django(url, "load_territory")
        # Applicants for the saturation phase too (it runs about rate × seconds × 2 joins at most).
        spare = int(max(args.rate, 10) * args.seconds * 3) + 200
        setup_file = Path(tmp) / "setup.json"
        _child(url, "setup", setup_file, "--joins", str(args.joins + spare))
        setup = json.loads(setup_file.read_text())
        import psycopg

        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE TABLE bench_view_insert (id bigserial PRIMARY KEY, at timestamptz, note text)")
        c_insert = ceiling_insert(url, clients=workers, seconds=3.0)
        port = free_port()
        # The public forms' per-client limits (issue 10) would take one loopback client for an attack.
        server = start_gunicorn(
            "benchmarks.membership:application",
            url,
            port,
            workers,
            PUBLIC_FORM_THROTTLE_PER_IP="100000000",
            PUBLIC_FORM_THROTTLE_PER_CODE="100000000",
            **sandbox_env(),
        )
        try:
            results = asyncio.run(load(f"http://127.0.0.1:{port}", url, setup, args))
        finally:
            stop_server(server)
        results_file = Path(tmp) / "results.json"
        results_file.write_text(json.dumps({"completed": results["completed"]}))
        verify = _child(url, "verify", results_file)
    return report(args, workers, results, verify, c_insert, time.monotonic() - started)


def _child(url: str, step: str, path: Path, *extra: str) -> dict[str, Any]:
    return run_child("benchmarks.membership", url, step, path, *extra, env=django_env(url, **sandbox_env()))


# --- the load -------------------------------------------------------------------------------------


class Joiner:
    """One paid join as the site runs it: the application form POST (which answers "check your mail"
    and e-mails the applicant the link to the payment, rule G1), then the payment page POST with the
    sandbox card. The e-mail is not read (the server drops it): the link's payment is found in the
    database by the membership's creation key, which is what following the link amounts to. Each
    applicant is used once."""

    def __init__(self, client: Any, setup: dict[str, Any], url: str) -> None:
        self.client, self.url = client, url
        self.csrf = setup["csrf"]
        self.applicants = setup["applicants"]
        self.next = 0
        self.completed: list[str] = []
        self._connection: Any = None
        self._lock = threading.Lock()

    def _payment_token(self, code: str) -> str:
        import psycopg

        with self._lock:  # one connection for the whole run: the lookup must not load the server under test
            if self._connection is None:
                self._connection = psycopg.connect(self.url, autocommit=True)
            row = self._connection.execute(
                "SELECT p.token FROM payments_payment p"
                " JOIN membership_membership m ON p.creation_key = 'membership:' || m.id"
                " JOIN people_person pe ON pe.id = m.person_id WHERE pe.codice_fiscale = %s",
                [code],
            ).fetchone()
        if row is None:
            raise RuntimeError("the application has no payment")
        return str(row[0])

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()

    async def join(self) -> None:
        if self.next >= len(self.applicants):
            raise RuntimeError("no applicant left")
        applicant = self.applicants[self.next]
        self.next += 1
        response = await self.client.post(JOIN_PATH, data={"csrfmiddlewaretoken": self.csrf, **applicant})
        if response.status_code != 302 or "/iscriviti/inviata/" not in response.headers.get("location", ""):
            raise RuntimeError(f"join form answered {response.status_code}: {_error_of(response.text)}")
        token = await asyncio.to_thread(self._payment_token, applicant["codice_fiscale"])
        paid = await self.client.post(
            f"/pagamenti/{token}/",
            data={"csrfmiddlewaretoken": self.csrf, "idempotency_key": os.urandom(12).hex(), **CARD},
        )
        if paid.status_code != 302 or "/tesseramento/iscrizione/" not in paid.headers.get("location", ""):
            raise RuntimeError(f"payment page answered {paid.status_code}: {_error_of(paid.text)}")
        self.completed.append(applicant["codice_fiscale"])


def _error_of(text: str) -> str:
    """The form's error messages, else the page title: plain text, safe in a Markdown table."""
    found = re.findall(r'class="errorlist"[^>]*>(.*?)</', text, re.S)
    if not found:
        found = re.findall(r"<title>(.*?)</title>", text, re.S) or [text[:120]]
    plain = " / ".join(re.sub(r"<[^>]+>", " ", f) for f in found)
    return " ".join(plain.replace("|", "/").split())[:200]


async def open_model(name: str, rate: float, count: int, job: Any) -> Phase:
    """`count` arrivals at a fixed `rate`; latency from the scheduled arrival; at most
    4 × CONCURRENCY in flight (later arrivals are errors rather than an unbounded queue)."""
    phase = Phase(name)
    in_flight: set[asyncio.Task[None]] = set()
    start = time.perf_counter()

    async def one(scheduled: float) -> None:
        try:
            await job()
        except Exception as exc:
            phase.errors.append(f"{type(exc).__name__}: {exc}"[:300])
        else:
            phase.done += 1
            phase.latencies.append(time.perf_counter() - scheduled)

    for i in range(count):
        scheduled = start + i / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        phase.offered += 1
        if len(in_flight) >= 4 * CONCURRENCY:
            phase.errors.append("overloaded: arrival dropped")
            continue
        task = asyncio.create_task(one(scheduled))
        in_flight.add(task)
        task.add_done_callback(in_flight.discard)
    if in_flight:
        await asyncio.wait(in_flight, timeout=120)
    phase.seconds = time.perf_counter() - start
    return phase


async def probe(client: Any, stop: asyncio.Event, phase: Phase) -> None:
    """The public join page (step two, with the circoli of Bologna and the fee) every 0.5 s."""
    while not stop.is_set():
        started = time.perf_counter()
        phase.offered += 1
        try:
            response = await client.get(JOIN_PATH)
            if response.status_code != 200:
                raise RuntimeError(f"join page answered {response.status_code}")
        except Exception as exc:
            phase.errors.append(f"{type(exc).__name__}: {exc}"[:200])
        else:
            phase.done += 1
            phase.latencies.append(time.perf_counter() - started)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=0.5)


async def load(base: str, url: str, setup: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    import httpx

    limits = httpx.Limits(max_connections=CONCURRENCY * 8, max_keepalive_connections=CONCURRENCY * 8)
    async with (
        httpx.AsyncClient(
            base_url=base, limits=limits, timeout=60, follow_redirects=False, cookies={"csrftoken": setup["csrf"]}
        ) as client,
        httpx.AsyncClient(base_url=base, timeout=60) as probe_client,
    ):
        joiner = Joiner(client, setup, url)

        async def ceiling() -> None:
            response = await client.post(CEILING_PATH)
            if response.status_code != 200:
                raise RuntimeError(f"ceiling view answered {response.status_code}")

        await closed_loop("warm-up", 3.0, joiner.join, 4)
        c_view = await closed_loop("C_view", min(args.seconds, 8.0), ceiling, CONCURRENCY)
        saturation = await closed_loop("saturation", args.seconds, joiner.join, CONCURRENCY)
        stop = asyncio.Event()
        probe_phase = Phase("public join page during the surge")
        prober = asyncio.create_task(probe(probe_client, stop, probe_phase))
        surge = await open_model("surge", args.rate, args.joins, joiner.join)
        stop.set()
        await prober
        joiner.close()
    return {"phases": [c_view, saturation, surge, probe_phase], "completed": joiner.completed}


# --- children (Django pointed at the scratch database) -------------------------------------------


def _django() -> None:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    django.setup()


def child_setup(args: argparse.Namespace) -> int:
    """The membership year open, 20 circoli covering Bologna, applicants with valid codici fiscali."""
    _django()
    import datetime as dt

    from django.middleware.csrf import _get_new_csrf_string  # type: ignore[attr-defined]
    from django.utils import timezone
    from faker import Faker

    from piazza.membership.forms import JoinForm
    from piazza.membership.models import FeeSchedule, MembershipRules
    from piazza.people.actions.notices import ensure_default_notices
    from piazza.people.codice_fiscale import make_codice_fiscale
    from piazza.people.notices import current_version
    from piazza.territory.models import Comune, Kind, Level, Territory

    year = timezone.localdate().year
    FeeSchedule.objects.create(
        year=year,
        base_fee_cents=1500,
        national_surcharge_cents=500,
        regional_deadline=dt.date(year, 1, 10),
        opens_at=timezone.now() - dt.timedelta(days=1),
    )
    bologna = Territory.objects.get(level=Level.FEDERATION, code="037")
    # Every simulated member pays with the one sandbox test card; rule M24 (at most 3 memberships a
    # year per card, a federation parameter) would refuse the fourth: the federation raises its limit.
    MembershipRules.objects.update_or_create(territory=bologna, defaults={"max_per_instrument": 30_000})
    # The join form posts back the privacy notice it showed (GDPR art. 13), as a browser does.
    ensure_default_notices()
    notice = current_version(JoinForm.notice_key, "it")
    comune = Comune.objects.get(istat_code="037006")
    circoli = []
    for i in range(20):
        node = Territory(parent=bologna, level=Level.CIRCOLO, kind=Kind.TERRITORIAL, name=f"Circolo bench {i:02d}")
        node.save()
        node.comuni.set([comune])
        circoli.append(node.pk)
    fake = Faker("it_IT")
    fake.seed_instance(8)
    applicants: list[dict[str, str]] = []
    seen: set[str] = set()
    n = 0
    while len(applicants) < args.joins:
        n += 1
        birth = dt.date(1940, 1, 1) + dt.timedelta(days=(n * 7919) % 25_000)
        sex = "F" if n % 2 else "M"
        first = fake.first_name_female() if sex == "F" else fake.first_name_male()
        last = fake.last_name()
        code = make_codice_fiscale(
            first_name=first, last_name=last, sex=sex, birth_date=birth, belfiore=comune.belfiore
        )
        if code in seen:  # one person, one membership a year: the generator must not repeat people
            continue
        seen.add(code)
        applicants.append(
            {
                "first_name": first,
                "last_name": last,
                "sex": sex,
                "birth_date": birth.isoformat(),
                "birth_place": "Bologna",
                "codice_fiscale": code,
                "citizenship": "italian",
                "residence_street": f"Via Indipendenza {n}",
                "residence_cap": "40121",
                "email": f"m{n}@example.org",
                "phone": "",
                "circolo": str(circoli[n % len(circoli)]),
                "member_of_other_party": "no",
                "declarations_accepted": "on",
                "art9_authorised": "on",
                "notice_version": str(notice.pk) if notice is not None else "",
            }
        )
    Path(args.file).write_text(json.dumps({"csrf": _get_new_csrf_string(), "applicants": applicants, "year": year}))
    return 0


def child_verify(args: argparse.Namespace) -> int:
    """No join lost or doubled: memberships, card numbers, payments and the ledger agree."""
    _django()
    from django.db.models import Count
    from django.utils import timezone

    from piazza.ledger.checks import run_checks
    from piazza.membership.models import Membership, Status
    from piazza.payments.models import Payment
    from piazza.payments.models import State as PaymentState

    completed = json.loads(Path(args.file).read_text())["completed"]
    year = timezone.localdate().year
    memberships = Membership.objects.filter(year=year)
    effective = set(memberships.filter(status=Status.EFFECTIVE).values_list("person__codice_fiscale", flat=True))
    problems = []
    lost = [code for code in completed if code not in effective]
    if lost:
        problems.append(f"{len(lost)} completed joins without an effective membership (e.g. {lost[:3]})")
    cards = memberships.exclude(card_number="").values("card_number").distinct().count()
    with_card = memberships.exclude(card_number="").count()
    if cards != with_card:
        problems.append(f"{with_card - cards} card numbers given twice")
    doubled = (
        memberships.filter(status__in=[Status.APPLIED, Status.PAID, Status.EFFECTIVE])
        .values("person_id")
        .annotate(n=Count("pk"))
        .filter(n__gt=1)
        .count()
    )
    if doubled:
        problems.append(f"{doubled} people with two memberships in {year}")
    succeeded = Payment.objects.filter(state=PaymentState.SUCCEEDED).count()
    paid = memberships.filter(status__in=[Status.PAID, Status.EFFECTIVE]).count()
    if succeeded != paid:
        problems.append(f"{succeeded} succeeded payments for {paid} paid memberships")
    violations = run_checks()
    if violations:
        problems.append(f"ledger: {[str(v) for v in violations[:3]]}")
    Path(args.file).write_text(
        json.dumps(
            {
                "effective": len(effective),
                "paid": paid,
                "applied_unpaid": memberships.filter(status=Status.APPLIED).count(),
                "problems": problems,
            }
        )
    )
    return 0


# --- report ---------------------------------------------------------------------------------------


def report(
    args: argparse.Namespace,
    workers: int,
    results: dict[str, Any],
    verify: dict[str, Any],
    c_insert: float,
    elapsed: float,
) -> int:
    c_view, saturation, surge, probe_phase = results["phases"]

    def lat(phase: Phase) -> str:
        return summary(phase.latencies).ms() if phase.latencies else "n/a"

    def errs(phase: Phase) -> str:
        if not phase.errors:
            return "0"
        kinds: dict[str, int] = {}
        for error in phase.errors:
            kinds[error[:90]] = kinds.get(error[:90], 0) + 1
        return f"{len(phase.errors)} ({'; '.join(f'{n}× {k}' for k, n in sorted(kinds.items())[:3])})"

    met_rate = surge.done == args.joins and not surge.errors and surge.seconds <= args.joins / args.rate * 1.05
    projected = GOAL_JOINS / saturation.rate / 60 if saturation.rate else float("inf")
    lines = [
        f"Loopback HTTP against gunicorn ({workers} sync workers = 2 × cores), PostgreSQL, sandbox card provider, "
        f"asyncio httpx client in a second process. One join = the application form POST + the payment page POST. "
        f"Whole run {elapsed / 60:.1f} min.",
        "",
        "| figure | value | goal | verdict |",
        "|---|---|---|---|",
        f"| surge: {surge.offered:,} joins arriving at {args.rate:.1f}/s (open model, ≤ {4 * CONCURRENCY} in flight) "
        f"| {surge.done:,} completed in {surge.seconds:.0f} s ({surge.rate:.1f}/s), errors {errs(surge)} "
        f"| {args.joins:,} in {args.joins / args.rate:.0f} s, 0 errors | {'met' if met_rate else '**missed**'} |",
        f"| surge latency from scheduled arrival | {lat(surge)} | — | — |",
        f"| public join page during the surge | {lat(probe_phase)}, errors {errs(probe_phase)} | answering "
        f"| {'met' if probe_phase.done and not probe_phase.errors else '**missed**'} |",
        f"| saturation ({CONCURRENCY} clients back to back, {saturation.seconds:.0f} s) "
        f"| {saturation.rate:.1f} joins/s, "
        f"errors {errs(saturation)}; 10,000 would take {projected:.1f} min | ≥ {GOAL_SATURATION:.0f}/s (3 × the surge) "
        f"| {'met' if saturation.rate >= GOAL_SATURATION else '**missed**'} |",
        f"| saturation latency per join | {lat(saturation)} | — | — |",
        f"| C_view (bare Django view, one INSERT, same server) | {c_view.rate:.0f} requests/s, errors {errs(c_view)} "
        f"| ceiling | — |",
        f"| C_insert ({workers} clients, psycopg) | {c_insert:.0f} commits/s | ceiling | — |",
        f"| ratio joins/s ÷ C_view (a join is 2 requests) | {saturation.rate / c_view.rate:.3f} | — | — |"
        if c_view.rate
        else "| ratio | n/a | — | — |",
        f"| integrity | {verify['effective']:,} effective memberships, {verify['paid']:,} paid, "
        f"{verify['applied_unpaid']} applied and unpaid (joins cut short by an error); "
        f"{'; '.join(verify['problems']) or 'no join lost or doubled, card numbers unique, ledger clean'} "
        f"| no loss, no duplicate | {'met' if not verify['problems'] else '**FAILED**'} |",
    ]
    if args.joins < GOAL_JOINS:
        lines += ["", f"Run size: {args.joins:,} arrivals in the surge (smaller than the 10,000 of the goal)."]
    table = "\n".join(lines)
    print(table)
    write_section("membership", "## Membership deadline surge (P8)\n\n" + table + "\n\n" + STATEMENTS)
    return 0 if not verify["problems"] else 1


STATEMENTS = "\n".join(
    [
        "Where a join's statements go (PostgreSQL, counted as the donation path is: every statement of the "
        "join form's POST and the payment page's POST, BEGIN/COMMIT and savepoints included, tasks queued in "
        "the database; pinned by `piazza/membership/tests/test_join_path_budget.py`, the steps alone by "
        "`test_performance.py`). Before issue 14's P8 pass 44 + 50 = 94 statements in 5 transactions and the "
        "sandbox's row; after it (ADR 0042) 34 + 41 = 75 in 4; after ADR 0050 31 + 41 = 72 in 4.",
        "",
        "| request: part | before | after | what changed |",
        "|---|---|---|---|",
        "| join POST: page and form (comune, circolo options, federation, notice posted, birth comune) | 5 | 4 "
        "| the birth comune is the residence comune already read |",
        "| join POST: application checks (fee year, rules, circolo covers the comune, duplicate, surcharge) "
        "| 5 | 5 | — |",
        "| join POST: application transaction (people 8: savepoint pair, candidates, INSERT person and "
        "e-mail, timeline, chain head, audit; membership, Albo, notice, audit) "
        "| 17 | 13 | the person's and the application's audit entries in one INSERT; the new person's "
        "e-mails, phones and tags not read back (ADR 0050, −3) |",
        "| join POST: payment (e-mails, fee shares' territories, provider choice, key look-up, BEGIN, 3 "
        "INSERTs, head, audit, COMMIT) | 12 | 8 | provider without the bank rails' 2 reads; no key look-up "
        "(the membership is new); with the link in one transaction |",
        "| join POST: application link (e-mails, BEGIN, head, audit, COMMIT) | 5 | 0 | e-mails read once; "
        "its entry in the payment's INSERT |",
        "| payment POST: payment by token (payments) | 1 | 1 | — |",
        "| payment POST: M24 before the charge (payable, circolo, rules, count) | 4 | 3 | rules from the "
        "circolo's id (`rules_at`) |",
        "| payment POST: attempt transaction (payments) and the sandbox's row | 10 | 10 | — |",
        "| payment POST: outcome, payments and ledger (BEGIN, lock, attempt, payment, event, head, "
        "allocations, ledger batch) | 8 | 8 | — |",
        "| payment POST: payable read for the handler | 1 | 0 | `reads_payable_itself` |",
        "| payment POST: membership handler | 22 | 15 | no savepoint (−2); card block and shared instrument "
        "with the locked read (−2); receipt lines from that row, its person, no look-up of receipts issued "
        "(−3) |",
        "| payment POST: two task rows, audit INSERT, COMMIT | 4 | 4 | — |",
        "",
        "The handler's 15: lock, F6 donor lock and total (2), rules, card number UPDATE in its savepoint (3), "
        "voting circolo, timeline, fee shares' territories, issuing territories, 2 × (counter UPDATE … "
        "RETURNING, receipt INSERT). Left to other apps: the issuing territories are the ones "
        "the fee's shares just read (compliance, 1), the payable is read before the charge (payments, 1).",
    ]
)


if __name__ == "__main__":
    sys.exit(main())
