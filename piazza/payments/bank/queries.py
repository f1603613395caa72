"""Reads of the bank rails that are more than one line: queues, candidates, the dashboard."""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Iterator
from typing import Any

from django.conf import settings
from django.db.models import Count, F, Q, QuerySet
from django.db.models.functions import Abs
from django.utils import timezone
from django.utils.translation import gettext as _

from piazza.core.money import Money, format_money
from piazza.ledger.models import Account
from piazza.ledger.queries import balances
from piazza.payments.bank.models import (
    BankAccount,
    BatchStatus,
    Collection,
    CollectionBatch,
    CollectionStatus,
    ExpectedTransfer,
    LineStatus,
    Payout,
    PayoutStatus,
    StatementLine,
    TransferStatus,
)
from piazza.payments.bank.references import compact_reference
from piazza.territory.models import Role

TREASURY = {Role.TREASURY}
LOOKUP_CHUNK = 1000  # keys per IN (…) query: bounded statements on both SQLite and PostgreSQL
FUZZY_CANDIDATES = 200  # open expected transfers scored against a line without reference


def _chunks(keys: Iterable[str]) -> Iterator[list[str]]:
    ordered = sorted({k for k in keys if k})
    for start in range(0, len(ordered), LOOKUP_CHUNK):
        yield ordered[start : start + LOOKUP_CHUNK]


class StatementLookups:
    """What the lines of one statement may refer to, read once per import instead of per line:
    expected transfers by RF reference, our collections and payouts by end-to-end id, collection
    batches by message id, and (lazily) the open transfers scored for lines without reference.

    The rows are read without locks: the booking actions lock and re-read their target, so a
    stale row here can only make a line be looked at, never be booked wrongly.
    """

    def __init__(self, account: BankAccount, lines: Iterable[StatementLine]) -> None:
        lines = list(lines)
        self.account = account
        references = {line.creditor_reference for line in lines}
        e2e = {line.end_to_end_id for line in lines}
        message_ids = {line.payment_information_id.rsplit("-DD", 1)[0] for line in lines}
        self.transfers: dict[str, ExpectedTransfer] = {}
        for chunk in _chunks(references):
            self.transfers.update((t.reference, t) for t in ExpectedTransfer.objects.filter(reference__in=chunk))
        self.collections: dict[str, Collection] = {}
        self.payouts: dict[str, Payout] = {}
        for chunk in _chunks(k for k in e2e if k.startswith("PZ-DD-")):
            self.collections.update(
                (c.end_to_end_id, c) for c in Collection.objects.filter(end_to_end_id__in=chunk).select_related("batch")
            )
        for chunk in _chunks(k for k in e2e if k.startswith("PZ-PO-")):
            self.payouts.update((p.end_to_end_id, p) for p in Payout.objects.filter(end_to_end_id__in=chunk))
        self.batches: dict[str, CollectionBatch] = {}
        for chunk in _chunks(message_ids):
            self.batches.update(
                (b.message_id, b) for b in CollectionBatch.objects.filter(message_id__in=chunk, creditor=account)
            )
        self._open: dict[int, ExpectedTransfer] | None = None

    def transfer(self, reference: str) -> ExpectedTransfer | None:
        return self.transfers.get(reference) if reference else None

    def collection(self, end_to_end_id: str) -> Collection | None:
        return self.collections.get(end_to_end_id) if end_to_end_id else None

    def payout(self, end_to_end_id: str) -> Payout | None:
        return self.payouts.get(end_to_end_id) if end_to_end_id else None

    def batch_for(self, line: StatementLine) -> CollectionBatch | None:
        """The batch a credit settles: by PmtInfId (`<MsgId>-DDn`), else by a debit's end-to-end id."""
        if line.payment_information_id:
            batch = self.batches.get(line.payment_information_id.rsplit("-DD", 1)[0])
            if batch is not None:
                return batch
        collection = self.collection(line.end_to_end_id)
        if collection is not None and collection.batch is not None and collection.batch.creditor_id == self.account.pk:
            return collection.batch
        return None

    def open_transfers(self) -> list[ExpectedTransfer]:
        """Awaiting or partly paid transfers of the account inside the matching window, newest first."""
        if self._open is None:
            window = int(getattr(settings, "BANK_MATCH_WINDOW_DAYS", 45))
            since = timezone.now() - datetime.timedelta(days=window)
            rows = ExpectedTransfer.objects.filter(
                account=self.account,
                status__in=[TransferStatus.AWAITING, TransferStatus.PARTIAL],
                created_at__gte=since,
            ).order_by("-created_at")[:FUZZY_CANDIDATES]
            self._open = {t.pk: t for t in rows}
        return list(self._open.values())

    def booked(self, transfer: ExpectedTransfer) -> None:
        """Keep the cache true after a line paid `transfer` (what is left open, what was received)."""
        self.transfers[transfer.reference] = transfer
        if self._open is not None:
            if transfer.status in (TransferStatus.AWAITING, TransferStatus.PARTIAL):
                self._open[transfer.pk] = transfer
            else:
                self._open.pop(transfer.pk, None)


def accounts_with_balances(user: Any) -> list[tuple[BankAccount, Money]]:
    """The treasurer's bank accounts with their ledger balances, in two queries."""
    accounts = list(BankAccount.objects.visible_to(user, TREASURY).select_related("territory", "ledger_account"))
    amounts = balances([a.ledger_account for a in accounts])
    return [(a, amounts[a.ledger_account_id]) for a in accounts]


