"""The mandatario's books (rules F9–F12, F15): proclamation date and deadline, expense receipts,
the declaration as a PDF with its annexes and their zip; the mandatario's own page; the 2×1000
register of the national treasury.

Officials see candidacies of their territory (`visible_to`, 404 outside); the mandatario named on
a candidacy (`mandatario_user`) sees that candidacy's books with their own account, after the
same second factor as officials. Every view or download of the books is audited (rule G4).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from piazza.compliance import actions, candidate_books, twoxthousand
from piazza.compliance.candidates import overview
from piazza.compliance.forms_books import ProclamationForm, ReceiptForm, TwoPerThousandForm
from piazza.compliance.models import Candidacy, CandidateExpense, TwoPerThousandEntry
from piazza.core.audit import record
from piazza.core.files import private_file_response
from piazza.core.models import AuditKind
from piazza.core.personal_data import shows_personal_data
from piazza.territory.access import official_required
from piazza.territory.models import Level, Role, Territory
from piazza.territory.scoping import has_role_at, is_official, scope_paths

SEE = actions.CANDIDACY_MONEY_ROLES

View = Callable[..., HttpResponse]


def books_access(view: View) -> View:
    """Officials and mandatari alike: signed in, second factor verified (no personal data before)."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        user: Any = request.user
        if not user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not user.is_verified():
            from django_otp import devices_for_user  # noqa: PLC0415 - as territory.access does

            has_device = any(True for _ in devices_for_user(user, confirmed=True))
            target = "web:otp_verify" if has_device else "web:otp_setup"
            return redirect(f"{reverse(target)}?next={request.get_full_path()}")
        return view(request, *args, **kwargs)

    return wrapper


def books_candidacies(user: Any) -> QuerySet[Candidacy]:
    """Candidacies whose books `user` may read: in their territory, or their own mandate."""
    own = Candidacy.objects.filter(mandatario_user=user)
    if not is_official(user) or not scope_paths(user, SEE):
        return own.select_related("territory")
    visible = Candidacy.objects.visible_to(user, SEE)
    return Candidacy.objects.filter(Q(pk__in=visible.values("pk")) | Q(mandatario_user=user)).select_related(
        "territory"
    )


def _books_candidacy(request: HttpRequest, pk: int) -> Candidacy:
    return get_object_or_404(books_candidacies(request.user), pk=pk)


def _is_mandatario(request: HttpRequest, candidacy: Candidacy) -> bool:
    return bool(candidacy.mandatario_user_id) and candidacy.mandatario_user_id == getattr(request.user, "pk", None)


def _back(candidacy: Candidacy, request: HttpRequest, anchor: str = "dichiarazione") -> str:
    if has_role_at(request.user, candidacy.territory, SEE):
        return f"{reverse('compliance:candidacy', args=[candidacy.pk])}#{anchor}"
    return f"{reverse('compliance:mandate', args=[candidacy.pk])}#{anchor}"


# --- the mandatario's own page -----------------------------------------------------------------


@books_access
@shows_personal_data("compliance.view_my_mandates")
def my_mandates(request: HttpRequest) -> HttpResponse:
    user: Any = request.user
    mandates = Candidacy.objects.filter(mandatario_user=user).select_related("territory")
    return render(request, "compliance/my_mandates.html", {"mandates": mandates})


@books_access
@shows_personal_data("compliance.view_mandate_books", audited_inline=True)
def mandate(request: HttpRequest, pk: int) -> HttpResponse:
    """The books of the candidacy the user is mandatario of (read-only: officials book entries)."""
    user: Any = request.user
    candidacy = get_object_or_404(Candidacy.objects.filter(mandatario_user=user).select_related("territory"), pk=pk)
    record(
        "compliance.view_mandate_books",
        actor=request.user,
        obj=candidacy,
        territory=candidacy.territory,
        kind=AuditKind.VIEW,
        data={"candidacy": candidacy.pk},
    )
    figures = overview(candidacy)
    context = {
        "candidacy": candidacy,
        "figures": figures,
        "expenses": candidacy.expenses.select_related("category"),
        **candidate_books.books_context(candidacy, figures),
    }
    return render(request, "compliance/mandate.html", context)


# --- proclamation and receipts (officials) -----------------------------------------------------


@official_required(roles=SEE)
@require_POST
def proclamation(request: HttpRequest, pk: int) -> HttpResponse:
    candidacy = get_object_or_404(Candidacy.objects.visible_to(request.user, SEE), pk=pk)
    form = ProclamationForm(request.POST)
    if form.is_valid():
        try:
            candidate_books.set_proclamation(
                actor=request.user, candidacy=candidacy, proclaimed_on=form.cleaned_data["proclaimed_on"]
            )
        except ValidationError as exc:
            for message in exc.messages:
                messages.error(request, message)
        else:
            messages.success(request, _("Data della proclamazione registrata: la scadenza è aggiornata."))
    else:
        messages.error(request, _("Indica la data della proclamazione degli eletti."))
    return redirect(f"{reverse('compliance:candidacy', args=[candidacy.pk])}#dichiarazione")


