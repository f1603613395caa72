"""Issue 11 item 2: a visitor finds how to give, join, register as a supporter and see the money.

The home page links to each, every target answers, the current page is marked for screen
readers, "near me" keeps the campaigns of the visitor's comune, and the transparency page shows
the real totals of the public campaigns (the same counters as the thermometers).
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from piazza.funding.actions import campaigns as campaigns_actions
from piazza.funding.models import Campaign
from piazza.funding.queries import thermometer
from piazza.funding.tests.flows import give
from piazza.territory.models import Role, Territory
from piazza.territory.testing import make_official, verified_client

pytestmark = pytest.mark.django_db

TARGETS = ["funding:list", "membership:join", "membership:albo", "web:transparency"]


def _live(circolo: Territory, owner: Any, approver: Any, title: str) -> Campaign:
    campaign = campaigns_actions.create_campaign(
        actor=owner,
        territory=circolo,
        title=title,
        summary="In una frase",
        goal_cents=100_000,
        story_markdown="Testo",
        deadline=timezone.now() + dt.timedelta(days=30),
    )
    campaigns_actions.add_budget_line(actor=owner, campaign=campaign, label="Spese", amount_cents=100_000)
    campaigns_actions.submit_campaign(actor=owner, campaign=campaign)
    campaigns_actions.approve_campaign(actor=approver, campaign=campaign)
    return campaigns_actions.launch_campaign(actor=owner, campaign=campaign)


@pytest.fixture
def campaigns(tree: Any) -> tuple[Campaign, Campaign]:
    """One live campaign of a Bologna circolo, one of a Modena circolo."""
    roles: list[str] = [Role.ORGANISATION, Role.TREASURY]
    bologna = _live(
        tree.bologna_centro,
        make_official("tesoriere.centro", tree.bologna_centro, roles),
        make_official("federazione.bo", tree.bologna, roles),
        "Tetto della Casa del Popolo",
    )
    modena_fed = tree.modena_nord.parent
    modena = _live(
        tree.modena_nord,
        make_official("tesoriere.modena", tree.modena_nord, roles),
        make_official("federazione.mo", modena_fed, roles),
        "Festa di Modena",
    )
    return bologna, modena


def _nav_links(html: str) -> dict[str, str]:
    """href -> the <a> tag, for the links inside the page's navigation landmarks."""
    links: dict[str, str] = {}
    for nav in re.findall(r"<nav\b.*?</nav>", html, flags=re.S):
        for tag in re.findall(r"<a\b[^>]*>", nav):
            href = re.search(r'href="([^"]+)"', tag)
            if href:
                links[href.group(1)] = tag
    return links


def test_home_links_to_giving_joining_albo_and_transparency_and_each_answers(client: Client, campaigns):
    home = client.get(reverse("web:home"))
    assert home.status_code == 200
    html = home.content.decode()
    nav = _nav_links(html)
    assert 'aria-label="Navigazione principale"' in html
    for name in TARGETS:
        url = reverse(name)
        assert url in nav, f"the public navigation has no link to {url}"
        assert "aria-current" not in nav[url]
        page = client.get(url)
        assert page.status_code == 200, url
        # the page a visitor is on is marked as the current one in the navigation
        assert 'aria-current="page"' in _nav_links(page.content.decode())[url]
    # the home page itself also points to joining, the Albo and the transparency page in its body
    for name in ("membership:join", "membership:albo", "web:transparency"):
        assert html.count(f'href="{reverse(name)}"') >= 2


def test_officials_keep_the_public_links_in_the_footer(tree, campaigns):
    official = make_official("segretario.x", tree.bologna_centro, [Role.ORGANISATION])
    html = verified_client(official).get(reverse("web:dashboard")).content.decode()
    assert 'aria-label="Sito pubblico"' in html
    for name in TARGETS:
        assert reverse(name) in _nav_links(html)


def test_near_me_keeps_the_campaigns_of_the_comune_and_the_levels_above(client: Client, campaigns):
    bologna, modena = campaigns
    html = client.get(reverse("funding:list"), {"comune": " bologna "}).content.decode()
    assert bologna.title in html and modena.title not in html
    html = client.get(reverse("funding:list"), {"comune": "Modena"}).content.decode()
    assert modena.title in html and bologna.title not in html
    html = client.get(reverse("funding:list"), {"comune": "Atlantide"}).content.decode()
    assert "Non troviamo un comune chiamato «Atlantide»" in html
    assert bologna.title in html and modena.title in html


def test_transparency_shows_the_thermometer_totals_of_public_campaigns(client: Client, campaigns):
    bologna, modena = campaigns
    give(bologna, 2_500, n=1)
    give(modena, 10_000, n=2)
    html = client.get(reverse("web:transparency")).content.decode()
    for campaign in (bologna, modena):
        assert campaign.title in html and campaign.get_absolute_url() in html
    assert sum(thermometer(c, fresh=True).gifts_cents for c in campaigns) == 12_500
    assert re.search(r'data-testid="raised-total">[^<]*125,00', html)
    home = client.get(reverse("web:home")).content.decode()
    assert "125,00" in home and "2 donazioni" in home
    assert "segnaposto" not in html.lower() and "lorem" not in html.lower()
