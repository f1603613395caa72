"""Every write to the ledger (convention 1): post a balanced transaction, or reverse one."""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from django.contrib.contenttypes.models import ContentType
from django.db import IntegrityError, connection, models, transaction
from django.db.models import F
from django.utils import timezone

from piazza.core.audit import Actor, record
from piazza.core.money import Money
from piazza.ledger.models import Account, BalanceSlot, Cause, Entry, LedgerTransaction

Posting = tuple[Account, Money]


class LedgerError(ValueError):
    """A transaction that would break a ledger invariant; nothing is written."""


class IdempotencyConflict(LedgerError):
    """The idempotency key was already used for a different transaction."""


def _check(entries: Sequence[Posting]) -> None:
    if len(entries) < 2:
        raise LedgerError("a ledger transaction needs at least two entries")
    totals: dict[str, int] = defaultdict(int)
    for account, amount in entries:
        if not isinstance(account, Account) or account.pk is None:
            raise LedgerError(f"not a saved ledger account: {account!r}")
        if not isinstance(amount, Money):
            raise LedgerError(f"entry amounts must be Money, got {type(amount).__name__}")
        if amount.is_zero():
            raise LedgerError(f"zero entry on {account}")
        if amount.currency != account.currency:
            raise LedgerError(f"{amount.currency} entry on {account.currency} account {account}")
        totals[amount.currency] += amount.cents
    unbalanced = {cur: cents for cur, cents in totals.items() if cents != 0}
    if unbalanced:
        raise LedgerError(f"entries do not sum to zero: {unbalanced}")


def _signature(pairs: Sequence[tuple[int, int]]) -> Counter[tuple[int, int]]:
    return Counter(pairs)


def _existing(key: str, entries: Sequence[Posting]) -> LedgerTransaction | None:
    txn = LedgerTransaction.objects.filter(idempotency_key=key).first()
    if txn is None:
        return None
    stored = _signature(list(txn.entries.values_list("account_id", "amount_cents")))
    wanted = _signature([(a.pk, m.cents) for a, m in entries])
    if stored != wanted:
        raise IdempotencyConflict(f"idempotency key {key!r} was already used for different entries")
    return txn


def _slot_for(account_id: int, slots: int) -> int:
    """The slot this database connection uses for an account.

    Random per connection (so concurrent writers to one hot account spread over its slots)
    but fixed within it: the several postings of one transaction that touch the same
    account (a gift, then its fee, on the clearing account) lock one slot row, not two.
    Two random slots per transaction let two transactions take them in opposite order and
    deadlock each other.
    """
    seed = getattr(connection, "_piazza_ledger_slot_seed", None)
    if seed is None:
        seed = random.randrange(1 << 30)
        connection._piazza_ledger_slot_seed = seed  # type: ignore[attr-defined]
    return (seed + account_id) % slots


def _bump_balances(entries: Sequence[Posting]) -> None:
    """Add each entry to one slot of its account; accounts in id order so writers never deadlock."""
    per_account: dict[int, int] = defaultdict(int)
    counts: dict[int, int] = defaultdict(int)
    slots: dict[int, int] = {}
    for account, amount in entries:
        per_account[account.pk] += amount.cents
        counts[account.pk] += 1
        slots[account.pk] = account.slots
    for account_id in sorted(per_account):
        slot = _slot_for(account_id, slots[account_id])
        BalanceSlot.objects.filter(account_id=account_id, slot=slot).update(
            balance_cents=F("balance_cents") + per_account[account_id],
            entry_count=F("entry_count") + counts[account_id],
        )


def post_transaction(
    *,
    actor: Actor,
    cause: str,
    memo: str,
    entries: Sequence[Posting],
    idempotency_key: str,
    about: models.Model | None = None,
    reverses: LedgerTransaction | None = None,
    audit: bool = True,
) -> LedgerTransaction:
    """Post `entries` (account, signed Money: + debit, − credit) as one balanced transaction.

    Idempotent: posting again with the same `idempotency_key` and the same entries returns
    the first transaction; the same key with different entries raises `IdempotencyConflict`.
    `about` links the cause (a payment, a refund, a payout). `audit=False` is for callers whose
    own action already writes the audit entry in the same transaction.
    """
    if cause not in Cause.values:
        raise LedgerError(f"unknown cause {cause!r}")
    if not idempotency_key:
        raise LedgerError("an idempotency key is required")
    _check(entries)
    existing = _existing(idempotency_key, entries)
    if existing is not None:
        return existing
    user = actor if actor is not None and getattr(actor, "is_authenticated", False) else None
    try:
        with transaction.atomic():
            txn = LedgerTransaction(
                cause=cause,
                memo=memo[:255],
                idempotency_key=idempotency_key,
                reverses=reverses,
                actor=user,  # type: ignore[misc]
                actor_label=user.get_username() if user is not None else "",
            )
            if about is not None:
                txn.about_type = ContentType.objects.get_for_model(about)
                txn.about_id = str(about.pk)
            txn.save()
            Entry.objects.bulk_create(
                [
                    Entry(
                        transaction=txn, account=a, amount_cents=m.cents, currency=m.currency, created_at=txn.created_at
                    )
                    for a, m in entries
                ]
            )
            _bump_balances(entries)
            if audit:
                record(
                    "ledger.post_transaction",
                    actor=actor,
                    obj=txn,
                    data={
                        "cause": cause,
                        "memo": memo[:255],
                        "entries": [[a.pk, m.cents, m.currency] for a, m in entries],
                    },
                )
    except IntegrityError:
        # A concurrent post with the same key won the race: return its transaction.
        existing = _existing(idempotency_key, entries)
        if existing is None:
            raise
        return existing
    return txn


