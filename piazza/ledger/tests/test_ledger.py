"""Double-entry ledger: balanced groups, idempotency, append-only history, slotted balances."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from piazza.core.models import AuditEntry
from piazza.core.money import Money
from piazza.ledger.accounts import accounts_owned_by, get_account
from piazza.ledger.actions import (
    IdempotencyConflict,
    LedgerError,
    Planned,
    post_transaction,
    post_transactions,
    reverse_transaction,
)
from piazza.ledger.checks import run_checks
from piazza.ledger.kinds import register_kind
from piazza.ledger.models import Account, BalanceSlot, Entry, LedgerTransaction
from piazza.ledger.queries import balance, balances, entry_sum, raw_balance, statement


@pytest.fixture
def accounts(tree):
    return {
        "clearing": get_account("provider_clearing", key="sandbox"),
        "centro": get_account("territory", owner=tree.bologna_centro, territory=tree.bologna_centro),
        "national": get_account("territory", owner=tree.national, territory=tree.national),
        "fees": get_account("provider_fees", key="sandbox"),
    }


def donation(accounts, cents=1000, key="pay:1"):
    return post_transaction(
        actor=None,
        cause="payment",
        memo="donazione",
        idempotency_key=key,
        entries=[(accounts["clearing"], Money(cents)), (accounts["centro"], Money(-cents))],
    )


def test_get_account_is_idempotent_and_generic(tree, check_ledger):
    first = get_account("campaign", owner=tree.bologna_centro, territory=tree.bologna_centro)
    again = get_account("campaign", owner=tree.bologna_centro, territory=tree.bologna_centro)
    assert first.pk == again.pk
    assert first.slots == BalanceSlot.objects.filter(account=first).count()
    assert get_account("campaign", owner=tree.bologna_centro, currency="USD").pk != first.pk
    assert list(accounts_owned_by(tree.bologna_centro)) != []
    with pytest.raises(LookupError, match="register_kind"):
        get_account("nonsense")


def test_kinds_are_extensible(tree, check_ledger):
    register_kind("test_pool", "Fondo di prova", "credit")
    account = get_account("test_pool", territory=tree.emilia)
    assert account.normal == "credit"
    with pytest.raises(ValueError, match="already registered"):
        register_kind("test_pool", "x", "debit")


def test_post_books_entries_balances_and_audit(accounts, check_ledger):
    txn = donation(accounts, 1250)
    assert txn.entries.count() == 2
    assert balance(accounts["centro"]) == Money(1250)  # credit-normal: funds held
    assert raw_balance(accounts["centro"]) == Money(-1250)
    assert balance(accounts["clearing"]) == Money(1250)  # debit-normal: owed by provider
    assert entry_sum(accounts["centro"]) == Money(-1250)
    assert balances([accounts["centro"], accounts["fees"]]) == {
        accounts["centro"].pk: Money(1250),
        accounts["fees"].pk: Money(0),
    }
    assert statement(accounts["centro"])[0].transaction == txn
    assert AuditEntry.objects.filter(action="ledger.post_transaction", object_id=str(txn.pk)).exists()


def test_idempotent_replay_and_conflict(accounts, check_ledger):
    first = donation(accounts, 1000, key="pay:7")
    assert donation(accounts, 1000, key="pay:7").pk == first.pk
    assert LedgerTransaction.objects.filter(idempotency_key="pay:7").count() == 1
    assert balance(accounts["centro"]) == Money(1000)
    with pytest.raises(IdempotencyConflict):
        donation(accounts, 999, key="pay:7")


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        (lambda a: [(a["clearing"], Money(100))], "at least two"),
        (lambda a: [(a["clearing"], Money(100)), (a["centro"], Money(-99))], "do not sum to zero"),
        (lambda a: [(a["clearing"], Money(0)), (a["centro"], Money(0))], "zero entry"),
        (lambda a: [(a["clearing"], Money(100, "USD")), (a["centro"], Money(-100, "USD"))], "USD entry on EUR"),
        (lambda a: [(a["clearing"], 100), (a["centro"], -100)], "must be Money"),
    ],
)
def test_bad_postings_write_nothing(accounts, entries, message, check_ledger):
    with pytest.raises(LedgerError, match=message):
        post_transaction(actor=None, cause="payment", memo="x", idempotency_key="bad", entries=entries(accounts))
    assert not LedgerTransaction.objects.exists()
    assert not Entry.objects.exists()


def test_unknown_cause_and_missing_key(accounts):
    entries = [(accounts["clearing"], Money(1)), (accounts["centro"], Money(-1))]
    with pytest.raises(LedgerError, match="cause"):
        post_transaction(actor=None, cause="gift", memo="x", idempotency_key="k", entries=entries)
    with pytest.raises(LedgerError, match="idempotency"):
        post_transaction(actor=None, cause="payment", memo="x", idempotency_key="", entries=entries)


def test_reversal_mirrors_and_zeroes(accounts, check_ledger):
    original = donation(accounts, 700)
    reversal = reverse_transaction(actor=None, original=original, memo="errore di imputazione")
    assert reversal.reverses == original
    assert balance(accounts["centro"]) == Money(0)
    assert reverse_transaction(actor=None, original=original, memo="again").pk == reversal.pk


def test_history_is_append_only(accounts):
    txn = donation(accounts)
    entry = txn.entries.first()
    with pytest.raises(PermissionDenied):
        entry.save()
    with pytest.raises(PermissionDenied):
        txn.delete()
    # The database itself refuses edits that bypass the models (trigger on both backends).
    with pytest.raises((DatabaseError, IntegrityError)), transaction.atomic():
        Entry.objects.filter(pk=entry.pk).update(amount_cents=1)
    with pytest.raises((DatabaseError, IntegrityError)), transaction.atomic(), connection.cursor() as cur:
        cur.execute("UPDATE ledger_ledgertransaction SET memo = 'x'")


def test_check_ledger_command_reports_violations(accounts, capsys):
    donation(accounts)
    call_command("check_ledger")
    assert "nessuna violazione" in capsys.readouterr().out
    # Break the books behind the actions' back: a lone entry and a tampered counter.
    txn = LedgerTransaction.objects.create(cause="adjustment", memo="rotto", idempotency_key="broken")
    Entry.objects.create(transaction=txn, account=accounts["fees"], amount_cents=5)
    BalanceSlot.objects.filter(account=accounts["centro"], slot=0).update(balance_cents=42)
    with pytest.raises(CommandError):
        call_command("check_ledger")
    err = capsys.readouterr().err
    assert f"transaction #{txn.pk} sums to 5 cents EUR" in err
    assert f"transaction #{txn.pk} has 1 entries" in err
    assert "balances_match_entries" in err
    names = {v.check for v in run_checks()}
    assert {"transactions_balance", "transactions_have_entries", "balances_match_entries"} <= names


# --- property: any sequence of postings and reversals keeps every invariant -----------------

posting = st.tuples(
    st.lists(
        st.tuples(
            st.sampled_from(["clearing", "centro", "national", "fees"]), st.integers(min_value=1, max_value=10**9)
        ),
        min_size=1,
        max_size=4,
    ),
    st.booleans(),  # reverse it afterwards?
    st.booleans(),  # replay it?
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(posting, min_size=1, max_size=8))
def test_any_sequence_keeps_invariants(accounts, ops):
    for i, (legs, reverse, replay) in enumerate(ops):
        key = f"prop:{LedgerTransaction.objects.count()}:{i}"
        # Each leg debits one account and credits the clearing account: always balanced.
        entries = []
        for name, cents in legs:
            entries.append((accounts[name], Money(cents)))
            entries.append((accounts["clearing"] if name != "clearing" else accounts["fees"], Money(-cents)))
        txn = post_transaction(actor=None, cause="adjustment", memo="prop", entries=entries, idempotency_key=key)
        if replay:
            assert (
                post_transaction(actor=None, cause="adjustment", memo="prop", entries=entries, idempotency_key=key).pk
                == txn.pk
            )
        if reverse:
            reverse_transaction(actor=None, original=txn, memo="prop")
    assert run_checks() == []
    total = sum(raw_balance(a).cents for a in Account.objects.all())
    assert total == 0
    for account in Account.objects.all():
        assert raw_balance(account) == entry_sum(account)


def test_one_connection_uses_one_slot_per_account(accounts, check_ledger):
    """Convention 9 without deadlocks: a gift and its fee in one transaction lock one clearing
    slot, not two; so two such transactions can never wait on each other's slots crosswise."""
    with transaction.atomic():
        donation(accounts, 1000, key="pay:gift")
        for n in range(3):  # with a random slot per posting, 4 postings hit 1 slot 1 time in 512
            post_transaction(
                actor=None,
                cause="fee",
                memo="commissione",
                idempotency_key=f"fee:gift:{n}",
                entries=[(accounts["fees"], Money(30)), (accounts["clearing"], Money(-30))],
            )
    touched = BalanceSlot.objects.filter(account=accounts["clearing"]).exclude(entry_count=0)
    assert touched.count() == 1
    assert touched.get().entry_count == 4


