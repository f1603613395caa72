"""The one-time links of "Il mio spazio" (convention 16: an email proves nothing until its owner
clicks a link sent to it). Only the SHA-256 of a link's token is stored."""

from __future__ import annotations

import hashlib

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


def token_digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


class LinkPurpose(models.TextChoices):
    SIGN_IN = "sign_in", _("Accesso a Il mio spazio")
    EMAIL_CHANGE = "email_change", _("Conferma di un nuovo indirizzo email")


class SpaceLink(models.Model):
    """A link emailed to `email` for `person`: opening it signs in (SIGN_IN, and proves the
    address is theirs) or confirms a new address (EMAIL_CHANGE). Single use, short-lived."""

    person = models.ForeignKey("people.Person", on_delete=models.CASCADE, related_name="+")
    purpose = models.CharField(max_length=20, choices=LinkPurpose.choices)
    email = models.EmailField(_("indirizzo a cui è stato inviato"))
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("link di Il mio spazio")
        verbose_name_plural = _("link di Il mio spazio")
        indexes = [models.Index(fields=["person", "purpose", "-created_at"], name="space_link_person")]

    def __str__(self) -> str:
        return f"{self.get_purpose_display()} #{self.pk}"
