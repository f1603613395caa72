"""Payment invariants added to `check_ledger`: every succeeded payment booked exactly once,
every executed refund reversed, nothing booked for money that never arrived.

`provider_charges_in_ledger` compares the other way round, from the providers' own books:
every successful charge a provider holds must be in our ledger (a payment booked with it, or
a duplicate charge booked and refunded). It calls the providers, so it is run by
`manage.py check_provider_charges` and the periodic `reconcile_provider_charges`, not by
every `check_ledger`."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.contrib.contenttypes.models import ContentType
from django.db.models import Count, Sum

from piazza.core.money import format_money
from piazza.ledger.checks import Violation
from piazza.ledger.models import Entry, LedgerTransaction
from piazza.payments.booking import duplicate_key
from piazza.payments.models import BOOKED_STATES, DuplicateCharge, Payment
from piazza.payments.providers.base import Capability, PaymentProvider, ProviderError, RemoteCharge
from piazza.payments.providers.registry import available_providers


def payments_booked_once() -> list[Violation]:
    from piazza.payments.models import BOOKED_STATES, Payment

    booked = set(
        LedgerTransaction.objects.filter(idempotency_key__startswith="payment:", cause="payment").values_list(
            "idempotency_key", flat=True
        )
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
            transaction__cause="payment",
            amount_cents__gt=0,
            transaction__about_type=ContentType.objects.get_for_model(Payment),
        )
        .values("transaction__about_id")
        .annotate(t=Sum("amount_cents"))
        .values_list("transaction__about_id", "t")
    )
    for pk, amount in should.items():
        got = sums.get(str(pk))
        if got is not None and got != amount:
            out.append(Violation("payments_booked_once", f"payment #{pk} of {amount} cents is booked as {got}"))
    return out


def allocations_match_amounts() -> list[Violation]:
    from piazza.payments.models import Payment

    rows = Payment.objects.annotate(total=Sum("allocations__amount_cents"), n=Count("allocations")).values_list(
        "pk", "amount_cents", "total"
    )
    return [
        Violation("allocations_match_amounts", f"payment #{pk}: allocations {total} ≠ amount {amount}")
        for pk, amount, total in rows
        if total != amount
    ]


def refunds_reversed() -> list[Violation]:
    from piazza.payments.models import Refund, RefundState

    clearing = dict(
        Entry.objects.filter(transaction__idempotency_key__startswith="refund:", account__kind="provider_clearing")
        .values("transaction__idempotency_key")
        .annotate(t=Sum("amount_cents"))
        .values_list("transaction__idempotency_key", "t")
    )
    out = []
    for pk, amount, state in Refund.objects.values_list("pk", "amount_cents", "state"):
        booked = clearing.get(f"refund:{pk}")
        if state == RefundState.SUCCEEDED and booked != -amount:
            out.append(
                Violation(
                    "refunds_reversed", f"refund #{pk} of {amount} cents executed but reversal booked as {booked}"
                )
            )
        if state != RefundState.SUCCEEDED and booked is not None:
            out.append(Violation("refunds_reversed", f"refund #{pk} is {state} but was booked"))
    return out


def payments_never_over_reversed() -> list[Violation]:
    """Refunds plus lost/open disputes never exceed what was paid."""
    from piazza.payments.models import DisputeState, Payment, RefundState

    out = []
    refunded = dict(
        Payment.objects.filter(refunds__state=RefundState.SUCCEEDED)
        .annotate(t=Sum("refunds__amount_cents"))
        .values_list("pk", "t")
    )
    disputed = dict(
        Payment.objects.filter(disputes__state__in=[DisputeState.OPEN, DisputeState.LOST])
        .annotate(t=Sum("disputes__amount_cents"))
        .values_list("pk", "t")
    )
    amounts = dict(Payment.objects.filter(pk__in=set(refunded) | set(disputed)).values_list("pk", "amount_cents"))
    for pk, amount in amounts.items():
        total = (refunded.get(pk) or 0) + (disputed.get(pk) or 0)
        if total > amount:
            out.append(Violation("payments_never_over_reversed", f"payment #{pk}: {total} reversed of {amount}"))
    return out


@dataclass(frozen=True)
class UnbookedCharge:
    provider: str
    charge: RemoteCharge
    problem: str

    def violation(self) -> Violation:
        return Violation("provider_charges_in_ledger", f"{self.provider}: {self.problem}")


def _charges_of(
    provider: PaymentProvider, since: dt.datetime, until: dt.datetime, failures: list[Violation]
) -> list[RemoteCharge]:
    try:
        return provider.successful_charges(since, until)
    except ProviderError as exc:
        failures.append(
            Violation(
                "provider_charges_in_ledger", f"{provider.identifier}: the list of charges could not be read ({exc})"
            )
        )
        return []


def unbooked_charges(
    *, since: dt.datetime, until: dt.datetime, providers: list[str] | None = None
) -> tuple[list[UnbookedCharge], list[Violation]]:
    """The providers' successful charges created in [since, until) that the ledger does not hold,
    and the providers that could not be asked. Pass `until` a little in the past: a charge of
    the last minutes may still be on its way to being applied."""
    missing: list[UnbookedCharge] = []
    failures: list[Violation] = []
    for provider in available_providers(Capability.CHARGE_LIST):
        if providers is not None and provider.identifier not in providers:
            continue
        charges = _charges_of(provider, since, until, failures)
        refs = [c.reference for c in charges]
        payments = {
            ref: (pk, cents)
            for ref, pk, cents in Payment.objects.filter(
                provider=provider.identifier,
                provider_reference__in=refs,
                state__in=BOOKED_STATES,
            ).values_list("provider_reference", "pk", "amount_cents")
        }
        duplicates = dict(
            DuplicateCharge.objects.filter(provider=provider.identifier, provider_reference__in=refs).values_list(
                "provider_reference", "pk"
            )
        )
        keys = {f"payment:{pk}" for pk, _cents in payments.values()}
        keys |= {duplicate_key(pk) for pk in duplicates.values()}
        booked = set(
            LedgerTransaction.objects.filter(idempotency_key__in=keys).values_list("idempotency_key", flat=True)
        )
        for charge in charges:
            what = f"charge {charge.reference} of {format_money(charge.amount)} (payment #{charge.payment_id or '?'})"
            if charge.reference in payments:
                pk, cents = payments[charge.reference]
                if f"payment:{pk}" not in booked:
                    missing.append(UnbookedCharge(provider.identifier, charge, f"{what} is not in the ledger"))
                elif cents != charge.amount.cents:
                    missing.append(
                        UnbookedCharge(
                            provider.identifier, charge, f"{what} is booked as {cents} cents on payment #{pk}"
                        )
                    )
            elif charge.reference in duplicates:
                if duplicate_key(duplicates[charge.reference]) not in booked:
                    missing.append(
                        UnbookedCharge(provider.identifier, charge, f"{what}, a duplicate, is not in the ledger")
                    )
            else:
                missing.append(UnbookedCharge(provider.identifier, charge, f"{what} is not in the ledger"))
    return missing, failures


def provider_charges_in_ledger(
    *, since: dt.datetime, until: dt.datetime, providers: list[str] | None = None
) -> list[Violation]:
    """Reconciliation (issue 10, finding 7): every successful provider charge is in the ledger."""
    missing, failures = unbooked_charges(since=since, until=until, providers=providers)
    return [m.violation() for m in missing] + failures
