"""A viral petition under load (issue 15) over loopback HTTP, PostgreSQL, gunicorn.

    python -m benchmarks.petitions [--seconds 8] [--keep]

The parent creates the scratch database `bench_petitions_<pid>`, migrates it, loads the ISTAT tree,
and has a Django child process open one petition through the petitions actions and sign its form's
start time (the spam defence's signed timestamp; the load starts well after the minimum fill time).
It then starts gunicorn with 2 × cores sync workers running `benchmarks.donations.application` (the
site plus the benchmark-only C_view URL) and drives it with an asyncio httpx client:

- C_view: a bare Django view doing one INSERT, saturated by the same client for `--seconds`.
- Signatures: every client signs the same petition (the viral case) with a new person each time:
  the public form POST with every check (honeypot, fill time, per-client limit, notice version,
  comune), the signature row and its counter slot in one statement, and the enqueue (a row of
  the database task backend) of the task that does the rest after the answer (dedupe into
  people, consent, notice acceptance, timeline, audit, email; not run during the load).
  Goal: ≥ 40% of C_view.
- A child process then checks the counter: the sum of the slots equals the signature rows and the
  signatures the client saw accepted (convention 9). Any difference exits 1.

Every simulated signer comes from 127.0.0.1, so the per-client limit is raised for this server only.
Figures go to `docs/benchmarks.md` (section "petitions"). Bounded: every phase stops by itself.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import sys
import tempfile
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

CONCURRENCY = 32


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="benchmarks.petitions", description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8.0, help="length of each load phase")
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
    name = f"bench_petitions_{os.getpid()}"
    with scratch_database(name, keep=args.keep) as url, tempfile.TemporaryDirectory() as tmp:
        run_django(url, "migrate", "--noinput", "-v0")
        run_django(url, "load_territory")
        setup_file = Path(tmp) / "setup.json"
        _child(url, "setup", setup_file)
        setup = json.loads(setup_file.read_text())
        import psycopg

        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE TABLE bench_view_insert (id bigserial PRIMARY KEY, at timestamptz, note text)")
        port = free_port()
        server = start_gunicorn(
            "benchmarks.donations:application",
            url,
            port,
            workers,
            PIAZZA_TASKS_BACKEND="database",
            PETITION_THROTTLE_PER_IP="100000000",
            ALLOWED_HOSTS="127.0.0.1,localhost",
        )
        try:
            results = asyncio.run(load(f"http://127.0.0.1:{port}", setup, args.seconds))
        finally:
            stop_server(server)
        results_file = Path(tmp) / "results.json"
        results_file.write_text(json.dumps({"accepted": results["accepted"], "petition": setup["petition"]}))
        verify = _child(url, "verify", results_file)
    return report(args, workers, results, verify)


def _child(url: str, step: str, path: Path) -> dict[str, Any]:
    return run_child("benchmarks.petitions", url, step, path, env=django_env(url))


async def load(base: str, setup: dict[str, Any], seconds: float) -> dict[str, Any]:
    import httpx

    limits = httpx.Limits(max_connections=CONCURRENCY * 4, max_keepalive_connections=CONCURRENCY * 4)
    accepted = 0
    numbers = itertools.count()
    async with httpx.AsyncClient(
        base_url=base, limits=limits, timeout=60, follow_redirects=False, cookies={"csrftoken": setup["csrf"]}
    ) as client:

        async def ceiling() -> None:
            response = await client.post("/raccolte/_benchmark/insert/")  # benchmarks.urls.CEILING_PATH
            if response.status_code != 200:
                raise RuntimeError(f"ceiling view answered {response.status_code}")

        async def signature() -> None:
            nonlocal accepted
            n = next(numbers)
            form = {
                "csrfmiddlewaretoken": setup["csrf"],
                "started": setup["started"],
                "notice_version": setup["notice"],
                "website": "",
                "first_name": f"Firmataria{n}",
                "last_name": f"Cognome{n}",
                "email": f"firma{n}@example.org",
                "comune": "Bologna",
                "postal_code": "40121",
                "consent_political": "on" if n % 3 == 0 else "",
            }
            response = await client.post(f"/firma/{setup['slug']}/", data=form)
            if response.status_code != 302 or response.headers.get("location", "").endswith("?gia=1"):
                raise RuntimeError(f"petition form answered HTTP {response.status_code}")
            accepted += 1

        # The warm-up and C_view run first, so the form's signed start time is past the minimum fill time.
        await closed_loop("warm-up", 2.0, ceiling, CONCURRENCY)
        c_view = await closed_loop("C_view", seconds, ceiling, CONCURRENCY)
        viral = await closed_loop("signatures, one petition", seconds, signature, CONCURRENCY)
    return {"phases": [c_view, viral], "accepted": accepted}


def _django() -> None:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    django.setup()


def child_setup(args: argparse.Namespace) -> int:
    """One petition of the Bologna federation, opened through the action by its communication officer."""
    _django()
    from django.contrib.auth import get_user_model
    from django.middleware.csrf import _get_new_csrf_string  # type: ignore[attr-defined]

    from piazza.people.notices import current_version
    from piazza.petitions import actions
    from piazza.petitions.forms import started_token
    from piazza.territory.models import Level, Role, RoleAssignment, Territory

    bologna = Territory.objects.get(level=Level.FEDERATION, code="037")
    officer = get_user_model().objects.create_user(username="bench.comms", password="bench-password-1")
    RoleAssignment.objects.create(user=officer, territory=bologna, role=Role.COMMUNICATION)
    petition = actions.create_petition(
        actor=officer,
        territory=bologna,
        title="Petizione virale di prova",
        text="Benchmark.",
        target="Sindaco di Bologna",
        goal=1_000_000,
    )
    notice = current_version(petition.notice_key)
    Path(args.file).write_text(
        json.dumps(
            {
                "petition": petition.pk,
                "slug": petition.slug,
                "started": started_token(petition),
                "notice": str(notice.pk) if notice else "",
                "csrf": _get_new_csrf_string(),
            }
        )
    )
    return 0


def child_verify(args: argparse.Namespace) -> int:
    """The counter after the run: slots sum = signature rows = signatures accepted by the client."""
    _django()
    from piazza.petitions import queries
    from piazza.petitions.models import Signature

    data = json.loads(Path(args.file).read_text())
    pk = data["petition"]
    Path(args.file).write_text(
        json.dumps(
            {
                "accepted": data["accepted"],
                "rows": Signature.objects.filter(petition_id=pk).count(),
                "counter": queries.signature_count(pk),
                "drift": {str(k): v for k, v in queries.counter_drift().items()},
            }
        )
    )
    return 0


def report(args: argparse.Namespace, workers: int, results: dict[str, Any], verify: dict[str, Any]) -> int:
    c_view, viral = results["phases"]
    ratio = viral.rate / c_view.rate if c_view.rate else 0.0
    counter_ok = verify["counter"] == verify["rows"] == verify["accepted"] and not verify["drift"]

    def phase_row(p: Phase, unit: str) -> str:
        lat = summary(p.latencies).ms() if p.latencies else "—"
        return f"| {p.name} | {p.rate:.1f} {unit}/s ({p.done} in {p.seconds:.1f} s), errors {len(p.errors)} | {lat} |"

    lines = [
        "| phase | throughput | latency |",
        "|---|---|---|",
        phase_row(c_view, "requests"),
        phase_row(viral, "signatures"),
        "",
        "| goal | figure | target | verdict |",
        "|---|---|---|---|",
        f"| signatures/s | {viral.rate:.1f} signatures/s on one petition = {ratio:.1%} of C_view "
        f"({c_view.rate:.0f}/s) | ≥ 40% | {'met' if ratio >= 0.4 else 'NOT met'} |",
        f"| counter | slots sum {verify['counter']}, signature rows {verify['rows']}, accepted by the client "
        f"{verify['accepted']}, petitions drifting {len(verify['drift'])} | all equal | "
        f"{'met' if counter_ok else 'NOT met'} |",
        "",
        f"gunicorn {workers} sync workers (2 × cores), PostgreSQL, asyncio httpx client with {CONCURRENCY} "
        "concurrent clients over loopback on the same machine; every signature a new person on the same petition "
        f"(the public form POST, all checks on, the matching task enqueued; one request), "
        f"C_view = one request. Phases of {args.seconds:.0f} s.",
    ]
    from collections import Counter

    kinds = Counter(e[:160] for p in results["phases"] for e in p.errors)
    if kinds:
        lines += ["", "Errors: " + "; ".join(f"{n}× {k}" for k, n in kinds.most_common(5))]
    write_section("petitions", "\n".join(lines))
    print("\n".join(lines))
    return 0 if ratio >= 0.4 and counter_ok else 1


if __name__ == "__main__":
    sys.exit(main())
