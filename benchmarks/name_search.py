"""P5 name search through name words (ADR 0038), before and after, paired on one database.

    DATABASE_URL=postgres://…/bench_people_NAME python -m benchmarks.name_search [--migrate] [--searches 60]

Against a database seeded by `benchmarks.people` (or `piazza.people.demo.generate_people`) at
migration people 0012: `--migrate` times `migrate people 0013` on it. Then the GiST trigram index
of the old search is built again for the run alone, so both searches are measured on the same
data under the same load: for each of `--searches` two-word searches ("Surname Name", every other
one with a slip in the surname) the list page's two statements (the count capped at 1,001 and the
first page of 50 ids) of main's search and of the new one, interleaved, by EXPLAIN (ANALYZE,
BUFFERS) after one warm-up pass. Found: the person the search was made from is on the first page.
Prints a JSON line and a Markdown table; writes nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from typing import Any


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="benchmarks.name_search", description=__doc__.splitlines()[0])
    parser.add_argument("--migrate", action="store_true", help="time `migrate people 0013` first")
    parser.add_argument("--searches", type=int, default=60)
    parser.add_argument("--seed", type=int, default=38)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv if argv is not None else sys.argv[1:])
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    out: dict[str, Any] = {"load_start": os.getloadavg()}
    if args.migrate:
        started = time.monotonic()
        call_command("migrate", "people", "0013", verbosity=0)
        out["migrate_seconds"] = time.monotonic() - started
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM people_person")
        out["people"] = cursor.fetchone()[0]
        cursor.execute("SELECT count(*) FROM people_nameword")
        out["words"] = cursor.fetchone()[0]
        cursor.execute("SHOW jit")
        out["jit"] = cursor.fetchone()[0]
        cursor.execute(
            "CREATE INDEX IF NOT EXISTS person_search_name_gist ON people_person USING gist (search_name gist_trgm_ops)"
        )
        # The territory tree too (as benchmarks.people does): without its statistics the planner
        # takes the scope filter for one territory and runs the search once per territory.
        cursor.execute("VACUUM ANALYZE people_person, people_nameword, territory_territory")
    try:
        out.update(measure(args))
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DROP INDEX IF EXISTS person_search_name_gist")
    out["load_end"] = os.getloadavg()
    print(json.dumps(out))
    print(render(out))
    return 0


def old_search(queryset: Any, text: str) -> Any:
    """main's name search before ADR 0038 (GiST trigram on `people_person.search_name`)."""
    from django.db.models import BooleanField, F, Func, Value

    from piazza.people.queries import NameDistance, WordDistance
    from piazza.people.validation import search_name

    name = search_name(text, "")
    if " " in name:
        similar = Func(F("search_name"), Value(name), arg_joiner=" %% ", template="(%(expressions)s)")
        distance: Func = NameDistance(F("search_name"), Value(name))
    else:
        similar = Func(Value(name), F("search_name"), arg_joiner=" <%% ", template="(%(expressions)s)")
        distance = WordDistance(Value(name), F("search_name"))
    similar.output_field = BooleanField()
    return queryset.filter(similar).alias(name_distance=distance).order_by("name_distance")


def explain(sql: str, params: Any) -> tuple[float, int]:
    """Planning + execution ms and shared buffers (hit + read, planning included)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + sql, params)
        plan = cursor.fetchone()[0]
    if isinstance(plan, str):
        plan = json.loads(plan)
    top = plan[0]
    node = top["Plan"]
    planning = top.get("Planning", {})
    buffers = node["Shared Hit Blocks"] + node["Shared Read Blocks"]
    buffers += planning.get("Shared Hit Blocks", 0) + planning.get("Shared Read Blocks", 0)
    return top["Planning Time"] + top["Execution Time"], buffers


def measure(args: argparse.Namespace) -> dict[str, Any]:
    from django.contrib.auth import get_user_model
    from django.db import connection

    from piazza.people.demo import typo
    from piazza.people.models import Person, Source
    from piazza.people.queries import search, visible_people
    from piazza.territory.models import Role, Territory
    from piazza.territory.testing import make_official

    User = get_user_model()
    admin = User.objects.filter(username="bench_nazionale").first() or make_official(
        "bench_nazionale", Territory.objects.get(parent=None), [Role.ADMINISTRATOR]
    )
    rnd = random.Random(args.seed)
    ids = list(Person.objects.active().filter(source=Source.DEMO).values_list("pk", flat=True))
    people = list(Person.objects.filter(pk__in=rnd.sample(ids, args.searches)).order_by("pk"))
    searches = [
        (p.pk, f"{typo(p.last_name, rnd) if i % 2 else p.last_name} {p.first_name}") for i, p in enumerate(people)
    ]
    variants = {"before": old_search, "after": search}

    def statements(variant: str, text: str) -> tuple[tuple[str, Any], tuple[str, Any]]:
        qs = variants[variant](visible_people(admin), text).values_list("pk", flat=True)
        page_sql, page_params = qs[:50].query.sql_with_params()
        count_sql, count_params = qs[:1001].query.sql_with_params()
        return (f"SELECT count(*) FROM ({count_sql}) AS capped", count_params), (page_sql, page_params)

    def run(variant: str, pk: int, text: str) -> dict[str, Any]:
        (count_sql, count_params), (page_sql, page_params) = statements(variant, text)
        count_ms, count_buffers = explain(count_sql, count_params)
        page_ms, page_buffers = explain(page_sql, page_params)
        with connection.cursor() as cursor:
            cursor.execute(page_sql, page_params)
            found = pk in {row[0] for row in cursor.fetchall()}
        return {"ms": count_ms + page_ms, "page_ms": page_ms, "buffers": count_buffers + page_buffers, "found": found}

    for pk, text in searches:  # warm-up: caches, plans
        for variant in variants:
            run(variant, pk, text)
    rows: dict[str, list[dict[str, Any]]] = {variant: [] for variant in variants}
    for pk, text in searches:
        for variant in variants:
            rows[variant].append(run(variant, pk, text))
    result: dict[str, Any] = {"searches": len(searches), "examples": [t for _pk, t in searches[:6]]}
    for variant, samples in rows.items():
        for key in ("ms", "page_ms", "buffers"):
            values = sorted(s[key] for s in samples)
            rank = max(1, -(-99 * len(values) // 100))
            result[f"{variant}_{key}"] = {
                "min": values[0],
                "median": statistics.median(values),
                "p99": values[rank - 1],
                "max": values[-1],
            }
        result[f"{variant}_found"] = sum(s["found"] for s in samples)
        result[f"{variant}_found_plain"] = sum(s["found"] for i, s in enumerate(samples) if i % 2 == 0)
        result[f"{variant}_found_slip"] = sum(s["found"] for i, s in enumerate(samples) if i % 2 == 1)
    return result


def render(r: dict[str, Any]) -> str:
    lines = [
        "| search | median ms | p99 ms | page alone, median / p99 ms | buffers, median / p99 | found (plain + slip) |",
        "|---|---|---|---|---|---|",
    ]
    for variant, label in (("before", "before: GiST trigram on search_name"), ("after", "after: name words")):
        ms, page, buf = r[f"{variant}_ms"], r[f"{variant}_page_ms"], r[f"{variant}_buffers"]
        lines.append(
            f"| {label} | {ms['median']:.1f} | {ms['p99']:.1f} | {page['median']:.1f} / {page['p99']:.1f} | "
            f"{buf['median']:,.0f} / {buf['p99']:,.0f} | {r[f'{variant}_found']}/{r['searches']} "
            f"({r[f'{variant}_found_plain']} + {r[f'{variant}_found_slip']}) |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
