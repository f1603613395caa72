"""The provider interface (convention 4): a narrow surface every payment rail implements.

A provider never touches our database state: it talks to the outside world and returns plain
results (`ChargeResult`, `RemoteState`, `RefundResult`, `WebhookNotice`). The actions in
`payments.actions` apply them under a row lock with only allowed transitions. Provider calls
happen outside database transactions.
"""

from __future__ import annotations

import abc
import datetime as dt
import enum
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from django.http import HttpRequest
from django.utils.functional import Promise

from piazza.core.money import Money

if TYPE_CHECKING:
    from django import forms

    from piazza.payments.models import MethodChange, Payment, PaymentAttempt, Refund, SavedMethod
    from piazza.territory.models import Territory


class Capability(enum.StrEnum):
    ONE_OFF = "one_off"
    SAVED_METHOD = "saved_method"
    RECURRING = "recurring"  # off-session charges of a saved method
    REFUND = "refund"
    PARTIAL_REFUND = "partial_refund"
    MANDATE = "mandate"  # SEPA direct debit
    REDIRECT = "redirect"  # the payer approves at the provider's site
    CHARGE_LIST = "charge_list"  # lists its successful charges (reconciliation) and refunds one by reference
    CHANGE_METHOD = "change_method"  # replaces a schedule's saved method by a card setup, no charge (issue 12)


class ProviderError(Exception):
    """The provider could not be reached or answered with an error: outcome unknown."""


class ProviderTimeout(ProviderError):
    """No answer in time: the charge may or may not exist; reconcile by re-fetching."""


class InvalidSignature(Exception):
    """A webhook whose signature (or live/test mode) does not verify: refused with 400."""


class MalformedEvent(Exception):
    """A correctly signed webhook whose content has the wrong shape (a field of the wrong
    type, an id longer than we store): refused with 400 and stored with the error."""


