"""What erasure does to the payments app's data (rule G5, issue 12; vocabulary in piazza.core.erasure).

Monthly gifts are cancelled first (no charge after an erasure); a payment that moved money keeps
the payer's name under the accounting hold; emails, saved methods and access links go.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Q
from django.utils import timezone

from piazza.core.erasure import (
    BLANK,
    KEEP,
    LINK,
    PSEUDONYM,
    Declaration,
    HoldBook,
    scrub,
)
from piazza.payments.actions.recurring import cancel_schedule
from piazza.payments.models import (
    Dispute,
    MethodDevice,
    PayerAccessLink,
    Payment,
    RecurringSchedule,
    Refund,
    SavedMethod,
    ScheduleState,
    State,
)

ERASURE: Declaration = {
    Payment: {"payer": LINK, "payer_name": PSEUDONYM, "payer_email": BLANK, "return_url": BLANK},
    RecurringSchedule: {"payer": LINK, "payer_name": PSEUDONYM, "payer_email": BLANK},
    SavedMethod: {
        "payer": LINK,
        "payer_email": BLANK,
        "label": BLANK,
        "customer_reference": KEEP,
        "method_reference": KEEP,
    },
    PayerAccessLink: {"email": BLANK},  # kept (a device may point at it), expired and blanked
}

KEEP_REASONS = {
    "payments.savedmethod.customer_reference": "the provider's opaque customer id, needed to detach the card there",
    "payments.savedmethod.method_reference": "the provider's opaque method id; the method is revoked on erasure",
}

MOVED_MONEY = [State.SUCCEEDED, State.PARTIALLY_REFUNDED, State.REFUNDED, State.DISPUTED]

NOT_PERSONAL: Declaration = {
    Payment: {
        "token": "a random payment-page token",
        "creation_key": "an idempotency key built from our ids",
        "provider": "a provider's name",
        "currency": "an ISO currency code",
        "description": "what is paid for (campaign, fee year), never who",
        "payable_id": "a record id",
        "provider_reference": "the provider's opaque charge id (accounting, reconciliation)",
        "provider_customer": "the provider's opaque customer id",
        "failure_code": "a provider's error code",
        "failure_message": "a provider's error message about the card, not the person",
        "metadata": "ids of the payable (membership, election, cycle) the flows read back",
    },
    RecurringSchedule: {
        "token": "a random token",
        "creation_key": "an idempotency key",
        "provider": "a provider's name",
        "currency": "an ISO currency code",
        "description": "what is paid for, never who",
        "payable_id": "a record id",
        "allocation_plan": "ledger account ids and amounts",
    },
    SavedMethod: {"provider": "a provider's name"},
    Refund: {"reason": "why an official refunded (duplicate, requested…)"},
    Dispute: {"reason": "the card network's dispute reason code"},
}


def erase(person: Any, holds: HoldBook) -> dict[str, int]:
    schedules = RecurringSchedule.objects.filter(payer=person)
    cancelled = 0
    for schedule in schedules.exclude(state=ScheduleState.CANCELED):
        cancel_schedule(actor=None, schedule=schedule, via="erasure", reason="erasure")
        cancelled += 1
    payments = Payment.objects.filter(payer=person)
    emails = list(person.emails.values_list("value", flat=True))
    methods = SavedMethod.objects.filter(
        pk__in=list(
            SavedMethod.objects.filter(Q(payer=person) | Q(payer_email__in=emails)).values_list("pk", flat=True)
        )
    )
    MethodDevice.objects.filter(method__in=methods, revoked_at=None).update(revoked_at=timezone.now())
    MethodDevice.objects.filter(method__in=methods).update(label="")
    return {
        "schedules_cancelled": cancelled,
        "schedules": scrub(schedules, ERASURE[RecurringSchedule]),
        **erase_payments(payments, holds),
        "saved_methods": scrub(methods, ERASURE[SavedMethod]),
        "access_links": _expire_links(emails),
    }


def _expire_links(emails: list[str]) -> int:
    links = PayerAccessLink.objects.filter(
        pk__in=list(PayerAccessLink.objects.filter(email__in=emails).values_list("pk", flat=True))
    )
    links.filter(expires_at__gt=timezone.now()).update(expires_at=timezone.now())
    return scrub(links, ERASURE[PayerAccessLink])


def erase_payments(payments: Any, holds: HoldBook) -> dict[str, int]:
    """Blank the payer of these payments; one that moved money keeps the name under the accounting
    hold. Higher apps call it for the payments of their own records (a donation's payment)."""
    payments = Payment.objects.filter(pk__in=list(payments.values_list("pk", flat=True)))
    held = holds.keep(
        payments.filter(state__in=MOVED_MONEY),
        kind="accounting",
        fields=["payer_name"],
        start=lambda p: (p.succeeded_at or p.created_at).date(),
        why="Pagamento eseguito: scritture contabili",
    )
    unheld = {k: v for k, v in ERASURE[Payment].items() if k != "payer_name"}
    return {
        "payments": scrub(payments, unheld) + scrub(payments, ERASURE[Payment], skip_pks=held),
        "payments_held": len(held),
    }
