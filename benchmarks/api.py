"""The OSDI API's read throughput (issue 16): the people list page, 100 per page, against C_view.

    python -m benchmarks.api [--seconds 8] [--people 3000] [--keep]

The parent creates the scratch database `bench_api_<pid>`, migrates it and loads the ISTAT tree; a
Django child process creates `--people` people (each with an email and a phone) in the Bologna
federation plus as many in Modena, and a federation key of Bologna (people:read) through the key
action. gunicorn with 2 × cores sync workers serves `benchmarks.donations.application` (the site
plus the benchmark-only C_view URL), driven by an asyncio httpx client:

- C_view: a bare Django view doing one INSERT, saturated by the same client for `--seconds`.
- People pages: `GET /api/v1/people?per_page=100&page=N` with the key, N cycling over every page:
  each answer is checked (100 people, or the remainder on the last page, all of Bologna). Each
  request is scoped, serialised and audited (one audit entry). Goal: ≥ 25% of C_view.

Any wrong page (a person of Modena, a short page) counts as an error and exits 1.
Figures go to `docs/benchmarks.md` (section "api"). Bounded: every phase stops by itself.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

from benchmarks.common import (
    Phase,
    closed_loop,
    django_env,
    free_port,
    run_child,
    run_django,
    scratch_database,
    start_gunicorn,
    stop_server,
    summary,
    write_section,
)

CONCURRENCY = 16
PER_PAGE = 100
GOAL = 0.25


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="benchmarks.api", description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8.0, help="length of each load phase")
    parser.add_argument("--people", type=int, default=3000, help="people in the key's federation")
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    parser.add_argument("--child", choices=["setup"], help=argparse.SUPPRESS)
    parser.add_argument("--file", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv if argv is not None else sys.argv[1:] if __name__ == "__main__" else [])
    if args.child == "setup":
        return child_setup(args)
    workers = 2 * (os.cpu_count() or 1)
    name = f"bench_api_{os.getpid()}"
    with scratch_database(name, keep=args.keep) as url, tempfile.TemporaryDirectory() as tmp:
        run_django(url, "migrate", "--noinput", "-v0")
        run_django(url, "load_territory")
        setup_file = Path(tmp) / "setup.json"
        setup = run_child("benchmarks.api", url, "setup", setup_file, "--people", str(args.people), env=django_env(url))
        import psycopg

        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE TABLE bench_view_insert (id bigserial PRIMARY KEY, at timestamptz, note text)")
        port = free_port()
        server = start_gunicorn(
            "benchmarks.donations:application",
            url,
            port,
            workers,
            API_RATE_PER_MINUTE="100000000",
            ALLOWED_HOSTS="127.0.0.1,localhost",
        )
        try:
            results = asyncio.run(load(f"http://127.0.0.1:{port}", setup, args.seconds))
        finally:
            stop_server(server)
    return report(args, workers, results, setup)


async def load(base: str, setup: dict[str, Any], seconds: float) -> dict[str, Any]:
    import httpx

    limits = httpx.Limits(max_connections=CONCURRENCY * 4, max_keepalive_connections=CONCURRENCY * 4)
    pages = max(1, -(-setup["inside"] // PER_PAGE))
    numbers = itertools.cycle(range(1, pages + 1))
    inside = set(setup["inside_ids"])
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=60) as client:

        async def ceiling() -> None:
            response = await client.post("/raccolte/_benchmark/insert/")  # benchmarks.urls.CEILING_PATH
            if response.status_code != 200:
                raise RuntimeError(f"ceiling view answered {response.status_code}")

        async def people_page() -> None:
            page = next(numbers)
            response = await client.get(
                f"/api/v1/people?per_page={PER_PAGE}&page={page}", headers={"OSDI-API-Token": setup["token"]}
            )
            if response.status_code != 200:
                raise RuntimeError(f"people page answered HTTP {response.status_code}")
            body = response.json()
            people = body["_embedded"]["osdi:people"]
            expected = PER_PAGE if page < pages else setup["inside"] - PER_PAGE * (pages - 1)
            ids = {int(p["identifiers"][0].rsplit("-", 1)[1]) for p in people}
            if len(people) != expected or not ids <= inside or body["total_records"] != setup["inside"]:
                raise RuntimeError(f"page {page}: {len(people)} people, {len(ids - inside)} outside the key's scope")

        await closed_loop("warm-up", 2.0, ceiling, CONCURRENCY)
        c_view = await closed_loop("C_view", seconds, ceiling, CONCURRENCY)
        await closed_loop("warm-up API", 2.0, people_page, CONCURRENCY)
        api = await closed_loop("people list, 100 per page", seconds, people_page, CONCURRENCY)
    return {"phases": [c_view, api]}


def child_setup(args: argparse.Namespace) -> int:
    """People in two federations and a Bologna key of a national administrator (read people)."""
    import datetime as dt

    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    django.setup()
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from piazza.api.actions import create_api_key
    from piazza.api.models import Permission
    from piazza.people.models import Email, Person, Phone
    from piazza.territory.models import Level, Role, RoleAssignment, Territory

    national = Territory.objects.get(level=Level.NATIONAL)
    bologna = Territory.objects.get(level=Level.FEDERATION, code="037")
    modena = Territory.objects.get(level=Level.FEDERATION, code="036")
    admin = get_user_model().objects.create_user(username="bench.api", password="bench-password-1")
    RoleAssignment.objects.create(user=admin, territory=national, role=Role.ADMINISTRATOR)
    for territory, tag in ((bologna, "bo"), (modena, "mo")):
        people = Person.objects.bulk_create(
            Person(first_name=f"Nome{n}", last_name=f"Cognome{tag}{n}", territory=territory) for n in range(args.people)
        )
        Email.objects.bulk_create(Email(person=p, value=f"{tag}{p.pk}@example.org", primary=True) for p in people)
        Phone.objects.bulk_create(Phone(person=p, value=f"+39333{p.pk:07d}", primary=True) for p in people)
    _, token = create_api_key(
        actor=admin,
        territory=bologna,
        name="bench",
        permissions=[Permission.READ_PEOPLE],
        expires_on=timezone.localdate() + dt.timedelta(days=2),
    )
    inside = list(Person.objects.filter(territory=bologna).values_list("pk", flat=True))
    Path(args.file).write_text(json.dumps({"token": token, "inside": len(inside), "inside_ids": inside}))
    return 0


def report(args: argparse.Namespace, workers: int, results: dict[str, Any], setup: dict[str, Any]) -> int:
    c_view, api = results["phases"]
    ratio = api.rate / c_view.rate if c_view.rate else 0.0
    load = os.getloadavg()

    def phase_row(p: Phase, unit: str) -> str:
        lat = summary(p.latencies).ms() if p.latencies else "—"
        return f"| {p.name} | {p.rate:.1f} {unit}/s ({p.done} in {p.seconds:.1f} s), errors {len(p.errors)} | {lat} |"

    lines = [
        "| phase | throughput | latency |",
        "|---|---|---|",
        phase_row(c_view, "requests"),
        phase_row(api, "pages"),
        "",
        "| goal | figure | target | verdict |",
        "|---|---|---|---|",
        f"| API read | {api.rate:.1f} pages/s of 100 people ({api.rate * PER_PAGE:.0f} people/s) = {ratio:.1%} of "
        f"C_view ({c_view.rate:.0f}/s) | ≥ {GOAL:.0%} | {'met' if ratio >= GOAL else 'NOT met'} |",
        "",
        f"gunicorn {workers} sync workers (2 × cores), PostgreSQL, asyncio httpx client with {CONCURRENCY} "
        f"concurrent clients over loopback on the same machine; {setup['inside']} people in the key's federation "
        f"and as many outside, each with an email and a phone; every page scoped, serialised (HAL+JSON) and "
        f"audited. Phases of {args.seconds:.0f} s. Under load: load average {load[0]:.2f} / {load[1]:.2f} / "
        f"{load[2]:.2f} at the end of the run (shared machine).",
    ]
    kinds = Counter(e[:160] for p in results["phases"] for e in p.errors)
    if kinds:
        lines += ["", "Errors: " + "; ".join(f"{n}× {k}" for k, n in kinds.most_common(5))]
    write_section("api", "\n".join(lines))
    print("\n".join(lines))
    return 1 if api.errors or c_view.errors else 0


if __name__ == "__main__":
    sys.exit(main())
