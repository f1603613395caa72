"""The donor register in the back office (rules F1, F2, F5, F14, F15): the deadline board, one
entity's register with its publication, the exports for the Chamber, services in kind and
election periods. Views stay thin: writes are actions in `compliance.register.actions`; every
page that shows donors is logged (rule G4) and every lookup goes through `visible_to`.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from piazza.compliance.models import ElectionPeriod, InKindContribution, RegisterPublication
from piazza.compliance.register import actions
from piazza.compliance.register.forms import ElectionPeriodForm, InKindForm, PublishForm
from piazza.compliance.register.pdf import register_pdf
from piazza.compliance.register.queries import board_entities, channel_label, entity_board, kind_label
from piazza.core.audit import record
from piazza.core.exports import export_response, export_view
from piazza.core.files import private_file_response
from piazza.core.models import AuditKind
from piazza.core.personal_data import note_access, shows_personal_data
from piazza.people.codice_fiscale import canonical_codice_fiscale
from piazza.people.models import Person
from piazza.territory.access import official_required
from piazza.territory.models import Territory
from piazza.territory.scoping import has_role_at

SEE = actions.REGISTER_ROLES
MIN_YEAR = 2000


def _year(request: HttpRequest) -> int:
    today = timezone.localdate()
    try:
        year = int(request.GET.get("anno", today.year))
    except ValueError:
        return today.year
    return year if MIN_YEAR <= year <= today.year else today.year


def _attach(form: Any, exc: ValidationError) -> None:
    if hasattr(exc, "error_dict"):
        for field, errors in exc.error_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, exc)


@official_required(roles=SEE)
@shows_personal_data("compliance.view_register_board")
def board(request: HttpRequest) -> HttpResponse:
    """Rules F1, F15: every register the official may see, with what is due, due soon, late (by
    how many days) and met."""
    year = _year(request)
    boards = [entity_board(entity, year) for entity in board_entities(request.user, year)]
    note_access(ids=[row.entry.pk for b in boards for row in b.rows], year=year)
    today = timezone.localdate()
    return render(
        request,
        "compliance/register/board.html",
        {"boards": boards, "year": year, "years": range(today.year, max(MIN_YEAR, today.year - 5) - 1, -1)},
    )


def _entity(request: HttpRequest, pk: int) -> Territory:
    return get_object_or_404(Territory.objects.visible_to(request.user, SEE), pk=pk)


@official_required(roles=SEE)
@shows_personal_data("compliance.view_register")
def entity(request: HttpRequest, pk: int, year: int) -> HttpResponse:
    """One entity's register for a year: the donors, their contributions and deadlines, the
    published versions; the treasurer refreshes it or publishes a new version (POST)."""
    found = _entity(request, pk)
    today = timezone.localdate()
    if not MIN_YEAR <= year <= today.year or not actions.is_register_entity(found, actions.register_rules(year)):
        raise Http404
    form = PublishForm(request.POST or None)
    if request.method == "POST":
        try:
            if request.POST.get("do") == "refresh":
                result = actions.refresh_register(actor=request.user, year=year, entity=found)
                messages.success(
                    request, _("Registro aggiornato: %(n)d donatori oltre la soglia.") % {"n": result.entries}
                )
                return redirect("compliance:register_entity", found.pk, year)
            if form.is_valid():
                publication = actions.publish_register(
                    actor=request.user, entity=found, year=year, note=form.cleaned_data["note"]
                )
                messages.success(
                    request,
                    _("Registro pubblicato: versione %(v)d, ora visibile sul sito.") % {"v": publication.version},
                )
                return redirect("compliance:register_entity", found.pk, year)
        except PermissionDenied as exc:
            form.add_error(None, str(exc))
        except ValidationError as exc:
            _attach(form, exc)
    shown = entity_board(found, year)
    note_access(territory=found, ids=[row.entry.pk for row in shown.rows], year=year)
    can_publish = has_role_at(request.user, found, actions.PUBLISH_ROLES)
    return render(
        request,
        "compliance/register/entity.html",
        {
            "board": shown,
            "form": form,
            "can_publish": can_publish,
            "public_url": reverse("register:public", args=[found.pk, year]),
        },
    )


def _publication(request: HttpRequest, pk: int) -> RegisterPublication:
    return get_object_or_404(RegisterPublication.objects.visible_to(request.user, SEE).select_related("entity"), pk=pk)


CSV_HEADER = [
    "anno",
    "ente",
    "versione",
    "pubblicato_il",
    "donatore",
    "totale_anno_euro",
    "data_contributo",
    "importo_euro",
    "canale",
    "tipo",
    # Rule F13: a legal person's VAT number / codice fiscale and the date of its board resolution
    # (empty for natural persons, whose identifiers are never published).
    "partita_iva_ente",
    "delibera_del",
]


def _euro(cents: int) -> str:
    return f"{cents // 100},{cents % 100:02d}"


@official_required(roles=SEE)
@export_view("compliance.export_register")
def export_csv(request: HttpRequest, pk: int) -> HttpResponse:
    """Rule F5: one published version as the documented CSV (docs/dev/register.md), one row per
    contribution, for the Chamber of Deputies and the annual accounts."""
    publication = _publication(request, pk)
    published = timezone.localtime(publication.published_at).date()
    rows = [
        [
            publication.year,
            publication.entity.name,
            publication.version,
            published,
            row.donor_name,
            _euro(row.total_cents),
            dt.date.fromisoformat(item["received_on"]),
            _euro(int(item["amount_cents"])),
            str(channel_label(item["method"])),
            str(kind_label(item["kind"])),
            row.entity_code,
            dt.date.fromisoformat(item["resolution_on"]) if item.get("resolution_on") else "",
        ]
        for row in publication.rows.order_by("position")
        for item in row.items
    ]
    return export_response(
        "compliance.export_register",
        actor=request.user,
        file_format="csv",
        filename=f"registro-contributi-{publication.entity_id}-{publication.year}-v{publication.version}",
        header=CSV_HEADER,
        rows=rows,
        obj=publication,
        territory=publication.entity,
        data={"year": publication.year, "version": publication.version},
    )


@official_required(roles=SEE)
@shows_personal_data("compliance.export_register_pdf", audited_inline=True)
def export_pdf(request: HttpRequest, pk: int) -> HttpResponse:
    """Rule F5: one published version as a PDF signed with the party's certificate (ADR 0019)."""
    publication = _publication(request, pk)
    made = register_pdf(publication)
    with transaction.atomic():
        record(
            "compliance.export_register_pdf",
            actor=request.user,
            obj=publication,
            territory=publication.entity,
            kind=AuditKind.EXPORT,
            data={"format": "pdf", "rows": publication.rows.count(), "signed": made.signed},
        )
    response = HttpResponse(made.content, content_type="application/pdf")
    response["Content-Disposition"] = (
        f'attachment; filename="registro-contributi-{publication.entity_id}-{publication.year}'
        f'-v{publication.version}.pdf"'
    )
    response["Cache-Control"] = "private, no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response


