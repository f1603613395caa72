"""Issue 11 item 18: campaign content in English. A campaign may carry an English title and
summary; a visitor reading the site in English sees them, an Italian visitor the Italian ones, and
a campaign without them shows its Italian words in both."""

import pytest
from django.urls import reverse

from piazza.funding.actions import campaigns as campaigns_actions
from piazza.funding.tests.conftest import build_live_campaign
from piazza.territory.models import Role
from piazza.territory.testing import make_official

pytestmark = pytest.mark.django_db


@pytest.fixture
def officials(tree):
    return (
        make_official("tes.centro", tree.bologna_centro, [Role.ORGANISATION, Role.TREASURY]),
        make_official("fed.bo", tree.bologna, [Role.ORGANISATION, Role.TREASURY]),
    )


def test_the_campaign_page_speaks_the_visitors_language(client, tree, officials):
    campaign = build_live_campaign(
        tree, *officials, title_en="A new roof for the Casa del Popolo", summary_en="We fix the roof"
    )
    english = client.get(campaign.get_absolute_url(), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "<h1>A new roof for the Casa del Popolo</h1>" in english and "We fix the roof" in english
    italian = client.get(campaign.get_absolute_url(), HTTP_ACCEPT_LANGUAGE="it").content.decode()
    assert "<h1>Un tetto nuovo per la Casa del Popolo</h1>" in italian and "A new roof" not in italian
    home = client.get(reverse("web:home"), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "A new roof for the Casa del Popolo" in home


def test_without_english_words_the_italian_ones_show(client, tree, officials):
    campaign = build_live_campaign(tree, *officials)
    english = client.get(campaign.get_absolute_url(), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "<h1>Un tetto nuovo per la Casa del Popolo</h1>" in english


def test_the_english_words_are_editable_and_stripped(tree, officials):
    owner, _approver = officials
    campaign = campaigns_actions.create_campaign(
        actor=owner,
        territory=tree.bologna_centro,
        title="Tetto",
        summary="Tetto",
        goal_cents=10_000,
        deadline=build_deadline(),
        title_en="  Roof ",
    )
    assert campaign.title_en == "Roof"
    campaign = campaigns_actions.update_campaign(actor=owner, campaign=campaign, summary_en="The roof")
    assert campaign.summary_en == "The roof"


def build_deadline():
    import datetime as dt

    from django.utils import timezone

    return timezone.now() + dt.timedelta(days=30)
