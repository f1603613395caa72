"""Recurring schedules and charges on saved methods."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from piazza.core.audit import Actor, record
from piazza.core.errors import refuse, refusing
from piazza.core.money import Money, MoneyError
from piazza.ledger.models import Account
from piazza.payments.models import (
    Payment,
    PaymentAttempt,
    SavedMethod,
)
from piazza.payments.providers.base import (
    ProviderError,
)
from piazza.payments.providers.registry import get_provider
from piazza.territory.models import Role
from piazza.territory.scoping import has_role_at

from .lifecycle import apply_charge_result, begin_attempt, create_payment, mark_attempt_unknown
from .outcomes import _add_interval


def validate_amount(value: Any, currency: str = "EUR") -> Money:
    """Helper for forms and APIs: refuse floats, zero and negatives with the same messages."""
    if isinstance(value, float):
        raise ValidationError(_("Importo non valido: usa i centesimi esatti, non un numero con virgola mobile."))
    try:
        money = value if isinstance(value, Money) else Money(value, currency)
    except MoneyError as exc:
        raise ValidationError(_("Importo non valido.")) from exc
    if not money.is_positive():
        raise ValidationError(_("L'importo deve essere maggiore di zero."))
    return money


def create_recurring(
    *,
    actor: Actor,
    amount: Money,
    allocations: Sequence[tuple[Account, Money]],
    provider: str,
    description: str,
    creation_key: str,
    interval: str = "monthly",
    payable: models.Model | None = None,
    payer: Any = None,
    payer_name: str = "",
    payer_email: str = "",
    territory: Any = None,
    return_url: str = "",
) -> tuple[Any, Payment]:
    """A recurring gift or fee: the schedule plus its first payment (paid on-session, saving the method).

    Later charges are made by the periodic task `run_due_charges` through the saved method.
    """
    from piazza.payments.models import Interval, RecurringSchedule

    if interval not in Interval.values:
        refuse(
            "payments.create_recurring",
            _("Periodicità non valida: scegli mensile o annuale."),
            actor=actor,
            code="bad_interval",
            field="interval",
        )
    existing = RecurringSchedule.objects.filter(creation_key=creation_key).first()
    if existing is None:
        # create_payment's refusals travel out of the block and are audited after it (issue 11, item 23).
        with refusing("payments.create_recurring", actor, territory), transaction.atomic():
            schedule = RecurringSchedule(
                creation_key=creation_key,
                provider=provider,
                description=description[:200],
                interval=interval,
                next_charge_on=_add_interval(timezone.localdate(), interval),
                cycle=2,
                allocation_plan=[[a.pk, m.cents] for a, m in allocations],
                payer=payer,
                payer_name=payer_name[:200],
                payer_email=payer_email,
                territory=territory,
            )
            if isinstance(amount, Money):
                schedule.amount = amount
            if payable is not None:
                schedule.payable_type = ContentType.objects.get_for_model(payable)
                schedule.payable_id = str(payable.pk)
            # Validates amount/allocations/provider exactly like a one-off payment.
            payment = create_payment(
                actor=actor,
                amount=amount,
                allocations=allocations,
                provider=provider,
                description=description,
                creation_key=f"{creation_key}:cycle:1",
                payable=payable,
                payer=payer,
                payer_name=payer_name,
                payer_email=payer_email,
                territory=territory,
                return_url=return_url,
                save_method=True,
                metadata={"cycle": 1},
            )
            schedule.save()
            Payment.objects.filter(pk=payment.pk).update(schedule=schedule)
            payment.schedule = schedule
            record(
                "payments.create_recurring",
                actor=actor,
                obj=schedule,
                territory=territory,
                data={"amount": amount.cents, "interval": interval, "provider": provider},
            )
        return schedule, payment
    first = Payment.objects.get(creation_key=f"{creation_key}:cycle:1")
    return existing, first


def prepare_recurring_charge(*, actor: Actor, schedule_id: int) -> tuple[Payment, PaymentAttempt] | None:
    """Lock a due schedule (skipping one another runner holds) and open this cycle's attempt.

    Deterministic keys make a second run a no-op: the cycle's payment is unique by
    `schedule:{id}:cycle:{n}`, the attempt by `…:try:{failures+1}`.
    """
    from piazza.payments.models import RecurringSchedule, ScheduleState

    with refusing("payments.prepare_recurring_charge", actor), transaction.atomic():
        schedule = (
            RecurringSchedule.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(pk=schedule_id)
            .select_related("saved_method")
            .first()
        )
        now = timezone.now()
        if (
            schedule is None
            or schedule.state != ScheduleState.ACTIVE
            or schedule.saved_method is None
            or schedule.next_charge_on > timezone.localdate()
            or (schedule.retry_at is not None and schedule.retry_at > now)
        ):
            return None
        allocations = [
            (Account.objects.get(pk=account_id), Money(cents, schedule.currency))
            for account_id, cents in schedule.allocation_plan
        ]
        payment = create_payment(
            actor=actor,
            amount=schedule.amount,
            allocations=allocations,
            provider=schedule.provider,
            description=schedule.description,
            creation_key=f"{schedule.creation_key}:cycle:{schedule.cycle}",
            payable=None,
            payer=schedule.payer,
            payer_name=schedule.payer_name,
            payer_email=schedule.payer_email,
            territory=schedule.territory,
            schedule=schedule,
            metadata={"cycle": schedule.cycle},
        )
        if schedule.payable_type_id and not payment.payable_type_id:
            Payment.objects.filter(pk=payment.pk).update(
                payable_type_id=schedule.payable_type_id, payable_id=schedule.payable_id
            )
            payment.refresh_from_db()
        if payment.is_booked:
            return None
        client_key = f"{schedule.creation_key}:cycle:{schedule.cycle}:try:{schedule.failure_count + 1}"
        if schedule.resumes:
            # After a resume the failure count starts again: keep the keys of earlier tries apart.
            client_key += f":resume:{schedule.resumes}"
    attempt, created = begin_attempt(actor=actor, payment=payment, client_key=client_key)
    return (payment, attempt) if created else None


def charge_schedule(*, actor: Actor, schedule_id: int) -> Payment | None:
    """Run one due schedule: prepare (locked), charge off-session (no transaction), apply."""
    prepared = prepare_recurring_charge(actor=actor, schedule_id=schedule_id)
    if prepared is None:
        return None
    payment, attempt = prepared
    schedule = payment.schedule
    assert schedule is not None and schedule.saved_method is not None
    return _charge_saved_attempt(
        actor=actor, payment=payment, attempt=attempt, method=schedule.saved_method, source="recurring"
    )


def _charge_saved_attempt(
    *, actor: Actor, payment: Payment, attempt: PaymentAttempt, method: SavedMethod, source: str
) -> Payment:
    """Provider call outside any transaction, then the answer applied under the payment's lock."""
    try:
        result = get_provider(payment.provider).charge_saved(payment, attempt, method)
    except ProviderError as exc:
        mark_attempt_unknown(actor=actor, attempt=attempt, error=str(exc))
        return payment
    return apply_charge_result(actor=actor, payment=payment, attempt=attempt, result=result, source=source)


