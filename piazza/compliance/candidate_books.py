"""The mandatario's books (rules F10–F12, F15): expense categories and receipts, the income
itemised as F11 says, the declaration due within months of the proclamation, and the declaration
itself as a PDF with its annexes (expense receipts, joint declarations) and a zip of them.

Reads and documents here; the writes (`set_proclamation`, `attach_expense_receipt`) are actions
with an audit entry, as everywhere else. `candidates.overview` stays the one source of figures.
"""

from __future__ import annotations

import calendar
import datetime as dt
import io
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.core.files import File
from django.db import transaction
from django.db.models import QuerySet, Sum
from django.db.models.fields.files import FieldFile
from django.utils import timezone
from django.utils.translation import gettext as _
from fpdf import FPDF

from piazza.compliance.candidates import Overview, overview
from piazza.compliance.models import (
    Candidacy,
    CandidateExpense,
    ExpenseCategory,
    FinanceRuleSet,
    JointDeclaration,
)
from piazza.core.audit import Actor, record
from piazza.core.errors import refuse
from piazza.core.money import format_eur
from piazza.territory.models import Role
from piazza.territory.scoping import has_role_at

BOOK_ROLES = {Role.ADMINISTRATOR, Role.ORGANISATION, Role.TREASURY}

# Receipts and joint declarations: the same accepted files (first bytes checked: a renamed
# executable is not a scanned receipt).
DOCUMENT_TYPES = {".pdf", ".jpg", ".jpeg", ".png"}
DOCUMENT_MAX_BYTES = 10 * 1024 * 1024
DOCUMENT_MAGIC = {
    ".pdf": (b"%PDF-",),
    ".png": (b"\x89PNG\r\n\x1a\n",),
    ".jpg": (b"\xff\xd8\xff",),
    ".jpeg": (b"\xff\xd8\xff",),
}


def document_suffix(document: File | None) -> str:
    name = str(getattr(document, "name", "") or "")
    return ("." + name.rsplit(".", 1)[-1].lower()) if "." in name else ""


def document_problem(document: File | None) -> str | None:
    """Why a receipt or resolution cannot be stored (None when it can): type, content, size."""
    if document is None:
        return _("Allega il giustificativo in PDF, JPG o PNG.")
    suffix = document_suffix(document)
    if suffix not in DOCUMENT_TYPES:
        return _("Allega il documento in PDF, JPG o PNG.")
    document.seek(0)
    head = document.read(8)
    document.seek(0)
    if not head or not head.startswith(DOCUMENT_MAGIC[suffix]):
        return _("Il file non è un PDF, JPG o PNG leggibile: scansionalo di nuovo.")
    if int(getattr(document, "size", 0) or 0) > DOCUMENT_MAX_BYTES:
        return _("Il file supera 10 MB: scansionalo a una risoluzione più bassa.")
    return None


# The starting list (migration 0004 seeds the same rows; tests that flush the database call
# `ensure_categories`). Labels are Italian as the declaration's items; the admin may add more.
DEFAULT_CATEGORIES = [
    ("propaganda", "Materiale e mezzi di propaganda", 10),
    ("manifestazioni", "Manifestazioni di propaganda", 20),
    ("stampa-radio-tv", "Stampa, radio e televisione", 30),
    ("personale", "Personale", 40),
    ("sedi", "Spese per le sedi elettorali", 50),
    ("altre", "Altre spese", 90),
]


def ensure_categories() -> None:
    """Create the starting categories that are missing (idempotent; never changes existing rows)."""
    for code, label, position in DEFAULT_CATEGORIES:
        ExpenseCategory.objects.get_or_create(code=code, defaults={"label": label, "position": position})


def categories() -> QuerySet[ExpenseCategory]:
    """The categories in use, in the order of the declaration (a parameter list, rule F11)."""
    return ExpenseCategory.objects.filter(active=True)


# --- the declaration's deadline (F11, F15) ----------------------------------------------------


