"""Payments as state machines with an event table (conventions 5–7).

A `Payment` pays for a *payable* (a donation, a membership fee) held by a higher app through a
generic reference; the payable's handler is called on each outcome (see `payables.py`). Its
`PaymentAllocation` rows say which ledger accounts receive the money; they are booked on
success. Totals (refunded, disputed) are derived from `Refund` and `Dispute` rows and the
ledger, never stored in an editable column.
"""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from piazza.core.money import AmountCentsField, CurrencyField, Money, MoneyProperty
from piazza.payments.providers.registry import get_provider
from piazza.territory.scoping import ScopedQuerySet


def new_token() -> str:
    return secrets.token_urlsafe(24)


def token_digest(raw: str) -> str:
    """What we keep of a bearer token: its SHA-256 (the token itself lives only in a cookie or an email)."""
    return hashlib.sha256(raw.encode()).hexdigest()


class State(models.TextChoices):
    CREATED = "created", _("Creato")
    PENDING = "pending", _("In corso")
    SUCCEEDED = "succeeded", _("Riuscito")
    FAILED = "failed", _("Non riuscito")
    CANCELED = "canceled", _("Annullato")
    PARTIALLY_REFUNDED = "partially_refunded", _("Rimborsato in parte")
    REFUNDED = "refunded", _("Rimborsato")
    DISPUTED = "disputed", _("Contestato")
    CHARGED_BACK = "charged_back", _("Stornato (contestazione persa)")


# Allowed transitions (convention 5); anything else is refused and recorded.
TRANSITIONS: dict[str, set[str]] = {
    State.CREATED: {State.PENDING, State.SUCCEEDED, State.FAILED, State.CANCELED},
    State.PENDING: {State.SUCCEEDED, State.FAILED, State.CANCELED},
    # A declined card can be retried, and a late success can still arrive.
    State.FAILED: {State.PENDING, State.SUCCEEDED, State.CANCELED},
    State.CANCELED: set(),
    State.SUCCEEDED: {State.PARTIALLY_REFUNDED, State.REFUNDED, State.DISPUTED},
    State.PARTIALLY_REFUNDED: {State.PARTIALLY_REFUNDED, State.REFUNDED, State.DISPUTED},
    State.REFUNDED: set(),
    State.DISPUTED: {State.SUCCEEDED, State.PARTIALLY_REFUNDED, State.REFUNDED, State.CHARGED_BACK},
    State.CHARGED_BACK: set(),
}
# States in which the money was received and is (or was) booked in the ledger.
BOOKED_STATES = {
    State.SUCCEEDED,
    State.PARTIALLY_REFUNDED,
    State.REFUNDED,
    State.DISPUTED,
    State.CHARGED_BACK,
}
OPEN_STATES = {State.CREATED, State.PENDING, State.FAILED}


class PaymentQuerySet(ScopedQuerySet["Payment"]):
    scope_path_field = "territory__path"


