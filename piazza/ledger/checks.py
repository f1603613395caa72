"""Ledger invariants, run by `manage.py check_ledger` and the `check_ledger` test fixture.

Ledger checks are built in; higher apps add theirs (e.g. payments: "every succeeded payment
is booked exactly once") with `register_check`, from their AppConfig.ready().
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.db.models import Count, F, Q, Sum
from django.utils.module_loading import import_string


@dataclass(frozen=True)
class Violation:
    check: str
    message: str

    def __str__(self) -> str:
        return f"[{self.check}] {self.message}"


Check = Callable[[], list[Violation]]
_CHECKS: dict[str, Check | str] = {}


def register_check(name: str, check: Check | str) -> None:
    """Add an invariant: a callable (or dotted path) returning a list of `Violation`."""
    _CHECKS[name] = check


def transactions_balance() -> list[Violation]:
    from piazza.ledger.models import Entry

    rows = (
        Entry.objects.values("transaction_id", "currency")
        .annotate(total=Sum("amount_cents"))
        .exclude(total=0)
        .order_by("transaction_id")
    )
    return [
        Violation(
            "transactions_balance",
            f"transaction #{r['transaction_id']} sums to {r['total']} cents {r['currency']}, not zero",
        )
        for r in rows
    ]


def transactions_have_entries() -> list[Violation]:
    from piazza.ledger.models import LedgerTransaction

    rows = LedgerTransaction.objects.annotate(n=Count("entries")).filter(n__lt=2).values_list("pk", "n")
    return [Violation("transactions_have_entries", f"transaction #{pk} has {n} entries (needs ≥ 2)") for pk, n in rows]


def entry_currency_matches_account() -> list[Violation]:
    from piazza.ledger.models import Entry

    rows = Entry.objects.exclude(currency=F("account__currency")).values_list("pk", "currency", "account_id")
    return [
        Violation("entry_currency", f"entry #{pk} in {cur} on account #{acc} of another currency")
        for pk, cur, acc in rows
    ]


def balances_match_entries() -> list[Violation]:
    from piazza.ledger.models import Account, Entry

    rows = Account.objects.annotate(
        slots_total=Sum("balance_slots__balance_cents"),
        slots_count=Sum("balance_slots__entry_count"),
    ).values_list("pk", "name", "slots_total", "slots_count")
    entry_rows = {
        r["account_id"]: (r["t"], r["n"])
        for r in Entry.objects.values("account_id")
        .annotate(t=Sum("amount_cents"), n=Count("id"))
        .values("account_id", "t", "n")
    }
    out = []
    for pk, name, slots_total, slots_count in rows:
        total, count = entry_rows.get(pk, (0, 0))
        if (slots_total or 0) != total or (slots_count or 0) != count:
            out.append(
                Violation(
                    "balances_match_entries",
                    f"account #{pk} {name}: balance {slots_total or 0} over {slots_count or 0} entries, "
                    f"but its entries sum to {total} over {count}",
                )
            )
    return out


def reversals_mirror_originals() -> list[Violation]:
    """A reversal transaction has exactly the negated entries of what it reverses."""
    from collections import defaultdict

    from piazza.ledger.models import Entry, LedgerTransaction

    pairs = dict(
        LedgerTransaction.objects.filter(reverses__isnull=False, cause="reversal").values_list("pk", "reverses_id")
    )
    if not pairs:
        return []
    entries: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for txn_id, account_id, cents in Entry.objects.filter(
        transaction_id__in=set(pairs) | set(pairs.values())
    ).values_list("transaction_id", "account_id", "amount_cents"):
        entries[txn_id].append((account_id, cents))
    out = []
    for txn_id, original_id in sorted(pairs.items()):
        mine = sorted(entries[txn_id])
        theirs = sorted((a, -c) for a, c in entries[original_id])
        if mine != theirs:
            out.append(
                Violation(
                    "reversals_mirror_originals", f"reversal #{txn_id} does not mirror transaction #{original_id}"
                )
            )
    return out


def no_zero_entries() -> list[Violation]:
    from piazza.ledger.models import Entry

    return [
        Violation("no_zero_entries", f"entry #{pk} is zero")
        for pk in Entry.objects.filter(Q(amount_cents=0)).values_list("pk", flat=True)
    ]


for _name, _fn in [
    ("transactions_balance", transactions_balance),
    ("transactions_have_entries", transactions_have_entries),
    ("entry_currency", entry_currency_matches_account),
    ("balances_match_entries", balances_match_entries),
    ("reversals_mirror_originals", reversals_mirror_originals),
    ("no_zero_entries", no_zero_entries),
]:
    register_check(_name, _fn)


def run_checks() -> list[Violation]:
    """Run every registered invariant; an empty list means the books are clean."""
    violations: list[Violation] = []
    for check in _CHECKS.values():
        fn: Check = import_string(check) if isinstance(check, str) else check
        violations.extend(fn())
    return violations
