"""Reads of the events app: events near a comune or a CAP, the attendee search at the door."""

from __future__ import annotations

from django.db.models import Case, IntegerField, Q, QuerySet, Value, When
from django.utils import timezone

from piazza.events.models import Event, Rsvp, RsvpStatus
from piazza.territory.models import Comune


def find_comune(name: str) -> Comune | None:
    name = name.strip()
    if not name:
        return None
    found = Comune.objects.filter(name__iexact=name, valid_to__isnull=True).first()
    return found or Comune.objects.filter(name__iexact=name).first()


def upcoming() -> QuerySet[Event]:
    return Event.objects.listed().filter(ends_at__gt=timezone.now()).select_related("comune")


def near(*, comune: Comune | None = None, postal_code: str = "") -> list[Event]:
    """Public, upcoming events nearest first: same comune, then province, then region (no
    geocoding); by CAP: same CAP, then the same first three, then first two digits. Online
    events come after. Within a rank, soonest first."""
    events = upcoming()
    if comune is not None:
        rank = Case(
            When(comune_id=comune.pk, then=Value(0)),
            When(comune__province_code=comune.province_code, then=Value(1)),
            When(comune__region_code=comune.region_code, then=Value(2)),
            When(comune__isnull=True, then=Value(3)),
            default=Value(9),
            output_field=IntegerField(),
        )
    elif postal_code:
        rank = Case(
            When(postal_code=postal_code, then=Value(0)),
            When(postal_code__startswith=postal_code[:3], then=Value(1)),
            When(postal_code__startswith=postal_code[:2], then=Value(2)),
            When(comune__isnull=True, then=Value(3)),
            default=Value(9),
            output_field=IntegerField(),
        )
    else:
        return list(events.order_by("starts_at", "id")[:50])
    return list(events.annotate(rank=rank).filter(rank__lt=9).order_by("rank", "starts_at", "id")[:50])


def counts(event: Event) -> dict[str, int]:
    rows = event.rsvps.exclude(status=RsvpStatus.CANCELLED)
    return {
        "confirmed": rows.filter(status=RsvpStatus.CONFIRMED).count(),
        "waiting": rows.filter(status=RsvpStatus.WAITING).count(),
        "present": rows.filter(checked_in_at__isnull=False).count(),
    }


def seats_left(event: Event) -> int | None:
    if event.capacity is None:
        return None
    return max(0, event.capacity - event.rsvps.filter(status=RsvpStatus.CONFIRMED).count())


def search_attendees(event: Event, text: str) -> QuerySet[Rsvp]:
    rows = event.rsvps.exclude(status=RsvpStatus.CANCELLED).order_by("last_name", "first_name", "id")
    for word in text.split()[:4]:
        rows = rows.filter(
            Q(first_name__icontains=word)
            | Q(last_name__icontains=word)
            | Q(email__icontains=word)
            | Q(code__iexact=word)
        )
    return rows
