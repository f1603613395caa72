"""API keys (issue 16): created by an official, bound to a territory node, shown once, stored hashed."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from piazza.territory.models import Territory
from piazza.territory.scoping import ScopedQuerySet


class Permission(models.TextChoices):
    """What a key may do; each maps to the roles that do the same in the back office (`api.access`)."""

    READ_PEOPLE = "people:read", _("Leggere le persone, le etichette e le liste")
    WRITE_PEOPLE = "people:write", _("Aggiungere persone (iscrizione tramite modulo esterno)")
    READ_DONATIONS = "donations:read", _("Leggere le donazioni")
    READ_CAMPAIGNS = "campaigns:read", _("Leggere le raccolte fondi")
    READ_MEMBERSHIPS = "memberships:read", _("Leggere le iscrizioni e i circoli")
    READ_EVENTS = "events:read", _("Leggere gli eventi e chi partecipa")
    WRITE_EVENTS = "events:write", _("Iscrivere persone agli eventi (modulo esterno)")
    READ_PETITIONS = "petitions:read", _("Leggere le petizioni e le firme")
    WRITE_PETITIONS = "petitions:write", _("Raccogliere firme alle petizioni (modulo esterno)")
    READ_MESSAGES = "messages:read", _("Leggere le comunicazioni email inviate e i loro numeri")


class ApiKeyQuerySet(ScopedQuerySet["ApiKey"]):
    scope_path_field = "territory__path"

    def usable(self) -> ApiKeyQuerySet:
        return self.filter(revoked_at__isnull=True, expires_at__gt=timezone.now())


class ApiKey(models.Model):
    """A key sees what its owner's roles see at `territory` (never more), for `permissions` only.

    The token is `pz_<prefix>_<secret>`; only its SHA-256 is stored, the prefix finds the row.
    """

    name = models.CharField(_("nome"), max_length=80)
    prefix = models.CharField(max_length=12, unique=True)
    token_hash = models.CharField(max_length=64)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="api_keys")
    territory = models.ForeignKey(Territory, on_delete=models.PROTECT, related_name="api_keys")
    permissions = models.JSONField(default=list)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    expires_at = models.DateTimeField(_("scadenza"))
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    last_used_at = models.DateTimeField(null=True, blank=True)

    objects = ApiKeyQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix})"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None and self.expires_at > timezone.now()

    def permission_labels(self) -> list[str]:
        labels = dict(Permission.choices)
        return [str(labels.get(p, p)) for p in self.permissions]


from piazza.api.webhooks.models import (  # noqa: E402  (registered with the api app)
    DeliveryStatus,
    Event,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEvent,
    WebhookSubscription,
)

__all__ = [
    "ApiKey",
    "DeliveryStatus",
    "Event",
    "Permission",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookEvent",
    "WebhookSubscription",
]
