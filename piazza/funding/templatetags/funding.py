"""`{% load funding %}{% live_campaigns as rows %}`: the public home page's live campaigns."""

from __future__ import annotations

from typing import Any

from django import template

register = template.Library()


@register.simple_tag
def live_campaigns() -> list[Any]:
    from piazza.funding.views import home_campaigns

    return home_campaigns()
