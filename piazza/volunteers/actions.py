"""Every write of the volunteers app (convention 1): keyword-only `actor`, one transaction, an
audit entry, a timeline entry on the person, side effects after commit."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import OuterRef, Q, Subquery
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from piazza.core.audit import record
from piazza.core.errors import Refused, refuse, refusing
from piazza.core.i18n import deferred
from piazza.core.models import AuditKind
from piazza.core.tasks import enqueue_on_commit
from piazza.people.actions.consent import record_consent, withdraw_consent
from piazza.people.actions.notices import note_notice_acceptance
from piazza.people.actions.person import add_timeline_entry, find_or_create_person
from piazza.people.models import Channel, Consent, NoticeVersion, Person, Phone, Purpose, Segment, Source
from piazza.people.notices import version_code
from piazza.people.queries import RELATIONS, people_for
from piazza.people.validation import clean_person_data
from piazza.territory.models import Territory
from piazza.territory.scoping import has_role_at
from piazza.volunteers import emails
from piazza.volunteers.models import (
    ORGANISER_ROLES,
    Attendance,
    CallContact,
    CallList,
    Opportunity,
    OpportunityKind,
    Outcome,
    Shift,
    ShiftSignup,
)

# Timeline kinds written here; the ladder of engagement reads them (queries.ENGAGEMENT_KINDS).
SIGNUP_KIND = "volunteers.signup"
ATTENDED_KIND = "volunteers.attended"
NO_SHOW_KIND = "volunteers.no_show"
CALL_KIND = "volunteers.call"
# The notice shown on the public sign-up page (people.notices registry): volunteer shifts are
# gatherings, so the "Eventi" point of collection.
NOTICE_KEY = "event"


def _require_organiser(action: str, actor: Any, territory: Territory) -> None:
    if not has_role_at(actor, territory, ORGANISER_ROLES):
        refuse(
            action,
            _("Non puoi organizzare attività per questo territorio."),
            actor=actor,
            territory=territory,
            permission=True,
        )


# --- Opportunities and shifts --------------------------------------------------------------------


def create_opportunity(
    *, actor: Any, territory: Territory, kind: str, title: str, place: str, description: str = ""
) -> Opportunity:
    action = "volunteers.create_opportunity"
    _require_organiser(action, actor, territory)
    title, place = title.strip(), place.strip()
    if not title:
        refuse(action, _("Scrivi il titolo dell'attività."), actor=actor, territory=territory, field="title")
    if not place:
        refuse(
            action,
            _("Scrivi dove si svolge (indirizzo o punto d'incontro)."),
            actor=actor,
            territory=territory,
            field="place",
        )
    with transaction.atomic():
        opportunity = Opportunity.objects.create(
            territory=territory,
            kind=kind,
            title=title,
            place=place,
            description=description.strip(),
            created_by=actor,
        )
        record(action, actor=actor, obj=opportunity, territory=territory, data={"kind": kind})
    return opportunity


def add_shift(
    *, actor: Any, opportunity: Opportunity, starts_at: dt.datetime, ends_at: dt.datetime, capacity: int
) -> Shift:
    action = "volunteers.add_shift"
    territory = opportunity.territory
    _require_organiser(action, actor, territory)
    if ends_at <= starts_at:
        refuse(
            action,
            _("La fine del turno deve venire dopo l'inizio."),
            actor=actor,
            territory=territory,
            field="ends_at",
        )
    if starts_at <= timezone.now():
        refuse(
            action,
            _("Il turno deve cominciare nel futuro."),
            actor=actor,
            territory=territory,
            field="starts_at",
        )
    if capacity < 1:
        refuse(action, _("Indica almeno un posto."), actor=actor, territory=territory, field="capacity")
    with transaction.atomic():
        shift = Shift.objects.create(opportunity=opportunity, starts_at=starts_at, ends_at=ends_at, capacity=capacity)
        record(action, actor=actor, obj=shift, territory=territory, data={"capacity": capacity})
    return shift


# --- Public sign-up ------------------------------------------------------------------------------


@dataclass
class SignupData:
    first_name: str
    last_name: str
    email: str
    phone: str
    consents_to_contact: bool
    notice: NoticeVersion | None = None


FULL = gettext_noop("Questo turno è al completo: scegline un altro.")


def sign_up_for_shift(*, actor: Any, shift: Shift, data: SignupData) -> ShiftSignup:
    """A supporter signs up on the public page (actor None). The person is found or created like
    the donation and join forms do (people.find_or_create_person: a matched person is never
    written to from a public form, convention 16); the seat is taken under a lock on the shift row,
    so a full shift never gets one more. Signing up twice for the same shift returns the first."""
    action = "volunteers.sign_up"
    territory = shift.opportunity.territory
    if shift.starts_at <= timezone.now():
        refuse(
            action,
            _("Questo turno è già cominciato: scegline un altro."),
            actor=actor,
            territory=territory,
            field="shift",
        )
    cleaned = clean_person_data(
        {"first_name": data.first_name, "last_name": data.last_name, "emails": [data.email], "phones": [data.phone]}
    )
    if cleaned.errors:
        first = next(iter(cleaned.errors.values()))
        message = first[0] if isinstance(first, list) else first
        refuse(action, message, actor=actor, territory=territory, code="person")
    with refusing(action, actor, territory), transaction.atomic():
        locked = Shift.objects.select_for_update().get(pk=shift.pk)
        person = find_or_create_person(
            actor=actor,
            first_name=data.first_name,
            last_name=data.last_name,
            email=data.email,
            phone=data.phone,
            territory=territory,
            source=Source.EVENT,
        )
        existing = ShiftSignup.objects.filter(shift=locked, person=person).first()
        if existing is not None:
            return existing
        if ShiftSignup.objects.filter(shift=locked).count() >= locked.capacity:
            raise Refused(_(FULL), "full", field="shift")
        signup = ShiftSignup.objects.create(shift=locked, person=person)
        version = version_code(NOTICE_KEY, data.notice)
        if data.notice is not None:
            note_notice_acceptance(version=data.notice, channel=Channel.WEB, person=person, source=signup)
        # Convention 16: what a public form says is recorded for a new person (their own act);
        # an existing person's consents change only by their own proved act (Il mio spazio).
        if data.consents_to_contact and getattr(person, "was_created", False) and version:
            record_consent(
                actor=None,
                person=person,
                purpose=Purpose.POLITICAL_COMMUNICATION,
                channel=Channel.WEB,
                text_version=version,
                evidence=f"volunteers.signup:{signup.pk}",
            )
        add_timeline_entry(
            person,
            kind=SIGNUP_KIND,
            actor=None,
            summary=deferred(
                gettext_noop("Iscrizione al turno «%(title)s» del %(date)s"),
                title=locked.opportunity.title,
                date=timezone.localtime(locked.starts_at).strftime("%d/%m/%Y %H:%M"),
            ),
            data={"shift": locked.pk, "opportunity": locked.opportunity_id},
        )
        record(action, actor=actor, obj=signup, territory=territory, data={"shift": locked.pk, "notice": version})
        enqueue_on_commit(emails.send_signup_confirmation, signup.pk)
    return signup


def mark_attendance(*, actor: Any, signup: ShiftSignup, attended: bool) -> ShiftSignup:
    """The organiser marks who came (attended / no-show); the person's timeline records it."""
    action = "volunteers.mark_attendance"
    territory = signup.shift.opportunity.territory
    _require_organiser(action, actor, territory)
    if signup.shift.starts_at > timezone.now():
        refuse(
            action,
            _("Le presenze si segnano dall'inizio del turno in poi."),
            actor=actor,
            territory=territory,
            code="not_started",
        )
    value = Attendance.ATTENDED if attended else Attendance.NO_SHOW
    with transaction.atomic():
        locked = ShiftSignup.objects.select_for_update().select_related("shift__opportunity").get(pk=signup.pk)
        if locked.attendance == value:
            return locked
        locked.attendance = value
        locked.attendance_at = timezone.now()
        locked.save(update_fields=["attendance", "attendance_at"])
        add_timeline_entry(
            locked.person,
            kind=ATTENDED_KIND if attended else NO_SHOW_KIND,
            actor=actor,
            summary=deferred(
                gettext_noop("Presente al turno «%(title)s»")
                if attended
                else gettext_noop("Assente al turno «%(title)s»"),
                title=locked.shift.opportunity.title,
            ),
            data={"shift": locked.shift_id, "signup": locked.pk},
        )
        record(action, actor=actor, obj=locked, territory=territory, data={"attendance": value})
    return locked


