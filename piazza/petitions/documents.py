"""The signatures delivered to the petition's target: rows (names and comuni; emails too only when the
petition's notice says so) and the PDF; the CSV goes through the one export writer (convention 17)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.utils import timezone
from fpdf import FPDF

from piazza.petitions.models import Petition


def header(petition: Petition) -> list[str]:
    columns = ["n", "cognome", "nome", "comune", "data"]
    return [*columns, "email"] if petition.deliver_contacts else columns


def rows(petition: Petition) -> Iterator[list[Any]]:
    signatures = petition.signatures.select_related("comune").order_by("signed_at", "id")
    for i, s in enumerate(signatures.iterator(chunk_size=2000), start=1):
        row: list[Any] = [
            i,
            s.last_name,
            s.first_name,
            s.comune.name if s.comune else "",
            f"{timezone.localtime(s.signed_at):%d/%m/%Y}",
        ]
        if petition.deliver_contacts:
            row.append(s.email)
        yield row


def _latin(text: str) -> str:
    """fpdf2's core fonts are Latin-1: keep Italian accents, replace what they cannot draw."""
    return text.encode("latin-1", "replace").decode("latin-1")


def signatures_pdf(petition: Petition) -> tuple[bytes, int]:
    pdf = FPDF(orientation="P", unit="mm", format="A4")
    pdf.set_auto_page_break(True, margin=15)
    pdf.add_page()
    pdf.set_font("helvetica", "B", 14)
    pdf.multi_cell(0, 7, _latin(petition.title), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("helvetica", "", 10)
    if petition.target:
        pdf.multi_cell(0, 6, _latin(f"Alla cortese attenzione di: {petition.target}"), new_x="LMARGIN", new_y="NEXT")
    pdf.multi_cell(0, 5, _latin(petition.text), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)
    widths = [12, 45, 45, 50, 25] if not petition.deliver_contacts else [10, 35, 35, 40, 22, 48]
    pdf.set_font("helvetica", "B", 9)
    for width, title in zip(widths, header(petition), strict=True):
        pdf.cell(width, 6, _latin(title.capitalize()), border=1)
    pdf.ln()
    pdf.set_font("helvetica", "", 9)
    count = 0
    for row in rows(petition):
        for width, value in zip(widths, row, strict=True):
            pdf.cell(width, 6, _latin(str(value))[:40], border=1)
        pdf.ln()
        count += 1
    pdf.ln(2)
    pdf.cell(0, 6, _latin(f"Firme: {count}. Documento generato il {timezone.localtime():%d/%m/%Y %H:%M}."))
    return bytes(pdf.output()), count
