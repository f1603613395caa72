"""Every write of the events app (issue 15): events, RSVPs with their waiting list, check-in.

Capacity is decided under a lock on the event row (`select_for_update`): two RSVPs, or an RSVP
and a cancellation, never both read a free seat (no overbooking; test_capacity_concurrency).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from piazza.core.audit import record
from piazza.core.errors import Refused, refuse, refusing
from piazza.core.exports import ExportFile, write_export
from piazza.core.i18n import deferred
from piazza.core.markdown import render_markdown
from piazza.core.outbound import announce
from piazza.core.tasks import enqueue_on_commit
from piazza.events import emails
from piazza.events.models import EVENT_ROLES, Event, EventStatus, Rsvp, RsvpStatus, Visibility
from piazza.events.tokens import read_checkin_token
from piazza.people.actions.consent import record_consent
from piazza.people.actions.notices import note_notice_acceptance
from piazza.people.actions.person import add_timeline_entry, find_or_create_person
from piazza.people.models import Channel, NoticeVersion, Person, Purpose, Source
from piazza.territory.models import Comune, Territory
from piazza.territory.scoping import has_role_at

TITLE_MAX = 200


@dataclass
class EventData:
    title: str
    description: str
    starts_at: dt.datetime
    ends_at: dt.datetime
    comune: Comune | None = None
    address: str = ""
    postal_code: str = ""
    online_url: str = ""
    capacity: int | None = None
    waiting_list: bool = True
    visibility: str = Visibility.PUBLIC


def _check_event_data(action: str, data: EventData, *, actor: Any, territory: Territory) -> None:
    if not data.title.strip():
        refuse(action, _("Scrivi il titolo dell'evento."), actor=actor, territory=territory, field="title")
    if data.comune is None and not data.online_url:
        refuse(
            action,
            _("Indica dove si tiene l'evento: un comune (con l'indirizzo) oppure il link per partecipare online."),
            actor=actor,
            territory=territory,
            field="comune",
        )
    if data.ends_at <= data.starts_at:
        refuse(
            action,
            _("La fine dell'evento deve venire dopo l'inizio."),
            actor=actor,
            territory=territory,
            field="ends_at",
        )
    if data.starts_at <= timezone.now():
        refuse(
            action,
            _("L'inizio dell'evento è già passato: scegli una data futura."),
            actor=actor,
            territory=territory,
            field="starts_at",
        )
    if data.capacity is not None and data.capacity < 1:
        refuse(
            action,
            _("I posti devono essere almeno 1; lascia vuoto se non c'è un limite."),
            actor=actor,
            territory=territory,
            field="capacity",
        )


def create_event(*, actor: Any, territory: Territory, data: EventData, cohosts: Iterable[Territory] = ()) -> Event:
    """An official of `territory` (organisation or communication) publishes an event, optionally
    co-hosted by other territories, whose officials then see it and its attendees too."""
    action = "events.create_event"
    if not has_role_at(actor, territory, EVENT_ROLES):
        refuse(
            action,
            _("Non puoi creare eventi per questo territorio."),
            actor=actor,
            territory=territory,
            permission=True,
        )
    _check_event_data(action, data, actor=actor, territory=territory)
    with transaction.atomic():
        event = Event.objects.create(
            territory=territory,
            title=data.title.strip()[:TITLE_MAX],
            description=data.description.strip(),
            description_html=render_markdown(data.description.strip()),
            comune=data.comune,
            address=data.address.strip() if data.comune else "",
            postal_code=data.postal_code.strip() if data.comune else "",
            online_url=data.online_url,
            starts_at=data.starts_at,
            ends_at=data.ends_at,
            capacity=data.capacity,
            waiting_list=data.waiting_list,
            visibility=data.visibility,
            created_by=actor,
        )
        hosts = [t for t in cohosts if t.pk != territory.pk]
        event.cohosts.set(hosts)
        record(
            action,
            actor=actor,
            obj=event,
            territory=territory,
            data={"cohosts": [t.pk for t in hosts], "capacity": data.capacity, "visibility": data.visibility},
        )
    return event


def cancel_event(*, actor: Any, event: Event, notice: str) -> Event:
    """The event is off: every attendee and everyone waiting gets the notice by email."""
    action = "events.cancel_event"
    if event.is_cancelled:
        refuse(action, _("L'evento è già stato annullato."), actor=actor, territory=event.territory, code="cancelled")
    if not notice.strip():
        refuse(
            action,
            _(
                "Scrivi due righe per chi si era iscritto: perché l'evento è annullato "
                "(ed eventualmente quando si rifarà)."
            ),
            actor=actor,
            territory=event.territory,
            field="notice",
        )
    with refusing(action, actor, event.territory), transaction.atomic():
        locked = Event.objects.select_for_update().get(pk=event.pk)
        if locked.is_cancelled:
            raise Refused(_("L'evento è già stato annullato."), "cancelled")
        locked.status = EventStatus.CANCELLED
        locked.cancelled_at = timezone.now()
        locked.cancel_notice = notice.strip()
        locked.save(update_fields=["status", "cancelled_at", "cancel_notice"])
        told = list(
            locked.rsvps.filter(status__in=[RsvpStatus.CONFIRMED, RsvpStatus.WAITING])
            .exclude(email="")
            .values_list("pk", flat=True)
        )
        for rsvp_id in told:
            enqueue_on_commit(emails.send_cancellation_notice, rsvp_id)
        record(action, actor=actor, obj=locked, territory=locked.territory, data={"notified": len(told)})
    return locked


def _refuse_closed(action: str, event: Event) -> None:
    if event.is_cancelled:
        refuse(action, _("Questo evento è stato annullato: non ci si può più iscrivere."), actor=None, code="cancelled")
    if event.ends_at <= timezone.now():
        refuse(action, _("Questo evento è già finito: non ci si può più iscrivere."), actor=None, code="past")


FULL_MESSAGE = _("L'evento è al completo e non ha una lista d'attesa: guarda gli altri eventi vicino a te.")


def rsvp_to_event(
    *,
    event: Event,
    first_name: str,
    last_name: str,
    email: str,
    phone: str = "",
    comune: Comune | None = None,
    postal_code: str = "",
    political_consent: bool = False,
    notice_version: NoticeVersion | None = None,
) -> Rsvp:
    """A visitor of the public page says they will come (actor None: a typed email proves nothing).

    The person is found or created as the donation form does: a matched person is linked but not
    written to (convention 16); the political-communication consent (rule G3, unticked by default)
    goes on the record at once only for a new person, else when the link in the confirmation email
    is clicked. Full event: the waiting list, in order of arrival; full without one: refused."""
    action = "events.rsvp"
    _refuse_closed(action, event)
    email = email.strip().lower()
    existing = event.rsvps.filter(email=email).exclude(status=RsvpStatus.CANCELLED).first() if email else None
    if existing is not None:
        # Same answer as a first RSVP; the email goes to the address itself, so nothing leaks.
        enqueue_on_commit(emails.send_confirmation, existing.pk)
        return existing
    if event.capacity is not None and not event.waiting_list:
        taken = event.rsvps.filter(status=RsvpStatus.CONFIRMED).count()
        if taken >= event.capacity:
            refuse(action, FULL_MESSAGE, actor=None, territory=event.territory, code="full")
    person = find_or_create_person(
        actor=None,
        source=Source.EVENT,
        data={
            "first_name": first_name,
            "last_name": last_name,
            "emails": [email] if email else [],
            "phones": [phone] if phone else [],
            "residence_comune": comune,
            "residence_cap": postal_code,
        },
    )
    with refusing(action, None, event.territory), transaction.atomic():
        locked = Event.objects.select_for_update().get(pk=event.pk)
        if locked.is_cancelled:
            raise Refused(_("Questo evento è stato annullato: non ci si può più iscrivere."), "cancelled")
        again = locked.rsvps.filter(email=email).exclude(status=RsvpStatus.CANCELLED).first() if email else None
        if again is not None:
            return again
        status = RsvpStatus.CONFIRMED
        if locked.capacity is not None and locked.rsvps.filter(status=RsvpStatus.CONFIRMED).count() >= locked.capacity:
            if not locked.waiting_list:
                raise Refused(FULL_MESSAGE, "full")
            status = RsvpStatus.WAITING
        rsvp = Rsvp.objects.create(
            event=locked,
            person=person,
            first_name=first_name.strip(),
            last_name=last_name.strip(),
            email=email,
            phone=phone.strip(),
            comune=comune,
            postal_code=postal_code.strip(),
            status=status,
            notice_version=notice_version,
            political_consent=political_consent,
        )
        if notice_version is not None:
            note_notice_acceptance(version=notice_version, channel=Channel.WEB, person=person, source=rsvp)
        if political_consent and getattr(person, "was_created", False):
            _record_political_consent(rsvp, person)
        add_timeline_entry(
            person,
            kind="event_rsvp",
            actor=None,
            summary=deferred(
                gettext_noop("Iscrizione all'evento «%(event)s»")
                if status == RsvpStatus.CONFIRMED
                else gettext_noop("In lista d'attesa per l'evento «%(event)s»"),
                event=locked.title,
            ),
            data={"event": locked.pk, "rsvp": rsvp.pk, "status": status},
        )
        record(
            action,
            actor=None,
            obj=rsvp,
            territory=locked.territory,
            data={"event": locked.pk, "status": status, "new_person": bool(getattr(person, "was_created", False))},
        )
        announce("event.rsvp", object_id=rsvp.pk, territory_path=lambda: locked.territory.path, person_id=person.pk)
        enqueue_on_commit(emails.send_confirmation, rsvp.pk)
    return rsvp


def _record_political_consent(rsvp: Rsvp, person: Person) -> None:
    version = rsvp.notice_version.code if rsvp.notice_version else "evento"
    record_consent(
        actor=None,
        person=person,
        purpose=Purpose.POLITICAL_COMMUNICATION,
        channel=Channel.WEB,
        text_version=version,
        source="evento",
        evidence=f"rsvp {rsvp.pk}",
    )
    rsvp.consent_recorded_at = timezone.now()
    rsvp.save(update_fields=["consent_recorded_at"])


def confirm_rsvp_consent(*, rsvp: Rsvp) -> Rsvp:
    """The person clicked the link sent to their address (proof of control, convention 16): the
    consent they ticked on the RSVP form now goes on their record."""
    with transaction.atomic():
        locked = Rsvp.objects.select_for_update().get(pk=rsvp.pk)
        if locked.political_consent and locked.consent_recorded_at is None and locked.person is not None:
            _record_political_consent(locked, locked.person)
            record("events.confirm_consent", actor=None, obj=locked, territory=locked.event.territory)
    return locked


def _promote_next(event: Event) -> Rsvp | None:
    """Inside the caller's lock on `event`: the first on the waiting list takes a free seat."""
    if event.capacity is not None and event.rsvps.filter(status=RsvpStatus.CONFIRMED).count() >= event.capacity:
        return None
    first = event.rsvps.filter(status=RsvpStatus.WAITING).order_by("created_at", "id").first()
    if first is None:
        return None
    first.status = RsvpStatus.CONFIRMED
    first.promoted_at = timezone.now()
    first.save(update_fields=["status", "promoted_at"])
    if first.person is not None:
        add_timeline_entry(
            first.person,
            kind="event_rsvp",
            actor=None,
            summary=deferred(gettext_noop("Posto confermato all'evento «%(event)s»"), event=event.title),
            data={"event": event.pk, "rsvp": first.pk, "status": "promoted"},
        )
    record("events.promote", actor=None, obj=first, territory=event.territory, data={"event": event.pk})
    enqueue_on_commit(emails.send_promotion, first.pk)
    return first