# --- Call lists ----------------------------------------------------------------------------------

CLAIM_MINUTES = 15


def callable_people(actor: Any, definition: dict[str, Any]) -> Any:
    """The segment's people in the actor's scope who have a phone and may be called for political
    communication (rules G2, G3): a current consent, or a regular contact (a member) who never
    withdrew it. Set-based: one query however many people."""
    people = people_for(actor, definition).filter(phones__isnull=False).distinct()
    latest = Consent.objects.filter(person=OuterRef("pk"), purpose=Purpose.POLITICAL_COMMUNICATION).order_by(
        "-at", "-id"
    )
    people = people.alias(_pc=Subquery(latest.values("granted")[:1]))
    regular = Q(pk__in=[])
    for relation in RELATIONS.values():
        if relation.regular_contact:
            regular |= Q(pk__in=relation.filter_function(Person.objects.all()).values("pk"))
    return people.filter(Q(_pc=True) | (Q(_pc__isnull=True) & regular))


def create_call_list(
    *, actor: Any, territory: Territory, name: str, segment: Segment, script: str, shift: Shift | None = None
) -> CallList:
    """The segment's callable people, frozen into a list. With a phone-bank `shift`, the volunteers
    signed up for it call the list from Il mio spazio while the shift lasts."""
    action = "volunteers.create_call_list"
    _require_organiser(action, actor, territory)
    if not name.strip():
        refuse(action, _("Dai un nome alla lista."), actor=actor, territory=territory, field="name")
    if not script.strip():
        refuse(
            action,
            _("Scrivi il copione: cosa dire a chi risponde."),
            actor=actor,
            territory=territory,
            field="script",
        )
    if shift is not None and (
        shift.opportunity.kind != OpportunityKind.PHONE_BANK
        or not shift.opportunity.territory.path.startswith(territory.path)
    ):
        refuse(
            action,
            _("Scegli un turno di telefonate di questo territorio."),
            actor=actor,
            territory=territory,
            field="shift",
        )
    definition = {**(segment.definition or {}), "territory": territory.pk}
    with transaction.atomic():
        call_list = CallList.objects.create(
            territory=territory,
            name=name.strip(),
            segment=segment,
            script=script.strip(),
            shift=shift,
            created_by=actor,
        )
        ids = list(callable_people(actor, definition).values_list("pk", flat=True))
        CallContact.objects.bulk_create([CallContact(call_list=call_list, person_id=pk) for pk in ids])
        record(
            action, actor=actor, obj=call_list, territory=territory, data={"segment": segment.pk, "contacts": len(ids)}
        )
    return call_list


