"""Payments and their attempts: creation, charging, results, cancellation (the state machine)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, models, transaction
from django.db.models import Q, Subquery
from django.utils import timezone
from django.utils.translation import gettext as _

from piazza.core.audit import Actor, audited_atomic, record, reserve_ids
from piazza.core.errors import Refused, refuse, refusing
from piazza.core.money import Money, format_money
from piazza.core.prepared import prepared_read
from piazza.core.write_queue import queue_insert
from piazza.ledger.models import Account
from piazza.payments.models import (
    IN_FLIGHT_ATTEMPT_STATES,
    AttemptState,
    Payment,
    PaymentAllocation,
    PaymentAttempt,
    State,
)
from piazza.payments.payables import handler_for, notify
from piazza.payments.providers.base import (
    Capability,
    ChargeResult,
    Outcome,
    ProviderError,
)
from piazza.payments.providers.registry import get_provider

from ._transitions import _event, _locked, _move, _payment_for_update, _sync, log
from .methods import check_instrument
from .outcomes import _fail, _is_duplicate, _record_duplicate, _save_method, _schedule_after_success_method, _succeed
from .sync import reconcile_payment

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
    new_key: bool = False,
) -> Payment:
    """Create a payment for `payable`, to be paid on the payment page (`payment.token`).

    `allocations` = [(ledger account, Money), …] summing to `amount`; they are booked on success.
    Idempotent by `creation_key` (e.g. "donation:42"): the same key returns the same payment.
    `new_key=True`: the caller vouches that nothing can hold the key yet (the id of a row it
    inserted in the same transaction, a donation's): no look-up and no savepoint (issue 14, P4);
    a clash then fails the caller's transaction as a whole. Keys that can come again (a
    membership fee started a second time) keep the default.
    Bad input (zero, negative, float, currency mismatch, unknown provider) is refused with a
    clear message and nothing is written.
    """
    action = "payments.create_payment"
    if not isinstance(amount, Money):
        refuse(
            action,
            _("L'importo deve essere un valore esatto in centesimi (Money), non %(t)s.") % {"t": type(amount).__name__},
            actor=actor,
            code="not_money",
            field="amount",
        )
    if not amount.is_positive():
        refuse(
            action,
            _("L'importo deve essere maggiore di zero (ricevuto %(a)s).") % {"a": format_money(amount)},
            actor=actor,
            code="amount_not_positive",
            field="amount",
        )
    if not allocations:
        refuse(
            action, _("Indica su quali conti va l'importo (ripartizione mancante)."), actor=actor, code="no_allocations"
        )
    total = 0
    for account, share in allocations:
        if not isinstance(share, Money) or not isinstance(account, Account):
            refuse(
                action,
                _("Ogni quota della ripartizione è un conto con un importo esatto (Money)."),
                actor=actor,
                code="bad_allocation",
            )
        if share.currency != amount.currency or account.currency != amount.currency:
            refuse(
                action,
                _("Valute diverse: il pagamento è in %(p)s ma una quota o un conto è in %(q)s.")
                % {
                    "p": amount.currency,
                    "q": share.currency if share.currency != amount.currency else account.currency,
                },
                actor=actor,
                code="currency_mismatch",
            )
        if not share.is_positive():
            refuse(
                action,
                _("Ogni quota della ripartizione deve essere maggiore di zero."),
                actor=actor,
                code="allocation_not_positive",
            )
        total += share.cents
    if total != amount.cents:
        refuse(
            action,
            _("Le quote (%(t)s) non corrispondono all'importo (%(a)s).")
            % {"t": format_money(Money(total, amount.currency)), "a": format_money(amount)},
            actor=actor,
            code="allocations_mismatch",
        )
    try:
        chosen = get_provider(provider)
    except LookupError:
        refuse(
            action,
            _("Metodo di pagamento sconosciuto: %(p)s.") % {"p": provider},
            actor=actor,
            code="unknown_provider",
            field="provider",
        )
    if not chosen.is_available():
        refuse(
            action,
            _("Il metodo di pagamento %(p)s non è disponibile.") % {"p": chosen.verbose_name},
            actor=actor,
            code="provider_unavailable",
            field="provider",
        )
    if save_method and not chosen.has(Capability.RECURRING):
        refuse(
            action,
            _("Il metodo %(p)s non consente addebiti ricorrenti.") % {"p": chosen.verbose_name},
            actor=actor,
            code="no_recurring",
            field="provider",
        )

    payment = Payment(
        creation_key=creation_key,
        provider=provider,
        description=description[:200],
        payer=payer,
        payer_name=payer_name[:200],
        payer_email=payer_email,
        territory=territory,
        return_url=return_url,
        save_method=save_method,
        schedule=schedule,
        metadata=metadata or {},
    )
    payment.amount = amount
    if payable is not None:
        payment.payable_type = ContentType.objects.get_for_model(payable)
        payment.payable_id = str(payable.pk)
    if new_key:
        with transaction.atomic(savepoint=False):
            return _insert_payment(payment, allocations, actor=actor, queued=True)
    existing = Payment.objects.filter(creation_key=creation_key).first()
    if existing is not None:
        if existing.amount != amount:
            refuse(
                action,
                _("Questa richiesta di pagamento esiste già con un altro importo."),
                actor=actor,
                code="creation_key_conflict",
            )
        return existing
    try:
        with transaction.atomic():
            payment = _insert_payment(payment, allocations, actor=actor, queued=False)
    except IntegrityError:
        return Payment.objects.get(creation_key=creation_key)
    return payment


def _insert_payment(
    payment: Payment, allocations: Sequence[tuple[Account, Money]], *, actor: Actor, queued: bool
) -> Payment:
    """Write `payment` (built by `create_payment`), its allocations, created event and audit entry;
    the caller holds the transaction. `queued`: the key is new, so the payment's INSERT can wait for
    the block's last statement (a clash fails the whole block, ADR 0037, 0046); otherwise it is
    written now, where the caller's savepoint catches the clash of a key started twice."""
    if queued:
        queue_insert(payment, need_id=True)
    else:
        payment.save()
    queue_insert(
        *[
            PaymentAllocation(payment=payment, account=account, amount_cents=share.cents, currency=share.currency)
            for account, share in allocations
        ]
    )
    _event(payment, "created", actor=actor, to_state=State.CREATED)
    amount = payment.amount
    record(
        "payments.create_payment",
        actor=actor,
        obj=payment,
        territory=payment.territory,
        data={
            "amount": amount.cents,
            "currency": amount.currency,
            "provider": payment.provider,
            "key": payment.creation_key,
        },
    )
    return payment


