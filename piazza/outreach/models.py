"""Email broadcasts (issue 15): what an officer writes, who got it, who must never get one again.

A `Broadcast` belongs to the territory that sends it and goes to a `people.Segment` evaluated inside
that territory's subtree. Each recipient gets exactly one `Delivery` row (unique per broadcast and
person: the idempotency of the whole pipeline). `Suppression` rows stop an address or a person for
good (hard bounce, complaint, one-click unsubscribe, objection); `TerritoryPreference` rows are what
the preference centre saves per territory (rule G3: withdrawing as easy as giving).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from piazza.people.models import Person, Segment
from piazza.territory.models import Territory
from piazza.territory.scoping import ScopedQuerySet


class BroadcastStatus(models.TextChoices):
    DRAFT = "draft", _("Bozza")
    SCHEDULED = "scheduled", _("Programmato")
    TESTING = "testing", _("Test A/B in corso")
    SENDING = "sending", _("In invio")
    SENT = "sent", _("Inviato")
    CANCELLED = "cancelled", _("Annullato")


class Variant(models.TextChoices):
    A = "a", _("Oggetto A")
    B = "b", _("Oggetto B")


class BroadcastQuerySet(ScopedQuerySet["Broadcast"]):
    scope_path_field = "territory__path"


class Broadcast(models.Model):
    territory = models.ForeignKey(Territory, verbose_name=_("territorio che invia"), on_delete=models.PROTECT)
    segment = models.ForeignKey(Segment, verbose_name=_("segmento"), on_delete=models.PROTECT, related_name="+")
    subject = models.CharField(_("oggetto"), max_length=150)
    subject_b = models.CharField(_("oggetto alternativo (test A/B)"), max_length=150, blank=True)
    preheader = models.CharField(_("anteprima"), max_length=150, blank=True)
    body = models.TextField(_("testo (Markdown)"))
    status = models.CharField(max_length=10, choices=BroadcastStatus.choices, default=BroadcastStatus.DRAFT)
    send_at = models.DateTimeField(_("invio programmato"), null=True, blank=True)
    # A/B test: this percentage of the audience gets A, as many get B; the rest gets the winner.
    ab_sample_percent = models.PositiveSmallIntegerField(default=0)
    ab_wait_hours = models.PositiveSmallIntegerField(default=4)
    ab_started_at = models.DateTimeField(null=True, blank=True)
    winner = models.CharField(max_length=1, choices=Variant.choices, blank=True)
    # What the audience looked like when sending started: counts per exclusion reason.
    audience_summary = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = BroadcastQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("comunicazione email")
        verbose_name_plural = _("comunicazioni email")
        indexes = [models.Index(fields=["status", "send_at"], name="broadcast_due")]

    def __str__(self) -> str:
        return self.subject

    @property
    def is_ab(self) -> bool:
        return bool(self.subject_b) and self.ab_sample_percent > 0

    def subject_for(self, variant: str) -> str:
        return self.subject_b if variant == Variant.B and self.subject_b else self.subject


class DeliveryStatus(models.TextChoices):
    QUEUED = "queued", _("In coda")
    SENDING = "sending", _("In invio")
    SENT = "sent", _("Inviato")
    DELIVERED = "delivered", _("Consegnato")
    BOUNCED = "bounced", _("Respinto")
    FAILED = "failed", _("Non inviato")


class Delivery(models.Model):
    """One message to one person: the row is created before sending and claimed by one worker."""

    broadcast = models.ForeignKey(Broadcast, on_delete=models.CASCADE, related_name="deliveries")
    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="+")
    email = models.CharField(max_length=254)
    variant = models.CharField(max_length=1, choices=Variant.choices, blank=True)
    status = models.CharField(max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.QUEUED)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    queued_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)
    message_id = models.CharField(max_length=200, blank=True, db_index=True)
    error = models.CharField(max_length=300, blank=True)
    unsubscribed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["broadcast", "person"], name="delivery_once_per_person")]
        indexes = [
            models.Index(fields=["person", "queued_at"], name="delivery_frequency"),
            models.Index(fields=["status", "next_attempt_at"], name="delivery_retry"),
        ]

    def __str__(self) -> str:
        return f"{self.broadcast_id}→{self.person_id}"


class SuppressionReason(models.TextChoices):
    HARD_BOUNCE = "hard_bounce", _("Indirizzo inesistente (respinto in modo definitivo)")
    COMPLAINT = "complaint", _("Segnalato come indesiderato")
    UNSUBSCRIBE = "unsubscribe", _("Disiscritto")
    OBJECTION = "objection", _("Opposizione al trattamento")


class Suppression(models.Model):
    """Never send again: to this address (bounce) or to this person (complaint, unsubscribe, objection)."""

    reason = models.CharField(max_length=15, choices=SuppressionReason.choices)
    email = models.CharField(max_length=254, blank=True, db_index=True)
    person = models.ForeignKey(Person, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    broadcast = models.ForeignKey(Broadcast, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    detail = models.CharField(max_length=300, blank=True)
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-at"]
        constraints = [
            models.CheckConstraint(condition=~Q(email="") | Q(person__isnull=False), name="suppression_names_someone")
        ]
        indexes = [models.Index(fields=["person", "reason"], name="suppression_person")]

    def __str__(self) -> str:
        return self.get_reason_display()


class TerritoryPreference(models.Model):
    """The preference centre's answer: does this person want this territory's emails?"""

    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="+")
    territory = models.ForeignKey(Territory, on_delete=models.CASCADE, related_name="+")
    receive = models.BooleanField(default=True)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["person", "territory"], name="territory_preference_once")]

    def __str__(self) -> str:
        return f"{self.person_id}@{self.territory_id}: {self.receive}"


class MailEvent(models.Model):
    """A provider's event (webhook) or a DSN from the bounce mailbox, stored once by its id."""

    source = models.CharField(max_length=30)
    event_id = models.CharField(max_length=200)
    kind = models.CharField(max_length=20)
    recipient = models.CharField(max_length=254, blank=True)
    message_id = models.CharField(max_length=200, blank=True)
    detail = models.CharField(max_length=300, blank=True)
    delivery = models.ForeignKey(Delivery, null=True, blank=True, on_delete=models.SET_NULL, related_name="events")
    received_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-received_at"]
        constraints = [models.UniqueConstraint(fields=["source", "event_id"], name="mail_event_once")]

    def __str__(self) -> str:
        return f"{self.source}:{self.kind}"
