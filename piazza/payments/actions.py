"""Every write to payments (convention 1), and the orchestration around provider calls.

The rule of convention 5: a provider is called **outside** any database transaction; its
answer is then applied by an action that locks the payment row (`select_for_update`) and
makes only allowed transitions. Applying the same answer twice (a webhook racing the browser's
return, a replayed event, two recurring runs) changes nothing the second time: transitions
are checked under the lock and every ledger booking has a deterministic idempotency key.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Sequence
from datetime import timedelta
from functools import partial
from typing import Any

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import IntegrityError, models, transaction
from django.db.models import Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from piazza.core.audit import Actor, record
from piazza.core.errors import Refused, refuse, refusing
from piazza.core.money import Money, MoneyError, format_money
from piazza.core.tasks import enqueue_on_commit
from piazza.ledger.models import Account, Cause
from piazza.payments import booking, methods
from piazza.payments.emails import (
    send_device_link,
    send_payer_link,
    send_payment_confirmation,
    send_recurring_failure_notice,
)
from piazza.payments.messages import decline_message
from piazza.payments.methods import instrument_metadata
from piazza.payments.models import (
    IN_FLIGHT_ATTEMPT_STATES,
    AttemptState,
    Dispute,
    DisputeState,
    DuplicateCharge,
    DuplicateState,
    LinkPurpose,
    MethodDevice,
    PayerAccessLink,
    Payment,
    PaymentAllocation,
    PaymentAttempt,
    PaymentEvent,
    PaymentMethodSetting,
    Refund,
    RefundState,
    SavedMethod,
    State,
    token_digest,
)
from piazza.payments.payables import handler_for, notify
from piazza.payments.providers.base import (
    Capability,
    ChargeResult,
    InstrumentInfo,
    Outcome,
    ProviderError,
    RemoteDispute,
    RemoteRefund,
    RemoteState,
)
from piazza.payments.providers.registry import get_provider
from piazza.payments.queries import payer_has_payments
from piazza.territory.models import Role
from piazza.territory.scoping import has_role_at

log = logging.getLogger(__name__)


class InvalidTransition(Exception):
    """A state change the machine does not allow (e.g. refunding a failed payment)."""


def _actor_label(actor: Actor) -> str:
    return actor.get_username() if actor is not None and getattr(actor, "is_authenticated", False) else ""


def _event(payment: Payment, kind: str, *, actor: Actor, from_state: str = "", to_state: str = "",
           **data: Any) -> None:
    PaymentEvent.objects.create(
        payment=payment, kind=kind, from_state=from_state, to_state=to_state, data=data,
        actor_label=_actor_label(actor),
    )


def _move(payment: Payment, to_state: str, *, actor: Actor, kind: str, **data: Any) -> bool:
    """Apply one transition on a locked payment; False (and nothing written) if already there."""
    if payment.state == to_state and to_state != State.PARTIALLY_REFUNDED:
        return False
    if not payment.can_move_to(to_state):
        raise InvalidTransition(f"payment #{payment.pk}: {payment.state} → {to_state} is not allowed")
    from_state = payment.state
    payment.state = to_state
    if to_state == State.SUCCEEDED and payment.succeeded_at is None:
        payment.succeeded_at = timezone.now()
    payment.save(update_fields=["state", "succeeded_at", "updated_at"])
    _event(payment, kind, actor=actor, from_state=from_state, to_state=to_state, **data)
    record(f"payments.{to_state}", actor=actor, obj=payment, territory=payment.territory,
           data={"from": from_state, "kind": kind, **data})
    return True


def _locked(payment_id: int) -> Payment:
    return Payment.objects.select_for_update(of=("self",)).get(pk=payment_id)


# --- creation -------------------------------------------------------------------------------


def create_payment(
    *,
    actor: Actor,
    amount: Money,
    allocations: Sequence[tuple[Account, Money]],
    provider: str,
    description: str,
    creation_key: str,
    payable: models.Model | None = None,
    payer: Any = None,
    payer_name: str = "",
    payer_email: str = "",
    territory: Any = None,
    return_url: str = "",
    save_method: bool = False,
    schedule: Any = None,
    metadata: dict[str, Any] | None = None,
) -> Payment:
    """Create a payment for `payable`, to be paid on the payment page (`payment.token`).

    `allocations` = [(ledger account, Money), …] summing to `amount`; they are booked on success.
    Idempotent by `creation_key` (e.g. "donation:42"): the same key returns the same payment.
    Bad input (zero, negative, float, currency mismatch, unknown provider) is refused with a
    clear message and nothing is written.
    """
    action = "payments.create_payment"
    if not isinstance(amount, Money):
        refuse(action, _("L'importo deve essere un valore esatto in centesimi (Money), non %(t)s.")
               % {"t": type(amount).__name__}, actor=actor, code="not_money", field="amount")
    if not amount.is_positive():
        refuse(action, _("L'importo deve essere maggiore di zero (ricevuto %(a)s).") % {"a": format_money(amount)},
               actor=actor, code="amount_not_positive", field="amount")
    if not allocations:
        refuse(action, _("Indica su quali conti va l'importo (ripartizione mancante)."),
               actor=actor, code="no_allocations")
    total = 0
    for account, share in allocations:
        if not isinstance(share, Money) or not isinstance(account, Account):
            refuse(action, _("Ogni quota della ripartizione è un conto con un importo esatto (Money)."),
                   actor=actor, code="bad_allocation")
        if share.currency != amount.currency or account.currency != amount.currency:
            refuse(action, _("Valute diverse: il pagamento è in %(p)s ma una quota o un conto è in %(q)s.")
                   % {"p": amount.currency, "q": share.currency if share.currency != amount.currency
                      else account.currency},
                   actor=actor, code="currency_mismatch")
        if not share.is_positive():
            refuse(action, _("Ogni quota della ripartizione deve essere maggiore di zero."),
                   actor=actor, code="allocation_not_positive")
        total += share.cents
    if total != amount.cents:
        refuse(action, _("Le quote (%(t)s) non corrispondono all'importo (%(a)s).")
               % {"t": format_money(Money(total, amount.currency)), "a": format_money(amount)},
               actor=actor, code="allocations_mismatch")
    try:
        chosen = get_provider(provider)
    except LookupError:
        refuse(action, _("Metodo di pagamento sconosciuto: %(p)s.") % {"p": provider}, actor=actor,
               code="unknown_provider", field="provider")
    if not chosen.is_available():
        refuse(action, _("Il metodo di pagamento %(p)s non è disponibile.") % {"p": chosen.verbose_name},
               actor=actor, code="provider_unavailable", field="provider")
    if save_method and not chosen.has(Capability.RECURRING):
        refuse(action, _("Il metodo %(p)s non consente addebiti ricorrenti.") % {"p": chosen.verbose_name},
               actor=actor, code="no_recurring", field="provider")

    existing = Payment.objects.filter(creation_key=creation_key).first()
    if existing is not None:
        if existing.amount != amount:
            refuse(action, _("Questa richiesta di pagamento esiste già con un altro importo."),
                   actor=actor, code="creation_key_conflict")
        return existing
    try:
        with transaction.atomic():
            payment = Payment(
                creation_key=creation_key, provider=provider, description=description[:200],
                payer=payer, payer_name=payer_name[:200], payer_email=payer_email, territory=territory,
                return_url=return_url, save_method=save_method, schedule=schedule, metadata=metadata or {},
            )
            payment.amount = amount
            if payable is not None:
                payment.payable_type = ContentType.objects.get_for_model(payable)
                payment.payable_id = str(payable.pk)
            payment.save()
            PaymentAllocation.objects.bulk_create([
                PaymentAllocation(payment=payment, account=account, amount_cents=share.cents, currency=share.currency)
                for account, share in allocations
            ])
            _event(payment, "created", actor=actor, to_state=State.CREATED)
            record("payments.create_payment", actor=actor, obj=payment, territory=territory,
                   data={"amount": amount.cents, "currency": amount.currency, "provider": provider,
                         "key": creation_key})
    except IntegrityError:
        return Payment.objects.get(creation_key=creation_key)
    return payment


# --- attempts and outcomes ------------------------------------------------------------------


def in_flight_attempt(payment: Payment) -> PaymentAttempt | None:
    """The attempt of `payment` whose charge may still happen (at most one, by constraint)."""
    return payment.attempts.filter(state__in=IN_FLIGHT_ATTEMPT_STATES).order_by("-number").first()


def begin_attempt(*, actor: Actor, payment: Payment, client_key: str) -> tuple[PaymentAttempt, bool]:
    """Open an attempt for the client's Idempotency-Key; (existing attempt, False) on a replay.

    At most one attempt per payment is in flight (issue 10, finding 7): under the payment's row
    lock, a request with another key (a second tab, a reload) while an attempt has no outcome
    yet gets that attempt back and charges nothing; the partial unique index
    `payment_one_attempt_in_flight` holds the same rule in the database (and on SQLite, where
    there is no row lock, it is what turns the second insert away).
    """
    # Refusals are decided under the lock and audited after the rollback (issue 11, item 23).
    with refusing("payments.begin_attempt", actor), transaction.atomic():
        locked = _locked(payment.pk)
        existing = PaymentAttempt.objects.filter(client_key=client_key).first()
        if existing is not None:
            if existing.payment_id != payment.pk:
                raise Refused(_("Modulo non valido: ricarica la pagina."), "client_key_reused")
            return existing, False
        if not locked.is_open:
            raise Refused(_("Questo pagamento è già concluso (%(s)s): non serve pagare di nuovo.")
                          % {"s": locked.get_state_display()}, "payment_closed")
        in_flight = in_flight_attempt(locked)
        if in_flight is not None:
            _event(locked, "attempt_already_in_flight", actor=actor, attempt=in_flight.number)
            return in_flight, False
        number = locked.attempts.count() + 1
        try:
            with transaction.atomic():
                attempt = PaymentAttempt.objects.create(payment=locked, number=number, client_key=client_key)
        except IntegrityError:
            in_flight = in_flight_attempt(locked) or PaymentAttempt.objects.filter(client_key=client_key).first()
            if in_flight is None or in_flight.payment_id != locked.pk:
                raise
            return in_flight, False
        if locked.state != State.PENDING:
            _move(locked, State.PENDING, actor=actor, kind="attempt_started", attempt=number)
        else:
            _event(locked, "attempt_started", actor=actor, attempt=number)
    payment.refresh_from_db()
    return attempt, True


def _save_method(payment: Payment, result_method: Any) -> SavedMethod | None:
    if result_method is None or not payment.save_method:
        return None
    method, _created = SavedMethod.objects.get_or_create(
        provider=payment.provider, method_reference=result_method.method_reference,
        defaults={"customer_reference": result_method.customer_reference, "label": result_method.label,
                  "payer": payment.payer, "payer_email": payment.payer_email},
    )
    if payment.saved_method_id is None:
        payment.saved_method = method
        payment.save(update_fields=["saved_method", "updated_at"])
    return method


def _succeed(payment: Payment, *, actor: Actor, reference: str, fee: Money | None, source: str,
             method: SavedMethod | None = None, instrument: InstrumentInfo | None = None) -> None:
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
    payment.save(update_fields=["provider_reference", "fee_cents", "failure_code", "failure_message", "metadata",
                                "updated_at"])
    if not _move(payment, State.SUCCEEDED, actor=actor, kind="succeeded", source=source):
        return
    booking.book_payment(payment, actor=actor)
    if fee is not None:
        booking.book_fee(payment, fee, actor=actor)
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
    if payment.can_move_to(State.FAILED) and _move(payment, State.FAILED, actor=actor, kind="failed",
                                                     source=source, code=code):
        _schedule_after_failure(payment, actor=actor)
        notify(payment, "failed")


def _is_duplicate(payment: Payment, outcome: str, reference: str) -> bool:
    """A successful charge other than the one this (already paid) payment is booked with."""
    return (payment.is_booked and outcome == Outcome.SUCCEEDED and bool(reference)
            and bool(payment.provider_reference) and reference != payment.provider_reference)


def _record_duplicate(payment: Payment, *, actor: Actor, reference: str, attempt: PaymentAttempt | None,
                      source: str) -> DuplicateCharge:
    """On the locked, paid payment: record the second charge, book it in, refund it after commit."""
    if attempt is None:
        attempt = payment.attempts.filter(provider_reference=reference).first()
    duplicate = DuplicateCharge.objects.filter(provider=payment.provider, provider_reference=reference).first()
    if duplicate is None:
        duplicate = DuplicateCharge(payment=payment, attempt=attempt, provider=payment.provider,
                                    provider_reference=reference[:120], source=source[:100])
        duplicate.amount = payment.amount
        duplicate.save()
        booking.book_duplicate_charge(duplicate, actor=actor)
        _event(payment, "duplicate_charge", actor=actor, duplicate=duplicate.pk, reference=reference,
               amount=duplicate.amount_cents, source=source)
        record("payments.duplicate_charge", actor=actor, obj=payment, territory=payment.territory,
               data={"duplicate": duplicate.pk, "reference": reference, "amount": duplicate.amount_cents,
                     "source": source})
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
        result = get_provider(payment.provider).refund_charge(payment, duplicate.provider_reference,
                                                              duplicate.amount, duplicate.refund_key)
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
            record("payments.duplicate_charge_refunded", actor=actor, obj=locked, territory=locked.territory,
                   data={"duplicate": fresh.pk, "reference": fresh.provider_reference, "refund": result.reference,
                         "amount": fresh.amount_cents})
        elif result.status == "failed":
            fresh.state = DuplicateState.REFUND_FAILED
            fresh.error = (result.failure_code or "refund_failed")[:300]
            fresh.save()
            _event(locked, "duplicate_charge_refund_failed", actor=actor, duplicate=fresh.pk, code=fresh.error)
            record("payments.duplicate_charge_refund_failed", actor=actor, obj=locked, territory=locked.territory,
                   data={"duplicate": fresh.pk, "reference": fresh.provider_reference, "code": fresh.error})
            log.error("duplicate charge %s: automatic refund failed (%s)", fresh.pk, fresh.error)
        return fresh


def apply_charge_result(*, actor: Actor, payment: Payment, attempt: PaymentAttempt | None,
                        result: ChargeResult, source: str) -> Payment:
    """Apply a provider's answer to a charge under the payment's row lock.

    A successful charge for a payment already paid with another charge is a duplicate: it is
    recorded, booked and refunded automatically, never dropped (issue 10, finding 7).
    """
    with transaction.atomic():
        locked = _locked(payment.pk)
        if attempt is not None:
            attempt = PaymentAttempt.objects.select_for_update().get(pk=attempt.pk)
            attempt.provider_reference = result.reference or attempt.provider_reference
            attempt.action_url = result.action_url or attempt.action_url
            attempt.failure_code = result.failure_code
            attempt.state = {
                Outcome.SUCCEEDED: AttemptState.SUCCEEDED, Outcome.FAILED: AttemptState.FAILED,
                Outcome.REQUIRES_ACTION: AttemptState.REQUIRES_ACTION, Outcome.CANCELED: AttemptState.FAILED,
            }.get(result.outcome, attempt.state)
            attempt.save()
        if result.customer_reference and not locked.provider_customer:
            locked.provider_customer = result.customer_reference
            locked.save(update_fields=["provider_customer", "updated_at"])
        if _is_duplicate(locked, result.outcome, result.reference):
            _record_duplicate(locked, actor=actor, reference=result.reference, attempt=attempt, source=source)
            return locked
        if locked.is_booked:
            # Already settled by another path (webhook vs browser return): nothing to apply.
            return locked
        if result.outcome == Outcome.SUCCEEDED:
            method = _save_method(locked, result.saved_method)
            _succeed(locked, actor=actor, reference=result.reference, fee=result.fee, source=source, method=method,
                     instrument=result.instrument)
        elif result.outcome == Outcome.FAILED:
            _fail(locked, actor=actor, code=result.failure_code or "card_declined", source=source)
        elif result.outcome == Outcome.CANCELED and locked.can_move_to(State.CANCELED):
            _move(locked, State.CANCELED, actor=actor, kind="canceled", source=source)
            notify(locked, "canceled")
        elif result.outcome == Outcome.REQUIRES_ACTION:
            _event(locked, "requires_action", actor=actor, source=source)
        elif result.outcome == Outcome.PENDING and result.saved_method is not None:
            # A bank mandate is signed now and settles days later: keep it for the schedule
            # at once, since the settlement (a statement line) does not carry it again.
            _schedule_after_success_method(locked, _save_method(locked, result.saved_method))
        return locked


def mark_attempt_unknown(*, actor: Actor, attempt: PaymentAttempt, error: str) -> None:
    """The provider did not answer: keep the payment pending, reconcile later by re-fetching."""
    with transaction.atomic():
        locked = _locked(attempt.payment_id)
        PaymentAttempt.objects.filter(pk=attempt.pk, state=AttemptState.STARTED).update(
            state=AttemptState.UNKNOWN, updated_at=timezone.now()
        )
        _event(locked, "provider_unreachable", actor=actor, attempt=attempt.number, error=error[:200])


def pay(*, actor: Actor, payment: Payment, client_key: str, data: dict[str, Any], return_url: str) -> PaymentAttempt:
    """The payment page's submit: one attempt per Idempotency-Key, provider called outside transactions."""
    if (payment.attempts.filter(_stuck_attempts()).exists()
            and not PaymentAttempt.objects.filter(client_key=client_key).exists()):
        # A new try while an earlier one's outcome is unknown (a timeout) could charge twice:
        # ask the provider first; if the earlier try went through, there is nothing to pay.
        try:
            payment = reconcile_payment(actor=actor, payment=payment)
        except ProviderError:
            refuse("payments.pay", _("Il circuito non ha ancora confermato l'esito del tentativo precedente: "
                                     "riprova tra qualche minuto. Non ti verrà addebitato nulla due volte."),
                   actor=actor, code="outcome_unknown")
        if payment.is_booked:
            return payment.attempts.order_by("-number")[0]
        # The provider holds no successful charge of the earlier try: it no longer blocks a new
        # one (should it succeed after all, it arrives as a duplicate and is refunded).
        _close_unknown_attempts(actor=actor, payment=payment)
    provider = get_provider(payment.provider)
    instrument = provider.preview_instrument(data)
    if instrument is not None:
        # The payable's rules on the instrument (M24: prepaid cards, cards per membership),
        # before the attempt exists and before any money moves; refused with its own message.
        check_instrument(actor=actor, payment=payment, instrument=instrument)
    attempt, created = begin_attempt(actor=actor, payment=payment, client_key=client_key)
    if not created:
        return attempt  # double click or replay: never a second charge
    handler = handler_for(payment.payable_label)
    if handler is not None and handler.capture_after_check:
        data = {**data, "capture_after_check": True}
    try:
        result = provider.start(payment, attempt, data, return_url)
    except ProviderError as exc:
        log.warning("payment %s attempt %s: provider error %s", payment.pk, attempt.number, exc)
        mark_attempt_unknown(actor=actor, attempt=attempt, error=str(exc))
        attempt.refresh_from_db()
        return attempt
    except ValidationError:
        # Refused before any charge (e.g. an IBAN that does not check): the attempt is over,
        # so it no longer holds the payment's one place in flight.
        _close_refused_attempt(actor=actor, attempt=attempt)
        raise
    apply_charge_result(actor=actor, payment=payment, attempt=attempt, result=result, source="checkout")
    attempt.refresh_from_db()
    return attempt