def amount_tolerance_cents() -> int:
    """How far an expected transfer's outstanding amount may be from a line's and still be offered
    for a manual match without a search (setting BANK_MATCH_AMOUNT_TOLERANCE_CENTS)."""
    return int(getattr(settings, "BANK_MATCH_AMOUNT_TOLERANCE_CENTS", 500))


def difference_words(line_cents: int, outstanding_cents: int) -> str:
    """The gap between a line and what a transfer still expects, as a treasurer says it."""
    gap = outstanding_cents - line_cents
    if gap > 0:
        return _("mancano %(m)s") % {"m": format_money(Money(gap))}
    if gap < 0:
        return _("%(m)s in più") % {"m": format_money(Money(-gap))}
    return _("importo esatto")


def candidate_transfers(
    user: Any, line: StatementLine, q: str = "", amount: Money | None = None, limit: int = 25
) -> list[ExpectedTransfer]:
    """Expected transfers a treasurer may match a line to: same account, open, searched by name,
    RF reference or amount; without a search, those whose outstanding amount is within the
    tolerance of the line's (issue 11, item 15), and always the one the app suggested.
    Closest amount first; each carries `gap_cents` (outstanding − line) and `difference` in words."""
    transfers = ExpectedTransfer.objects.visible_to(user, TREASURY).filter(
        account=line.account, status__in=[TransferStatus.AWAITING, TransferStatus.PARTIAL]
    )
    if q:
        reference = compact_reference(q)
        transfers = transfers.filter(
            Q(payer_name__icontains=q.strip()) | Q(reference__icontains=reference) | Q(description__icontains=q.strip())
        )
    if amount is not None:
        transfers = transfers.filter(amount_cents=amount.cents)
    transfers = transfers.annotate(
        gap=F("amount_cents") - F("received_cents") - line.amount_cents, distance=Abs(F("gap"))
    )
    if not q and amount is None:
        near = Q(distance__lte=amount_tolerance_cents())
        if line.suggestion_id is not None:
            near |= Q(pk=line.suggestion_id)
        transfers = transfers.filter(near)
    rows = list(transfers.order_by("distance", "-created_at")[:limit])
    for row in rows:
        row.gap_cents = row.outstanding_cents - line.amount_cents  # type: ignore[attr-defined]
        row.difference = difference_words(line.amount_cents, row.outstanding_cents)  # type: ignore[attr-defined]
    return rows


def candidate_collections(
    user: Any, line: StatementLine, q: str = "", amount: Money | None = None, limit: int = 25
) -> QuerySet[Collection]:
    """Collected debits of the line's account a queued return may belong to: searched by debtor,
    mandate or end-to-end id; without a search, those of the line's amount."""
    rows = (
        Collection.objects.visible_to(user, TREASURY)
        .filter(mandate__creditor=line.account, status=CollectionStatus.COLLECTED)
        .select_related("mandate")
    )
    if q:
        rows = rows.filter(
            Q(mandate__debtor_name__icontains=q.strip())
            | Q(mandate__reference__icontains=q.strip())
            | Q(end_to_end_id__icontains=q.strip())
        )
    cents = amount.cents if amount is not None else (None if q else line.amount_cents)
    if cents is not None:
        rows = rows.filter(amount_cents=cents)
    return rows.order_by("-due_date", "-id")[:limit]


def candidate_payouts(
    user: Any, line: StatementLine, q: str = "", amount: Money | None = None, limit: int = 25
) -> QuerySet[Payout]:
    """Exported payouts from the line's account not yet seen on a statement."""
    rows = (
        Payout.objects.visible_to(user, TREASURY)
        .filter(bank_account=line.account, status=PayoutStatus.EXPORTED)
        .select_related("payee")
    )
    if q:
        rows = rows.filter(
            Q(payee__name__icontains=q.strip())
            | Q(end_to_end_id__icontains=q.strip())
            | Q(description__icontains=q.strip())
        )
    cents = amount.cents if amount is not None else (None if q else line.amount_cents)
    if cents is not None:
        rows = rows.filter(amount_cents=cents)
    return rows.order_by("-created_at")[:limit]


def ledger_sources(user: Any) -> QuerySet[Account]:
    """Ledger accounts money may be paid out from: credit-normal funds in the treasurer's scope."""
    return Account.objects.visible_to(user, TREASURY).filter(kind__in=["territory", "campaign", "mandatario"])


def dashboard_section(user: Any) -> tuple[str, dict[str, Any]] | None:
    """Anna's glance: balances, unmatched lines, batches due, payouts waiting for her."""
    accounts = accounts_with_balances(user)
    if not accounts:
        return None
    lines = StatementLine.objects.visible_to(user, TREASURY)
    counts = lines.aggregate(queued=Count("id", filter=Q(status=LineStatus.QUEUED)))
    return "bank/_dashboard.html", {
        "accounts": accounts,
        "queued": counts["queued"],
        "open_batches": CollectionBatch.objects.visible_to(user, TREASURY).filter(status=BatchStatus.OPEN).count(),
        "awaiting_approval": Payout.objects.visible_to(user, TREASURY)
        .filter(status=PayoutStatus.REQUESTED)
        .exclude(requested_by=user)
        .count(),
        "pending_transfers": ExpectedTransfer.objects.visible_to(user, TREASURY)
        .filter(status=TransferStatus.AWAITING)
        .count(),
        "title": _("Banca"),
    }
