"""Retention (rule G5, issue 12): how long each kind of data is kept, applied by a periodic task.

The schedule is settings.PRIVACY_RETENTION (documented defaults in docs/dev/erasure.md):

- contacts who never joined, gave, paid or registered in the Albo, after
  `inactive_contacts_years` without any interaction (record changed, timeline, consent) → erased
  through `erase_person`, like a request;
- the rows of a people import (the file as read), `import_rows_days` after the upload → deleted
  (the batch keeps its counts);
- emailed access links, `expired_links_days` after they expired → address blanked.

`retention_report` is the dry run for the national privacy officer (`manage.py privacy_retention
--dry-run`); `apply_retention` does it, and the periodic task only applies when
settings.PRIVACY_RETENTION_APPLY is on (off by default: the officer reads the report first).

Each retention erasure is on the privacy officer's board like any other (rule G5): an open erasure
request of the person is answered by it; otherwise a `DataRequest(kind=erasure, channel=retention)`
is created and closed with the outcome. The report lists these requests first.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from piazza.core.audit import record
from piazza.funding.models import Donation
from piazza.membership.models import Membership, Supporter
from piazza.payments.models import MethodDevice, PayerAccessLink, Payment
from piazza.people.models import Consent, ImportRow, Person, TimelineEntry
from piazza.privacy.erasure import erase_person, open_erasure_request, person_ref
from piazza.privacy.models import DataRequest, RequestChannel, RequestKind


@dataclass
class RetentionErasure:
    """One erasure the schedule makes, as the board will show it: the request it answers (an open
    one of the person's) or creates."""

    person_id: int
    territory: str
    request_id: int | None  # an open erasure request the person made, answered by this erasure

    def as_dict(self) -> dict[str, Any]:
        return {"person": self.person_id, "territory": self.territory, "request": self.request_id}


@dataclass
class RetentionReport:
    at: dt.datetime
    erasures: list[RetentionErasure] = field(default_factory=list)
    contacts: list[int] = field(default_factory=list)
    import_rows: int = 0
    expired_links: int = 0
    applied: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "at": self.at.isoformat(),
            "erasures": [e.as_dict() for e in self.erasures[:500]],
            "contacts": len(self.contacts),
            "contact_ids": self.contacts[:500],
            "import_rows": self.import_rows,
            "expired_links": self.expired_links,
            "applied": self.applied,
        }


def _schedule() -> dict[str, int]:
    return {k: int(v) for k, v in settings.PRIVACY_RETENTION.items()}


def inactive_contacts(now: dt.datetime) -> Any:
    """People who never joined, gave, paid or registered, untouched for the schedule's years."""
    cutoff = now - dt.timedelta(days=365 * _schedule()["inactive_contacts_years"])
    return (
        Person.objects.active()
        .filter(updated_at__lt=cutoff)
        .exclude(Exists(Membership.objects.filter(person=OuterRef("pk"))))
        .exclude(Exists(Donation.objects.filter(person=OuterRef("pk"))))
        .exclude(Exists(Payment.objects.filter(payer=OuterRef("pk"))))
        .exclude(Exists(Supporter.objects.filter(person=OuterRef("pk"))))
        .exclude(Exists(TimelineEntry.objects.filter(person=OuterRef("pk"), at__gte=cutoff)))
        .exclude(Exists(Consent.objects.filter(person=OuterRef("pk"), at__gte=cutoff)))
        .order_by("pk")
    )


def _old_import_rows(now: dt.datetime) -> Any:
    return ImportRow.objects.filter(batch__created_at__lt=now - dt.timedelta(days=_schedule()["import_rows_days"]))


def _expired_links(now: dt.datetime) -> Any:
    return PayerAccessLink.objects.filter(
        expires_at__lt=now - dt.timedelta(days=_schedule()["expired_links_days"])
    ).exclude(email="")


def retention_report(now: dt.datetime | None = None) -> RetentionReport:
    """The dry run: what the schedule would erase today, by kind (ids of people, counts of rows)."""
    now = now or timezone.now()
    people = list(inactive_contacts(now).select_related("territory"))
    open_requests = dict(
        DataRequest.objects.filter(person__in=people, kind=RequestKind.ERASURE)
        .open()
        .order_by("-pk")
        .values_list("person_id", "pk")
    )
    return RetentionReport(
        at=now,
        erasures=[RetentionErasure(p.pk, str(p.territory), open_requests.get(p.pk)) for p in people],
        contacts=[p.pk for p in people],
        import_rows=_old_import_rows(now).count(),
        expired_links=_expired_links(now).count(),
    )


RETENTION_OUTCOME = (
    "Cancellata dal calendario di conservazione: nessuna iscrizione, donazione o interazione da {years} anni "
    "(riferimento {ref})."
)


def _retention_request(person: Person, now: dt.datetime) -> DataRequest:
    """The board's record of this erasure: the person's open erasure request, or a new one."""
    with transaction.atomic():
        existing = open_erasure_request(person)
        if existing is not None:
            return existing
        today = timezone.localdate(now)
        created = DataRequest.objects.create(
            kind=RequestKind.ERASURE,
            channel=RequestChannel.RETENTION,
            person=person,
            territory=person.territory,
            received_on=today,
            due_on=today,
        )
        record(
            "privacy.record_retention_request",
            actor=None,
            obj=created,
            territory=person.territory,
            data={"ref": person_ref(person.pk)},
        )
    return created


def erase_for_retention(*, actor: Any, person: Person, now: dt.datetime) -> DataRequest:
    """One retention erasure, on the board: the request is recorded (or the person's own taken up),
    the person erased for it (which answers it), and the outcome written on it."""
    data_request = _retention_request(person, now)
    erasure = erase_person(actor=actor, person=person, reason="retention", request=data_request)
    outcome = RETENTION_OUTCOME.format(years=_schedule()["inactive_contacts_years"], ref=erasure.ref)
    with transaction.atomic():
        DataRequest.objects.filter(pk=data_request.pk).update(notes=outcome)
        record(
            "privacy.retention_erasure",
            actor=actor,
            obj=data_request,
            territory=data_request.territory,
            data={"ref": erasure.ref, "already": erasure.already, "holds": len(erasure.holds)},
        )
    data_request.refresh_from_db()
    return data_request


def apply_retention(now: dt.datetime | None = None) -> RetentionReport:
    """Apply the schedule: each contact through the erasure action (its own transaction, so one
    failure leaves the others done), then the rows and links. Idempotent."""
    now = now or timezone.now()
    report = retention_report(now)
    for person in Person.objects.filter(pk__in=report.contacts).select_related("territory"):
        erase_for_retention(actor=None, person=person, now=now)
    with transaction.atomic():
        _old_import_rows(now).delete()
        links = _expired_links(now)
        MethodDevice.objects.filter(link__in=links).update(label="")
        links.update(email="")
        report.applied = True
        record("privacy.apply_retention", actor=None, data=report.as_dict() | {"contact_ids": []})
    return report
