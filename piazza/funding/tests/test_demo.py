"""The demo seeder gives money the real way: thermometers equal the ledger, re-running adds nothing."""

from io import StringIO

import pytest
from django.core.management import call_command

from piazza.funding import queries
from piazza.funding.models import (
    Campaign,
    CampaignStatus,
    Donation,
    DonationStatus,
    FundraisingPage,
    MatchingPool,
    PoolMode,
)
from piazza.ledger.checks import run_checks

pytestmark = pytest.mark.django_db


def test_seed_demo_opens_live_campaigns_with_sandbox_gifts(tree, monkeypatch):
    # Only this app's seeder after the demo officials: the other apps' seeders have their own tests.
    monkeypatch.setattr("piazza.web.demo.DEMO_SEEDERS", ["piazza.funding.demo.seed"])
    call_command("seed_demo", people=0, stdout=StringIO())
    call_command("seed_demo", people=0, stdout=StringIO())
    live = Campaign.objects.filter(status=CampaignStatus.LIVE, slug__startswith="demo-")
    assert sorted(c.territory.level for c in live) == ["circolo", "federation", "national"]
    assert Donation.objects.filter(status=DonationStatus.SUCCEEDED).count() == 60
    assert MatchingPool.objects.get(mode=PoolMode.PER_GIFT).reserved_cents > 0
    demo_round = MatchingPool.objects.get(mode=PoolMode.QUADRATIC)
    assert demo_round.reserved_cents == 0  # a round reserves nothing until it closes
    assert sum(line.match_cents for line in queries.round_standing(demo_round)) > 0  # but shows an estimate
    assert FundraisingPage.objects.get().donations.exists()
    assert all(queries.thermometer(c, fresh=True).gifts_cents > 0 for c in live)
    assert [str(v) for v in run_checks()] == []
