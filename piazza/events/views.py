"""Public event pages (list near you, event with RSVP, calendar file, the attendee's own link) and
the organiser's pages (events, new event, attendees, check-in at the door, export)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy
from django.views.decorators.http import require_POST

from piazza.core.exports import as_response, export_view
from piazza.core.personal_data import shows_personal_data
from piazza.core.throttle import HitLimiter
from piazza.events import actions, queries
from piazza.events.forms import CancelEventForm, CodeForm, EventForm, NearForm, RsvpForm, WalkInForm
from piazza.events.ical import calendar
from piazza.events.models import EVENT_ROLES, Event, Rsvp, RsvpStatus
from piazza.events.tokens import read_manage_token
from piazza.territory.access import official_required
from piazza.territory.models import Territory
from piazza.territory.scoping import scope_paths

# Public form limits (core.throttle, shared cache): per client, and per address so a stranger
# cannot make the confirmation email land again and again in someone's inbox.
RSVP_LIMIT = HitLimiter("events-rsvp-client", 20, 3600)
RSVP_ADDRESS_LIMIT = HitLimiter("events-rsvp-address", 5, 3600)
THROTTLED = _lazy("Troppe iscrizioni in poco tempo da qui o per questo indirizzo: riprova tra un'ora.")


def _client(request: HttpRequest) -> str:
    return str(getattr(request, "client_ip", None) or request.META.get("REMOTE_ADDR", ""))


def _error_to_form(form: Any, exc: ValidationError) -> None:
    if hasattr(exc, "error_dict"):
        for field, errors in exc.error_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, exc)


# --- Public ---------------------------------------------------------------------------------------


def event_list(request: HttpRequest) -> HttpResponse:
    form = NearForm(request.GET or None)
    text = form.cleaned_data["q"].strip() if form.is_valid() else ""
    comune = None
    cap = ""
    if text.isdigit() and len(text) == 5:
        cap = text
    elif text:
        comune = queries.find_comune(text)
        if comune is None:
            form.add_error(
                "q", _("Non troviamo il comune «%(name)s»: scrivilo per intero o usa il CAP.") % {"name": text[:60]}
            )
    events = queries.near(comune=comune, postal_code=cap) if (comune or cap or not text) else []
    return render(request, "events/list.html", {"form": form, "events": events, "searched": bool(text)})


def _public_event(key: str) -> Event:
    return get_object_or_404(Event.objects.select_related("comune", "territory"), public_key=key)


def event_detail(request: HttpRequest, key: str) -> HttpResponse:
    event = _public_event(key)
    form = RsvpForm(request.POST or None)
    if request.method == "POST":
        if event.is_cancelled:
            form.add_error(None, _("Questo evento è stato annullato: non ci si può più iscrivere."))
        elif RSVP_LIMIT.over(_client(request)) or (
            form.is_valid() and RSVP_ADDRESS_LIMIT.over(form.cleaned_data["email"].lower())
        ):
            form.add_error(None, THROTTLED)
            return render(request, "events/detail.html", _detail_context(event, form), status=429)
        elif form.is_valid():
            data = form.cleaned_data
            try:
                rsvp = actions.rsvp_to_event(
                    event=event,
                    first_name=data["first_name"],
                    last_name=data["last_name"],
                    email=data["email"],
                    phone=data["phone"],
                    comune=data["comune"],
                    postal_code=data["postal_code"],
                    political_consent=data["political_consent"],
                    notice_version=data.get("notice_version"),
                )
            except ValidationError as exc:
                _error_to_form(form, exc)
            else:
                # Same page whoever the address belongs to: details only in the email (convention 16).
                request.session[f"events:{event.pk}:waiting"] = rsvp.status == RsvpStatus.WAITING
                return redirect("events:thanks", key=event.public_key)
    return render(request, "events/detail.html", _detail_context(event, form), status=400 if form.errors else 200)


def _detail_context(event: Event, form: RsvpForm) -> dict[str, Any]:
    return {"event": event, "form": form, "seats_left": queries.seats_left(event), "notice": form.notice_shown}


def event_thanks(request: HttpRequest, key: str) -> HttpResponse:
    event = _public_event(key)
    waiting = request.session.get(f"events:{event.pk}:waiting", False)
    return render(request, "events/thanks.html", {"event": event, "waiting": waiting})


def event_ics(request: HttpRequest, key: str) -> HttpResponse:
    event = _public_event(key)
    response = HttpResponse(calendar(event), content_type="text/calendar; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="evento-{event.pk}.ics"'
    return response


def rsvp_manage(request: HttpRequest, token: str) -> HttpResponse:
    """Opened from the link in the person's own email: cancel, or confirm the consent they gave."""
    rsvp_id = read_manage_token(token)
    rsvp = Rsvp.objects.select_related("event", "event__comune").filter(pk=rsvp_id).first() if rsvp_id else None
    if rsvp is None:
        raise Http404
    if request.method == "POST":
        what = request.POST.get("action")
        if what == "cancel":
            actions.cancel_rsvp(rsvp=rsvp)
            messages.success(request, _("Iscrizione annullata: grazie di averci avvisato."))
        elif what == "consent":
            actions.confirm_rsvp_consent(rsvp=rsvp)
            messages.success(request, _("Fatto: riceverai le comunicazioni politiche del partito."))
        return redirect("events:manage", token=token)
    return render(request, "events/manage.html", {"rsvp": rsvp, "event": rsvp.event})


