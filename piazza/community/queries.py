"""What Il mio spazio reads: whose space an address opens, and everything shown on the page.

Everything is read from the records of the one Person the session points to (never a copy):
gifts (funding), recurring schedules and saved methods (payments), memberships and the Albo
(membership), consents and contacts (people).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Q
from django.utils import timezone

from piazza.community.models import DigestStop, Follow, Passkey
from piazza.funding.models import Donation
from piazza.funding.recognition import OwnRecognition, recognition_of
from piazza.membership.actions.renewal import renewal_token
from piazza.membership.cards import card_token
from piazza.membership.models import LIVE_STATUSES, PAID_STATUSES, FeeSchedule, Membership, Supporter
from piazza.membership.payments import active_yearly_schedule, sepa_available
from piazza.payments.actions.method_change import can_change_method
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
    card_changeable: set[int]  # schedules whose card can be changed here (provider's CHANGE_METHOD)
    memberships: list[dict[str, Any]]
    renewals: list[dict[str, Any]]
    sepa_renewal: bool  # the yearly SEPA mandate is offered on the renewal page
    supporter: Supporter | None
    consents: list[ConsentLine]
    methods: list[dict[str, Any]]
    emails: list[Email]
    phone: str
    passkey_count: int = 0
    follows: list[Follow] = field(default_factory=list)
    digest_stopped: bool = False
    recognition: list[OwnRecognition] = field(default_factory=list)


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


def renewals(person: Person) -> list[dict[str, Any]]:
    """The years the person can renew now (issue 12): the year's membership is open (its fee
    schedule's window), they were a paid member the year before and have no membership for it
    yet, and no yearly SEPA debit renews them by itself. Each leads to the renewal page of the
    reminder email (`membership:renew`, a signed token for that membership and year)."""
    if active_yearly_schedule(person) is not None:
        return []
    now = timezone.now()
    found = []
    for year in (timezone.localdate().year, timezone.localdate().year + 1):
        fees = FeeSchedule.objects.filter(year=year).first()
        if fees is None or not fees.is_open_at(now):
            continue
        if Membership.objects.filter(person=person, year=year, status__in=LIVE_STATUSES).exists():
            continue
        previous = (
            Membership.objects.filter(person=person, year=year - 1, status__in=PAID_STATUSES)
            .select_related("circolo")
            .first()
        )
        if previous is not None:
            found.append({"year": year, "previous": previous, "token": renewal_token(previous, year)})
    return found


def space_of(person: Person, *, shared_address: bool = False) -> Space:
    gifts = list(
        Donation.objects.filter(person=person, parent__isnull=True)
        .select_related("campaign", "payment")
        .order_by("-created_at")[:200]
    )
    schedules = list(person_schedules(person).select_related("saved_method").order_by("-created_at"))
    memberships = [
        {"m": m, "card_token": card_token(m) if m.status in PAID_STATUSES else ""}
        for m in Membership.objects.filter(person=person).select_related("circolo").order_by("-year")
    ]
    supporter = Supporter.objects.filter(person=person).prefetch_related("elections__election").first()
    methods = []
    for method in person_methods(person).filter(forgotten_at__isnull=True).order_by("-created_at"):
        devices = list(MethodDevice.objects.filter(method=method, revoked_at__isnull=True).order_by("-created_at"))
        methods.append({"method": method, "devices": devices})
    phone = person.phones.filter(primary=True).values_list("value", flat=True).first() or ""
    return Space(
        person=person,
        shared_address=shared_address,
        gifts=gifts,
        schedules=schedules,
        card_changeable={s.pk for s in schedules if can_change_method(s)},
        memberships=memberships,
        renewals=renewals(person),
        sepa_renewal=sepa_available(),
        supporter=supporter,
        consents=consent_lines(person),
        methods=methods,
        emails=list(person.emails.all()),
        phone=phone,
        passkey_count=person_passkeys(person).count(),
        follows=_one_per_target(
            Follow.objects.filter(person=person)
            .select_related("campaign__territory", "territory", "candidacy__territory")
            .order_by("-created_at", "-id")
        ),
        digest_stopped=DigestStop.objects.filter(person=person).exists(),
        recognition=recognition_of(person.pk),
    )


def person_passkeys(person: Person) -> Any:
    return Passkey.objects.filter(person=person).order_by("created_at", "pk")


def _one_per_target(follows: Iterable[Follow]) -> list[Follow]:
    """A merged record may bring a second row for the same campaign or territory: show it once."""
    seen: set[tuple[int | None, int | None, int | None]] = set()
    kept = []
    for follow in follows:
        key = (follow.campaign_id, follow.territory_id, follow.candidacy_id)
        if key not in seen:
            seen.add(key)
            kept.append(follow)
    return kept
