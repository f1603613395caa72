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


class Passkey(models.Model):
    """A passkey (WebAuthn discoverable credential, docs/adr/0018) a person added from their space:
    a second way in beside the emailed link, to the same Person record. Only the public key is
    stored; the private key never leaves the person's device. A merge moves the row to the
    surviving record (a plain foreign key); erasure deletes it."""

    # A named relation (not "+"): people.merge_people moves every visible relation to the survivor.
    person = models.ForeignKey("people.Person", on_delete=models.CASCADE, related_name="passkeys")
    name = models.CharField(_("nome"), max_length=60)
    credential_id = models.CharField(max_length=1400, unique=True)  # base64url, as the browser sends it
    public_key = models.BinaryField()  # COSE
    sign_count = models.PositiveBigIntegerField(default=0)
    user_handle = models.CharField(max_length=100)  # base64url of the WebAuthn user.id given at registration
    transports = models.JSONField(default=list, blank=True)
    aaguid = models.CharField(max_length=36, blank=True)
    backed_up = models.BooleanField(default=False)
    created_at = models.DateTimeField(_("aggiunta il"), default=timezone.now)
    last_used_at = models.DateTimeField(_("ultimo uso"), null=True, blank=True)

    class Meta:
        verbose_name = _("passkey")
        verbose_name_plural = _("passkey")
        indexes = [models.Index(fields=["person", "created_at"], name="passkey_person")]

    def __str__(self) -> str:
        return f"{self.name} #{self.pk}"


class ChallengePurpose(models.TextChoices):
    REGISTER = "register", _("Aggiunta di una passkey")
    AUTHENTICATE = "authenticate", _("Accesso con una passkey")


class PasskeyChallenge(models.Model):
    """A WebAuthn challenge handed out: single use (a conditional UPDATE spends it), short-lived.
    The challenge itself lives in the browser's session (which binds it to that session, and to
    the person for a registration); here only its SHA-256, so two requests racing with one
    session cannot both spend it."""

    challenge_hash = models.CharField(max_length=64, unique=True)
    purpose = models.CharField(max_length=20, choices=ChallengePurpose.choices)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("sfida di una passkey")
        verbose_name_plural = _("sfide delle passkey")
        indexes = [models.Index(fields=["expires_at"], name="passkey_challenge_expiry")]

    def __str__(self) -> str:
        return f"{self.purpose} #{self.pk}"


class Follow(models.Model):
    """A person follows a campaign or a territory without giving (issue 12: "campaigns and
    territories they follow"; issue 17 builds the digest on it). Exactly one target per row.

    No unique constraint on (person, target): a merge of two records that both followed a campaign
    moves both rows (people's generic mover), and the readers below treat them as one."""

    person = models.ForeignKey("people.Person", on_delete=models.CASCADE, related_name="follows")
    campaign = models.ForeignKey(
        "funding.Campaign", null=True, blank=True, on_delete=models.CASCADE, related_name="followers"
    )
    territory = models.ForeignKey(
        "territory.Territory", null=True, blank=True, on_delete=models.CASCADE, related_name="followers"
    )
    # A candidate (issue 17): their campaigns and news reach the follower's digest.
    candidacy = models.ForeignKey(
        "compliance.Candidacy", null=True, blank=True, on_delete=models.CASCADE, related_name="followers"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("chi segue")
        verbose_name_plural = _("chi segue")
        constraints = [
            models.CheckConstraint(
                condition=(
                    models.Q(campaign__isnull=False)
                    & models.Q(territory__isnull=True)
                    & models.Q(candidacy__isnull=True)
                )
                | (
                    models.Q(campaign__isnull=True)
                    & models.Q(territory__isnull=False)
                    & models.Q(candidacy__isnull=True)
                )
                | (
                    models.Q(campaign__isnull=True)
                    & models.Q(territory__isnull=True)
                    & models.Q(candidacy__isnull=False)
                ),
                name="follow_one_target",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.person_id} → {self.campaign_id or self.territory_id or self.candidacy_id}"


class DigestSent(models.Model):
    """One digest sent to a person for one period (issue 17): the unique row is what makes the
    periodic task idempotent (a second run in the same period finds it and sends nothing)."""

    person = models.ForeignKey("people.Person", on_delete=models.CASCADE, related_name="+")
    period_start = models.DateField()
    items = models.PositiveIntegerField(default=0)
    sent_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("riepilogo inviato")
        verbose_name_plural = _("riepiloghi inviati")
        constraints = [models.UniqueConstraint(fields=["person", "period_start"], name="digest_once_per_period")]

    def __str__(self) -> str:
        return f"{self.person_id} · {self.period_start}"


class DigestStop(models.Model):
    """The person asked not to receive the digest (from its unsubscribe link or Il mio spazio)."""

    person = models.OneToOneField("people.Person", on_delete=models.CASCADE, related_name="+")
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("riepilogo disattivato")
        verbose_name_plural = _("riepiloghi disattivati")

    def __str__(self) -> str:
        return f"{self.person_id}"
