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
from piazza.privacy.erasure import erase_person


@dataclass
class RetentionReport:
    at: dt.datetime
    contacts: list[int] = field(default_factory=list)
    import_rows: int = 0
    expired_links: int = 0
    applied: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "at": self.at.isoformat(),
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
    return RetentionReport(
        at=now,
        contacts=list(inactive_contacts(now).values_list("pk", flat=True)),
        import_rows=_old_import_rows(now).count(),
        expired_links=_expired_links(now).count(),
    )


def apply_retention(now: dt.datetime | None = None) -> RetentionReport:
    """Apply the schedule: each contact through the erasure action (its own transaction, so one
    failure leaves the others done), then the rows and links. Idempotent."""
    now = now or timezone.now()
    report = retention_report(now)
    for person in Person.objects.filter(pk__in=report.contacts).select_related("territory"):
        erase_person(actor=None, person=person, reason="retention")
    with transaction.atomic():
        _old_import_rows(now).delete()
        links = _expired_links(now)
        MethodDevice.objects.filter(link__in=links).update(label="")
        links.update(email="")
        report.applied = True
        record("privacy.apply_retention", actor=None, data=report.as_dict() | {"contact_ids": []})
    return report