def cancel_rsvp(*, rsvp: Rsvp, actor: Any = None) -> Rsvp:
    """The person (through their emailed link) gives back their seat: the first waiting takes it."""
    with transaction.atomic():
        event = Event.objects.select_for_update().get(pk=rsvp.event_id)
        locked = Rsvp.objects.select_for_update().get(pk=rsvp.pk)
        if locked.status == RsvpStatus.CANCELLED:
            return locked
        was = locked.status
        locked.status = RsvpStatus.CANCELLED
        locked.cancelled_at = timezone.now()
        locked.save(update_fields=["status", "cancelled_at"])
        if locked.person is not None:
            add_timeline_entry(
                locked.person,
                kind="event_rsvp_cancelled",
                actor=actor,
                summary=deferred(gettext_noop("Iscrizione annullata all'evento «%(event)s»"), event=event.title),
                data={"event": event.pk, "rsvp": locked.pk},
            )
        promoted = _promote_next(event) if was == RsvpStatus.CONFIRMED and not event.is_cancelled else None
        record(
            "events.cancel_rsvp",
            actor=actor,
            obj=locked,
            territory=event.territory,
            data={"event": event.pk, "was": was, "promoted": promoted.pk if promoted else None},
        )
    return locked


# --- At the door --------------------------------------------------------------------------------


