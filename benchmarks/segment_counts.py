"""P5 segment counts (ADR 0040): the exact count and the capped one, paired on one database.

    DATABASE_URL=postgres://…/bench_people_NAME python -m benchmarks.segment_counts [--runs 50]

Against a database seeded by `benchmarks.people` (or `piazza.people.demo.generate_people`), as the
national administrator `bench_nazionale` (the widest scope): the five definitions of
`benchmarks.people`, each counted `--runs` times exactly (`count(*)` of every match, what the
pages ran before) and capped (`count(*) FROM (… LIMIT SEGMENT_COUNT_CAP + 1)`, what they run now),
the two interleaved run by run so both see the same load and cache. Then one EXPLAIN (ANALYZE,
BUFFERS) of each, after the timed runs: buffers = shared hit + read. Prints a JSON line and a
Markdown table; writes nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any

from benchmarks.common import summary


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="benchmarks.segment_counts", description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50, help="timed runs per definition and count (default 50)")
    return parser.parse_args(argv)


def definitions(tree: Any) -> list[dict[str, Any]]:
    """The five definitions of `benchmarks.people` (P5), in the same order."""
    return [
        {"consent": "political_communication", "territory": tree.emilia.pk},
        {"age_min": 30, "age_max": 50, "territory": tree.lombardia.pk},
        {"tags": ["volontario"]},
        {"consent": "newsletter", "age_min": 65},
        {"territory": tree.bologna.pk, "age_max": 35},
    ]


def main(argv: list[str] | None = None) -> int:
    args = parse(argv if argv is not None else sys.argv[1:])
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.db import connection, transaction

    from piazza.people.queries import SEGMENT_COUNT_CAP, count_capped, count_without_jit, people_for
    from piazza.territory.testing import build_tree

    admin = get_user_model().objects.get(username="bench_nazionale")
    tree = build_tree()
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM people_person")
        people = cursor.fetchone()[0]
    out: dict[str, Any] = {"people": people, "runs": args.runs, "cap": SEGMENT_COUNT_CAP, "load_start": os.getloadavg()}

    def exact(definition: dict[str, Any]) -> int:
        return count_without_jit(people_for(admin, definition))

    def capped(definition: dict[str, Any]) -> int:
        return count_capped(people_for(admin, definition), SEGMENT_COUNT_CAP).value

    def buffers(definition: dict[str, Any], limit: bool) -> int:
        queryset = people_for(admin, definition).order_by().values("pk")
        if limit:
            queryset = queryset[: SEGMENT_COUNT_CAP + 1]
        sql, params = queryset.query.sql_with_params()
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET LOCAL jit = off")
            cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) SELECT count(*) FROM ({sql}) AS s", params)
            plan = cursor.fetchone()[0]
        top = (plan if isinstance(plan, list) else json.loads(plan))[0]["Plan"]
        return int(top.get("Shared Hit Blocks", 0)) + int(top.get("Shared Read Blocks", 0))

    rows: list[dict[str, Any]] = []
    every: dict[str, list[float]] = {"exact": [], "capped": []}
    for definition in definitions(tree):
        exact(definition), capped(definition)  # warm-up
        samples: dict[str, list[float]] = {"exact": [], "capped": []}
        found: dict[str, int] = {}
        for _ in range(args.runs):
            for name, function in (("exact", exact), ("capped", capped)):
                started = time.perf_counter()
                found[name] = function(definition)
                samples[name].append(time.perf_counter() - started)
        for name in every:
            every[name] += samples[name]
        rows.append(
            {
                "definition": definition,
                "exact_count": found["exact"],
                "capped_count": found["capped"],
                "exact": summary(samples["exact"]).__dict__,
                "capped": summary(samples["capped"]).__dict__,
                "exact_buffers": buffers(definition, limit=False),
                "capped_buffers": buffers(definition, limit=True),
            }
        )
    out["definitions"] = rows
    out["all_exact"] = summary(every["exact"]).__dict__
    out["all_capped"] = summary(every["capped"]).__dict__
    out["load_end"] = os.getloadavg()
    print(json.dumps(out))
    print(render(out))
    return 0


def _ms(s: dict[str, Any]) -> str:
    return f"{s['median'] * 1000:.1f} / {s['p99'] * 1000:.1f}"


def render(r: dict[str, Any]) -> str:
    lines = [
        f"{r['people']:,} people, {r['runs']} runs per definition and count, cap {r['cap']:,}; "
        f"load (1/5/15 min) {'/'.join(f'{x:.1f}' for x in r['load_start'])} at the start, "
        f"{'/'.join(f'{x:.1f}' for x in r['load_end'])} at the end.",
        "",
        "| definition | people | exact: median / p99 ms | capped: median / p99 ms | buffers exact → capped |",
        "|---|---|---|---|---|",
    ]
    for row in r["definitions"]:
        shown = f"{row['exact_count']:,}" + (" (shown: più di 10.000)" if row["capped_count"] > r["cap"] else "")
        lines.append(
            f"| `{json.dumps(row['definition'])}` | {shown} | {_ms(row['exact'])} | {_ms(row['capped'])} | "
            f"{row['exact_buffers']:,} → {row['capped_buffers']:,} |"
        )
    lines.append(f"| all five | | {_ms(r['all_exact'])} | {_ms(r['all_capped'])} | |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