def _close_refused_attempt(*, actor: Actor, attempt: PaymentAttempt) -> None:
    with transaction.atomic():
        locked = _locked(attempt.payment_id)
        if PaymentAttempt.objects.filter(pk=attempt.pk, state=AttemptState.STARTED).update(
                state=AttemptState.FAILED, failure_code="refused_input", updated_at=timezone.now()):
            _event(locked, "attempt_refused", actor=actor, attempt=attempt.number)


def _stuck_attempts() -> models.Q:
    """Attempts whose outcome we do not know: a provider timeout, or a try that started long
    ago and never got an answer (a worker that died mid-call); settings.PAYMENTS_ATTEMPT_STALE_MINUTES."""
    stale = timezone.now() - timedelta(minutes=int(getattr(settings, "PAYMENTS_ATTEMPT_STALE_MINUTES", 15)))
    return models.Q(state=AttemptState.UNKNOWN) | models.Q(state=AttemptState.STARTED, updated_at__lt=stale)


def _close_unknown_attempts(*, actor: Actor, payment: Payment) -> None:
    with transaction.atomic():
        locked = _locked(payment.pk)
        if locked.is_booked:
            return
        for attempt in locked.attempts.filter(_stuck_attempts()):
            attempt.state = AttemptState.FAILED
            attempt.failure_code = "no_charge_found"
            attempt.save(update_fields=["state", "failure_code", "updated_at"])
            _event(locked, "attempt_closed", actor=actor, attempt=attempt.number, reason="no_charge_found")


