"""The receipt as a PDF (rule F3, with the F7/F8 words): A4, one receipt or cancellation per page.

Drawn from the receipt row alone (its data were copied at issue and never change), so the same
receipt always prints the same document, whoever downloads it and whenever.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.utils import timezone
from fpdf import FPDF

from piazza.compliance.models import Receipt
from piazza.compliance.receipts import method_name
from piazza.core.money import format_eur


def _latin(text: str) -> str:
    """fpdf2's core fonts are Latin-1: keep Italian accents, replace what they cannot draw."""
    return text.replace("€", "EUR").encode("latin-1", "replace").decode("latin-1")


def receipt_filename(receipt: Receipt) -> str:
    safe = "".join(c if c.isalnum() else "-" for c in receipt.display_number)
    prefix = "storno" if receipt.is_cancellation else "ricevuta"
    return f"{prefix}-{receipt.entity_id}-{safe}.pdf"


def receipts_pdf(receipts: Iterable[Receipt]) -> bytes:
    pdf = FPDF(orientation="P", unit="mm", format="A4")
    pdf.set_auto_page_break(True, margin=15)
    pdf.set_margin(18)
    for receipt in receipts:
        _page(pdf, receipt)
    return bytes(pdf.output())


def _line(pdf: FPDF, label: str, value: str) -> None:
    pdf.set_font("helvetica", "B", 10)
    pdf.cell(55, 7, _latin(label))
    pdf.set_font("helvetica", "", 10)
    pdf.multi_cell(0, 7, _latin(value or "-"), new_x="LMARGIN", new_y="NEXT")


def _page(pdf: FPDF, r: Receipt) -> None:
    pdf.add_page()
    pdf.set_fill_color(11, 93, 59)
    pdf.rect(0, 0, 210, 22, style="F")
    pdf.set_text_color(255, 255, 255)
    pdf.set_font("helvetica", "B", 15)
    pdf.set_xy(18, 7)
    pdf.cell(0, 8, _latin(f"Partito Democratico - {r.entity.name}"))
    pdf.set_text_color(27, 31, 36)
    pdf.set_xy(18, 30)
    pdf.set_font("helvetica", "B", 16)
    title = "Nota di storno" if r.is_cancellation else "Ricevuta"
    pdf.cell(0, 9, _latin(f"{title} n. {r.display_number}"), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("helvetica", "", 10)
    issued = timezone.localtime(r.issued_at)
    pdf.multi_cell(
        0,
        6,
        _latin(f"Emessa il {issued:%d/%m/%Y} da {r.entity.name} (progressivo {r.number} dell'anno {r.year})"),
        new_x="LMARGIN",
        new_y="NEXT",
    )
    pdf.ln(4)
    if r.is_cancellation and r.cancels is not None:
        original = r.cancels
        pdf.set_font("helvetica", "B", 11)
        pdf.multi_cell(
            0,
            6,
            _latin(
                f"Annulla {format_eur(r.amount_cents)} della ricevuta n. {original.display_number} del "
                f"{timezone.localtime(original.issued_at):%d/%m/%Y} (importo originale "
                f"{format_eur(original.amount_cents)})."
            ),
            new_x="LMARGIN",
            new_y="NEXT",
        )
        pdf.ln(2)
    _line(pdf, "Ricevuto da", r.donor_name or "Versamento anonimo")
    _line(pdf, "Codice fiscale", r.donor_codice_fiscale)
    _line(pdf, "Indirizzo", r.donor_address)
    _line(pdf, "Importo stornato" if r.is_cancellation else "Importo", format_eur(r.amount_cents))
    _line(pdf, "Data del versamento", f"{timezone.localtime(r.received_at):%d/%m/%Y}")
    _line(pdf, "Mezzo di pagamento", method_name(r.method))
    _line(pdf, "Causale", r.purpose)
    if r.territory_id != r.entity_id:
        _line(pdf, "Destinato a", r.territory.name)
    if r.is_cancellation:
        _line(pdf, "Motivo", r.reason or "Rimborso")
    _line(pdf, "Pagamento tracciabile", "sì" if r.traceable else "no")
    pdf.ln(4)
    pdf.set_font("helvetica", "", 9)
    pdf.multi_cell(0, 5, _latin(r.tax_note), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    pdf.multi_cell(
        0,
        5,
        _latin(
            "Ogni contributo ricevuto dal partito ha la sua ricevuta numerata, in un'unica sequenza per ente "
            "emittente e anno. Questo documento non si modifica: rimborsi e correzioni sono note di storno "
            "numerate che lo richiamano."
        ),
        new_x="LMARGIN",
        new_y="NEXT",
    )