# --- Organisers ---------------------------------------------------------------------------------


def _event_for(request: HttpRequest, pk: int) -> Event:
    return get_object_or_404(Event.objects.visible_to(request.user, EVENT_ROLES).select_related("comune"), pk=pk)


@official_required(roles=EVENT_ROLES)
def manage_list(request: HttpRequest) -> HttpResponse:
    events = (
        Event.objects.visible_to(request.user, EVENT_ROLES)
        .select_related("territory", "comune")
        .order_by("-starts_at")[:200]
    )
    return render(request, "events/manage_list.html", {"events": events})


def _territories(user: Any) -> Any:
    paths = scope_paths(user, EVENT_ROLES)
    condition = Q(pk__in=[])
    for path in paths:
        condition |= Q(path__startswith=path)
    return Territory.objects.filter(condition, closed_at__isnull=True).order_by("path")


@official_required(roles=EVENT_ROLES)
def event_create(request: HttpRequest) -> HttpResponse:
    form = EventForm(request.POST or None, territories=_territories(request.user))
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            event = actions.create_event(
                actor=request.user,
                territory=data["territory"],
                cohosts=data["cohosts"],
                data=actions.EventData(
                    title=data["title"],
                    description=data["description"],
                    starts_at=data["starts_at"],
                    ends_at=data["ends_at"],
                    comune=data["comune"],
                    address=data["address"],
                    postal_code=data["postal_code"],
                    online_url=data["online_url"],
                    capacity=data["capacity"],
                    waiting_list=data["waiting_list"],
                    visibility=data["visibility"],
                ),
            )
        except ValidationError as exc:
            _error_to_form(form, exc)
        except PermissionDenied:
            form.add_error("territory", _("Non puoi creare eventi per questo territorio."))
        else:
            messages.success(request, _("Evento pubblicato."))
            return redirect("events:organiser", pk=event.pk)
    return render(request, "events/event_form.html", {"form": form}, status=400 if form.errors else 200)


@official_required(roles=EVENT_ROLES)
@shows_personal_data("events.view_attendees")
def organiser(request: HttpRequest, pk: int) -> HttpResponse:
    event = _event_for(request, pk)
    rsvps = event.rsvps.select_related("comune").exclude(status=RsvpStatus.CANCELLED)
    return render(
        request,
        "events/organiser.html",
        {
            "event": event,
            "rsvps": rsvps,
            "counts": queries.counts(event),
            "cancel_form": CancelEventForm(),
            "public_url": request.build_absolute_uri(reverse("events:detail", args=[event.public_key])),
        },
    )