def _require_door(action: str, actor: Any, event: Event) -> None:
    if not Event.objects.visible_to(actor, EVENT_ROLES).filter(pk=event.pk).exists():
        refuse(action, _("Non puoi gestire questo evento."), actor=actor, territory=event.territory, permission=True)


def _mark_attended(rsvp: Rsvp, *, actor: Any, event: Event) -> None:
    rsvp.checked_in_at = timezone.now()
    rsvp.checked_in_by = actor
    rsvp.status = RsvpStatus.CONFIRMED
    rsvp.save(update_fields=["checked_in_at", "checked_in_by", "status"])
    if rsvp.person is not None:
        add_timeline_entry(
            rsvp.person,
            kind="event_attended",
            actor=actor,
            summary=deferred(gettext_noop("Presente all'evento «%(event)s»"), event=event.title),
            data={"event": event.pk, "rsvp": rsvp.pk, "walk_in": rsvp.walk_in},
        )


def check_in(*, actor: Any, rsvp: Rsvp) -> tuple[Rsvp, bool]:
    """Marks the attendee present; (rsvp, False) when they already were (a second scan)."""
    action = "events.check_in"
    event = rsvp.event
    _require_door(action, actor, event)
    with refusing(action, actor, event.territory), transaction.atomic():
        locked = Rsvp.objects.select_for_update().get(pk=rsvp.pk)
        if locked.status == RsvpStatus.CANCELLED:
            raise Refused(
                _("%(name)s aveva annullato l'iscrizione: registralo come nuovo arrivo.") % {"name": locked.name},
                "cancelled",
            )
        if locked.checked_in_at is not None:
            return locked, False
        _mark_attended(locked, actor=actor, event=event)
        record(action, actor=actor, obj=locked, territory=event.territory, data={"event": event.pk})
    return locked, True


