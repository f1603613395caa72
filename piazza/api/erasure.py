"""Rule G5 declarations for the API (piazza.core.erasure).

The API sits above privacy: it declares what is not personal, and rows that go whole when a person
is erased (privacy.erasure reads this module by app name and runs `erase`): the webhook outbox rows
and deliveries about the person, whose bodies carry their OSDI representation."""

from __future__ import annotations

from typing import Any

from piazza.api.models import ApiKey
from piazza.api.webhooks.models import WebhookDelivery, WebhookEvent, WebhookSubscription
from piazza.core.erasure import BLANK, DELETE_ROW, LINK, ROW, Declaration, HoldBook

ERASURE: Declaration = {
    WebhookDelivery: {ROW: DELETE_ROW, "person": LINK, "body": BLANK, "last_error": BLANK},
    WebhookEvent: {ROW: DELETE_ROW, "person": LINK},
}

NOT_PERSONAL: Declaration = {
    ApiKey: {"name": "the label an official gives a key (e.g. “sito del circolo”), not a person"},
    WebhookEvent: {"territory_path": "where the object lies in the party's tree (e.g. 001.004.): a place, no person"},
    WebhookSubscription: {"target_url": "the receiving program's address, chosen by an official"},
    WebhookDelivery: {
        "object_key": "which object («person-12»): a record number, no identity once the row is gone",
    },
}


def erase(person: Any, holds: HoldBook) -> dict[str, int]:
    """Every delivery (pending or logged) and outbox row about the person goes, before it is sent."""
    deliveries, _kinds = WebhookDelivery.objects.filter(person=person).delete()
    events, _kinds = WebhookEvent.objects.filter(person=person).delete()
    return {"webhook_deliveries": deliveries, "webhook_events": events}
