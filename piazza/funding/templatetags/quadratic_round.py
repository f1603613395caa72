"""`{% load quadratic_round %}{% round_estimate campaign as rounds %}`: the live estimate of each open
quadratic round on a campaign page (issue 17), read from the round's cached standing."""

from __future__ import annotations

from typing import Any

from django import template

from piazza.funding.queries import round_estimates

register = template.Library()


@register.simple_tag
def round_estimate(campaign: Any) -> list[Any]:
    if campaign is None or getattr(campaign, "pk", None) is None:
        return []
    return round_estimates(campaign)
