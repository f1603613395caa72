"""The privacy officer's records: the record of processing activities (GDPR art. 30) as a page
and a PDF, and the data breach register (art. 33(5)) with its 72-hour board and CSV export.
Same access as the board of requests: the national privacy officer (and national administrator)."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from piazza.core.audit import record
from piazza.core.exports import export_response, export_view
from piazza.core.models import AuditKind
from piazza.core.personal_data import note_access, shows_personal_data
from piazza.privacy import breaches, processing
from piazza.privacy.forms import BreachForm
from piazza.privacy.models import BreachVersion, DataBreach
from piazza.privacy.requests import BOARD_ROLES, can_see_board
from piazza.territory.access import official_required


def _officer(request: HttpRequest) -> None:
    if not can_see_board(request.user):
        raise PermissionDenied


@official_required(BOARD_ROLES)
def processing_record(request: HttpRequest) -> HttpResponse:
    """The record of processing activities, generated from the configuration (no personal data)."""
    _officer(request)
    return render(request, "privacy/processing.html", {"record": processing.build_record()})


@official_required(BOARD_ROLES)
def processing_pdf(request: HttpRequest) -> HttpResponse:
    """The same record as a PDF to file or hand to the Garante on request (art. 30(4))."""
    _officer(request)
    content = processing.to_pdf(processing.build_record())
    record("privacy.processing_pdf", actor=request.user, kind=AuditKind.EXPORT, data={"bytes": len(content)})
    response = HttpResponse(content, content_type="application/pdf")
    stamp = timezone.localdate().strftime("%Y%m%d")
    response["Content-Disposition"] = f'attachment; filename="registro-trattamenti-{stamp}.pdf"'
    return response


def _latest_versions() -> list[BreachVersion]:
    breaches_list = list(DataBreach.objects.prefetch_related("versions").order_by("-created_at", "-id"))
    return [max(b.versions.all(), key=lambda v: v.number) for b in breaches_list if b.versions.all()]


@official_required(BOARD_ROLES)
@shows_personal_data("privacy.breaches")
@require_http_methods(["GET", "POST"])
def breach_board(request: HttpRequest) -> HttpResponse:
    """Every breach with its 72-hour deadline and whether it was met; the form records a new one."""
    _officer(request)
    form = BreachForm(request.POST or None, initial={"notification_required": True})
    if request.method == "POST" and form.is_valid():
        try:
            version = breaches.record_breach(actor=request.user, facts=breaches.BreachFacts(**form.cleaned_data))
        except ValidationError as exc:
            _attach(form, exc)
        else:
            messages.success(request, _("Violazione registrata: %(ref)s.") % {"ref": version.breach.reference})
            return redirect("privacy:breach_detail", pk=version.breach_id)
    latest = _latest_versions()
    note_access(count=len(latest))
    status = 400 if request.method == "POST" else 200
    return render(request, "privacy/breaches.html", {"latest": latest, "form": form}, status=status)


def _attach(form: BreachForm, exc: ValidationError) -> None:
    for field, errors in exc.error_dict.items() if hasattr(exc, "error_dict") else [(None, exc.messages)]:
        form.add_error(field if field in form.fields else None, errors)


def _initial(version: BreachVersion) -> dict[str, Any]:
    names = [
        "discovered_at",
        "nature",
        "data_categories",
        "people_count",
        "records_count",
        "consequences",
        "measures",
        "notification_required",
        "no_notification_reason",
        "notified_at",
        "delay_reason",
        "people_informed",
        "people_informed_at",
    ]
    values = {name: getattr(version, name) for name in names}
    for name in ("discovered_at", "notified_at", "people_informed_at"):
        if values[name] is not None:
            values[name] = timezone.localtime(values[name])
    return values


@official_required(BOARD_ROLES)
@shows_personal_data("privacy.breach_detail")
@require_http_methods(["GET", "POST"])
def breach_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """One breach: what is known now, its history of versions, and the form for the next one."""
    _officer(request)
    breach = get_object_or_404(DataBreach, pk=pk)
    versions = list(breach.versions.select_related("recorded_by").order_by("-number"))
    current = versions[0]
    form = BreachForm(request.POST or None, initial=_initial(current))
    if request.method == "POST" and form.is_valid():
        try:
            breaches.update_breach(actor=request.user, breach=breach, facts=breaches.BreachFacts(**form.cleaned_data))
        except ValidationError as exc:
            _attach(form, exc)
        else:
            messages.success(request, _("Scheda aggiornata: la versione precedente resta nello storico."))
            return redirect("privacy:breach_detail", pk=breach.pk)
    note_access(obj=breach)
    status = 400 if request.method == "POST" else 200
    return render(
        request,
        "privacy/breach_detail.html",
        {"breach": breach, "current": current, "versions": versions, "form": form},
        status=status,
    )


STATE_LABELS = {
    "in_time": _("Notificata entro 72 ore"),
    "late": _("Notificata oltre 72 ore"),
    "overdue": _("Non notificata: termine scaduto"),
    "open": _("Da notificare entro il termine"),
    "not_required": _("Notifica non dovuta"),
}


@official_required(BOARD_ROLES)
@export_view("privacy.export_breaches")
def breach_export(request: HttpRequest, fmt: str = "csv") -> HttpResponse:
    """The register as CSV (every version of every breach), through the one export writer."""
    _officer(request)
    fmt = fmt if fmt in ("csv", "xlsx") else "csv"
    versions = BreachVersion.objects.select_related("breach").order_by("breach__created_at", "breach_id", "number")

    def when(value: Any) -> str:
        return timezone.localtime(value).strftime("%d/%m/%Y %H:%M") if value else ""

    rows = (
        [
            v.breach.reference,
            v.number,
            when(v.recorded_at),
            when(v.discovered_at),
            v.nature,
            v.data_categories,
            v.people_count,
            v.records_count,
            v.consequences,
            v.measures,
            _("sì") if v.notification_required else _("no"),
            v.no_notification_reason,
            when(v.deadline),
            when(v.notified_at),
            str(STATE_LABELS[v.deadline_state]),
            v.delay_reason,
            _("sì") if v.people_informed else _("no"),
            when(v.people_informed_at),
        ]
        for v in versions
    )
    return export_response(
        "privacy.export_breaches",
        actor=request.user,
        file_format=fmt,
        filename=f"registro-violazioni-{timezone.localdate():%Y%m%d}",
        header=[
            _("Riferimento"),
            _("Versione"),
            _("Registrata il"),
            _("Scoperta il"),
            _("Natura"),
            _("Categorie di dati"),
            _("Persone"),
            _("Registrazioni"),
            _("Conseguenze"),
            _("Misure"),
            _("Da notificare"),
            _("Perché non si notifica"),
            _("Termine di 72 ore"),
            _("Notificata il"),
            _("Esito del termine"),
            _("Motivi del ritardo"),
            _("Interessati informati"),
            _("Informati il"),
        ],
        rows=rows,
    )