def take_next_contact(*, actor: Any, call_list: CallList) -> CallContact | None:
    """The caller's current contact, or the next free one, claimed for CLAIM_MINUTES. On
    PostgreSQL `SELECT … FOR UPDATE SKIP LOCKED`: two callers asking at once lock different rows,
    so one person is never called by two callers at a time."""
    action = "volunteers.take_contact"
    territory = call_list.territory
    _require_organiser(action, actor, territory)
    now = timezone.now()
    with transaction.atomic():
        mine = (
            CallContact.objects.select_for_update(skip_locked=True)
            .filter(call_list=call_list, done=False, claimed_by=actor, claim_expires_at__gt=now)
            .first()
        )
        contact = mine or (
            CallContact.objects.select_for_update(skip_locked=True)
            .filter(call_list=call_list, done=False)
            .filter(Q(claim_expires_at__isnull=True) | Q(claim_expires_at__lte=now))
            .order_by("attempts", "id")
            .first()
        )
        if contact is None:
            return None
        contact.claimed_by = actor
        contact.claimed_by_volunteer = None
        contact.claim_expires_at = now + dt.timedelta(minutes=CLAIM_MINUTES)
        contact.save(update_fields=["claimed_by", "claimed_by_volunteer", "claim_expires_at"])
        record(action, actor=actor, obj=contact, territory=territory, data={"call_list": call_list.pk})
    return contact


def record_outcome(*, actor: Any, contact: CallContact, outcome: str) -> CallContact:
    """The caller says how the call went. "Call back" puts the contact back in the queue; any other
    outcome closes it. "Do not call" withdraws the phone contact consent (rule G3)."""
    action = "volunteers.record_outcome"
    territory = contact.call_list.territory
    _require_organiser(action, actor, territory)
    if outcome not in Outcome.values:
        refuse(action, _("Scegli com'è andata la telefonata."), actor=actor, territory=territory, field="outcome")
    with refusing(action, actor, territory), transaction.atomic():
        locked = CallContact.objects.select_for_update().select_related("call_list").get(pk=contact.pk)
        if (
            locked.done
            or locked.claimed_by_id != actor.pk
            or not locked.claim_expires_at
            or locked.claim_expires_at <= timezone.now()
        ):
            raise Refused(_("Questo contatto non è più assegnato a te: prendi il prossimo dalla lista."), "not_claimed")
        _close_call(locked, outcome, actor=actor, caller=f"caller:{actor.pk}")
    return locked