def charge_saved_method(
    *, actor: Actor, payment: Payment, method: SavedMethod, client_key: str, source: str = "one_click"
) -> Payment:
    """Charge a saved card for a one-off payment (one-click giving). Idempotent by `client_key`:
    a replayed click opens no second attempt and never charges twice."""
    attempt, created = begin_attempt(actor=actor, payment=payment, client_key=client_key)
    if not created:
        return payment
    return _charge_saved_attempt(actor=actor, payment=payment, attempt=attempt, method=method, source=source)


def cancel_schedule(*, actor: Actor, schedule: Any, via: str = "link", reason: str = "") -> Any:
    """Stop a recurring gift or fee (the payer's one-click link, or an official)."""
    from piazza.payments.models import RecurringSchedule, ScheduleState

    with transaction.atomic():
        locked = RecurringSchedule.objects.select_for_update().get(pk=schedule.pk)
        if locked.state == ScheduleState.CANCELED:
            return locked
        locked.state = ScheduleState.CANCELED
        locked.canceled_at = timezone.now()
        locked.retry_at = None
        locked.save(update_fields=["state", "canceled_at", "retry_at"])
        record(
            "payments.cancel_schedule",
            actor=actor,
            obj=locked,
            territory=locked.territory,
            data={"via": via, "reason": reason[:200]},
        )
        from piazza.payments.payables import notify_schedule_canceled

        notify_schedule_canceled(locked)
    return locked