def cancel_payment(*, actor: Actor, payment: Payment, reason: str = "") -> Payment:
    """Abandon an open payment (the payer gave up, or the payable was withdrawn)."""
    with refusing("payments.cancel_payment", actor, payment.territory), transaction.atomic():
        locked = _locked(payment.pk)
        if not locked.can_move_to(State.CANCELED):
            raise Refused(_("Non si può annullare un pagamento %(s)s.") % {"s": locked.get_state_display()},
                          "not_cancelable")
        _move(locked, State.CANCELED, actor=actor, kind="canceled", reason=reason[:200])
        notify(locked, "canceled")
        return locked


# --- reconciliation to the provider's truth ---------------------------------------------------


def _refunded_total(payment: Payment) -> Money:
    cents = payment.refunds.filter(state=RefundState.SUCCEEDED).aggregate(t=Sum("amount_cents"))["t"] or 0
    return Money(int(cents), payment.currency)


def _disputed_total(payment: Payment) -> Money:
    cents = payment.disputes.filter(state__in=[DisputeState.OPEN, DisputeState.LOST]) \
        .aggregate(t=Sum("amount_cents"))["t"] or 0
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
        refund = Refund(payment=payment, idempotency_key=f"remote-refund:{payment.provider}:{remote.reference}",
                        provider_reference=remote.reference, reason=_("Rimborso eseguito dal circuito"))
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
        payment, before=before, after=before + refund.amount, cause=Cause.REFUND,
        key=f"refund:{refund.pk}", memo=f"Rimborso di {refund.amount} sul pagamento #{payment.pk}",
        actor=actor, about=refund,
    )
    _move(payment, _state_after_reversals(payment), actor=actor, kind="refunded",
          source=source, refund=refund.pk, amount=refund.amount_cents)
    notify(payment, "refunded", refund=refund)


