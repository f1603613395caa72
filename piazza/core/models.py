"""Core models: the append-only audit log (rule G4) and shared abstract bases."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class TimeStampedModel(models.Model):
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class AuditKind(models.TextChoices):
    WRITE = "write", _("Modifica")
    VIEW = "view", _("Consultazione di dati personali")
    EXPORT = "export", _("Esportazione")
    AUTH = "auth", _("Accesso")
    DENIED = "denied", _("Tentativo respinto")


class AuditEntryQuerySet(models.QuerySet["AuditEntry"]):
    def within_paths(self, paths: list[str]) -> AuditEntryQuerySet:
        """Entries attached to any of the given territory subtrees (materialised paths)."""
        condition = models.Q(pk__in=[])
        for path in paths:
            condition |= models.Q(territory_path__startswith=path)
        return self.filter(condition)


class AuditEntry(models.Model):
    """One line of the audit log. Never updated or deleted: a database trigger refuses it.

    `digest` is an HMAC of the row's content with a server key, so an edit made behind the
    application's back (directly in the database) is detectable by `verify()`.
    """

    at = models.DateTimeField(default=timezone.now, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
        related_name="+",
    )
    actor_label = models.CharField(max_length=150, blank=True)
    kind = models.CharField(max_length=10, choices=AuditKind.choices, default=AuditKind.WRITE)
    action = models.CharField(max_length=100, db_index=True)
    object_type = models.CharField(max_length=100, blank=True)
    object_id = models.CharField(max_length=64, blank=True)
    territory_id = models.BigIntegerField(null=True, blank=True)
    territory_path = models.CharField(max_length=255, blank=True, db_index=True)
    ip = models.CharField(max_length=64, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)
    channel = models.CharField(max_length=20, blank=True)
    data = models.JSONField(default=dict, blank=True)
    digest = models.CharField(max_length=64, editable=False)

    objects = AuditEntryQuerySet.as_manager()

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name = _("voce del registro attività")
        verbose_name_plural = _("registro attività")
        indexes = [models.Index(fields=["object_type", "object_id"])]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.actor_label} {self.action}"

    def content_for_digest(self) -> bytes:
        payload: dict[str, Any] = {
            "at": self.at.isoformat(),
            "actor": self.actor_id,
            "actor_label": self.actor_label,
            "kind": self.kind,
            "action": self.action,
            "object_type": self.object_type,
            "object_id": self.object_id,
            "territory_id": self.territory_id,
            "territory_path": self.territory_path,
            "ip": self.ip,
            "channel": self.channel,
            "data": self.data,
        }
        return json.dumps(payload, sort_keys=True, default=str).encode()

    def compute_digest(self) -> str:
        key = settings.AUDIT_HMAC_KEY.encode()
        return hmac.new(key, self.content_for_digest(), hashlib.sha256).hexdigest()

    def verify(self) -> bool:
        return hmac.compare_digest(self.digest, self.compute_digest())

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None:
            raise PermissionDenied("Audit entries are append-only.")
        self.digest = self.compute_digest()
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise PermissionDenied("Audit entries are append-only.")


class PeriodicRun(models.Model):
    """When a periodic task was last enqueued (see `piazza.core.periodic`)."""

    name = models.CharField(max_length=200, unique=True)
    last_enqueued_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return self.name
