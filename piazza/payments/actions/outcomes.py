"""What a charge's result does to its payment: success, failure, duplicate charges, the schedule's next step."""

from __future__ import annotations

from functools import partial
from typing import Any

from django.db import transaction
from django.utils import timezone

from piazza.core.audit import Actor, record
from piazza.core.money import Money
from piazza.core.tasks import enqueue_on_commit
from piazza.payments import booking
from piazza.payments.emails import (
    send_payment_confirmation,
    send_recurring_failure_notice,
)
from piazza.payments.messages import decline_message
from piazza.payments.methods import instrument_metadata
from piazza.payments.models import (
    DuplicateCharge,
    DuplicateState,
    Payment,
    PaymentAttempt,
    SavedMethod,
    State,
)
from piazza.payments.payables import handler_for, notify
from piazza.payments.providers.base import (
    InstrumentInfo,
    Outcome,
    ProviderError,
)
from piazza.payments.providers.registry import get_provider

from ._transitions import _event, _locked, _move, log


def _save_method(payment: Payment, result_method: Any) -> SavedMethod | None:
    if result_method is None or not payment.save_method:
        return None
    method, _created = SavedMethod.objects.get_or_create(
        provider=payment.provider,
        method_reference=result_method.method_reference,
        defaults={
            "customer_reference": result_method.customer_reference,
            "label": result_method.label,
            "payer": payment.payer,
            "payer_email": payment.payer_email,
        },
    )
    if payment.saved_method_id is None:
        payment.saved_method = method
        payment.save(update_fields=["saved_method", "updated_at"])
    return method


def _succeed(
    payment: Payment,
    *,
    actor: Actor,
    reference: str,
    fee: Money | None,
    source: str,
    method: SavedMethod | None = None,
    instrument: InstrumentInfo | None = None,
) -> None:
    """Locked payment → succeeded, booked once, payable notified, confirmation emailed.

    The instrument the provider reports (fingerprint, funding type) is kept in the payment's
    metadata before the payable is notified, so its rules see it (M24, issue 11 item 6)."""
    if reference and not payment.provider_reference:
        payment.provider_reference = reference
    if fee is not None and payment.fee_cents is None:
        payment.fee_cents = fee.cents
    payment.failure_code = ""
    payment.failure_message = ""
    if instrument is not None:
        payment.metadata = {**(payment.metadata or {}), **instrument_metadata(instrument)}
    changed = ["provider_reference", "fee_cents", "failure_code", "failure_message", "metadata"]
    if payment.state == State.SUCCEEDED:
        payment.save(update_fields=[*changed, "updated_at"])
        return
    # One UPDATE for the charge's details and the transition.
    # Nothing in the rest of the block reads the payment's row: its UPDATE goes with the block's
    # last statement (ADR 0046).
    _move(payment, State.SUCCEEDED, actor=actor, kind="succeeded", source=source, also=changed, queued=True)
    booking.book_payment(payment, actor=actor, fee=fee)
    _schedule_after_success(payment, method)
    notify(payment, "succeeded")
    handler = handler_for(payment.payable_label)
    if handler is None or not handler.sends_own_receipt:
        enqueue_on_commit(send_payment_confirmation, payment.pk)


def _fail(payment: Payment, *, actor: Actor, code: str, source: str) -> None:
    if payment.state == State.FAILED and payment.failure_code == code:
        return
    payment.failure_code = code[:60]
    payment.failure_message = str(decline_message(code))[:300]
    payment.save(update_fields=["failure_code", "failure_message", "updated_at"])
    if payment.can_move_to(State.FAILED) and _move(
        payment, State.FAILED, actor=actor, kind="failed", source=source, code=code
    ):
        _schedule_after_failure(payment, actor=actor)
        notify(payment, "failed")


