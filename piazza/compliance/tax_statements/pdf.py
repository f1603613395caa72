"""The statement as a PDF (fpdf2), drawn from the stored version alone: the same row gives the same
bytes every time (creation date = generation time, no clock read, no lookup of today's data)."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone
from fpdf import FPDF

from piazza.compliance.models import TaxStatement
from piazza.compliance.tax_statements.figures import exclusion_words, method_words
from piazza.core.money import format_eur


def _latin(text: str) -> str:
    """fpdf2's core fonts are Latin-1: keep Italian accents, replace what they cannot draw."""
    return text.replace("€", "EUR").encode("latin-1", "replace").decode("latin-1")


def _eur(cents: int) -> str:
    return _latin(format_eur(int(cents)))


def _percent(rate_bp: int) -> str:
    whole, rest = divmod(int(rate_bp), 100)
    return f"{whole}%" if not rest else f"{whole},{rest:02d}%"


def filename(statement: TaxStatement) -> str:
    return f"dichiarazione-detrazione-{statement.year}-{statement.entity_id}-v{statement.version}.pdf"


def statement_pdf(statement: TaxStatement) -> bytes:
    """Rules F7/F8: the donor, the entity, every gift of the year (excluded ones with the reason),
    the deductible base and the credit."""
    generated = timezone.localtime(statement.generated_at)
    pdf = FPDF(orientation="P", unit="mm", format="A4")
    pdf.set_creation_date(generated)
    pdf.set_title(_latin(f"Dichiarazione per la detrazione {statement.year}"))
    pdf.set_author(_latin(statement.entity.name))
    pdf.set_auto_page_break(True, margin=15)
    pdf.add_page()
    pdf.set_font("helvetica", "B", 14)
    pdf.multi_cell(
        0, 7, _latin(f"Dichiarazione delle erogazioni liberali - anno {statement.year}"), new_x="LMARGIN", new_y="NEXT"
    )
    pdf.set_font("helvetica", "", 9)
    pdf.multi_cell(
        0,
        5,
        _latin(
            "Rilasciata ai fini della detrazione d'imposta prevista dall'art. 11 del D.L. 149/2013 "
            "(erogazioni liberali in favore dei partiti politici)."
        ),
        new_x="LMARGIN",
        new_y="NEXT",
    )
    pdf.ln(2)
    pdf.set_font("helvetica", "B", 10)
    pdf.cell(0, 6, _latin(f"Ente che ha ricevuto: {statement.entity.name}"), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("helvetica", "", 10)
    pdf.cell(0, 6, _latin(f"Chi ha donato: {statement.donor_name}"), new_x="LMARGIN", new_y="NEXT")
    pdf.cell(0, 6, _latin(f"Codice fiscale: {statement.donor_codice_fiscale or '-'}"), new_x="LMARGIN", new_y="NEXT")
    version = f"Versione {statement.version} del {generated:%d/%m/%Y %H:%M}"
    if statement.version > 1:
        version += f" (sostituisce la versione {statement.version - 1})"
    pdf.cell(0, 6, _latin(version), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)

    widths = [24, 30, 44, 92]
    pdf.set_font("helvetica", "B", 9)
    for width, title in zip(widths, ["Data", "Importo", "Pagamento", "Detraibile"], strict=True):
        pdf.cell(width, 6, title, border=1)
    pdf.ln()
    pdf.set_font("helvetica", "", 9)
    for line in statement.lines:
        day = dt.date.fromisoformat(line["date"])
        reason = exclusion_words(line["excluded"])
        cells = [f"{day:%d/%m/%Y}", _eur(line["amount_cents"]), _latin(method_words(line["method"]))]
        for width, value in zip(widths[:3], cells, strict=True):
            pdf.cell(width, 6, value, border=1)
        pdf.multi_cell(
            widths[3], 6, _latin(f"No: {reason}" if reason else "Si"), border=1, new_x="LMARGIN", new_y="NEXT"
        )
    if not statement.lines:
        pdf.multi_cell(
            0, 6, _latin("Nessuna erogazione trattenuta nell'anno (le donazioni sono state rimborsate)."), border=1
        )
    pdf.ln(3)

    rows = [
        ("Totale delle erogazioni dell'anno", statement.total_cents),
        ("Escluse (non tracciabili)", statement.excluded_cents),
        ("Erogazioni tracciabili", statement.traceable_cents),
        (
            f"Importo detraibile (tra {_eur(statement.floor_cents)} e {_eur(statement.ceiling_cents)} annui)",
            statement.deductible_cents,
        ),
        (f"Detrazione spettante ({_percent(statement.rate_bp)})", statement.credit_cents),
    ]
    for label, cents in rows:
        pdf.set_font("helvetica", "B" if label.startswith("Detrazione") else "", 10)
        pdf.cell(130, 7, _latin(label), border="B")
        pdf.cell(60, 7, _eur(cents), border="B", align="R", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)
    pdf.set_font("helvetica", "", 8)
    note = (
        "La detrazione spetta sulle erogazioni pagate con versamento bancario o postale o con altri sistemi "
        "tracciabili che identificano chi dona; non spetta per i pagamenti in contanti o anonimi. "
        "Se il totale tracciabile è sotto il minimo non spetta detrazione; oltre il massimo si considera il massimo. "
        "La detrazione è arrotondata al centesimo (mezzo centesimo per eccesso)."
    )
    if statement.traceable_cents and not statement.deductible_cents:
        note = "Il totale tracciabile dell'anno è sotto il minimo: non spetta detrazione. " + note
    pdf.multi_cell(0, 4, _latin(note), new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())
