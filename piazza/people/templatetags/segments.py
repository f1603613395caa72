"""`{% load segments %}`: a saved segment's filters in words (`{{ s.definition|describe_segment }}`)."""

from __future__ import annotations

from typing import Any

from django import template

from piazza.people.queries import describe_definition

register = template.Library()


@register.filter
def describe_segment(definition: dict[str, Any]) -> str:
    return describe_definition(definition)
