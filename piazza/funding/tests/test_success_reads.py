"""ADR 0048 (issue 14, P4): a gift's success step asks whether any matching pool is open with its
locked read of the donation, and reads the pools again only when one is. The flag must say what
`open_pools()` says, and a gift must be matched (or not) exactly as when the pools were read apart.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.db import connection
from django.db.models import Exists
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from piazza.funding.actions import pools as pools_actions
from piazza.funding.models import Donation, DonationStatus, MatchingPool
from piazza.funding.queries import open_pools
from piazza.funding.tests.flows import pay_donation, submit
from piazza.territory.models import Role
from piazza.territory.testing import make_official

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("check_ledger")]


def _pool_reads(sqls: list[str]) -> list[str]:
    """Statements that read the pools apart (not as the donation read's EXISTS subquery)."""
    return [s for s in sqls if s.startswith('SELECT "funding_matchingpool"')]


def _paid(campaign: Any, cents: int, n: int) -> tuple[Donation, list[str]]:
    donation = submit(campaign, cents, n=n)
    with CaptureQueriesContext(connection) as captured:
        pay_donation(donation)
    return donation, [q["sql"] for q in captured.captured_queries]


def _open_flag(donation: Donation) -> bool:
    """The flag as the success step's read computes it (`pools_open=Exists(open_pools())`)."""
    flagged = Donation.objects.annotate(pools_open=Exists(open_pools())).get(pk=donation.pk)
    return bool(flagged.pools_open)  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("change", "open_", "matched"),
    [
        (None, True, 1000),
        ({"is_active": False}, False, 0),
        ({"closes_at": dt.timedelta(hours=-1)}, False, 0),
        ({"closes_at": dt.timedelta(hours=1)}, True, 1000),
    ],
)
def test_a_gift_is_matched_as_before_and_the_pools_are_read_only_when_one_is_open(
    live_campaign, tree, change, open_, matched
):
    treasurer = make_official("tesoriere.emilia", tree.emilia, [Role.TREASURY])
    pool = pools_actions.open_pool(actor=treasurer, territory=tree.emilia, name="Raddoppio", budget_cents=5_000)
    if change:
        values = {k: timezone.now() + v if isinstance(v, dt.timedelta) else v for k, v in change.items()}
        MatchingPool.objects.filter(pk=pool.pk).update(**values)
    donation, sqls = _paid(live_campaign, 1000, 0)
    assert donation.status == DonationStatus.SUCCEEDED and donation.matched_cents == matched
    assert _open_flag(donation) is open_ is open_pools().exists()
    assert bool(_pool_reads(sqls)) is open_


def test_with_no_pool_at_all_the_success_step_reads_none(live_campaign):
    donation, sqls = _paid(live_campaign, 2500, 1)
    assert donation.status == DonationStatus.SUCCEEDED and donation.matched_cents == 0
    assert not open_pools().exists() and _pool_reads(sqls) == []
    # Asked once, inside the (PostgreSQL: locked) read of the donation.
    asked = [s for s in sqls if s.startswith('SELECT "funding_donation"') and '"funding_matchingpool"' in s]
    assert len(asked) == 1 and ("FOR UPDATE" in asked[0]) is (connection.vendor == "postgresql")