@dataclass(frozen=True)
class Planned:
    """One ledger transaction of a batch (`post_transactions`)."""

    cause: str
    memo: str
    entries: Sequence[Posting]
    idempotency_key: str
    about: models.Model | None = None


def post_transactions(*, actor: Actor, planned: Sequence[Planned], savepoint: bool = True) -> list[LedgerTransaction]:
    """Post several balanced transactions with a fixed number of statements (issue 14, P4): one
    idempotency read for all keys, one INSERT of the transactions, one of all their entries, one
    balance UPDATE per account touched (in id order, as `_bump_balances`). Each keeps its own
    cause, memo and key, exactly as `post_transaction` would have posted it; none is audited (the
    caller's action writes the audit entry in the same transaction).

    `savepoint=False` when the caller holds a row lock that already serialises these keys (a
    payment's booking under its row lock): a duplicate key then aborts the caller's transaction
    instead of being absorbed, which cannot happen under the lock.
    """
    for plan in planned:
        if plan.cause not in Cause.values:
            raise LedgerError(f"unknown cause {plan.cause!r}")
        if not plan.idempotency_key:
            raise LedgerError("an idempotency key is required")
        _check(plan.entries)
    keys = [plan.idempotency_key for plan in planned]
    if len(set(keys)) != len(keys):
        raise LedgerError("the same idempotency key twice in one batch")
    if connection.vendor == "postgresql":
        with transaction.atomic(savepoint=savepoint):
            return _post_in_one_statement(actor, planned)
    found = {t.idempotency_key: t for t in LedgerTransaction.objects.filter(idempotency_key__in=keys)}
    for plan in planned:
        if plan.idempotency_key in found:
            _existing(plan.idempotency_key, plan.entries)  # the same entries, or IdempotencyConflict
    fresh = [plan for plan in planned if plan.idempotency_key not in found]
    if fresh:
        try:
            with transaction.atomic(savepoint=savepoint):
                _insert(actor, fresh, found)
        except IntegrityError:
            if not savepoint:
                raise
            # A concurrent post of one of the keys won the race: return what is there.
            return [_existing(plan.idempotency_key, plan.entries) or _missing(plan) for plan in planned]
    return [found[plan.idempotency_key] for plan in planned]


# The whole batch as one statement (PostgreSQL; docs/adr/0033): the transactions are inserted unless
# their key is already there (ON CONFLICT DO NOTHING waits for a concurrent poster of the same key and
# then skips), the entries only of the transactions inserted, and the balance slots bumped by what those
# entries add up to: the slot rows locked first in account order (as `_bump_balances`), so that two
# batches never take them in opposite orders, then updated. A key already used comes back absent from
# the answer and is checked against its stored entries afterwards.
POST_BATCH_SQL = """
WITH planned AS (
    SELECT * FROM unnest(%(ord)s::int[], %(cause)s::varchar[], %(about_type)s::int[], %(about_id)s::varchar[],
                         %(memo)s::varchar[], %(key)s::varchar[])
        AS p(ord, cause, about_type_id, about_id, memo, idempotency_key)
), txns AS (
    INSERT INTO ledger_ledgertransaction
        (cause, about_type_id, about_id, memo, idempotency_key, reverses_id, actor_id, actor_label, created_at)
    SELECT cause, about_type_id, about_id, memo, idempotency_key, NULL, %(actor)s, %(actor_label)s, %(at)s
    FROM planned ORDER BY ord
    ON CONFLICT (idempotency_key) DO NOTHING
    RETURNING id, idempotency_key
), postings AS (
    SELECT * FROM unnest(%(e_ord)s::int[], %(e_key)s::varchar[], %(e_account)s::bigint[], %(e_cents)s::bigint[],
                         %(e_currency)s::varchar[], %(e_slot)s::int[])
        AS e(ord, idempotency_key, account_id, amount_cents, currency, slot)
), entries AS (
    INSERT INTO ledger_entry (transaction_id, account_id, amount_cents, currency, created_at)
    SELECT t.id, e.account_id, e.amount_cents, e.currency, %(at)s
    FROM postings e JOIN txns t ON t.idempotency_key = e.idempotency_key ORDER BY e.ord
    RETURNING account_id, amount_cents
), deltas AS (
    SELECT account_id, SUM(amount_cents) AS cents, COUNT(*) AS n FROM entries GROUP BY account_id
), locked AS (
    SELECT s.id, s.account_id FROM ledger_balanceslot s
    WHERE (s.account_id, s.slot) IN (SELECT DISTINCT account_id, slot FROM postings)
      AND s.account_id IN (SELECT account_id FROM deltas)
    ORDER BY s.account_id FOR UPDATE OF s
), bumped AS (
    UPDATE ledger_balanceslot s
    SET balance_cents = s.balance_cents + d.cents, entry_count = s.entry_count + d.n
    FROM locked l JOIN deltas d ON d.account_id = l.account_id
    WHERE s.id = l.id
    RETURNING s.id
)
SELECT id, idempotency_key FROM txns
"""


