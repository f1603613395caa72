"""Models of the mandatario's books (rules F10–F12), 2×1000 (F9) and legal-person givers (F13).

Kept apart from `models.py` (imported at its end, so Django registers them as compliance models)
to ease merging with the other compliance work.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from piazza.payments.bank.models import private_storage


class ExpenseCategory(models.Model):
    """A category of the declaration to the Collegio regionale di garanzia elettorale (rule F11).

    A parameter, not a constant: the list is seeded by the migration and kept in the admin; a
    category no longer used is retired (`active=False`), never deleted, as expenses point at it.
    """

    code = models.SlugField(_("codice"), max_length=40, unique=True)
    label = models.CharField(_("voce"), max_length=150)
    position = models.PositiveSmallIntegerField(_("ordine"), default=0)
    active = models.BooleanField(_("in uso"), default=True)

    class Meta:
        ordering = ["position", "label"]
        verbose_name = _("categoria di spesa elettorale")
        verbose_name_plural = _("categorie di spesa elettorale")

    def __str__(self) -> str:
        return self.label


class TwoPerThousandEntry(models.Model):
    """Rule F9: the aggregate amount of the 2×1000 received in a tax year, never identities.

    Append-only: a correction reverses the ledger transaction of the entry in force and books a
    new entry (`superseded_by` points at it, `in_force` turns false); one entry in force per year.
    """

    year = models.PositiveSmallIntegerField(_("anno"))
    amount_cents = models.BigIntegerField(_("importo (centesimi)"))
    choices = models.PositiveIntegerField(_("numero di scelte"), null=True, blank=True)
    received_on = models.DateField(_("data di accredito"))
    note = models.CharField(_("nota"), max_length=300, blank=True)
    ledger_transaction = models.ForeignKey(
        "ledger.LedgerTransaction", null=True, on_delete=models.PROTECT, related_name="+"
    )
    reversal_transaction = models.ForeignKey(
        "ledger.LedgerTransaction", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    in_force = models.BooleanField(default=True)
    superseded_by = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="supersedes"
    )
    entered_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["-year", "-created_at"]
        verbose_name = _("2 per mille")
        verbose_name_plural = _("2 per mille")
        constraints = [
            models.CheckConstraint(condition=models.Q(amount_cents__gt=0), name="twoperthousand_amount_positive"),
            models.UniqueConstraint(
                fields=["year"], condition=models.Q(in_force=True), name="twoperthousand_one_in_force"
            ),
        ]

    def __str__(self) -> str:
        return f"2x1000 {self.year}"


class GiverKind(models.TextChoices):
    NATURAL = "natural", _("Persona fisica")
    COMPANY = "company", _("Azienda")
    ASSOCIATION = "association", _("Associazione o altro ente")


class LegalGiverQuerySet(models.QuerySet["LegalGiver"]):
    def for_object(self, obj: models.Model) -> LegalGiverQuerySet:
        return self.filter(contribution_type=ContentType.objects.get_for_model(obj), contribution_id=str(obj.pk))


class LegalGiver(models.Model):
    """Rule F13: a contribution given by a legal person, with its board resolution and the
    attestations (not a public body, public capital within the threshold, not under public
    control), recorded like the F4 attestations: keys and the version of their texts.

    The contribution is any saved object of a higher app (a donation), referenced generically:
    compliance never imports funding.
    """

    kind = models.CharField(_("chi dona"), max_length=12, choices=GiverKind.choices)
    legal_name = models.CharField(_("ragione sociale"), max_length=200)
    entity_code = models.CharField(_("partita IVA o codice fiscale"), max_length=16, db_index=True)
    public_capital_percent = models.DecimalField(
        _("quota di capitale pubblico (%)"), max_digits=5, decimal_places=2, default=0
    )
    resolution = models.FileField(
        _("delibera dell'organo sociale"), upload_to="compliance/resolutions/%Y/", storage=private_storage
    )
    resolution_date = models.DateField(_("data della delibera"))
    attestations = models.JSONField(default=list)
    attestation_version = models.CharField(max_length=20)
    threshold_percent = models.DecimalField(max_digits=5, decimal_places=2)
    contribution_type = models.ForeignKey("contenttypes.ContentType", on_delete=models.PROTECT, related_name="+")
    contribution_id = models.CharField(max_length=40)
    territory = models.ForeignKey("territory.Territory", on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    objects = LegalGiverQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("contributo di persona giuridica")
        verbose_name_plural = _("contributi di persone giuridiche")
        constraints = [
            models.UniqueConstraint(fields=["contribution_type", "contribution_id"], name="legalgiver_one_per_gift")
        ]

    def __str__(self) -> str:
        return f"{self.legal_name} ({self.entity_code})"

    @property
    def kind_label(self) -> Any:
        return GiverKind(self.kind).label
