"""Printable documents: the membership card (PDF, wallet size) and certified rolls (PDF, CSV)."""

from __future__ import annotations

from django.utils import timezone
from fpdf import FPDF

from piazza.membership.cards import display
from piazza.membership.fees import format_cents
from piazza.membership.models import Membership, PaymentMethod, Roll


def _latin(text: str) -> str:
    """fpdf2's core fonts are Latin-1: keep Italian accents, replace what they cannot draw."""
    return text.encode("latin-1", "replace").decode("latin-1")


def card_pdf(membership: Membership) -> bytes:
    """A credit-card-sized card (85.6 × 54 mm) with the number, name, year and circolo."""
    pdf = FPDF(orientation="L", unit="mm", format=(54, 85.6))
    pdf.set_auto_page_break(False)
    pdf.set_margin(4)
    pdf.add_page()
    pdf.set_fill_color(11, 93, 59)
    pdf.rect(0, 0, 85.6, 14, style="F")
    pdf.set_text_color(255, 255, 255)
    pdf.set_font("helvetica", "B", 11)
    pdf.set_xy(4, 4)
    pdf.cell(0, 6, _latin(f"Partito Democratico · Tessera {membership.year}"))
    pdf.set_text_color(27, 31, 36)
    pdf.set_font("helvetica", "B", 13)
    pdf.set_xy(4, 18)
    pdf.cell(0, 7, _latin(membership.person.full_name))
    pdf.set_font("helvetica", "", 9)
    pdf.set_xy(4, 26)
    pdf.cell(0, 5, _latin(membership.circolo.name))
    pdf.set_font("courier", "B", 12)
    pdf.set_xy(4, 36)
    pdf.cell(0, 6, _latin(f"N. {display(membership.card_number)}"))
    pdf.set_font("helvetica", "", 7)
    pdf.set_xy(4, 45)
    state = membership.get_status_display()
    pdf.cell(
        0,
        4,
        _latin(
            f"{state} · rilasciata il {timezone.localtime(membership.paid_at):%d/%m/%Y}"
            if membership.paid_at
            else state
        ),
    )
    return bytes(pdf.output())


ROLL_COLUMNS = ["n", "cognome", "nome", "data_nascita", "tessera", "pagata_il", "effettiva_il"]


def roll_rows(roll: Roll) -> list[list[str]]:
    rows = []
    for i, e in enumerate(roll.entries.order_by("last_name", "first_name", "card_number"), start=1):
        rows.append(
            [
                str(i),
                e.last_name,
                e.first_name,
                e.birth_date.strftime("%d/%m/%Y") if e.birth_date else "",
                e.card_number,
                timezone.localtime(e.paid_at).strftime("%d/%m/%Y %H:%M:%S"),
                timezone.localtime(e.effective_at).strftime("%d/%m/%Y %H:%M:%S") if e.effective_at else "",
            ]
        )
    return rows


def roll_heading(roll: Roll) -> list[str]:
    cut_off = timezone.localtime(roll.congress.cut_off).strftime("%d/%m/%Y %H:%M:%S")
    return [
        f"Anagrafe degli iscritti – {roll.circolo.name}",
        f"{roll.congress.name} · termine {cut_off} · versione {roll.version} · {roll.get_status_display()}",
        f"Iscritti: {roll.member_count} · impronta SHA-256: {roll.content_hash}",
    ]


def roll_pdf(roll: Roll) -> bytes:
    pdf = FPDF(orientation="P", unit="mm", format="A4")
    pdf.set_auto_page_break(True, margin=15)
    pdf.add_page()
    pdf.set_font("helvetica", "B", 13)
    heading = roll_heading(roll)
    pdf.multi_cell(0, 7, _latin(heading[0]), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("helvetica", "", 9)
    for line in heading[1:]:
        pdf.multi_cell(0, 5, _latin(line), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)
    widths = [10, 42, 38, 24, 30, 36]
    pdf.set_font("helvetica", "B", 9)
    for width, title in zip(widths, ["N.", "Cognome", "Nome", "Nascita", "Tessera", "Pagata il"], strict=True):
        pdf.cell(width, 6, title, border=1)
    pdf.ln()
    pdf.set_font("helvetica", "", 9)
    for row in roll_rows(roll):
        for width, value in zip(widths, row[:6], strict=True):
            pdf.cell(width, 6, _latin(value[:28]), border=1)
        pdf.ln()
    if roll.signed_at:
        pdf.ln(4)
        pdf.multi_cell(
            0,
            5,
            _latin(
                f"Firmata dal circolo il {timezone.localtime(roll.signed_at):%d/%m/%Y %H:%M} "
                f"da {roll.signed_by.get_full_name() or roll.signed_by.get_username()}"
                if roll.signed_by
                else ""
            ),
            new_x="LMARGIN",
            new_y="NEXT",
        )
    return bytes(pdf.output())


def receipts_pdf(memberships: list[Membership]) -> bytes:
    """Desk receipts (A5, one per page): number, date, who paid, the method, the fee line by line
    (M5–M8). Every method collected at the circolo gets one (issue 11 item 12)."""
    pdf = FPDF(orientation="P", unit="mm", format=(148, 210))  # A5
    pdf.set_auto_page_break(True, margin=12)
    for m in memberships:
        pdf.add_page()
        pdf.set_font("helvetica", "B", 12)
        pdf.multi_cell(0, 6, _latin(f"Partito Democratico – {m.circolo.name}"), new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("helvetica", "", 9)
        method = m.get_payment_method_display() if m.payment_method else ""
        cash = m.payment_method in ("", PaymentMethod.CASH)
        pdf.multi_cell(
            0,
            5,
            _latin("Ricevuta di versamento della quota di iscrizione" + (" in contanti" if cash else f" – {method}")),
            new_x="LMARGIN",
            new_y="NEXT",
        )
        pdf.ln(3)
        pdf.set_font("helvetica", "B", 11)
        pdf.cell(0, 7, _latin(f"Ricevuta n. {m.cash_receipt_number}"), new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("helvetica", "", 10)
        paid_at = timezone.localtime(m.paid_at).strftime("%d/%m/%Y %H:%M") if m.paid_at else ""
        for line in (
            f"Data: {paid_at}",
            f"Ricevuto da: {m.person.full_name}",
            f"Codice fiscale: {m.person.codice_fiscale}",
            f"Causale: quota di iscrizione {m.year}, tessera n. {display(m.card_number)}",
            *([] if cash else [f"Pagamento: {method}, riferimento {m.payment_reference}"]),
        ):
            pdf.multi_cell(0, 6, _latin(line), new_x="LMARGIN", new_y="NEXT")
        pdf.ln(2)
        for fee_line in m.fee_explanation.get("lines", []):
            pdf.cell(95, 6, _latin(str(fee_line["label"])), border="B")
            pdf.cell(
                0,
                6,
                _latin(format_cents(int(fee_line["amount_cents"]))),
                border="B",
                align="R",
                new_x="LMARGIN",
                new_y="NEXT",
            )
        pdf.set_font("helvetica", "B", 10)
        pdf.cell(95, 7, "Totale versato in contanti" if cash else "Totale versato")
        pdf.cell(0, 7, _latin(format_cents(m.fee_cents)), align="R", new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("helvetica", "", 9)
        pdf.ln(4)
        collector = (m.registered_by.get_full_name() or m.registered_by.get_username()) if m.registered_by else ""
        pdf.multi_cell(
            0,
            5,
            _latin(f"Incassato per il circolo{' da ' + collector if collector else ''}. Firma: ______________________"),
            new_x="LMARGIN",
            new_y="NEXT",
        )
    return bytes(pdf.output())
