"""Reconciling a payment with its provider."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction

from piazza.core.audit import Actor
from piazza.payments.models import (
    IN_FLIGHT_ATTEMPT_STATES,
    AttemptState,
    Payment,
    State,
)
from piazza.payments.payables import notify
from piazza.payments.providers.base import (
    Outcome,
    RemoteState,
)
from piazza.payments.providers.registry import get_provider

from ._transitions import _locked, _move, log
from .methods import check_approved_instrument
from .outcomes import _fail, _is_duplicate, _record_duplicate, _save_method, _succeed
from .reversals import _apply_dispute, _apply_refund


def sync_payment(*, actor: Actor, payment: Payment, remote: RemoteState, source: str) -> Payment:
    """Bring our payment to the provider's re-fetched state, in causal order, idempotently.

    An out-of-order event (a refund notice before the success notice) is harmless: the
    re-fetched state contains both, and success is applied before the refund.
    """
    with transaction.atomic():
        locked = _locked(payment.pk)
        if _is_duplicate(locked, remote.outcome, remote.reference):
            # Another charge than the one booked (a webhook about it): refund it, and leave the
            # payment alone (its refunds and disputes belong to the booked charge).
            _record_duplicate(locked, actor=actor, reference=remote.reference, attempt=None, source=source)
            return locked
        if remote.customer_reference and not locked.provider_customer:
            locked.provider_customer = remote.customer_reference
            locked.save(update_fields=["provider_customer", "updated_at"])
        if not locked.is_booked:
            if remote.outcome == Outcome.SUCCEEDED:
                method = _save_method(locked, remote.saved_method)
                _succeed(
                    locked,
                    actor=actor,
                    reference=remote.reference,
                    fee=remote.fee,
                    source=source,
                    method=method,
                    instrument=remote.instrument,
                )
                locked.attempts.exclude(state=AttemptState.SUCCEEDED).filter(
                    provider_reference__in=[remote.reference, ""]
                ).update(state=AttemptState.SUCCEEDED)
            elif remote.outcome == Outcome.FAILED:
                _fail(locked, actor=actor, code=remote.failure_code or "card_declined", source=source)
                locked.attempts.filter(state=AttemptState.UNKNOWN).update(state=AttemptState.FAILED)
                if remote.reference:
                    # The attempt whose charge failed is no longer in flight: a retry may start.
                    locked.attempts.filter(
                        state__in=IN_FLIGHT_ATTEMPT_STATES, provider_reference=remote.reference
                    ).update(state=AttemptState.FAILED)
            elif remote.outcome == Outcome.CANCELED and locked.can_move_to(State.CANCELED):
                _move(locked, State.CANCELED, actor=actor, kind="canceled", source=source)
                notify(locked, "canceled")
        if locked.is_booked:
            for remote_refund in remote.refunds:
                _apply_refund(locked, remote_refund, actor=actor, source=source)
            for remote_dispute in remote.disputes:
                _apply_dispute(locked, remote_dispute, actor=actor, source=source)
        elif remote.refunds or remote.disputes:
            log.warning("payment %s: provider reports refunds/disputes but no success", locked.pk)
        return locked


def reconcile_payment(*, actor: Actor, payment: Payment) -> Payment:
    """Re-fetch from the provider (outside a transaction) and sync. Never charges."""
    provider = get_provider(payment.provider)
    attempt = payment.attempts.order_by("-number").first()
    if attempt is not None and attempt.state in IN_FLIGHT_ATTEMPT_STATES and payment.is_open:
        try:  # an approval (PayPal) is checked against the payable's rules before any capture (M24)
            check_approved_instrument(actor=actor, payment=payment, attempt=attempt)
        except ValidationError:
            payment.refresh_from_db()
            return payment
    remote = provider.fetch(payment, attempt)
    return sync_payment(actor=actor, payment=payment, remote=remote, source="reconcile")


def adopt_provider_charge(*, actor: Actor, provider_id: str, reference: str, payment_id: str) -> Payment | None:
    """A successful provider charge the ledger lacks (found by reconciliation): re-fetch that
    charge and apply it to its payment: booked as the payment if still unpaid, or recorded as
    a duplicate and refunded if the payment was paid with another charge. Never charges."""
    if not payment_id.isdigit():
        return None
    payment = Payment.objects.filter(pk=int(payment_id), provider=provider_id).first()
    if payment is None:
        return None
    remote = get_provider(provider_id).fetch_charge(payment, reference)  # outside any transaction
    return sync_payment(actor=actor, payment=payment, remote=remote, source="reconcile_charges")
