"""Bank rails: our bank accounts, SEPA mandates and collections, expected transfers, imported
statement lines and payouts. Every amount is integer cents + currency (convention 3); every
write goes through `actions.py`; every row hangs below a territory for scoping.

State fields here are workflow states; money totals come from the ledger.
"""

from __future__ import annotations

import calendar
import datetime
import hashlib
import uuid
from typing import cast

from django.conf import settings
from django.core.files.storage import Storage
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from piazza.core.files import private_store
from piazza.core.money import AmountCentsField, CurrencyField, MoneyProperty
from piazza.territory.scoping import ScopedQuerySet

# 36 months without a collection and a SEPA mandate lapses (EPC SDD Core rulebook 4.1).
MANDATE_EXPIRY_MONTHS = 36


def private_storage() -> Storage:
    """Where scans, declarations, receipts and exports live (the `private` store of
    settings.STORAGES, `piazza.core.files`): never under the public media URL; each is served only
    by a scoped view that audits the access (rule G4). Named here because migrations refer to it."""
    return cast(Storage, private_store)


class BankAccountQuerySet(ScopedQuerySet["BankAccount"]):
    scope_path_field = "territory__path"


class BankAccount(models.Model):
    """A bank account of a party entity: statements arrive for it, batches are sent from it.

    An entity that collects by direct debit has its own SEPA creditor identifier and its own
    pre-notification lead time (issue 5: lead days configurable, default 14).
    """

    territory = models.ForeignKey("territory.Territory", on_delete=models.PROTECT, related_name="bank_accounts")
    name = models.CharField(_("intestazione"), max_length=140)
    iban = models.CharField(_("IBAN"), max_length=34, unique=True)
    bic = models.CharField(_("BIC"), max_length=11, blank=True)
    creditor_id = models.CharField(_("identificativo creditore SEPA"), max_length=35, blank=True)
    prenotification_days = models.PositiveSmallIntegerField(
        _("giorni di preavviso degli addebiti"),
        default=14,
        help_text=_("Il debitore riceve l'avviso almeno questi giorni prima dell'addebito."),
    )
    ledger_account = models.OneToOneField("ledger.Account", on_delete=models.PROTECT, related_name="bank_account")
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    objects = BankAccountQuerySet.as_manager()

    class Meta:
        ordering = ["territory__path", "name"]
        verbose_name = _("conto bancario")
        verbose_name_plural = _("conti bancari")

    def __str__(self) -> str:
        return f"{self.name} ({self.iban[-4:]})"


class PayeeQuerySet(ScopedQuerySet["Payee"]):
    scope_path_field = "territory__path"


class Payee(models.Model):
    """A registered bank account money may be paid out to (a circolo, a supplier, a mandatario)."""

    territory = models.ForeignKey("territory.Territory", on_delete=models.PROTECT, related_name="payees")
    name = models.CharField(_("beneficiario"), max_length=140)
    iban = models.CharField(_("IBAN"), max_length=34)
    bic = models.CharField(_("BIC"), max_length=11, blank=True)
    registered_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    objects = PayeeQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        verbose_name = _("beneficiario registrato")
        verbose_name_plural = _("beneficiari registrati")
        constraints = [models.UniqueConstraint(fields=["territory", "iban"], name="bank_payee_unique_iban")]

    def __str__(self) -> str:
        return self.name


class MandateStatus(models.TextChoices):
    ACTIVE = "active", _("Attivo")
    AMENDED = "amended", _("Modificato (da comunicare alla banca col prossimo addebito)")
    SUSPENDED = "suspended", _("Sospeso: servono nuove coordinate")
    REVOKED = "revoked", _("Revocato")
    EXPIRED = "expired", _("Scaduto (36 mesi senza addebiti)")


USABLE_MANDATE_STATUSES = {MandateStatus.ACTIVE, MandateStatus.AMENDED}


class MandateChannel(models.TextChoices):
    ONLINE = "online", _("Modulo online")
    PAPER = "paper", _("Modulo cartaceo firmato al circolo")


class MandateQuerySet(ScopedQuerySet["Mandate"]):
    scope_path_field = "territory__path"


