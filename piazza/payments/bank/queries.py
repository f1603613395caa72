"""Reads of the bank rails that are more than one line: queues, candidates, the dashboard."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Q, QuerySet
from django.utils.translation import gettext as _

from piazza.core.money import Money
from piazza.ledger.models import Account
from piazza.ledger.queries import balances
from piazza.payments.bank.models import (
    BankAccount,
    BatchStatus,
    CollectionBatch,
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


def accounts_with_balances(user: Any) -> list[tuple[BankAccount, Money]]:
    """The treasurer's bank accounts with their ledger balances, in two queries."""
    accounts = list(BankAccount.objects.visible_to(user, TREASURY).select_related("territory", "ledger_account"))
    amounts = balances([a.ledger_account for a in accounts])
    return [(a, amounts[a.ledger_account_id]) for a in accounts]


def candidate_transfers(user: Any, line: StatementLine, q: str = "", amount: Money | None = None,
                        limit: int = 25) -> QuerySet[ExpectedTransfer]:
    """Expected transfers a treasurer may match a line to: same account, open, searched by name,
    RF reference or amount; without a search, those with the line's amount first."""
    transfers = ExpectedTransfer.objects.visible_to(user, TREASURY).filter(
        account=line.account, status__in=[TransferStatus.AWAITING, TransferStatus.PARTIAL])
    if q:
        reference = compact_reference(q)
        transfers = transfers.filter(Q(payer_name__icontains=q.strip()) | Q(reference__icontains=reference)
                                     | Q(description__icontains=q.strip()))
    if amount is not None:
        transfers = transfers.filter(amount_cents=amount.cents)
    if not q and amount is None:
        transfers = transfers.filter(amount_cents__gte=line.amount_cents)
    return transfers.order_by("amount_cents", "-created_at")[:limit]


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
        "awaiting_approval": Payout.objects.visible_to(user, TREASURY).filter(status=PayoutStatus.REQUESTED)
        .exclude(requested_by=user).count(),
        "pending_transfers": ExpectedTransfer.objects.visible_to(user, TREASURY)
        .filter(status=TransferStatus.AWAITING).count(),
        "title": _("Banca"),
    }