def _apply_dispute(payment: Payment, remote: RemoteDispute, *, actor: Actor, source: str) -> None:
    dispute, created = Dispute.objects.get_or_create(
        payment=payment, provider_reference=remote.reference,
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
        payment, before=before, after=after,
        cause=Cause.DISPUTE_WON if status == DisputeState.WON else Cause.DISPUTE,
        key=f"dispute:{dispute.pk}:{'opened' if created else status}",
        memo=f"Contestazione {remote.reference} ({status}) sul pagamento #{payment.pk}",
        actor=actor, about=dispute,
    )
    if created:
        booking.book_dispute_fee(payment, remote.fee, key=f"dispute-fee:{dispute.pk}", actor=actor)
    _move(payment, _state_after_reversals(payment), actor=actor, kind=f"dispute_{status}",
          source=source, dispute=dispute.pk)
    notify(payment, "disputed", dispute=dispute)


def sync_payment(*, actor: Actor, payment: Payment, remote: RemoteState, source: str) -> Payment:
    """Bring our payment to the provider's re-fetched state, in causal order, idempotently.

    An out-of-order event (a refund notice before the success notice) is harmless: the
    re-fetched state contains both, and success is applied before the refund.
    """
    with transaction.atomic():
        locked = _locked(payment.pk)
        if _is_duplicate(locked, remote.outcome, remote.reference):
            # Another charge than the one booked (a webhook about it): refund it, and leave the
            # payment alone (its refunds and disputes belong to the booked charge).
            _record_duplicate(locked, actor=actor, reference=remote.reference, attempt=None, source=source)
            return locked
        if remote.customer_reference and not locked.provider_customer:
            locked.provider_customer = remote.customer_reference
            locked.save(update_fields=["provider_customer", "updated_at"])
        if not locked.is_booked:
            if remote.outcome == Outcome.SUCCEEDED:
                method = _save_method(locked, remote.saved_method)
                _succeed(locked, actor=actor, reference=remote.reference, fee=remote.fee, source=source,
                         method=method, instrument=remote.instrument)
                locked.attempts.exclude(state=AttemptState.SUCCEEDED).filter(
                    provider_reference__in=[remote.reference, ""]
                ).update(state=AttemptState.SUCCEEDED)
            elif remote.outcome == Outcome.FAILED:
                _fail(locked, actor=actor, code=remote.failure_code or "card_declined", source=source)
                locked.attempts.filter(state=AttemptState.UNKNOWN).update(state=AttemptState.FAILED)
                if remote.reference:
                    # The attempt whose charge failed is no longer in flight: a retry may start.
                    locked.attempts.filter(state__in=IN_FLIGHT_ATTEMPT_STATES,
                                           provider_reference=remote.reference).update(state=AttemptState.FAILED)
            elif remote.outcome == Outcome.CANCELED and locked.can_move_to(State.CANCELED):
                _move(locked, State.CANCELED, actor=actor, kind="canceled", source=source)
                notify(locked, "canceled")
        if locked.is_booked:
            for remote_refund in remote.refunds:
                _apply_refund(locked, remote_refund, actor=actor, source=source)
            for remote_dispute in remote.disputes:
                _apply_dispute(locked, remote_dispute, actor=actor, source=source)
        elif remote.refunds or remote.disputes:
            log.warning("payment %s: provider reports refunds/disputes but no success", locked.pk)
        return locked


