"""The candidate journey in the back office (rules F10–F12): candidacies, their mandatario,
expenses against the spending cap, joint declarations and the end-of-campaign report.

Views stay thin: every write is an action in `compliance.actions`; every page that shows people
is logged (rule G4) and every lookup goes through `visible_to` (convention 11).
"""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from piazza.compliance import actions, candidate_books
from piazza.compliance.candidates import overview, report_rows
from piazza.compliance.forms import CandidacyForm, DeclarationForm, ExpenseForm, MandatarioForm
from piazza.compliance.forms_books import ProclamationForm, ReceiptForm
from piazza.compliance.models import Candidacy, JointDeclaration
from piazza.core.audit import record
from piazza.core.exports import export_response, export_view
from piazza.core.files import private_file_response
from piazza.core.models import AuditKind
from piazza.core.money import format_eur
from piazza.core.personal_data import shows_personal_data
from piazza.core.replica import reading_stale
from piazza.people.codice_fiscale import canonical_codice_fiscale
from piazza.people.models import Person
from piazza.territory.access import official_required
from piazza.territory.models import Territory
from piazza.territory.scoping import has_role_at

SEE = actions.CANDIDACY_MONEY_ROLES
ORGANISE = actions.CANDIDACY_ROLES


def _candidacy(request: HttpRequest, pk: int) -> Candidacy:
    return get_object_or_404(
        Candidacy.objects.visible_to(request.user, SEE).select_related(
            "territory", "candidate_person", "mandatario_person"
        ),
        pk=pk,
    )


def _person(request: HttpRequest, codice_fiscale: str) -> Person | None:
    code = canonical_codice_fiscale(codice_fiscale or "")
    if not code:
        return None
    return (
        Person.objects.visible_to(request.user)
        .filter(  # type: ignore[no-any-return]
            codice_fiscale_canonical=code, merged_into__isnull=True
        )
        .first()
    )


def _attach(form: Any, exc: ValidationError, rename: dict[str, str] | None = None) -> None:
    if hasattr(exc, "error_dict"):
        for field, errors in exc.error_dict.items():
            field = (rename or {}).get(field, field)
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, exc)


@official_required(roles=SEE)
@shows_personal_data("compliance.view_candidacies")
def candidacy_list(request: HttpRequest) -> HttpResponse:
    candidacies = (
        Candidacy.objects.visible_to(request.user, SEE).select_related("territory").order_by("-created_at")[:200]
    )
    can_create = Territory.objects.visible_to(request.user, ORGANISE).exists()
    return render(request, "compliance/candidacy_list.html", {"candidacies": candidacies, "can_create": can_create})


@official_required(roles=ORGANISE)
@shows_personal_data("compliance.create_candidacy_form")
def candidacy_create(request: HttpRequest) -> HttpResponse:
    territories = Territory.objects.visible_to(request.user, ORGANISE).open().exclude(level="circolo").order_by("path")
    form = CandidacyForm(request.POST or None, territories=territories)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        candidate = _person(request, data["candidate_codice_fiscale"])
        if candidate is None:
            form.add_error(
                "candidate_codice_fiscale",
                _("Nessuna persona con questo codice fiscale nel tuo territorio: registrala prima in Persone."),
            )
        else:
            try:
                candidacy = actions.create_candidacy(
                    actor=request.user,
                    territory=data["territory"],
                    election_kind=data["election_kind"],
                    candidate=candidate,
                    election=data["election"],
                    constituency=data["constituency"],
                    residents=data["residents"],
                    elections_called_on=data["elections_called_on"],
                    election_day=data["election_day"],
                    spending_cap_cents=data["spending_cap"].cents if data.get("spending_cap") else None,
                )
            except ValidationError as exc:
                _attach(form, exc, {"candidate": "candidate_codice_fiscale", "spending_cap": "spending_cap"})
            else:
                messages.success(request, _("Candidatura registrata: ora nomina il mandatario elettorale."))
                return redirect("compliance:candidacy", candidacy.pk)
    return render(request, "compliance/candidacy_form.html", {"form": form})


def _detail(request: HttpRequest, candidacy: Candidacy, **forms: Any) -> HttpResponse:
    figures = overview(candidacy)
    donors_needing = [
        (line.donor.person_id, f"{line.donor.name} ({format_eur(line.donor.total_cents)})")
        for line in figures.donors
        if line.needs_declaration
    ]
    context = {
        "candidacy": candidacy,
        "figures": figures,
        "can_organise": has_role_at(request.user, candidacy.territory, ORGANISE),
        "mandatario_form": forms.get("mandatario_form") or MandatarioForm(),
        "expense_form": forms.get("expense_form") or ExpenseForm(initial={"idempotency_key": uuid.uuid4().hex}),
        "declaration_form": forms.get("declaration_form") or DeclarationForm(donors=donors_needing),
        "has_declaration_donors": bool(donors_needing),
        "expenses": candidacy.expenses.select_related("category"),
        "proclamation_form": ProclamationForm(initial={"proclaimed_on": candidacy.proclaimed_on}),
        "receipt_form": ReceiptForm(),
        **candidate_books.books_context(candidacy, figures),
        "campaign_url": f"{reverse('funding:manage_create')}?territory={candidacy.territory_id}"
        f"&candidacy={candidacy.pk}",
    }
    return render(request, "compliance/candidacy_detail.html", context)


@official_required(roles=SEE)
@shows_personal_data("compliance.view_candidacy")
def candidacy_detail(request: HttpRequest, pk: int) -> HttpResponse:
    return _detail(request, _candidacy(request, pk))


