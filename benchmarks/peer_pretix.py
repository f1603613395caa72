"""pretix as a benchmark peer (issue 14, P1): piazza's donations and pretix's orders side by side.

    python -m benchmarks.peer_pretix [--reps 3] [--seconds 20] [--campaigns 200]

P1 asks for at least 5 × the donations per second of pretix, the closest open-source peer, on the
same machine with the same client, concurrency and workers. This module makes that ratio
re-measurable with one command:

- pretix (`PRETIX_VERSION`, from the package registry) is installed into its own virtualenv under
  `var/peers/pretix/` (gitignored) unless that venv already holds that version. Every dependency
  installs as a wheel on Python 3.11, so no Debian package is needed (psycopg2-binary brings its
  own libpq; pretix's wheel ships compiled translations and static files).
- pretix gets its own PostgreSQL database `bench_pretix_<pid>` and a `pretix.cfg` in a temporary
  directory: Redis database 4 for its cache and as its Celery broker (as pretix is deployed; the
  tasks an order queues stay queued, as piazza's are queued in its database task backend, and
  nobody runs them), no mail. `migrate`, then a script run with pretix's Python makes an
  organizer, a live event with one item ("Donazione", free price) on an unlimited quota, and a
  team API token.
- One pretix order = one `POST /api/v1/organizers/…/orders/` (the issue's figure counted that
  request) creating a paid order whose payment is confirmed by pretix's built-in "manual" provider
  (no plugin, no external call; the bank-transfer plugin needs an organizer-level plugin switch as
  well and would book the same payment row). Mail is off (`send_email: false`).
- piazza runs exactly as `benchmarks.donations` does (its `prepare`, `serve`, `Donor`,
  `CostProbe` and verification child are imported): one donation = the donation form POST + the
  payment page POST with the sandbox card, no replays.
- Both gunicorns run 4 sync workers side by side; the client is the asyncio httpx client of
  `benchmarks.donations` with 16 concurrent clients (closed loop: each starts its next operation
  when the last ends). The issue's first figures (28.6 vs 20.1/s) were taken with wrk; wrk cannot
  follow piazza's two-request path nor check each answer, so this benchmark uses the project's
  client for both, and both pay for it alike per request.
- Reps are interleaved (piazza, pretix, piazza, pretix, …), each `--seconds` long, after a
  warm-up of each. The CPU of each server's processes and of the PostgreSQL backends serving its
  database is read from /proc around every rep (`CostProbe`). C_view (the bare Django view doing
  one INSERT, on piazza's server) and C_insert (16 psycopg clients) are measured in the same run.
- Afterwards every piazza donation must have succeeded with `check_ledger` clean (the donation
  benchmark's verification child) and every order pretix answered 201 for must exist, paid.

Figures go to `docs/benchmarks.md` (section "peer-pretix"). Both scratch databases are dropped
and Redis database 4 is emptied at the end. Exit 1 if anything was lost or could not be set up.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

from benchmarks.common import (
    ROOT,
    Phase,
    ceiling_insert,
    closed_loop,
    free_port,
    listening,
    scratch_database,
    stop_server,
    summary,
    write_section,
)
from benchmarks.donations import AMOUNTS, CostProbe, Donor, _child, prepare, serve

PRETIX_VERSION = "2026.8.0"  # the newest on the registry that installs on Python 3.11 (2026-12-06)
GUNICORN_VERSION = "27.0.1"  # the same as piazza's requirements.lock
PEER_DIR = ROOT / "var" / "peers" / "pretix"
VENV = PEER_DIR / "venv"
WORKERS = 4  # sync workers of each server (2 × cores here, as benchmarks.donations)
CLIENTS = 16  # concurrent clients of each load phase
WARM_UP = 8.0  # seconds of load on each server before the measure (workers import and fill caches)
REDIS_DB = 4
SECTION = "peer-pretix"

# --- pretix's side, run with pretix's own Python --------------------------------------------------

SETUP_SCRIPT = """
import datetime as dt, json
from decimal import Decimal
import django
django.setup()
from django.utils.timezone import now
from django_scopes import scopes_disabled
from pretix.base.models import Event, Item, Organizer, Quota, Team
with scopes_disabled():
    org = Organizer.objects.create(name="Benchmark", slug="bench")
    event = Event.objects.create(
        organizer=org, name="Donazioni", slug="donazioni", currency="EUR", live=True,
        date_from=now() + dt.timedelta(days=30),
    )
    event.set_defaults()
    event.settings.payment_manual__enabled = True
    event.settings.payment_manual_public_name = "Benchmark"
    item = Item.objects.create(
        event=event, name="Donazione", default_price=Decimal("25.00"), free_price=True, admission=False
    )
    quota = Quota.objects.create(event=event, name="Donazioni", size=None)
    quota.items.add(item)
    team = Team.objects.create(
        organizer=org, name="API", all_events=True, all_event_permissions=True, all_organizer_permissions=True
    )
    token = team.tokens.create(name="benchmark")
    path = "/api/v1/organizers/bench/events/donazioni/orders/"
    print("BENCH " + json.dumps({"token": token.token, "item": item.pk, "path": path}))
