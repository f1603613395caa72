"""Rows of the people files: the export (CSV/XLSX) and the rejected import rows (CSV). The files
themselves are written by the one export writer, `piazza.core.exports` (convention 17)."""

from __future__ import annotations

from typing import Any

from django.db.models import Prefetch, QuerySet

from piazza.people.models import Email, ImportBatch, ImportRow, Person, Phone, RowStatus

EXPORT_COLUMNS = [
    "ID",
    "Cognome",
    "Nome",
    "Sesso",
    "Data di nascita",
    "Codice fiscale",
    "Email",
    "Telefono",
    "Indirizzo",
    "CAP",
    "Comune",
    "Territorio",
    "Etichette",
]


def export_rows(queryset: QuerySet[Person]) -> Any:
    people = (
        queryset.select_related("residence_comune", "territory")
        .prefetch_related(
            Prefetch("emails", queryset=Email.objects.filter(primary=True)),
            Prefetch("phones", queryset=Phone.objects.filter(primary=True)),
            "tags",
        )
        .order_by("last_name", "first_name", "id")
    )
    for p in people.iterator(chunk_size=2000):
        email = next(iter(p.emails.all()), None)
        phone = next(iter(p.phones.all()), None)
        yield [
            p.pk,
            p.last_name,
            p.first_name,
            p.sex,
            p.birth_date.strftime("%d/%m/%Y") if p.birth_date else "",
            p.codice_fiscale,
            email.value if email else "",
            phone.value if phone else "",
            p.residence_street,
            p.residence_cap,
            p.residence_comune.name if p.residence_comune else "",
            p.territory.name,
            ", ".join(t.name for t in p.tags.all()),
        ]


def rejected_rows(batch: ImportBatch) -> tuple[list[str], Any]:
    """The rejected rows as they came, plus a first column with the reason: fix and re-import."""
    header = ["Motivo dello scarto (cancella questa colonna prima di reimportare)", *batch.headers]

    def rows() -> Any:
        for row in ImportRow.objects.filter(batch=batch, status=RowStatus.REJECTED).order_by("number"):
            reason = f"riga {row.number}: " + " | ".join(row.errors)
            yield [reason, *[v if v is not None else "" for v in row.raw]]

    return header, rows()