def add_months(day: dt.date, months: int) -> dt.date:
    """`day` plus calendar months; the 31st becomes the month's last day (30 November, 28 February)."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return day.replace(year=year, month=month, day=min(day.day, calendar.monthrange(year, month)[1]))


def rule_set_on(day: dt.date) -> FinanceRuleSet:
    """The parameters in force on `day`; the defaults of the model when none was entered."""
    return FinanceRuleSet.objects.filter(valid_from__lte=day).first() or FinanceRuleSet()


@dataclass(frozen=True)
class Deadline:
    due_on: dt.date
    today: dt.date
    months: int

    @property
    def days_left(self) -> int:
        return (self.due_on - self.today).days

    @property
    def late(self) -> bool:
        return self.days_left < 0

    @property
    def days_late(self) -> int:
        return max(-self.days_left, 0)


def declaration_deadline(candidacy: Candidacy, today: dt.date | None = None) -> Deadline | None:
    """Rule F11: the declaration is due within N months (a parameter) of the proclamation.
    None until the proclamation date is known. F15: only the date and the delay, no sanction."""
    if candidacy.proclaimed_on is None:
        return None
    months = int(rule_set_on(candidacy.proclaimed_on).declaration_months)
    return Deadline(
        due_on=add_months(candidacy.proclaimed_on, months),
        today=today or timezone.localdate(),
        months=months,
    )


# --- the books: income itemised (F11) and expenses by category --------------------------------


@dataclass(frozen=True)
class IncomeLine:
    label: str
    name: str
    code: str
    cents: int
    declaration: str


def income_lines(figures: Overview) -> list[IncomeLine]:
    """Rule F11: natural persons above the threshold by name, every other subject by name, and
    the natural persons under the threshold in one aggregate line."""
    lines: list[IncomeLine] = []
    others = 0
    count = 0
    for line in figures.donors:
        if line.itemised:
            declared = ""
            if line.needs_declaration:
                declared = str(line.declaration.get_status_display()) if line.declaration else _("mancante")
            kind = _("Persona fisica") if line.donor.natural_person else _("Azienda o ente")
            lines.append(IncomeLine(kind, line.donor.name, line.donor.codice_fiscale, line.donor.total_cents, declared))
        else:
            others += line.donor.total_cents
            count += 1
    if others:
        lines.append(IncomeLine(_("Persone fisiche sotto la soglia (%(n)d)") % {"n": count}, "", "", others, ""))
    return lines


@dataclass(frozen=True)
class CategoryTotal:
    label: str
    cents: int


def expenses_by_category(candidacy: Candidacy) -> list[CategoryTotal]:
    rows = (
        CandidateExpense.objects.filter(candidacy=candidacy)
        .values("category__label", "category__position")
        .annotate(total=Sum("amount_cents"))
        .order_by("category__position", "category__label")
    )
    return [CategoryTotal(r["category__label"] or _("Senza categoria"), int(r["total"] or 0)) for r in rows]


# --- annexes -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Annex:
    number: int
    label: str
    filename: str
    file: FieldFile


def annexes(candidacy: Candidacy) -> list[Annex]:
    """The declaration's annexes, numbered: every expense receipt, then every joint declaration."""
    found: list[Annex] = []
    for expense in CandidateExpense.objects.filter(candidacy=candidacy).exclude(receipt=""):
        n = len(found) + 1
        found.append(
            Annex(
                n,
                _("Giustificativo: %(supplier)s, %(amount)s del %(date)s")
                % {
                    "supplier": expense.supplier,
                    "amount": format_eur(expense.amount_cents),
                    "date": f"{expense.incurred_on:%d/%m/%Y}",
                },
                f"{n:02d}-spesa-{expense.pk}{Path(expense.receipt.name).suffix.lower()}",
                expense.receipt,
            )
        )
    for declaration in JointDeclaration.objects.filter(candidacy=candidacy).select_related("donor"):
        n = len(found) + 1
        found.append(
            Annex(
                n,
                _("Dichiarazione congiunta di %(name)s") % {"name": declaration.donor.full_name},
                f"{n:02d}-dichiarazione-{declaration.pk}{Path(declaration.document.name).suffix.lower()}",
                declaration.document,
            )
        )
    return found