"""

VERIFY_SCRIPT = """
import json, sys
import django
django.setup()
from django_scopes import scopes_disabled
from pretix.base.models import Order, OrderPayment
codes = set(json.load(sys.stdin))
with scopes_disabled():
    orders = dict(Order.objects.filter(event__slug="donazioni").values_list("code", "status"))
    confirmed = set(OrderPayment.objects.filter(
        order__event__slug="donazioni", state=OrderPayment.PAYMENT_STATE_CONFIRMED
    ).values_list("order__code", flat=True))
missing = sorted(codes - set(orders))
unpaid = sorted(c for c in codes & set(orders) if orders[c] != Order.STATUS_PAID or c not in confirmed)
print("BENCH " + json.dumps({"orders": len(orders), "answered": len(codes), "missing": missing[:20],
      "missing_count": len(missing), "unpaid": unpaid[:20], "unpaid_count": len(unpaid)}))
"""


class PeerError(Exception):
    """pretix could not be installed or set up here; the message says why, for the record."""


def installed_version() -> str | None:
    python = VENV / "bin" / "python"
    if not python.exists():
        return None
    out = subprocess.run(
        [str(python), "-c", "import importlib.metadata as m; print(m.version('pretix'), m.version('gunicorn'))"],
        capture_output=True,
        text=True,
        check=False,
    )
    return out.stdout.strip() if out.returncode == 0 else None


def ensure_pretix() -> None:
    """pretix and gunicorn, pinned, in their own venv (only if that venv lacks them)."""
    if installed_version() == f"{PRETIX_VERSION} {GUNICORN_VERSION}":
        return
    PEER_DIR.mkdir(parents=True, exist_ok=True)
    print(f"installing pretix {PRETIX_VERSION} into {VENV} (about a minute)")
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", "--clear", str(VENV)], check=True)
    out = subprocess.run(
        [str(VENV / "bin" / "pip"), "install", "-q", f"pretix=={PRETIX_VERSION}", f"gunicorn=={GUNICORN_VERSION}"],
        capture_output=True,
        text=True,
        check=False,
    )
    (PEER_DIR / "install.log").write_text(out.stdout + out.stderr)
    if out.returncode != 0:
        errors = [line for line in out.stderr.splitlines() if "WARNING: Location" not in line]
        raise PeerError(f"pip install pretix=={PRETIX_VERSION} failed: " + " ".join(errors[-12:])[-1500:])


def redis_up() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=1):
            return True
    except OSError:
        return False


def pretix_config(directory: Path, dbname: str, port: int, redis: bool) -> Path:
    config = directory / "pretix.cfg"
    lines = [
        "[pretix]",
        "instance_name=benchmark",
        f"url=http://127.0.0.1:{port}",
        f"datadir={directory / 'data'}",
        "currency=EUR",
        "ecb_rates=off",
        "[django]",
        "debug=off",
        f"secret={os.urandom(24).hex()}",
        "[database]",
        "backend=postgresql",
        f"name={dbname}",
        "user=postgres",
        "host=127.0.0.1",
        "[mail]",
        "from=benchmark@localhost",
    ]
    if redis:
        location = f"redis://127.0.0.1:6379/{REDIS_DB}"
        lines += ["[redis]", f"location={location}", "[celery]", f"broker={location}", f"backend={location}"]
    (directory / "data").mkdir(exist_ok=True)
    config.write_text("\n".join(lines) + "\n")
    return config


def pretix_env(config: Path) -> dict[str, str]:
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TZ")
    env = {k: v for k, v in os.environ.items() if k in keep}
    env.update(PRETIX_CONFIG_FILE=str(config), DJANGO_SETTINGS_MODULE="pretix.settings")
    return env


def pretix_run(config: Path, *args: str, stdin: str | None = None) -> str:
    out = subprocess.run(
        [str(VENV / "bin" / "python"), *args],
        env=pretix_env(config),
        cwd=config.parent,
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        raise PeerError(f"pretix {' '.join(args)[:60]} failed: {out.stderr[-1500:]}")
    return out.stdout


def pretix_script(config: Path, script: str, stdin: str = "") -> dict[str, Any]:
    stdout = pretix_run(config, "-c", script, stdin=stdin)
    for line in reversed(stdout.splitlines()):
        if line.startswith("BENCH "):
            return dict(json.loads(line[6:]))
    raise PeerError(f"a pretix script printed no result: {stdout[-500:]}")


def start_pretix(config: Path, port: int) -> subprocess.Popen[bytes]:
    """pretix's gunicorn, in its own session (so `CostProbe` finds its workers), ready on return."""
    log = (config.parent / "gunicorn.log").open("wb")
    server = subprocess.Popen(
        [
            str(VENV / "bin" / "gunicorn"),
            "pretix.wsgi",
            "--workers",
            str(WORKERS),
            "--bind",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
            "--backlog",
            "2048",
            "--timeout",
            "60",
        ],
        env=pretix_env(config),
        cwd=config.parent,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    if listening(port):
        return server
    stop_server(server)
    raise PeerError("pretix's gunicorn did not start: " + (config.parent / "gunicorn.log").read_text()[-1500:])


# --- the run --------------------------------------------------------------------------------------


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="benchmarks.peer_pretix", description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=3, help="interleaved reps of each system")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of each rep")
    parser.add_argument("--campaigns", type=int, default=200, help="piazza campaigns the donations spread over")
    parser.add_argument("--section", default=SECTION, help="section of docs/benchmarks.md to write")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv if argv is not None else sys.argv[1:] if __name__ == "__main__" else [])
    load_start = os.getloadavg()
    try:
        ensure_pretix()
    except PeerError as exc:
        write_section(args.section, failure_section(str(exc)))
        print(exc)
        return 1
    pid = os.getpid()
    piazza_db, pretix_db = f"bench_pretix_piazza_{pid}", f"bench_pretix_{pid}"
    redis = redis_up()
    servers: list[subprocess.Popen[bytes]] = []
    try:
        with (
            scratch_database(piazza_db) as piazza_url,
            scratch_database(pretix_db) as pretix_url,
            tempfile.TemporaryDirectory() as tmp,
        ):
            pretix_port, piazza_port = free_port(), free_port()
            config = pretix_config(Path(tmp), pretix_db, pretix_port, redis)
            print("pretix: migrate (about 2 minutes)")
            pretix_run(config, "-m", "pretix", "migrate", "--noinput", "-v0")
            pretix_setup = pretix_script(config, SETUP_SCRIPT)
            print("piazza: migrate and set up")
            setup = prepare(piazza_url, Path(tmp), args.campaigns)
            for url in (piazza_url, pretix_url):
                analyze(url)
            servers.append(serve(piazza_url, piazza_port, WORKERS))
            servers.append(start_pretix(config, pretix_port))
            probes = {
                "piazza": CostProbe(servers[0].pid, piazza_url, piazza_db),
                "pretix": CostProbe(servers[1].pid, pretix_url, pretix_db),
            }
            results = asyncio.run(load(piazza_port, pretix_port, setup, pretix_setup, probes, args.reps, args.seconds))
            for server in servers:
                stop_server(server)
            results["c_insert"] = ceiling_insert(piazza_url, clients=CLIENTS, seconds=5.0)
            records_file = Path(tmp) / "records.json"
            records_file.write_text(json.dumps(results["records"]))
            results["piazza_verify"] = _child(piazza_url, "verify", records_file)
            results["pretix_verify"] = pretix_script(config, VERIFY_SCRIPT, json.dumps(results["codes"]))
            results["versions"] = versions(piazza_url, config)
    except PeerError as exc:
        write_section(args.section, failure_section(str(exc)))
        print(exc)
        return 1
    finally:
        for server in servers:
            stop_server(server)
        if redis:
            subprocess.run(["redis-cli", "-n", str(REDIS_DB), "FLUSHDB"], capture_output=True, check=False)
    results.update(load_start=load_start, load_end=os.getloadavg(), redis=redis)
    return report(args, results)


