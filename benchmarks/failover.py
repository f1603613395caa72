"""Scale-out and failover (issue 14): two app servers behind HAProxy, two RQ workers, Redis,
PostgreSQL; one app server and one worker killed by PID in the middle of a donation load.

    python -m benchmarks.failover [--seconds 30] [--rate 8] [--campaigns 50]

Needs Debian's `haproxy` (the benchmark says so and stops if it is missing). The parent makes
the scratch database `bench_failover_<pid>`, opens campaigns as `benchmarks.donations` does, and
starts: app servers A and B (gunicorn, 2 workers each, the benchmark WSGI entry of
`benchmarks.donations`), two `manage.py worker` processes on RQ (Redis db 14, emptied first), and
HAProxy balancing A and B with health checks on `/readyz`. HAProxy retries a request whose
connection failed or whose server closed without answering (`retry-on conn-failure
empty-response`): safe only because every piazza POST carries an idempotency key, which is the
property under test.

An open-model load of donations (form POST + sandbox card payment POST) runs at `--rate` per
second for `--seconds`; at one third, server A's whole process group and worker 1 are killed
with SIGKILL. Reported: donations/s before and after the kill, failed donations, and then, once
the surviving worker has drained the queue, the same checks as P3: no donation lost, no card
charged twice, `check_ledger` clean, receipts gap-free; plus the task queue: jobs finished,
failed, and left started by the killed worker. A lost or doubled euro exits 1.

    python -m benchmarks.failover --scenario promote [--seconds 60] [--rate 5] [--retries 5]

The second scenario (section "failover-promote"): the database itself fails. A scratch primary
(initdb in a temporary directory, its own port) and a hot standby made with `pg_basebackup -R`,
**synchronous** (`synchronous_standby_names = 'FIRST 1 (standby1)'`, `synchronous_commit = on`: a
commit returns only once the standby has the WAL on disk, so a payment the donor saw succeed
survives the primary's loss; an asynchronous standby may lack the last commits when promoted);
PgBouncer in transaction mode in front, the only database address of the app servers and workers.
At one third of the load the primary's postmaster gets SIGKILL (by PID), the standby is promoted
with `pg_ctl promote`, and PgBouncer is repointed by rewriting its `[databases]` line and sending
`RELOAD` on its admin console (the app servers keep their one address; clients waiting in
PgBouncer's queue are served by the new server). The load goes on; a donor who saw an error
retries with the same idempotency keys. Reported: throughput before, the gap, after; failed
requests and retries; and, on the promoted database, the P3 checks plus `check_audit`. Needs
Debian's postgresql server binaries, pgbouncer and haproxy; runs as root (clusters as postgres).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

from benchmarks import donations
from benchmarks.common import (
    ROOT,
    django_env,
    free_port,
    run_django,
    sandbox_env,
    scratch_database,
    start_gunicorn,
    stop_server,
    summary,
    write_section,
)

REDIS_URL = os.environ.get("BENCH_FAILOVER_REDIS_URL", "redis://127.0.0.1:6379/14")

HAPROXY_CFG = """
global
    maxconn 1024
defaults
    mode http
    timeout connect 2s
    timeout check 5s
    timeout client 60s
    timeout server 60s
    retries 3
    option redispatch
    retry-on conn-failure empty-response
frontend piazza
    bind 127.0.0.1:{front}
    default_backend apps
backend apps
    balance roundrobin
    option httpchk GET /readyz
    http-check expect status 200
    default-server inter 1s fall 2 rise 1
    server a 127.0.0.1:{a} check
    server b 127.0.0.1:{b} check