def check_in_by_code(*, actor: Any, event: Event, code: str) -> tuple[Rsvp, bool]:
    """The scanned QR code (a signed token) or the eight-letter code read out at the door."""
    action = "events.check_in"
    _require_door(action, actor, event)
    text = code.strip()
    rsvp: Rsvp | None = None
    signed = read_checkin_token(text) if ":" in text else None
    if signed is not None and signed[0] == event.pk:
        rsvp = event.rsvps.filter(pk=signed[1]).first()
    elif signed is None and text:
        rsvp = event.rsvps.filter(code=text.upper().replace(" ", "").replace("-", "")).first()
    if rsvp is None:
        refuse(
            action,
            _(
                "Questo codice non è di un iscritto a questo evento: cerca la persona per nome "
                "o registrala come nuovo arrivo."
            ),
            actor=actor,
            territory=event.territory,
            code="unknown_code",
            field="code",
        )
    assert rsvp is not None
    return check_in(actor=actor, rsvp=rsvp)


def register_walk_in(
    *, actor: Any, event: Event, first_name: str, last_name: str, email: str = "", phone: str = ""
) -> Rsvp:
    """Someone at the door who had not signed up: in the people database and present, in seconds."""
    action = "events.walk_in"
    _require_door(action, actor, event)
    if not first_name.strip() or not last_name.strip():
        refuse(action, _("Scrivi nome e cognome."), actor=actor, territory=event.territory, field="first_name")
    if not email.strip() and not phone.strip():
        refuse(
            action,
            _("Scrivi almeno l'email o il cellulare, per ritrovare la persona."),
            actor=actor,
            territory=event.territory,
            field="email",
        )
    email = email.strip().lower()
    if email:
        present = event.rsvps.filter(email=email).exclude(status=RsvpStatus.CANCELLED).first()
        if present is not None:
            return check_in(actor=actor, rsvp=present)[0]
    # The person gives their own data at the door, as on the public form: found or created for
    # them (actor None), a matched record is linked, never written to (convention 16); the
    # official at the door needs no right to edit the people database.
    person = find_or_create_person(
        actor=None,
        source=Source.EVENT,
        territory=event.territory,
        data={
            "first_name": first_name,
            "last_name": last_name,
            "emails": [email] if email else [],
            "phones": [phone] if phone.strip() else [],
        },
    )
    with transaction.atomic():
        rsvp = Rsvp.objects.create(
            event=event,
            person=person,
            first_name=first_name.strip(),
            last_name=last_name.strip(),
            email=email,
            phone=phone.strip(),
            walk_in=True,
            status=RsvpStatus.CONFIRMED,
        )
        _mark_attended(rsvp, actor=actor, event=event)
        record(action, actor=actor, obj=rsvp, territory=event.territory, data={"event": event.pk})
    return rsvp


