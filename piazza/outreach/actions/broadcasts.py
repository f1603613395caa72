"""What communication officers do with broadcasts (ARCHITECTURE convention 1): keyword-only `actor`, one
transaction, an audit entry, side effects (tasks) after the commit.

Rules cited: G2 and G3 (who may receive: `queries.classified`), G4 (audit), G5 (timeline).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from piazza.core.audit import record
from piazza.core.errors import refuse
from piazza.core.tasks import enqueue_on_commit
from piazza.outreach import tasks
from piazza.outreach.models import (
    Broadcast,
    BroadcastStatus,
    Delivery,
    Variant,
)
from piazza.outreach.queries import SEND_ROLES, audience_count
from piazza.outreach.render import MERGE_FIELDS, build_message, merge_values, prepare, unknown_fields
from piazza.people.models import Person, Segment
from piazza.people.validation import normalise_email
from piazza.territory.models import Territory
from piazza.territory.scoping import has_role_at, path_in_scope, scope_paths

AB_MAX_PERCENT = 25


def _check_author(action: str, actor: Any, territory: Territory, segment: Segment) -> None:
    if not has_role_at(actor, territory, SEND_ROLES):
        refuse(
            action,
            _("Non hai il ruolo di comunicazione per %(territory)s.") % {"territory": territory.name},
            actor=actor,
            territory=territory,
            permission=True,
        )
    # A segment of another territory (another federation's) is never a target, even by id.
    if not path_in_scope(segment.territory.path, scope_paths(actor, SEND_ROLES)):
        refuse(
            action,
            _("Il segmento scelto non appartiene al tuo territorio."),
            actor=actor,
            territory=territory,
            field="segment",
            permission=True,
        )


def save_broadcast(
    *,
    actor: Any,
    territory: Territory,
    segment: Segment,
    subject: str,
    body: str,
    preheader: str = "",
    subject_b: str = "",
    ab_sample_percent: int = 0,
    ab_wait_hours: int = 4,
    broadcast: Broadcast | None = None,
) -> Broadcast:
    """Write (or edit, while it is a draft) a broadcast for a segment within the officer's scope."""
    action = "outreach.save_broadcast"
    _check_author(action, actor, territory, segment)
    if broadcast is not None and broadcast.status != BroadcastStatus.DRAFT:
        refuse(action, _("Si può modificare solo una bozza."), actor=actor, territory=territory)
    if not subject.strip():
        refuse(action, _("Scrivi l'oggetto."), actor=actor, territory=territory, field="subject")
    if not body.strip():
        refuse(action, _("Scrivi il testo del messaggio."), actor=actor, territory=territory, field="body")
    unknown = unknown_fields(subject, subject_b, preheader, body)
    if unknown:
        refuse(
            action,
            _("Campi non previsti: %(unknown)s. Puoi usare solo %(allowed)s.")
            % {
                "unknown": ", ".join(unknown),
                "allowed": ", ".join("{{ " + name + " }}" for name in MERGE_FIELDS),
            },
            actor=actor,
            territory=territory,
            field="body",
        )
    if subject_b.strip() and not 1 <= ab_sample_percent <= AB_MAX_PERCENT:
        refuse(
            action,
            _("Per il test A/B scegli un campione tra 1 e %(max)s per cento per ciascun oggetto.")
            % {"max": AB_MAX_PERCENT},
            actor=actor,
            territory=territory,
            field="ab_sample_percent",
        )
    with transaction.atomic():
        broadcast = broadcast or Broadcast(created_by=actor)
        broadcast.territory, broadcast.segment = territory, segment
        broadcast.subject, broadcast.subject_b = subject.strip(), subject_b.strip()
        broadcast.preheader, broadcast.body = preheader.strip(), body
        broadcast.ab_sample_percent = ab_sample_percent if broadcast.subject_b else 0
        broadcast.ab_wait_hours = ab_wait_hours
        broadcast.save()
        record(action, actor=actor, obj=broadcast, territory=territory, data={"segment": segment.pk})
    return broadcast


