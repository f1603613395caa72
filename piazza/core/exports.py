"""The one writer of CSV and XLSX files (convention 17, rule G4).

Every export of the platform goes through `write_export` (or `export_response`, its view
helper), which

* escapes every cell that a spreadsheet would read as a formula: a text starting with `=`,
  `+`, `-`, `@`, a tab or a carriage return gets a single quote in front (OWASP "CSV
  injection"), so `=1+HYPERLINK(...)` arrives as the text `'=1+HYPERLINK(...)`;
* keeps real numbers numbers: a Python `int`/`Decimal`/`float` (never a string that looks
  like one) is written as a numeric cell in XLSX and as its digits in CSV, where no formula
  can hide in it; a string such as "-5" stays text and is escaped like any other;
* writes one audit entry of kind EXPORT with the action, format and row count, in the same
  transaction as nothing else: the file is handed out only after the entry is stored.

Scope stays with the caller: it passes rows it has already filtered with `visible_to` /
`scope_paths`, and names the territory the export is for, which files the audit entry under it.

No other module may call `csv.writer` or `openpyxl.Workbook`: a test scans the source.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Callable, Iterable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

from django.db import models, transaction
from django.http import HttpResponse
from openpyxl import Workbook

from piazza.core.audit import Actor, HasTerritory, record
from piazza.core.models import AuditKind
from piazza.core.personal_data import View, shows_personal_data
from piazza.core.replica import REPLICA_ALIAS, reading_stale

Format = Literal["csv", "xlsx"]

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")

CONTENT_TYPES: dict[str, str] = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def escape_cell(value: Any) -> Any:
    """The cell as it may safely be written: text that a spreadsheet would evaluate gets a
    leading single quote; numbers, dates and booleans stay typed; None becomes empty."""
    if value is None:
        return ""
    if isinstance(value, bool | int | Decimal | float | dt.date | dt.datetime | dt.time):
        return value
    text = str(value)
    if text.startswith(FORMULA_TRIGGERS):
        return "'" + text
    return text


def unescape_cell(text: str) -> str:
    """The inverse of `escape_cell` for a file coming back (the rejected rows of an import,
    corrected and re-imported): a quote put before a formula trigger is dropped."""
    if text.startswith("'") and text[1:].startswith(FORMULA_TRIGGERS):
        return text[1:]
    return text


def _csv_cell(value: Any) -> str:
    value = escape_cell(value)
    if isinstance(value, dt.datetime):
        return value.strftime("%d/%m/%Y %H:%M:%S")
    if isinstance(value, dt.date):
        return value.strftime("%d/%m/%Y")
    return str(value)


def _xlsx_cell(value: Any) -> Any:
    value = escape_cell(value)
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        return value.replace(tzinfo=None)  # Excel has no time zones; callers pass local times
    return value


@dataclass(frozen=True)
class ExportFile:
    content: bytes
    file_format: str
    filename: str
    rows: int

    @property
    def content_type(self) -> str:
        return CONTENT_TYPES[self.file_format]


def render(
    file_format: str,
    header: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    preamble: Sequence[str] = (),
    delimiter: str = ";",
    sheet_title: str = "Dati",
) -> tuple[bytes, int]:
    """The file bytes and the number of data rows; every cell (header and preamble included)
    goes through `escape_cell`."""
    count = 0
    if file_format == "xlsx":
        workbook = Workbook(write_only=True)
        sheet = workbook.create_sheet(sheet_title[:31])
        for line in preamble:
            sheet.append([_xlsx_cell(line)])
        sheet.append([_xlsx_cell(h) for h in header])
        for row in rows:
            sheet.append([_xlsx_cell(v) for v in row])
            count += 1
        buffer = io.BytesIO()
        workbook.save(buffer)
        return buffer.getvalue(), count
    if file_format != "csv":
        raise ValueError(f"unknown export format {file_format!r}")
    text = io.StringIO()
    writer = csv.writer(text, delimiter=delimiter or ";")
    for line in preamble:
        writer.writerow([_csv_cell(line)])
    writer.writerow([_csv_cell(h) for h in header])
    for row in rows:
        writer.writerow([_csv_cell(v) for v in row])
        count += 1
    # The BOM makes Excel read UTF-8 (Italian accents) instead of the system code page.
    return ("\ufeff" + text.getvalue()).encode("utf-8"), count


def write_export(
    action: str,
    *,
    actor: Actor,
    file_format: str,
    filename: str,
    header: Sequence[str],
    rows: Iterable[Sequence[Any]],
    obj: models.Model | None = None,
    territory: HasTerritory | None = None,
    data: dict[str, Any] | None = None,
    preamble: Sequence[str] = (),
    delimiter: str = ";",
    sheet_title: str = "Dati",
    stale_reads: bool = False,
) -> ExportFile:
    """Render the file (every cell escaped) and write its audit entry (kind EXPORT, with the
    row count). `filename` has no extension; the format's is added.

    `stale_reads`: `rows` is a lazy read of data that may be REPLICA_MAX_LAG["exports"] seconds
    old (issue 14): it is evaluated on the streaming replica when one is that close, and the audit
    entry says how old the file's data may be. Only for exports that decide no write."""
    with reading_stale("exports") if stale_reads else nullcontext() as stale:
        content, count = render(
            file_format, header, rows, preamble=preamble, delimiter=delimiter, sheet_title=sheet_title
        )
    read = {"replica_lag_seconds": round(stale.lag_seconds)} if stale and stale.alias == REPLICA_ALIAS else {}
    with transaction.atomic():
        record(
            action,
            actor=actor,
            obj=obj,
            territory=territory,
            kind=AuditKind.EXPORT,
            data={**(data or {}), "format": file_format, "rows": count, **read},
        )
    return ExportFile(content=content, file_format=file_format, filename=f"{filename}.{file_format}", rows=count)


def as_response(export: ExportFile) -> HttpResponse:
    """The download: an attachment, never rendered inline by the browser."""
    response = HttpResponse(export.content, content_type=export.content_type)
    response["Content-Disposition"] = f'attachment; filename="{export.filename}"'
    response["X-Content-Type-Options"] = "nosniff"
    return response


def export_response(action: str, **kwargs: Any) -> HttpResponse:
    """`write_export` then `as_response`: what a view returns."""
    return as_response(write_export(action, **kwargs))


EXPORT_MARK = "export_action"


def export_view(action: str) -> Callable[[View], View]:
    """Mark a view that hands out a file made by this writer. The export sweep
    (tests/test_export_sweep.py) finds every such view in the URLconf and proves it escapes a
    hostile value and writes its audit entry; the mark also counts as `shows_personal_data`,
    audited by the writer's own EXPORT entry."""

    def decorator(view: View) -> View:
        setattr(view, EXPORT_MARK, action)
        return shows_personal_data(action, audited_inline=True)(view)

    return decorator