def _close_call(locked: CallContact, outcome: str, *, actor: Any, caller: str, **audit: Any) -> None:
    """The outcome of a claimed call (inside the caller's transaction): the contact released,
    "do not call" as a withdrawal (G3), a timeline entry for the ladder, an audit entry."""
    action = "volunteers.record_outcome"
    now = timezone.now()
    locked.outcome = outcome
    locked.attempts += 1
    locked.last_called_at = now
    locked.claimed_by = None
    locked.claimed_by_volunteer = None
    locked.claim_expires_at = None
    locked.done = outcome != Outcome.CALL_BACK
    locked.save()
    person = Person.objects.get(pk=locked.person_id)
    if outcome == Outcome.DO_NOT_CALL:
        # The person's own request, said on the phone: recorded whatever the caller's role
        # (a communication officer may not edit records, but a withdrawal always wins, G3).
        withdraw_consent(
            actor=None,
            person=person,
            purpose=Purpose.POLITICAL_COMMUNICATION,
            channel=Channel.PHONE,
            evidence=f"volunteers.call_list:{locked.call_list_id} {caller}",
        )
    add_timeline_entry(
        person,
        kind=CALL_KIND,
        actor=actor,
        summary=deferred(
            gettext_noop("Telefonata «%(list)s»: %(outcome)s"),
            list=locked.call_list.name,
            outcome=str(Outcome(outcome).label),
        ),
        data={"call_list": locked.call_list_id, "outcome": outcome},
    )
    record(action, actor=actor, obj=locked, territory=locked.call_list.territory, data={"outcome": outcome, **audit})


# --- Volunteer callers (issue 15): from Il mio spazio, during their phone-bank shift -------------


def calling_signup(volunteer: Person, call_list: CallList, *, now: dt.datetime | None = None) -> ShiftSignup | None:
    """The volunteer's sign-up for the list's shift if they may call now: signed up, not marked
    absent, and the shift under way (from its start to its end). None otherwise."""
    now = now or timezone.now()
    if call_list.shift_id is None:
        return None
    return (
        ShiftSignup.objects.filter(
            person=volunteer,
            shift_id=call_list.shift_id,
            shift__starts_at__lte=now,
            shift__ends_at__gt=now,
        )
        .exclude(attendance=Attendance.NO_SHOW)
        .select_related("shift")
        .first()
    )


def _refuse_volunteer(action: str, call_list: CallList) -> None:
    refuse(
        action,
        _("Puoi telefonare solo durante il tuo turno di telefonate: controlla l'orario in Il mio spazio."),
        actor=None,
        territory=call_list.territory,
        code="not_on_shift",
        permission=True,
    )


def volunteer_take_next_contact(*, volunteer: Person, call_list: CallList) -> CallContact | None:
    """As `take_next_contact`, for a volunteer of the list's shift: their current contact or the
    next free one (SKIP LOCKED; one caller per contact at a time, whoever the caller), claimed for
    CLAIM_MINUTES but never beyond the end of the shift. A volunteer holds one contact at a time."""
    action = "volunteers.take_contact"
    signup = calling_signup(volunteer, call_list)
    if signup is None:
        _refuse_volunteer(action, call_list)
        return None  # pragma: no cover - refuse raised
    now = timezone.now()
    with transaction.atomic():
        mine = (
            CallContact.objects.select_for_update(skip_locked=True)
            .filter(done=False, claimed_by_volunteer=volunteer, claim_expires_at__gt=now)
            .first()
        )
        if mine is not None and mine.call_list_id != call_list.pk:
            mine.claimed_by_volunteer, mine.claim_expires_at = None, None  # one at a time: the other is let go
            mine.save(update_fields=["claimed_by_volunteer", "claim_expires_at"])
            mine = None
        contact = mine or (
            CallContact.objects.select_for_update(skip_locked=True)
            .filter(call_list=call_list, done=False)
            .filter(Q(claim_expires_at__isnull=True) | Q(claim_expires_at__lte=now))
            .order_by("attempts", "id")
            .first()
        )
        if contact is None:
            return None
        contact.claimed_by = None
        contact.claimed_by_volunteer = volunteer
        contact.claim_expires_at = min(now + dt.timedelta(minutes=CLAIM_MINUTES), signup.shift.ends_at)
        contact.save(update_fields=["claimed_by", "claimed_by_volunteer", "claim_expires_at"])
        record(
            action,
            actor=None,
            obj=contact,
            territory=call_list.territory,
            data={"call_list": call_list.pk, "volunteer": volunteer.pk},
        )
    return contact


