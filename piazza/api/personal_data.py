"""What the API holds about a person, for the data-rights handlers (rule G5; shape in
`piazza.people.personal_data`): the webhook deliveries about them — the exact bodies sent, or still
to send, to other programs — and the outbox rows that announced them. Found by app name by
`privacy.registry` (the API sits above privacy)."""

from __future__ import annotations

from typing import Any

from django.db import models
from django.utils.translation import gettext_lazy as _

from piazza.api.webhooks.models import WebhookDelivery, WebhookEvent
from piazza.core.data_export import rows
from piazza.core.processing import Processing

SECTION = "api"

PERSONAL_FIELDS: dict[type[models.Model], list[str]] = {
    WebhookDelivery: ["person", "body"],
    WebhookEvent: ["person"],
}


def export(person: Any) -> dict[str, list[dict[str, Any]]]:
    return {
        "api.webhookdelivery": rows(
            WebhookDelivery.objects.filter(person=person).select_related("subscription").order_by("created_at", "id"),
            exclude=["source", "redelivery_of", "claimed_until"],
        ),
        "api.webhookevent": rows(WebhookEvent.objects.filter(person=person).order_by("created_at", "id")),
    }


PROCESSING = [
    Processing(
        name=_("Invio di eventi ad altri programmi (webhook)"),
        purpose=_(
            "Avvisare i programmi scelti dalle strutture (per esempio un CRM) quando una persona viene "
            "aggiunta o modificata, dona, si iscrive, firma o partecipa a un evento"
        ),
        legal_basis=_("Le stesse basi del dato inviato (art. 6.1.b, 6.1.c, 9.2.d GDPR)"),
        subjects=_("Persone, donatori, iscritti, firmatari e partecipanti della struttura"),
        recipients=(_("I programmi indicati dalle strutture del partito, nei limiti del loro ruolo"),),
    ),
]