# --- Services in kind ---------------------------------------------------------------------------


def _person(request: HttpRequest, codice_fiscale: str) -> Person | None:
    code = canonical_codice_fiscale(codice_fiscale or "")
    if not code:
        return None
    found: Person | None = (
        Person.objects.visible_to(request.user).filter(codice_fiscale_canonical=code, merged_into__isnull=True).first()
    )
    return found


@official_required(roles=actions.IN_KIND_ROLES)
@shows_personal_data("compliance.view_in_kind")
def in_kind(request: HttpRequest) -> HttpResponse:
    """Record a service or good given (rule F1) and list those of the official's territories."""
    territories = Territory.objects.visible_to(request.user, actions.IN_KIND_ROLES).open().order_by("path")
    form = InKindForm(request.POST or None, request.FILES or None, territories=territories)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        person = _person(request, data["codice_fiscale"])
        if person is None:
            form.add_error(
                "codice_fiscale",
                _("Nessuna persona con questo codice fiscale nel tuo territorio: registrala prima in Persone."),
            )
        else:
            try:
                actions.record_in_kind(
                    actor=request.user,
                    person=person,
                    territory=data["territory"],
                    description=data["description"],
                    value_cents=data["value"].cents,
                    received_on=data["received_on"],
                    evidence=data["evidence"],
                    publication_accepted=data["publication_accepted"],
                )
            except PermissionDenied as exc:
                form.add_error(None, str(exc))
            except ValidationError as exc:
                _attach(form, exc)
            else:
                messages.success(
                    request,
                    _("Contributo in natura di %(name)s registrato: conta per il registro dei contributi.")
                    % {"name": person.full_name},
                )
                return redirect("compliance:register_in_kind")
    recorded = list(
        InKindContribution.objects.visible_to(request.user, actions.IN_KIND_ROLES).select_related(
            "person", "territory"
        )[:100]
    )
    note_access(ids=[c.pk for c in recorded])
    return render(request, "compliance/register/in_kind.html", {"form": form, "recorded": recorded})


@official_required(roles=actions.IN_KIND_ROLES)
@shows_personal_data("compliance.view_in_kind_evidence", audited_inline=True)
def in_kind_evidence(request: HttpRequest, pk: int) -> HttpResponse:
    """The evidence of a contribution in kind, from private storage: in scope, every view logged."""
    found = get_object_or_404(
        InKindContribution.objects.visible_to(request.user, actions.IN_KIND_ROLES).select_related("territory"), pk=pk
    )
    with transaction.atomic():
        record(
            "compliance.view_in_kind_evidence",
            actor=request.user,
            obj=found,
            territory=found.territory,
            kind=AuditKind.VIEW,
            data={"file": found.evidence.name},
        )
    return private_file_response(found.evidence, f"contributo-in-natura-{found.pk}")


# --- Election periods ---------------------------------------------------------------------------


@official_required(roles=actions.PERIOD_ROLES)
def periods(request: HttpRequest) -> HttpResponse:
    """Rule F1: declare an election period; list those of the official's territories."""
    territories = Territory.objects.visible_to(request.user, actions.PERIOD_ROLES).open().order_by("path")
    form = ElectionPeriodForm(request.POST or None, territories=territories)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            period = actions.declare_election_period(
                actor=request.user,
                territory=data["territory"],
                kind=data["kind"],
                election_day=data["election_day"],
                description=data["description"],
                dissolved_on=data["dissolved_on"],
            )
        except PermissionDenied as exc:
            form.add_error(None, str(exc))
        except ValidationError as exc:
            _attach(form, exc)
        else:
            messages.success(
                request,
                _(
                    "Periodo elettorale dichiarato dal %(start)s al %(end)s: i contributi ricevuti in questi giorni "
                    "vanno pubblicati entro il termine breve. Aggiorna i registri per ricalcolare le scadenze."
                )
                % {"start": period.starts_on.strftime("%d/%m/%Y"), "end": period.ends_on.strftime("%d/%m/%Y")},
            )
            return redirect("compliance:register_periods")
    declared = ElectionPeriod.objects.visible_to(request.user, actions.PERIOD_ROLES).select_related("territory")[:100]
    return render(
        request,
        "compliance/register/periods.html",
        {"form": form, "declared": declared, "board_url": reverse("compliance:register_board")},
    )
