"""Compliance parameters (rules F1, F6, F10–F12, F14) and candidacies with their mandatario (F10)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from piazza.compliance.rules import (
    CAP_SCOPE_ENTITY,
    CAP_SCOPE_PARTY,
    DEFAULT_RULES,
    FinanceRules,
    validate_receipt_issuing_levels,
    validate_receipt_number_format,
)
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
    register_deadline_months = models.PositiveSmallIntegerField(
        _("mesi per iscrivere un contributo nel registro (fine del mese)"),  # F1
        default=DEFAULT_RULES.register_deadline_months,
    )
    election_deadline_days = models.PositiveSmallIntegerField(
        _("giorni per iscriverlo in periodo elettorale"),  # F1
        default=DEFAULT_RULES.election_deadline_days,
    )
    election_period_months = models.PositiveSmallIntegerField(
        _("mesi prima delle elezioni in cui vale il termine breve"),  # F1
        default=DEFAULT_RULES.election_period_months,
    )
    receipt_issuing_levels = models.CharField(
        _("livelli che emettono le ricevute"),
        max_length=60,
        default=DEFAULT_RULES.receipt_issuing_levels,
        validators=[validate_receipt_issuing_levels],
        help_text=_("Separati da virgola, tra national, region, federation, circolo."),
    )  # F3
    receipt_number_format = models.CharField(
        _("formato del numero di ricevuta"),
        max_length=40,
        default=DEFAULT_RULES.receipt_number_format,
        validators=[validate_receipt_number_format],
        help_text=_("Con {year} (l'anno) e {number} (il progressivo), es. {year}/{number:06d}."),
    )  # F3
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
            register_deadline_months=self.register_deadline_months,
            election_deadline_days=self.election_deadline_days,
            election_period_months=self.election_period_months,
            receipt_issuing_levels=self.receipt_issuing_levels,
            receipt_number_format=self.receipt_number_format,
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


# --- The donor register (rules F1, F2, F5, F14, F15; issue 13) ------------------------------------
# Services in kind, election periods, the register's entries (materialised by
# `compliance.register.actions.refresh_register`) and its immutable published versions.
# See docs/dev/register.md.


class InKindQuerySet(ScopedQuerySet["InKindContribution"]):
    scope_path_field = "territory__path"


class InKindContribution(models.Model):
    """A service or good given to the party, valued by the treasurer with its evidence (rule F1:
    money *and* services count toward the register; F6: toward the cap). Never traceable (F7/F8)."""

    person = models.ForeignKey(
        "people.Person", on_delete=models.PROTECT, related_name="in_kind_contributions", verbose_name=_("chi dona")
    )
    territory = models.ForeignKey(
        "territory.Territory", on_delete=models.PROTECT, related_name="+", verbose_name=_("struttura che riceve")
    )
    description = models.CharField(_("descrizione del bene o servizio"), max_length=300)
    value_cents = models.BigIntegerField(_("valore (centesimi)"))
    received_on = models.DateField(_("data in cui è stato ricevuto"))
    evidence = models.FileField(
        _("documento di valutazione"), upload_to="compliance/in_kind/%Y/", storage=private_storage
    )
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    objects = InKindQuerySet.as_manager()

    class Meta:
        ordering = ["-received_on", "-id"]
        verbose_name = _("contributo in natura")
        verbose_name_plural = _("contributi in natura")
        constraints = [
            models.CheckConstraint(condition=models.Q(value_cents__gt=0), name="inkind_value_positive"),
        ]

    def __str__(self) -> str:
        return self.description


class ElectionPeriodKind(models.TextChoices):
    DISSOLUTION = "dissolution", _("Scioglimento di una Camera")
    ELECTION = "election", _("Mesi prima di un'elezione")


class ElectionPeriodQuerySet(ScopedQuerySet["ElectionPeriod"]):
    scope_path_field = "territory__path"


class ElectionPeriod(models.Model):
    """Rule F1: while a Chamber is dissolved, or in the months before an election, register
    entries are due within a few days of receipt (parameters) for the territories concerned."""

    territory = models.ForeignKey(
        "territory.Territory", on_delete=models.PROTECT, related_name="+", verbose_name=_("territorio")
    )
    kind = models.CharField(_("tipo"), max_length=12, choices=ElectionPeriodKind.choices)
    description = models.CharField(_("descrizione"), max_length=200)
    starts_on = models.DateField(_("dal"))
    ends_on = models.DateField(_("al"))
    election_day = models.DateField(_("giorno delle elezioni"))
    declared_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    objects = ElectionPeriodQuerySet.as_manager()

    class Meta:
        ordering = ["-starts_on", "-id"]
        verbose_name = _("periodo elettorale")
        verbose_name_plural = _("periodi elettorali")
        constraints = [
            models.CheckConstraint(condition=models.Q(ends_on__gte=models.F("starts_on")), name="period_ends_after"),
        ]

    def __str__(self) -> str:
        return self.description


class RegisterEntryQuerySet(ScopedQuerySet["RegisterEntry"]):
    scope_path_field = "entity__path"


class RegisterEntry(models.Model):
    """One donor above the threshold in one year for one receiving entity (rules F1, F14).

    Derived from `contribution_lines` by `refresh_register` (idempotent); `donor_name` is copied
    at refresh so the board and the publication read one table. Never edited by hand.
    """

    year = models.PositiveSmallIntegerField()
    entity = models.ForeignKey("territory.Territory", on_delete=models.PROTECT, related_name="+")
    # A natural person, or (rule F13) none: then a legal person known by `entity_code`, whose
    # legal representative only signs (`signatory`); `donor_name` is then the company's name.
    person = models.ForeignKey(
        "people.Person", null=True, blank=True, on_delete=models.PROTECT, related_name="register_entries"
    )
    entity_code = models.CharField(max_length=16, blank=True, default="")
    signatory = models.ForeignKey("people.Person", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    donor_name = models.CharField(max_length=210)
    total_cents = models.BigIntegerField()
    crossed_on = models.DateField()  # receipt of the contribution that crossed the threshold
    refreshed_at = models.DateTimeField(default=timezone.now)

    objects = RegisterEntryQuerySet.as_manager()

    class Meta:
        ordering = ["year", "entity", "donor_name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["year", "entity", "person"], name="registerentry_one_per_donor"),
            models.UniqueConstraint(
                fields=["year", "entity", "entity_code"],
                condition=~models.Q(entity_code=""),
                name="registerentry_one_per_legal_donor",
            ),
            models.CheckConstraint(
                condition=models.Q(person__isnull=False) | ~models.Q(entity_code=""),
                name="registerentry_person_or_entity",
            ),
        ]

    @property
    def is_legal_person(self) -> bool:
        return bool(self.entity_code)

    def __str__(self) -> str:
        return f"{self.year} · {self.donor_name}"


class RegisterItem(models.Model):
    """One contribution of a register entry: amount, date received, channel, and its deadline."""

    entry = models.ForeignKey(RegisterEntry, on_delete=models.CASCADE, related_name="items")
    source = models.CharField(max_length=40)  # the line's source ("funding.donation", …)
    source_id = models.BigIntegerField()
    kind = models.CharField(max_length=10)  # "donation" or "fee"
    method = models.CharField(max_length=20)  # the channel
    amount_cents = models.BigIntegerField()
    received_on = models.DateField()
    due_on = models.DateField()
    in_election_period = models.BooleanField(default=False)
    published_on = models.DateField(null=True, blank=True)
    resolution_on = models.DateField(null=True, blank=True)  # rule F13: the board resolution's date

    class Meta:
        ordering = ["received_on", "id"]
        constraints = [
            models.UniqueConstraint(fields=["entry", "source", "source_id"], name="registeritem_one_per_line"),
        ]

    def __str__(self) -> str:
        return f"{self.source}:{self.source_id}"


class RegisterPublicationQuerySet(ScopedQuerySet["RegisterPublication"]):
    scope_path_field = "entity__path"


class RegisterPublication(models.Model):
    """One published version of an entity's register for a year (rules F1, F2): immutable; a
    correction is the next version. The public page shows the latest and links to the others."""

    entity = models.ForeignKey("territory.Territory", on_delete=models.PROTECT, related_name="+")
    year = models.PositiveSmallIntegerField()
    version = models.PositiveIntegerField()
    published_at = models.DateTimeField(default=timezone.now)
    published_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+")
    note = models.CharField(_("nota sulla versione"), max_length=300, blank=True)
    digest = models.CharField(max_length=64)  # of the rows, to tell whether the register changed since
    total_cents = models.BigIntegerField(default=0)

    objects = RegisterPublicationQuerySet.as_manager()

    class Meta:
        ordering = ["entity", "year", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["entity", "year", "version"], name="registerpublication_one_version"),
        ]

    def __str__(self) -> str:
        return f"{self.entity_id} · {self.year} · v{self.version}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise ValueError("a published register is never edited: publish a new version")
        super().save(*args, **kwargs)


class PublishedRow(models.Model):
    """One donor of a published version, as it was published (name, total, contributions)."""

    publication = models.ForeignKey(RegisterPublication, on_delete=models.PROTECT, related_name="rows")
    position = models.PositiveIntegerField()
    person = models.ForeignKey("people.Person", null=True, on_delete=models.PROTECT, related_name="+")
    entity_code = models.CharField(max_length=16, blank=True, default="")  # rule F13: a legal person's VAT
    donor_name = models.CharField(max_length=210)
    total_cents = models.BigIntegerField()
    # [{"received_on": "YYYY-MM-DD", "amount_cents": int, "kind": "donation"|"fee", "method": "card"…}]
    items = models.JSONField(default=list)

    class Meta:
        ordering = ["publication", "position"]
        constraints = [
            models.UniqueConstraint(fields=["publication", "position"], name="publishedrow_one_position"),
        ]

    def __str__(self) -> str:
        return self.donor_name

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise ValueError("a published row is never edited: publish a new version")
        super().save(*args, **kwargs)


# --- Receipts (rule F3, issue 13): numbered, immutable documents ------------------------------
# Convention 10 (pretix invoices): one gap-free sequence per issuing entity per calendar year, the
# donor's data copied in at issue, corrections only by a numbered cancellation referring to the
# original. The table is append-only (PostgreSQL and SQLite triggers, `piazza.core.db.append_only`).


class ReceiptCounter(models.Model):
    """The last number an issuing entity gave in a year. Bumped with UPDATE … RETURNING (the row lock
    and the new number in one statement) in the transaction that records the contribution: a
    rollback gives the number back (never a sequence, which would leave a gap)."""

    entity = models.ForeignKey("territory.Territory", on_delete=models.PROTECT, related_name="+")
    year = models.PositiveSmallIntegerField()
    last_number = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name = _("contatore delle ricevute")
        verbose_name_plural = _("contatori delle ricevute")
        constraints = [models.UniqueConstraint(fields=["entity", "year"], name="receiptcounter_one_per_entity_year")]

    def __str__(self) -> str:
        return f"{self.entity_id}/{self.year}: {self.last_number}"


class ReceiptKind(models.TextChoices):
    RECEIPT = "receipt", _("Ricevuta")
    CANCELLATION = "cancellation", _("Nota di storno")


class ReceiptQuerySet(ScopedQuerySet["Receipt"]):
    # An official sees the receipts of money received inside their territory (a circolo's
    # treasurer the circolo's own, even though its federation issues them).
    scope_path_field = "territory__path"


class Receipt(models.Model):
    """One numbered receipt per contribution line (source row × receiving territory), or one
    numbered cancellation (nota di storno) of part or all of one. Never updated, never deleted."""

    kind = models.CharField(max_length=12, choices=ReceiptKind.choices, default=ReceiptKind.RECEIPT)
    entity = models.ForeignKey(
        "territory.Territory", on_delete=models.PROTECT, related_name="+", verbose_name=_("ente emittente")
    )
    year = models.PositiveSmallIntegerField(_("anno"))
    number = models.PositiveIntegerField(_("progressivo"))
    display_number = models.CharField(_("numero"), max_length=30)
    territory = models.ForeignKey(
        "territory.Territory", on_delete=models.PROTECT, related_name="+", verbose_name=_("ente ricevente")
    )
    # The contribution line: `contributions.ContributionLine.source` / `source_id`.
    source = models.CharField(max_length=60)
    source_id = models.BigIntegerField()
    # The person at issue, as a plain id (not a foreign key): a merge of two records re-points
    # foreign keys, which this immutable row must never see; the space reads merged ids too.
    donor_person_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    # Copied at issue (convention 10): what the receipt says, whatever the records say later.
    donor_name = models.CharField(_("ricevuto da"), max_length=200, blank=True)
    donor_codice_fiscale = models.CharField(_("codice fiscale"), max_length=16, blank=True)
    donor_address = models.CharField(_("indirizzo"), max_length=300, blank=True)
    amount_cents = models.BigIntegerField(_("importo (centesimi)"))
    currency = models.CharField(max_length=3, default="EUR")
    received_at = models.DateTimeField(_("data del versamento"))
    method = models.CharField(_("mezzo di pagamento"), max_length=20)
    purpose = models.CharField(_("causale"), max_length=200, blank=True)
    traceable = models.BooleanField(_("pagamento tracciabile"))  # rule F8
    tax_note = models.TextField(_("nota fiscale"), blank=True)  # rules F7/F8, the words as printed
    cancels = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="cancellations")
    # Idempotency of a cancellation: the refund or dispute it answers ("refund:12", "dispute:3").
    cancel_key = models.CharField(max_length=60, blank=True)
    reason = models.CharField(_("motivo"), max_length=200, blank=True)
    issued_at = models.DateTimeField(_("emessa il"), default=timezone.now)

    objects = ReceiptQuerySet.as_manager()

    class Meta:
        ordering = ["-issued_at", "-id"]
        verbose_name = _("ricevuta")
        verbose_name_plural = _("ricevute")
        indexes = [models.Index(fields=["source", "source_id"], name="receipt_source")]
        constraints = [
            # Gap-free and never twice: one number per entity and year.
            models.UniqueConstraint(fields=["entity", "year", "number"], name="receipt_number_unique"),
            # A replayed webhook never issues twice: one receipt per contribution line.
            models.UniqueConstraint(
                fields=["source", "source_id", "territory"],
                condition=models.Q(kind="receipt"),
                name="receipt_one_per_line",
            ),
            models.UniqueConstraint(
                fields=["cancels", "cancel_key"],
                condition=models.Q(kind="cancellation"),
                name="receipt_one_cancellation_per_reversal",
            ),
            models.CheckConstraint(condition=models.Q(amount_cents__gt=0), name="receipt_amount_positive"),
            models.CheckConstraint(condition=models.Q(number__gt=0), name="receipt_number_positive"),
            models.CheckConstraint(
                condition=(models.Q(kind="receipt", cancels__isnull=True))
                | (models.Q(kind="cancellation", cancels__isnull=False) & ~models.Q(cancel_key="")),
                name="receipt_cancellation_refers_to_original",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} n. {self.display_number}"

    @property
    def is_cancellation(self) -> bool:
        return self.kind == ReceiptKind.CANCELLATION


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