class Payment(models.Model):
    token = models.CharField(max_length=40, unique=True, default=new_token, editable=False)
    creation_key = models.CharField(
        max_length=200,
        unique=True,
        help_text=_("Chiave deterministica dell'app che crea il pagamento (es. 'donation:42')."),
    )
    provider = models.CharField(_("circuito"), max_length=30)
    state = models.CharField(_("stato"), max_length=20, choices=State.choices, default=State.CREATED, db_index=True)
    amount_cents = AmountCentsField()
    currency = CurrencyField()
    amount = MoneyProperty("amount_cents", "currency")
    fee_cents = models.BigIntegerField(null=True, blank=True)
    description = models.CharField(_("causale"), max_length=200)
    payable_type = models.ForeignKey(ContentType, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    payable_id = models.CharField(max_length=64, blank=True)
    payer = models.ForeignKey(
        "people.Person", null=True, blank=True, on_delete=models.SET_NULL, related_name="payments"
    )
    payer_name = models.CharField(_("nome di chi paga"), max_length=200, blank=True)
    payer_email = models.EmailField(_("email di chi paga"), blank=True, db_index=True)
    territory = models.ForeignKey(
        "territory.Territory", null=True, blank=True, on_delete=models.PROTECT, related_name="payments"
    )
    schedule = models.ForeignKey(
        "RecurringSchedule", null=True, blank=True, on_delete=models.PROTECT, related_name="payments"
    )
    save_method = models.BooleanField(default=False, help_text=_("Salvare il metodo per addebiti ricorrenti."))
    saved_method = models.ForeignKey(
        "SavedMethod",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="saved_by",
        help_text=_("Il metodo che questo pagamento ha salvato (se chi paga lo ha chiesto)."),
    )
    provider_reference = models.CharField(max_length=120, blank=True, db_index=True)
    provider_customer = models.CharField(max_length=120, blank=True)
    return_url = models.CharField(max_length=500, blank=True)
    failure_code = models.CharField(max_length=60, blank=True)
    failure_message = models.CharField(max_length=300, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    succeeded_at = models.DateTimeField(null=True, blank=True)

    objects = PaymentQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("pagamento")
        verbose_name_plural = _("pagamenti")
        indexes = [
            models.Index(fields=["payable_type", "payable_id"]),
            models.Index(fields=["provider", "provider_reference"]),
            models.Index(fields=["state", "updated_at"]),
        ]
        constraints = [
            models.CheckConstraint(condition=models.Q(amount_cents__gt=0), name="payment_amount_positive"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.amount} {self.get_state_display()}"

    @property
    def provider_label(self) -> str:
        return provider_label(self.provider)

    @property
    def payable(self) -> models.Model | None:
        if self.payable_type_id is None:
            return None
        model = ContentType.objects.get_for_id(self.payable_type_id).model_class()
        if model is None:
            return None
        return model._default_manager.filter(pk=self.payable_id).first()

    def payable_reference(self) -> models.Model | None:
        """The payable as a reference holding only its primary key, read from nowhere: for a
        handler that reads (and locks) the row itself (`PayableHandler.reads_payable_itself`)."""
        if self.payable_type_id is None:
            return None
        model = ContentType.objects.get_for_id(self.payable_type_id).model_class()
        if model is None:
            return None
        return model(pk=model._meta.pk.to_python(self.payable_id))  # type: ignore[union-attr]

    @property
    def payable_label(self) -> str:
        if self.payable_type_id is None:
            return ""
        ct = ContentType.objects.get_for_id(self.payable_type_id)
        return f"{ct.app_label}.{ct.model}"

    def can_move_to(self, state: str) -> bool:
        return state in TRANSITIONS[self.state]

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_STATES

    @property
    def is_booked(self) -> bool:
        return self.state in BOOKED_STATES


class PaymentAllocation(models.Model):
    """Where the money goes: a ledger account and a share; shares sum to the payment amount."""

    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="allocations")
    account = models.ForeignKey("ledger.Account", on_delete=models.PROTECT, related_name="+")
    amount_cents = AmountCentsField()
    currency = CurrencyField()
    amount = MoneyProperty("amount_cents", "currency")

    class Meta:
        constraints = [
            models.CheckConstraint(condition=models.Q(amount_cents__gt=0), name="allocation_amount_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.account}: {self.amount}"


class AttemptState(models.TextChoices):
    STARTED = "started", _("Avviato")
    REQUIRES_ACTION = "requires_action", _("Serve un'azione di chi paga")
    SUCCEEDED = "succeeded", _("Riuscito")
    FAILED = "failed", _("Non riuscito")
    UNKNOWN = "unknown", _("Esito sconosciuto (da riconciliare)")


# An attempt whose charge may still happen: at most one per payment (issue 10, finding 7).
IN_FLIGHT_ATTEMPT_STATES = (AttemptState.STARTED, AttemptState.REQUIRES_ACTION, AttemptState.UNKNOWN)


class PaymentAttempt(models.Model):
    """One try at charging: the unit of idempotency (client key and provider key)."""

    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="attempts")
    number = models.PositiveIntegerField()
    client_key = models.CharField(max_length=100, unique=True, help_text=_("Idempotency-Key del modulo"))
    state = models.CharField(max_length=20, choices=AttemptState.choices, default=AttemptState.STARTED)
    provider_reference = models.CharField(max_length=120, blank=True)
    action_url = models.CharField(max_length=500, blank=True)
    failure_code = models.CharField(max_length=60, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["payment", "number"]
        constraints = [
            models.UniqueConstraint(fields=["payment", "number"], name="payment_attempt_number_unique"),
            # Two tabs or a reload never charge twice: a second attempt opens only when the
            # previous one has an outcome (a partial unique index, on PostgreSQL and SQLite).
            models.UniqueConstraint(
                fields=["payment"],
                condition=models.Q(state__in=[s.value for s in IN_FLIGHT_ATTEMPT_STATES]),
                name="payment_one_attempt_in_flight",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.payment_id}/{self.number} {self.state}"

    @property
    def provider_key(self) -> str:
        """Deterministic provider idempotency key from our own ids (convention 6)."""
        return f"piazza-payment-{self.payment_id}-attempt-{self.number}"


# What each event of a payment's story means, in words (the code stays in the database).
EVENT_LABELS: dict[str, Any] = {
    "created": _("Pagamento creato"),
    "attempt_started": _("Chi paga ha avviato il pagamento"),
    "requires_action": _("La banca chiede una conferma a chi paga"),
    "provider_unreachable": _("Il circuito di pagamento non ha risposto"),
    "succeeded": _("Pagamento riuscito"),
    "failed": _("Pagamento non riuscito"),
    "canceled": _("Pagamento annullato"),
    "denied": _("Pagamento rifiutato"),
    "refund_requested": _("Rimborso richiesto"),
    "refund_failed": _("Rimborso non riuscito"),
    "refunded": _("Rimborso eseguito"),
    "dispute_open": _("Chi ha pagato ha contestato l'addebito"),
    "dispute_won": _("Contestazione vinta"),
    "dispute_lost": _("Contestazione persa"),
}


def provider_label(identifier: str) -> str:
    """The payment circuit's name for people (`sepa_dd` → "Addebito diretto SEPA")."""
    try:
        return str(get_provider(identifier).verbose_name or identifier)
    except LookupError:
        return identifier


class PaymentEvent(models.Model):
    """What happened to a payment, in order; never edited (append-only table)."""

    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="events")
    kind = models.CharField(max_length=40)
    from_state = models.CharField(max_length=20, blank=True)
    to_state = models.CharField(max_length=20, blank=True)
    data = models.JSONField(default=dict, blank=True)
    actor_label = models.CharField(max_length=150, blank=True)
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["at", "id"]
        indexes = [models.Index(fields=["payment", "at"])]

    def __str__(self) -> str:
        return f"{self.payment_id} {self.kind} {self.from_state}→{self.to_state}"

    @property
    def kind_label(self) -> str:
        return str(EVENT_LABELS.get(self.kind, _("Altro evento")))

    @property
    def to_state_label(self) -> str:
        return str(State(self.to_state).label) if self.to_state in State.values else ""

    # The override only refuses updates: a queued INSERT skips nothing (core.write_queue, ADR 0046).
    QUEUE_SAFE_SAVE = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise PermissionDenied("payment events are append-only")
        super().save(*args, **kwargs)


class RefundState(models.TextChoices):
    PENDING = "pending", _("In corso")
    SUCCEEDED = "succeeded", _("Eseguito")
    FAILED = "failed", _("Non riuscito")


class Refund(models.Model):
    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="refunds")
    amount_cents = AmountCentsField()
    currency = CurrencyField()
    amount = MoneyProperty("amount_cents", "currency")
    state = models.CharField(max_length=20, choices=RefundState.choices, default=RefundState.PENDING)
    reason = models.CharField(_("motivo"), max_length=200, blank=True)
    idempotency_key = models.CharField(max_length=200, unique=True)
    provider_reference = models.CharField(max_length=120, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    succeeded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.CheckConstraint(condition=models.Q(amount_cents__gt=0), name="refund_amount_positive"),
            models.UniqueConstraint(
                fields=["payment", "provider_reference"],
                condition=~models.Q(provider_reference=""),
                name="refund_provider_reference_unique",
            ),
        ]

    def __str__(self) -> str:
        return f"refund {self.amount} of {self.payment_id}"


class DuplicateState(models.TextChoices):
    REFUND_PENDING = "refund_pending", _("Rimborso in corso")
    REFUNDED = "refunded", _("Addebito doppio rimborsato automaticamente")
    REFUND_FAILED = "refund_failed", _("Rimborso automatico non riuscito: da rimborsare a mano")


class DuplicateCharge(models.Model):
    """A second successful charge for a payment already paid (issue 10, finding 7).

    The money is booked in (clearing → duplicate charges) and refunded automatically through
    the provider with a deterministic key, then booked out; the treasury sees every one.
    """

    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="duplicate_charges")
    attempt = models.ForeignKey(
        PaymentAttempt, null=True, blank=True, on_delete=models.PROTECT, related_name="duplicate_charges"
    )
    provider = models.CharField(max_length=30)
    provider_reference = models.CharField(max_length=120)
    amount_cents = AmountCentsField()
    currency = CurrencyField()
    amount = MoneyProperty("amount_cents", "currency")
    state = models.CharField(max_length=20, choices=DuplicateState.choices, default=DuplicateState.REFUND_PENDING)
    source = models.CharField(max_length=100, blank=True)
    refund_reference = models.CharField(max_length=120, blank=True)
    error = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    refunded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("addebito doppio")
        verbose_name_plural = _("addebiti doppi")
        constraints = [
            models.CheckConstraint(condition=models.Q(amount_cents__gt=0), name="duplicate_amount_positive"),
            models.UniqueConstraint(fields=["provider", "provider_reference"], name="duplicate_charge_once"),
        ]

    def __str__(self) -> str:
        return f"duplicate {self.provider_reference} of payment {self.payment_id} {self.state}"

    @property
    def refund_key(self) -> str:
        """Deterministic refund idempotency key from our own ids (convention 6)."""
        if self.attempt_id:
            return f"duplicate:{self.attempt_id}"
        return f"duplicate:{self.provider}:{self.provider_reference}"


class DisputeState(models.TextChoices):
    OPEN = "open", _("Aperta")
    WON = "won", _("Vinta")
    LOST = "lost", _("Persa")


class Dispute(models.Model):
    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="disputes")
    provider_reference = models.CharField(max_length=120)
    amount_cents = AmountCentsField()
    currency = CurrencyField()
    amount = MoneyProperty("amount_cents", "currency")
    fee_cents = models.BigIntegerField(default=0)
    state = models.CharField(max_length=10, choices=DisputeState.choices, default=DisputeState.OPEN)
    reason = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["payment", "provider_reference"], name="dispute_reference_unique"),
        ]

    def __str__(self) -> str:
        return f"dispute {self.provider_reference} {self.state}"


