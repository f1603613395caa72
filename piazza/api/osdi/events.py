"""OSDI events and attendances (issue 16): read through `Event.objects.visible_to` (an event is the
key's when its territory or a co-hosting one is), and the record attendance helper, which goes
through `events.actions.rsvp_to_event` exactly as the public RSVP form does (the form's validation,
the waiting list, the consent G3, the confirmation email).

`event_representation` and `attendance_representation` are also the webhooks' payloads.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils.translation import gettext as _
from ninja import Query, Router
from pydantic import Field

from piazza.api import schemas as s
from piazza.api.access import roles_for
from piazza.api.models import Permission
from piazza.api.osdi.common import RecordHelper, TypedPerson, form_refusal, person_fields, typed_person
from piazza.api.v1 import ERRORS, Paging, _actor, _collection, _link, _pk, _seen, _territory
from piazza.events.actions import rsvp_to_event
from piazza.events.forms import RsvpForm
from piazza.events.models import Event, EventStatus, Rsvp, RsvpStatus, Visibility
from piazza.events.queries import counts
from piazza.people.models import Purpose
from piazza.people.notices import FIELD, current_version

router: Router = Router(tags=["events"])

# OSDI attendance statuses; ours are kept too, as `piazza:status`.
OSDI_STATUS: dict[str, str] = {
    RsvpStatus.CONFIRMED: "accepted",
    RsvpStatus.WAITING: "tentative",
    RsvpStatus.CANCELLED: "declined",
}
EVENT_NOTICE = "event"  # the point of collection whose privacy notice the RSVP form shows


class Location(s.Model):
    address_lines: list[str]
    locality: str
    region: str
    postal_code: str
    country: str = "IT"


class EventOut(s.Model):
    identifiers: list[str]
    created_date: dt.datetime
    modified_date: dt.datetime
    name: str
    title: str
    description: str = Field(description="HTML rendered from the organisers' Markdown")
    browser_url: str
    type: str = "open"
    status: str = Field(description="confirmed or cancelled")
    visibility: str = Field(description="public, or private (unlisted: only who has the link)")
    start_date: dt.datetime
    end_date: dt.datetime
    capacity: int | None
    location: Location | None = Field(description="None for an online event")
    total_accepted: int
    piazza_total_waiting: int = Field(alias="piazza:total_waiting")
    piazza_waiting_list: bool = Field(alias="piazza:waiting_list")
    piazza_online_url: str = Field(alias="piazza:online_url")
    piazza_territory: s.Territory = Field(alias="piazza:territory")
    links: s.Links = Field(alias="_links")


class Attendance(s.Model):
    identifiers: list[str]
    created_date: dt.datetime
    modified_date: dt.datetime
    status: str = Field(description="OSDI: accepted, tentative (waiting list) or declined (cancelled)")
    attended: bool
    person: TypedPerson
    piazza_status: str = Field(alias="piazza:status", description="confirmed, waiting or cancelled")
    piazza_walk_in: bool = Field(alias="piazza:walk_in")
    links: s.Links = Field(alias="_links")


EventsPage = s.collection("EventsPage", "osdi:events", EventOut)
AttendancesPage = s.collection("AttendancesPage", "osdi:attendances", Attendance)


def event_representation(request: HttpRequest, event: Event) -> dict[str, Any]:
    """The OSDI event; `request` only makes the links absolute."""
    confirmed = getattr(event, "n_confirmed", None)
    waiting = getattr(event, "n_waiting", None)
    if confirmed is None or waiting is None:
        figures = counts(event)
        confirmed, waiting = figures["confirmed"], figures["waiting"]
    comune = event.comune
    location = None
    if comune is not None:
        location = {
            "address_lines": [event.address] if event.address else [],
            "locality": comune.name,
            "region": comune.province_sigla,
            "postal_code": event.postal_code,
            "country": "IT",
        }
    return {
        "identifiers": [f"piazza:event-{event.pk}"],
        "created_date": event.created_at,
        "modified_date": event.cancelled_at or event.created_at,
        "name": event.title,
        "title": event.title,
        "description": event.description_html,
        "browser_url": request.build_absolute_uri(reverse("events:detail", args=[event.public_key])),
        "type": "open",
        "status": "cancelled" if event.status == EventStatus.CANCELLED else "confirmed",
        "visibility": "public" if event.visibility == Visibility.PUBLIC else "private",
        "start_date": event.starts_at,
        "end_date": event.ends_at,
        "capacity": event.capacity,
        "location": location,
        "total_accepted": confirmed,
        "piazza:total_waiting": waiting,
        "piazza:waiting_list": event.waiting_list,
        "piazza:online_url": event.online_url,
        "piazza:territory": _territory(event.territory),
        "_links": {
            "self": _link(request, f"/events/{event.pk}"),
            "osdi:attendances": _link(request, f"/events/{event.pk}/attendances"),
            "osdi:record_attendance_helper": _link(request, f"/events/{event.pk}/attendances"),
        },
    }


def attendance_representation(request: HttpRequest, rsvp: Rsvp) -> dict[str, Any]:
    """The OSDI attendance: the attendee as they typed themselves, never a link to the person
    they were matched to (that would tell whether an address is known: convention 16)."""
    changed = [t for t in (rsvp.created_at, rsvp.cancelled_at, rsvp.promoted_at, rsvp.checked_in_at) if t]
    return {
        "identifiers": [f"piazza:attendance-{rsvp.pk}"],
        "created_date": rsvp.created_at,
        "modified_date": max(changed),
        "status": OSDI_STATUS.get(rsvp.status, "needs action"),
        "attended": rsvp.checked_in_at is not None,
        "person": typed_person(
            first_name=rsvp.first_name,
            last_name=rsvp.last_name,
            email=rsvp.email,
            phone=rsvp.phone,
            comune=rsvp.comune,
            postal_code=rsvp.postal_code,
        ),
        "piazza:status": rsvp.status,
        "piazza:walk_in": rsvp.walk_in,
        "_links": {
            "self": _link(request, f"/events/{rsvp.event_id}/attendances/{rsvp.pk}"),
            "osdi:event": _link(request, f"/events/{rsvp.event_id}"),
        },
    }


def _events(actor: Any, permission: str = Permission.READ_EVENTS) -> QuerySet[Event]:
    return (
        Event.objects.visible_to(actor, roles=roles_for(permission))
        .select_related("territory", "comune")
        .annotate(
            n_confirmed=Count("rsvps", filter=Q(rsvps__status=RsvpStatus.CONFIRMED)),
            n_waiting=Count("rsvps", filter=Q(rsvps__status=RsvpStatus.WAITING)),
        )
        .order_by("pk")
    )


def _attendances(actor: Any, event: Event) -> QuerySet[Rsvp]:
    # Rsvp.visible_to: the attendees of events the key's roles see (the organiser's page), the
    # roles of events:read being people-read roles too.
    return (
        Rsvp.objects.visible_to(actor, roles=roles_for(Permission.READ_EVENTS))
        .filter(event=event)
        .select_related("comune")
        .order_by("pk")
    )


@router.get("/events", response={200: EventsPage, **ERRORS}, by_alias=True)
def list_events(request: HttpRequest, paging: Query[Paging]) -> dict[str, Any]:
    actor = _actor(request, Permission.READ_EVENTS)
    return _collection(
        request,
        actor,
        _events(actor),
        "osdi:events",
        paging.page,
        paging.per_page,
        lambda e: event_representation(request, e),
    )


@router.get("/events/{event_id}", response={200: EventOut, **ERRORS}, by_alias=True)
def get_event(request: HttpRequest, event_id: str) -> dict[str, Any]:
    actor = _actor(request, Permission.READ_EVENTS)
    event = get_object_or_404(_events(actor), pk=_pk(event_id))
    _seen(request, actor, [f"piazza:event-{event.pk}"])
    return event_representation(request, event)


@router.get("/events/{event_id}/attendances", response={200: AttendancesPage, **ERRORS}, by_alias=True)
def list_attendances(request: HttpRequest, event_id: str, paging: Query[Paging]) -> dict[str, Any]:
    """Personal data: every attendee returned is named in the audit entry (rule G4)."""
    actor = _actor(request, Permission.READ_EVENTS)
    event = get_object_or_404(_events(actor), pk=_pk(event_id))
    return _collection(
        request,
        actor,
        _attendances(actor, event),
        "osdi:attendances",
        paging.page,
        paging.per_page,
        lambda r: attendance_representation(request, r),
    )


@router.get("/events/{event_id}/attendances/{attendance_id}", response={200: Attendance, **ERRORS}, by_alias=True)
def get_attendance(request: HttpRequest, event_id: str, attendance_id: str) -> dict[str, Any]:
    actor = _actor(request, Permission.READ_EVENTS)
    event = get_object_or_404(_events(actor), pk=_pk(event_id))
    rsvp = get_object_or_404(_attendances(actor, event), pk=_pk(attendance_id))
    _seen(request, actor, [f"piazza:attendance-{rsvp.pk}"])
    return attendance_representation(request, rsvp)


@router.post("/events/{event_id}/attendances", response={200: Attendance, **ERRORS}, by_alias=True)
def record_attendance(request: HttpRequest, event_id: str, body: RecordHelper) -> dict[str, Any]:
    """OSDI record attendance helper: the RSVP of the public page (`rsvp_to_event`), validated by
    the same form, with the privacy notice in force as the one shown. An address that already has
    a place gets that place back (no second RSVP), as on the page."""
    actor = _actor(request, Permission.WRITE_EVENTS)
    event = get_object_or_404(_events(actor, Permission.WRITE_EVENTS), pk=_pk(event_id))
    unknown = sorted(p for p in body.piazza_consents if p != Purpose.POLITICAL_COMMUNICATION)
    if unknown:
        raise ValidationError(
            _("Finalità di consenso che un evento non raccoglie: %(names)s. Usa: %(known)s.")
            % {"names": ", ".join(unknown), "known": Purpose.POLITICAL_COMMUNICATION.value}
        )
    data: dict[str, Any] = person_fields(body)
    data["political_consent"] = "on" if body.piazza_consents.get(Purpose.POLITICAL_COMMUNICATION) else ""
    notice = current_version(EVENT_NOTICE)
    if notice is not None:
        data[FIELD] = str(notice.pk)
    form = RsvpForm(data)
    if not form.is_valid():
        raise form_refusal(form)
    cleaned = form.cleaned_data
    rsvp = rsvp_to_event(
        event=event,
        first_name=cleaned["first_name"],
        last_name=cleaned["last_name"],
        email=cleaned["email"],
        phone=cleaned["phone"],
        comune=cleaned["comune"],
        postal_code=cleaned["postal_code"],
        political_consent=cleaned["political_consent"],
        notice_version=cleaned.get(FIELD),
    )
    _seen(request, actor, [f"piazza:attendance-{rsvp.pk}"])
    return attendance_representation(request, rsvp)