class Mandate(models.Model):
    """A SEPA Core direct-debit mandate. Its reference never changes, so amendments keep every
    collection, schedule and payable linked (issue 5)."""

    reference = models.CharField(_("riferimento del mandato"), max_length=35, unique=True)
    creditor = models.ForeignKey(BankAccount, on_delete=models.PROTECT, related_name="mandates")
    territory = models.ForeignKey("territory.Territory", on_delete=models.PROTECT, related_name="+")
    debtor_name = models.CharField(_("intestatario del conto"), max_length=140)
    debtor_email = models.EmailField(_("email"), blank=True)
    debtor_iban = models.CharField(_("IBAN"), max_length=34)
    debtor_bic = models.CharField(_("BIC"), max_length=11, blank=True)
    signed_on = models.DateField(_("data di firma"))
    channel = models.CharField(_("canale"), max_length=10, choices=MandateChannel.choices)
    consent_text = models.TextField(_("testo del consenso accettato"))
    paper_scan = models.FileField(
        _("scansione del modulo"), upload_to="bank/mandates/%Y/", blank=True, storage=private_storage
    )
    status = models.CharField(
        _("stato"), max_length=10, choices=MandateStatus.choices, default=MandateStatus.ACTIVE, db_index=True
    )
    status_reason = models.CharField(max_length=300, blank=True)
    last_collected_on = models.DateField(null=True, blank=True)
    # Amendment data to send with the next collection (EPC AT-24), cleared once exported.
    pending_original_iban = models.CharField(max_length=34, blank=True)
    pending_new_bank = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    objects = MandateQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("mandato SEPA")
        verbose_name_plural = _("mandati SEPA")

    def __str__(self) -> str:
        return f"{self.reference} · {self.debtor_name}"

    @property
    def usable(self) -> bool:
        return self.status in USABLE_MANDATE_STATUSES

    def lapses_on(self) -> datetime.date:
        """36 months after the last collection (or the signature, if never used)."""
        start = self.last_collected_on or self.signed_on
        month = start.month - 1 + MANDATE_EXPIRY_MONTHS
        year, month = start.year + month // 12, month % 12 + 1
        # The same day 36 months on, or the month's last day (signed on 29 February, 31 January).
        return datetime.date(year, month, min(start.day, calendar.monthrange(year, month)[1]))


class MandateAmendment(models.Model):
    """History of a mandate's changes: who changed what, when (never edited)."""

    mandate = models.ForeignKey(Mandate, on_delete=models.PROTECT, related_name="amendments")
    old_debtor_name = models.CharField(max_length=140)
    new_debtor_name = models.CharField(max_length=140)
    old_iban = models.CharField(max_length=34)
    new_iban = models.CharField(max_length=34)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.mandate_id} {self.created_at:%Y-%m-%d}"


class BatchStatus(models.TextChoices):
    OPEN = "open", _("In preparazione")
    EXPORTED = "exported", _("Esportato per la banca")
    SETTLED = "settled", _("Accreditato")


class CollectionBatchQuerySet(ScopedQuerySet["CollectionBatch"]):
    scope_path_field = "territory__path"


