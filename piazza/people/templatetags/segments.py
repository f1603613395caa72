"""`{% load segments %}`: a saved segment's filters in words (`{{ s.definition|describe_segment }}`)
and its capped count (`{{ count|segment_count_words }}`: "1.234" or "più di 10.000", ADR 0040)."""

from __future__ import annotations

from typing import Any

from django import template

from piazza.people.queries import CappedCount, count_in_words, describe_definition

register = template.Library()


@register.filter
def describe_segment(definition: dict[str, Any]) -> str:
    return describe_definition(definition)


@register.filter
def segment_count_words(count: CappedCount) -> str:
    return count_in_words(count)
