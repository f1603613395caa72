"""Load the ISTAT comuni (rule D2) and build the party's default tree from them (M19, M20).

Idempotent: running it again updates names and validity in place, creates what is missing
and never deletes, so officials' edits to the tree below federations survive. A newer list is
the update path: a comune ISTAT recoded (same Belfiore code, new ISTAT code, e.g. when it moved
province) is updated in place; a comune merged away keeps its row with its end date and its
successor, and every circolo that covered it also covers the successor, so nobody's comune is
lost and nobody falls outside a circolo. The list is built by scripts/istat_list.py.
"""

from __future__ import annotations

import csv
import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import transaction

from piazza.core.audit import record
from piazza.territory.models import Comune, Kind, Level, Territory

ISTAT_FILE = Path(settings.BASE_DIR) / "data" / "istat" / "comuni-2026-02-21.csv"

# Metropolitan cities (L. 56/2014) by plate code; their federations are metropolitan.
METROPOLITAN_SIGLE = {"TO", "GE", "MI", "VE", "BO", "FI", "RM", "NA", "BA", "RC", "PA", "ME", "CT", "CA"}
# Trentino-Alto Adige: two provincial unions instead of a regional one (rule M19).
PROVINCIAL_UNIONS = {"022": "Unione provinciale del Trentino", "021": "Unione provinciale Alto Adige Südtirol"}
TRENTINO_REGION_CODE = "04"
# Circoscrizione Estero and its four areas (rule M20).
ABROAD_NAME = "Circoscrizione Estero"
ABROAD_AREAS = [
    "Europa",
    "America meridionale",
    "America settentrionale e centrale",
    "Africa, Asia, Oceania e Antartide",
]
NATIONAL_NAME = "Partito Democratico – Nazionale"


@dataclass
class LoadReport:
    comuni_in_file: int
    comuni_created: int
    comuni_updated: int
    regions: int
    federations: int
    comuni_recoded: int = 0
    comuni_merged: int = 0
    circoli_extended: int = 0
    comuni_not_in_file: int = 0


def read_istat_rows(path: Path = ISTAT_FILE) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def _date(value: str) -> dt.date | None:
    return dt.date.fromisoformat(value) if value else None


def _node(parent: Territory | None, level: str, kind: str, name: str, code: str) -> Territory:
    existing = Territory.objects.filter(parent=parent, level=level, code=code, kind=kind)
    if code == "":
        existing = existing.filter(name=name)
    node = existing.first()
    if node is None:
        node = Territory(parent=parent, level=level, kind=kind, name=name, code=code)
        node.save()
    return node


class _DryRun(Exception):
    """Raised to roll a dry run back once its report is known."""

    def __init__(self, report: LoadReport) -> None:
        self.report = report


def load_territory(path: Path = ISTAT_FILE, *, dry_run: bool = False) -> LoadReport:
    """Load or update; with dry_run, report what would change and write nothing."""
    try:
        with transaction.atomic():
            report = _load(path)
            if dry_run:
                raise _DryRun(report)
    except _DryRun as rolled_back:
        return rolled_back.report
    return report