# --- attempts and outcomes ------------------------------------------------------------------


def in_flight_attempt(payment: Payment) -> PaymentAttempt | None:
    """The attempt of `payment` whose charge may still happen (at most one, by constraint)."""
    return payment.attempts.filter(state__in=IN_FLIGHT_ATTEMPT_STATES).order_by("-number").first()


@prepared_read(PaymentAttempt)
def _attempt_of_key_or_last(client_key: str, payment_id: int) -> models.QuerySet[PaymentAttempt]:
    """The attempt of this key (a replay) and the payment's last attempt: one read, compiled once
    (ADR 0043)."""
    last = PaymentAttempt.objects.filter(payment_id=payment_id).order_by("-number").values("pk")[:1]
    return PaymentAttempt.objects.filter(Q(client_key=client_key) | Q(pk=Subquery(last)))


def begin_attempt(*, actor: Actor, payment: Payment, client_key: str) -> tuple[PaymentAttempt, bool]:
    """Open an attempt for the client's Idempotency-Key; (existing attempt, False) on a replay.

    At most one attempt per payment is in flight (issue 10, finding 7): under the payment's row
    lock, a request with another key (a second tab, a reload) while an attempt has no outcome
    yet gets that attempt back and charges nothing; the partial unique index
    `payment_one_attempt_in_flight` holds the same rule in the database (and on SQLite, where
    there is no row lock, it is what turns the second insert away).
    """
    # Refusals are decided under the lock and audited after the rollback (issue 11, item 23).
    with refusing("payments.begin_attempt", actor), audited_atomic():
        locked = _locked(payment.pk)
        _sync(payment, locked)
        # One read for both: the attempt of this key (a replay) and this payment's last attempt,
        # which tells both whether one is in flight (no attempt starts while one is in flight, so
        # it is always the last) and the next number (no COUNT; issue 14, P4).
        found = _attempt_of_key_or_last.rows(client_key, int(locked.pk))
        existing = next((a for a in found if a.client_key == client_key), None)
        if existing is not None:
            if existing.payment_id != payment.pk:
                raise Refused(_("Modulo non valido: ricarica la pagina."), "client_key_reused")
            return existing, False
        if not locked.is_open:
            raise Refused(
                _("Questo pagamento è già concluso (%(s)s): non serve pagare di nuovo.")
                % {"s": locked.get_state_display()},
                "payment_closed",
            )
        last = found[0] if found else None  # without a replay, only the payment's last attempt
        if last is not None and last.state in IN_FLIGHT_ATTEMPT_STATES:
            _event(locked, "attempt_already_in_flight", actor=actor, attempt=last.number)
            return last, False
        number = last.number + 1 if last is not None else 1
        # The attempt's id comes with the chain's lock and head, which its audit entry takes a
        # moment later anyway (no row lock between; ADR 0046).
        reserve_ids(PaymentAttempt)
        try:
            # Under PostgreSQL's row lock no other attempt of this payment can be inserted, so its
            # INSERT can wait for the block's last statement; where the unique index is the lock
            # (SQLite) it is written at once, in a savepoint that catches the clash.
            with transaction.atomic(savepoint=connection.vendor != "postgresql"):
                attempt = PaymentAttempt(payment=locked, number=number, client_key=client_key)
                queue_insert(attempt, need_id=True)
        except IntegrityError:
            in_flight = in_flight_attempt(locked) or PaymentAttempt.objects.filter(client_key=client_key).first()
            if in_flight is None or in_flight.payment_id != locked.pk:
                raise
            return in_flight, False
        if locked.state != State.PENDING:
            _move(locked, State.PENDING, actor=actor, kind="attempt_started", attempt=number, queued=True)
        else:
            _event(locked, "attempt_started", actor=actor, attempt=number)
    _sync(payment, locked)
    return attempt, True


