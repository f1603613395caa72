"""Refunds and disputes."""

from __future__ import annotations

from django.db import transaction
from django.db.models import Sum
from django.utils.translation import gettext as _

from piazza.core.audit import Actor, record
from piazza.core.errors import Refused, refuse, refusing
from piazza.core.money import Money, format_money
from piazza.payments.models import (
    Payment,
    Refund,
    RefundState,
    State,
)
from piazza.payments.providers.base import (
    Capability,
    ProviderError,
    RemoteRefund,
)
from piazza.payments.providers.registry import get_provider
from piazza.territory.models import Role
from piazza.territory.scoping import has_role_at

from ._transitions import _event, _locked, log
from .reversals import _apply_refund, reversed_total

# --- refunds ----------------------------------------------------------------------------------


def request_refund(*, actor: Actor, payment: Payment, amount: Money, reason: str = "") -> Refund:
    """Record a refund to execute (full or partial); refuses more than what is left."""
    action = "payments.request_refund"

    if (
        actor is not None
        and getattr(actor, "is_authenticated", False)
        and (
            payment.territory is None or not has_role_at(actor, payment.territory, [Role.TREASURY, Role.ADMINISTRATOR])
        )
    ):
        refuse(
            action,
            _("Solo la tesoreria del territorio può rimborsare questo pagamento."),
            actor=actor,
            territory=payment.territory,
            code="forbidden",
            permission=True,
        )
    if not isinstance(amount, Money):
        refuse(
            action,
            _("L'importo del rimborso deve essere un valore esatto (Money)."),
            actor=actor,
            code="not_money",
            field="amount",
        )
    # Checks that need the locked row raise Refused; `refusing` audits them after the rollback.
    with refusing(action, actor, payment.territory), transaction.atomic():
        locked = _locked(payment.pk)
        if amount.currency != locked.currency:
            raise Refused(
                _("Il rimborso deve essere in %(c)s come il pagamento.") % {"c": locked.currency},
                "currency_mismatch",
                field="amount",
            )
        if not amount.is_positive():
            raise Refused(
                _("L'importo del rimborso deve essere maggiore di zero."), "amount_not_positive", field="amount"
            )
        if locked.state not in (State.SUCCEEDED, State.PARTIALLY_REFUNDED):
            raise Refused(
                _("Si può rimborsare solo un pagamento riuscito (questo è: %(s)s).")
                % {"s": locked.get_state_display()},
                "not_refundable",
            )
        provider = get_provider(locked.provider)
        if not provider.has(Capability.REFUND):
            raise Refused(
                _("Il circuito %(p)s non consente rimborsi automatici.") % {"p": provider.verbose_name},
                "no_refund_capability",
            )
        requested = locked.refunds.exclude(state=RefundState.FAILED).aggregate(t=Sum("amount_cents"))["t"] or 0
        left = locked.amount - Money(int(requested), locked.currency)
        if amount > left:
            raise Refused(
                _("Si possono rimborsare al massimo %(l)s (già rimborsati o in corso: %(r)s).")
                % {"l": format_money(left), "r": format_money(Money(int(requested), locked.currency))},
                "refund_too_large",
                field="amount",
            )
        if amount != locked.amount and not provider.has(Capability.PARTIAL_REFUND):
            raise Refused(
                _("Il circuito %(p)s consente solo rimborsi totali.") % {"p": provider.verbose_name},
                "no_partial_refund",
                field="amount",
            )
        refund = Refund(
            payment=locked,
            reason=reason[:200],
            idempotency_key=f"refund:{locked.pk}:{requested}:{amount.cents}",
            requested_by=actor if getattr(actor, "is_authenticated", False) else None,
        )  # type: ignore[misc]
        refund.amount = amount
        refund.save()
        _event(locked, "refund_requested", actor=actor, refund=refund.pk, amount=amount.cents)
        record(
            action,
            actor=actor,
            obj=refund,
            territory=locked.territory,
            data={"payment": locked.pk, "amount": amount.cents, "reason": reason[:200]},
        )
    return refund


def execute_refund(*, actor: Actor, refund: Refund) -> Refund:
    """Call the provider for a pending refund (outside transactions), then apply its answer."""
    payment = refund.payment
    provider = get_provider(payment.provider)
    try:
        result = provider.refund(payment, refund)
    except ProviderError as exc:
        log.warning("refund %s: provider error %s (stays pending, reconciled later)", refund.pk, exc)
        return refund
    with transaction.atomic():
        locked = _locked(payment.pk)
        fresh = Refund.objects.select_for_update().get(pk=refund.pk)
        if result.reference and not fresh.provider_reference:
            fresh.provider_reference = result.reference
            fresh.save(update_fields=["provider_reference"])
        _apply_refund(
            locked,
            RemoteRefund(reference=result.reference, amount=fresh.amount, status=result.status, our_id=str(fresh.pk)),
            actor=actor,
            source="refund",
        )
    refund.refresh_from_db()
    return refund


def refund_payment(*, actor: Actor, payment: Payment, amount: Money | None = None, reason: str = "") -> Refund:
    """Request and execute a refund; `amount=None` refunds what is left."""
    if amount is None:
        amount = payment.amount - reversed_total(payment)
    refund = request_refund(actor=actor, payment=payment, amount=amount, reason=reason)
    return execute_refund(actor=actor, refund=refund)
