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


def validate_tax_credit_levels(value: str) -> None:
    """Rule F8: the qualifying levels are names of levels of the tree, separated by commas."""
    known = {"national", "region", "federation", "circolo"}
    parts = [part.strip() for part in value.split(",") if part.strip()]
    unknown = [part for part in parts if part not in known]
    if not parts or unknown:
        raise ValidationError(
            _("Scrivi uno o più livelli tra national, region, federation e circolo, separati da virgola."),
            code="tax_credit_levels",
        )


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
    # Rules F7/F8: the annual tax statement (issue 13, tax statements).
    tax_credit_rate_bp = models.PositiveIntegerField(
        _("detrazione (centesimi di punto percentuale, 2600 = 26%)"), default=DEFAULT_RULES.tax_credit_rate_bp
    )
    tax_credit_floor_cents = models.BigIntegerField(
        _("minimo annuo detraibile (centesimi)"), default=DEFAULT_RULES.tax_credit_floor_cents
    )
    tax_credit_ceiling_cents = models.BigIntegerField(
        _("massimo annuo detraibile (centesimi)"), default=DEFAULT_RULES.tax_credit_ceiling_cents
    )
    tax_credit_levels = models.CharField(
        _("livelli che rilasciano la dichiarazione"),
        max_length=60,
        default=",".join(DEFAULT_RULES.tax_credit_levels),
        help_text=_("Separati da virgola, tra: national, region, federation, circolo."),
        validators=[validate_tax_credit_levels],
    )
    tax_credit_fees_count = models.BooleanField(
        _("le quote di iscrizione sono detraibili"), default=DEFAULT_RULES.tax_credit_fees_count
    )
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
            tax_credit_rate_bp=self.tax_credit_rate_bp,
            tax_credit_floor_cents=self.tax_credit_floor_cents,
            tax_credit_ceiling_cents=self.tax_credit_ceiling_cents,
            tax_credit_levels=tuple(part.strip() for part in self.tax_credit_levels.split(",") if part.strip()),
            tax_credit_fees_count=self.tax_credit_fees_count,
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


# --- Annual tax statements (rules F7, F8; issue 13) ------------------------------------------


class TaxStatementRunStatus(models.TextChoices):
    PENDING = "pending", _("In coda")
    RUNNING = "running", _("In corso")
    DONE = "done", _("Completata")
    FAILED = "failed", _("Completata con errori")


class TaxStatementRunQuerySet(ScopedQuerySet["TaxStatementRun"]):
    scope_path_field = "territory__path"


class TaxStatementRun(models.Model):
    """One generation of the statements of a year for every donor (started from the back office,
    done by the worker in chunks; the page shows `done` of `total` and the outcome)."""

    year = models.PositiveSmallIntegerField(_("anno"))
    territory = models.ForeignKey("territory.Territory", on_delete=models.PROTECT, related_name="+")
    status = models.CharField(
        _("stato"), max_length=10, choices=TaxStatementRunStatus.choices, default=TaxStatementRunStatus.PENDING
    )
    total = models.PositiveIntegerField(default=0)  # donors to look at
    done = models.PositiveIntegerField(default=0)  # donors looked at (new version or unchanged)
    failed = models.PositiveIntegerField(default=0)  # donors of chunks that failed
    created = models.PositiveIntegerField(default=0)  # statements written (new or new versions)
    unchanged = models.PositiveIntegerField(default=0)  # statements whose figures did not change
    emailed = models.PositiveIntegerField(default=0)
    errors = models.JSONField(default=list, blank=True)  # short messages for the treasurer
    started_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = TaxStatementRunQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("generazione delle dichiarazioni per la detrazione")
        verbose_name_plural = _("generazioni delle dichiarazioni per la detrazione")

    def __str__(self) -> str:
        return f"{self.year} · {self.created_at:%Y-%m-%d %H:%M}"

    @property
    def finished(self) -> bool:
        return self.status in (TaxStatementRunStatus.DONE, TaxStatementRunStatus.FAILED)

    @property
    def progress_percent(self) -> int:
        if self.finished:
            return 100
        if not self.total:
            return 0
        return min(100, (self.done + self.failed) * 100 // self.total)


class TaxStatementChunk(models.Model):
    """A slice of a run's donors (ids only), done once: a retried or resumed task skips it."""

    run = models.ForeignKey(TaxStatementRun, on_delete=models.CASCADE, related_name="chunks")
    index = models.PositiveIntegerField()
    person_ids = models.JSONField(default=list)
    done_at = models.DateTimeField(null=True, blank=True)
    error = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["run", "index"]
        constraints = [models.UniqueConstraint(fields=["run", "index"], name="taxstatementchunk_unique_index")]

    def __str__(self) -> str:
        return f"{self.run_id}/{self.index}"


class TaxStatementQuerySet(ScopedQuerySet["TaxStatement"]):
    scope_path_field = "entity__path"

    def latest_versions(self) -> TaxStatementQuerySet:
        """Only the newest version of each (person, entity, year)."""
        newer = TaxStatement.objects.filter(
            person_id=models.OuterRef("person_id"),
            entity_id=models.OuterRef("entity_id"),
            year=models.OuterRef("year"),
            version__gt=models.OuterRef("version"),
        )
        return self.filter(~models.Exists(newer))


class TaxStatement(models.Model):
    """Rules F7/F8: the annual statement for the tax credit, per donor, year and qualifying entity.

    Immutable: a change in the figures (a refund) is a new version; the lines of the year are
    copied in (`lines`), with the donor's name and codice fiscale at issue, so the PDF is drawn
    from this row alone and is the same every time.
    """

    person = models.ForeignKey("people.Person", on_delete=models.PROTECT, related_name="tax_statements")
    entity = models.ForeignKey("territory.Territory", on_delete=models.PROTECT, related_name="+")
    year = models.PositiveSmallIntegerField(_("anno"))
    version = models.PositiveIntegerField(_("versione"), default=1)
    donor_name = models.CharField(max_length=210)
    donor_codice_fiscale = models.CharField(max_length=16, blank=True)
    total_cents = models.BigIntegerField()  # every gift of the year to the entity
    excluded_cents = models.BigIntegerField()  # not traceable (F8)
    traceable_cents = models.BigIntegerField()
    deductible_cents = models.BigIntegerField()  # the base, between floor and ceiling (F7)
    credit_cents = models.BigIntegerField()  # the credit at the rate (F7)
    rate_bp = models.PositiveIntegerField()
    floor_cents = models.BigIntegerField()
    ceiling_cents = models.BigIntegerField()
    lines = models.JSONField(default=list)
    digest = models.CharField(max_length=64)  # of the figures and lines: unchanged → no new version
    run = models.ForeignKey(TaxStatementRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    generated_at = models.DateTimeField(default=timezone.now, editable=False)

    objects = TaxStatementQuerySet.as_manager()

    class Meta:
        ordering = ["-year", "entity", "-version"]
        verbose_name = _("dichiarazione per la detrazione")
        verbose_name_plural = _("dichiarazioni per la detrazione")
        constraints = [
            models.UniqueConstraint(
                fields=["person", "entity", "year", "version"], name="taxstatement_one_per_version"
            ),
            models.CheckConstraint(
                condition=models.Q(credit_cents__gte=0, deductible_cents__gte=0), name="taxstatement_not_negative"
            ),
        ]
        indexes = [models.Index(fields=["year", "person"], name="taxstatement_year_person")]

    def __str__(self) -> str:
        return f"{self.year} · {self.entity_id} · {self.person_id} v{self.version}"

    @property
    def territory(self) -> Any:
        return self.entity