def apply_charge_result(
    *, actor: Actor, payment: Payment, attempt: PaymentAttempt | None, result: ChargeResult, source: str
) -> Payment:
    """Apply a provider's answer to a charge under the payment's row lock.

    A successful charge for a payment already paid with another charge is a duplicate: it is
    recorded, booked and refunded automatically, never dropped (issue 10, finding 7). Its audit
    entries (the payment's, the payable's, the receipt's) are written together at the end (ADR 0032).
    """
    with audited_atomic():
        # The caller's attempt as saved: no refresh afterwards.
        locked = _locked(payment.pk) if attempt is None else _locked_and_settled(payment.pk, attempt, result)
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
            _succeed(
                locked,
                actor=actor,
                reference=result.reference,
                fee=result.fee,
                source=source,
                method=method,
                instrument=result.instrument,
            )
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


ATTEMPT_STATE_AFTER = {
    Outcome.SUCCEEDED: AttemptState.SUCCEEDED,
    Outcome.FAILED: AttemptState.FAILED,
    Outcome.REQUIRES_ACTION: AttemptState.REQUIRES_ACTION,
    Outcome.CANCELED: AttemptState.FAILED,
}


def _settle_attempt(attempt: PaymentAttempt, result: ChargeResult) -> None:
    """Write the provider's answer on `attempt` in one `UPDATE … RETURNING` (issue 14, P4).

    Called under the payment's row lock, so the lock order (payment, then attempt) is the one the
    former `SELECT … FOR UPDATE` and save kept; the UPDATE locks the attempt row itself. What the
    row may hold that the caller's copy does not (a reference or state written by a webhook) comes
    back in RETURNING and is copied into `attempt`, as the read under the lock used to be.
    """
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(SETTLE_SQL, _settle_params(attempt, result, now))
        row = cursor.fetchone()
    _copy_settled(attempt, result, row, now)


SETTLE_SQL = (
    "UPDATE payments_paymentattempt SET "
    "provider_reference = CASE WHEN %s = '' THEN provider_reference ELSE %s END, "
    "action_url = CASE WHEN %s = '' THEN action_url ELSE %s END, "
    "failure_code = %s, state = COALESCE(%s, state), updated_at = %s "
    "WHERE id = %s RETURNING provider_reference, action_url, state"
)


def _settle_params(attempt: PaymentAttempt, result: ChargeResult, now: Any) -> list[Any]:
    """The parameters of `SETTLE_SQL` for the provider's answer `result` on `attempt`."""
    state = ATTEMPT_STATE_AFTER.get(result.outcome)  # None: the state stays as the row has it
    reference, action_url = result.reference or "", result.action_url or ""
    updated_at = PaymentAttempt._meta.get_field("updated_at").get_db_prep_value(now, connection)
    return [reference, reference, action_url, action_url, result.failure_code or "", state, updated_at, attempt.pk]


