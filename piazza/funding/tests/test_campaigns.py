"""Campaign workflow: draft → submitted → approved by the level above / rejected → live."""

import datetime as dt
import io
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from PIL import Image

from piazza.core.models import AuditEntry, AuditKind
from piazza.funding.actions import campaigns as campaigns_actions
from piazza.funding.content import render_markdown
from piazza.funding.models import COUNTER_SLOTS, CampaignKind, CampaignStatus, FundingModel

pytestmark = pytest.mark.django_db


def _draft(tree, owner, **kw):
    fields: dict[str, Any] = {
        "title": "Volantini",
        "summary": "Stampa",
        "goal_cents": 50_000,
        "deadline": timezone.now() + dt.timedelta(days=10),
        "story_markdown": "Testo",
    }
    fields.update(kw)
    return campaigns_actions.create_campaign(actor=owner, territory=tree.bologna_centro, **fields)


def test_workflow_needs_the_level_above_to_approve(tree, circolo_official, federation_official):
    campaign = _draft(tree, circolo_official)
    with pytest.raises(ValidationError, match="voce di spesa"):
        campaigns_actions.submit_campaign(actor=circolo_official, campaign=campaign)
    campaigns_actions.add_budget_line(actor=circolo_official, campaign=campaign, label="Carta", amount_cents=50_000)
    campaigns_actions.submit_campaign(actor=circolo_official, campaign=campaign)
    # the circolo's own treasurer cannot approve their campaign
    with pytest.raises(PermissionDenied):
        campaigns_actions.approve_campaign(actor=circolo_official, campaign=campaign)
    campaigns_actions.approve_campaign(actor=federation_official, campaign=campaign)
    campaigns_actions.launch_campaign(actor=circolo_official, campaign=campaign)
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.LIVE
    assert campaign.counters.count() == COUNTER_SLOTS
    assert AuditEntry.objects.filter(action="funding.approve_campaign", actor=federation_official).exists()


def test_rejection_needs_a_reason_and_returns_the_campaign_to_editing(tree, circolo_official, federation_official):
    campaign = _draft(tree, circolo_official)
    campaigns_actions.add_budget_line(actor=circolo_official, campaign=campaign, label="Carta", amount_cents=50_000)
    campaigns_actions.submit_campaign(actor=circolo_official, campaign=campaign)
    with pytest.raises(ValidationError, match="motivo"):
        campaigns_actions.reject_campaign(actor=federation_official, campaign=campaign, reason="no")
    campaigns_actions.reject_campaign(
        actor=federation_official, campaign=campaign, reason="Manca il preventivo della tipografia"
    )
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.REJECTED
    campaigns_actions.update_campaign(actor=circolo_official, campaign=campaign, goal_cents=40_000)
    campaigns_actions.submit_campaign(actor=circolo_official, campaign=campaign)
    assert campaign.status == CampaignStatus.SUBMITTED


def test_money_terms_freeze_after_submission(tree, circolo_official):
    campaign = _draft(tree, circolo_official)
    campaigns_actions.add_budget_line(actor=circolo_official, campaign=campaign, label="Carta", amount_cents=50_000)
    campaigns_actions.submit_campaign(actor=circolo_official, campaign=campaign)
    with pytest.raises(ValidationError, match="non si possono più cambiare"):
        campaigns_actions.update_campaign(actor=circolo_official, campaign=campaign, goal_cents=1)
    campaigns_actions.update_campaign(actor=circolo_official, campaign=campaign, story_markdown="Nuovo testo")


def test_bad_campaign_input_is_refused(tree, circolo_official):
    with pytest.raises(ValidationError, match="futuro"):
        _draft(tree, circolo_official, deadline=timezone.now() - dt.timedelta(days=1))
    with pytest.raises(ValidationError, match="minimo"):
        _draft(tree, circolo_official, minimum_cents=60_000, funding_model=FundingModel.ALL_OR_NOTHING)
    with pytest.raises(ValidationError, match="candidatura e il suo mandatario"):
        _draft(tree, circolo_official, kind=CampaignKind.CANDIDATE)
    all_or_nothing = _draft(tree, circolo_official, funding_model=FundingModel.ALL_OR_NOTHING)
    assert all_or_nothing.minimum_cents == all_or_nothing.goal_cents


def test_officials_of_another_circolo_cannot_open_or_edit(tree, circolo_official):
    from piazza.territory.models import Role
    from piazza.territory.testing import make_official

    other = make_official("modena", tree.modena_nord, [Role.ORGANISATION])
    with pytest.raises(PermissionDenied):
        _draft(tree, other)
    campaign = _draft(tree, circolo_official)
    with pytest.raises(PermissionDenied):
        campaigns_actions.update_campaign(actor=other, campaign=campaign, title="x")
    assert AuditEntry.objects.filter(kind=AuditKind.DENIED, action="funding.update_campaign").exists()


def test_splits_must_sum_to_100(tree, circolo_official):
    campaign = _draft(tree, circolo_official)
    with pytest.raises(ValidationError, match="100"):
        campaigns_actions.set_splits(
            actor=circolo_official, campaign=campaign, shares=[(tree.bologna_centro, 70), (tree.bologna, 20)]
        )
    rows = campaigns_actions.set_splits(
        actor=circolo_official, campaign=campaign, shares=[(tree.bologna_centro, 70), (tree.bologna, 30)]
    )
    assert sorted(r.percent for r in rows) == [30, 70]


def test_story_markdown_is_sanitised():
    html = render_markdown("**ok** <script>alert(1)</script> [x](javascript:alert(1)) <img src=x onerror=alert(1)>")
    assert "<strong>ok</strong>" in html
    assert "<script" not in html and "javascript:" not in html and "onerror" not in html and "<img" not in html


def _png(width, height):
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), "red").save(buffer, format="PNG")
    return SimpleUploadedFile("photo.png", buffer.getvalue(), content_type="image/png")


def test_images_are_resized_and_need_alt_text(tree, circolo_official, tmp_path, settings):
    settings.MEDIA_ROOT = tmp_path
    campaign = _draft(tree, circolo_official)
    with pytest.raises(ValidationError, match="testo alternativo"):
        campaigns_actions.add_image(actor=circolo_official, campaign=campaign, upload=_png(10, 10), alt_text=" ")
    with pytest.raises(ValidationError, match="non è un'immagine"):
        campaigns_actions.add_image(
            actor=circolo_official,
            campaign=campaign,
            upload=SimpleUploadedFile("x.png", b"not an image"),
            alt_text="Il tetto",
        )
    image = campaigns_actions.add_image(
        actor=circolo_official, campaign=campaign, upload=_png(4000, 2000), alt_text="Il tetto"
    )
    assert (image.width, image.height) == (1600, 800)


def test_update_is_emailed_to_subscribers(
    live_campaign, circolo_official, mailoutbox, django_capture_on_commit_callbacks
):
    from piazza.funding.models import UpdateSubscription

    UpdateSubscription.objects.create(campaign=live_campaign, email="giulia@example.org", token="t1")
    UpdateSubscription.objects.create(
        campaign=live_campaign, email="via@example.org", token="t2", unsubscribed_at=timezone.now()
    )
    with django_capture_on_commit_callbacks(execute=True):
        update = campaigns_actions.post_update(
            actor=circolo_official, campaign=live_campaign, title="Tegole arrivate", body_markdown="Grazie a tutti"
        )
    update.refresh_from_db()
    assert update.emailed_to == 1
    assert [m.to for m in mailoutbox] == [["giulia@example.org"]]
    assert "/raccolte/aggiornamenti/t1/disiscriviti/" in mailoutbox[0].body
