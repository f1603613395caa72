"""The Payable plug-in point: how payments tells a higher app what happened to its money.

payments never imports funding or membership. A higher app creates a payment for one of its
objects (`actions.create_payment(payable=donation, allocations=[...])`) and registers a
handler for that model once, from its AppConfig.ready():

    from piazza.payments.payables import PayableHandler, register_payable

    class DonationHandler(PayableHandler):
        def on_succeeded(self, payment, payable): mark_donation_paid(payable, payment)

    register_payable("funding.donation", DonationHandler())

Handlers are called inside the transaction that applies the outcome, after the payment row is
locked and the ledger booked, so the payable and the payment commit (or fail) together.
They must be idempotent: a refund handler can be called once per refund.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from piazza.core.audit import Actor
    from piazza.payments.models import Dispute, Payment, RecurringSchedule, Refund
    from piazza.payments.providers.base import InstrumentInfo


class PayableHandler:
    """Override what your payable cares about; the defaults do nothing on purpose."""

    #: True when the payable emails its own receipt (with the payer-page and cancel links)
    #: on success: payments then sends no confirmation of its own, so the payer gets one email.
    sends_own_receipt: bool = False

    #: True when `check_instrument` must also see what the payer approves at the provider's site
    #: (the PayPal account; the card typed into Stripe.js, then only authorised) before the
    #: capture. False: no extra provider call, captured at once.
    capture_after_check: bool = False

    #: True when `on_succeeded` reads (and locks) the payable itself: it is then given a reference
    #: holding only the primary key (`Payment.payable_reference`), not a row read for nothing
    #: (issue 14, P4). Its other fields are unset: read nothing else from it.
    reads_payable_itself: bool = False

    def checks_instruments(self) -> bool:
        """Whether `check_instrument` has rules at all: when it has none, the payment page does not
        read the payable before the charge (issue 14, P4). True when a handler overrides it."""
        return type(self).check_instrument is not PayableHandler.check_instrument

    def payment_methods(self, payment: Payment, payable: Any) -> frozenset[str] | None:
        """The methods ("card", "paypal", "bank_transfer", "sepa_dd") this payable may be paid
        with; None = the default (card, PayPal, bank transfer). See `payments.methods`."""
        return None

    def method_note(self, payment: Payment, payable: Any, kind: str) -> str:
        """A rule of this payable the payer should read next to a method before choosing it."""
        return ""

    def check_instrument(self, payment: Payment, payable: Any, instrument: InstrumentInfo, *, actor: Actor) -> None:
        """Refuse (raise ValidationError through `refuse`) an instrument this payable does not
        accept, before any money moves: called with the card typed on our page, or the account
        the payer approved at the provider before we capture (rule M24 for membership fees)."""

    def on_succeeded(self, payment: Payment, payable: Any) -> None:
        """The money arrived (and is booked)."""

    def on_failed(self, payment: Payment, payable: Any) -> None:
        """A charge failed (may be retried: a later `on_succeeded` can follow)."""

    def on_canceled(self, payment: Payment, payable: Any) -> None:
        """The payment was abandoned or canceled before any money moved."""

    def on_refunded(self, payment: Payment, payable: Any, refund: Refund) -> None:
        """A refund (full or partial) was executed and booked as reversal entries."""

    def on_disputed(self, payment: Payment, payable: Any, dispute: Dispute) -> None:
        """A dispute was opened, won or lost (see `dispute.state`)."""

    def on_schedule_canceled(self, schedule: RecurringSchedule, payable: Any) -> None:
        """The payer (or an official) stopped a recurring gift or fee."""


_handlers: dict[str, PayableHandler] = {}


def register_payable(model_label: str, handler: PayableHandler) -> None:
    """Register `handler` for payables of `model_label` ("app_label.modelname", lower case)."""
    _handlers[model_label.lower()] = handler


def registered_payables() -> list[str]:
    """Every payable kind a higher app registered (compliance checks each has an F6 source)."""
    return sorted(_handlers)


def handler_for(model_label: str) -> PayableHandler | None:
    return _handlers.get(model_label.lower()) if model_label else None


def notify(payment: Payment, event: str, **extra: Any) -> None:
    """Call the payable's handler for `event` ("succeeded", "failed", …), if any is registered."""
    handler = handler_for(payment.payable_label)
    if handler is None:
        return
    itself = event == "succeeded" and handler.reads_payable_itself
    getattr(handler, f"on_{event}")(payment, payment.payable_reference() if itself else payment.payable, **extra)


def notify_schedule_canceled(schedule: RecurringSchedule) -> None:
    if schedule.payable_type_id is None:
        return
    from django.contrib.contenttypes.models import ContentType

    ct = ContentType.objects.get_for_id(schedule.payable_type_id)
    handler = handler_for(f"{ct.app_label}.{ct.model}")
    if handler is not None:
        model = ct.model_class()
        payable = model._default_manager.filter(pk=schedule.payable_id).first() if model else None
        handler.on_schedule_canceled(schedule, payable)