def send_test(*, actor: Any, broadcast: Broadcast, person: Person) -> str:
    """Send the message as `person` would get it to the officer's own address (nobody else)."""
    action = "outreach.send_test"
    if not has_role_at(actor, broadcast.territory, SEND_ROLES):
        refuse(action, _("Non hai il ruolo di comunicazione per questo territorio."), actor=actor, permission=True)
    address = normalise_email(getattr(actor, "email", "") or "")
    if not address:
        refuse(
            action,
            _("Il tuo profilo non ha un indirizzo email: chiedi a chi amministra il territorio di aggiungerlo."),
            actor=actor,
            territory=broadcast.territory,
        )
    with transaction.atomic():
        record(action, actor=actor, obj=broadcast, territory=broadcast.territory, data={"as_person": person.pk})
        delivery = Delivery(broadcast=broadcast, person=person, email=address)
        message = build_message(delivery, prepare(broadcast), merge_values([person.pk]).get(person.pk, {}), to=address)
        message.subject = _("[PROVA] %(subject)s") % {"subject": message.subject}
        transaction.on_commit(message.send)
    return address


def schedule_broadcast(*, actor: Any, broadcast: Broadcast, send_at: dt.datetime | None = None) -> Broadcast:
    """Send now (send_at None) or at a time; the audience is counted again when sending starts."""
    action = "outreach.schedule_broadcast"
    if not has_role_at(actor, broadcast.territory, SEND_ROLES):
        refuse(action, _("Non hai il ruolo di comunicazione per questo territorio."), actor=actor, permission=True)
    if broadcast.status != BroadcastStatus.DRAFT:
        refuse(
            action,
            _("Questa comunicazione è già stata programmata o inviata."),
            actor=actor,
            territory=broadcast.territory,
        )
    now = timezone.now()
    if send_at is not None and send_at < now:
        refuse(
            action,
            _("L'orario di invio è già passato: scegline uno futuro."),
            actor=actor,
            territory=broadcast.territory,
            field="send_at",
        )
    with transaction.atomic():
        broadcast.status, broadcast.send_at = BroadcastStatus.SCHEDULED, send_at or now
        broadcast.save(update_fields=["status", "send_at"])
        record(
            action,
            actor=actor,
            obj=broadcast,
            territory=broadcast.territory,
            data={"send_at": broadcast.send_at.isoformat(), "audience": audience_count(broadcast).eligible},
        )
        if send_at is None:
            enqueue_on_commit(tasks.start_broadcast, broadcast.pk)
    return broadcast


def cancel_broadcast(*, actor: Any, broadcast: Broadcast) -> Broadcast:
    action = "outreach.cancel_broadcast"
    if not has_role_at(actor, broadcast.territory, SEND_ROLES):
        refuse(action, _("Non hai il ruolo di comunicazione per questo territorio."), actor=actor, permission=True)
    if broadcast.status not in (BroadcastStatus.DRAFT, BroadcastStatus.SCHEDULED):
        refuse(
            action, _("L'invio è già cominciato: non si può più annullare."), actor=actor, territory=broadcast.territory
        )
    with transaction.atomic():
        broadcast.status = BroadcastStatus.CANCELLED
        broadcast.save(update_fields=["status"])
        record(action, actor=actor, obj=broadcast, territory=broadcast.territory)
    return broadcast


def choose_winner(*, actor: Any, broadcast: Broadcast, variant: str) -> Broadcast:
    """End the A/B test: the rest of the audience gets `variant`'s subject."""
    action = "outreach.choose_winner"
    if actor is not None and not has_role_at(actor, broadcast.territory, SEND_ROLES):
        refuse(action, _("Non hai il ruolo di comunicazione per questo territorio."), actor=actor, permission=True)
    if variant not in Variant.values:
        refuse(
            action, _("Scegli l'oggetto A o l'oggetto B."), actor=actor, territory=broadcast.territory, field="variant"
        )
    if broadcast.status != BroadcastStatus.TESTING:
        refuse(
            action, _("Il test A/B di questa comunicazione è già concluso."), actor=actor, territory=broadcast.territory
        )
    with transaction.atomic():
        broadcast.winner, broadcast.status = variant, BroadcastStatus.SENDING
        broadcast.save(update_fields=["winner", "status"])
        record(action, actor=actor, obj=broadcast, territory=broadcast.territory, data={"winner": variant})
        enqueue_on_commit(tasks.queue_rest, broadcast.pk)
    return broadcast
