"""Following a campaign without giving (issue 12: "campaigns and territories they follow"; issue 17)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from piazza.community.models import Follow
from piazza.community.tests.conftest import DONOR_EMAIL, ask_link, emailed_link, sign_in
from piazza.funding.actions.campaigns import create_campaign, post_update
from piazza.funding.models import UpdateSubscription
from piazza.funding.tests.conftest import build_live_campaign
from piazza.people.models import Person
from piazza.territory.models import Role
from piazza.territory.testing import make_official

pytestmark = pytest.mark.django_db
User = get_user_model()


@pytest.fixture
def signed_in(donor, django_capture_on_commit_callbacks):
    client = Client()
    sign_in(client, DONOR_EMAIL, django_capture_on_commit_callbacks)
    mail.outbox.clear()
    return client


@pytest.fixture
def other_campaign(tree):
    owner = make_official("segreteria.centro2", tree.bologna_centro, [Role.ORGANISATION, Role.TREASURY])
    approver = make_official("federazione.bo2", tree.bologna, [Role.ORGANISATION, Role.TREASURY])
    return build_live_campaign(tree, owner, approver, title="Biblioteca di quartiere")


def test_a_signed_in_person_follows_a_campaign_gets_its_updates_and_stops(
    signed_in, donor, other_campaign, django_capture_on_commit_callbacks
):
    page = signed_in.get(reverse("funding:campaign", args=[other_campaign.slug])).content.decode()
    assert "Segui questa raccolta" in page
    response = signed_in.post(reverse("community:follow"), {"campaign": other_campaign.pk})
    assert response.status_code == 302 and response["Location"] == reverse(
        "funding:campaign", args=[other_campaign.slug]
    )
    assert Follow.objects.filter(person=donor, campaign=other_campaign).count() == 1
    signed_in.post(reverse("community:follow"), {"campaign": other_campaign.pk})  # twice: still one
    assert Follow.objects.filter(person=donor, campaign=other_campaign).count() == 1

    with django_capture_on_commit_callbacks(execute=True):
        post_update(
            actor=User.objects.get(username="segreteria.centro2"),
            campaign=other_campaign,
            title="Abbiamo gli scaffali",
            body_markdown="Grazie a tutte e tutti.",
        )
    assert [m.to for m in mail.outbox if "Abbiamo gli scaffali" in m.subject] == [[DONOR_EMAIL]]

    space = signed_in.get(reverse("community:home")).content.decode()
    assert "Che cosa segui" in space and "Biblioteca di quartiere" in space
    follow = Follow.objects.get(person=donor, campaign=other_campaign)
    signed_in.post(reverse("community:unfollow", args=[follow.pk]))
    assert not Follow.objects.filter(person=donor).exists()
    assert UpdateSubscription.objects.get(campaign=other_campaign, email=DONOR_EMAIL).unsubscribed_at is not None


def test_following_before_signing_in_is_done_when_the_link_is_opened_in_that_browser(
    donor, other_campaign, django_capture_on_commit_callbacks
):
    client = Client()
    response = client.post(reverse("community:follow"), {"campaign": other_campaign.pk})
    assert response.status_code == 200
    assert "Per seguire «Biblioteca di quartiere» accedi a Il mio spazio" in response.content.decode()
    assert not Follow.objects.exists()  # a typed address proves nothing: nothing is followed yet
    ask_link(client, DONOR_EMAIL, django_capture_on_commit_callbacks)
    opened = client.post(emailed_link(DONOR_EMAIL))
    assert opened["Location"] == reverse("funding:campaign", args=[other_campaign.slug])
    assert Follow.objects.filter(person=donor, campaign=other_campaign).exists()


def test_a_draft_campaign_or_a_bad_id_cannot_be_followed(signed_in, tree):
    owner = make_official("bozza.centro", tree.bologna_centro, [Role.ORGANISATION])
    draft = create_campaign(
        actor=owner,
        territory=tree.bologna_centro,
        title="Bozza",
        summary="Non ancora",
        goal_cents=10_000,
        deadline=timezone.now() + dt.timedelta(days=30),
        story_markdown="…",
    )
    assert signed_in.post(reverse("community:follow"), {"campaign": draft.pk}).status_code == 404
    assert signed_in.post(reverse("community:follow"), {"campaign": "١٢"}).status_code == 404
    assert not Follow.objects.exists()


def test_nobody_stops_someone_elses_follow(signed_in, other_campaign, tree):
    stranger = Person.objects.create(first_name="Luca", last_name="Bianchi", territory=tree.bologna_centro)
    theirs = Follow.objects.create(person=stranger, campaign=other_campaign)
    response = signed_in.post(reverse("community:unfollow", args=[theirs.pk]), follow=True)
    assert "Non segui questa voce." in response.content.decode()
    assert Follow.objects.filter(pk=theirs.pk).exists()
