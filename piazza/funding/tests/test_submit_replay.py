"""Issue 10, finding 8, single-threaded (any database): a submit that loses the race for its
Idempotency-Key on the unique index answers with the first donation, not a 500."""

from __future__ import annotations

import pytest
from django.urls import reverse

from piazza.funding.actions import donations as donations_actions
from piazza.funding.models import Donation
from piazza.funding.tests.flows import donation_input, form_data
from piazza.payments.models import Payment

pytestmark = pytest.mark.django_db


@pytest.fixture
def first_read_misses(monkeypatch):
    """The replay check runs before the competing submit has committed: its first read misses."""
    original = donations_actions._replayed_submission
    calls = {"n": 0}

    def late(campaign, key):
        calls["n"] += 1
        return None if calls["n"] == 1 else original(campaign, key)

    monkeypatch.setattr(donations_actions, "_replayed_submission", late)
    return calls


def test_losing_the_unique_key_returns_the_first_donation(live_campaign, first_read_misses):
    data = donation_input(live_campaign, 2_500, idempotency_key="race0001")
    first = donations_actions.submit_donation(actor=None, campaign=live_campaign, data=data)
    first_read_misses["n"] = 0  # the next submit's first read misses, as in the race
    again = donations_actions.submit_donation(actor=None, campaign=live_campaign, data=data)
    assert again.replayed and again.donation.pk == first.donation.pk
    assert again.next_url == first.next_url
    assert Donation.objects.count() == 1 and Payment.objects.count() == 1


def test_the_form_answers_the_replay_with_the_first_payment_page(client, live_campaign, first_read_misses):
    data = form_data(live_campaign, idempotency_key="race0002")
    url = reverse("funding:donate", args=[live_campaign.slug])
    first = client.post(url, data)
    first_read_misses["n"] = 0
    second = client.post(url, data, follow=False)
    assert second.status_code == 302 and second["Location"] == first["Location"]
    page = client.get(second["Location"])
    assert "già stata inviata" in page.content.decode()
    assert Donation.objects.count() == 1