"""


def start_app_tier(
    url: str, env: dict[str, str], haproxy: str, work: Path
) -> tuple[Any, Any, list[Any], Any, tuple[int, int, int]]:
    """Both scenarios' app tier against database `url`: app servers A and B (2 gunicorn workers each),
    two RQ workers, and HAProxy in front of A and B; returns them and the ports (A, B, front)."""
    a_port, b_port, front = free_port(), free_port(), free_port()
    server_a = start_gunicorn("benchmarks.donations:application", url, a_port, 2, **env)
    server_b = start_gunicorn("benchmarks.donations:application", url, b_port, 2, **env)
    workers = [
        subprocess.Popen(
            [sys.executable, "manage.py", "worker"],
            env=django_env(url, LOG_LEVEL="WARNING", **env),
            cwd=ROOT,
            start_new_session=True,
        )
        for _ in range(2)
    ]
    cfg = work / "haproxy.cfg"
    cfg.write_text(HAPROXY_CFG.format(front=front, a=a_port, b=b_port))
    balancer = subprocess.Popen([haproxy, "-f", str(cfg), "-db"], start_new_session=True)
    return server_a, server_b, workers, balancer, (a_port, b_port, front)


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="benchmarks.failover", description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0, help="length of the load")
    parser.add_argument("--rate", type=float, default=8.0, help="donations started per second")
    parser.add_argument("--campaigns", type=int, default=50)
    parser.add_argument(
        "--scenario",
        choices=["kill", "promote"],
        default="kill",
        help="kill: an app server and a worker killed; promote: the primary killed, the standby promoted",
    )
    parser.add_argument("--retries", type=int, default=5, help="promote: retries of a donor who saw an error")
    parser.add_argument("--retry-after", type=float, default=2.0, help="promote: seconds before a retry")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv if argv is not None else sys.argv[1:] if __name__ == "__main__" else [])
    haproxy = shutil.which("haproxy") or "/usr/sbin/haproxy"
    if not Path(haproxy).exists():
        print("benchmarks.failover: needs Debian's haproxy (apt-get install haproxy); not run")
        return 0
    env = {
        "PIAZZA_TASKS_BACKEND": "rq",
        "REDIS_URL": REDIS_URL,
        "PUBLIC_FORM_THROTTLE_PER_IP": "100000000",
        "PUBLIC_FORM_THROTTLE_PER_CODE": "100000000",
        **sandbox_env(),
    }
    if args.scenario == "promote":
        return main_promote(args, haproxy, env)
    import redis

    redis.Redis.from_url(REDIS_URL).flushdb()
    name = f"bench_failover_{os.getpid()}"
    started: list[subprocess.Popen[bytes]] = []
    with scratch_database(name) as url, tempfile.TemporaryDirectory() as tmp:
        run_django(url, "migrate", "--noinput", "-v0")
        run_django(url, "load_territory")
        setup_file = Path(tmp) / "setup.json"
        donations._child(url, "setup", setup_file, "--campaigns", str(args.campaigns))
        setup = json.loads(setup_file.read_text())
        try:
            server_a, server_b, workers, balancer, (_a_port, _b_port, front) = start_app_tier(
                url, env, haproxy, Path(tmp)
            )
            started += [server_a, server_b, *workers, balancer]
            asyncio.run(warm_up([_a_port, _b_port]))  # as the promote scenario does
            time.sleep(2)  # the first health checks
            results = asyncio.run(load(f"http://127.0.0.1:{front}", setup, args, server_a, workers[0]))
            drained = drain_queue(timeout=180)
        finally:
            for process in started:
                stop_server(process)
        results_file = Path(tmp) / "results.json"
        results_file.write_text(json.dumps(results["records"]))
        verify = donations._child(url, "verify", results_file)
    return report(args, results, verify, drained)


def drain_queue(timeout: float) -> dict[str, int]:
    """Wait until the surviving worker has emptied the queue and run again what the killed one left
    started (ADR 0036: at its next maintenance, within a minute); count what each registry holds."""
    from redis import Redis
    from rq import Queue
    from rq.registry import FailedJobRegistry, FinishedJobRegistry, StartedJobRegistry

    connection = Redis.from_url(REDIS_URL)
    queue = Queue("default", connection=connection)
    started = StartedJobRegistry(queue=queue)
    deadline = time.monotonic() + timeout
    while (queue.count or started.get_job_ids(cleanup=False)) and time.monotonic() < deadline:
        time.sleep(1)
    from rq.job import Job

    finished = FinishedJobRegistry(queue=queue).get_job_ids(cleanup=False)
    jobs = [job for job in Job.fetch_many(finished, connection=connection) if job is not None]
    return {
        "waiting": queue.count,
        "finished": len(finished),
        "rerun": sum(1 for job in jobs if job.meta.get("piazza_reruns")),  # piazza.core.tasks_recovery.RERUNS
        "failed": FailedJobRegistry(queue=queue).count,
        "started": len(started.get_job_ids(cleanup=False)),
    }


async def load(
    base: str,
    setup: dict[str, Any],
    args: argparse.Namespace,
    server_a: subprocess.Popen[bytes],
    worker_1: subprocess.Popen[bytes],
) -> dict[str, Any]:
    records: list[dict[str, Any]] = []
    done_at: list[float] = []
    errors: list[tuple[float, str]] = []
    latencies: list[float] = []
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=0)  # each request may go elsewhere
    async with httpx.AsyncClient(
        base_url=base, limits=limits, timeout=60, follow_redirects=False, cookies={"csrftoken": setup["csrf"]}
    ) as client:
        donor = donations.Donor(client, setup, records)
        campaigns = setup["campaigns"]
        start = time.perf_counter()
        kill_at = args.seconds / 3
        killed = False
        tasks: set[asyncio.Task[None]] = set()

        async def one(index: int, scheduled: float) -> None:
            try:
                await donor.give(campaigns[index % len(campaigns)], replay=False)
            except Exception as exc:
                errors.append((time.perf_counter() - start, f"{type(exc).__name__}: {exc}"[:200]))
            else:
                done_at.append(time.perf_counter() - start)
                latencies.append(time.perf_counter() - scheduled)

        for i in range(int(args.rate * args.seconds)):
            scheduled = start + i / args.rate
            delay = scheduled - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            if not killed and scheduled - start >= kill_at:
                os.killpg(server_a.pid, signal.SIGKILL)  # the whole app server, master and workers
                os.killpg(worker_1.pid, signal.SIGKILL)
                worker_1.wait()  # reaped, as a supervisor would: its job's recovery is the point
                killed = True
            task = asyncio.create_task(one(i, scheduled))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        if tasks:
            await asyncio.wait(tasks, timeout=90)
    return {
        "records": records,
        "done_at": done_at,
        "errors": errors,
        "latencies": latencies,
        "kill_at": kill_at,
        "offered": int(args.rate * args.seconds),
    }


def report(args: argparse.Namespace, results: dict[str, Any], verify: dict[str, Any], queue: dict[str, int]) -> int:
    kill_at = results["kill_at"]
    before = sum(1 for t in results["done_at"] if t < kill_at) / kill_at
    after_window = max(1.0, max(results["done_at"], default=kill_at) - kill_at)
    after = sum(1 for t in results["done_at"] if t >= kill_at) / after_window
    failed = len(results["errors"])
    intact = not verify["lost_count"] and not verify["double_charges"] and not verify["violations"]
    intact = intact and not verify["receipt_gaps"]
    latency = summary(results["latencies"]).ms() if results["latencies"] else "—"
    lines = [
        "| figure | value |",
        "|---|---|",
        f"| offered | {results['offered']} donations at {args.rate:.0f}/s for {args.seconds:.0f} s |",
        f"| completed before the kill | {before:.1f} donations/s |",
        f"| completed after the kill (one app server, one worker left) | {after:.1f} donations/s |",
        f"| failed donations (the donor saw an error) | {failed} |",
        f"| latency of completed donations | {latency} |",
        f"| donations {verify['donations']}, succeeded {verify['succeeded']}, charges {verify['charges']}, "
        f"payments booked {verify['payments_booked']} | lost {verify['lost_count']}, double charges "
        f"{len(verify['double_charges'])}, ledger violations {len(verify['violations'])}, receipt gaps "
        f"{verify['receipt_gaps']} |",
        f"| task queue after draining | finished {queue['finished']} (of which run again after the killed "
        f"worker's death: {queue['rerun']}), failed {queue['failed']}, waiting {queue['waiting']}, left started "
        f"{queue['started']} |",
        "",
        f"HAProxy (round robin, health checks on /readyz every second, `retry-on conn-failure empty-response`) in "
        f"front of two gunicorn app servers of 2 workers each; two RQ workers on Redis; PostgreSQL. At "
        f"{kill_at:.0f} s app server A (its process group) and worker 1 were killed with SIGKILL. Verdict: "
        f"{'nothing lost or doubled' if intact else 'MONEY LOST OR DOUBLED'}.",
    ]
    kinds = Counter(message[:120] for _, message in results["errors"])
    if kinds:
        lines += ["", "Errors: " + "; ".join(f"{n} × {kind}" for kind, n in kinds.most_common(4))]
    table = "\n".join(lines)
    print(table)
    write_section("failover", "## Scale-out and failover: an app server and a worker killed mid-load\n\n" + table)
    return 0 if intact else 1


# --- second scenario: the primary dies, the synchronous standby is promoted ------------------------

PGBOUNCER_INI = """
[databases]
piazza = host=127.0.0.1 port={db_port} dbname=piazza
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = trust
auth_file = {dir}/userlist.txt
pool_mode = transaction
admin_users = postgres
default_pool_size = 20
max_client_conn = 200
server_login_retry = 1
server_connect_timeout = 2
query_wait_timeout = 30
logfile = {dir}/pgbouncer.log
pidfile = {dir}/pgbouncer.pid
"""


class Clusters:
    """A scratch primary and its synchronous hot standby (initdb, pg_basebackup -R), PgBouncer in
    transaction mode in front, all in one temporary directory, owned by the postgres user."""

    def __init__(self, work: Path) -> None:
        self.work = work
        bins = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name))
        if not bins or not (bins[-1] / "initdb").exists():
            raise SystemExit("benchmarks.failover --scenario promote: PostgreSQL server binaries not found")
        self.bin = bins[-1]
        self.pgbouncer = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
        if not Path(self.pgbouncer).exists():
            raise SystemExit("benchmarks.failover --scenario promote: needs pgbouncer (apt-get install pgbouncer)")
        self.primary, self.standby = work / "primary", work / "standby"
        self.primary_port, self.standby_port, self.bouncer_port = free_port(), free_port(), free_port()
        self.orphans: list[int] = []
        self.primary_killed = False

    def run(self, *command: str | Path) -> None:
        """A PostgreSQL tool as the postgres user (the server refuses to run as root)."""
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        subprocess.run([*prefix, *map(str, command)], check=True, stdout=subprocess.DEVNULL)

    def url(self, port: int) -> str:
        return f"postgres://postgres@127.0.0.1:{port}/piazza"

    def sql(self, port: int, statement: str, dbname: str = "piazza") -> list[tuple[Any, ...]]:
        import psycopg

        with psycopg.connect(f"host=127.0.0.1 port={port} user=postgres dbname={dbname}", autocommit=True) as conn:
            cursor = conn.execute(statement)  # type: ignore[arg-type]
            return cursor.fetchall() if cursor.description else []

    def start_primary(self) -> None:
        self.work.chmod(0o755)
        if os.geteuid() == 0:
            shutil.chown(self.work, "postgres", "postgres")
        self.run(
            self.bin / "initdb", "-D", self.primary, "-A", "trust", "-U", "postgres", "-E", "UTF8", "--locale=C.UTF-8"
        )
        with (self.primary / "postgresql.conf").open("a") as conf:
            conf.write(
                f"port = {self.primary_port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{self.work}'\n"
                "wal_level = replica\nmax_wal_senders = 4\nhot_standby = on\nmax_connections = 100\n"
            )
        self.run(self.bin / "pg_ctl", "-D", self.primary, "-l", self.work / "primary.log", "-w", "start")
        self.sql(self.primary_port, "CREATE DATABASE piazza", dbname="postgres")

    def start_standby(self) -> None:
        """The hot standby, then synchronous replication switched on at the primary."""
        self.run(
            self.bin / "pg_basebackup", "-h", "127.0.0.1", "-p", str(self.primary_port), "-U", "postgres",
            "-D", self.standby, "-R", "-X", "stream", "-c", "fast",
        )  # fmt: skip
        with (self.standby / "postgresql.conf").open("a") as conf:
            # cluster_name is the application_name the standby's walreceiver reports, which
            # synchronous_standby_names names. Once promoted it has no standby of its own: it must
            # not wait for one (else every commit would hang), hence the empty list here.
            conf.write(f"port = {self.standby_port}\ncluster_name = 'standby1'\nsynchronous_standby_names = ''\n")
        self.run(self.bin / "pg_ctl", "-D", self.standby, "-l", self.work / "standby.log", "-w", "start")
        self.sql(self.primary_port, "ALTER SYSTEM SET synchronous_standby_names = 'FIRST 1 (standby1)'")
        self.sql(self.primary_port, "ALTER SYSTEM SET synchronous_commit = 'on'")
        self.sql(self.primary_port, "SELECT pg_reload_conf()")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            rows = self.sql(
                self.primary_port, "SELECT sync_state FROM pg_stat_replication WHERE application_name = 'standby1'"
            )
            if rows and rows[0][0] == "sync":
                return
            time.sleep(0.5)
        raise SystemExit("benchmarks.failover: the standby did not become synchronous")

    def start_bouncer(self) -> None:
        (self.work / "userlist.txt").write_text('"postgres" ""\n')
        self.point_bouncer(self.primary_port)
        if os.geteuid() == 0:
            for name in ("userlist.txt", "pgbouncer.ini"):
                shutil.chown(self.work / name, "postgres", "postgres")
        self.run(self.pgbouncer, "-d", self.work / "pgbouncer.ini")
        time.sleep(0.5)

    def point_bouncer(self, db_port: int) -> None:
        ini = PGBOUNCER_INI.format(db_port=db_port, port=self.bouncer_port, dir=self.work)
        (self.work / "pgbouncer.ini").write_text(ini)

    def kill_primary(self) -> int:
        """SIGKILL to the primary's postmaster, by the PID in postmaster.pid; its children are
        noted, to be ended at cleanup if they outlive it."""
        pid = int((self.primary / "postmaster.pid").read_text().split()[0])
        self.orphans = [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit() and _parent_of(p) == pid]
        os.kill(pid, signal.SIGKILL)
        self.primary_killed = True
        return pid

    def promote(self) -> dict[str, float]:
        """pg_ctl promote, then PgBouncer repointed: its config rewritten and RELOADed."""
        started = time.perf_counter()
        self.run(self.bin / "pg_ctl", "-D", self.standby, "-w", "-t", "60", "promote")
        promoted = time.perf_counter()
        self.point_bouncer(self.standby_port)
        self.sql(self.bouncer_port, "RELOAD", dbname="pgbouncer")
        return {"promote_seconds": promoted - started, "repoint_seconds": time.perf_counter() - promoted}

    def stop(self) -> None:
        pidfile = self.work / "pgbouncer.pid"
        if pidfile.exists():
            with contextlib.suppress(OSError, ValueError):
                os.kill(int(pidfile.read_text().split()[0]), signal.SIGTERM)
        for directory in (self.standby, *([] if self.primary_killed else [self.primary])):
            if (directory / "postmaster.pid").exists():
                with contextlib.suppress(subprocess.CalledProcessError):
                    self.run(self.bin / "pg_ctl", "-D", directory, "-m", "immediate", "-w", "stop")
        for pid in self.orphans:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)


def _parent_of(proc: Path) -> int:
    try:
        return int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return -1


def main_promote(args: argparse.Namespace, haproxy: str, env: dict[str, str]) -> int:
    import redis

    redis.Redis.from_url(REDIS_URL).flushdb()
    load_avg = os.getloadavg()
    work = Path(tempfile.mkdtemp(prefix="piazza-failover-"))
    clusters = Clusters(work)
    started: list[subprocess.Popen[bytes]] = []
    try:
        clusters.start_primary()
        primary_url = clusters.url(clusters.primary_port)
        run_django(primary_url, "migrate", "--noinput", "-v0")
        run_django(primary_url, "load_territory")
        setup_file = work / "setup.json"
        donations._child(primary_url, "setup", setup_file, "--campaigns", str(args.campaigns))
        setup = json.loads(setup_file.read_text())
        clusters.sql(clusters.primary_port, "ANALYZE")
        clusters.start_standby()
        clusters.start_bouncer()
        # The app servers and workers know only PgBouncer.
        app_url = clusters.url(clusters.bouncer_port)
        pooled = {**env, "DB_TRANSACTION_POOLING": "true"}
        server_a, server_b, workers, balancer, (a_port, b_port, front) = start_app_tier(app_url, pooled, haproxy, work)
        started += [server_a, server_b, *workers, balancer]
        asyncio.run(warm_up([a_port, b_port]))
        time.sleep(2)  # the health checks see both servers up
        results = asyncio.run(load_promote(f"http://127.0.0.1:{front}", setup, args, clusters))
        drained = drain_queue(timeout=180)
        for process in started:
            stop_server(process)
        started = []
        promoted_url = clusters.url(clusters.standby_port)
        in_recovery = clusters.sql(clusters.standby_port, "SELECT pg_is_in_recovery()")[0][0]
        results_file = work / "results.json"
        results_file.write_text(json.dumps(results["records"]))
        verify = donations._child(promoted_url, "verify", results_file)
        audit = subprocess.run(
            [sys.executable, "manage.py", "check_audit"],
            env=django_env(promoted_url),
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
        verify["audit_clean"] = audit.returncode == 0
        verify["audit_output"] = (audit.stdout + audit.stderr).strip()[-300:]
        verify["promoted_in_recovery"] = in_recovery
    finally:
        for process in started:
            stop_server(process)
        clusters.stop()
        shutil.rmtree(work, ignore_errors=True)
    return report_promote(args, results, verify, drained, load_avg)


async def warm_up(ports: list[int]) -> None:
    """Every gunicorn worker loads Django on its first request: done before the load, so that the
    "before" figure is not the servers' start (nor HAProxy's health checks timing out on it)."""
    async with httpx.AsyncClient(timeout=60) as client:
        for _ in range(3):
            await asyncio.gather(*(client.get(f"http://127.0.0.1:{port}/readyz") for port in ports for _ in range(4)))


async def load_promote(
    base: str, setup: dict[str, Any], args: argparse.Namespace, clusters: Clusters
) -> dict[str, Any]:
    """The open-model donation load; at one third the primary is killed and the standby promoted
    while the load goes on. A donor who sees an error retries with the same idempotency keys."""
    records: list[dict[str, Any]] = []
    done_at: list[float] = []
    ok_at: list[float] = []
    errors: list[tuple[float, str]] = []
    latencies: list[float] = []
    retried: list[int] = []
    timeline: dict[str, float] = {}
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=0)
    rng = random.Random(11)
    async with httpx.AsyncClient(
        base_url=base, limits=limits, timeout=60, follow_redirects=False, cookies={"csrftoken": setup["csrf"]}
    ) as client:
        start = time.perf_counter()
        kill_at = args.seconds / 3

        async def post(url: str, data: dict[str, str], what: str) -> httpx.Response | None:
            try:
                response = await client.post(url, data=data)
            except httpx.HTTPError as exc:
                errors.append((time.perf_counter() - start, f"{what}: {type(exc).__name__}"))
                return None
            if response.status_code != 302:
                errors.append((time.perf_counter() - start, f"{what}: HTTP {response.status_code}"))
                return None
            ok_at.append(time.perf_counter() - start)
            return response

        async def one(index: int, scheduled: float) -> None:
            campaign = setup["campaigns"][index % len(setup["campaigns"])]
            donor = setup["donors"][rng.randrange(len(setup["donors"]))]
            key, pay_key = os.urandom(12).hex(), os.urandom(12).hex()
            record: dict[str, Any] = {"key": key, "replay": False, "submitted": False, "paid": False}
            records.append(record)
            form = {
                "csrfmiddlewaretoken": setup["csrf"],
                "campaign_token": campaign["token"],
                "idempotency_key": key,
                **rng.choice(donations.AMOUNTS),
                "frequency": "one_off",
                "publication": "accept",
                "postal_code": "40126",
                "comune": "Bologna",
                "address": "Via Zamboni 1",
                **donor,
                **{f"attest_{k}": "on" for k in setup["attestations"]},
                "notice_version": setup.get("notice_version", ""),
            }
            pay_form = {"csrfmiddlewaretoken": setup["csrf"], "idempotency_key": pay_key, **donations.CARD}
            url = f"/raccolte/{campaign['slug']}/dona/"
            tries = 0
            for attempt in range(1 + args.retries):
                if attempt:
                    await asyncio.sleep(args.retry_after)
                tries = attempt
                if not record["submitted"]:
                    answer = await post(url, form, "donation form")
                    if answer is None:
                        continue
                    record["pay_url"] = answer.headers["location"]
                    record["submitted"] = True
                paid = await post(record["pay_url"], pay_form, "payment page")
                if paid is None:
                    continue
                location = paid.headers.get("location", "")
                if "/raccolte/donazione/" not in location:
                    # "/esito/": the outcome page saying the payment is being processed (its charge's
                    # answer was lost with the primary: pending until reconciliation, never charged
                    # again); else back to the payment page with a message.
                    what = "outcome pending" if location.rstrip("/").endswith("/esito") else "sent back to the form"
                    errors.append((time.perf_counter() - start, f"payment page: {what}"))
                    continue
                record["paid"] = True
                done_at.append(time.perf_counter() - start)
                latencies.append(time.perf_counter() - scheduled)
                break
            record["tries"] = tries + 1
            if tries:
                retried.append(index)

        async def failover() -> None:
            await asyncio.sleep(max(0.0, start + kill_at - time.perf_counter()))
            clusters.kill_primary()
            timeline["killed"] = time.perf_counter() - start
            steps = await asyncio.to_thread(clusters.promote)
            timeline["repointed"] = time.perf_counter() - start
            timeline.update(steps)

        tasks: set[asyncio.Task[None]] = set()
        switch = asyncio.create_task(failover())
        for i in range(int(args.rate * args.seconds)):
            scheduled = start + i / args.rate
            delay = scheduled - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            task = asyncio.create_task(one(i, scheduled))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        await switch
        if tasks:
            await asyncio.wait(tasks, timeout=180)
        timeline["end"] = time.perf_counter() - start
    return {
        "records": records,
        "done_at": done_at,
        "ok_at": sorted(ok_at),
        "errors": errors,
        "latencies": latencies,
        "retried": len(retried),
        "timeline": timeline,
        "offered": int(args.rate * args.seconds),
    }


def report_promote(
    args: argparse.Namespace,
    results: dict[str, Any],
    verify: dict[str, Any],
    queue: dict[str, int],
    load_avg: tuple[float, float, float],
) -> int:
    line = results["timeline"]
    killed = line["killed"]
    # The gap: the longest stretch after the kill with no request answered successfully.
    marks = [t for t in results["ok_at"] if t >= killed]
    previous, gap, resumed = killed, 0.0, killed
    for t in marks:
        if t - previous > gap:
            gap, resumed = t - previous, t
        previous = t
    done = results["done_at"]
    before = sum(1 for t in done if t < killed) / killed
    end = max(done, default=resumed)
    after = sum(1 for t in done if t >= resumed) / max(1.0, end - resumed)
    during = sum(1 for t in done if killed <= t < resumed)
    records = results["records"]
    saw_error = sum(1 for r in records if r.get("tries", 1) > 1 or not r["paid"])
    recovered = sum(1 for r in records if r.get("tries", 1) > 1 and r["paid"])
    unpaid = sum(1 for r in records if not r["paid"])
    intact = not verify["lost_count"] and not verify["double_charges"] and not verify["violations"]
    intact = intact and not verify["receipt_gaps"] and verify["audit_clean"] and not verify["promoted_in_recovery"]
    intact = intact and verify["charges"] == verify["payments_booked"]
    latency = summary(results["latencies"]).ms() if results["latencies"] else "—"
    lines = [
        "| figure | value |",
        "|---|---|",
        f"| offered | {results['offered']} donations at {args.rate:.0f}/s for {args.seconds:.0f} s; load average "
        f"at the start {load_avg[0]:.1f} / {load_avg[1]:.1f} / {load_avg[2]:.1f} |",
        f"| completed before the kill | {before:.1f} donations/s |",
        f"| primary killed → standby promoted → PgBouncer repointed | at {killed:.1f} s; `pg_ctl promote` "
        f"{line['promote_seconds']:.2f} s, config rewrite + RELOAD {line['repoint_seconds']:.2f} s |",
        f"| the gap (no request answered after the kill) | {gap:.1f} s ({during} donations completed inside it) |",
        f"| completed after the gap (promoted standby) | {after:.1f} donations/s |",
        f"| requests failed (HTTP error or connection lost) | {len(results['errors'])}: before the kill "
        f"{sum(1 for t, _ in results['errors'] if t < killed)}, from the kill to 10 s after the gap "
        f"{sum(1 for t, _ in results['errors'] if killed <= t < resumed + 10)}, later "
        f"{sum(1 for t, _ in results['errors'] if t >= resumed + 10)} |",
        f"| donors who saw an error | {saw_error}; retried with the same idempotency keys and completed: "
        f"{recovered}; still unpaid after {args.retries} retries: {unpaid}; payments left pending for the "
        f"reconciliation (which never charges): {verify['pending_before']} |",
        f"| latency of completed donations (from the scheduled arrival, retries included) | {latency} |",
        f"| on the promoted database: donations {verify['donations']}, succeeded {verify['succeeded']}, provider "
        f"charges {verify['charges']}, payments booked {verify['payments_booked']} | lost {verify['lost_count']}, "
        f"double charges {len(verify['double_charges'])}, ledger violations {len(verify['violations'])}, receipt "
        f"gaps {verify['receipt_gaps']} ({verify['receipts']} receipts), check_audit "
        f"{'clean' if verify['audit_clean'] else 'FAILED'} |",
        f"| task queue after draining | finished {queue['finished']}, failed {queue['failed']}, waiting "
        f"{queue['waiting']}, left started {queue['started']} |",
        "",
        "A scratch primary (initdb, its own port) and a hot standby made with `pg_basebackup -R`, streaming, "
        "synchronous (`synchronous_standby_names = 'FIRST 1 (standby1)'`, `synchronous_commit = on`); PgBouncer "
        "in transaction mode in front, the only database address the two app servers (HAProxy, 2 gunicorn "
        "workers each) and the two RQ workers know. At one third of the load the primary's postmaster got "
        "SIGKILL (by the PID in postmaster.pid); the benchmark then ran `pg_ctl promote` on the standby, "
        "rewrote PgBouncer's `[databases]` line to the standby's port and sent `RELOAD` on its admin console "
        "(rather than a `pg_ctl`-level trick such as restarting the promoted server on the dead primary's port: "
        "RELOAD keeps the clients' connections to PgBouncer and the queue of those waiting, and needs no "
        "restart of the database that has just taken over). "
        "The failure is announced at once (no detection delay: a failover manager such as Patroni adds its "
        "own, about its TTL). Every client-side success is checked on the promoted database. Verdict: "
        f"{'nothing lost or doubled' if intact else 'MONEY LOST OR DOUBLED'}.",
    ]
    kinds = Counter(message for _, message in results["errors"])
    if kinds:
        lines += ["", "Failed requests: " + "; ".join(f"{n} × {kind}" for kind, n in kinds.most_common(6)) + "."]
    if not verify["audit_clean"]:
        lines += ["", f"check_audit: {verify['audit_output']}"]
    table = "\n".join(lines)
    print(table)
    write_section(
        "failover-promote",
        "## Scale-out and failover: the primary killed, the synchronous standby promoted\n\n" + table,
    )
    return 0 if intact else 1


if __name__ == "__main__":
    sys.exit(main())
