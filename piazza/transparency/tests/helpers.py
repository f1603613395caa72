"""Money given the real way for the portal's tests: campaigns opened and approved through the
funding actions, gifts through the donation action and the sandbox card (funding's flows)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.utils import timezone

from piazza.funding.actions import campaigns as campaigns_actions
from piazza.funding.models import Campaign
from piazza.funding.tests.flows import give
from piazza.territory.models import Role, Territory
from piazza.territory.testing import make_official


def local(year: int, month: int, day: int, hour: int = 10) -> dt.datetime:
    return dt.datetime(year, month, day, hour, tzinfo=timezone.get_default_timezone())


def campaign_at(
    territory: Territory, *, title: str = "Una raccolta", budget: list[tuple[str, int]] | None = None
) -> Campaign:
    """A live campaign of `territory`, written and launched by its treasurer, approved above."""
    owner = make_official(f"autore.{territory.pk}", territory, [Role.ORGANISATION, Role.TREASURY])
    above = territory.parent or territory
    approver = make_official(f"approva.{territory.pk}", above, [Role.ORGANISATION, Role.TREASURY])
    campaign = campaigns_actions.create_campaign(
        actor=owner,
        territory=territory,
        title=title,
        summary="Per il territorio",
        goal_cents=500_000,
        deadline=timezone.now() + dt.timedelta(days=200),
        story_markdown="Serve a tutti.",
    )
    for label, cents in budget or [("Materiali", 300_000), ("Sala", 200_000)]:
        campaigns_actions.add_budget_line(actor=owner, campaign=campaign, label=label, amount_cents=cents)
    campaigns_actions.submit_campaign(actor=owner, campaign=campaign)
    campaigns_actions.approve_campaign(actor=approver, campaign=campaign)
    return campaigns_actions.launch_campaign(actor=owner, campaign=campaign)


def gift_at(clock: Any, when: dt.datetime, campaign: Campaign, cents: int, *, n: int) -> Any:
    """Donor number `n` gives `cents` to `campaign` at `when` (the clock moves there and back)."""
    before = timezone.now()
    clock.move_to(when)
    try:
        return give(campaign, cents, n=n)
    finally:
        clock.move_to(before)