def resume_schedule(*, actor: Actor, schedule: Any, via: str = "payer_link") -> Any:
    """Resume a recurring schedule paused after repeated failures (the payer from their signed
    page, or the treasury of its territory). The failure count starts again from zero and the
    next charge is due today at the earliest, so `run_due_charges` picks it up."""
    from piazza.payments.models import RecurringSchedule, ScheduleState

    action = "payments.resume_schedule"
    if via == "treasury" and (
        schedule.territory is None or not has_role_at(actor, schedule.territory, [Role.TREASURY, Role.ADMINISTRATOR])
    ):
        refuse(
            action,
            _("Solo la tesoreria del territorio può riprendere questa donazione ricorrente."),
            actor=actor,
            territory=schedule.territory,
            code="forbidden",
            permission=True,
        )
    current = RecurringSchedule.objects.get(pk=schedule.pk)
    # Refusals are checked before the write transaction so that their audit entry survives.
    if current.state == ScheduleState.CANCELED:
        refuse(
            action,
            _(
                "Questa donazione ricorrente è stata annullata: non si può riprendere. "
                "Per ricominciare serve una nuova donazione."
            ),
            actor=actor,
            territory=current.territory,
            code="schedule_canceled",
        )
    if current.state == ScheduleState.PAUSED and current.saved_method_id is None:
        refuse(
            action,
            _("Non c'è un metodo di pagamento salvato: serve una nuova donazione."),
            actor=actor,
            territory=current.territory,
            code="no_saved_method",
        )
    with transaction.atomic():
        locked = RecurringSchedule.objects.select_for_update().get(pk=schedule.pk)
        if locked.state != ScheduleState.PAUSED:
            return locked  # already active (a double click), or canceled meanwhile
        today = timezone.localdate()
        locked.state = ScheduleState.ACTIVE
        locked.failure_count = 0
        locked.resumes += 1
        locked.retry_at = None
        locked.paused_at = None
        locked.next_charge_on = max(locked.next_charge_on, today)
        locked.save(update_fields=["state", "failure_count", "resumes", "retry_at", "paused_at", "next_charge_on"])
        record(
            action,
            actor=actor,
            obj=locked,
            territory=locked.territory,
            data={"via": via, "next_charge_on": locked.next_charge_on.isoformat()},
        )
    return locked


def change_schedule_amount(
    *, actor: Actor, schedule: Any, amount: Money, allocations: Sequence[tuple[Account, Money]], via: str = "payer"
) -> Any:
    """Change what each later charge of a recurring schedule takes, and where it is booked
    (the payer's choice, from a page where they proved who they are). Charges already made are
    untouched; a cancelled schedule stays cancelled. The higher app checks its own rules first."""
    from piazza.payments.models import RecurringSchedule, ScheduleState

    action = "payments.change_schedule_amount"
    money = validate_amount(amount)
    if sum(m.cents for _a, m in allocations) != money.cents or any(
        m.currency != money.currency for _a, m in allocations
    ):
        raise ValueError("change_schedule_amount: the allocations must sum to the amount")
    current = RecurringSchedule.objects.get(pk=schedule.pk)
    if current.state == ScheduleState.CANCELED:
        refuse(
            action,
            _("Questa donazione ricorrente è stata annullata: per ricominciare serve una nuova donazione."),
            actor=actor,
            territory=current.territory,
            code="schedule_canceled",
        )
    if money.currency != current.currency:
        refuse(action, _("La valuta non può cambiare."), actor=actor, territory=current.territory, code="currency")
    with transaction.atomic():
        locked = RecurringSchedule.objects.select_for_update().get(pk=schedule.pk)
        if locked.state == ScheduleState.CANCELED:
            return locked  # cancelled meanwhile
        before = locked.amount_cents
        locked.amount = money
        locked.allocation_plan = [[a.pk, m.cents] for a, m in allocations]
        locked.save(update_fields=["amount_cents", "currency", "allocation_plan"])
        record(
            action,
            actor=actor,
            obj=locked,
            territory=locked.territory,
            data={"from_cents": before, "to_cents": money.cents, "via": via},
        )
    return locked