@official_required(roles=ORGANISE)
@require_POST
@shows_personal_data("compliance.name_mandatario_form")  # an error shows the candidacy page again
def mandatario(request: HttpRequest, pk: int) -> HttpResponse:
    candidacy = _candidacy(request, pk)
    form = MandatarioForm(request.POST)
    if form.is_valid():
        person = _person(request, form.cleaned_data["codice_fiscale"])
        if person is None:
            form.add_error(
                "codice_fiscale",
                _("Nessuna persona con questo codice fiscale nel tuo territorio: registrala prima in Persone."),
            )
        else:
            try:
                actions.name_mandatario(
                    actor=request.user, candidacy=candidacy, person=person, iban=form.cleaned_data["iban"]
                )
            except ValidationError as exc:
                _attach(form, exc)
            else:
                messages.success(request, _("Mandatario elettorale nominato: %(name)s.") % {"name": person.full_name})
                return redirect("compliance:candidacy", candidacy.pk)
    return _detail(request, candidacy, mandatario_form=form)


@official_required(roles=SEE)
@require_POST
@shows_personal_data("compliance.book_expense_form")  # an error shows the candidacy page again
def expense(request: HttpRequest, pk: int) -> HttpResponse:
    candidacy = _candidacy(request, pk)
    form = ExpenseForm(request.POST, request.FILES)
    if form.is_valid():
        data = form.cleaned_data
        try:
            actions.book_candidate_expense(
                category=data["category"],
                receipt=data["receipt"],
                actor=request.user,
                candidacy=candidacy,
                description=data["description"],
                supplier=data["supplier"],
                amount=data["amount"],
                incurred_on=data["incurred_on"],
                idempotency_key=data["idempotency_key"],
            )
        except ValidationError as exc:
            _attach(form, exc)
        except PermissionDenied as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, _("Spesa registrata sul conto del mandatario."))
            return redirect("compliance:candidacy", candidacy.pk)
    return _detail(request, candidacy, expense_form=form)


@official_required(roles=SEE)
@require_POST
@shows_personal_data("compliance.add_joint_declaration_form")  # an error shows the candidacy page again
def declaration(request: HttpRequest, pk: int) -> HttpResponse:
    candidacy = _candidacy(request, pk)
    figures = overview(candidacy)
    donors = [(line.donor.person_id, line.donor.name) for line in figures.donors if line.needs_declaration]
    form = DeclarationForm(request.POST, request.FILES, donors=donors)
    if form.is_valid():
        data = form.cleaned_data
        donor = Person.objects.get(pk=data["donor"])  # one of this candidacy's donors (the choices)
        try:
            actions.add_joint_declaration(
                actor=request.user,
                candidacy=candidacy,
                donor=donor,
                document=data["document"],
                signed_on=data["signed_on"],
                status=data["status"],
                filed_on=data["filed_on"],
            )
        except ValidationError as exc:
            _attach(form, exc)
        except PermissionDenied as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, _("Dichiarazione congiunta di %(name)s registrata.") % {"name": donor.full_name})
            return redirect("compliance:candidacy", candidacy.pk)
    return _detail(request, candidacy, declaration_form=form)


@official_required(roles=SEE)
@shows_personal_data("compliance.view_declaration", audited_inline=True)
def declaration_document(request: HttpRequest, pk: int) -> HttpResponse:
    """The signed declaration, from private storage: only in scope, every view logged (rule G4)."""
    found = get_object_or_404(
        JointDeclaration.objects.visible_to(request.user, SEE).select_related("candidacy__territory"), pk=pk
    )
    record(
        "compliance.view_declaration",
        actor=request.user,
        obj=found,
        territory=found.candidacy.territory,
        kind=AuditKind.VIEW,
        data={"file": found.document.name},
    )
    return private_file_response(found.document, f"dichiarazione-{found.pk}")


@official_required(roles=SEE)
@export_view("compliance.export_report")
def report(request: HttpRequest, pk: int) -> HttpResponse:
    """The end-of-campaign report (rendiconto, rule F11) as CSV — only once nothing required is missing.
    Its figures may come from the streaming replica, at most REPLICA_MAX_LAG["reports"] seconds
    behind (issue 14): the file then says how old they are."""
    candidacy = _candidacy(request, pk)
    with reading_stale("reports") as stale:
        figures = overview(candidacy)
        rows = report_rows(candidacy, figures)
    if not figures.report_ready:
        messages.error(
            request,
            _(
                "Il rendiconto non si può ancora produrre: completa prima quanto elencato "
                "sotto «Cosa manca al rendiconto»."
            ),
        )
        return redirect(f"{reverse('compliance:candidacy', args=[candidacy.pk])}#rendiconto")
    preamble = [
        _("Rendiconto delle spese elettorali (legge 515/1993)"),
        f"{_('Candidato/a')}: {candidacy.candidate_name} · {candidacy.election} · {candidacy.constituency}",
        f"{_('Mandatario')}: {candidacy.mandatario_name} · IBAN {candidacy.mandatario_iban}",
        f"{_('Tetto di spesa')}: {format_eur(figures.cap_cents)} · {_('Raccolto')}: "
        f"{format_eur(figures.collected_cents)} · {_('Speso')}: {format_eur(figures.spent_cents)}",
    ]
    if stale.note_seconds:
        preamble.append(_("Dati aggiornati a %(n)d secondi fa.") % {"n": stale.note_seconds})
    return export_response(
        "compliance.export_report",
        actor=request.user,
        file_format="csv",
        filename=f"rendiconto-candidatura-{candidacy.pk}",
        header=[
            _("Voce"),
            _("Nome o fornitore"),
            _("Codice fiscale o data"),
            _("Entrate (€)"),
            _("Uscite (€)"),
            _("Dichiarazione congiunta"),
        ],
        rows=rows,
        obj=candidacy,
        territory=candidacy.territory,
        preamble=preamble,
        data={"candidacy": candidacy.pk},
    )