def _load(path: Path) -> LoadReport:
    rows = read_istat_rows(path)
    national = Territory.objects.filter(level=Level.NATIONAL).first()
    if national is None:
        national = Territory(level=Level.NATIONAL, kind=Kind.NATIONAL, name=NATIONAL_NAME)
        national.save()

    regions: dict[str, Territory] = {}
    federations: dict[str, Territory] = {}
    for row in sorted(rows, key=lambda r: (r["region_code"], r["province_code"])):
        region_code, province_code = row["region_code"], row["province_code"]
        if region_code == TRENTINO_REGION_CODE:
            union_key = f"P{province_code}"
            if union_key not in regions:
                regions[union_key] = _node(
                    national,
                    Level.REGION,
                    Kind.PROVINCIAL_UNION,
                    PROVINCIAL_UNIONS[province_code],
                    province_code,
                )
            region = regions[union_key]
        else:
            if region_code not in regions:
                regions[region_code] = _node(
                    national,
                    Level.REGION,
                    Kind.REGION,
                    f"Unione regionale {row['region_name']}",
                    region_code,
                )
            region = regions[region_code]
        if province_code not in federations:
            metropolitan = row["province_sigla"] in METROPOLITAN_SIGLE
            federations[province_code] = _node(
                region,
                Level.FEDERATION,
                Kind.METROPOLITAN if metropolitan else Kind.PROVINCIAL,
                ("Federazione metropolitana di " if metropolitan else "Federazione di ") + row["province_name"],
                province_code,
            )

    abroad = _node(national, Level.REGION, Kind.ABROAD, ABROAD_NAME, "EST")
    for area in ABROAD_AREAS:
        _node(abroad, Level.FEDERATION, Kind.ABROAD_AREA, area, "")

    existing = {c.istat_code: c for c in Comune.objects.all()}
    recoded = _recode_by_belfiore(rows, existing)
    to_create: list[Comune] = []
    to_update: list[Comune] = []
    fields = [
        "name",
        "belfiore",
        "province_code",
        "province_name",
        "province_sigla",
        "region_code",
        "region_name",
        "population",
        "valid_from",
        "valid_to",
        "federation_id",
    ]
    for row in rows:
        federation = federations[row["province_code"]]
        values: dict[str, object] = {
            "name": row["name"],
            "belfiore": row["belfiore"],
            "province_code": row["province_code"],
            "province_name": row["province_name"],
            "province_sigla": row["province_sigla"],
            "region_code": row["region_code"],
            "region_name": row["region_name"],
            "population": int(row["population_2011"] or 0),
            "valid_from": _date(row["valid_from"]),
            "valid_to": _date(row["valid_to"]),
            "federation_id": federation.pk,
        }
        comune = existing.get(row["istat_code"])
        if comune is None:
            to_create.append(Comune(istat_code=row["istat_code"], **values))
        elif any(getattr(comune, key) != value for key, value in values.items()):
            for key, value in values.items():
                setattr(comune, key, value)
            to_update.append(comune)
    Comune.objects.bulk_create(to_create, batch_size=1000)
    Comune.objects.bulk_update(to_update, fields, batch_size=1000)
    merged, extended = _link_successors(rows)
    in_file = {row["istat_code"] for row in rows}
    report = LoadReport(
        comuni_in_file=len(rows),
        comuni_created=len(to_create),
        comuni_updated=len(to_update),
        regions=len(regions) + 1,
        federations=len(federations) + len(ABROAD_AREAS),
        comuni_recoded=recoded,
        comuni_merged=merged,
        circoli_extended=extended,
        comuni_not_in_file=Comune.objects.exclude(istat_code__in=in_file).count(),
    )
    record(
        "territory.load_istat",
        actor=None,
        territory=national,
        data={
            "file": path.name,
            "rows": len(rows),
            "created": report.comuni_created,
            "updated": report.comuni_updated,
            "recoded": recoded,
            "merged": merged,
            "circoli_extended": extended,
        },
    )
    return report


def _recode_by_belfiore(rows: list[dict[str, str]], existing: dict[str, Comune]) -> int:
    """A row whose ISTAT code is new but whose Belfiore code belongs to a comune whose old code left
    the file is the same comune recoded (it changed province): update its code, keep its row."""
    in_file = {row["istat_code"] for row in rows}
    orphans = {c.belfiore: c for code, c in existing.items() if code not in in_file}
    recoded = 0
    for row in rows:
        comune = orphans.get(row["belfiore"])
        if row["istat_code"] in existing or comune is None:
            continue
        del existing[comune.istat_code]
        comune.istat_code = row["istat_code"]
        comune.save(update_fields=["istat_code"])
        existing[comune.istat_code] = comune
        recoded += 1
    return recoded


def _link_successors(rows: list[dict[str, str]]) -> tuple[int, int]:
    """Set each merged comune's successor; every circolo covering it then covers the successor too."""
    successor_of = {row["istat_code"]: row["successor"] for row in rows if row.get("successor")}
    if not successor_of:
        return 0, 0
    by_code = Comune.objects.in_bulk(set(successor_of) | set(successor_of.values()), field_name="istat_code")
    changed: list[Comune] = []
    extended = 0
    through = Territory.comuni.through
    for code, successor_code in successor_of.items():
        comune, successor = by_code[code], by_code[successor_code]
        if comune.successor_id != successor.pk:
            comune.successor = successor
            changed.append(comune)
        covering = set(through.objects.filter(comune=comune).values_list("territory_id", flat=True))
        already = set(through.objects.filter(comune=successor).values_list("territory_id", flat=True))
        missing = covering - already
        through.objects.bulk_create([through(territory_id=pk, comune=successor) for pk in missing])
        extended += len(missing)
    Comune.objects.bulk_update(changed, ["successor"])
    return len(changed), extended