def _is_duplicate(payment: Payment, outcome: str, reference: str) -> bool:
    """A successful charge other than the one this (already paid) payment is booked with."""
    return (
        payment.is_booked
        and outcome == Outcome.SUCCEEDED
        and bool(reference)
        and bool(payment.provider_reference)
        and reference != payment.provider_reference
    )


def _record_duplicate(
    payment: Payment, *, actor: Actor, reference: str, attempt: PaymentAttempt | None, source: str
) -> DuplicateCharge:
    """On the locked, paid payment: record the second charge, book it in, refund it after commit."""
    if attempt is None:
        attempt = payment.attempts.filter(provider_reference=reference).first()
    duplicate = DuplicateCharge.objects.filter(provider=payment.provider, provider_reference=reference).first()
    if duplicate is None:
        duplicate = DuplicateCharge(
            payment=payment,
            attempt=attempt,
            provider=payment.provider,
            provider_reference=reference[:120],
            source=source[:100],
        )
        duplicate.amount = payment.amount
        duplicate.save()
        booking.book_duplicate_charge(duplicate, actor=actor)
        _event(
            payment,
            "duplicate_charge",
            actor=actor,
            duplicate=duplicate.pk,
            reference=reference,
            amount=duplicate.amount_cents,
            source=source,
        )
        record(
            "payments.duplicate_charge",
            actor=actor,
            obj=payment,
            territory=payment.territory,
            data={
                "duplicate": duplicate.pk,
                "reference": reference,
                "amount": duplicate.amount_cents,
                "source": source,
            },
        )
        log.error("payment %s: duplicate charge %s (%s), refunding automatically", payment.pk, reference, source)
    if duplicate.state == DuplicateState.REFUND_PENDING:
        # The refund is a provider call: after commit, outside any transaction (convention 5).
        transaction.on_commit(partial(refund_duplicate_charge, actor=actor, duplicate_id=duplicate.pk), robust=True)
    return duplicate


def refund_duplicate_charge(*, actor: Actor, duplicate_id: int) -> DuplicateCharge:
    """Give a duplicate charge back through the provider (key `duplicate:{attempt id}`), then book it.

    Safe to run again (the periodic reconciliation retries the pending ones): the provider's
    idempotency key and the ledger key make a second run a no-op.
    """
    duplicate = DuplicateCharge.objects.select_related("payment").get(pk=duplicate_id)
    if duplicate.state != DuplicateState.REFUND_PENDING:
        return duplicate
    payment = duplicate.payment
    try:
        result = get_provider(payment.provider).refund_charge(
            payment, duplicate.provider_reference, duplicate.amount, duplicate.refund_key
        )
    except ProviderError as exc:
        log.warning("duplicate charge %s: refund not possible now (%s)", duplicate.pk, exc)
        DuplicateCharge.objects.filter(pk=duplicate.pk).update(error=str(exc)[:300])
        duplicate.refresh_from_db()
        return duplicate
    with transaction.atomic():
        locked = _locked(payment.pk)
        fresh = DuplicateCharge.objects.select_for_update().get(pk=duplicate.pk)
        if fresh.state != DuplicateState.REFUND_PENDING:
            return fresh
        if result.status == "succeeded":
            fresh.state = DuplicateState.REFUNDED
            fresh.refund_reference = result.reference[:120]
            fresh.refunded_at = timezone.now()
            fresh.error = ""
            fresh.save()
            booking.book_duplicate_refund(fresh, actor=actor)
            _event(locked, "duplicate_charge_refunded", actor=actor, duplicate=fresh.pk, refund=result.reference)
            record(
                "payments.duplicate_charge_refunded",
                actor=actor,
                obj=locked,
                territory=locked.territory,
                data={
                    "duplicate": fresh.pk,
                    "reference": fresh.provider_reference,
                    "refund": result.reference,
                    "amount": fresh.amount_cents,
                },
            )
        elif result.status == "failed":
            fresh.state = DuplicateState.REFUND_FAILED
            fresh.error = (result.failure_code or "refund_failed")[:300]
            fresh.save()
            _event(locked, "duplicate_charge_refund_failed", actor=actor, duplicate=fresh.pk, code=fresh.error)
            record(
                "payments.duplicate_charge_refund_failed",
                actor=actor,
                obj=locked,
                territory=locked.territory,
                data={"duplicate": fresh.pk, "reference": fresh.provider_reference, "code": fresh.error},
            )
            log.error("duplicate charge %s: automatic refund failed (%s)", fresh.pk, fresh.error)
        return fresh


