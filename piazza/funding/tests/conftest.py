import datetime as dt
from typing import Any

import pytest
from django.utils import timezone

from piazza.funding.actions import campaigns as campaigns_actions
from piazza.territory.models import Role
from piazza.territory.testing import make_official


@pytest.fixture
def circolo_official(tree):
    return make_official("tesoriere.centro", tree.bologna_centro, [Role.ORGANISATION, Role.TREASURY])


@pytest.fixture
def federation_official(tree):
    return make_official("federazione.bo", tree.bologna, [Role.ORGANISATION, Role.TREASURY])


def build_live_campaign(tree, owner, approver, **kw):
    fields: dict[str, Any] = {
        "title": "Un tetto nuovo per la Casa del Popolo",
        "summary": "Ripariamo il tetto",
        "goal_cents": 100_000,
        "deadline": timezone.now() + dt.timedelta(days=30),
        "story_markdown": "Il tetto **perde**.",
    }
    fields.update(kw)
    campaign = campaigns_actions.create_campaign(actor=owner, territory=tree.bologna_centro, **fields)
    campaigns_actions.add_budget_line(actor=owner, campaign=campaign, label="Tegole", amount_cents=60_000)
    campaigns_actions.submit_campaign(actor=owner, campaign=campaign)
    campaigns_actions.approve_campaign(actor=approver, campaign=campaign)
    return campaigns_actions.launch_campaign(actor=owner, campaign=campaign)


@pytest.fixture
def live_campaign(tree, circolo_official, federation_official):
    return build_live_campaign(tree, circolo_official, federation_official)