def reconcile_payment(*, actor: Actor, payment: Payment) -> Payment:
    """Re-fetch from the provider (outside a transaction) and sync. Never charges."""
    provider = get_provider(payment.provider)
    attempt = payment.attempts.order_by("-number").first()
    if attempt is not None and attempt.state in IN_FLIGHT_ATTEMPT_STATES and payment.is_open:
        try:  # an approval (PayPal) is checked against the payable's rules before any capture (M24)
            check_approved_instrument(actor=actor, payment=payment, attempt=attempt)
        except ValidationError:
            payment.refresh_from_db()
            return payment
    remote = provider.fetch(payment, attempt)
    return sync_payment(actor=actor, payment=payment, remote=remote, source="reconcile")


def adopt_provider_charge(*, actor: Actor, provider_id: str, reference: str, payment_id: str) -> Payment | None:
    """A successful provider charge the ledger lacks (found by reconciliation): re-fetch that
    charge and apply it to its payment: booked as the payment if still unpaid, or recorded as
    a duplicate and refunded if the payment was paid with another charge. Never charges."""
    if not payment_id.isdigit():
        return None
    payment = Payment.objects.filter(pk=int(payment_id), provider=provider_id).first()
    if payment is None:
        return None
    remote = get_provider(provider_id).fetch_charge(payment, reference)  # outside any transaction
    return sync_payment(actor=actor, payment=payment, remote=remote, source="reconcile_charges")


# --- refunds ----------------------------------------------------------------------------------


def request_refund(*, actor: Actor, payment: Payment, amount: Money, reason: str = "") -> Refund:
    """Record a refund to execute (full or partial); refuses more than what is left."""
    action = "payments.request_refund"

    if actor is not None and getattr(actor, "is_authenticated", False) and (
        payment.territory is None or not has_role_at(actor, payment.territory, [Role.TREASURY, Role.ADMINISTRATOR])
    ):
        refuse(action, _("Solo la tesoreria del territorio può rimborsare questo pagamento."),
               actor=actor, territory=payment.territory, code="forbidden", permission=True)
    if not isinstance(amount, Money):
        refuse(action, _("L'importo del rimborso deve essere un valore esatto (Money)."), actor=actor,
               code="not_money", field="amount")
    # Checks that need the locked row raise Refused; `refusing` audits them after the rollback.
    with refusing(action, actor, payment.territory), transaction.atomic():
        locked = _locked(payment.pk)
        if amount.currency != locked.currency:
            raise Refused(_("Il rimborso deve essere in %(c)s come il pagamento.") % {"c": locked.currency},
                          "currency_mismatch", field="amount")
        if not amount.is_positive():
            raise Refused(_("L'importo del rimborso deve essere maggiore di zero."), "amount_not_positive",
                          field="amount")
        if locked.state not in (State.SUCCEEDED, State.PARTIALLY_REFUNDED):
            raise Refused(_("Si può rimborsare solo un pagamento riuscito (questo è: %(s)s).")
                          % {"s": locked.get_state_display()}, "not_refundable")
        provider = get_provider(locked.provider)
        if not provider.has(Capability.REFUND):
            raise Refused(_("Il circuito %(p)s non consente rimborsi automatici.") % {"p": provider.verbose_name},
                          "no_refund_capability")
        requested = locked.refunds.exclude(state=RefundState.FAILED).aggregate(t=Sum("amount_cents"))["t"] or 0
        left = locked.amount - Money(int(requested), locked.currency)
        if amount > left:
            raise Refused(_("Si possono rimborsare al massimo %(l)s (già rimborsati o in corso: %(r)s).")
                          % {"l": format_money(left), "r": format_money(Money(int(requested), locked.currency))},
                          "refund_too_large", field="amount")
        if amount != locked.amount and not provider.has(Capability.PARTIAL_REFUND):
            raise Refused(_("Il circuito %(p)s consente solo rimborsi totali.") % {"p": provider.verbose_name},
                          "no_partial_refund", field="amount")
        refund = Refund(payment=locked, reason=reason[:200],
                        idempotency_key=f"refund:{locked.pk}:{requested}:{amount.cents}",
                        requested_by=actor if getattr(actor, "is_authenticated", False) else None)  # type: ignore[misc]
        refund.amount = amount
        refund.save()
        _event(locked, "refund_requested", actor=actor, refund=refund.pk, amount=amount.cents)
        record(action, actor=actor, obj=refund, territory=locked.territory,
               data={"payment": locked.pk, "amount": amount.cents, "reason": reason[:200]})
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
        _apply_refund(locked, RemoteRefund(reference=result.reference, amount=fresh.amount,
                                           status=result.status, our_id=str(fresh.pk)),
                      actor=actor, source="refund")
    refund.refresh_from_db()
    return refund


