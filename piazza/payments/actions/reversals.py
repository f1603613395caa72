"""Refunds and disputes applied to a payment's state."""

from __future__ import annotations

from django.db.models import Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from piazza.core.audit import Actor
from piazza.core.money import Money
from piazza.ledger.models import Cause
from piazza.payments import booking
from piazza.payments.models import (
    Dispute,
    DisputeState,
    Payment,
    Refund,
    RefundState,
    State,
)
from piazza.payments.payables import notify
from piazza.payments.providers.base import (
    RemoteDispute,
    RemoteRefund,
)

from ._transitions import _event, _move, log

# --- reconciliation to the provider's truth ---------------------------------------------------


def _refunded_total(payment: Payment) -> Money:
    cents = payment.refunds.filter(state=RefundState.SUCCEEDED).aggregate(t=Sum("amount_cents"))["t"] or 0
    return Money(int(cents), payment.currency)


def _disputed_total(payment: Payment) -> Money:
    cents = (
        payment.disputes.filter(state__in=[DisputeState.OPEN, DisputeState.LOST]).aggregate(t=Sum("amount_cents"))["t"]
        or 0
    )
    return Money(int(cents), payment.currency)


def reversed_total(payment: Payment) -> Money:
    """What has gone back out of this payment: succeeded refunds plus open or lost disputes."""
    return _refunded_total(payment) + _disputed_total(payment)


def _state_after_reversals(payment: Payment) -> str:
    refunded, disputed = _refunded_total(payment), _disputed_total(payment)
    if payment.disputes.filter(state=DisputeState.OPEN).exists():
        return State.DISPUTED
    if payment.disputes.filter(state=DisputeState.LOST).exists() and disputed.is_positive():
        return State.CHARGED_BACK
    if refunded >= payment.amount:
        return State.REFUNDED
    if refunded.is_positive():
        return State.PARTIALLY_REFUNDED
    return State.SUCCEEDED


def _apply_refund(payment: Payment, remote: RemoteRefund, *, actor: Actor, source: str) -> None:
    refund = None
    if remote.our_id.isdigit():
        refund = payment.refunds.filter(pk=int(remote.our_id)).first()
    if refund is None:
        refund = payment.refunds.filter(provider_reference=remote.reference).first()
    if refund is None:
        # Refunded at the provider's dashboard, not through us: record it now.
        refund = Refund(
            payment=payment,
            idempotency_key=f"remote-refund:{payment.provider}:{remote.reference}",
            provider_reference=remote.reference,
            reason=_("Rimborso eseguito dal circuito"),
        )
        refund.amount = remote.amount
        refund.save()
    if refund.state == RefundState.SUCCEEDED or not remote.succeeded:
        if remote.status == "failed" and refund.state == RefundState.PENDING:
            refund.state = RefundState.FAILED
            refund.save(update_fields=["state"])
            _event(payment, "refund_failed", actor=actor, refund=refund.pk)
        return
    if remote.amount != refund.amount:
        log.warning("refund %s: provider amount %s differs from requested %s", refund.pk, remote.amount, refund.amount)
        refund.amount = remote.amount
    before = reversed_total(payment)
    refund.state = RefundState.SUCCEEDED
    refund.provider_reference = refund.provider_reference or remote.reference
    refund.succeeded_at = timezone.now()
    refund.save()
    booking.book_reversal_delta(
        payment,
        before=before,
        after=before + refund.amount,
        cause=Cause.REFUND,
        key=f"refund:{refund.pk}",
        memo=f"Rimborso di {refund.amount} sul pagamento #{payment.pk}",
        actor=actor,
        about=refund,
    )
    _move(
        payment,
        _state_after_reversals(payment),
        actor=actor,
        kind="refunded",
        source=source,
        refund=refund.pk,
        amount=refund.amount_cents,
    )
    notify(payment, "refunded", refund=refund)


def _apply_dispute(payment: Payment, remote: RemoteDispute, *, actor: Actor, source: str) -> None:
    dispute, created = Dispute.objects.get_or_create(
        payment=payment,
        provider_reference=remote.reference,
        defaults={"amount_cents": 0, "currency": payment.currency, "reason": remote.reason[:100]},
    )
    status = {"won": DisputeState.WON, "lost": DisputeState.LOST}.get(remote.status, DisputeState.OPEN)
    if not created and dispute.state == status:
        return
    if dispute.state in (DisputeState.WON, DisputeState.LOST) and not created:
        return  # closed disputes do not reopen
    before = reversed_total(payment)
    if created:
        # The provider withdraws what is still in the payment (never more).
        disputable = payment.amount - before
        amount = min(remote.amount, disputable) if disputable.is_positive() else Money.zero(payment.currency)
        dispute.amount = amount
        dispute.fee_cents = remote.fee.cents
    dispute.state = status
    if status != DisputeState.OPEN:
        dispute.closed_at = timezone.now()
    dispute.save()
    after = reversed_total(payment)
    booking.book_reversal_delta(
        payment,
        before=before,
        after=after,
        cause=Cause.DISPUTE_WON if status == DisputeState.WON else Cause.DISPUTE,
        key=f"dispute:{dispute.pk}:{'opened' if created else status}",
        memo=f"Contestazione {remote.reference} ({status}) sul pagamento #{payment.pk}",
        actor=actor,
        about=dispute,
    )
    if created:
        booking.book_dispute_fee(payment, remote.fee, key=f"dispute-fee:{dispute.pk}", actor=actor)
    _move(
        payment,
        _state_after_reversals(payment),
        actor=actor,
        kind=f"dispute_{status}",
        source=source,
        dispute=dispute.pk,
    )
    notify(payment, "disputed", dispute=dispute)