def annexes_zip(candidacy: Candidacy) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for annex in annexes(candidacy):
            with annex.file.open("rb") as stored:
                archive.writestr(annex.filename, stored.read())
    return buffer.getvalue()


# --- the declaration as a PDF --------------------------------------------------------------------


def _latin(text: str) -> str:
    """fpdf2's core fonts are Latin-1: the euro sign becomes EUR, the rest keeps its accents."""
    return text.replace("€", "EUR").encode("latin-1", "replace").decode("latin-1")


def _euro(cents: int) -> str:
    return _latin(format_eur(cents))


def declaration_pdf(candidacy: Candidacy, figures: Overview | None = None) -> bytes:
    """The candidate's declaration with the accounts (rule F11), its annexes listed by number."""
    figures = figures or overview(candidacy)
    pdf = FPDF(orientation="P", unit="mm", format="A4")
    pdf.set_auto_page_break(True, margin=15)
    pdf.add_page()

    def line(text: str, size: int = 10, style: str = "", height: float = 5) -> None:
        pdf.set_font("helvetica", style, size)
        pdf.multi_cell(0, height, _latin(text), new_x="LMARGIN", new_y="NEXT")

    def row(cells: list[tuple[float, str]], style: str = "") -> None:
        pdf.set_font("helvetica", style, 9)
        for width, value in cells:
            pdf.cell(width, 6, _latin(value)[:60], border=1)
        pdf.ln()

    line(_("Dichiarazione delle spese e dei contributi elettorali (legge 515/1993)"), 13, "B", 7)
    line(_("Al Collegio regionale di garanzia elettorale"))
    pdf.ln(2)
    line(f"{_('Candidato/a')}: {candidacy.candidate_name}")
    line(f"{_('Elezione')}: {candidacy.election} · {_('Collegio')}: {candidacy.constituency}")
    if candidacy.mandatario_name:
        line(f"{_('Mandatario elettorale')}: {candidacy.mandatario_name} · IBAN {candidacy.mandatario_iban}")
    if candidacy.election_day:
        line(f"{_('Giorno delle elezioni')}: {candidacy.election_day:%d/%m/%Y}")
    deadline = declaration_deadline(candidacy)
    if deadline is not None:
        line(
            f"{_('Proclamazione')}: {candidacy.proclaimed_on:%d/%m/%Y} · "
            f"{_('da presentare entro il')} {deadline.due_on:%d/%m/%Y}"
        )
    pdf.ln(3)
    line(_("Riepilogo"), 11, "B", 6)
    row([(95, _("Tetto di spesa")), (45, _euro(figures.cap_cents))])
    row([(95, _("Contributi ricevuti")), (45, _euro(figures.collected_cents))])
    row([(95, _("Spese sostenute")), (45, _euro(figures.spent_cents))])
    pdf.ln(3)
    line(_("Contributi ricevuti"), 11, "B", 6)
    row([(45, _("Soggetto")), (60, _("Nome")), (40, _("Codice fiscale o P. IVA")), (30, _("Importo"))], "B")
    incomes = income_lines(figures)
    for income in incomes:
        row([(45, income.label), (60, income.name), (40, income.code), (30, _euro(income.cents))])
    if not incomes:
        line(_("Nessun contributo ricevuto."))
    pdf.ln(3)
    line(_("Spese per categoria"), 11, "B", 6)
    for total in expenses_by_category(candidacy):
        row([(135, total.label), (40, _euro(total.cents))])
    pdf.ln(3)
    line(_("Spese"), 11, "B", 6)
    listed = {a.file.name: a.number for a in annexes(candidacy)}
    row([(22, _("Data")), (50, _("Fornitore")), (50, _("Categoria")), (30, _("Importo")), (23, _("Allegato"))], "B")
    for expense in CandidateExpense.objects.filter(candidacy=candidacy).select_related("category"):
        row(
            [
                (22, f"{expense.incurred_on:%d/%m/%Y}"),
                (50, expense.supplier),
                (50, expense.category.label if expense.category else ""),
                (30, _euro(expense.amount_cents)),
                (23, str(listed.get(expense.receipt.name, "")) if expense.receipt else ""),
            ]
        )
    pdf.ln(3)
    line(_("Allegati"), 11, "B", 6)
    for annex in annexes(candidacy):
        line(f"{annex.number}. {annex.label} ({annex.filename})")
    pdf.ln(6)
    line(_("Prodotta il %(date)s.") % {"date": f"{timezone.localdate():%d/%m/%Y}"}, 8)
    line(_("Firma del candidato/a ____________________    Firma del mandatario ____________________"), 9)
    return bytes(pdf.output())


