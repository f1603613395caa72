"""Email broadcasts (PERFORMANCE.md P9) on PostgreSQL, in a scratch database.

    python -m benchmarks.broadcast [--size 20000] [--send 5000] [--keep]

P9: render and enqueue 1,000,000 personalised messages in at most 10 minutes, memory flat in the
number of recipients. The child seeds `--size` demo people, counts the audience (G2/G3 exclusions,
one query), then queues a broadcast to all of them (one INSERT … SELECT into `Delivery` rows inside
PostgreSQL, then one send task per chunk of OUTREACH_CHUNK_SIZE, enqueued into the database task
backend, not executed) and renders every message exactly as the sender does, chunk by chunk (merge
values in two queries per chunk, then `render.Compiled`: merge fields into the MJML layout compiled
once per broadcast, plain text, RFC 8058 headers, the MIME bytes handed to smtplib) — in one process,
then in two worker processes (chunks are independent). It does it again at 2 × size: time per
message and the tracemalloc peak of both runs show whether the work is linear and the memory flat.

Send pipeline: an aiosmtpd server (Sink handler, separate process) on loopback; its ceiling is raw
`smtplib` sending prebuilt messages over one connection; the pipeline is `send_deliveries` (claim,
render, smtplib on the SMTP backend's session, status update per group) on `--send` deliveries.
Figure: messages/s and the ratio to the ceiling.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import subprocess
import sys
import time
from typing import Any

from benchmarks.common import django_env, free_port, run_django, scratch_database, write_section


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="benchmarks.broadcast", description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=20_000, help="people seeded for the first run (the second is 2×)")
    parser.add_argument("--send", type=int, default=5_000, help="messages through the SMTP pipeline")
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--smtp-port", type=int, default=0, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv if argv is not None else sys.argv[1:] if __name__ == "__main__" else [])
    if args.child:
        return child(args)
    name = f"bench_broadcast_{os.getpid()}"
    started = time.monotonic()
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{port}", "-c", "aiosmtpd.handlers.Sink"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        with scratch_database(name, keep=args.keep) as url:
            run_django(url, "migrate", "--noinput", "-v0")
            run_django(url, "load_territory")
            env = django_env(
                url,
                PIAZZA_TASKS_BACKEND="database",
                OUTREACH_MAX_PER_DAY="1000",
                OUTREACH_MAX_PER_WEEK="1000",
                OUTREACH_RATE_PER_SECOND="1000000",
                EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
                EMAIL_HOST="127.0.0.1",
                EMAIL_PORT=str(port),
            )
            command = [sys.executable, "-m", "benchmarks.broadcast", "--child", "--size", str(args.size)]
            command += ["--send", str(args.send), "--smtp-port", str(port)]
            done = subprocess.run(command, env=env, stdout=subprocess.PIPE, text=True, check=False)
            if done.returncode != 0:
                print(done.stdout)
                print(f"benchmarks.broadcast: the child process failed (exit {done.returncode})", file=sys.stderr)
                return 1
            results = json.loads(done.stdout.strip().splitlines()[-1])
    finally:
        server.terminate()
        server.wait(timeout=10)
    results["wall_minutes"] = (time.monotonic() - started) / 60
    markdown = render(results)
    write_section("broadcast", markdown)
    print(markdown)
    return 0


def log(message: str) -> None:
    print(f"[broadcast] {message}", file=sys.stderr, flush=True)


class _Stderr:
    def write(self, text: str) -> None:
        log(text.strip())


def child(args: argparse.Namespace) -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    import smtplib

    from django.conf import settings

    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", args.smtp_port
    import tracemalloc

    from django.db import connection, connections

    from piazza.outreach.actions import broadcasts as broadcast_actions
    from piazza.outreach.actions import delivery as delivery_actions
    from piazza.outreach.models import Broadcast, BroadcastStatus, Delivery
    from piazza.outreach.queries import audience_count
    from piazza.outreach.render import build_message, merge_values, prepare
    from piazza.outreach.sending import send_deliveries
    from piazza.people.demo import generate_people
    from piazza.people.models import Segment
    from piazza.territory.models import Role
    from piazza.territory.testing import build_tree, make_official

    tree = build_tree()
    officer = make_official("bench_comunicazione", tree.national, [Role.COMMUNICATION], email="bench@example.org")
    segment = Segment.objects.create(name="Tutti", territory=tree.national, definition={})
    body = (
        "Ciao {{ nome }},\n\nil circolo **{{ circolo }}** ti aspetta sabato.\n\n"
        "Finora hai donato {{ totale_donato }}: grazie.\n\n- un punto\n- un altro punto\n"
    )
    out: dict[str, Any] = {
        "size": args.size,
        "send": args.send,
        "load_start": os.getloadavg()[1],
        "cores": os.cpu_count() or 1,
    }

    def chunks(broadcast: Any) -> list[tuple[int, int]]:
        """The id ranges the queue enqueued one send task for (the same query as queue_deliveries)."""
        with connection.cursor() as cursor:
            cursor.execute(
                """SELECT MIN(id), MAX(id) FROM (
                        SELECT id, (ROW_NUMBER() OVER (ORDER BY id) - 1) / %s AS chunk
                        FROM outreach_delivery WHERE broadcast_id = %s) AS numbered
                   GROUP BY chunk ORDER BY 1""",
                [settings.OUTREACH_CHUNK_SIZE, broadcast.pk],
            )
            return [(a, b) for a, b in cursor.fetchall()]

    def render_all(broadcast: Any, workers: int = 1) -> tuple[int, int]:
        ranges = [(broadcast.pk, a, b) for a, b in chunks(broadcast)]
        if workers == 1:
            done = [render_range(r) for r in ranges]
        else:
            connections.close_all()  # each forked worker opens its own connection
            with multiprocessing.get_context("fork").Pool(workers, initializer=_worker_start) as pool:
                done = pool.map(render_range, ranges, chunksize=1)
        return sum(n for n, _s in done), sum(size for _n, size in done)

    def new_broadcast() -> Any:
        broadcast = broadcast_actions.save_broadcast(
            actor=officer, territory=tree.national, segment=segment, subject="{{ nome }}, sabato", body=body
        )
        Broadcast.objects.filter(pk=broadcast.pk).update(status=BroadcastStatus.SENDING)
        return broadcast

    def one_run(label: str) -> dict[str, Any]:
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
        # Timed pass (no tracemalloc: it slows Python down several times).
        broadcast = new_broadcast()
        started = time.monotonic()
        count = audience_count(broadcast)
        count_seconds = time.monotonic() - started
        started = time.monotonic()
        queued = delivery_actions.queue_deliveries(broadcast)
        queue_seconds = time.monotonic() - started
        started, cpu = time.monotonic(), time.process_time()
        rendered, size = render_all(broadcast)
        render_seconds = time.monotonic() - started
        render_cpu = time.process_time() - cpu
        started = time.monotonic()
        rendered_pool, _size = render_all(broadcast, workers=2)
        pool_seconds = time.monotonic() - started
        assert rendered_pool == rendered == queued, (rendered_pool, rendered, queued)
        # Memory pass: the same work for a second broadcast under tracemalloc.
        twin = new_broadcast()
        tracemalloc.start()
        delivery_actions.queue_deliveries(twin)
        _c, queue_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        render_all(twin)
        _c, render_peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        log(f"{label}: {queued} queued in {queue_seconds:.1f}s, {rendered} rendered in {render_seconds:.1f}s")
        return {
            "recipients": queued,
            "eligible": count.eligible,
            "excluded": {str(code): n for code, _w, n in count.exclusions},
            "count_seconds": count_seconds,
            "queue_seconds": queue_seconds,
            "render_seconds": render_seconds,
            "pool_seconds": pool_seconds,
            "render_cpu_us": render_cpu / max(rendered, 1) * 1e6,
            "chunks": len(chunks(broadcast)),
            "queue_peak_mb": queue_peak / 2**20,
            "render_peak_mb": render_peak / 2**20,
            "mean_message_bytes": size / max(rendered, 1),
            "broadcast": broadcast.pk,
        }

    log(f"seeding {args.size:,} people")
    generate_people(args.size, seed=1, stdout=_Stderr())
    out["n"] = one_run("N")
    log(f"seeding {args.size:,} more")
    generate_people(args.size, seed=2, stdout=_Stderr())
    out["2n"] = one_run("2N")

    # Send pipeline vs the server's own ceiling.
    broadcast = Broadcast.objects.get(pk=out["2n"]["broadcast"])
    ids = list(Delivery.objects.filter(broadcast=broadcast).order_by("pk").values_list("pk", flat=True)[: args.send])
    prepared = prepare(broadcast)
    sample = list(Delivery.objects.filter(pk__in=ids[:200]))
    values = merge_values(d.person_id for d in sample)
    raw = [build_message(d, prepared, values.get(d.person_id, {})).message().as_bytes(linesep="\r\n") for d in sample]
    started = time.monotonic()
    with smtplib.SMTP("127.0.0.1", args.smtp_port) as smtp:
        for i in range(args.send):
            smtp.sendmail("bench@example.org", [f"r{i}@example.org"], raw[i % len(raw)])
    ceiling = args.send / (time.monotonic() - started)
    started = time.monotonic()
    sent = 0
    for i in range(0, len(ids), settings.OUTREACH_CHUNK_SIZE):
        sent += send_deliveries(ids[i : i + settings.OUTREACH_CHUNK_SIZE])
    pipeline = sent / (time.monotonic() - started)
    out.update(smtp_ceiling=ceiling, pipeline_rate=pipeline, pipeline_sent=sent)
    out["load_end"] = os.getloadavg()[1]
    print(json.dumps(out))
    return 0


_COMPILED: dict[tuple[int, str], Any] = {}


def _worker_start() -> None:
    from django.db import connections

    connections.close_all()


def render_range(item: tuple[int, int, int]) -> tuple[int, int]:
    """One chunk as `send_deliveries` renders it: (messages, bytes). Module level: the pool pickles it."""
    from piazza.outreach.models import Broadcast, Delivery
    from piazza.outreach.render import Compiled, merge_values, prepare

    broadcast_id, first, last = item
    rows = list(
        Delivery.objects.filter(broadcast_id=broadcast_id, pk__gte=first, pk__lte=last).values_list(
            "pk", "person_id", "email", "variant", "message_id"
        )
    )
    values = merge_values(r[1] for r in rows)
    size = 0
    for pk, person_id, email, variant, message_id in rows:
        key = (broadcast_id, variant)
        if key not in _COMPILED:
            broadcast = Broadcast.objects.select_related("territory").get(pk=broadcast_id)
            _COMPILED[key] = Compiled(prepare(broadcast, variant), broadcast_id=broadcast_id)
        data, _id = _COMPILED[key].message_bytes(
            delivery_id=pk, person_id=person_id, email=email, values=values.get(person_id, {}), message_id=message_id
        )
        size += len(data)
    return len(rows), size


def render(r: dict[str, Any]) -> str:
    n, n2 = r["n"], r["2n"]
    one = (n2["queue_seconds"] + n2["render_seconds"]) / max(n2["recipients"], 1)
    two = (n2["queue_seconds"] + n2["pool_seconds"]) / max(n2["recipients"], 1)
    million_one, million_two = one * 1_000_000 / 60, two * 1_000_000 / 60
    ratio = r["pipeline_rate"] / r["smtp_ceiling"]
    flat = n2["render_peak_mb"] < 1.5 * n["render_peak_mb"] and n2["queue_peak_mb"] < 1.5 * n["queue_peak_mb"]

    def verdict(ok: bool) -> str:
        return "met" if ok else "**missed**"

    def row(label: str, key: str, fmt: str, unit: str) -> str:
        return f"| {label} | {format(n[key], fmt)}{unit} | {format(n2[key], fmt)}{unit} |"

    lines = [
        "## Email broadcasts (P9)",
        "",
        "Scratch database, demo people seeded by `piazza.people.demo`; a national broadcast to everyone "
        "(frequency limits lifted for the run); tasks enqueued into the database backend, not executed. "
        f"Under load: load average {r['load_start']:.1f} at start, {r['load_end']:.1f} at end "
        f"(the machine is shared by several builds; {r['cores']} cores); whole run {r['wall_minutes']:.1f} min.",
        "",
        "| figure | N | 2N |",
        "|---|---|---|",
        row("recipients queued (eligible after G2/G3)", "recipients", ",", ""),
        row("audience count with exclusions (one query)", "count_seconds", ".2f", " s"),
        row("queue: INSERT … SELECT of Delivery rows + one send task per chunk", "queue_seconds", ".2f", " s"),
        row("send tasks enqueued (one per chunk)", "chunks", ",", ""),
        row(
            "render every message, one process (merge, layout, text, headers, MIME bytes)",
            "render_seconds",
            ".2f",
            " s",
        ),
        row("the same, two worker processes", "pool_seconds", ".2f", " s"),
        row("CPU time per message rendered (one process)", "render_cpu_us", ".0f", " µs"),
        row("tracemalloc peak while queueing", "queue_peak_mb", ".1f", " MB"),
        row("tracemalloc peak while rendering", "render_peak_mb", ".1f", " MB"),
        row("mean message size", "mean_message_bytes", ",.0f", " B"),
        "",
        "| goal | measured | target | verdict |",
        "|---|---|---|---|",
        f"| P9 render + enqueue, two worker processes, extrapolated from 2N | {million_two:.1f} min for "
        f"1,000,000 ({1 / two:,.0f} messages/s) | ≤ 10 min (≥ 1,667 messages/s) | {verdict(million_two <= 10)} |",
        f"| same, one process | {million_one:.1f} min ({1 / one:,.0f} messages/s) | ≤ 10 min "
        f"| {verdict(million_one <= 10)} |",
        f"| memory flat (peak at 2N < 1.5 × peak at N) | {'yes' if flat else 'no'} | flat | {verdict(flat)} |",
        f"| send pipeline into aiosmtpd ({r['pipeline_sent']:,} messages, one worker) "
        f"| {r['pipeline_rate']:.0f} messages/s = {ratio:.0%} of C_smtp | — | — |",
        f"| C_smtp: raw smtplib, prebuilt messages, one connection, same server, same run "
        f"| {r['smtp_ceiling']:.0f} messages/s | ceiling | — |",
        "",
        f"Exclusions at 2N (codes): {json.dumps(n2['excluded'])}.",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
