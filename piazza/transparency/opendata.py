"""Open data: every table of a report as CSV and JSON, described by a Frictionless data package
(https://specs.frictionlessdata.io/data-package/, hand-built: a `tabular-data-package` whose
resources carry a Table Schema each), at a stable address per territory (or candidacy) and year.

CSV cells go through the platform's one writer (`core.exports.render`: formula escaping); the
files hold aggregates only (rule G1), so no audit entry is written for a public download.
"""

from __future__ import annotations

import json
from typing import Any

from django.urls import reverse
from django.utils.translation import gettext as _

from piazza.core.exports import CONTENT_TYPES, render
from piazza.transparency.queries import Report, Table

# The tables published as files, in the order of the data package.
TABLES = (
    "income",
    "expenses",
    "balance",
    "campaigns",
    "budget_lines",
    "donors_by_month",
    "donors_by_territory",
    "candidate_expenses",
    "expense_items",
)
LICENSE = {
    "name": "CC-BY-4.0",
    "path": "https://creativecommons.org/licenses/by/4.0/",
    "title": "Creative Commons Attribution 4.0",
}


def _url_name(report: Report) -> str:
    return "transparency:territory" if report.scope.kind == "territory" else "transparency:candidacy"


def file_url(report: Report, table: str, fmt: str) -> str:
    return reverse(f"{_url_name(report)}_file", args=[report.scope.pk, report.year, table, fmt])


def package_url(report: Report) -> str:
    return reverse(f"{_url_name(report)}_package", args=[report.scope.pk, report.year])


def _plain(value: Any) -> Any:
    return str(value) if value is not None and not isinstance(value, bool | int | float | str) else value


def table_csv(table: Table) -> bytes:
    """UTF-8 CSV, comma-separated, the column names (not their titles) as the header, as the
    Table Schema describes them."""
    content, _count = render("csv", [c.name for c in table.columns], table.values(), delimiter=",")
    return content


def table_json(report: Report, table: Table) -> bytes:
    data = {
        "territory" if report.scope.kind == "territory" else "candidacy": report.scope.pk,
        "name": report.scope.name,
        "year": report.year,
        "table": table.name,
        "title": str(table.title),
        "computed_at": report.computed_at.isoformat(),
        "withheld": table.withheld,
        "rows": [{c.name: _plain(row.get(c.name)) for c in table.columns} for row in table.rows],
    }
    return json.dumps(data, ensure_ascii=False, indent=1).encode("utf-8")


def datapackage(report: Report, base: str = "") -> dict[str, Any]:
    """The Frictionless descriptor: one resource per table, CSV with its schema."""
    scope = report.scope
    resources = []
    for name in TABLES:
        table = report.tables[name]
        resources.append(
            {
                "name": name.replace("_", "-"),
                "title": str(table.title),
                "description": str(table.note),
                "path": base + file_url(report, name, "csv"),
                "format": "csv",
                "mediatype": CONTENT_TYPES["csv"].split(";")[0],  # the media type of core.exports' CSV
                "encoding": "utf-8-sig",
                "profile": "tabular-data-resource",
                "dialect": {"delimiter": ",", "header": True},
                "schema": {
                    "fields": [
                        {"name": c.name, "title": str(c.title), "type": c.type, "description": str(c.description)}
                        for c in table.columns
                    ],
                    "missingValues": [""],
                },
            }
        )
    return {
        "profile": "tabular-data-package",
        "name": f"piazza-{scope.kind}-{scope.pk}-{report.year}",
        "title": _("Conti di %(name)s, %(year)s") % {"name": scope.name, "year": report.year},
        "description": _(
            "Entrate, uscite, saldo, raccolte e piccoli donatori dalla contabilità del partito. Importi in "
            "centesimi di euro. Nessun dato personale: le celle con meno di %(k)s persone sono accorpate."
        )
        % {"k": report.k},
        "created": report.computed_at.isoformat(),
        "licenses": [LICENSE],
        "keywords": ["trasparenza", "partito", "finanziamento"],
        "resources": resources,
    }