def _post_in_one_statement(actor: Actor, planned: Sequence[Planned]) -> list[LedgerTransaction]:
    """`post_transactions` on PostgreSQL: one round trip for any number of fresh transactions (issue 14,
    P4). The same rows as `_insert`; keys already posted are answered by `_existing` (the same entries,
    or IdempotencyConflict, which rolls the batch back with the caller's atomic block)."""
    user = actor if actor is not None and getattr(actor, "is_authenticated", False) else None
    now = timezone.now()
    about_types = [
        ContentType.objects.get_for_model(plan.about).pk if plan.about is not None else None for plan in planned
    ]
    postings = [(plan, account, amount) for plan in planned for account, amount in plan.entries]
    params = {
        "ord": list(range(len(planned))),
        "cause": [plan.cause for plan in planned],
        "about_type": about_types,
        "about_id": [str(plan.about.pk) if plan.about is not None else "" for plan in planned],
        "memo": [plan.memo[:255] for plan in planned],
        "key": [plan.idempotency_key for plan in planned],
        "actor": user.pk if user is not None else None,
        "actor_label": user.get_username() if user is not None else "",
        "at": now,
        "e_ord": list(range(len(postings))),
        "e_key": [plan.idempotency_key for plan, _a, _m in postings],
        "e_account": [account.pk for _p, account, _m in postings],
        "e_cents": [amount.cents for _p, _a, amount in postings],
        "e_currency": [amount.currency for _p, _a, amount in postings],
        "e_slot": [_slot_for(account.pk, account.slots) for _p, account, _m in postings],
    }
    with connection.cursor() as cursor:
        cursor.execute(POST_BATCH_SQL, params)
        inserted = {str(key): int(pk) for pk, key in cursor.fetchall()}
    posted = []
    for plan, about_type in zip(planned, about_types, strict=True):
        pk = inserted.get(plan.idempotency_key)
        if pk is None:  # posted before (a replay) or by a concurrent poster of the same key
            posted.append(_existing(plan.idempotency_key, plan.entries) or _missing(plan))
            continue
        txn = LedgerTransaction(
            pk=pk,
            cause=plan.cause,
            memo=plan.memo[:255],
            idempotency_key=plan.idempotency_key,
            about_type_id=about_type,
            about_id=str(plan.about.pk) if plan.about is not None else "",
            actor=user,  # type: ignore[misc]
            actor_label=user.get_username() if user is not None else "",
            created_at=now,
        )
        txn._state.adding = False
        txn._state.db = connection.alias
        posted.append(txn)
    return posted


def _missing(plan: Planned) -> LedgerTransaction:
    raise LedgerError(f"ledger transaction {plan.idempotency_key!r} neither posted nor found")


def _insert(actor: Actor, fresh: Sequence[Planned], found: dict[str, LedgerTransaction]) -> None:
    user = actor if actor is not None and getattr(actor, "is_authenticated", False) else None
    rows = []
    for plan in fresh:
        txn = LedgerTransaction(
            cause=plan.cause,
            memo=plan.memo[:255],
            idempotency_key=plan.idempotency_key,
            actor=user,  # type: ignore[misc]
            actor_label=user.get_username() if user is not None else "",
        )
        if plan.about is not None:
            txn.about_type = ContentType.objects.get_for_model(plan.about)
            txn.about_id = str(plan.about.pk)
        rows.append(txn)
    LedgerTransaction.objects.bulk_create(rows)
    Entry.objects.bulk_create(
        [
            Entry(transaction=txn, account=a, amount_cents=m.cents, currency=m.currency, created_at=txn.created_at)
            for txn, plan in zip(rows, fresh, strict=True)
            for a, m in plan.entries
        ]
    )
    _bump_balances([posting for plan in fresh for posting in plan.entries])
    found.update({txn.idempotency_key: txn for txn in rows})


def reverse_transaction(
    *,
    actor: Actor,
    original: LedgerTransaction,
    memo: str,
    idempotency_key: str | None = None,
    cause: str = Cause.REVERSAL,
    audit: bool = True,
) -> LedgerTransaction:
    """Post the exact opposite of `original` (a correction never edits history)."""
    entries = [(e.account, -e.amount) for e in original.entries.select_related("account")]
    return post_transaction(
        actor=actor,
        cause=cause,
        memo=memo,
        entries=entries,
        idempotency_key=idempotency_key or f"reversal:{original.pk}",
        reverses=original,
        audit=audit,
        about=None,
    )
