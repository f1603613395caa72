"""Template filter `euro`: `{% load money %}{{ payment.amount|euro }}` → `1.234,50 €`."""

from __future__ import annotations

from typing import Any

from django import template

from piazza.core.money import Money, format_eur

register = template.Library()


@register.filter
def euro(value: Any) -> str:
    """Money, or integer cents, formatted the Italian way; empty string for None."""
    if value is None or value == "":
        return ""
    if isinstance(value, Money):
        return format_eur(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return format_eur(value)
    raise template.TemplateSyntaxError(f"euro: expected Money or integer cents, got {type(value).__name__}")
