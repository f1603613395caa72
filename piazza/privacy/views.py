"""Pages of the data rights (rule G5): the person's request for a copy of their data, its
progress and its one-time download; the official's paper request; the privacy officer's board."""

from __future__ import annotations

import io
import zipfile

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from piazza.core.middleware import client_ip
from piazza.core.personal_data import note_access, shows_personal_data
from piazza.core.throttle import HitLimiter
from piazza.people.models import Person
from piazza.privacy import requests as actions
from piazza.privacy.forms import AddressForm, ExtendForm, PaperRequestForm
from piazza.privacy.models import OPEN_STATUSES, DataExport, DataRequest, ExportState
from piazza.territory.access import official_required

SESSION_KEY = "privacy_requests"
SENT = _(
    "Se questo indirizzo è tra quelli che conosciamo, ti abbiamo mandato un link per confermare la "
    "richiesta. Controlla la posta (anche lo spam): il link vale una volta sola."
)

# Three links per address and twenty per client an hour; over the limit the answer is the same.
_per_address = HitLimiter("privacy-link-address", limit=3, window_seconds=3600)
_per_client = HitLimiter("privacy-link-client", limit=20, window_seconds=3600)


@require_http_methods(["GET", "POST"])
def request_export(request: HttpRequest) -> HttpResponse:
    """The door: whoever opens it types an address and gets a link there; the answer never says
    whether the address is known (convention 16)."""
    form = AddressForm(request.POST or None)
    if request.method == "POST":
        if not form.is_valid():
            return render(request, "privacy/request_export.html", {"form": form}, status=400)
        email = form.cleaned_data["email"].strip().lower()
        ip = client_ip(request)
        over_address, over_client = _per_address.over(email), _per_client.over(ip)
        if not (over_address or over_client):
            actions.request_address_link(actor=request.user, email=email)
        return render(request, "privacy/request_export.html", {"form": AddressForm(), "sent": SENT})
    return render(request, "privacy/request_export.html", {"form": form})


@require_http_methods(["GET", "POST"])
def confirm_export(request: HttpRequest, token: str) -> HttpResponse:
    """The emailed link. GET shows one button (mail scanners that pre-open links spend nothing);
    POST spends it, starts the export and shows its progress in this browser."""
    if request.method != "POST":
        return render(request, "privacy/confirm_export.html", {})
    try:
        created = actions.open_address_link(actor=request.user, raw=token)
    except ValidationError as exc:
        return render(
            request, "privacy/request_export.html", {"form": AddressForm(), "error": " ".join(exc.messages)}, status=403
        )
    request.session.cycle_key()
    request.session[SESSION_KEY] = [r.pk for r in created]
    return redirect("privacy:request_status")


def request_status(request: HttpRequest) -> HttpResponse:
    """Progress of the requests this browser confirmed (no data of the person is shown)."""
    ids = request.session.get(SESSION_KEY) or []
    requests = (
        DataRequest.objects.filter(pk__in=[int(i) for i in ids if isinstance(i, int)])
        .select_related("export")
        .order_by("pk")
    )
    working = any(
        getattr(r, "export", None) is not None and r.export.state in (ExportState.QUEUED, ExportState.RUNNING)
        for r in requests
    )
    return render(
        request, "privacy/request_status.html", {"requests": requests, "ExportState": ExportState, "working": working}
    )


@require_http_methods(["GET", "POST"])
def download_export(request: HttpRequest, token: str) -> HttpResponse:
    """The emailed download link: GET shows one button, POST spends the link once and hands
    over a ZIP with the JSON and the PDF."""
    if request.method != "POST":
        return render(request, "privacy/download.html", {})
    try:
        _export, json_bytes, pdf_bytes = actions.spend_download_link(actor=request.user, raw=token)
    except actions.DownloadRefused as refused:
        return render(request, "privacy/download.html", {"error": refused.message}, status=410)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("i-miei-dati.json", json_bytes)
        archive.writestr("i-miei-dati.pdf", pdf_bytes)
    response = HttpResponse(buffer.getvalue(), content_type="application/zip")
    stamp = timezone.localdate().strftime("%Y%m%d")
    response["Content-Disposition"] = f'attachment; filename="i-miei-dati-{stamp}.zip"'
    response["Cache-Control"] = "no-store"
    return response


@official_required(actions.PAPER_ROLES)
@shows_personal_data("privacy.paper_request")
@require_http_methods(["GET", "POST"])
def paper_request(request: HttpRequest, person_id: int) -> HttpResponse:
    """An official records a request received on paper for a person in their scope."""
    person = get_object_or_404(Person.objects.visible_to(request.user, roles=actions.PAPER_ROLES), pk=person_id)
    note_access(obj=person, territory=person.territory)
    emails = list(person.emails.values_list("value", flat=True))
    form = PaperRequestForm(request.POST or None, emails=emails)
    if request.method == "POST" and form.is_valid():
        try:
            created = actions.record_paper_request(
                actor=request.user,
                person=person,
                kind=form.cleaned_data["kind"],
                received_on=form.cleaned_data["received_on"],
                email=form.cleaned_data["email"] or "",
                notes=form.cleaned_data["notes"],
            )
        except ValidationError as exc:
            if hasattr(exc, "error_dict"):
                for field, errors in exc.error_dict.items():
                    form.add_error(field if field in form.fields else None, errors)
            else:
                form.add_error(None, exc)
        else:
            return render(request, "privacy/paper_done.html", {"person": person, "data_request": created})
    status = 400 if request.method == "POST" else 200
    return render(request, "privacy/paper_request.html", {"person": person, "form": form}, status=status)


def _board_or_403(request: HttpRequest) -> None:
    if not actions.can_see_board(request.user):
        raise PermissionDenied


@official_required(actions.BOARD_ROLES)
@shows_personal_data("privacy.board")
def board(request: HttpRequest) -> HttpResponse:
    """The privacy officer's board: every pending request with its GDPR deadline, the overdue
    first; the last answered below."""
    _board_or_403(request)
    pending = list(
        DataRequest.objects.filter(status__in=OPEN_STATUSES)
        .select_related("person", "territory")
        .order_by("due_on", "pk")
    )
    answered = list(
        DataRequest.objects.exclude(status__in=OPEN_STATUSES)
        .select_related("person", "territory")
        .order_by("-closed_at", "-pk")[:50]
    )
    exports = {e.request_id: e for e in DataExport.objects.filter(request__in=[*pending, *answered])}
    for item in [*pending, *answered]:
        item.export_state = exports.get(item.pk)  # type: ignore[attr-defined]
    note_access(ids=[r.person_id for r in [*pending, *answered] if r.person_id])
    return render(
        request,
        "privacy/board.html",
        {
            "pending": pending,
            "answered": answered,
            "overdue": sum(1 for r in pending if r.overdue),
            "extend_form": ExtendForm(),
        },
    )


@official_required(actions.BOARD_ROLES)
@require_POST
def extend(request: HttpRequest, pk: int) -> HttpResponse:
    _board_or_403(request)
    data_request = get_object_or_404(DataRequest, pk=pk)
    form = ExtendForm(request.POST)
    error = ""
    if form.is_valid():
        try:
            actions.extend_request(actor=request.user, request=data_request, reason=form.cleaned_data["reason"])
        except ValidationError as exc:
            error = " ".join(exc.messages)
    else:
        error = _("Scrivi il motivo della proroga.")
    if error:
        messages.error(request, error)
    return redirect("privacy:board")