def refund_payment(*, actor: Actor, payment: Payment, amount: Money | None = None, reason: str = "") -> Refund:
    """Request and execute a refund; `amount=None` refunds what is left."""
    if amount is None:
        amount = payment.amount - reversed_total(payment)
    refund = request_refund(actor=actor, payment=payment, amount=amount, reason=reason)
    return execute_refund(actor=actor, refund=refund)


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
        refuse("payments.create_recurring", _("Periodicità non valida: scegli mensile o annuale."),
               actor=actor, code="bad_interval", field="interval")
    existing = RecurringSchedule.objects.filter(creation_key=creation_key).first()
    if existing is None:
        # create_payment's refusals travel out of the block and are audited after it (issue 11, item 23).
        with refusing("payments.create_recurring", actor, territory), transaction.atomic():
            schedule = RecurringSchedule(
                creation_key=creation_key, provider=provider, description=description[:200], interval=interval,
                next_charge_on=_add_interval(timezone.localdate(), interval), cycle=2,
                allocation_plan=[[a.pk, m.cents] for a, m in allocations],
                payer=payer, payer_name=payer_name[:200], payer_email=payer_email, territory=territory,
            )
            if isinstance(amount, Money):
                schedule.amount = amount
            if payable is not None:
                schedule.payable_type = ContentType.objects.get_for_model(payable)
                schedule.payable_id = str(payable.pk)
            # Validates amount/allocations/provider exactly like a one-off payment.
            payment = create_payment(
                actor=actor, amount=amount, allocations=allocations, provider=provider, description=description,
                creation_key=f"{creation_key}:cycle:1", payable=payable, payer=payer, payer_name=payer_name,
                payer_email=payer_email, territory=territory, return_url=return_url, save_method=True,
                metadata={"cycle": 1},
            )
            schedule.save()
            Payment.objects.filter(pk=payment.pk).update(schedule=schedule)
            payment.schedule = schedule
            record("payments.create_recurring", actor=actor, obj=schedule, territory=territory,
                   data={"amount": amount.cents, "interval": interval, "provider": provider})
        return schedule, payment
    first = Payment.objects.get(creation_key=f"{creation_key}:cycle:1")
    return existing, first


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
        schedule.next_charge_on = _add_interval(schedule.next_charge_on, schedule.interval,
                                                anchor_day=timezone.localdate(schedule.created_at).day)
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
    record("payments.recurring_failed", actor=actor, obj=schedule, territory=schedule.territory,
           data={"failures": schedule.failure_count, "state": schedule.state, "payment": payment.pk})
    enqueue_on_commit(send_recurring_failure_notice, schedule.pk, payment.pk)


def prepare_recurring_charge(*, actor: Actor, schedule_id: int) -> tuple[Payment, PaymentAttempt] | None:
    """Lock a due schedule (skipping one another runner holds) and open this cycle's attempt.

    Deterministic keys make a second run a no-op: the cycle's payment is unique by
    `schedule:{id}:cycle:{n}`, the attempt by `…:try:{failures+1}`.
    """
    from piazza.payments.models import RecurringSchedule, ScheduleState

    with refusing("payments.prepare_recurring_charge", actor), transaction.atomic():
        schedule = (RecurringSchedule.objects.select_for_update(skip_locked=True, of=("self",))
                    .filter(pk=schedule_id).select_related("saved_method").first())
        now = timezone.now()
        if (schedule is None or schedule.state != ScheduleState.ACTIVE or schedule.saved_method is None
                or schedule.next_charge_on > timezone.localdate()
                or (schedule.retry_at is not None and schedule.retry_at > now)):
            return None
        allocations = [(Account.objects.get(pk=account_id), Money(cents, schedule.currency))
                       for account_id, cents in schedule.allocation_plan]
        payment = create_payment(
            actor=actor, amount=schedule.amount, allocations=allocations, provider=schedule.provider,
            description=schedule.description, creation_key=f"{schedule.creation_key}:cycle:{schedule.cycle}",
            payable=None, payer=schedule.payer, payer_name=schedule.payer_name, payer_email=schedule.payer_email,
            territory=schedule.territory, schedule=schedule, metadata={"cycle": schedule.cycle},
        )
        if schedule.payable_type_id and not payment.payable_type_id:
            Payment.objects.filter(pk=payment.pk).update(payable_type_id=schedule.payable_type_id,
                                                         payable_id=schedule.payable_id)
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
    return _charge_saved_attempt(actor=actor, payment=payment, attempt=attempt, method=schedule.saved_method,
                                 source="recurring")


def _charge_saved_attempt(*, actor: Actor, payment: Payment, attempt: PaymentAttempt, method: SavedMethod,
                          source: str) -> Payment:
    """Provider call outside any transaction, then the answer applied under the payment's lock."""
    try:
        result = get_provider(payment.provider).charge_saved(payment, attempt, method)
    except ProviderError as exc:
        mark_attempt_unknown(actor=actor, attempt=attempt, error=str(exc))
        return payment
    return apply_charge_result(actor=actor, payment=payment, attempt=attempt, result=result, source=source)


def charge_saved_method(*, actor: Actor, payment: Payment, method: SavedMethod, client_key: str,
                        source: str = "one_click") -> Payment:
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
        record("payments.cancel_schedule", actor=actor, obj=locked, territory=locked.territory,
               data={"via": via, "reason": reason[:200]})
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
        refuse(action, _("Solo la tesoreria del territorio può riprendere questa donazione ricorrente."),
               actor=actor, territory=schedule.territory, code="forbidden", permission=True)
    current = RecurringSchedule.objects.get(pk=schedule.pk)
    # Refusals are checked before the write transaction so that their audit entry survives.
    if current.state == ScheduleState.CANCELED:
        refuse(action, _("Questa donazione ricorrente è stata annullata: non si può riprendere. "
                         "Per ricominciare serve una nuova donazione."),
               actor=actor, territory=current.territory, code="schedule_canceled")
    if current.state == ScheduleState.PAUSED and current.saved_method_id is None:
        refuse(action, _("Non c'è un metodo di pagamento salvato: serve una nuova donazione."),
               actor=actor, territory=current.territory, code="no_saved_method")
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
        record(action, actor=actor, obj=locked, territory=locked.territory,
               data={"via": via, "next_charge_on": locked.next_charge_on.isoformat()})
    return locked