class WebhookStatus(models.TextChoices):
    RECEIVED = "received", _("Ricevuto")
    PROCESSED = "processed", _("Applicato")
    IGNORED = "ignored", _("Ignorato (tipo non gestito)")
    UNMATCHED = "unmatched", _("Pagamento sconosciuto")
    FAILED = "failed", _("Errore")


class WebhookEvent(models.Model):
    """Every verified provider notification, stored raw before anything is applied."""

    provider = models.CharField(max_length=30)
    event_id = models.CharField(max_length=200)
    event_type = models.CharField(max_length=100, blank=True)
    payload = models.TextField()
    reference = models.CharField(
        max_length=120, blank=True, help_text=_("Riferimento del pagamento presso il circuito")
    )
    payment_hint = models.CharField(max_length=64, blank=True, help_text=_("Nostro id, se il circuito lo riporta"))
    relevant = models.BooleanField(default=True)
    status = models.CharField(max_length=20, choices=WebhookStatus.choices, default=WebhookStatus.RECEIVED)
    error = models.TextField(blank=True)
    payment = models.ForeignKey(Payment, null=True, blank=True, on_delete=models.PROTECT, related_name="webhooks")
    received_at = models.DateTimeField(default=timezone.now)
    processed_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-received_at"]
        constraints = [
            models.UniqueConstraint(fields=["provider", "event_id"], name="webhook_event_unique"),
        ]
        indexes = [models.Index(fields=["status", "received_at"])]

    def __str__(self) -> str:
        return f"{self.provider}:{self.event_id} {self.status}"