class CollectionBatch(models.Model):
    """One pain.008 file: one creditor, one due date. Immutable once exported: the XML is
    stored with its hash and the same bytes are downloaded every time."""

    creditor = models.ForeignKey(BankAccount, on_delete=models.PROTECT, related_name="collection_batches")
    territory = models.ForeignKey("territory.Territory", on_delete=models.PROTECT, related_name="+")
    due_date = models.DateField(_("data di addebito"))
    status = models.CharField(max_length=10, choices=BatchStatus.choices, default=BatchStatus.OPEN)
    message_id = models.CharField(max_length=35, unique=True)
    xml = models.BinaryField(null=True, editable=False)
    xml_sha256 = models.CharField(max_length=64, blank=True)
    schema = models.CharField(max_length=20, blank=True)
    exported_at = models.DateTimeField(null=True, blank=True)
    exported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    objects = CollectionBatchQuerySet.as_manager()

    class Meta:
        ordering = ["-due_date", "-id"]
        verbose_name = _("distinta di addebiti SEPA")
        verbose_name_plural = _("distinte di addebiti SEPA")
        constraints = [
            models.UniqueConstraint(
                fields=["creditor", "due_date"], condition=Q(status="open"), name="bank_one_open_batch_per_creditor_day"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.message_id} · {self.due_date}"

    @property
    def is_exported(self) -> bool:
        return self.status != BatchStatus.OPEN

    def payment_information_ids(self) -> list[str]:
        return [f"{self.message_id}-DD{i}" for i in range(1, 5)]

    @staticmethod
    def digest(xml: bytes) -> str:
        return hashlib.sha256(xml).hexdigest()


class CollectionStatus(models.TextChoices):
    SCHEDULED = "scheduled", _("Programmato (preavviso inviato)")
    BATCHED = "batched", _("In distinta")
    EXPORTED = "exported", _("Inviato alla banca")
    COLLECTED = "collected", _("Incassato")
    FAILED = "failed", _("Respinto")
    CANCELLED = "cancelled", _("Annullato")


class CollectionQuerySet(ScopedQuerySet["Collection"]):
    scope_path_field = "territory__path"


class Collection(models.Model):
    """One direct debit of one mandate on one due date (from a recurring schedule or one-off)."""

    mandate = models.ForeignKey(Mandate, on_delete=models.PROTECT, related_name="collections")
    territory = models.ForeignKey("territory.Territory", on_delete=models.PROTECT, related_name="+")
    batch = models.ForeignKey(
        CollectionBatch, null=True, blank=True, on_delete=models.PROTECT, related_name="collections"
    )
    amount_cents = AmountCentsField()
    currency = CurrencyField()
    amount = MoneyProperty("amount_cents", "currency")
    due_date = models.DateField(_("data di addebito"))
    description = models.CharField(_("causale"), max_length=140)
    sequence = models.CharField(max_length=4, blank=True)  # FRST/RCUR/OOFF, fixed when batched
    end_to_end_id = models.CharField(max_length=35, unique=True)
    creation_key = models.CharField(
        max_length=200, unique=True, help_text=_("Chiave deterministica di chi crea l'addebito.")
    )
    credit_account = models.ForeignKey("ledger.Account", on_delete=models.PROTECT, related_name="+")
    recurring = models.BooleanField(default=False)
    payment = models.ForeignKey(
        "payments.Payment",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="sepa_collections",
        help_text=_("Il pagamento che questo addebito salda (circuito sepa_dd)."),
    )
    status = models.CharField(
        max_length=10, choices=CollectionStatus.choices, default=CollectionStatus.SCHEDULED, db_index=True
    )
    prenotified_at = models.DateTimeField(null=True, blank=True)
    attempt = models.PositiveSmallIntegerField(default=1)
    retry_of = models.OneToOneField("self", null=True, blank=True, on_delete=models.PROTECT, related_name="retry")
    return_reason = models.CharField(max_length=4, blank=True)
    ledger_transaction = models.ForeignKey(
        "ledger.LedgerTransaction", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    objects = CollectionQuerySet.as_manager()

    class Meta:
        ordering = ["due_date", "id"]
        verbose_name = _("addebito SEPA")
        verbose_name_plural = _("addebiti SEPA")
        indexes = [models.Index(fields=["status", "due_date"])]
        constraints = [models.CheckConstraint(condition=Q(amount_cents__gt=0), name="bank_collection_positive")]

    def __str__(self) -> str:
        return f"{self.end_to_end_id} {self.amount}"


class TransferStatus(models.TextChoices):
    AWAITING = "awaiting", _("In attesa del bonifico")
    PARTIAL = "partial", _("Pagato in parte")
    PAID = "paid", _("Pagato")
    OVERPAID = "overpaid", _("Pagato in eccesso")
    CANCELLED = "cancelled", _("Annullato")


class ExpectedTransferQuerySet(ScopedQuerySet["ExpectedTransfer"]):
    scope_path_field = "territory__path"


class ExpectedTransfer(models.Model):
    """A bank transfer we are waiting for, identified by its ISO 11649 RF reference."""

    reference = models.CharField(_("riferimento RF"), max_length=25, unique=True)
    account = models.ForeignKey(BankAccount, on_delete=models.PROTECT, related_name="expected_transfers")
    territory = models.ForeignKey("territory.Territory", on_delete=models.PROTECT, related_name="+")
    amount_cents = AmountCentsField()
    currency = CurrencyField()
    amount = MoneyProperty("amount_cents", "currency")
    payer_name = models.CharField(_("nome di chi paga"), max_length=140)
    payer_email = models.EmailField(blank=True)
    description = models.CharField(_("causale"), max_length=140)
    credit_account = models.ForeignKey("ledger.Account", on_delete=models.PROTECT, related_name="+")
    creation_key = models.CharField(max_length=200, unique=True)
    payment = models.ForeignKey(
        "payments.Payment",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="expected_transfers",
        help_text=_("Il pagamento che questo bonifico salda (circuito bank_transfer)."),
    )
    status = models.CharField(
        max_length=10, choices=TransferStatus.choices, default=TransferStatus.AWAITING, db_index=True
    )
    received_cents = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    objects = ExpectedTransferQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("bonifico atteso")
        verbose_name_plural = _("bonifici attesi")
        indexes = [models.Index(fields=["status", "amount_cents"])]
        constraints = [models.CheckConstraint(condition=Q(amount_cents__gt=0), name="bank_transfer_positive")]

    def __str__(self) -> str:
        return f"{self.reference} {self.amount}"

    @property
    def outstanding_cents(self) -> int:
        return max(self.amount_cents - self.received_cents, 0)


class ImportStatus(models.TextChoices):
    PENDING = "pending", _("In coda")
    RUNNING = "running", _("In corso")
    DONE = "done", _("Completata")
    FAILED = "failed", _("Non riuscita")


class StatementImportQuerySet(ScopedQuerySet["StatementImport"]):
    scope_path_field = "territory__path"


class StatementImport(models.Model):
    """One uploaded or dropped statement file (kept, hashed) and what it did, per account.

    An upload is checked at once (a bad file is refused in the form) and its lines are stored
    and matched in the background (`tasks.process_statement_import`); `upload_id` groups the
    imports of one file for the progress page.
    """

    account = models.ForeignKey(BankAccount, null=True, blank=True, on_delete=models.PROTECT, related_name="imports")
    territory = models.ForeignKey("territory.Territory", on_delete=models.PROTECT, related_name="+")
    filename = models.CharField(max_length=255)
    sha256 = models.CharField(max_length=64, db_index=True)
    format = models.CharField(max_length=20)
    message_id = models.CharField(max_length=140, blank=True)
    source = models.CharField(max_length=10, default="upload")  # upload, folder
    content = models.BinaryField(editable=False)
    imported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    upload_id = models.UUIDField(default=uuid.uuid4, db_index=True, editable=False)
    status = models.CharField(max_length=10, choices=ImportStatus.choices, default=ImportStatus.PENDING)
    processed_lines = models.PositiveIntegerField(default=0)
    error = models.CharField(max_length=500, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    line_count = models.PositiveIntegerField(default=0)
    new_lines = models.PositiveIntegerField(default=0)
    duplicate_lines = models.PositiveIntegerField(default=0)
    # Lines of this file still waiting for a treasurer when the import ended, also those an
    # earlier upload of the same movements stored (issue 11, item 15).
    waiting_lines = models.PositiveIntegerField(default=0)
    warnings = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    objects = StatementImportQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("importazione di estratto conto")
        verbose_name_plural = _("importazioni di estratti conto")

    def __str__(self) -> str:
        return self.filename

    @property
    def progress_percent(self) -> int:
        if self.status == ImportStatus.DONE or not self.line_count:
            return 100 if self.status == ImportStatus.DONE else 0
        return min(100, self.processed_lines * 100 // self.line_count)

    @property
    def finished(self) -> bool:
        return self.status in (ImportStatus.DONE, ImportStatus.FAILED)


class LineStatus(models.TextChoices):
    MATCHED = "matched", _("Abbinato")
    QUEUED = "queued", _("Da abbinare")
    REJECTED = "rejected", _("Scartato")


class MatchKind(models.TextChoices):
    TRANSFER = "transfer", _("Bonifico atteso")
    COLLECTION_BATCH = "batch", _("Distinta SEPA accreditata")
    COLLECTION_RETURN = "return", _("Addebito SEPA respinto")
    PAYOUT = "payout", _("Versamento in uscita")
    BANK_FEE = "fee", _("Commissioni bancarie")


class StatementLineQuerySet(ScopedQuerySet["StatementLine"]):
    scope_path_field = "territory__path"


class StatementLine(models.Model):
    """One movement of our bank account, stored once whatever file brought it (fingerprint).

    It ends matched (and booked), queued for a person, or rejected with a reason: never lost.
    """

    account = models.ForeignKey(BankAccount, on_delete=models.PROTECT, related_name="lines")
    territory = models.ForeignKey("territory.Territory", on_delete=models.PROTECT, related_name="+")
    statement_import = models.ForeignKey(StatementImport, on_delete=models.PROTECT, related_name="lines")
    fingerprint = models.CharField(max_length=64)
    statement_id = models.CharField(max_length=140, blank=True)
    position = models.CharField(max_length=20)
    direction = models.CharField(max_length=6)  # credit / debit
    amount_cents = AmountCentsField()
    currency = CurrencyField()
    amount = MoneyProperty("amount_cents", "currency")
    booking_date = models.DateField(null=True, blank=True, db_index=True)
    value_date = models.DateField(null=True, blank=True)
    counterparty_name = models.CharField(max_length=140, blank=True, db_index=True)
    counterparty_iban = models.CharField(max_length=34, blank=True)
    remittance = models.CharField(max_length=500, blank=True)
    creditor_reference = models.CharField(max_length=35, blank=True, db_index=True)
    end_to_end_id = models.CharField(max_length=35, blank=True, db_index=True)
    mandate_id = models.CharField(max_length=35, blank=True)
    payment_information_id = models.CharField(max_length=35, blank=True)
    bank_reference = models.CharField(max_length=140, blank=True)
    return_reason = models.CharField(max_length=4, blank=True)
    bank_transaction_code = models.CharField(max_length=40, blank=True)
    status = models.CharField(max_length=10, choices=LineStatus.choices, db_index=True)
    reason = models.CharField(_("motivo"), max_length=300, blank=True)
    confidence = models.PositiveSmallIntegerField(default=0)  # 0–100, for automatic matches
    suggestion = models.ForeignKey(ExpectedTransfer, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    match_kind = models.CharField(max_length=10, choices=MatchKind.choices, blank=True)
    transfer = models.ForeignKey(
        ExpectedTransfer, null=True, blank=True, on_delete=models.PROTECT, related_name="lines"
    )
    batch = models.ForeignKey(CollectionBatch, null=True, blank=True, on_delete=models.PROTECT, related_name="lines")
    collection = models.ForeignKey(Collection, null=True, blank=True, on_delete=models.PROTECT, related_name="lines")
    payout = models.ForeignKey("Payout", null=True, blank=True, on_delete=models.PROTECT, related_name="lines")
    matched_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    matched_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    objects = StatementLineQuerySet.as_manager()

    class Meta:
        ordering = ["-booking_date", "id"]
        verbose_name = _("movimento di estratto conto")
        verbose_name_plural = _("movimenti di estratto conto")
        constraints = [
            models.UniqueConstraint(fields=["account", "fingerprint"], name="bank_line_once_per_account"),
        ]
        indexes = [models.Index(fields=["account", "status"]), models.Index(fields=["amount_cents", "status"])]

    def __str__(self) -> str:
        return f"{self.booking_date} {self.direction} {self.amount} {self.counterparty_name}"


class PayoutStatus(models.TextChoices):
    REQUESTED = "requested", _("Richiesto, da approvare")
    APPROVED = "approved", _("Approvato, da esportare")
    EXPORTED = "exported", _("Esportato per la banca")
    CONFIRMED = "confirmed", _("Confermato dall'estratto conto")
    REJECTED = "rejected", _("Respinto")


class PayoutBatchQuerySet(ScopedQuerySet["PayoutBatch"]):
    scope_path_field = "territory__path"


class PayoutBatch(models.Model):
    """One pain.001 file of approved payouts from one bank account; immutable once made."""

    account = models.ForeignKey(BankAccount, on_delete=models.PROTECT, related_name="payout_batches")
    territory = models.ForeignKey("territory.Territory", on_delete=models.PROTECT, related_name="+")
    execution_date = models.DateField()
    message_id = models.CharField(max_length=35, unique=True)
    xml = models.BinaryField(editable=False)
    xml_sha256 = models.CharField(max_length=64)
    schema = models.CharField(max_length=20)
    exported_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    objects = PayoutBatchQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.message_id


class PayoutQuerySet(ScopedQuerySet["Payout"]):
    scope_path_field = "territory__path"


class Payout(models.Model):
    """Money leaving the platform: from a ledger account to a registered payee, four eyes."""

    source_account = models.ForeignKey("ledger.Account", on_delete=models.PROTECT, related_name="+")
    bank_account = models.ForeignKey(BankAccount, on_delete=models.PROTECT, related_name="payouts")
    payee = models.ForeignKey(Payee, on_delete=models.PROTECT, related_name="payouts")
    territory = models.ForeignKey("territory.Territory", on_delete=models.PROTECT, related_name="+")
    amount_cents = AmountCentsField()
    currency = CurrencyField()
    amount = MoneyProperty("amount_cents", "currency")
    description = models.CharField(_("causale"), max_length=140)
    end_to_end_id = models.CharField(max_length=35, unique=True)
    status = models.CharField(
        max_length=10, choices=PayoutStatus.choices, default=PayoutStatus.REQUESTED, db_index=True
    )
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    approved_at = models.DateTimeField(null=True, blank=True)
    batch = models.ForeignKey(PayoutBatch, null=True, blank=True, on_delete=models.PROTECT, related_name="payouts")
    reserve_transaction = models.ForeignKey(
        "ledger.LedgerTransaction", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    objects = PayoutQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("versamento in uscita")
        verbose_name_plural = _("versamenti in uscita")
        constraints = [
            models.CheckConstraint(condition=Q(amount_cents__gt=0), name="bank_payout_positive"),
            models.CheckConstraint(
                condition=Q(approved_by__isnull=True) | ~Q(approved_by=models.F("requested_by")),
                name="bank_payout_four_eyes",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.end_to_end_id} {self.amount} → {self.payee}"
