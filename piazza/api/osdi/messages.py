"""OSDI messages (issue 16): the email broadcasts of `piazza.outreach`, read only, with the same
aggregate figures the officer's page shows (`outreach.queries.delivery_stats`) — never who got
them. Opens and clicks are not tracked (no such purpose exists, ADR 0023), so none are reported.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import QuerySet
from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from ninja import Query, Router
from pydantic import Field

from piazza.api import schemas as s
from piazza.api.access import roles_for
from piazza.api.models import Permission
from piazza.api.v1 import ERRORS, Paging, _actor, _collection, _link, _pk, _seen, _territory
from piazza.outreach.models import Broadcast, BroadcastStatus
from piazza.outreach.queries import delivery_stats

router: Router = Router(tags=["messages"])

# OSDI message statuses; ours (with the A/B test's) are kept too, as `piazza:status`.
OSDI_STATUS: dict[str, str] = {
    BroadcastStatus.DRAFT: "draft",
    BroadcastStatus.SCHEDULED: "scheduled",
    BroadcastStatus.TESTING: "sending",
    BroadcastStatus.SENDING: "sending",
    BroadcastStatus.SENT: "sent",
    BroadcastStatus.CANCELLED: "cancelled",
}


class Statistics(s.Model):
    """Counts of messages by what happened to them; opens and clicks are not tracked (ADR 0023)."""

    queued: int
    sent: int = Field(description="Handed to the mail server (delivered and bounced included)")
    delivered: int
    bounced: int
    failed: int
    unsubscribed: int


class Message(s.Model):
    identifiers: list[str]
    created_date: dt.datetime
    modified_date: dt.datetime
    type: str = "email"
    subject: str
    message: str = Field(description="The text as written (Markdown), before it is rendered for each person")
    status: str
    sent_start_date: dt.datetime | None
    sent_end_date: dt.datetime | None
    total_targeted: int = Field(description="Messages created for this broadcast (one per recipient)")
    statistics: Statistics
    piazza_status: str = Field(alias="piazza:status")
    piazza_subject_b: str = Field(alias="piazza:subject_b", description="The A/B test's other subject, if any")
    piazza_territory: s.Territory = Field(alias="piazza:territory")
    links: s.Links = Field(alias="_links")


MessagesPage = s.collection("MessagesPage", "osdi:messages", Message)


def message_representation(request: HttpRequest, broadcast: Broadcast) -> dict[str, Any]:
    stats = delivery_stats(broadcast)
    changed = [t for t in (broadcast.created_at, broadcast.started_at, broadcast.finished_at) if t]
    return {
        "identifiers": [f"piazza:message-{broadcast.pk}"],
        "created_date": broadcast.created_at,
        "modified_date": max(changed),
        "type": "email",
        "subject": broadcast.subject,
        "message": broadcast.body,
        "status": OSDI_STATUS.get(broadcast.status, broadcast.status),
        "sent_start_date": broadcast.started_at,
        "sent_end_date": broadcast.finished_at,
        "total_targeted": stats.queued + stats.out + stats.failed,
        "statistics": {
            "queued": stats.queued,
            "sent": stats.out,
            "delivered": stats.delivered,
            "bounced": stats.bounced,
            "failed": stats.failed,
            "unsubscribed": stats.unsubscribed,
        },
        "piazza:status": broadcast.status,
        "piazza:subject_b": broadcast.subject_b,
        "piazza:territory": _territory(broadcast.territory),
        "_links": {"self": _link(request, f"/messages/{broadcast.pk}")},
    }


def _messages(actor: Any) -> QuerySet[Broadcast]:
    return (
        Broadcast.objects.visible_to(actor, roles=roles_for(Permission.READ_MESSAGES))
        .select_related("territory")
        .order_by("pk")
    )


@router.get("/messages", response={200: MessagesPage, **ERRORS}, by_alias=True)
def list_messages(request: HttpRequest, paging: Query[Paging]) -> dict[str, Any]:
    actor = _actor(request, Permission.READ_MESSAGES)
    return _collection(
        request,
        actor,
        _messages(actor),
        "osdi:messages",
        paging.page,
        paging.per_page,
        lambda b: message_representation(request, b),
    )


@router.get("/messages/{message_id}", response={200: Message, **ERRORS}, by_alias=True)
def get_message(request: HttpRequest, message_id: str) -> dict[str, Any]:
    actor = _actor(request, Permission.READ_MESSAGES)
    broadcast = get_object_or_404(_messages(actor), pk=_pk(message_id))
    _seen(request, actor, [f"piazza:message-{broadcast.pk}"])
    return message_representation(request, broadcast)
