"""The payment state machine's primitives: events, allowed transitions, row locks."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone

from piazza.core.audit import Actor, record
from piazza.core.prepared import prepared_read
from piazza.core.write_queue import queue_insert, queue_save
from piazza.payments.models import (
    Payment,
    PaymentEvent,
    State,
)

log = logging.getLogger(__name__)


class InvalidTransition(Exception):
    """A state change the machine does not allow (e.g. refunding a failed payment)."""


def _actor_label(actor: Actor) -> str:
    return actor.get_username() if actor is not None and getattr(actor, "is_authenticated", False) else ""


def _event(payment: Payment, kind: str, *, actor: Actor, from_state: str = "", to_state: str = "", **data: Any) -> None:
    """Append an event; inside `audited_atomic()` it is written with the block's last statement
    (events are never read back in the transaction that adds them; ADR 0046)."""
    event = PaymentEvent(
        payment=payment,
        kind=kind,
        from_state=from_state,
        to_state=to_state,
        data=data,
        actor_label=_actor_label(actor),
    )
    queue_insert(event)


def _move(
    payment: Payment,
    to_state: str,
    *,
    actor: Actor,
    kind: str,
    also: Sequence[str] = (),
    queued: bool = False,
    **data: Any,
) -> bool:
    """Apply one transition on a locked payment; False (and nothing written) if already there.
    `also`: other fields the caller changed, saved in the same UPDATE (issue 14, P4). `queued`: the
    caller's block reads the payment's row no more, so its UPDATE waits for the block's end (ADR 0046)."""
    if payment.state == to_state and to_state != State.PARTIALLY_REFUNDED:
        return False
    if not payment.can_move_to(to_state):
        raise InvalidTransition(f"payment #{payment.pk}: {payment.state} → {to_state} is not allowed")
    from_state = payment.state
    payment.state = to_state
    if to_state == State.SUCCEEDED and payment.succeeded_at is None:
        payment.succeeded_at = timezone.now()
    fields = ["state", "succeeded_at", "updated_at", *also]
    if queued:
        queue_save(payment, fields)
    else:
        payment.save(update_fields=fields)
    _event(payment, kind, actor=actor, from_state=from_state, to_state=to_state, **data)
    record(
        f"payments.{to_state}",
        actor=actor,
        obj=payment,
        territory=payment.territory,
        data={"from": from_state, "kind": kind, **data},
    )
    return True


def _sync(target: Any, source: Any) -> None:
    """Copy a row's fields from the copy read under the lock into the caller's object, so the
    caller sees the committed state without reading the row again (issue 14, P4)."""
    if target is source:
        return
    for field in type(source)._meta.concrete_fields:
        setattr(target, field.attname, getattr(source, field.attname))


@prepared_read(Payment)
def _payment_for_update(payment_id: int) -> QuerySet[Payment]:
    """Compiled once (ADR 0043): every transition of every payment starts with this read."""
    return Payment.objects.select_related("territory").select_for_update(of=("self",)).filter(pk=payment_id)[:1]


def _locked(payment_id: int) -> Payment:
    """The payment under its row lock, with its territory (read by every transition's audit entry)."""
    locked = _payment_for_update.first(payment_id)
    if locked is None:
        raise Payment.DoesNotExist(f"no payment {payment_id}")
    return locked