def _copy_settled(attempt: PaymentAttempt, result: ChargeResult, row: Sequence[Any] | None, now: Any) -> None:
    """Copy what the attempt's UPDATE returned into the caller's `attempt` (no row: no attempt)."""
    if row is None or row[2] is None:  # the merged statement's LEFT JOIN gives NULLs for no attempt
        raise PaymentAttempt.DoesNotExist(f"payment attempt {attempt.pk}")
    attempt.provider_reference, attempt.action_url, attempt.state = row
    attempt.failure_code = result.failure_code or ""
    attempt.updated_at = now


# The payment locked FOR UPDATE first (a materialised CTE; the UPDATE's guard on it is a one-time
# filter evaluated before the attempt row is touched), then the attempt written: lock order payment
# → attempt, as every other path (ADR 0048).
LOCK_AND_SETTLE_SQL = (
    "WITH locked AS MATERIALIZED ({read}), settled AS ("  # noqa: S608 (constants only)
    + SETTLE_SQL.replace("WHERE id = %s", "WHERE id = %s AND EXISTS (SELECT 1 FROM locked)")
    + ") "
    "SELECT locked.*, settled.provider_reference, settled.action_url, settled.state "
    "FROM locked LEFT JOIN settled ON TRUE"
)


def _locked_and_settled(payment_id: int, attempt: PaymentAttempt, result: ChargeResult) -> Payment:
    """`_locked(payment_id)` then `_settle_attempt(attempt, result)`: on PostgreSQL in one statement
    (issue 14, P4: one round trip less per outcome; ADR 0048), elsewhere as the two statements.

    The snapshot a single statement reads with is taken before it waits for the payment's lock;
    that is safe here because both rows it returns are locked rows, which PostgreSQL re-reads at
    their newest committed version after the wait (the payment by FOR UPDATE, the attempt by the
    UPDATE), and nothing else is read."""
    if connection.vendor == "postgresql":
        now = timezone.now()
        params = _settle_params(attempt, result, now)
        found = _payment_for_update.rows_within(LOCK_AND_SETTLE_SQL, params, payment_id, tail=3)
        if found is not None:
            if not found:
                raise Payment.DoesNotExist(f"no payment {payment_id}")
            locked, settled = found[0]
            _copy_settled(attempt, result, settled, now)
            return locked
    locked = _locked(payment_id)
    _settle_attempt(attempt, result)
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
    """The payment page's submit: one attempt per Idempotency-Key, provider called outside transactions.

    On return the caller's `payment` holds the committed state (each step copies it back from
    the row it locked), so the page need not read it again."""
    if (
        # A payment still created never had an attempt (an attempt moves it to pending in the
        # transaction that inserts it; nothing moves back): no read (issue 14). A try racing this
        # one is met under the row lock by `begin_attempt`, which never starts a second charge.
        payment.state != State.CREATED
        and payment.attempts.filter(_stuck_attempts()).exists()
        and not PaymentAttempt.objects.filter(client_key=client_key).exists()
    ):
        # A new try while an earlier one's outcome is unknown (a timeout) could charge twice:
        # ask the provider first; if the earlier try went through, there is nothing to pay.
        try:
            _sync(payment, reconcile_payment(actor=actor, payment=payment))
        except ProviderError:
            refuse(
                "payments.pay",
                _(
                    "Il circuito non ha ancora confermato l'esito del tentativo precedente: "
                    "riprova tra qualche minuto. Non ti verrà addebitato nulla due volte."
                ),
                actor=actor,
                code="outcome_unknown",
            )
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
    _sync(payment, apply_charge_result(actor=actor, payment=payment, attempt=attempt, result=result, source="checkout"))
    return attempt  # `attempt` and `payment` as committed (apply_charge_result copied them back)


def _close_refused_attempt(*, actor: Actor, attempt: PaymentAttempt) -> None:
    with transaction.atomic():
        locked = _locked(attempt.payment_id)
        if PaymentAttempt.objects.filter(pk=attempt.pk, state=AttemptState.STARTED).update(
            state=AttemptState.FAILED, failure_code="refused_input", updated_at=timezone.now()
        ):
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
            raise Refused(
                _("Non si può annullare un pagamento %(s)s.") % {"s": locked.get_state_display()}, "not_cancelable"
            )
        _move(locked, State.CANCELED, actor=actor, kind="canceled", reason=reason[:200])
        notify(locked, "canceled")
        return locked