def volunteer_contact(volunteer: Person, pk: int) -> CallContact | None:
    """The contact `pk` if it is this volunteer's claim, still open, within their shift; else None
    (the page answers 404: another caller's contact, or any contact once the shift ended)."""
    now = timezone.now()
    contact = (
        CallContact.objects.filter(
            pk=pk, claimed_by_volunteer=volunteer, done=False, claim_expires_at__gt=now, call_list__shift__isnull=False
        )
        .select_related("call_list__territory", "call_list__shift", "person")
        .first()
    )
    if contact is None or calling_signup(volunteer, contact.call_list, now=now) is None:
        return None
    return contact


def note_volunteer_view(*, volunteer: Person, contact: CallContact) -> None:
    """Rule G4: a volunteer saw a contact's name and phone number (who, whom, which list)."""
    with transaction.atomic():
        record(
            "volunteers.view_call",
            actor=None,
            obj=contact,
            territory=contact.call_list.territory,
            kind=AuditKind.VIEW,
            data={"volunteer": volunteer.pk, "ids": [contact.person_id], "call_list": contact.call_list_id},
        )


def volunteer_record_outcome(*, volunteer: Person, contact: CallContact, outcome: str) -> CallContact:
    """The volunteer says how the call went (as `record_outcome`); only on their own open claim."""
    action = "volunteers.record_outcome"
    territory = contact.call_list.territory
    if outcome not in Outcome.values:
        refuse(action, _("Scegli com'è andata la telefonata."), actor=None, territory=territory, field="outcome")
    with refusing(action, None, territory), transaction.atomic():
        locked = CallContact.objects.select_for_update().select_related("call_list").get(pk=contact.pk)
        if (
            locked.done
            or locked.claimed_by_volunteer_id != volunteer.pk
            or not locked.claim_expires_at
            or locked.claim_expires_at <= timezone.now()
            or calling_signup(volunteer, locked.call_list) is None
        ):
            raise Refused(_("Questo contatto non è più assegnato a te: prendi il prossimo dalla lista."), "not_claimed")
        _close_call(locked, outcome, actor=None, caller=f"volunteer:{volunteer.pk}", volunteer=volunteer.pk)
    return locked


def volunteer_call_lists(volunteer: Person, *, now: dt.datetime | None = None) -> list[tuple[CallList, Shift]]:
    """The call lists of the volunteer's phone-bank shifts that have not ended, soonest first."""
    now = now or timezone.now()
    lists = (
        CallList.objects.filter(
            shift__signups__person=volunteer,
            shift__ends_at__gt=now,
            shift__opportunity__kind=OpportunityKind.PHONE_BANK,
        )
        .exclude(shift__signups__person=volunteer, shift__signups__attendance=Attendance.NO_SHOW)
        .select_related("shift__opportunity", "territory")
        .order_by("shift__starts_at", "id")
        .distinct()
    )
    return [(call_list, call_list.shift) for call_list in lists if call_list.shift is not None]


def primary_phone(person: Person) -> str:
    phone = Phone.objects.filter(person=person).order_by("-primary", "id").first()
    return phone.value if phone else ""


def remind_due_signups(*, now: dt.datetime | None = None) -> int:
    """Mark (once) the sign-ups whose shift starts tomorrow (Rome's calendar) and email them.
    Idempotent: a sign-up already reminded is skipped, however often the task runs."""
    now = now or timezone.now()
    tomorrow = timezone.localdate(now) + dt.timedelta(days=1)
    due = ShiftSignup.objects.filter(
        reminded_at__isnull=True,
        shift__starts_at__date=tomorrow,
        attendance=Attendance.EXPECTED,
    ).values_list("pk", flat=True)
    sent = 0
    for pk in list(due):
        with transaction.atomic():
            if ShiftSignup.objects.filter(pk=pk, reminded_at__isnull=True).update(reminded_at=now) != 1:
                continue
            record("volunteers.remind_signup", actor=None, data={"signup": pk})
            enqueue_on_commit(emails.send_shift_reminder, pk)
            sent += 1
    return sent
