"""`{% load activity %}`: audit codes shown as words (`{{ e.action|action_label }}`)."""

from __future__ import annotations

from django import template

from piazza.web import activity

register = template.Library()


@register.filter
def action_label(code: str) -> str:
    return activity.action_label(code)


@register.filter
def channel_label(channel: str) -> str:
    return activity.channel_label(channel)


@register.simple_tag
def object_label(object_type: str, object_id: str) -> str:
    return activity.object_label(object_type, object_id)