class SavedMethod(models.Model):
    """A payment method saved at the provider for off-session charges (never card data here)."""

    provider = models.CharField(max_length=30)
    customer_reference = models.CharField(max_length=120, blank=True)
    method_reference = models.CharField(max_length=120)
    label = models.CharField(max_length=100, blank=True, help_text=_("Es. 'Visa •••• 4242'"))
    payer = models.ForeignKey("people.Person", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    payer_email = models.EmailField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    forgotten_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text=_("Quando è stato sostituito da un'altra carta e staccato presso il circuito."),
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["provider", "method_reference"], name="saved_method_unique"),
        ]

    def __str__(self) -> str:
        return self.label or self.method_reference


class MethodDevice(models.Model):
    """A browser allowed to charge one saved method in one click (convention 16).

    Created only when the payment that saved the method succeeds in the browser that ticked
    "Ricorda la mia carta"; the browser keeps the random token in an httponly cookie, we keep
    only its SHA-256. Revoking it ("Non sei tu?") stops it here, not only in the browser.
    """

    method = models.ForeignKey(SavedMethod, on_delete=models.PROTECT, related_name="devices")
    payment = models.OneToOneField(
        Payment,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="device",
        help_text=_("Il pagamento che ha salvato il metodo in questo browser (un solo dispositivo per pagamento)."),
    )
    link = models.OneToOneField(
        "PayerAccessLink",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="device",
        help_text=_("Oppure il link via email con cui chi paga ha aggiunto questo browser."),
    )
    token_hash = models.CharField(max_length=64, unique=True)
    label = models.CharField(_("dispositivo"), max_length=100, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("dispositivo autorizzato")
        verbose_name_plural = _("dispositivi autorizzati")

    def __str__(self) -> str:
        return f"{self.method} · {self.label}"


class LinkPurpose(models.TextChoices):
    PAYER_PAGE = "payer_page", _("Pagina dei pagamenti")
    DEVICE = "device", _("Carta salvata su un nuovo dispositivo")


class PayerAccessLink(models.Model):
    """A one-time, short-lived link emailed to an address, proving control of it: opening it
    shows that address's payments in this browser for a limited session, or (purpose DEVICE)
    lets this browser use the method saved by that address in one click. Only the token's
    SHA-256 is stored."""

    purpose = models.CharField(max_length=20, choices=LinkPurpose.choices, default=LinkPurpose.PAYER_PAGE)
    email = models.EmailField(db_index=True)
    method = models.ForeignKey(SavedMethod, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    next_path = models.CharField(max_length=200, blank=True)
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"payer link #{self.pk}"


class Interval(models.TextChoices):
    MONTHLY = "monthly", _("Mensile")
    YEARLY = "yearly", _("Annuale")


class ScheduleState(models.TextChoices):
    ACTIVE = "active", _("Attiva")
    PAUSED = "paused", _("Sospesa dopo addebiti non riusciti")
    CANCELED = "canceled", _("Annullata")


class ScheduleQuerySet(ScopedQuerySet["RecurringSchedule"]):
    scope_path_field = "territory__path"


class RecurringSchedule(models.Model):
    """A recurring gift or fee owned by the platform: the charge is ours to run, on any provider
    that can charge a saved method off-session."""

    token = models.CharField(max_length=40, unique=True, default=new_token, editable=False)
    creation_key = models.CharField(max_length=200, unique=True)
    provider = models.CharField(max_length=30)
    saved_method = models.ForeignKey(SavedMethod, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    amount_cents = AmountCentsField()
    currency = CurrencyField()
    amount = MoneyProperty("amount_cents", "currency")
    interval = models.CharField(max_length=10, choices=Interval.choices, default=Interval.MONTHLY)
    description = models.CharField(max_length=200)
    state = models.CharField(max_length=10, choices=ScheduleState.choices, default=ScheduleState.ACTIVE)
    next_charge_on = models.DateField(db_index=True)
    cycle = models.PositiveIntegerField(default=1, help_text=_("Numero della prossima rata"))
    failure_count = models.PositiveSmallIntegerField(default=0)
    resumes = models.PositiveSmallIntegerField(
        default=0,
        help_text=_("Quante volte è stata ripresa dopo una sospensione (entra nelle chiavi dei tentativi)"),
    )
    retry_at = models.DateTimeField(null=True, blank=True)
    payable_type = models.ForeignKey(ContentType, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    payable_id = models.CharField(max_length=64, blank=True)
    allocation_plan = models.JSONField(
        default=list,
        help_text=_("[[id conto, centesimi], …] ripartizione di ogni rata"),
    )
    payer = models.ForeignKey("people.Person", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    payer_name = models.CharField(max_length=200, blank=True)
    payer_email = models.EmailField(blank=True, db_index=True)
    territory = models.ForeignKey(
        "territory.Territory", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    canceled_at = models.DateTimeField(null=True, blank=True)
    paused_at = models.DateTimeField(null=True, blank=True)

    objects = ScheduleQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=models.Q(amount_cents__gt=0), name="schedule_amount_positive"),
        ]
        indexes = [models.Index(fields=["state", "next_charge_on"])]

    def __str__(self) -> str:
        return f"{self.description} {Money(self.amount_cents, self.currency)} {self.get_interval_display()}"


class MethodChangeState(models.TextChoices):
    STARTED = "started", _("Avviato")
    SUCCEEDED = "succeeded", _("Carta cambiata")
    FAILED = "failed", _("Non riuscito")


class MethodChange(models.Model):
    """The payer replaces the saved method of a recurring schedule ("Cambia carta", issue 12).

    A card setup at the provider (a Stripe SetupIntent, the sandbox's equivalent): no money
    moves. Until it succeeds the schedule keeps its old method; on success the new method is
    saved, the schedule charges it from the next cycle on, and the old one is forgotten.
    `provider_key` is the idempotency key of the setup (our ids, convention 6).
    """

    token = models.CharField(max_length=40, unique=True, default=new_token, editable=False)
    schedule = models.ForeignKey(RecurringSchedule, on_delete=models.PROTECT, related_name="method_changes")
    provider = models.CharField(max_length=30)
    provider_key = models.CharField(max_length=200, unique=True)
    provider_reference = models.CharField(max_length=120, blank=True)
    state = models.CharField(max_length=10, choices=MethodChangeState.choices, default=MethodChangeState.STARTED)
    old_method = models.ForeignKey(SavedMethod, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    new_method = models.ForeignKey(SavedMethod, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    failure_code = models.CharField(max_length=60, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.schedule_id} {self.state}"


class SandboxCharge(models.Model):
    """The sandbox processor's own books: one row per charge it accepted (unique per key)."""

    idempotency_key = models.CharField(max_length=200, unique=True)
    reference = models.CharField(max_length=60, unique=True)
    amount_cents = models.BigIntegerField()
    currency = CurrencyField()
    card_last4 = models.CharField(max_length=4)
    # What the simulated processor reports about the card (rule M24): never the number itself.
    fingerprint = models.CharField(max_length=64, blank=True)
    funding = models.CharField(max_length=10, blank=True)
    outcome = models.CharField(max_length=30)
    method_reference = models.CharField(max_length=60, blank=True)
    refunded_cents = models.BigIntegerField(default=0)
    refunds = models.JSONField(default=list)
    disputes = models.JSONField(default=list)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"sandbox {self.reference} {self.outcome}"


class PaymentMethodSetting(models.Model):
    """Whether a payment rail is offered to payers of one territory's payables (issue 11 item 1).

    Inherited down the tree: the row of the nearest territory (the payment's own, or an
    ancestor) that mentions a provider decides; with no row the rail is offered wherever it is
    configured at all (keys for card and PayPal, a party bank account for the bank rails). A
    federation that does not want PayPal turns it off once for all its circoli; one circolo
    can turn it back on.
    """

    territory = models.ForeignKey("territory.Territory", on_delete=models.PROTECT, related_name="payment_methods")
    provider = models.CharField(_("circuito"), max_length=30)
    enabled = models.BooleanField(_("offerto a chi paga"))
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("metodo di pagamento del territorio")
        verbose_name_plural = _("metodi di pagamento dei territori")
        constraints = [models.UniqueConstraint(fields=["territory", "provider"], name="one_method_setting")]

    def __str__(self) -> str:
        return f"{self.territory} {self.provider} {'on' if self.enabled else 'off'}"
