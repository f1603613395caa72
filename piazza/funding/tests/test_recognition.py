"""Recognition that respects G1 (issue 17): founders and monthly streaks are named on a campaign
page only for donors who chose to appear, and each donor can take their name off from Il mio spazio."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.core.cache import cache
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from piazza.community.tests.conftest import sign_in
from piazza.core.models import AuditEntry
from piazza.funding.models import Donation, Frequency
from piazza.funding.recognition import campaign_recognition, recognition_of, streak
from piazza.funding.tests.conftest import build_live_campaign
from piazza.funding.tests.flows import codice_fiscale_for, give
from piazza.ledger.checks import run_checks
from piazza.territory.models import Role
from piazza.territory.testing import make_official

pytestmark = pytest.mark.django_db


@pytest.fixture
def campaign(tree: Any) -> Any:
    owner = make_official("tesoriere.centro", tree.bologna_centro, [Role.ORGANISATION, Role.TREASURY])
    approver = make_official("federazione.bo", tree.bologna, [Role.ORGANISATION, Role.TREASURY])
    cache.clear()
    return build_live_campaign(tree, owner, approver)


def _month(year: int, month: int) -> int:
    return year * 12 + month - 1


def test_a_streak_counts_consecutive_months_ending_this_month_or_the_last():
    now = timezone.make_aware(dt.datetime(2026, 6, 10, 10, 0))
    assert streak({_month(2026, 4), _month(2026, 5), _month(2026, 6)}, now) == 3
    # This month's charge has not run yet: the streak still stands on last month.
    assert streak({_month(2026, 3), _month(2026, 4), _month(2026, 5)}, now) == 3
    # A missed month breaks it; a streak that ended two months ago is over.
    assert streak({_month(2026, 2), _month(2026, 4), _month(2026, 5)}, now) == 2
    assert streak({_month(2026, 1), _month(2026, 2), _month(2026, 3)}, now) == 0


def test_founders_are_named_only_with_their_consent_and_keep_their_rank(campaign: Any, settings: Any) -> None:
    """G1: the second donor did not choose to appear: never named, but the third is still n. 3."""
    settings.RECOGNITION_FOUNDERS = 3
    give(campaign, 1000, n=1)
    give(campaign, 1000, n=2, on_wall=False)
    give(campaign, 1000, n=3)
    give(campaign, 1000, n=4)  # the fourth donor is not a founder
    founders = campaign_recognition(campaign)["founders"]
    first_1, last_1, _ = codice_fiscale_for(1)
    first_3, last_3, _ = codice_fiscale_for(3)
    assert [(r.name, r.founder_rank) for r in founders] == [
        (f"{first_1} {last_1[0]}.", 1),
        (f"{first_3} {last_3[0]}.", 3),
    ]
    page = Client().get(reverse("funding:campaign", args=[campaign.slug])).content.decode()
    first_2, last_2, _ = codice_fiscale_for(2)
    assert f"{first_1} {last_1[0]}., fondatore n. 1" in page
    assert f"{first_2} {last_2[0]}." not in page
    assert not run_checks()


def test_a_monthly_streak_is_shown_only_for_a_donor_who_chose_to_appear(campaign: Any, settings: Any) -> None:
    settings.RECOGNITION_STREAK_MIN_MONTHS = 3
    for n, on_wall in ((5, True), (6, False)):
        gifts = [give(campaign, 1000, n=n, frequency=Frequency.MONTHLY, on_wall=on_wall) for _ in range(3)]
        assert len({gift.person_id for gift in gifts}) == 1  # one donor, three monthly gifts
        for months_ago, gift in enumerate(gifts):
            Donation.objects.filter(pk=gift.pk).update(succeeded_at=timezone.now() - dt.timedelta(days=31 * months_ago))
    streaks = campaign_recognition(campaign)["streaks"]
    first_5, last_5, _ = codice_fiscale_for(5)
    assert [(r.name, r.streak_months) for r in streaks] == [(f"{first_5} {last_5[0]}.", 3)]
    settings.RECOGNITION_STREAK_MIN_MONTHS = 4
    cache.clear()
    assert campaign_recognition(campaign)["streaks"] == []


def test_the_donor_takes_her_name_off_from_her_space(
    campaign: Any, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    settings.RECOGNITION_FOUNDERS = 5
    with django_capture_on_commit_callbacks(execute=True):
        donation = give(campaign, 2500)
    person = donation.person
    assert person is not None
    assert [r.founder_rank for r in recognition_of(person.pk)] == [1]
    assert campaign_recognition(campaign)["founders"]
    client = Client()
    sign_in(client, donation.email, django_capture_on_commit_callbacks)
    home = client.get(reverse("community:home")).content.decode()
    assert campaign.title in home
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("community:recognition"), {"campaign": str(campaign.pk)})
    assert response.status_code == 302
    assert campaign_recognition(campaign)["founders"] == []
    assert not Donation.objects.filter(person=person, on_wall=True).exists()
    assert AuditEntry.objects.filter(action="funding.hide_name", object_id=str(person.pk)).exists()
    page = Client().get(reverse("funding:campaign", args=[campaign.slug])).content.decode()
    assert "fondatore n. 1" not in page
    # Another person's campaign id or garbage: a clear message, nothing changed.
    response = client.post(reverse("community:recognition"), {"campaign": "abc"}, follow=True)
    assert "Raccolta non trovata" in response.content.decode()
