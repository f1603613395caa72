"""Compliance parameters (rules F1, F6, F10–F12, F14) and candidacies with their mandatario (F10)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from piazza.compliance.rules import CAP_SCOPE_ENTITY, CAP_SCOPE_PARTY, DEFAULT_RULES, FinanceRules
from piazza.payments.bank.models import private_storage
from piazza.territory.scoping import ScopedQuerySet


class FinanceRuleSet(models.Model):
    """The political-finance parameters in force from a date (DOMAIN.md marks several as open).

    A new law or a new reading of it is a new row, never an edit of the past: donations are
    judged by the parameters in force on their date.
    """

    class CapScope(models.TextChoices):
        PARTY = CAP_SCOPE_PARTY, _("Tutto il partito (lettura prudente)")
        ENTITY = CAP_SCOPE_ENTITY, _("Per ente ricevente (nazionale, regione, federazione)")

    valid_from = models.DateField(_("in vigore dal"), unique=True)
    publication_threshold_cents = models.BigIntegerField(
        _("soglia di pubblicazione (centesimi)"), default=DEFAULT_RULES.publication_threshold_cents
    )  # F1/F2
    annual_cap_cents = models.BigIntegerField(
        _("tetto annuo per donatore (centesimi)"), default=DEFAULT_RULES.annual_cap_cents
    )  # F6
    cap_scope = models.CharField(
        _("ambito del tetto"), max_length=10, choices=CapScope.choices, default=DEFAULT_RULES.cap_scope
    )  # F14
    fees_count = models.BooleanField(
        _("le quote di iscrizione contano nei totali"), default=DEFAULT_RULES.fees_count
    )  # F14
    candidate_exemption_cents = models.BigIntegerField(
        _("esenzione mandatario (centesimi)"), default=DEFAULT_RULES.candidate_exemption_cents
    )  # F10
    candidate_cap_base_cents = models.BigIntegerField(
        _("tetto di spesa per collegio (centesimi)"), default=DEFAULT_RULES.candidate_cap_base_cents
    )  # F11
    candidate_cap_per_resident_cents = models.BigIntegerField(
        _("tetto di spesa per residente (centesimi)"),  # F11
        default=DEFAULT_RULES.candidate_cap_per_resident_cents,
    )
    itemise_threshold_cents = models.BigIntegerField(
        _("soglia di rendicontazione nominativa (centesimi)"),  # F11
        default=DEFAULT_RULES.itemise_threshold_cents,
    )
    joint_declaration_threshold_cents = models.BigIntegerField(
        _("soglia della dichiarazione congiunta (centesimi)"),  # F12
        default=DEFAULT_RULES.joint_declaration_threshold_cents,
    )
    declaration_months = models.PositiveSmallIntegerField(
        _("mesi per la dichiarazione del candidato dopo la proclamazione"), default=3
    )  # F11
    public_capital_threshold_percent = models.DecimalField(
        _("quota massima di capitale pubblico di chi dona (%)"), max_digits=5, decimal_places=2, default=20
    )  # F13
    note = models.TextField(_("fonte o motivazione"), blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["-valid_from"]
        verbose_name = _("parametri del finanziamento politico")
        verbose_name_plural = _("parametri del finanziamento politico")
        constraints = [
            models.CheckConstraint(condition=models.Q(annual_cap_cents__gt=0), name="financeruleset_cap_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.valid_from:%Y-%m-%d}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        from django.db import transaction

        from piazza.compliance.rules import forget_rules

        super().save(*args, **kwargs)
        forget_rules()
        transaction.on_commit(forget_rules)  # and again once visible to other processes

    def as_rules(self) -> FinanceRules:
        return FinanceRules(
            publication_threshold_cents=self.publication_threshold_cents,
            annual_cap_cents=self.annual_cap_cents,
            cap_scope=self.cap_scope,
            fees_count=self.fees_count,
            candidate_exemption_cents=self.candidate_exemption_cents,
            candidate_cap_base_cents=self.candidate_cap_base_cents,
            candidate_cap_per_resident_cents=self.candidate_cap_per_resident_cents,
            itemise_threshold_cents=self.itemise_threshold_cents,
            joint_declaration_threshold_cents=self.joint_declaration_threshold_cents,
        )


class CandidacyQuerySet(ScopedQuerySet):
    scope_path_field = "territory__path"


def validate_iban(value: str) -> None:
    """Rule D3: a real IBAN (schwifty checks the Italian CIN)."""
    from schwifty import IBAN
    from schwifty.exceptions import SchwiftyException

    try:
        IBAN(value)
    except SchwiftyException as exc:
        raise ValidationError(
            _("IBAN non valido (%(reason)s): controlla le 27 cifre e lettere dell'estratto conto.") % {"reason": exc},
            code="invalid_iban",
        ) from exc


class ElectionKind(models.TextChoices):
    MUNICIPAL = "municipal", _("Comunali")
    REGIONAL = "regional", _("Regionali")
    NATIONAL = "national", _("Politiche")
    EUROPEAN = "european", _("Europee")


class Candidacy(models.Model):
    """A candidate in one election, with the mandatario who alone may raise money (rule F10).

    The mandatario may be named after the candidacy is registered (blank until then) and
    replaced later; each change is an audited action (`compliance.actions.name_mandatario`).
    """

    territory = models.ForeignKey("territory.Territory", on_delete=models.PROTECT, related_name="candidacies")
    election_kind = models.CharField(
        _("tipo di elezione"), max_length=10, choices=ElectionKind.choices, default=ElectionKind.MUNICIPAL
    )
    candidate_person = models.ForeignKey(
        "people.Person",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="candidacies",
        verbose_name=_("candidato/a (anagrafica)"),
    )
    candidate_name = models.CharField(_("candidato/a"), max_length=150)
    election = models.CharField(_("elezione"), max_length=150)
    constituency = models.CharField(_("collegio"), max_length=150)
    residents = models.PositiveIntegerField(_("residenti nel collegio"), default=0)
    elections_called_on = models.DateField(_("data di indizione delle elezioni"), null=True, blank=True)
    election_day = models.DateField(_("giorno delle elezioni"), null=True, blank=True)
    # Rule F11: the declaration is due within `declaration_months` of the proclamation of the elected.
    proclaimed_on = models.DateField(_("data della proclamazione degli eletti"), null=True, blank=True)
    # Rule F11: None means the legal formula (base + per resident, parameters in FinanceRuleSet).
    spending_cap_cents = models.BigIntegerField(_("tetto di spesa (centesimi)"), null=True, blank=True)
    own_funds_only = models.BooleanField(_("spende solo fondi propri"), default=False)
    mandatario_person = models.ForeignKey(
        "people.Person",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="mandates",
        verbose_name=_("mandatario (anagrafica)"),
    )
    mandatario_name = models.CharField(_("mandatario elettorale"), max_length=150, blank=True)
    mandatario_codice_fiscale = models.CharField(_("codice fiscale del mandatario"), max_length=16, blank=True)
    mandatario_iban = models.CharField(
        _("IBAN del conto del mandatario"), max_length=34, blank=True, validators=[validate_iban]
    )
    mandatario_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="mandates"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    objects = CandidacyQuerySet.as_manager()

    class Meta:
        ordering = ["election", "candidate_name"]
        verbose_name = _("candidatura")
        verbose_name_plural = _("candidature")
        constraints = [
            # Rule F10: one mandatario serves one candidate, and uses one bank account.
            models.UniqueConstraint(
                fields=["election", "mandatario_codice_fiscale"],
                condition=~models.Q(mandatario_codice_fiscale=""),
                name="candidacy_one_candidate_per_mandatario",
            ),
            models.UniqueConstraint(
                fields=["election", "mandatario_iban"],
                condition=~models.Q(mandatario_iban=""),
                name="candidacy_one_account_per_mandatario",
            ),
            models.CheckConstraint(
                condition=models.Q(spending_cap_cents__isnull=True) | models.Q(spending_cap_cents__gt=0),
                name="candidacy_cap_positive",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.candidate_name} · {self.election}"

    @property
    def has_mandatario(self) -> bool:
        return bool(self.mandatario_codice_fiscale and self.mandatario_iban)


class DeclarationStatus(models.TextChoices):
    SIGNED = "signed", _("Firmata da chi dona e dal candidato")
    FILED = "filed", _("Depositata")


class JointDeclarationQuerySet(ScopedQuerySet["JointDeclaration"]):
    scope_path_field = "candidacy__territory__path"


class JointDeclaration(models.Model):
    """Rule F12: the joint declaration of a donor above the threshold and the candidate, one per
    donor per candidacy, with the signed document (kept in private storage, served by an audited view)."""

    candidacy = models.ForeignKey(Candidacy, on_delete=models.PROTECT, related_name="joint_declarations")
    donor = models.ForeignKey("people.Person", on_delete=models.PROTECT, related_name="joint_declarations")
    document = models.FileField(
        _("dichiarazione firmata"), upload_to="compliance/declarations/%Y/", storage=private_storage
    )
    status = models.CharField(
        _("stato"), max_length=10, choices=DeclarationStatus.choices, default=DeclarationStatus.SIGNED
    )
    signed_on = models.DateField(_("data della firma"))
    filed_on = models.DateField(_("data del deposito"), null=True, blank=True)
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    objects = JointDeclarationQuerySet.as_manager()

    class Meta:
        ordering = ["candidacy", "donor"]
        verbose_name = _("dichiarazione congiunta")
        verbose_name_plural = _("dichiarazioni congiunte")
        constraints = [
            models.UniqueConstraint(fields=["candidacy", "donor"], name="jointdeclaration_one_per_donor_per_candidacy")
        ]

    def __str__(self) -> str:
        return f"{self.candidacy} · {self.donor}"

    @property
    def territory(self) -> Any:
        return self.candidacy.territory


class CandidateExpenseQuerySet(ScopedQuerySet["CandidateExpense"]):
    scope_path_field = "candidacy__territory__path"


class CandidateExpense(models.Model):
    """An electoral expense booked to the mandatario's account (rules F10, F11): refused above
    the spending cap; the ledger transaction is the booking, this row its description."""

    candidacy = models.ForeignKey(Candidacy, on_delete=models.PROTECT, related_name="expenses")
    description = models.CharField(_("descrizione"), max_length=200)
    supplier = models.CharField(_("fornitore"), max_length=150)
    amount_cents = models.BigIntegerField(_("importo (centesimi)"))
    incurred_on = models.DateField(_("data della spesa"))
    category = models.ForeignKey(
        "compliance.ExpenseCategory",
        null=True,
        on_delete=models.PROTECT,
        related_name="expenses",
        verbose_name=_("categoria"),
    )  # F11
    receipt = models.FileField(
        _("giustificativo"), upload_to="compliance/receipts/%Y/", blank=True, storage=private_storage
    )
    idempotency_key = models.CharField(max_length=80, unique=True)
    ledger_transaction = models.ForeignKey(
        "ledger.LedgerTransaction", null=True, on_delete=models.PROTECT, related_name="+"
    )
    booked_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    objects = CandidateExpenseQuerySet.as_manager()

    class Meta:
        ordering = ["incurred_on", "id"]
        verbose_name = _("spesa elettorale")
        verbose_name_plural = _("spese elettorali")
        constraints = [
            models.CheckConstraint(condition=models.Q(amount_cents__gt=0), name="candidateexpense_amount_positive")
        ]

    def __str__(self) -> str:
        return f"{self.supplier} · {self.description}"

    @property
    def territory(self) -> Any:
        return self.candidacy.territory


# The mandatario's books, 2×1000 and legal-person givers (rules F9, F11, F13): registered here.
from piazza.compliance.books_models import (  # noqa: E402
    ExpenseCategory,
    GiverKind,
    LegalGiver,
    TwoPerThousandEntry,
)

__all__ = [
    "Candidacy",
    "CandidateExpense",
    "DeclarationStatus",
    "ElectionKind",
    "ExpenseCategory",
    "FinanceRuleSet",
    "GiverKind",
    "JointDeclaration",
    "LegalGiver",
    "TwoPerThousandEntry",
]