def change_schedule_amount(*, actor: Actor, schedule: Any, amount: Money, allocations: Sequence[tuple[Account, Money]],
                           via: str = "payer") -> Any:
    """Change what each later charge of a recurring schedule takes, and where it is booked
    (the payer's choice, from a page where they proved who they are). Charges already made are
    untouched; a cancelled schedule stays cancelled. The higher app checks its own rules first."""
    from piazza.payments.models import RecurringSchedule, ScheduleState

    action = "payments.change_schedule_amount"
    money = validate_amount(amount)
    if sum(m.cents for _a, m in allocations) != money.cents or any(m.currency != money.currency
                                                                   for _a, m in allocations):
        raise ValueError("change_schedule_amount: the allocations must sum to the amount")
    current = RecurringSchedule.objects.get(pk=schedule.pk)
    if current.state == ScheduleState.CANCELED:
        refuse(action, _("Questa donazione ricorrente è stata annullata: per ricominciare serve una nuova donazione."),
               actor=actor, territory=current.territory, code="schedule_canceled")
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
        record(action, actor=actor, obj=locked, territory=locked.territory,
               data={"from_cents": before, "to_cents": money.cents, "via": via})
    return locked


# --- who may act for a payer (convention 16): device tokens and emailed one-time links -------

PAYER_LINK_LIFETIME = timedelta(minutes=30)


def remember_device(*, actor: Actor, payment: Payment, label: str = "") -> str | None:
    """Authorise this browser to charge the method that `payment` saved, in one click.

    Only for a booked payment whose payer asked to save the method; one device per payment
    (the unique `payment` column), so a replayed request issues nothing more. Returns the raw
    token to set in the browser's cookie, or None when nothing may be remembered.
    """
    raw = secrets.token_urlsafe(32)
    with transaction.atomic():
        locked = _locked(payment.pk)
        if not (locked.save_method and locked.is_booked and locked.saved_method_id is not None):
            return None
        if MethodDevice.objects.filter(payment=locked).exists():
            return None
        device = MethodDevice.objects.create(method_id=locked.saved_method_id, payment=locked,
                                             token_hash=token_digest(raw), label=label[:100])
        record("payments.remember_device", actor=actor, obj=device, territory=locked.territory,
               data={"payment": locked.pk, "method": locked.saved_method_id})
    return raw


def touch_device(*, actor: Actor, device: MethodDevice) -> None:
    """Note when the device last gave (bookkeeping of the device row; the gift itself is audited)."""
    MethodDevice.objects.filter(pk=device.pk).update(last_used_at=timezone.now())


def revoke_device(*, actor: Actor, raw: str, reason: str = "not_me") -> bool:
    """"Non sei tu?": the token stops working on the server, whoever still holds the cookie."""
    if not raw or len(raw) > 200:
        return False
    with transaction.atomic():
        device = (MethodDevice.objects.select_for_update().filter(token_hash=token_digest(raw),
                                                                   revoked_at__isnull=True).first())
        if device is None:
            return False
        device.revoked_at = timezone.now()
        device.save(update_fields=["revoked_at"])
        record("payments.revoke_device", actor=actor, obj=device, data={"reason": reason[:60]})
    return True


def revoke_device_by_id(*, actor: Actor, device_id: int, reason: str = "owner") -> bool:
    """The owner of a saved method revokes one of the browsers allowed to use it, from a page
    where they proved who they are (Il mio spazio): the caller checks the method is theirs."""
    with transaction.atomic():
        device = MethodDevice.objects.select_for_update().filter(pk=device_id, revoked_at__isnull=True).first()
        if device is None:
            return False
        device.revoked_at = timezone.now()
        device.save(update_fields=["revoked_at"])
        record("payments.revoke_device", actor=actor, obj=device, data={"reason": reason[:60]})
    return True


def request_payer_link(*, actor: Actor, email: str) -> bool:
    """Email a one-time link to the payer page of `email`, if that address has payments.

    The caller answers the same whatever happens (the answer must not tell a stranger whether
    an address has given): the return value is for tests and the audit log only.
    """
    address = email.strip().lower()
    with transaction.atomic():
        if not address or not payer_has_payments(address):
            record("payments.request_payer_link", actor=actor, data={"sent": False})
            return False
        raw = secrets.token_urlsafe(32)
        now = timezone.now()
        link = PayerAccessLink.objects.create(email=address, token_hash=token_digest(raw), created_at=now,
                                              expires_at=now + PAYER_LINK_LIFETIME)
        record("payments.request_payer_link", actor=actor, obj=link, data={"sent": True})
        enqueue_on_commit(send_payer_link, link.pk, raw)
    return True


def _spend_link(*, raw: str, purpose: str) -> PayerAccessLink:
    """Spend a one-time link (inside the caller's transaction): single use even under
    concurrency (a conditional UPDATE); an expired, spent or unknown link is refused with a
    message saying what to do next (the refusal's audit entry is written outside the rollback)."""
    now = timezone.now()
    digest = token_digest(raw) if raw and len(raw) <= 200 else ""
    links = PayerAccessLink.objects.filter(token_hash=digest, purpose=purpose)
    if digest and links.filter(used_at__isnull=True, expires_at__gt=now).update(used_at=now):
        return links.get()
    link = links.first() if digest else None
    if link is not None and link.used_at is not None:
        message = _("Questo link è già stato usato: ogni link vale una volta sola. Chiedine uno nuovo.")
        code = "link_used"
    elif link is not None:
        message = _("Questo link è scaduto (vale 30 minuti): chiedine uno nuovo.")
        code = "link_expired"
    else:
        message, code = _("Questo link non è valido: chiedine uno nuovo."), "link_unknown"
    raise _LinkRefused(str(message), code)


class _LinkRefused(Exception):
    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.message, self.code = message, code


def open_payer_link(*, actor: Actor, raw: str) -> str:
    """Spend an emailed payer-page link: the address whose payer page this browser may now see."""
    action = "payments.open_payer_link"
    try:
        with transaction.atomic():
            link = _spend_link(raw=raw, purpose=LinkPurpose.PAYER_PAGE)
            record(action, actor=actor, obj=link)
            return link.email
    except _LinkRefused as refused:
        refuse(action, refused.message, actor=actor, code=refused.code)
        raise AssertionError from refused  # unreachable: refuse() raises


def request_device_link(*, actor: Actor, email: str, next_path: str = "") -> bool:
    """Email a one-time link that lets the browser which opens it give in one click with the
    card saved by `email` — the donor proves control of the address instead of holding a
    device token. Only a card its owner once chose to remember qualifies (not one saved for a
    monthly gift alone). The caller answers the same whatever happens."""
    address = email.strip().lower()
    with transaction.atomic():
        method = (SavedMethod.objects.filter(payer_email__iexact=address, devices__isnull=False).distinct()
                  .order_by("-created_at", "-pk").first()) if address else None
        if method is None:
            record("payments.request_device_link", actor=actor, data={"sent": False})
            return False
        raw = secrets.token_urlsafe(32)
        now = timezone.now()
        link = PayerAccessLink.objects.create(
            purpose=LinkPurpose.DEVICE, email=address, method=method, token_hash=token_digest(raw), created_at=now,
            expires_at=now + PAYER_LINK_LIFETIME, next_path=next_path[:200])
        record("payments.request_device_link", actor=actor, obj=link, data={"sent": True, "method": method.pk})
        enqueue_on_commit(send_device_link, link.pk, raw)
    return True