def _batch(accounts, gift_cents, fee_cents, n=1):
    return [
        Planned(
            cause="payment",
            memo="pagamento",
            idempotency_key=f"payment:{n}",
            entries=[(accounts["clearing"], Money(gift_cents)), (accounts["centro"], Money(-gift_cents))],
        ),
        Planned(
            cause="fee",
            memo="commissione",
            idempotency_key=f"payment-fee:{n}",
            entries=[(accounts["fees"], Money(fee_cents)), (accounts["clearing"], Money(-fee_cents))],
        ),
    ]


def test_a_batch_posts_each_transaction_and_bumps_each_account_once(accounts, check_ledger):
    """ADR 0033: on PostgreSQL the batch is one statement; on SQLite the portable statements. The same rows."""
    posted = post_transactions(actor=None, planned=_batch(accounts, 2500, 63))
    assert [t.cause for t in posted] == ["payment", "fee"]
    assert all(t.pk is not None for t in posted)
    assert posted[0].pk == LedgerTransaction.objects.get(idempotency_key="payment:1").pk
    assert posted[1].pk == LedgerTransaction.objects.get(idempotency_key="payment-fee:1").pk
    assert sorted(posted[0].entries.values_list("amount_cents", flat=True)) == [-2500, 2500]
    assert balance(accounts["clearing"]) == Money(2437)
    assert balance(accounts["fees"]) == Money(63)
    assert balance(accounts["centro"]) == Money(2500)
    clearing = BalanceSlot.objects.filter(account=accounts["clearing"]).exclude(entry_count=0)
    assert [(s.balance_cents, s.entry_count) for s in clearing] == [(2437, 2)]