class Outcome(enum.StrEnum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    PENDING = "pending"
    REQUIRES_ACTION = "requires_action"
    CANCELED = "canceled"


@dataclass
class SavedMethodInfo:
    method_reference: str
    customer_reference: str = ""
    label: str = ""


@dataclass(frozen=True)
class InstrumentInfo:
    """What paid (or is about to pay), as the provider reports it (rule M24, issue 11 item 6).

    `fingerprint` is the provider's stable id of the instrument, namespaced by provider (a
    Stripe card fingerprint, the sandbox's deterministic equivalent, a PayPal payer id): the
    same card or account gives the same value on every payment. `funding` is the card's
    funding type ("credit", "debit", "prepaid") or "" when the rail has none (PayPal).
    Never a card number or anything from which one can be rebuilt.
    """

    fingerprint: str
    funding: str = ""
    kind: str = "card"  # "card", "paypal", "sepa"

    @property
    def prepaid(self) -> bool:
        return self.funding == "prepaid"


@dataclass
class ChargeResult:
    outcome: Outcome
    reference: str = ""
    fee: Money | None = None
    action_url: str = ""
    failure_code: str = ""
    saved_method: SavedMethodInfo | None = None
    customer_reference: str = ""
    raw: dict[str, Any] = field(default_factory=dict)
    instrument: InstrumentInfo | None = None  # reported with a success (M24)


@dataclass
class SetupResult:
    """A card setup (CHANGE_METHOD): the method saved for later off-session charges, no money moved.

    `saved_method.label` is what the payer sees: the card's brand and last four digits, never
    more. `client_secret` is for a setup the browser confirms with the provider's script
    (Stripe.js); empty for a provider whose card form is ours (`setup_form`)."""

    outcome: Outcome
    reference: str = ""
    failure_code: str = ""
    saved_method: SavedMethodInfo | None = None
    client_secret: str = ""


@dataclass
class RemoteRefund:
    reference: str
    amount: Money
    status: str = "succeeded"  # "succeeded", "pending" or "failed"
    our_id: str = ""  # our Refund id, when the provider echoes the metadata we sent

    @property
    def succeeded(self) -> bool:
        return self.status == "succeeded"


@dataclass
class RemoteDispute:
    reference: str
    amount: Money
    fee: Money
    status: str  # "open", "won", "lost"
    reason: str = ""


@dataclass
class RemoteState:
    """What the provider says about a payment now: the truth we reconcile to."""

    outcome: Outcome
    reference: str = ""
    fee: Money | None = None
    failure_code: str = ""
    refunds: list[RemoteRefund] = field(default_factory=list)
    disputes: list[RemoteDispute] = field(default_factory=list)
    saved_method: SavedMethodInfo | None = None
    customer_reference: str = ""
    instrument: InstrumentInfo | None = None  # reported with a success (M24)


@dataclass
class RefundResult:
    reference: str
    status: str = "succeeded"  # "succeeded", "pending" or "failed"
    failure_code: str = ""


@dataclass
class RemoteCharge:
    """One successful charge in the provider's books (for reconciliation with the ledger)."""

    reference: str
    amount: Money
    created: dt.datetime
    payment_id: str = ""  # our payment id, when the provider keeps our metadata
    refunded: Money | None = None


@dataclass
class WebhookNotice:
    """A verified notification: its id and type, and how to find our payment."""

    event_id: str
    event_type: str
    payment_reference: str = ""  # the provider's reference of the payment (or attempt)
    payment_id: str = ""  # our id, when the provider echoes our metadata
    relevant: bool = True  # False: stored and acknowledged, nothing to apply


class PaymentProvider(abc.ABC):
    """Base class of every provider. Subclasses set `identifier`, `verbose_name`, `capabilities`,
    implement `start` and `fetch`, and the methods of the capabilities they declare."""

    identifier: ClassVar[str] = ""
    verbose_name: ClassVar[str | Promise] = ""
    capabilities: ClassVar[frozenset[Capability]] = frozenset()
    # False for test doubles (the sandbox): not registered, routed or offered in production.
    allowed_in_production: ClassVar[bool] = True

    def is_available(self) -> bool:
        """False when the provider is not configured or not allowed in this environment."""
        return True

    def is_available_for(self, territory: Territory | None, currency: str = "EUR") -> bool:
        """Usable for a payment of `territory` (issue 11 item 1): by default wherever the provider
        is configured at all; the bank rails also need a party account at or above the territory."""
        return self.is_available()

    def has(self, capability: Capability) -> bool:
        return capability in self.capabilities

    # --- on-session checkout ------------------------------------------------------------
    def checkout_form(self) -> type[forms.Form] | None:
        """A form the payer fills on our payment page (e.g. sandbox card); None if redirect only."""
        return None

    @abc.abstractmethod
    def start(self, payment: Payment, attempt: PaymentAttempt, data: dict[str, Any], return_url: str) -> ChargeResult:
        """Start (or, for direct card processors, complete) a charge. Idempotent per `attempt.provider_key`."""

    def complete_return(self, payment: Payment, attempt: PaymentAttempt, params: dict[str, str]) -> ChargeResult:
        """The payer came back from the provider's page; default: re-fetch."""
        state = self.fetch(payment, attempt)
        return ChargeResult(
            outcome=state.outcome,
            reference=state.reference,
            fee=state.fee,
            failure_code=state.failure_code,
            saved_method=state.saved_method,
            customer_reference=state.customer_reference,
            instrument=state.instrument,
        )

    def preview_instrument(self, data: dict[str, Any]) -> InstrumentInfo | None:
        """The instrument the payer typed on our page, known before any charge (the sandbox's
        card); None when the instrument is only seen by the provider (Stripe.js, PayPal)."""
        return None

    def approved_instrument(self, payment: Payment, attempt: PaymentAttempt) -> InstrumentInfo | None:
        """The instrument the payer approved at the provider's site, before we capture the money
        (PayPal's payer); None when the provider has nothing to ask or the charge is already made."""
        return None

    def release_approval(self, payment: Payment, attempt: PaymentAttempt) -> None:
        """Give up an approval the payable refused (Stripe cancels the card authorisation); by
        default nothing: an uncaptured PayPal order expires on its own."""
        return None

    # --- reconciliation -----------------------------------------------------------------
    @abc.abstractmethod
    def fetch(self, payment: Payment, attempt: PaymentAttempt | None = None) -> RemoteState:
        """Re-fetch the payment's current state (refunds and disputes included)."""

    # --- recurring ----------------------------------------------------------------------
    def charge_saved(self, payment: Payment, attempt: PaymentAttempt, method: SavedMethod) -> ChargeResult:
        """Charge a saved method off-session. Idempotent per `attempt.provider_key`."""
        raise self._missing("addebiti automatici di un metodo salvato")

    # --- changing the saved method of a schedule (CHANGE_METHOD) --------------------------
    def start_setup(self, change: MethodChange, customer_reference: str) -> SetupResult:
        """Open a card setup for `change` (idempotent per `change.provider_key`), on the customer
        of the method it replaces when the provider has one. Outcome REQUIRES_ACTION: the payer
        now gives the new card, on `setup_form` or through the provider's script."""
        raise self._missing("il cambio della carta")

    def setup_form(self) -> type[forms.Form] | None:
        """The form on our page where the payer types the new card (the sandbox); None when the
        card goes straight to the provider from the browser (Stripe.js, `client_secret`)."""
        return None

    def confirm_setup(self, change: MethodChange, data: dict[str, Any]) -> SetupResult:
        """Confirm the setup with what the payer typed on `setup_form`."""
        raise self._missing("il cambio della carta")

    def fetch_setup(self, change: MethodChange) -> SetupResult:
        """Re-fetch the setup's state (the payer came back from the provider's confirmation)."""
        raise self._missing("il cambio della carta")

    def forget_method(self, method: SavedMethod) -> None:
        """Detach a saved method that was replaced: it can never be charged again. Idempotent."""
        raise self._missing("il cambio della carta")

    # --- refunds ------------------------------------------------------------------------
    def refund(self, payment: Payment, refund: Refund) -> RefundResult:
        """Refund `refund.amount` of `payment`; idempotent per `refund.idempotency_key`."""
        raise self._missing("rimborsi")

    # --- one charge by reference, and the provider's list (CHARGE_LIST) -------------------
    def fetch_charge(self, payment: Payment, reference: str) -> RemoteState:
        """The state of one charge of `payment` (not necessarily the one booked): a duplicate."""
        raise self._missing("la lettura di un singolo addebito")

    def refund_charge(self, payment: Payment, reference: str, amount: Money, key: str) -> RefundResult:
        """Refund `amount` of the charge `reference` (a duplicate); idempotent per `key`."""
        raise self._missing("il rimborso di un singolo addebito")

    def successful_charges(self, since: dt.datetime, until: dt.datetime) -> list[RemoteCharge]:
        """Every successful charge created in [since, until), from the provider's own books."""
        raise self._missing("l'elenco degli addebiti")

    # --- webhooks -----------------------------------------------------------------------
    def verify_webhook(self, request: HttpRequest) -> WebhookNotice:
        """Verify signature and mode, parse; raise `InvalidSignature` when it does not verify."""
        raise self._missing("notifiche (webhook)")

    def _missing(self, what: str) -> ProviderError:
        """Callers check `has(capability)` first; reaching here is a provider set up wrongly."""
        return ProviderError(f"Il circuito {self.identifier} non gestisce {what}.")
