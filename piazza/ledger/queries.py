"""Reads of the ledger: balances from the slotted counters, statements from the entries."""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import QuerySet, Sum

from piazza.core.money import Money
from piazza.ledger.kinds import get_kind
from piazza.ledger.models import Account, BalanceSlot, Entry


def raw_balance(account: Account) -> Money:
    """Sum of the account's entries (debits positive), read from its slots in one query."""
    total = BalanceSlot.objects.filter(account=account).aggregate(t=Sum("balance_cents"))["t"] or 0
    return Money(int(total), account.currency)


def balance(account: Account) -> Money:
    """The balance as people read it: positive when the account holds (or is owed) money."""
    raw = raw_balance(account)
    return -raw if get_kind(account.kind).normal == "credit" else raw


def balances(accounts: Iterable[Account]) -> dict[int, Money]:
    """Natural balances of many accounts in one query: {account id: Money}."""
    accounts = list(accounts)
    rows = dict(
        BalanceSlot.objects.filter(account__in=accounts)
        .values("account_id")
        .annotate(t=Sum("balance_cents"))
        .values_list("account_id", "t")
    )
    result = {}
    for account in accounts:
        raw = Money(int(rows.get(account.pk) or 0), account.currency)
        result[account.pk] = -raw if get_kind(account.kind).normal == "credit" else raw
    return result


def statement(account: Account) -> QuerySet[Entry]:
    """The account's entries, newest first, with their transactions."""
    return Entry.objects.filter(account=account).select_related("transaction").order_by("-created_at", "-id")


def entry_sum(account: Account) -> Money:
    """Sum recomputed from the entries themselves (what `check_ledger` compares slots with)."""
    total = Entry.objects.filter(account=account).aggregate(t=Sum("amount_cents"))["t"] or 0
    return Money(int(total), account.currency)
