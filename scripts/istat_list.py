"""Build data/istat/comuni-<date>.csv, the list of comuni that `load_territory` reads (rule D2).

Why a script: ISTAT publishes the list as a snapshot without history, while piazza must keep every
comune a person ever referenced, with its validity and its successor. The shipped file is the
ISTAT snapshot plus the variations since then (data/istat/variazioni.csv, one row per fusion,
incorporation or renaming, with ISTAT codes) plus the comuni of the previous shipped file that no
longer exist, with the dates they were valid (ANPR archive).

Update path for a maintainer (no network at run time: the inputs are files you downloaded):
    python scripts/istat_list.py --istat Elenco-comuni-italiani.csv --istat-date 2027-01-01 \
        --anpr municipalities.json --previous data/istat/comuni-2026-02-21.csv \
        --as-of 2027-01-01 --out data/istat/comuni-2027-01-01.csv
then point ISTAT_FILE in piazza/territory/loading.py at the new file and run `manage.py
load_territory --dry-run`, then without --dry-run.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import io
import json
from pathlib import Path

COLUMNS = [
    "istat_code",
    "name",
    "belfiore",
    "province_code",
    "province_name",
    "province_sigla",
    "region_code",
    "region_name",
    "zone",
    "population_2011",
    "valid_from",
    "valid_to",
    "successor",
]
# Columns of ISTAT's "Elenco-comuni-italiani.csv" (semicolon separated, Windows-1252).
I_REGION, I_PROVINCE, I_CODE, I_NAME, I_ZONE, I_REGION_NAME = 0, 2, 4, 6, 9, 10
I_PROVINCE_NAME, I_SIGLA, I_BELFIORE = 11, 14, 19


def read_istat(path: Path) -> list[dict[str, str]]:
    text = path.read_bytes().decode("cp1252")
    rows = list(csv.reader(io.StringIO(text), delimiter=";"))[1:]
    return [
        {
            "istat_code": r[I_CODE].strip(),
            "name": r[I_NAME].strip(),
            "belfiore": r[I_BELFIORE].strip(),
            "province_code": r[I_PROVINCE].strip(),
            "province_name": r[I_PROVINCE_NAME].strip(),
            "province_sigla": r[I_SIGLA].strip(),
            "region_code": r[I_REGION].strip(),
            "region_name": r[I_REGION_NAME].strip(),
            "zone": r[I_ZONE].strip(),
            "population_2011": "",
            "valid_from": "",
            "valid_to": "",
            "successor": "",
        }
        for r in rows
        if r and r[I_CODE].strip()
    ]


def anpr_periods(path: Path) -> dict[str, list[dict[str, str]]]:
    periods: dict[str, list[dict[str, str]]] = {}
    for item in json.loads(path.read_text(encoding="utf-8")):
        periods.setdefault(item["code"], []).append(item)
    return periods


def period_on(periods: list[dict[str, str]], day: str) -> dict[str, str] | None:
    for item in periods:
        if item["date_created"][:10] <= day and (not item["date_deleted"] or item["date_deleted"][:10] >= day):
            return item
    return None


def build(args: argparse.Namespace) -> list[dict[str, str]]:
    rows = {r["istat_code"]: r for r in read_istat(args.istat)}
    anpr = anpr_periods(args.anpr)
    previous = list(csv.DictReader(args.previous.open(encoding="utf-8")))
    population = {r["belfiore"]: r["population_2011"] for r in previous}
    for row in rows.values():
        periods = anpr.get(row["belfiore"], [])
        period = period_on(periods, args.as_of) or period_on(periods, args.istat_date)
        if period is None:
            raise SystemExit(f"{row['istat_code']} {row['name']}: not valid in ANPR on {args.istat_date}")
        if "?" in row["name"]:  # characters outside Windows-1252 arrive as "?" (e.g. Slovenian č)
            row["name"] = period["name"]
        row["valid_from"] = period["date_created"][:10]
        row["population_2011"] = population.get(row["belfiore"], "0")

    day_before = lambda day: (dt.date.fromisoformat(day) - dt.timedelta(days=1)).isoformat()  # noqa: E731
    for row in previous:  # comuni that ceased to exist before the ISTAT snapshot stay, with their dates
        if row["istat_code"] not in rows and not any(r["belfiore"] == row["belfiore"] for r in rows.values()):
            rows[row["istat_code"]] = {**dict.fromkeys(COLUMNS, ""), **row}
    changes = sorted(csv.DictReader(args.changes.open(encoding="utf-8")), key=lambda c: c["date"])
    for change in changes:
        if change["date"] > args.as_of:
            continue
        predecessors = change["predecessors"].split()
        if change["kind"] == "fusione" and change["istat_code"] not in rows:
            template = rows[predecessors[0]]
            rows[change["istat_code"]] = {
                **template,
                "istat_code": change["istat_code"],
                "name": change["name"],
                "belfiore": change["belfiore"],
                "valid_from": change["date"],
                "valid_to": "",
                "successor": "",
                "population_2011": str(sum(int(rows[p]["population_2011"] or 0) for p in predecessors)),
            }
        target = rows[change["istat_code"]]
        target["name"] = change["name"]
        for code in predecessors:
            rows[code]["valid_to"] = day_before(change["date"])
            rows[code]["successor"] = change["istat_code"]
    return sorted(rows.values(), key=lambda r: r["istat_code"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--istat", type=Path, required=True, help="ISTAT Elenco-comuni-italiani.csv")
    parser.add_argument("--istat-date", required=True, help="the date of that ISTAT snapshot, YYYY-MM-DD")
    parser.add_argument("--anpr", type=Path, required=True, help="ANPR archive as JSON (python-codicefiscale)")
    parser.add_argument("--previous", type=Path, required=True, help="the list shipped until now")
    parser.add_argument("--changes", type=Path, default=Path("data/istat/variazioni.csv"))
    parser.add_argument("--as-of", required=True, help="apply variations up to this date")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    rows = build(args)
    with args.out.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    current = sum(1 for r in rows if not r["valid_to"] or r["valid_to"] >= args.as_of)
    print(f"{len(rows)} comuni written, {current} in force on {args.as_of}")


if __name__ == "__main__":
    main()