def open_device_link(*, actor: Actor, raw: str, label: str = "") -> tuple[str, str]:
    """Spend an emailed device link: (the new device token for this browser's cookie, where to go)."""
    action = "payments.open_device_link"
    token = secrets.token_urlsafe(32)
    try:
        with transaction.atomic():
            link = _spend_link(raw=raw, purpose=LinkPurpose.DEVICE)
            assert link.method_id is not None
            device = MethodDevice.objects.create(method_id=link.method_id, link=link, token_hash=token_digest(token),
                                                 label=label[:100])
            record("payments.remember_device", actor=actor, obj=device,
                   data={"link": link.pk, "method": link.method_id, "via": "email_link"})
            return token, link.next_path
    except _LinkRefused as refused:
        refuse(action, refused.message, actor=actor, code=refused.code)
        raise AssertionError from refused  # unreachable: refuse() raises


# --- the payer's choice of method, and the payable's rules on the instrument (issue 11) ------


def check_instrument(*, actor: Actor, payment: Payment, instrument: InstrumentInfo) -> None:
    """The payable's rules on the instrument about to pay (M24 for membership fees): refused with
    the payable's own message and audit entry, before any money moves. Outside transactions."""
    handler = handler_for(payment.payable_label)
    if handler is not None:
        handler.check_instrument(payment, payment.payable, instrument, actor=actor)


def choose_method(*, actor: Actor, payment: Payment, method: str) -> Payment:
    """The payer picks how to pay (card, PayPal, bank transfer, SEPA direct debit): the payment
    moves to that method's rail. Only a method offered for this payment (`methods.offered_methods`),
    and only while no charge is in flight, so a running charge is never orphaned."""
    action = "payments.choose_method"
    chosen = next((m for m in methods.offered_methods(payment) if m.kind == method), None)
    if chosen is None:
        refuse(action, _("Questo metodo di pagamento non è disponibile per questo pagamento: scegline uno "
                         "dell'elenco."), actor=actor, territory=payment.territory, code="method_unavailable",
               field="method")
        raise AssertionError  # unreachable: refuse() raises
    if not methods.may_change(payment):
        refuse(action, _("Un pagamento è già in corso con il metodo scelto prima: attendi l'esito (o completa il "
                         "bonifico) prima di cambiare metodo."), actor=actor, territory=payment.territory,
               code="attempt_in_flight", field="method")
    with transaction.atomic():
        locked = _locked(payment.pk)
        if not methods.may_change(locked):  # changed since the read above: nothing is written
            raise ValidationError(_("Il pagamento è cambiato nel frattempo: ricarica la pagina."),
                                  code="changed")
        previous = locked.provider
        locked.provider = chosen.provider
        locked.metadata = {**(locked.metadata or {}), "method_chosen": chosen.kind}
        locked.save(update_fields=["provider", "metadata", "updated_at"])
        _event(locked, "method_chosen", actor=actor, method=chosen.kind, provider=chosen.provider,
               previous=previous)
        record(action, actor=actor, obj=locked, territory=locked.territory,
               data={"method": chosen.kind, "provider": chosen.provider, "previous": previous})
    payment.refresh_from_db()
    return payment


def check_approved_instrument(*, actor: Actor, payment: Payment, attempt: PaymentAttempt) -> None:
    """Back from the provider's site and before the capture (PayPal): the payable's rules on the
    account that approved. A refusal fails the attempt, so nothing captures it later (a webhook,
    reconciliation), and the payment page shows why; then the ValidationError is raised again."""
    handler = handler_for(payment.payable_label)
    if handler is None or not handler.capture_after_check:
        return
    instrument = get_provider(payment.provider).approved_instrument(payment, attempt)
    if instrument is None:
        return
    try:
        check_instrument(actor=actor, payment=payment, instrument=instrument)
    except ValidationError as exc:
        message = " ".join(exc.messages)
        with transaction.atomic():
            locked = _locked(payment.pk)
            PaymentAttempt.objects.filter(pk=attempt.pk, state__in=IN_FLIGHT_ATTEMPT_STATES).update(
                state=AttemptState.FAILED, failure_code="instrument_refused", updated_at=timezone.now())
            if locked.can_move_to(State.FAILED):
                locked.failure_code = "instrument_refused"
                locked.failure_message = message[:300]
                locked.save(update_fields=["failure_code", "failure_message", "updated_at"])
                _move(locked, State.FAILED, actor=actor, kind="failed", source="return", code="instrument_refused")
                notify(locked, "failed")
        try:
            get_provider(payment.provider).release_approval(payment, attempt)
        except ProviderError as release_error:  # the hold expires on its own; the refusal stands
            log.warning("payment %s: approval not released (%s)", payment.pk, release_error)
        raise


def set_territory_method(*, actor: Actor, territory: Any, provider: str, enabled: bool) -> PaymentMethodSetting:
    """A treasurer (or administrator) of `territory` offers or withdraws a rail for the payables of
    the territory and everything below it, unless a territory below says otherwise."""
    action = "payments.set_territory_method"
    if not has_role_at(actor, territory, [Role.TREASURY, Role.ADMINISTRATOR]):
        refuse(action, _("Solo la tesoreria di %(t)s decide i metodi di pagamento offerti lì.") % {"t": territory},
               actor=actor, territory=territory, code="out_of_scope", permission=True)
    try:
        get_provider(provider)
    except LookupError:
        refuse(action, _("Metodo di pagamento sconosciuto: %(p)s.") % {"p": provider}, actor=actor,
               territory=territory, code="unknown_provider", field="provider")
    with transaction.atomic():
        setting, _created = PaymentMethodSetting.objects.update_or_create(
            territory=territory, provider=provider, defaults={"enabled": enabled})
        record(action, actor=actor, obj=setting, territory=territory, data={"provider": provider, "enabled": enabled})
    return setting
