"""`{% has_mandates user as flag %}`: whether the signed-in user is the mandatario of a candidacy,
so the page header links «I miei mandati» (the mandatario's own books, rule F10)."""

from __future__ import annotations

from typing import Any

from django import template

from piazza.compliance.models import Candidacy

register = template.Library()


@register.simple_tag
def has_mandates(user: Any) -> bool:
    if user is None or not getattr(user, "is_authenticated", False):
        return False
    return Candidacy.objects.filter(mandatario_user=user).exists()
