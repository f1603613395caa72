"""Payment invariants added to `check_ledger`: every succeeded payment booked exactly once,
every executed refund reversed, nothing booked for money that never arrived."""

from __future__ import annotations

from django.contrib.contenttypes.models import ContentType
from django.db.models import Count, Sum

from piazza.ledger.checks import Violation


def payments_booked_once() -> list[Violation]:
    from piazza.ledger.models import Entry, LedgerTransaction
    from piazza.payments.models import BOOKED_STATES, Payment

    booked = set(
        LedgerTransaction.objects.filter(idempotency_key__startswith="payment:", cause="payment")
        .values_list("idempotency_key", flat=True)
    )
    out = []
    should = dict(Payment.objects.filter(state__in=BOOKED_STATES).values_list("pk", "amount_cents"))
    for pk in should:
        if f"payment:{pk}" not in booked:
            out.append(Violation("payments_booked_once", f"payment #{pk} succeeded but is not in the ledger"))
    not_received = Payment.objects.exclude(state__in=BOOKED_STATES).values_list("pk", flat=True)
    for pk in not_received:
        if f"payment:{pk}" in booked:
            out.append(Violation("payments_booked_once", f"payment #{pk} is booked but never succeeded"))
    # Credited allocations must equal the payment's amount (the debit on clearing).
    sums = dict(
        Entry.objects.filter(
            transaction__cause="payment", amount_cents__gt=0,
            transaction__about_type=ContentType.objects.get_for_model(Payment),
        )
        .values("transaction__about_id").annotate(t=Sum("amount_cents")).values_list("transaction__about_id", "t")
    )
    for pk, amount in should.items():
        got = sums.get(str(pk))
        if got is not None and got != amount:
            out.append(Violation("payments_booked_once", f"payment #{pk} of {amount} cents is booked as {got}"))
    return out


def allocations_match_amounts() -> list[Violation]:
    from piazza.payments.models import Payment

    rows = Payment.objects.annotate(total=Sum("allocations__amount_cents"), n=Count("allocations")) \
        .values_list("pk", "amount_cents", "total")
    return [Violation("allocations_match_amounts", f"payment #{pk}: allocations {total} ≠ amount {amount}")
            for pk, amount, total in rows if total != amount]


def refunds_reversed() -> list[Violation]:
    from piazza.ledger.models import Entry
    from piazza.payments.models import Refund, RefundState

    clearing = dict(
        Entry.objects.filter(transaction__idempotency_key__startswith="refund:", account__kind="provider_clearing")
        .values("transaction__idempotency_key").annotate(t=Sum("amount_cents"))
        .values_list("transaction__idempotency_key", "t")
    )
    out = []
    for pk, amount, state in Refund.objects.values_list("pk", "amount_cents", "state"):
        booked = clearing.get(f"refund:{pk}")
        if state == RefundState.SUCCEEDED and booked != -amount:
            out.append(Violation("refunds_reversed",
                                 f"refund #{pk} of {amount} cents executed but reversal booked as {booked}"))
        if state != RefundState.SUCCEEDED and booked is not None:
            out.append(Violation("refunds_reversed", f"refund #{pk} is {state} but was booked"))
    return out


def payments_never_over_reversed() -> list[Violation]:
    """Refunds plus lost/open disputes never exceed what was paid."""
    from piazza.payments.models import DisputeState, Payment, RefundState

    out = []
    refunded = dict(Payment.objects.filter(refunds__state=RefundState.SUCCEEDED)
                    .annotate(t=Sum("refunds__amount_cents")).values_list("pk", "t"))
    disputed = dict(Payment.objects.filter(disputes__state__in=[DisputeState.OPEN, DisputeState.LOST])
                    .annotate(t=Sum("disputes__amount_cents")).values_list("pk", "t"))
    amounts = dict(Payment.objects.filter(pk__in=set(refunded) | set(disputed)).values_list("pk", "amount_cents"))
    for pk, amount in amounts.items():
        total = (refunded.get(pk) or 0) + (disputed.get(pk) or 0)
        if total > amount:
            out.append(Violation("payments_never_over_reversed", f"payment #{pk}: {total} reversed of {amount}"))
    return out