def test_a_batch_replayed_whole_or_in_part_posts_nothing_twice(accounts, check_ledger):
    first = post_transactions(actor=None, planned=_batch(accounts, 2500, 63)[:1])
    again = post_transactions(actor=None, planned=_batch(accounts, 2500, 63))  # the gift again, the fee new
    assert again[0].pk == first[0].pk
    assert LedgerTransaction.objects.count() == 2
    assert Entry.objects.count() == 4
    assert balance(accounts["clearing"]) == Money(2437)
    assert post_transactions(actor=None, planned=_batch(accounts, 2500, 63))[1].pk == again[1].pk
    assert balance(accounts["clearing"]) == Money(2437)


def test_a_batch_reusing_a_key_for_other_entries_writes_nothing(accounts, check_ledger):
    post_transactions(actor=None, planned=_batch(accounts, 2500, 63)[:1])
    with pytest.raises(IdempotencyConflict):
        post_transactions(actor=None, planned=_batch(accounts, 2400, 50))
    assert LedgerTransaction.objects.count() == 1  # the fee posted with it was rolled back too
    assert balance(accounts["fees"]) == Money(0)
    assert balance(accounts["clearing"]) == Money(2500)


@pytest.mark.postgres
def test_a_batch_is_one_statement_on_postgresql(accounts, check_ledger):
    with CaptureQueriesContext(connection) as captured:
        post_transactions(actor=None, planned=_batch(accounts, 2500, 63), savepoint=False)
    assert len(captured.captured_queries) == 1, [q["sql"][:80] for q in captured.captured_queries]
