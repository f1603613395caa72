"""File renderings of people lists: the export (CSV/XLSX) and the rejected import rows (CSV)."""

from __future__ import annotations

import csv
import io
from typing import Any

from django.db.models import Prefetch, QuerySet

from piazza.people.models import Email, ImportBatch, ImportRow, Person, Phone, RowStatus

EXPORT_COLUMNS = [
    "ID", "Cognome", "Nome", "Sesso", "Data di nascita", "Codice fiscale", "Email", "Telefono",
    "Indirizzo", "CAP", "Comune", "Territorio", "Etichette",
]


def _rows(queryset: QuerySet[Person]) -> Any:
    people = queryset.select_related("residence_comune", "territory").prefetch_related(
        Prefetch("emails", queryset=Email.objects.filter(primary=True)),
        Prefetch("phones", queryset=Phone.objects.filter(primary=True)),
        "tags",
    ).order_by("last_name", "first_name", "id")
    for p in people.iterator(chunk_size=2000):
        email = next(iter(p.emails.all()), None)
        phone = next(iter(p.phones.all()), None)
        yield [
            p.pk, p.last_name, p.first_name, p.sex, p.birth_date.strftime("%d/%m/%Y") if p.birth_date else "",
            p.codice_fiscale, email.value if email else "", phone.value if phone else "", p.residence_street,
            p.residence_cap, p.residence_comune.name if p.residence_comune else "", p.territory.name,
            ", ".join(t.name for t in p.tags.all()),
        ]


def render_export(queryset: QuerySet[Person], file_format: str) -> tuple[bytes, int]:
    count = 0
    if file_format == "xlsx":
        from openpyxl import Workbook

        workbook = Workbook(write_only=True)
        sheet = workbook.create_sheet("Persone")
        sheet.append(EXPORT_COLUMNS)
        for row in _rows(queryset):
            # Text cells only: a value starting with "=" must never become a formula.
            sheet.append([_safe(v) for v in row])
            count += 1
        buffer = io.BytesIO()
        workbook.save(buffer)
        return buffer.getvalue(), count
    text = io.StringIO()
    writer = csv.writer(text, delimiter=";")
    writer.writerow(EXPORT_COLUMNS)
    for row in _rows(queryset):
        writer.writerow([_safe(v) for v in row])
        count += 1
    return ("\ufeff" + text.getvalue()).encode("utf-8"), count


def _safe(value: Any) -> Any:
    """Neutralise spreadsheet formula injection (=, +, -, @ at the start of a text cell)."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@") and not value[1:2].isdigit():
        return "'" + value
    return value


def rejected_rows_csv(batch: ImportBatch) -> bytes:
    """The rejected rows as they came, plus a first column with the reason: fix and re-import."""
    text = io.StringIO()
    writer = csv.writer(text, delimiter=batch.delimiter or ";")
    writer.writerow(["Motivo dello scarto (cancella questa colonna prima di reimportare)", *batch.headers])
    for row in ImportRow.objects.filter(batch=batch, status=RowStatus.REJECTED).order_by("number"):
        reason = f"riga {row.number}: " + " | ".join(row.errors)
        writer.writerow([reason, *[v if v is not None else "" for v in row.raw]])
    return ("\ufeff" + text.getvalue()).encode("utf-8")