# --- recurring schedules (provider-agnostic) -----------------------------------------------


def _add_interval(day: Any, interval: str, anchor_day: int | None = None) -> Any:
    """The charge after `day`: same day of the next month (year), or the month's last day when it has
    none. `anchor_day` is the schedule's own day of the month, so that a gift started on 31 January is
    charged on 28 (29) February and then on 31 March again, not on the 28th for ever after."""
    import calendar

    months = 12 if interval == "yearly" else 1
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return day.replace(year=year, month=month, day=min(anchor_day or day.day, calendar.monthrange(year, month)[1]))


def _schedule_after_success_method(payment: Payment, method: SavedMethod | None) -> None:
    """Attach the first payment's saved method to its schedule (before or at success)."""
    from piazza.payments.models import RecurringSchedule

    if payment.schedule_id is None or method is None or int(payment.metadata.get("cycle", 0)) != 1:
        return
    RecurringSchedule.objects.filter(pk=payment.schedule_id, saved_method__isnull=True).update(saved_method=method)


def _schedule_after_success(payment: Payment, method: SavedMethod | None) -> None:
    from piazza.payments.models import RecurringSchedule

    if payment.schedule_id is None:
        return
    schedule = RecurringSchedule.objects.select_for_update().get(pk=payment.schedule_id)
    cycle = int(payment.metadata.get("cycle", 0))
    if cycle == 1:
        _schedule_after_success_method(payment, method)
        return
    if cycle == schedule.cycle:
        schedule.cycle += 1
        schedule.next_charge_on = _add_interval(
            schedule.next_charge_on, schedule.interval, anchor_day=timezone.localdate(schedule.created_at).day
        )
        schedule.failure_count = 0
        schedule.retry_at = None
        schedule.save(update_fields=["cycle", "next_charge_on", "failure_count", "retry_at"])


def _schedule_after_failure(payment: Payment, *, actor: Actor) -> None:
    """Retry with backoff; pause after too many failures; tell the payer either way."""
    from datetime import timedelta

    from django.conf import settings

    from piazza.payments.models import RecurringSchedule, ScheduleState

    if payment.schedule_id is None or int(payment.metadata.get("cycle", 0)) <= 1:
        return
    schedule = RecurringSchedule.objects.select_for_update().get(pk=payment.schedule_id)
    if schedule.state != ScheduleState.ACTIVE:
        return
    backoff_days: list[int] = list(getattr(settings, "PAYMENTS_RECURRING_BACKOFF_DAYS", [1, 3, 7]))
    max_failures = int(getattr(settings, "PAYMENTS_RECURRING_MAX_FAILURES", len(backoff_days) + 1))
    schedule.failure_count += 1
    if schedule.failure_count >= max_failures:
        schedule.state = ScheduleState.PAUSED
        schedule.paused_at = timezone.now()
        schedule.retry_at = None
    else:
        delay = backoff_days[min(schedule.failure_count - 1, len(backoff_days) - 1)]
        schedule.retry_at = timezone.now() + timedelta(days=delay)
    schedule.save(update_fields=["failure_count", "state", "paused_at", "retry_at"])
    record(
        "payments.recurring_failed",
        actor=actor,
        obj=schedule,
        territory=schedule.territory,
        data={"failures": schedule.failure_count, "state": schedule.state, "payment": payment.pk},
    )
    enqueue_on_commit(send_recurring_failure_notice, schedule.pk, payment.pk)
