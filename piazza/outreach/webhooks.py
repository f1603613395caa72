"""Provider events through django-anymail (ADR 0023): anymail verifies the request (HTTP basic auth
with ANYMAIL["WEBHOOK_SECRET"]) and normalises the provider's JSON into `AnymailTrackingEvent`s; the
receiver maps them to `stopping.record_mail_event`. Without a configured secret the endpoint does not
exist (404): an open webhook would let anyone stop addresses."""

from __future__ import annotations

from typing import Any

from anymail.signals import EventType, tracking
from anymail.webhooks.postmark import PostmarkTrackingWebhookView
from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from piazza.outreach.actions import stopping

HARD_TYPES = {"HardBounce", "BadEmailAddress"}


def _kind(event: Any) -> str | None:
    esp = event.esp_event if isinstance(event.esp_event, dict) else {}
    if event.event_type == EventType.BOUNCED:
        return stopping.HARD_BOUNCE if esp.get("Type", "HardBounce") in HARD_TYPES else stopping.SOFT_BOUNCE
    if event.event_type == EventType.REJECTED and esp.get("Type") in HARD_TYPES:
        return stopping.HARD_BOUNCE
    return {
        EventType.COMPLAINED: stopping.COMPLAINED,
        EventType.UNSUBSCRIBED: stopping.UNSUBSCRIBED,
        EventType.DELIVERED: stopping.DELIVERED,
        EventType.DEFERRED: stopping.SOFT_BOUNCE,
    }.get(event.event_type)


def handle_tracking(sender: Any, event: Any, esp_name: str, **kwargs: Any) -> None:
    """Opens and clicks are ignored: no tracking consent purpose exists (ADR 0023)."""
    kind = _kind(event)
    if kind is None:
        return
    esp = event.esp_event if isinstance(event.esp_event, dict) else {}
    event_id = event.event_id or f"{esp.get('RecordType', '')}:{event.message_id}:{event.recipient}"
    stopping.record_mail_event(
        source=esp_name.lower(),
        event_id=str(event_id),
        kind=kind,
        recipient=event.recipient or "",
        message_id="",  # the provider's own id, not our Message-ID: matched by address
        detail=(event.description or event.mta_response or "")[:300],
    )


tracking.connect(handle_tracking, dispatch_uid="piazza.outreach.tracking")

_postmark = PostmarkTrackingWebhookView.as_view()


@csrf_exempt
def postmark_view(request: HttpRequest) -> HttpResponse:
    if not (getattr(settings, "ANYMAIL", {}) or {}).get("WEBHOOK_SECRET"):
        raise Http404
    return _postmark(request)  # type: ignore[no-any-return]