# --- Reminders and exports ------------------------------------------------------------------------


def send_due_reminders() -> int:
    """The day before (Rome time): one reminder per confirmed attendee, claimed row by row so a
    second run, or two workers, send nothing twice. Returns how many were claimed."""
    tomorrow = timezone.localdate() + dt.timedelta(days=1)
    start = timezone.make_aware(dt.datetime.combine(tomorrow, dt.time.min))
    end = timezone.make_aware(dt.datetime.combine(tomorrow + dt.timedelta(days=1), dt.time.min))
    due = Rsvp.objects.filter(
        event__status=EventStatus.SCHEDULED,
        event__starts_at__gte=start,
        event__starts_at__lt=end,
        status=RsvpStatus.CONFIRMED,
        reminder_sent_at__isnull=True,
        checked_in_at__isnull=True,
    ).exclude(email="")
    claimed = 0
    for rsvp_id in list(due.values_list("pk", flat=True)):
        with transaction.atomic():
            won = Rsvp.objects.filter(pk=rsvp_id, reminder_sent_at__isnull=True).update(reminder_sent_at=timezone.now())
            if won:
                claimed += 1
                enqueue_on_commit(emails.send_reminder, rsvp_id)
    if claimed:
        with transaction.atomic():
            record("events.send_reminders", actor=None, data={"sent": claimed, "day": tomorrow.isoformat()})
    return claimed


def export_attendees(*, actor: Any, event: Event) -> ExportFile:
    """The organiser's list (rule G4: audited, formulas escaped by the one writer)."""
    _require_door("events.export_attendees", actor, event)
    rows = (
        [
            r.first_name,
            r.last_name,
            r.email,
            r.phone,
            str(r.comune) if r.comune_id else "",
            r.postal_code,
            r.get_status_display(),
            _("sì") if r.walk_in else _("no"),
            timezone.localtime(r.checked_in_at).strftime("%d/%m/%Y %H:%M") if r.checked_in_at else "",
        ]
        for r in event.rsvps.select_related("comune").filter(~Q(status=RsvpStatus.CANCELLED))
    )
    return write_export(
        "events.export_attendees",
        actor=actor,
        file_format="csv",
        filename=f"evento-{event.pk}-partecipanti",
        header=[
            _("Nome"),
            _("Cognome"),
            _("Email"),
            _("Cellulare"),
            _("Comune"),
            _("CAP"),
            _("Stato"),
            _("Nuovo arrivo"),
            _("Presente dalle"),
        ],
        rows=rows,
        obj=event,
        territory=event.territory,
        data={"event": event.pk},
    )