# --- actions ------------------------------------------------------------------------------------


def set_proclamation(*, actor: Actor, candidacy: Candidacy, proclaimed_on: dt.date) -> Candidacy:
    """Record the date the elected were proclaimed: the declaration's deadline runs from it (F11)."""
    action = "compliance.set_proclamation"
    territory = candidacy.territory
    if not has_role_at(actor, territory, BOOK_ROLES):
        refuse(
            action,
            _("Non hai un ruolo di organizzazione o tesoreria su %(t)s.") % {"t": territory},
            actor=actor,
            territory=territory,
            code="out_of_scope",
            permission=True,
        )
    if candidacy.election_day is not None and proclaimed_on < candidacy.election_day:
        refuse(
            action,
            _("La proclamazione non può precedere il giorno delle elezioni (%(day)s).")
            % {"day": f"{candidacy.election_day:%d/%m/%Y}"},
            actor=actor,
            territory=territory,
            code="dates",
            field="proclaimed_on",
        )
    if proclaimed_on > timezone.localdate():
        refuse(
            action,
            _("La data della proclamazione non può essere nel futuro."),
            actor=actor,
            territory=territory,
            code="future",
            field="proclaimed_on",
        )
    with transaction.atomic():
        locked = Candidacy.objects.select_for_update().get(pk=candidacy.pk)
        previous = locked.proclaimed_on
        locked.proclaimed_on = proclaimed_on
        locked.save(update_fields=["proclaimed_on"])
        record(
            action,
            actor=actor,
            obj=locked,
            territory=territory,
            data={
                "proclaimed_on": proclaimed_on.isoformat(),
                "previous": previous.isoformat() if previous else None,
            },
        )
    return locked


def attach_expense_receipt(*, actor: Actor, expense: CandidateExpense, receipt: File) -> CandidateExpense:
    """Attach (or replace) the receipt of an expense already booked; the amount never changes."""
    action = "compliance.attach_expense_receipt"
    territory = expense.candidacy.territory
    if not has_role_at(actor, territory, BOOK_ROLES):
        refuse(
            action,
            _("Non hai un ruolo di organizzazione o tesoreria su %(t)s.") % {"t": territory},
            actor=actor,
            territory=territory,
            code="out_of_scope",
            permission=True,
        )
    problem = document_problem(receipt)
    if problem is not None:
        refuse(action, problem, actor=actor, territory=territory, code="receipt", field="receipt")
    with transaction.atomic():
        locked = CandidateExpense.objects.select_for_update().get(pk=expense.pk)
        replaced = bool(locked.receipt)
        locked.receipt.save(f"spesa-{locked.pk}{document_suffix(receipt)}", receipt, save=False)
        locked.save(update_fields=["receipt"])
        record(
            action,
            actor=actor,
            obj=locked,
            territory=territory,
            data={"file": locked.receipt.name, "replaced": replaced},
        )
    return locked


def books_context(candidacy: Candidacy, figures: Overview) -> dict[str, Any]:
    """What the candidacy page and the mandatario's page show of the books."""
    return {
        "deadline": declaration_deadline(candidacy),
        "incomes": income_lines(figures),
        "by_category": expenses_by_category(candidacy),
        "annexes": annexes(candidacy),
    }