@official_required(roles=EVENT_ROLES)
@require_POST
def event_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    event = _event_for(request, pk)
    form = CancelEventForm(request.POST)
    if form.is_valid():
        try:
            actions.cancel_event(actor=request.user, event=event, notice=form.cleaned_data["notice"])
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, _("Evento annullato: abbiamo scritto a tutti gli iscritti."))
    else:
        messages.error(request, _("Scrivi due righe per chi si era iscritto: perché l'evento è annullato."))
    return redirect("events:organiser", pk=event.pk)


def _checkin_context(event: Event, **extra: Any) -> dict[str, Any]:
    return {
        "event": event,
        "counts": queries.counts(event),
        "code_form": CodeForm(),
        "walk_in_form": WalkInForm(),
        **extra,
    }


@official_required(roles=EVENT_ROLES)
@shows_personal_data("events.view_checkin")
def checkin(request: HttpRequest, pk: int) -> HttpResponse:
    event = _event_for(request, pk)
    text = request.GET.get("q", "")[:100]
    rows = queries.search_attendees(event, text)[:50]
    context = _checkin_context(event, rows=rows, q=text)
    if request.headers.get("HX-Request"):
        return render(request, "events/_checkin_rows.html", context)
    return render(request, "events/checkin.html", context)


@official_required(roles=EVENT_ROLES)
@require_POST
def checkin_code(request: HttpRequest, pk: int) -> HttpResponse:
    event = _event_for(request, pk)
    form = CodeForm(request.POST)
    if form.is_valid():
        try:
            rsvp, fresh = actions.check_in_by_code(actor=request.user, event=event, code=form.cleaned_data["code"])
        except ValidationError as exc:
            _error_to_form(form, exc)
        else:
            _said_in(request, rsvp, fresh)
            return redirect("events:checkin", pk=event.pk)
    context = _checkin_context(event, rows=[], q="", list_hidden=True, code_form=form)
    return render(request, "events/checkin.html", context, status=400)


def _said_in(request: HttpRequest, rsvp: Rsvp, fresh: bool) -> None:
    if fresh:
        messages.success(request, _("%(name)s è entrato.") % {"name": rsvp.name})
    else:
        messages.info(request, _("%(name)s era già entrato.") % {"name": rsvp.name})


@official_required(roles=EVENT_ROLES)
@require_POST
def checkin_rsvp(request: HttpRequest, pk: int, rsvp_pk: int) -> HttpResponse:
    event = _event_for(request, pk)
    rsvp = get_object_or_404(event.rsvps, pk=rsvp_pk)
    try:
        rsvp, fresh = actions.check_in(actor=request.user, rsvp=rsvp)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        _said_in(request, rsvp, fresh)
    return redirect(f"{reverse('events:checkin', args=[event.pk])}?{urlencode({'q': request.POST.get('q', '')[:100]})}")


@official_required(roles=EVENT_ROLES)
@require_POST
def walk_in(request: HttpRequest, pk: int) -> HttpResponse:
    event = _event_for(request, pk)
    form = WalkInForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            rsvp = actions.register_walk_in(
                actor=request.user,
                event=event,
                first_name=data["first_name"],
                last_name=data["last_name"],
                email=data["email"],
                phone=data["phone"],
            )
        except ValidationError as exc:
            _error_to_form(form, exc)
        else:
            messages.success(request, _("%(name)s registrato ed entrato.") % {"name": rsvp.name})
            return redirect("events:checkin", pk=event.pk)
    context = _checkin_context(event, rows=[], q="", list_hidden=True, walk_in_form=form)
    return render(request, "events/checkin.html", context, status=400)


@official_required(roles=EVENT_ROLES)
@export_view("events.export_attendees")
def export(request: HttpRequest, pk: int) -> HttpResponse:
    event = _event_for(request, pk)
    return as_response(actions.export_attendees(actor=request.user, event=event))
