"""Actions of the data breach register (GDPR art. 33(5); issue 12). Every write audited.

A breach is recorded with what is known (art. 33(3): nature, categories and approximate numbers
of people and records, likely consequences, measures); each edit appends a new version, so the
register keeps what was known when. The board shows the 72-hour deadline from discovery
(art. 33(1), settings.PRIVACY_BREACH_NOTIFY_HOURS) and whether it was met.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext as _

from piazza.core.audit import Actor, record
from piazza.core.errors import refuse
from piazza.privacy.models import BreachVersion, DataBreach

ACTION_RECORD = "privacy.record_breach"
ACTION_UPDATE = "privacy.update_breach"


@dataclass(frozen=True)
class BreachFacts:
    discovered_at: dt.datetime
    nature: str
    data_categories: str
    people_count: int
    records_count: int
    consequences: str
    measures: str
    notification_required: bool = True
    no_notification_reason: str = ""
    notified_at: dt.datetime | None = None
    delay_reason: str = ""
    people_informed: bool = False
    people_informed_at: dt.datetime | None = None


def _check(action: str, actor: Actor, facts: BreachFacts) -> None:
    """Refuse what the register cannot hold, each with what to do (before any write)."""
    now = timezone.now()
    problems: list[tuple[str, str]] = []
    if facts.discovered_at > now:
        problems.append(("discovered_at", _("La data di scoperta non può essere nel futuro.")))
    if facts.notified_at is not None and facts.notified_at < facts.discovered_at:
        problems.append(("notified_at", _("La notifica al Garante non può precedere la scoperta: controlla le date.")))
    if facts.notified_at is not None and facts.notified_at > now:
        problems.append(("notified_at", _("La data di notifica non può essere nel futuro.")))
    if not facts.notification_required and not facts.no_notification_reason.strip():
        problems.append(
            (
                "no_notification_reason",
                _("Spiega perché la violazione non va notificata (è improbabile che presenti rischi per le persone?)."),
            )
        )
    late = facts.notified_at is not None and facts.notified_at > facts.discovered_at + _hours()
    if late and not facts.delay_reason.strip():
        problems.append(
            ("delay_reason", _("La notifica è oltre le 72 ore: scrivi i motivi del ritardo (art. 33.1 GDPR)."))
        )
    if facts.people_informed and facts.people_informed_at is None:
        problems.append(("people_informed_at", _("Indica quando sono state informate le persone.")))
    if facts.people_informed_at is not None and facts.people_informed_at < facts.discovered_at:
        problems.append(
            ("people_informed_at", _("Le persone non possono essere state informate prima della scoperta."))
        )
    if problems:
        field, message = problems[0]
        refuse(action, message, actor=actor, code=field, field=field)


def _user(actor: Actor) -> Any:
    """The official's account (never an anonymous visitor or a system flow)."""
    return actor if getattr(actor, "is_authenticated", False) else None


def _hours() -> dt.timedelta:
    return dt.timedelta(hours=settings.PRIVACY_BREACH_NOTIFY_HOURS)


def _write(breach: DataBreach, number: int, facts: BreachFacts, actor: Actor) -> BreachVersion:
    return BreachVersion.objects.create(
        breach=breach,
        number=number,
        discovered_at=facts.discovered_at,
        nature=facts.nature.strip(),
        data_categories=facts.data_categories.strip(),
        people_count=facts.people_count,
        records_count=facts.records_count,
        consequences=facts.consequences.strip(),
        measures=facts.measures.strip(),
        notification_required=facts.notification_required,
        no_notification_reason=facts.no_notification_reason.strip(),
        notified_at=facts.notified_at,
        delay_reason=facts.delay_reason.strip(),
        people_informed=facts.people_informed,
        people_informed_at=facts.people_informed_at if facts.people_informed else None,
        recorded_by=_user(actor),
    )


def _summary(version: BreachVersion) -> dict[str, object]:
    return {
        "version": version.number,
        "discovered_at": version.discovered_at.isoformat(),
        "people_count": version.people_count,
        "records_count": version.records_count,
        "notified_at": version.notified_at.isoformat() if version.notified_at else None,
        "deadline_state": version.deadline_state,
        "people_informed": version.people_informed,
    }


def record_breach(*, actor: Actor, facts: BreachFacts) -> BreachVersion:
    """A new breach in the register, version 1, with its reference V-<year>-<n>."""
    _check(ACTION_RECORD, actor, facts)
    with transaction.atomic():
        year = timezone.localdate().year
        count = DataBreach.objects.select_for_update().filter(reference__startswith=f"V-{year}-").count()
        breach = DataBreach.objects.create(
            reference=f"V-{year}-{count + 1:03d}",
            created_by=_user(actor),
        )
        version = _write(breach, 1, facts, actor)
        record(ACTION_RECORD, actor=actor, obj=breach, data=_summary(version))
    return version


def update_breach(*, actor: Actor, breach: DataBreach, facts: BreachFacts) -> BreachVersion:
    """What is now known about `breach`, as its next version (the earlier ones stay)."""
    _check(ACTION_UPDATE, actor, facts)
    with transaction.atomic():
        locked = DataBreach.objects.select_for_update().get(pk=breach.pk)
        number = (locked.versions.aggregate(n=Max("number"))["n"] or 0) + 1
        version = _write(locked, number, facts, actor)
        record(ACTION_UPDATE, actor=actor, obj=locked, data=_summary(version))
    return version


def latest(breach: DataBreach) -> BreachVersion:
    return breach.versions.order_by("-number").first()  # type: ignore[return-value]
