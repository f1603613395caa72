"""Public home lists live campaigns; the back office is scoped (404 outside) and logs donor views."""

import pytest
from django.urls import reverse

from piazza.core.models import AuditEntry, AuditKind
from piazza.territory.models import Role
from piazza.territory.testing import make_official, verified_client

pytestmark = pytest.mark.django_db


def test_home_and_list_show_live_campaigns(client, live_campaign):
    assert live_campaign.title in client.get(reverse("web:home")).content.decode()
    assert live_campaign.title in client.get(reverse("funding:list")).content.decode()
    partial = client.get(reverse("funding:thermometer", args=[live_campaign.slug])).content.decode()
    assert 'hx-trigger="every 5s"' in partial


def test_dashboard_section_and_scoped_back_office(live_campaign, circolo_official, tree):
    client = verified_client(circolo_official)
    assert live_campaign.title in client.get(reverse("web:dashboard")).content.decode()
    assert client.get(reverse("funding:manage", args=[live_campaign.pk])).status_code == 200
    client.get(reverse("funding:manage_donors", args=[live_campaign.pk]))
    assert AuditEntry.objects.filter(kind=AuditKind.VIEW, action="funding.view_donors").exists()
    outsider = verified_client(make_official("milano", tree.milano, [Role.TREASURY]))
    assert outsider.get(reverse("funding:manage", args=[live_campaign.pk])).status_code == 404
    assert outsider.get(reverse("funding:manage_donors", args=[live_campaign.pk])).status_code == 404


def test_peer_to_peer_page_is_moderated_then_collects_attributed_gifts(client, live_campaign, circolo_official, tree):
    from django.core.exceptions import PermissionDenied, ValidationError

    from piazza.funding import queries
    from piazza.funding.actions import pools as pools_actions
    from piazza.funding.models import Donation, FundraisingPage, ModerationStatus
    from piazza.funding.tests.flows import donate_through_pages

    response = client.post(
        reverse("funding:page_create", args=[live_campaign.slug]),
        {
            "display_name": "Chiara",
            "title": "Corro per il tetto",
            "story": "Ogni euro conta.",
            "goal": "200",
            "team": "Giovani Democratici",
            "first_name": "Chiara",
            "last_name": "Neri",
            "email": "chiara@example.org",
        },
    )
    assert response.status_code == 302
    page = FundraisingPage.objects.get()
    assert page.status == ModerationStatus.PENDING and page.team is not None
    assert client.get(page.get_absolute_url()).status_code == 404  # hidden until moderated
    with pytest.raises(ValidationError, match="perché"):
        pools_actions.moderate_page(actor=circolo_official, page=page, approve=False, reason="")
    outsider = make_official("milano.p2p", tree.milano, [Role.ORGANISATION])
    with pytest.raises(PermissionDenied):
        pools_actions.moderate_page(actor=outsider, page=page, approve=True)
    verified_client(circolo_official).post(
        reverse("funding:manage_action", args=[live_campaign.pk, "page_approve"]), {"page": page.pk}
    )
    page.refresh_from_db()
    assert page.status == ModerationStatus.APPROVED
    assert "Corro per il tetto" in client.get(page.get_absolute_url()).content.decode()
    donate_through_pages(client, live_campaign, page=page.slug)
    assert Donation.objects.get().page == page
    board = queries.leaderboard(live_campaign)
    assert board[0].pk == page.pk and getattr(board[0], "raised", None) == 2500
    assert queries.team_leaderboard(live_campaign)[0]["cents"] == 2500
    assert "Chiara: Corro per il tetto" in client.get(live_campaign.get_absolute_url()).content.decode()


def test_a_page_for_a_closed_campaign_is_refused(live_campaign):
    from django.core.exceptions import ValidationError

    from piazza.funding.actions import closing as closing_actions
    from piazza.funding.actions import pools as pools_actions

    closing_actions.end_campaign(actor=None, campaign=live_campaign)
    live_campaign.refresh_from_db()
    with pytest.raises(ValidationError, match="attiva"):
        pools_actions.create_fundraising_page(
            campaign=live_campaign,
            first_name="A",
            last_name="B",
            email="a@example.org",
            display_name="A",
            title="T",
            story="S",
            goal_cents=1000,
        )


def test_the_benchmark_ceiling_view_exists_only_in_the_benchmark_urlconf(client):
    from django.urls import Resolver404, resolve

    from benchmarks.urls import CEILING_PATH, benchmark_insert

    assert client.post("/" + CEILING_PATH).status_code == 404
    with pytest.raises(Resolver404):
        resolve("/" + CEILING_PATH)
    assert resolve("/" + CEILING_PATH, urlconf="benchmarks.urls").func is benchmark_insert
    assert resolve("/raccolte/", urlconf="benchmarks.urls").url_name == "list"  # and the whole site
