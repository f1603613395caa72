"""Consents given and withdrawn."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from piazza.core.audit import record
from piazza.core.errors import refuse
from piazza.people.models import (
    Channel,
    Consent,
    Person,
    Purpose,
)

from ._records import _is_user, _require_scope
from .person import add_timeline_entry


def record_consent(
    *,
    actor: Any,
    person: Person,
    purpose: str,
    channel: str,
    text_version: str,
    evidence: str = "",
    at: dt.datetime | None = None,
    given: bool = True,
    source: str = "",
) -> Consent:
    """Rule G3: a consent for one purpose, with time, channel, text version and evidence.

    `given=False` is a withdrawal (same as `withdraw_consent`); `source` names the flow that
    collected it (e.g. "albo") and is kept with the evidence.
    """
    if source:
        evidence = f"[{source}] {evidence}".strip()
    return _consent(
        actor=actor,
        person=person,
        purpose=purpose,
        channel=channel,
        text_version=text_version,
        evidence=evidence,
        at=at,
        granted=given,
    )


def withdraw_consent(
    *,
    actor: Any,
    person: Person,
    purpose: str,
    channel: str,
    text_version: str = "",
    evidence: str = "",
    at: dt.datetime | None = None,
) -> Consent:
    """Rule G3: withdrawal as easy as giving; the earlier consent row stays as history."""
    return _consent(
        actor=actor,
        person=person,
        purpose=purpose,
        channel=channel,
        text_version=text_version or "revoca",
        evidence=evidence,
        at=at,
        granted=False,
    )


def _consent(
    *,
    actor: Any,
    person: Person,
    purpose: str,
    channel: str,
    text_version: str,
    evidence: str,
    at: dt.datetime | None,
    granted: bool,
) -> Consent:
    action = "people.record_consent" if granted else "people.withdraw_consent"
    if _is_user(actor) and actor.pk != getattr(person, "user_id", None):
        _require_scope(action, actor, person.territory)
    if purpose not in Purpose.values:
        refuse(
            action,
            _("Finalità «%(value)s» sconosciuta.") % {"value": purpose},
            actor=actor,
            territory=person.territory,
            field="purpose",
        )
    if channel not in Channel.values:
        refuse(
            action,
            _("Canale «%(value)s» sconosciuto.") % {"value": channel},
            actor=actor,
            territory=person.territory,
            field="channel",
        )
    if not text_version.strip():
        refuse(
            action,
            _("Indica la versione dell'informativa che la persona ha letto."),
            actor=actor,
            territory=person.territory,
            field="text_version",
        )
    with transaction.atomic():
        consent = Consent.objects.create(
            person=person,
            purpose=purpose,
            granted=granted,
            channel=channel,
            text_version=text_version.strip(),
            evidence=evidence,
            at=at or timezone.now(),
            recorded_by=actor if _is_user(actor) else None,
        )
        label = Purpose(purpose).label
        summary = (_("Consenso dato: %(purpose)s") if granted else _("Consenso revocato: %(purpose)s")) % {
            "purpose": label
        }
        add_timeline_entry(
            person,
            kind="consent",
            actor=actor,
            summary=summary,
            data={"purpose": purpose, "granted": granted, "channel": channel, "text_version": consent.text_version},
        )
        record(
            action,
            actor=actor,
            obj=person,
            territory=person.territory,
            data={"purpose": purpose, "channel": channel, "text_version": consent.text_version},
        )
    return consent
