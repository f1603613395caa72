"""Matching-pool ledger accounts, released reservations and campaign counters; shared by donations, closing and
pools."""

from __future__ import annotations

import random
from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from piazza.core.money import Money
from piazza.funding.models import (
    COUNTER_SLOTS,
    Campaign,
    CampaignCounter,
    Donation,
    MatchingPool,
    MatchStatus,
    PoolMatch,
)
from piazza.funding.queries import touch_rounds
from piazza.ledger.accounts import get_account
from piazza.ledger.actions import post_transaction, reverse_transaction
from piazza.ledger.models import Account, Cause, LedgerTransaction


def _bump_counter(campaign_id: int, *, gifts: int = 0, count: int = 0, small: int = 0, matched: int = 0) -> None:
    """Add to one random slot: an atomic `+ x`, never read-decide-write (convention 9)."""
    CampaignCounter.objects.filter(campaign_id=campaign_id, slot=random.randrange(COUNTER_SLOTS)).update(
        gifts_cents=F("gifts_cents") + gifts,
        gifts_count=F("gifts_count") + count,
        small_gifts_cents=F("small_gifts_cents") + small,
        matched_cents=F("matched_cents") + matched,
    )
    # The quadratic rounds' live estimates read cached sums: a new generation now and once committed.
    touch_rounds()
    transaction.on_commit(touch_rounds)


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


def _settle(match: PoolMatch, campaign: Campaign, currency: str, *, actor: Any) -> None:
    """A reserved match becomes the campaign's money; the pool row is locked by the caller."""
    money = Money(match.amount_cents, currency)
    post_transaction(
        actor=actor,
        cause=Cause.TRANSFER,
        memo="Co-finanziamento versato",
        entries=[
            (_match_account(campaign, "match_reserved"), money),
            (_match_account(campaign, "matched"), -money),
        ],
        idempotency_key=f"match:{match.pk}:settle",
        about=match,
        audit=False,
    )
    MatchingPool.objects.filter(pk=match.pool_id).update(
        reserved_cents=F("reserved_cents") - match.amount_cents,
        settled_cents=F("settled_cents") + match.amount_cents,
    )
    PoolMatch.objects.filter(pk=match.pk).update(status=MatchStatus.SETTLED, closed_at=timezone.now())


def _reserve(pool: MatchingPool, campaign: Campaign, amount: int, *, donation: Donation | None) -> PoolMatch:
    """Book a reservation: the pool row is locked by the caller, the constraint is the last guard."""
    match = PoolMatch.objects.create(
        pool=pool,
        campaign=campaign,
        donation=donation,
        amount_cents=amount,
        person_id_for_cap=donation.person_id if donation else None,
    )
    MatchingPool.objects.filter(pk=pool.pk).update(reserved_cents=F("reserved_cents") + amount)
    money = Money(amount, pool.currency)
    post_transaction(
        actor=None,
        cause=Cause.TRANSFER,
        memo=f"Co-finanziamento prenotato: {pool.name}"[:255],
        entries=[(_pool_account(pool), money), (_match_account(campaign, "match_reserved"), -money)],
        idempotency_key=f"match:{match.pk}:reserve",
        about=match,
        audit=False,
    )
    return match
