"""Anomaly signals and their review."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from piazza.core.audit import record
from piazza.core.errors import refuse
from piazza.core.i18n import stored_form
from piazza.membership import anomalies
from piazza.membership.models import (
    ANOMALY_SUMMARY_KEY,
    AnomalyFlag,
    FlagStatus,
)
from piazza.territory.models import Role, Territory
from piazza.territory.scoping import has_role_at

from ._guards import GUARANTEE_ROLES, MEMBERSHIP_ROLES

# --- Anomalies -----------------------------------------------------------------------


def store_signals(
    *, federation: Territory, year: int, signals: list[anomalies.Signal], actor: Any, kinds: list[str] | None
) -> list[AnomalyFlag]:
    """Upsert flags by (federation, year, kind, key). A reviewed flag whose evidence grew (more
    people) is opened again; one that no longer shows up stays as it was (history)."""
    now = timezone.now()
    stored = []
    for signal in signals:
        said = stored_form(signal.summary)  # read again in the reader's language (issue 11 item 18)
        evidence = {**signal.evidence, ANOMALY_SUMMARY_KEY: said} if said else signal.evidence
        flag, created = AnomalyFlag.objects.get_or_create(
            federation=federation,
            year=year,
            kind=signal.kind,
            key=signal.key,
            defaults={
                "summary": signal.summary[:300],
                "evidence": evidence,
                "circolo_id": signal.circolo_id,
                "detected_at": now,
                "last_seen_at": now,
            },
        )
        before = set(flag.people.values_list("pk", flat=True)) if not created else set()
        added = sorted(set(signal.person_ids) - before)  # only the new links written (ADR 0051)
        grew = bool(added)
        if not created:
            flag.summary = signal.summary[:300]
            flag.evidence = evidence
            flag.last_seen_at = now
            if grew and flag.status != FlagStatus.OPEN:
                flag.status = FlagStatus.OPEN
            flag.save(update_fields=["summary", "evidence", "last_seen_at", "status"])
        if grew:
            flag.people.add(*added)
        if created or grew:
            record(
                "membership.anomaly_flag",
                actor=actor,
                obj=flag,
                territory=federation,
                data={"kind": signal.kind, "created": created, "people": len(signal.person_ids)},
            )
        stored.append(flag)
    return stored


def detect_anomalies(*, actor: Any, federation: Territory, year: int) -> list[AnomalyFlag]:
    """Run every detector for a federation and year; idempotent (safe to run from a periodic task)."""
    action = "membership.detect_anomalies"
    if (
        actor is not None
        and getattr(actor, "is_authenticated", False)
        and not has_role_at(actor, federation, GUARANTEE_ROLES | MEMBERSHIP_ROLES)
    ):
        refuse(
            action,
            _("Non hai un ruolo di garanzia o tesseramento su %(t)s.") % {"t": federation},
            actor=actor,
            territory=federation,
            code="out_of_scope",
            permission=True,
        )
    signals = anomalies.detect(federation, year)
    with transaction.atomic():
        flags = store_signals(federation=federation, year=year, signals=signals, actor=actor, kinds=None)
        record(action, actor=actor, territory=federation, data={"year": year, "signals": len(signals)})
    return flags


def review_flag(*, actor: Any, flag: AnomalyFlag, status: str, note: str) -> AnomalyFlag:
    """A reviewer marks a flag resolved or confirmed, with a note; nothing happens automatically."""
    action = "membership.review_flag"
    if not has_role_at(actor, flag.federation, GUARANTEE_ROLES | {Role.MEMBERSHIP}):
        refuse(
            action,
            _("Esamina le segnalazioni la commissione di garanzia."),
            actor=actor,
            territory=flag.federation,
            code="out_of_scope",
            permission=True,
        )
    if status not in (FlagStatus.RESOLVED, FlagStatus.CONFIRMED):
        refuse(action, _("Scegli «risolta» o «confermata»."), actor=actor, code="bad_status", field="status")
    if not note.strip():
        refuse(
            action,
            _("Scrivi una nota che spieghi la decisione."),
            actor=actor,
            territory=flag.federation,
            code="note_required",
            field="note",
        )
    with transaction.atomic():
        flag.status = status
        flag.review_note = note.strip()
        flag.reviewed_at = timezone.now()
        flag.reviewed_by = actor
        flag.save(update_fields=["status", "review_note", "reviewed_at", "reviewed_by"])
        record(action, actor=actor, obj=flag, territory=flag.federation, data={"status": status})
    return flag
