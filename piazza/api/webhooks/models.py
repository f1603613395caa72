"""Webhook subscriptions, the outbox of events and the deliveries with their attempts (issue 16)."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from piazza.people.models import Person
from piazza.territory.models import Territory
from piazza.territory.scoping import ScopedQuerySet


class Event(models.TextChoices):
    PERSON_CREATED = "person.created", _("Persona aggiunta")
    PERSON_UPDATED = "person.updated", _("Persona modificata")
    DONATION_SUCCEEDED = "donation.succeeded", _("Donazione ricevuta")
    DONATION_REFUNDED = "donation.refunded", _("Donazione rimborsata")
    MEMBERSHIP_EFFECTIVE = "membership.effective", _("Iscrizione valida (tessera consegnata)")
    PETITION_SIGNED = "petition.signed", _("Petizione firmata")
    EVENT_RSVP = "event.rsvp", _("Iscrizione a un evento")


class SubscriptionQuerySet(ScopedQuerySet["WebhookSubscription"]):
    scope_path_field = "territory__path"


class WebhookSubscription(models.Model):
    """Where to post which events of a territory subtree; sees what its owner's roles see there.

    The signing secret is kept encrypted (`webhooks.secrets`): shown once, never again. During a
    rotation the previous secret stays valid until `previous_valid_until` (24 hours).
    """

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="webhooks")
    territory = models.ForeignKey(Territory, on_delete=models.PROTECT, related_name="webhooks")
    target_url = models.URLField(_("indirizzo di destinazione"), max_length=500)
    events = models.JSONField(default=list)
    permissions = models.JSONField(default=list)
    secret_encrypted = models.TextField()
    previous_secret_encrypted = models.TextField(blank=True, default="")
    previous_valid_until = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    paused_at = models.DateTimeField(null=True, blank=True)
    paused_automatically = models.BooleanField(default=False)
    consecutive_failures = models.PositiveIntegerField(default=0)

    objects = SubscriptionQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.target_url

    def event_labels(self) -> list[str]:
        labels = dict(Event.choices)
        return [str(labels.get(e, e)) for e in self.events]

    def permission_labels(self) -> list[str]:
        from piazza.api.models import Permission  # noqa: PLC0415 (api.models imports this module)

        labels = dict(Permission.choices)
        return [str(labels.get(p, p)) for p in self.permissions]


class WebhookEvent(models.Model):
    """The outbox: written in the transaction of the action, so it exists iff the action committed."""

    event = models.CharField(max_length=40, choices=Event.choices)
    object_id = models.BigIntegerField()
    territory_path = models.CharField(max_length=255)
    person = models.ForeignKey(Person, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    dispatched_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["dispatched_at", "id"])]

    def __str__(self) -> str:
        return f"{self.event} {self.object_id}"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", _("Da consegnare")
    SUCCEEDED = "succeeded", _("Consegnata")
    FAILED = "failed", _("Non consegnata (tentativi esauriti)")


class WebhookDelivery(models.Model):
    """One event for one subscription: the exact body signed and sent, and where its retries stand.

    `uuid` is the `Piazza-Webhook-Id` (receivers dedupe by it). `object_key` orders deliveries:
    one is not attempted while an earlier one for the same object and subscription is pending.
    """

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    subscription = models.ForeignKey(WebhookSubscription, on_delete=models.CASCADE, related_name="deliveries")
    source = models.ForeignKey(WebhookEvent, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    event = models.CharField(max_length=40, choices=Event.choices)
    object_key = models.CharField(max_length=60)
    person = models.ForeignKey(Person, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    body = models.TextField()
    status = models.CharField(max_length=12, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    deadline_at = models.DateTimeField()
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    claimed_until = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=300, blank=True, default="")
    delivered_at = models.DateTimeField(null=True, blank=True)
    redelivery_of = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"]),
            models.Index(fields=["subscription", "object_key", "status"]),
        ]

    def __str__(self) -> str:
        return f"{self.event} {self.object_key} ({self.uuid})"

    def object_label(self) -> str:
        """The object in words («Persona n. 12»), never the internal key."""
        kind, _sep, number = self.object_key.partition("-")
        labels = {
            "person": _("Persona"),
            "donation": _("Donazione"),
            "membership": _("Iscrizione"),
            "signature": _("Firma"),
            "attendance": _("Partecipazione"),
        }
        return f"{labels.get(kind, kind)} n. {number}"


class WebhookAttempt(models.Model):
    """One POST of a delivery: when, the answer's code (None: no answer) and the error in words."""

    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_log")
    at = models.DateTimeField(default=timezone.now)
    status_code = models.PositiveIntegerField(null=True, blank=True)
    error = models.CharField(max_length=300, blank=True, default="")
    duration_ms = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.status_code}"