@official_required(roles=SEE)
@require_POST
def expense_receipt_upload(request: HttpRequest, pk: int) -> HttpResponse:
    expense = get_object_or_404(
        CandidateExpense.objects.visible_to(request.user, SEE).select_related("candidacy__territory"), pk=pk
    )
    form = ReceiptForm(request.POST, request.FILES)
    if form.is_valid():
        try:
            candidate_books.attach_expense_receipt(
                actor=request.user, expense=expense, receipt=form.cleaned_data["receipt"]
            )
        except ValidationError as exc:
            for message in exc.messages:
                messages.error(request, message)
        else:
            messages.success(request, _("Giustificativo allegato alla spesa."))
    else:
        messages.error(request, _("Scegli il file del giustificativo (PDF, JPG o PNG)."))
    return redirect(f"{reverse('compliance:candidacy', args=[expense.candidacy_id])}#spese")


@books_access
@shows_personal_data("compliance.view_expense_receipt", audited_inline=True)
def expense_receipt(request: HttpRequest, pk: int) -> HttpResponse:
    """The receipt of an expense, from private storage: in scope or own mandate, every view logged."""
    expense = get_object_or_404(
        CandidateExpense.objects.filter(candidacy__in=books_candidacies(request.user))
        .exclude(receipt="")
        .select_related("candidacy__territory"),
        pk=pk,
    )
    record(
        "compliance.view_expense_receipt",
        actor=request.user,
        obj=expense,
        territory=expense.candidacy.territory,
        kind=AuditKind.VIEW,
        data={"file": expense.receipt.name},
    )
    return private_file_response(expense.receipt, f"giustificativo-{expense.pk}")


# --- the declaration: PDF and annexes -----------------------------------------------------------


def _export(request: HttpRequest, candidacy: Candidacy, action: str, file_format: str) -> HttpResponse | None:
    """Refuse (back to the page) while the declaration lacks something; else write the EXPORT entry."""
    figures = overview(candidacy)
    if not figures.report_ready:
        messages.error(
            request,
            _(
                "La dichiarazione non si può ancora produrre: completa prima quanto elencato "
                "sotto «Cosa manca al rendiconto»."
            ),
        )
        return redirect(_back(candidacy, request, "rendiconto"))
    with transaction.atomic():
        record(
            action,
            actor=request.user,
            obj=candidacy,
            territory=candidacy.territory,
            kind=AuditKind.EXPORT,
            data={"format": file_format, "candidacy": candidacy.pk, "mandatario": _is_mandatario(request, candidacy)},
        )
    return None


@books_access
@shows_personal_data("compliance.export_declaration_pdf", audited_inline=True)
def declaration_pdf(request: HttpRequest, pk: int) -> HttpResponse:
    candidacy = _books_candidacy(request, pk)
    refused = _export(request, candidacy, "compliance.export_declaration_pdf", "pdf")
    if refused is not None:
        return refused
    response = HttpResponse(candidate_books.declaration_pdf(candidacy), content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="dichiarazione-candidatura-{candidacy.pk}.pdf"'
    response["Cache-Control"] = "private, no-store"
    return response


@books_access
@shows_personal_data("compliance.export_declaration_annexes", audited_inline=True)
def declaration_annexes(request: HttpRequest, pk: int) -> HttpResponse:
    candidacy = _books_candidacy(request, pk)
    refused = _export(request, candidacy, "compliance.export_declaration_annexes", "zip")
    if refused is not None:
        return refused
    response = HttpResponse(candidate_books.annexes_zip(candidacy), content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="allegati-candidatura-{candidacy.pk}.zip"'
    response["Cache-Control"] = "private, no-store"
    return response


# --- 2×1000 (rule F9) --------------------------------------------------------------------------


@official_required(roles={Role.TREASURY, Role.ADMINISTRATOR})
def two_per_thousand(request: HttpRequest) -> HttpResponse:
    """Every entry of the 2×1000, corrections included (aggregates only: no person on the page)."""
    national = Territory.objects.get(level=Level.NATIONAL)
    can_enter = has_role_at(request.user, national, twoxthousand.ENTER_ROLES)
    form = TwoPerThousandForm(request.POST or None)
    if request.method == "POST":
        if not can_enter:
            return HttpResponse(status=403)
        if form.is_valid():
            data = form.cleaned_data
            try:
                entry = twoxthousand.record_two_per_thousand(
                    actor=request.user,
                    year=data["year"],
                    amount=data["amount"],
                    received_on=data["received_on"],
                    choices=data.get("choices"),
                    note=data.get("note") or "",
                )
            except ValidationError as exc:
                if hasattr(exc, "error_dict"):
                    for field, errors in exc.error_dict.items():
                        form.add_error(field if field in form.fields else None, errors)
                else:
                    form.add_error(None, exc)
            else:
                messages.success(request, _("2×1000 registrato: %(what)s.") % {"what": twoxthousand.describe(entry)})
                return redirect("compliance:two_per_thousand")
    entries = TwoPerThousandEntry.objects.select_related("superseded_by").order_by("-year", "-created_at")
    return render(
        request,
        "compliance/two_per_thousand.html",
        {"entries": entries, "form": form, "can_enter": can_enter, "totals": twoxthousand.two_per_thousand_by_year()},
        status=400 if form.errors else 200,
    )
