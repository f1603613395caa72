"""Matching-pool ledger accounts, released reservations and campaign counters; shared by donations, closing and
pools."""

from __future__ import annotations

import random

from django.db.models import F
from django.utils import timezone

from piazza.funding.models import (
    COUNTER_SLOTS,
    Campaign,
    CampaignCounter,
    MatchingPool,
    MatchStatus,
    PoolMatch,
)
from piazza.ledger.accounts import get_account
from piazza.ledger.actions import reverse_transaction
from piazza.ledger.models import Account, LedgerTransaction


def _bump_counter(campaign_id: int, *, gifts: int = 0, count: int = 0, small: int = 0, matched: int = 0) -> None:
    """Add to one random slot: an atomic `+ x`, never read-decide-write (convention 9)."""
    CampaignCounter.objects.filter(campaign_id=campaign_id, slot=random.randrange(COUNTER_SLOTS)).update(
        gifts_cents=F("gifts_cents") + gifts,
        gifts_count=F("gifts_count") + count,
        small_gifts_cents=F("small_gifts_cents") + small,
        matched_cents=F("matched_cents") + matched,
    )


def _pool_account(pool: MatchingPool) -> Account:
    return get_account("matchfunding_pool", owner=pool, territory=pool.territory)


def _match_account(campaign: Campaign, key: str) -> Account:
    return get_account("campaign", owner=campaign, territory=campaign.territory, key=key)


def _release(match: PoolMatch, reason: str) -> None:
    original = LedgerTransaction.objects.get(idempotency_key=f"match:{match.pk}:reserve")
    reverse_transaction(
        actor=None,
        original=original,
        memo=f"Co-finanziamento liberato: {reason}"[:255],
        idempotency_key=f"match:{match.pk}:release",
        audit=False,
    )
    MatchingPool.objects.filter(pk=match.pool_id).update(reserved_cents=F("reserved_cents") - match.amount_cents)
    PoolMatch.objects.filter(pk=match.pk).update(status=MatchStatus.RELEASED, closed_at=timezone.now())
