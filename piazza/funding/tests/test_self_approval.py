"""Issue 11 item 10: whoever wrote, edited or submitted a campaign may not approve it, even when a
role at the level above would otherwise allow it (four eyes on every campaign)."""

import datetime as dt

import pytest
from django.core.exceptions import PermissionDenied
from django.urls import reverse
from django.utils import timezone

from piazza.core.models import AuditEntry
from piazza.funding.actions import campaigns as campaigns_actions
from piazza.funding.models import CampaignStatus
from piazza.territory.models import Role
from piazza.territory.testing import make_official, verified_client

pytestmark = pytest.mark.django_db


def _submitted(tree, author, *, editor=None):
    campaign = campaigns_actions.create_campaign(
        actor=author,
        territory=tree.bologna_centro,
        title="Volantini",
        summary="Stampa",
        goal_cents=50_000,
        deadline=timezone.now() + dt.timedelta(days=10),
        story_markdown="Testo",
    )
    campaigns_actions.add_budget_line(actor=author, campaign=campaign, label="Carta", amount_cents=50_000)
    if editor is not None:
        campaigns_actions.update_campaign(actor=editor, campaign=campaign, summary="Stampa e affissione")
    campaigns_actions.submit_campaign(actor=author, campaign=campaign)
    return campaign


def test_the_submitter_with_a_role_above_cannot_approve_his_own_campaign(tree, federation_official):
    campaign = _submitted(tree, federation_official)
    with pytest.raises(PermissionDenied, match="non può approvarla"):
        campaigns_actions.approve_campaign(actor=federation_official, campaign=campaign)
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.SUBMITTED
    assert AuditEntry.objects.filter(action="funding.approve_campaign", data__code="own_campaign").exists()


def test_an_editor_cannot_approve_but_another_official_above_can(tree, circolo_official, federation_official):
    campaign = _submitted(tree, circolo_official, editor=federation_official)
    with pytest.raises(PermissionDenied, match="non può approvarla"):
        campaigns_actions.approve_campaign(actor=federation_official, campaign=campaign)
    other = make_official("tesoriera.bo", tree.bologna, [Role.TREASURY])
    campaigns_actions.approve_campaign(actor=other, campaign=campaign)
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.APPROVED and campaign.decided_by == other


def test_the_approve_button_is_hidden_from_the_author(tree, federation_official):
    campaign = _submitted(tree, federation_official)
    approve_url = reverse("funding:manage_action", args=[campaign.pk, "approve"])
    client = verified_client(federation_official)
    page = client.get(reverse("funding:manage", args=[campaign.pk])).content.decode()
    assert approve_url not in page
    assert "non può approvarla" in page
    other = make_official("tesoriera.bo", tree.bologna, [Role.TREASURY])
    client = verified_client(other)
    assert approve_url in client.get(reverse("funding:manage", args=[campaign.pk])).content.decode()
