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
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
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


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="benchmarks.failover", description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0, help="length of the load")
    parser.add_argument("--rate", type=float, default=8.0, help="donations started per second")
    parser.add_argument("--campaigns", type=int, default=50)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv if argv is not None else sys.argv[1:] if __name__ == "__main__" else [])
    haproxy = shutil.which("haproxy") or "/usr/sbin/haproxy"
    if not Path(haproxy).exists():
        print("benchmarks.failover: needs Debian's haproxy (apt-get install haproxy); not run")
        return 0
    import redis

    redis.Redis.from_url(REDIS_URL).flushdb()
    env = {
        "PIAZZA_TASKS_BACKEND": "rq",
        "REDIS_URL": REDIS_URL,
        "PUBLIC_FORM_THROTTLE_PER_IP": "100000000",
        "PUBLIC_FORM_THROTTLE_PER_CODE": "100000000",
        **sandbox_env(),
    }
    name = f"bench_failover_{os.getpid()}"
    started: list[subprocess.Popen[bytes]] = []
    with scratch_database(name) as url, tempfile.TemporaryDirectory() as tmp:
        run_django(url, "migrate", "--noinput", "-v0")
        run_django(url, "load_territory")
        setup_file = Path(tmp) / "setup.json"
        donations._child(url, "setup", setup_file, "--campaigns", str(args.campaigns))
        setup = json.loads(setup_file.read_text())
        try:
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
            cfg = Path(tmp) / "haproxy.cfg"
            cfg.write_text(HAPROXY_CFG.format(front=front, a=a_port, b=b_port))
            balancer = subprocess.Popen([haproxy, "-f", str(cfg), "-db"], start_new_session=True)
            started += [server_a, server_b, *workers, balancer]
            time.sleep(2)  # the first health checks
            results = asyncio.run(load(f"http://127.0.0.1:{front}", setup, args, server_a, workers[0]))
            drained = drain_queue(timeout=120)
        finally:
            for process in started:
                stop_server(process)
        results_file = Path(tmp) / "results.json"
        results_file.write_text(json.dumps(results["records"]))
        verify = donations._child(url, "verify", results_file)
    return report(args, results, verify, drained)


def drain_queue(timeout: float) -> dict[str, int]:
    """Wait until the surviving worker has emptied the queue; count what each registry holds."""
    from redis import Redis
    from rq import Queue
    from rq.registry import FailedJobRegistry, FinishedJobRegistry, StartedJobRegistry

    connection = Redis.from_url(REDIS_URL)
    queue = Queue("default", connection=connection)
    deadline = time.monotonic() + timeout
    while queue.count and time.monotonic() < deadline:
        time.sleep(1)
    return {
        "waiting": queue.count,
        "finished": FinishedJobRegistry(queue=queue).count,
        "failed": FailedJobRegistry(queue=queue).count,
        "started": StartedJobRegistry(queue=queue).count,
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
        f"| task queue after draining | finished {queue['finished']}, failed {queue['failed']}, waiting "
        f"{queue['waiting']}, left started by the killed worker {queue['started']} |",
        "",
        f"HAProxy (round robin, health checks on /readyz every second, `retry-on conn-failure empty-response`) in "
        f"front of two gunicorn app servers of 2 workers each; two RQ workers on Redis; PostgreSQL. At "
        f"{kill_at:.0f} s app server A (its process group) and worker 1 were killed with SIGKILL. Verdict: "
        f"{'nothing lost or doubled' if intact else 'MONEY LOST OR DOUBLED'}.",
    ]
    from collections import Counter

    kinds = Counter(message[:120] for _, message in results["errors"])
    if kinds:
        lines += ["", "Errors: " + "; ".join(f"{n} × {kind}" for kind, n in kinds.most_common(4))]
    table = "\n".join(lines)
    print(table)
    write_section("failover", "## Scale-out and failover: an app server and a worker killed mid-load\n\n" + table)
    return 0 if intact else 1


if __name__ == "__main__":
    sys.exit(main())