def analyze(url: str) -> None:
    """The cluster here runs with autovacuum off (issue 14): fresh statistics for both databases."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("ANALYZE")


async def load(
    piazza_port: int,
    pretix_port: int,
    setup: dict[str, Any],
    pretix_setup: dict[str, Any],
    probes: dict[str, CostProbe],
    reps: int,
    seconds: float,
) -> dict[str, Any]:
    import httpx

    records: list[dict[str, Any]] = []
    codes: list[str] = []
    limits = httpx.Limits(max_connections=CLIENTS * 2, max_keepalive_connections=CLIENTS * 2)
    async with (
        httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{piazza_port}",
            limits=limits,
            timeout=60,
            follow_redirects=False,
            cookies={"csrftoken": setup["csrf"]},
        ) as piazza_client,
        httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{pretix_port}",
            limits=limits,
            timeout=60,
            follow_redirects=False,
            headers={"Authorization": f"Token {pretix_setup['token']}"},
        ) as pretix_client,
    ):
        donor = Donor(piazza_client, setup, records)
        rng = random.Random(13)

        async def donation() -> None:
            await donor.give(rng.choice(setup["campaigns"]), False)

        async def order() -> None:
            person = setup["donors"][rng.randrange(len(setup["donors"]))]
            body = {
                "email": person["email"],
                "locale": "en",
                "sales_channel": "web",
                "payment_provider": "manual",
                "status": "p",
                "send_email": False,
                "positions": [{"item": pretix_setup["item"], "price": euros(rng.choice(AMOUNTS))}],
            }
            response = await pretix_client.post(pretix_setup["path"], json=body)
            if response.status_code != 201:
                raise RuntimeError(f"pretix answered HTTP {response.status_code}: {response.text[:200]}")
            codes.append(response.json()["code"])

        async def ceiling() -> None:
            response = await piazza_client.post("/raccolte/_benchmark/insert/")  # benchmarks.urls.CEILING_PATH
            if response.status_code != 200:
                raise RuntimeError(f"ceiling view answered {response.status_code}")

        warm = [await closed_loop("piazza warm-up", WARM_UP, donation, CLIENTS)]
        warm.append(await closed_loop("pretix warm-up", WARM_UP, order, CLIENTS))
        c_view = await closed_loop("C_view", 10.0, ceiling, CLIENTS)
        reps_out: list[dict[str, Any]] = []
        for rep in range(1, reps + 1):
            row: dict[str, Any] = {"rep": rep}
            for system, job in (("piazza", donation), ("pretix", order)):
                before = probes[system].start()
                phase = await closed_loop(f"{system} rep {rep}", seconds, job, CLIENTS)
                row[system] = phase
                row[f"{system}_cost"] = probes[system].since(before, phase.done)
            reps_out.append(row)
    return {"warm": warm, "c_view": c_view, "reps": reps_out, "records": records, "codes": codes}


def euros(amount: dict[str, str]) -> str:
    """A donation form's amount (preset in cents, or typed in euros with a comma) as pretix's price."""
    if "preset" in amount:
        return f"{int(amount['preset']) / 100:.2f}"
    return f"{float(amount['custom_amount'].replace(',', '.')):.2f}"


def versions(piazza_url: str, config: Path) -> dict[str, str]:
    import importlib.metadata as metadata

    import psycopg

    with psycopg.connect(piazza_url) as conn:
        row = conn.execute("SHOW server_version").fetchone()
    pretix_django = pretix_run(config, "-c", "import django; print(django.get_version())").strip()
    redis = subprocess.run(["redis-cli", "INFO", "server"], capture_output=True, text=True, check=False).stdout
    redis_version = next((x.split(":", 1)[1].strip() for x in redis.splitlines() if x.startswith("redis_version")), "")
    return {
        "pretix": PRETIX_VERSION,
        "pretix_django": pretix_django,
        "django": metadata.version("django"),
        "gunicorn": GUNICORN_VERSION,
        "python": sys.version.split()[0],
        "postgresql": str(row[0]) if row else "?",
        "redis": redis_version or "?",
    }


# --- report ---------------------------------------------------------------------------------------


def failure_section(reason: str) -> str:
    return (
        "## pretix as a peer (P1)\n\n"
        f"Not measured: {reason}\n\nRe-run with `python -m benchmarks.peer_pretix` once pretix installs here."
    )


def report(args: argparse.Namespace, results: dict[str, Any]) -> int:
    reps = results["reps"]
    med = statistics.median
    ratios = [r["piazza"].rate / r["pretix"].rate if r["pretix"].rate else 0.0 for r in reps]
    median_ratio = med(ratios)
    c_view: Phase = results["c_view"]
    pv, xv, v = results["piazza_verify"], results["pretix_verify"], results["versions"]
    errors = {
        s: sum(len(r[s].errors) for r in reps) + sum(len(w.errors) for w in results["warm"] if s in w.name)
        for s in ("piazza", "pretix")
    }
    piazza_ok = not (pv["lost_count"] or pv["violations"] or pv["double_charges"] or errors["piazza"])
    piazza_ok = piazza_ok and pv["paid"] == pv["succeeded"] == pv["donations"]
    pretix_ok = not xv["missing_count"] and not xv["unpaid_count"] and xv["orders"] == xv["answered"]

    def cpu(c: dict[str, float]) -> float:
        return c["app_ms"] + c["db_ms"]

    def cost(c: dict[str, float]) -> str:
        return f"{c['app_ms']:.1f} + {c['db_ms']:.1f} = {cpu(c):.1f} ms, {c['commits']:.1f} commits"

    def lat(p: Phase) -> str:
        if not p.latencies:
            return "—"
        s = summary(p.latencies)
        return f"{s.median * 1000:.0f} / {s.p99 * 1000:.0f} ms"

    pretix_tasks = (
        f"Redis {v['redis']} db {REDIS_DB} as cache and Celery broker (tasks queued, not run)"
        if results["redis"]
        else "no Redis (tasks run inline)"
    )
    piazza_rate = med([r["piazza"].rate for r in reps])
    lines = [
        "## pretix as a peer (P1: ≥ 5 × pretix)",
        "",
        f"piazza (the commit above) against pretix {v['pretix']} (Django {v['pretix_django']}, installed from the "
        f"package registry into its own venv) on the same machine: interleaved reps of {args.seconds:.0f} s, "
        f"{CLIENTS} concurrent clients of the same asyncio httpx client (closed loop), each server gunicorn "
        f"{v['gunicorn']} with {WORKERS} sync workers on its own PostgreSQL {v['postgresql']} database. piazza: "
        f"Django {v['django']}, sandbox card, tasks queued in its database; one donation = the donation form POST "
        f"+ the payment page POST, spread over {args.campaigns} campaigns. pretix: {pretix_tasks}; one order = one "
        "`POST …/orders/` on its REST API (team token): a paid order whose payment its built-in manual provider "
        f"confirms, mail off. Python {v['python']}.",
        "",
        f"Re-measure with `python -m benchmarks.peer_pretix` (or `make bench`): it installs `pretix=={v['pretix']}` "
        f"and `gunicorn=={v['gunicorn']}` into `var/peers/pretix/venv` if they are not there (all wheels on Python "
        "3.11, no Debian package needed). The issue's first figures (28.6 donations/s against 20.1 orders/s, 1.43 ×) "
        "were taken with wrk; this run drives both servers with the project's httpx client, which follows piazza's "
        "two-request path and checks every answer.",
        "",
        "| rep | piazza donations/s (done) | pretix orders/s (done) | ratio piazza ÷ pretix "
        "| piazza CPU per donation (gunicorn + PostgreSQL) | pretix CPU per order (gunicorn + PostgreSQL) "
        "| latency median / p99: piazza · pretix |",
        "|---|---|---|---|---|---|---|",
    ]
    for r, ratio in zip(reps, ratios, strict=True):
        pz, px = r["piazza"], r["pretix"]
        lines.append(
            f"| {r['rep']} | {pz.rate:.1f} ({pz.done}) | {px.rate:.1f} ({px.done}) | {ratio:.2f} × "
            f"| {cost(r['piazza_cost'])} | {cost(r['pretix_cost'])} | {lat(pz)} · {lat(px)} |"
        )
    lines += [
        f"| **median** | {piazza_rate:.1f} | {med([r['pretix'].rate for r in reps]):.1f} | **{median_ratio:.2f} ×** "
        f"| {med([cpu(r['piazza_cost']) for r in reps]):.1f} ms | {med([cpu(r['pretix_cost']) for r in reps]):.1f} ms "
        "| |",
        "",
        "| figure | value | goal | verdict |",
        "|---|---|---|---|",
        f"| P1 ratio (median of {len(reps)} reps) | {median_ratio:.2f} × (reps: "
        + ", ".join(f"{x:.2f}" for x in ratios)
        + f") | ≥ 5 × | {'met' if median_ratio >= 5 else '**NOT met**'} |",
        f"| C_view (bare Django view doing one INSERT, piazza's server, {CLIENTS} clients, 10 s) "
        f"| {c_view.rate:.0f} requests/s, errors {len(c_view.errors)} | ceiling | — |",
        f"| C_insert ({CLIENTS} psycopg clients, 5 s) | {results['c_insert']:.0f} commits/s | ceiling | — |",
        "| piazza's requests/s (2 per donation, median rep) ÷ C_view "
        f"| {2 * piazza_rate / c_view.rate if c_view.rate else 0.0:.2f} | — | — |",
        f"| piazza integrity | {pv['paid']} donations paid by the client, {pv['donations']} in the database, "
        f"{pv['succeeded']} succeeded; lost {pv['lost_count']}, double charges {len(pv['double_charges'])}, "
        f"`check_ledger` violations {len(pv['violations'])}, client errors {errors['piazza']} "
        f"| every donation succeeded, ledger clean | {'met' if piazza_ok else '**NOT met**'} |",
        f"| pretix integrity | {xv['answered']} orders answered 201, {xv['orders']} in the database; "
        f"missing {xv['missing_count']}, not paid {xv['unpaid_count']}; client errors {errors['pretix']} "
        f"| every order exists, paid | {'met' if pretix_ok else '**NOT met**'} |",
        "",
        "CPU is utime + stime from /proc of each gunicorn (master and workers) and of the PostgreSQL backends "
        "serving its database over each rep, divided by the operations completed; commits from pg_stat_database. "
        "A backend that ended during a rep (a connection past its CONN_MAX_AGE: 60 s for piazza, 120 s for pretix) "
        "counts up to the probe's last half-second sample; backends ended: piazza "
        + str(sum(int(r["piazza_cost"].get("ended_backends", 0)) for r in reps))
        + ", pretix "
        + str(sum(int(r["pretix_cost"].get("ended_backends", 0)) for r in reps))
        + ". The client (one Python process driving both) and Redis are not counted. Load average (1, 5, 15 min) at "
        "the start: "
        + " ".join(f"{x:.2f}" for x in results["load_start"])
        + "; at the end: "
        + " ".join(f"{x:.2f}" for x in results["load_end"])
        + ".",
    ]
    kinds: Counter[str] = Counter(
        f"{system}: {e[:160]}" for r in reps for system in ("piazza", "pretix") for e in r[system].errors
    )
    if kinds:
        lines += ["", "Errors: " + "; ".join(f"{n} × {k}" for k, n in kinds.most_common(6))]
    problems = pv["violations"] + pv["lost"] + xv["missing"] + xv["unpaid"]
    if problems:
        lines += ["", "Integrity problems: " + "; ".join(problems)]
    table = "\n".join(lines)
    print(table)
    write_section(args.section, table)
    return 0 if piazza_ok and pretix_ok else 1


if __name__ == "__main__":
    sys.exit(main())
