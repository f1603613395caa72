"""What Il mio spazio reads: whose space an address opens, and everything shown on the page.

Everything is read from the records of the one Person the session points to (never a copy):
gifts (funding), recurring schedules and saved methods (payments), memberships and the Albo
(membership), consents and contacts (people).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db.models import Q

from piazza.community.models import Passkey
from piazza.funding.models import Donation
from piazza.membership.cards import card_token
from piazza.membership.models import PAID_STATUSES, Membership, Supporter
from piazza.payments.models import MethodDevice, Payment, RecurringSchedule, SavedMethod
from piazza.people.models import Consent, Email, Person, Purpose


def live_people() -> Any:
    return Person.objects.filter(erased_at__isnull=True, merged_into__isnull=True)


def owner_of_email(address: str) -> tuple[Person | None, int]:
    """Whose space a link sent to `address` opens, and how many live records share the address.

    Duplicates that were never merged may share an address (issue 12). The link goes to the
    person whose *verified* address it is; among several (or none verified), the one holding it
    as primary address, then the oldest record. The others are neither shown nor touched: the
    page says, gently, that the address is on more than one record.
    """
    emails = (
        Email.objects.filter(value__iexact=address.strip(), person__in=live_people())
        .select_related("person")
        .order_by("-verified", "-primary", "person_id")
    )
    people: list[Person] = []
    for email in emails:
        if email.person not in people:
            people.append(email.person)
    return (people[0] if people else None), len(people)


def person_schedules(person: Person) -> Any:
    """The person's recurring gifts and fees: paid by them, or the series of their gifts."""
    from_gifts = Payment.objects.filter(donation__person=person, schedule__isnull=False).values("schedule_id")
    return RecurringSchedule.objects.filter(Q(payer=person) | Q(pk__in=from_gifts)).distinct()


def person_methods(person: Person) -> Any:
    """The payment methods saved by the person (by a gift of theirs, or in their name)."""
    from_payments = Payment.objects.filter(
        Q(donation__person=person) | Q(payer=person), saved_method__isnull=False
    ).values("saved_method_id")
    return SavedMethod.objects.filter(Q(payer=person) | Q(pk__in=from_payments)).distinct()


@dataclass
class ConsentLine:
    purpose: str
    label: str
    granted: bool
    history: list[Consent] = field(default_factory=list)


@dataclass
class Space:
    person: Person
    shared_address: bool
    gifts: list[Donation]
    schedules: list[RecurringSchedule]
    memberships: list[dict[str, Any]]
    supporter: Supporter | None
    consents: list[ConsentLine]
    methods: list[dict[str, Any]]
    emails: list[Email]
    phone: str
    passkey_count: int = 0


def consent_lines(person: Person) -> list[ConsentLine]:
    """Rule G3: one line per purpose, its current state (the latest row) and its whole history."""
    rows = list(Consent.objects.filter(person=person).order_by("-at", "-id"))
    lines = []
    for purpose in Purpose:
        history = [c for c in rows if c.purpose == purpose.value]
        lines.append(
            ConsentLine(
                purpose=purpose.value,
                label=str(purpose.label),
                granted=bool(history and history[0].granted),
                history=history,
            )
        )
    return lines


def space_of(person: Person, *, shared_address: bool = False) -> Space:
    gifts = list(
        Donation.objects.filter(person=person, parent__isnull=True)
        .select_related("campaign", "payment")
        .order_by("-created_at")[:200]
    )
    schedules = list(person_schedules(person).order_by("-created_at"))
    memberships = [
        {"m": m, "card_token": card_token(m) if m.status in PAID_STATUSES else ""}
        for m in Membership.objects.filter(person=person).select_related("circolo").order_by("-year")
    ]
    supporter = Supporter.objects.filter(person=person).prefetch_related("elections__election").first()
    methods = []
    for method in person_methods(person).order_by("-created_at"):
        devices = list(MethodDevice.objects.filter(method=method, revoked_at__isnull=True).order_by("-created_at"))
        methods.append({"method": method, "devices": devices})
    phone = person.phones.filter(primary=True).values_list("value", flat=True).first() or ""
    return Space(
        person=person,
        shared_address=shared_address,
        gifts=gifts,
        schedules=schedules,
        memberships=memberships,
        supporter=supporter,
        consents=consent_lines(person),
        methods=methods,
        emails=list(person.emails.all()),
        phone=phone,
        passkey_count=person_passkeys(person).count(),
    )


def person_passkeys(person: Person) -> Any:
    return Passkey.objects.filter(person=person).order_by("created_at", "pk")
