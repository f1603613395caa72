"""Ledger bookings of payments: what each outcome posts, with deterministic idempotency keys.

On success: debit the provider's clearing account with the gross amount, credit each
allocation (a donation split, the 80/20 surcharge split of rule M8). The provider fee is its
own transaction: debit fees, credit clearing. Refunds and disputes are reversals: each moves
the payment's *reversed total* from T1 to T2 and books, per allocation, the difference between
the split of T2 and the split of T1, so every cent of every allocation is reversed at most
once however refunds and disputes interleave.
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from piazza.core.audit import Actor
from piazza.core.money import Money
from piazza.ledger.accounts import get_account
from piazza.ledger.actions import Planned, post_transaction, post_transactions
from piazza.ledger.kinds import register_kind
from piazza.ledger.models import Account, Cause, LedgerTransaction
from piazza.payments.models import DuplicateCharge, Payment, PaymentAllocation

DUPLICATE_CHARGES = register_kind(
    "duplicate_charges",
    _("Addebiti doppi da restituire"),
    "credit",
    _("Denaro addebitato due volte per lo stesso pagamento: si restituisce a chi ha pagato."),
)


def clearing_account(payment: Payment) -> Account:
    return get_account("provider_clearing", key=payment.provider, currency=payment.currency)


def fees_account(payment: Payment) -> Account:
    return get_account("provider_fees", key=payment.provider, currency=payment.currency)


def disputes_account(payment: Payment) -> Account:
    return get_account("disputes", key=payment.provider, currency=payment.currency)


def payment_key(payment: Payment) -> str:
    return f"payment:{payment.pk}"


def book_payment(payment: Payment, *, actor: Actor, fee: Money | None = None) -> list[LedgerTransaction]:
    """The gross payment onto its allocations and, if any, the provider's fee: two ledger
    transactions (causes PAYMENT and FEE, keys `payment:N` and `payment-fee:N`) posted as one
    batch. Called on the payment locked (`_locked`), which serialises the keys: no savepoint."""
    allocations = list(payment.allocations.select_related("account"))
    clearing = clearing_account(payment)
    entries = [(clearing, payment.amount)]
    entries += [(a.account, -a.amount) for a in allocations]
    planned = [
        Planned(
            cause=Cause.PAYMENT,
            memo=f"Pagamento #{payment.pk}: {payment.description}"[:255],
            entries=entries,
            idempotency_key=payment_key(payment),
            about=payment,
        )
    ]
    if fee is not None and fee.is_positive():
        planned.append(
            Planned(
                cause=Cause.FEE,
                memo=f"Commissione {payment.provider} sul pagamento #{payment.pk}",
                entries=[(fees_account(payment), fee), (clearing, -fee)],
                idempotency_key=f"payment-fee:{payment.pk}",
                about=payment,
            )
        )
    return post_transactions(actor=actor, planned=planned, savepoint=False)


def _split(allocations: list[PaymentAllocation], total: Money) -> list[Money]:
    return total.allocate([a.amount_cents for a in allocations])


def book_reversal_delta(
    payment: Payment,
    *,
    before: Money,
    after: Money,
    cause: str,
    key: str,
    memo: str,
    actor: Actor,
    about: object = None,
) -> LedgerTransaction | None:
    """Move the payment's reversed total from `before` to `after` (either direction)."""
    if after == before:
        return None
    allocations = list(payment.allocations.select_related("account").order_by("pk"))
    old, new = _split(allocations, before), _split(allocations, after)
    entries = [(a.account, n - o) for a, o, n in zip(allocations, old, new, strict=True) if n != o]
    entries.append((clearing_account(payment), before - after))
    return post_transaction(
        actor=actor,
        cause=cause,
        memo=memo[:255],
        entries=entries,
        idempotency_key=key,
        about=about if about is not None else payment,  # type: ignore[arg-type]
        audit=False,
    )


def book_dispute_fee(payment: Payment, fee: Money, *, key: str, actor: Actor) -> LedgerTransaction | None:
    if not fee.is_positive():
        return None
    return post_transaction(
        actor=actor,
        cause=Cause.DISPUTE,
        memo=f"Commissione di contestazione sul pagamento #{payment.pk}",
        entries=[(disputes_account(payment), fee), (clearing_account(payment), -fee)],
        idempotency_key=key,
        about=payment,
        audit=False,
    )


def duplicates_account(payment: Payment) -> Account:
    return get_account("duplicate_charges", key=payment.provider, currency=payment.currency)


def duplicate_key(duplicate_id: int) -> str:
    return f"duplicate-charge:{duplicate_id}"


def duplicate_refund_key(duplicate: DuplicateCharge) -> str:
    return f"duplicate-refund:{duplicate.pk}"


def book_duplicate_charge(duplicate: DuplicateCharge, *, actor: Actor) -> LedgerTransaction:
    """A second charge came in: the provider owes it to us, and we owe it back to the payer."""
    payment = duplicate.payment
    return post_transaction(
        actor=actor,
        cause=Cause.PAYMENT,
        memo=f"Addebito doppio {duplicate.provider_reference} sul pagamento #{payment.pk}"[:255],
        entries=[(clearing_account(payment), duplicate.amount), (duplicates_account(payment), -duplicate.amount)],
        idempotency_key=duplicate_key(duplicate.pk),
        about=duplicate,
        audit=False,
    )


def book_duplicate_refund(duplicate: DuplicateCharge, *, actor: Actor) -> LedgerTransaction:
    """The duplicate went back to the payer through the provider."""
    payment = duplicate.payment
    return post_transaction(
        actor=actor,
        cause=Cause.REFUND,
        memo=f"Rimborso dell'addebito doppio {duplicate.provider_reference} (pagamento #{payment.pk})"[:255],
        entries=[(duplicates_account(payment), duplicate.amount), (clearing_account(payment), -duplicate.amount)],
        idempotency_key=duplicate_refund_key(duplicate),
        about=duplicate,
        audit=False,
    )
