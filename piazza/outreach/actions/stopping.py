"""People stopping the messages (rule G3: withdrawing as easy as giving), bounces and complaints."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from piazza.core.audit import record
from piazza.outreach.models import (
    Broadcast,
    Delivery,
    DeliveryStatus,
    MailEvent,
    Suppression,
    SuppressionReason,
    TerritoryPreference,
)
from piazza.people.actions.consent import record_consent
from piazza.people.actions.person import add_timeline_entry
from piazza.people.models import Channel, Person
from piazza.people.queries import current_consents
from piazza.people.validation import normalise_email

# --- People stopping the messages ----------------------------------------------------------------


def stop_address(*, email: str, detail: str = "", broadcast_id: int | None = None, actor: Any = None) -> bool:
    """A hard bounce: never send to this address again (whoever holds it)."""
    email = normalise_email(email)
    if not email:
        return False
    with transaction.atomic():
        if Suppression.objects.filter(reason=SuppressionReason.HARD_BOUNCE, email=email).exists():
            return False
        suppression = Suppression.objects.create(
            reason=SuppressionReason.HARD_BOUNCE, email=email, broadcast_id=broadcast_id, detail=detail[:300]
        )
        if broadcast_id is not None:
            Delivery.objects.filter(
                email=email, broadcast_id=broadcast_id, status__in=[DeliveryStatus.SENT, DeliveryStatus.DELIVERED]
            ).update(status=DeliveryStatus.BOUNCED)
        record("outreach.stop_address", actor=actor, obj=suppression, data={"broadcast": broadcast_id})
    return True


def unsubscribe(*, broadcast_id: int, person_id: int, via: str, reason: str = SuppressionReason.UNSUBSCRIBE) -> bool:
    """One click (RFC 8058) or a complaint: this person never gets another broadcast (rule G3)."""
    person = Person.objects.filter(pk=person_id).first()
    if person is None:
        return False
    with transaction.atomic():
        Delivery.objects.filter(broadcast_id=broadcast_id, person_id=person_id, unsubscribed_at__isnull=True).update(
            unsubscribed_at=timezone.now()
        )
        if Suppression.objects.filter(person_id=person_id, reason=reason).exists():
            return False
        suppression = Suppression.objects.create(
            reason=reason,
            person=person,
            broadcast_id=broadcast_id if Broadcast.objects.filter(pk=broadcast_id).exists() else None,
        )
        summary = (
            _("Ha segnalato una comunicazione email come indesiderata")
            if reason == SuppressionReason.COMPLAINT
            else _("Si è disiscritto dalle comunicazioni email")
        )
        add_timeline_entry(
            person,
            kind="outreach.unsubscribe",
            summary=summary,
            data={"broadcast": broadcast_id, "via": via},
            actor=None,
        )
        record(
            "outreach.unsubscribe",
            actor=None,
            obj=suppression,
            territory=person.territory,
            data={"via": via, "reason": reason},
        )
    return True


def record_objection(*, person: Person, actor: Any = None, detail: str = "") -> bool:
    """The person objected to the processing of their data (GDPR art. 21, recorded by the privacy
    board): no broadcast reaches them any more, without an official doing anything else. Called by
    the privacy app when it records the objection; idempotent."""
    with transaction.atomic():
        if Suppression.objects.filter(person=person, reason=SuppressionReason.OBJECTION).exists():
            return False
        suppression = Suppression.objects.create(reason=SuppressionReason.OBJECTION, person=person, detail=detail[:300])
        add_timeline_entry(
            person,
            kind="outreach.objection",
            summary=_("Opposizione al trattamento: non riceve più comunicazioni email"),
            actor=actor,
        )
        record("outreach.objection", actor=actor, obj=suppression, territory=person.territory)
    return True


def resubscribe(*, person: Person, broadcast_id: int) -> bool:
    """From the preference centre: the person takes their unsubscribe back (as easy as leaving)."""
    with transaction.atomic():
        removed, _n = Suppression.objects.filter(person=person, reason=SuppressionReason.UNSUBSCRIBE).delete()
        if removed:
            add_timeline_entry(
                person,
                kind="outreach.resubscribe",
                summary=_("Si è iscritto di nuovo alle comunicazioni email"),
                actor=None,
            )
            record(
                "outreach.resubscribe",
                actor=None,
                obj=person,
                territory=person.territory,
                data={"broadcast": broadcast_id},
            )
    return bool(removed)


def save_preferences(
    *,
    person: Person,
    broadcast_id: int,
    purposes: dict[str, bool],
    territories: dict[int, bool],
    emails: bool | None = None,
) -> list[str]:
    """The preference centre: topics become Consent rows (rule G3), territories their own rows."""
    changed: list[str] = []
    current = current_consents(person)
    with transaction.atomic():
        for purpose, wanted in purposes.items():
            consent = current.get(purpose)
            if consent is not None and consent.granted == wanted:
                continue
            if consent is None and not wanted:
                continue  # nothing given, nothing to withdraw
            record_consent(
                actor=None,
                person=person,
                purpose=purpose,
                channel=Channel.EMAIL,
                text_version=settings.OUTREACH_PREFERENCES_TEXT_VERSION,
                evidence=f"broadcast {broadcast_id}",
                given=wanted,
                source="preference_centre",
            )
            changed.append(purpose)
        for territory_id, wanted in territories.items():
            row = TerritoryPreference.objects.filter(person=person, territory_id=territory_id).first()
            if row is None and wanted:
                continue
            if row is not None and row.receive == wanted:
                continue
            TerritoryPreference.objects.update_or_create(
                person=person, territory_id=territory_id, defaults={"receive": wanted, "updated_at": timezone.now()}
            )
            changed.append(f"territory:{territory_id}")
        if changed:
            record(
                "outreach.save_preferences",
                actor=None,
                obj=person,
                territory=person.territory,
                data={"changed": changed},
            )
    if emails is True:
        resubscribe(person=person, broadcast_id=broadcast_id)
    elif emails is False:
        unsubscribe(broadcast_id=broadcast_id, person_id=person.pk, via="preferences")
    return changed


# --- Provider events and bounce messages ----------------------------------------------------------

HARD_BOUNCE = "bounced"
SOFT_BOUNCE = "deferred"
COMPLAINED = "complained"
DELIVERED = "delivered"
UNSUBSCRIBED = "unsubscribed"


def record_mail_event(
    *, source: str, event_id: str, kind: str, recipient: str = "", message_id: str = "", detail: str = ""
) -> MailEvent | None:
    """Apply one provider event or DSN once (unique per source and id): a hard bounce stops the
    address, a complaint unsubscribes the person, a delivery marks the message delivered."""
    recipient = normalise_email(recipient)
    with transaction.atomic():
        event, created = MailEvent.objects.get_or_create(
            source=source,
            event_id=event_id[:200],
            defaults={"kind": kind, "recipient": recipient, "message_id": message_id[:200], "detail": detail[:300]},
        )
        if not created:
            return None
        deliveries = Delivery.objects.all()
        if message_id:
            deliveries = deliveries.filter(message_id=message_id)
        elif recipient:
            deliveries = deliveries.filter(email=recipient)
        else:
            deliveries = deliveries.none()
        delivery = deliveries.order_by("-queued_at", "-id").first()
        event.delivery = delivery
        event.save(update_fields=["delivery"])
        record("outreach.mail_event", actor=None, obj=event, data={"kind": kind, "source": source})
        if kind == HARD_BOUNCE:
            address = recipient or (delivery.email if delivery else "")
            stop_address(email=address, detail=detail, broadcast_id=delivery.broadcast_id if delivery else None)
            if delivery is not None:
                Delivery.objects.filter(pk=delivery.pk).update(status=DeliveryStatus.BOUNCED, error=detail[:300])
        elif kind in (COMPLAINED, UNSUBSCRIBED) and delivery is not None:
            unsubscribe(
                broadcast_id=delivery.broadcast_id,
                person_id=delivery.person_id,
                via=source,
                reason=SuppressionReason.COMPLAINT if kind == COMPLAINED else SuppressionReason.UNSUBSCRIBE,
            )
        elif kind == DELIVERED and delivery is not None:
            Delivery.objects.filter(pk=delivery.pk, status=DeliveryStatus.SENT).update(status=DeliveryStatus.DELIVERED)
    return event
