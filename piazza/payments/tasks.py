"""Periodic and deferred work (convention 13): thin, take ids, safe to run twice."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.db import transaction
from django.utils import timezone
from django_tasks import task

from piazza.core.audit import record
from piazza.payments.actions.outcomes import refund_duplicate_charge
from piazza.payments.actions.sync import adopt_provider_charge
from piazza.payments.checks import unbooked_charges
from piazza.payments.models import DuplicateCharge, DuplicateState
from piazza.payments.providers.base import ProviderError

log = logging.getLogger(__name__)


@task()
def run_due_charges() -> int:
    """Charge every due recurring schedule. Run it as often as you like: each cycle books once."""
    from django.db.models import Q

    from piazza.payments.actions.recurring import charge_schedule
    from piazza.payments.models import RecurringSchedule, ScheduleState

    now = timezone.now()
    due = (
        RecurringSchedule.objects.filter(
            state=ScheduleState.ACTIVE, saved_method__isnull=False, next_charge_on__lte=timezone.localdate()
        )
        .filter(Q(retry_at__isnull=True) | Q(retry_at__lte=now))
        .values_list("pk", flat=True)
    )
    charged = 0
    for schedule_id in list(due):
        if charge_schedule(actor=None, schedule_id=schedule_id) is not None:
            charged += 1
    return charged


@task()
def reconcile_pending(older_than_minutes: int = 10) -> int:
    """Re-fetch payments left pending (timeouts, abandoned redirects) and apply the provider's truth."""
    from piazza.payments.actions.sync import reconcile_payment
    from piazza.payments.models import Payment, State
    from piazza.payments.providers.base import ProviderError

    cutoff = timezone.now() - timedelta(minutes=older_than_minutes)
    count = 0
    for payment in Payment.objects.filter(state=State.PENDING, updated_at__lte=cutoff).order_by("pk")[:500]:
        try:
            reconcile_payment(actor=None, payment=payment)
            count += 1
        except ProviderError:
            continue
    return count


@task()
def retry_webhooks(older_than_minutes: int = 5) -> int:
    """Process again stored events whose handling failed (the provider may not resend them)."""
    from piazza.payments.models import WebhookEvent, WebhookStatus
    from piazza.payments.webhooks import process_event

    cutoff = timezone.now() - timedelta(minutes=older_than_minutes)
    ids = list(
        WebhookEvent.objects.filter(
            status__in=[WebhookStatus.FAILED, WebhookStatus.RECEIVED], received_at__lte=cutoff, attempts__lt=10
        ).values_list("pk", flat=True)
    )
    for event_id in ids:
        process_event(event_id)
    return len(ids)


@task()
def reconcile_provider_charges(hours: int = 72, grace_minutes: int = 30) -> int:
    """Compare the providers' successful charges with the ledger (issue 10, finding 7).

    Retries the automatic refunds of duplicate charges still pending; applies any charge the
    ledger lacks to its payment (booked, or refunded as a duplicate); what is still missing
    is logged as an error and written to the audit log for the treasury. Returns that count.
    """
    for duplicate_id in list(
        DuplicateCharge.objects.filter(state=DuplicateState.REFUND_PENDING).values_list("pk", flat=True)
    ):
        refund_duplicate_charge(actor=None, duplicate_id=duplicate_id)
    now = timezone.now()
    since, until = now - timedelta(hours=hours), now - timedelta(minutes=grace_minutes)
    missing, _failures = unbooked_charges(since=since, until=until)
    for item in missing:
        try:
            adopt_provider_charge(
                actor=None,
                provider_id=item.provider,
                reference=item.charge.reference,
                payment_id=item.charge.payment_id,
            )
        except ProviderError:
            continue
    missing, failures = unbooked_charges(since=since, until=until)
    problems = [str(m.violation()) for m in missing] + [str(f) for f in failures]
    if problems:
        log.error("provider charges not in the ledger: %s", "; ".join(problems))
        with transaction.atomic():
            record("payments.provider_charges_unbooked", actor=None, data={"problems": problems[:200]})
    return len(problems)
