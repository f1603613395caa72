"""Back office of broadcasts (communication officers, inside their scope: 404 outside) and the
public links every message carries (one-click unsubscribe, preference centre)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from piazza.core.audit import record
from piazza.core.models import AuditKind
from piazza.core.personal_data import shows_personal_data
from piazza.outreach import webhooks
from piazza.outreach.actions import broadcasts as broadcast_actions
from piazza.outreach.actions import stopping
from piazza.outreach.forms import BroadcastForm, PreviewForm, ScheduleForm, WinnerForm
from piazza.outreach.models import (
    Broadcast,
    BroadcastStatus,
    Delivery,
    Suppression,
    SuppressionReason,
    TerritoryPreference,
    Variant,
)
from piazza.outreach.queries import REASONS, SEND_ROLES, audience_count, broadcasts_for, delivery_stats, sample_people
from piazza.outreach.render import Prepared, link_values, merge_values, personalise, prepare, read_unsubscribe_token
from piazza.people.models import Person, Purpose
from piazza.people.queries import current_consents
from piazza.territory.access import official_required
from piazza.territory.models import Territory
from piazza.territory.scoping import scope_paths


def _errors_to_form(form: Any, exc: ValidationError) -> None:
    if hasattr(exc, "error_dict"):
        for field, errors in exc.message_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, exc.messages)


def _broadcast_or_404(request: HttpRequest, pk: int) -> Broadcast:
    return get_object_or_404(broadcasts_for(request.user), pk=pk)


@official_required(roles=SEND_ROLES)
def broadcast_list(request: HttpRequest) -> HttpResponse:
    return render(request, "outreach/list.html", {"broadcasts": broadcasts_for(request.user)[:200]})


@official_required(roles=SEND_ROLES)
def broadcast_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    broadcast = _broadcast_or_404(request, pk) if pk else None
    paths = scope_paths(request.user, SEND_ROLES)
    home = Territory.objects.filter(path__in=paths).order_by("path").first()
    initial: dict[str, Any] = {"territory": home.pk if home else None, "ab_sample_percent": 10, "ab_wait_hours": 4}
    if broadcast is not None:
        initial = {
            "territory": broadcast.territory_id,
            "segment": broadcast.segment_id,
            "subject": broadcast.subject,
            "preheader": broadcast.preheader,
            "body": broadcast.body,
            "subject_b": broadcast.subject_b,
            "ab_sample_percent": broadcast.ab_sample_percent or 10,
            "ab_wait_hours": broadcast.ab_wait_hours,
        }
    form = BroadcastForm(request.POST or None, initial=initial, paths=paths)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            broadcast = broadcast_actions.save_broadcast(
                actor=request.user,
                territory=data["territory"],
                segment=data["segment"],
                subject=data["subject"],
                preheader=data["preheader"],
                body=data["body"],
                subject_b=data["subject_b"],
                ab_sample_percent=data["ab_sample_percent"] or 0,
                ab_wait_hours=data["ab_wait_hours"] or 4,
                broadcast=broadcast,
            )
        except ValidationError as exc:
            _errors_to_form(form, exc)
        else:
            messages.success(request, _("Comunicazione salvata: controlla chi la riceverà."))
            return redirect("outreach:detail", broadcast.pk)
    return render(request, "outreach/form.html", {"form": form, "broadcast": broadcast})


@official_required(roles=SEND_ROLES)
@shows_personal_data("outreach.view_broadcast")
def broadcast_detail(request: HttpRequest, pk: int) -> HttpResponse:
    broadcast = _broadcast_or_404(request, pk)
    people = sample_people(broadcast) if broadcast.status == BroadcastStatus.DRAFT else []
    context: dict[str, Any] = {
        "broadcast": broadcast,
        "preview_form": PreviewForm(people=people),
        "schedule_form": ScheduleForm(),
        "winner_form": WinnerForm(),
        "people": people,
    }
    if broadcast.status == BroadcastStatus.DRAFT:
        context["audience"] = audience_count(broadcast)
    else:
        context["stats"] = delivery_stats(broadcast)
        context["summary"] = _summary_in_words(broadcast.audience_summary)
        if broadcast.is_ab:
            context["variants"] = [
                (Variant(v).label, broadcast.subject_for(v), delivery_stats(broadcast, v)) for v in Variant.values
            ]
    return render(request, "outreach/detail.html", context)


def _summary_in_words(summary: dict[str, int]) -> list[tuple[Any, int]]:
    return [(words, summary[code]) for code, words in REASONS.items() if summary.get(code)]


@official_required(roles=SEND_ROLES)
def broadcast_preview(request: HttpRequest, pk: int) -> HttpResponse:
    """The message as one recipient of the audience will see it (HTML, or text with ?formato=testo)."""
    broadcast = _broadcast_or_404(request, pk)
    person_id = request.GET.get("persona", "")
    if not person_id.isdigit():
        raise Http404
    # Only someone of this broadcast's audience, inside the sending territory.
    person = get_object_or_404(
        Person.objects.active().filter(territory__path__startswith=broadcast.territory.path), pk=int(person_id)
    )
    with transaction.atomic():
        record(
            "outreach.preview",
            actor=request.user,
            obj=person,
            territory=broadcast.territory,
            kind=AuditKind.VIEW,
            data={"broadcast": broadcast.pk},
        )
    variant = request.GET.get("variante", "")
    prepared: Prepared = prepare(broadcast, variant if variant in Variant.values else "")
    values = {**merge_values([person.pk]).get(person.pk, {}), **link_values(broadcast.pk, person.pk)}
    subject, text, html = personalise(prepared, values)
    if request.GET.get("formato") == "testo":
        return HttpResponse(f"{subject}\n\n{text}", content_type="text/plain; charset=utf-8")
    response = HttpResponse(html)
    response["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'; img-src https: data:"
    return response


@official_required(roles=SEND_ROLES)
@require_POST
def broadcast_test(request: HttpRequest, pk: int) -> HttpResponse:
    broadcast = _broadcast_or_404(request, pk)
    person_id = request.POST.get("person", "")
    person = (
        Person.objects.active().filter(territory__path__startswith=broadcast.territory.path, pk=int(person_id)).first()
        if person_id.isdigit()
        else None
    )
    if person is None:
        messages.error(request, _("Scegli una persona del pubblico per la prova."))
        return redirect("outreach:detail", broadcast.pk)
    try:
        address = broadcast_actions.send_test(actor=request.user, broadcast=broadcast, person=person)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, _("Prova inviata a %(address)s.") % {"address": address})
    return redirect("outreach:detail", broadcast.pk)


@official_required(roles=SEND_ROLES)
@require_POST
def broadcast_schedule(request: HttpRequest, pk: int) -> HttpResponse:
    broadcast = _broadcast_or_404(request, pk)
    form = ScheduleForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Scrivi data e ora così: 25/06/2026 18:30."))
        return redirect("outreach:detail", broadcast.pk)
    send_at = form.cleaned_data["send_at"]
    if send_at is not None and timezone.is_naive(send_at):
        send_at = timezone.make_aware(send_at)
    try:
        broadcast_actions.schedule_broadcast(actor=request.user, broadcast=broadcast, send_at=send_at)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, _("Invio programmato.") if send_at else _("Invio avviato."))
    return redirect("outreach:detail", broadcast.pk)


@official_required(roles=SEND_ROLES)
@require_POST
def broadcast_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    broadcast = _broadcast_or_404(request, pk)
    try:
        broadcast_actions.cancel_broadcast(actor=request.user, broadcast=broadcast)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, _("Comunicazione annullata."))
    return redirect("outreach:detail", broadcast.pk)


@official_required(roles=SEND_ROLES)
@require_POST
def broadcast_winner(request: HttpRequest, pk: int) -> HttpResponse:
    broadcast = _broadcast_or_404(request, pk)
    form = WinnerForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Scegli l'oggetto A o l'oggetto B."))
        return redirect("outreach:detail", broadcast.pk)
    try:
        broadcast_actions.choose_winner(actor=request.user, broadcast=broadcast, variant=form.cleaned_data["variant"])
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, _("Il resto del pubblico riceverà l'oggetto scelto."))
    return redirect("outreach:detail", broadcast.pk)


# --- Public links ---------------------------------------------------------------------------------


def _token_or_404(token: str) -> tuple[int, Person]:
    read = read_unsubscribe_token(token)
    if read is None:
        raise Http404
    broadcast_id, person_id = read
    person = Person.objects.active().filter(pk=person_id).first()
    if person is None:
        raise Http404
    return broadcast_id, person


@csrf_exempt  # RFC 8058: the mail provider POSTs "List-Unsubscribe=One-Click" with no session or token
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    """GET: a page with a button (mail scanners follow links and must unsubscribe nobody).
    POST: unsubscribe at once (the signed token is the proof), no page needed."""
    broadcast_id, person = _token_or_404(token)
    if request.method == "POST":
        stopping.unsubscribe(
            broadcast_id=broadcast_id,
            person_id=person.pk,
            via="one_click" if request.POST.get("List-Unsubscribe") else "page",
        )
        if request.POST.get("List-Unsubscribe") == "One-Click":
            return HttpResponse(status=200)
        return render(request, "outreach/unsubscribed.html", {"token": token})
    if request.method != "GET":
        return HttpResponse(status=405)
    done = Suppression.objects.filter(person=person, reason=SuppressionReason.UNSUBSCRIBE).exists()
    return render(request, "outreach/unsubscribe.html", {"token": token, "done": done})


def preferences(request: HttpRequest, token: str) -> HttpResponse:
    """The preference centre: topics (Consent rows, rule G3) × the territories that wrote to them."""
    broadcast_id, person = _token_or_404(token)
    territory_ids = set(Delivery.objects.filter(person=person).values_list("broadcast__territory_id", flat=True))
    sender = Broadcast.objects.filter(pk=broadcast_id).values_list("territory_id", flat=True).first()
    if sender:
        territory_ids.add(sender)
    territories = list(Territory.objects.filter(pk__in=territory_ids).order_by("path"))
    topics = [Purpose.POLITICAL_COMMUNICATION, Purpose.NEWSLETTER]
    if request.method == "POST":
        stopping.save_preferences(
            person=person,
            broadcast_id=broadcast_id,
            purposes={str(t): request.POST.get(f"topic_{t}") == "1" for t in topics},
            territories={t.pk: request.POST.get(f"territory_{t.pk}") == "1" for t in territories},
            emails=request.POST.get("emails") == "1",
        )
        messages.success(request, _("Preferenze salvate."))
        return redirect("outreach:preferences", token)
    consents = current_consents(person)
    opted_out = set(
        TerritoryPreference.objects.filter(person=person, receive=False).values_list("territory_id", flat=True)
    )
    context = {
        "token": token,
        "emails": not Suppression.objects.filter(person=person, reason=SuppressionReason.UNSUBSCRIBE).exists(),
        "topics": [(t, t.label, bool(consents.get(t) and consents[t].granted)) for t in topics],
        "territories": [(t, t.pk not in opted_out) for t in territories],
        "first_name": person.first_name,
        "text_version": settings.OUTREACH_PREFERENCES_TEXT_VERSION,
    }
    return render(request, "outreach/preferences.html", context)


postmark_webhook = webhooks.postmark_view
