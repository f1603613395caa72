"""Background work of broadcasts: thin, idempotent, ids in (convention 13)."""

from __future__ import annotations

from django.conf import settings
from django.db.models import Q
from django.utils import timezone
from django_tasks import task

from piazza.outreach import bounces
from piazza.outreach.actions import delivery, stopping
from piazza.outreach.models import Broadcast, BroadcastStatus, Delivery, DeliveryStatus, Variant
from piazza.outreach.queries import delivery_stats
from piazza.outreach.sending import send_retries


@task()
def start_broadcast(broadcast_id: int) -> bool:
    return delivery.start_broadcast(broadcast_id=broadcast_id) is not None


@task()
def queue_rest(broadcast_id: int) -> int:
    """After the A/B test: the winner to everyone not yet sent to."""
    broadcast = Broadcast.objects.select_related("territory", "segment").get(pk=broadcast_id)
    if broadcast.status != BroadcastStatus.SENDING:
        return 0
    return delivery.queue_deliveries(broadcast)


def pick_winner(broadcast: Broadcast) -> str:
    """The A/B winner when the officer has not chosen in time: fewer unsubscribes, then fewer bounces
    per message sent (opens and clicks are not tracked, ADR 0023); a tie goes to A."""

    def score(variant: str) -> tuple[float, float]:
        s = delivery_stats(broadcast, variant)
        out = max(s.out, 1)
        return s.unsubscribed / out, s.bounced / out

    return Variant.B if score(Variant.B) < score(Variant.A) else Variant.A


@task()
def dispatch_due() -> dict[str, int]:
    """Periodic: start due broadcasts, close A/B tests past their wait, retry deferred messages,
    mark finished broadcasts sent."""
    now = timezone.now()
    started = 0
    for pk in Broadcast.objects.filter(status=BroadcastStatus.SCHEDULED, send_at__lte=now).values_list("pk", flat=True):
        started += delivery.start_broadcast(broadcast_id=pk) is not None
    closed = 0
    for broadcast in Broadcast.objects.filter(status=BroadcastStatus.TESTING).select_related("territory"):
        if (
            broadcast.ab_started_at
            and (now - broadcast.ab_started_at).total_seconds() >= broadcast.ab_wait_hours * 3600
        ):
            delivery.close_ab_test(broadcast=broadcast, winner=pick_winner(broadcast))
            closed += 1
    retry_ids = list(
        Delivery.objects.filter(status=DeliveryStatus.QUEUED)
        .filter(
            Q(next_attempt_at__lte=now)
            | Q(next_attempt_at__isnull=True, queued_at__lte=now - settings.OUTREACH_STALE_AFTER)
        )
        .values_list("pk", flat=True)[:10_000]
    )
    size = settings.OUTREACH_CHUNK_SIZE
    for i in range(0, len(retry_ids), size):
        send_retries.enqueue(retry_ids[i : i + size])
    finished = 0
    for broadcast in Broadcast.objects.filter(status=BroadcastStatus.SENDING):
        finished += delivery.finish_broadcast(broadcast=broadcast)
    return {"started": started, "ab_closed": closed, "retried": len(retry_ids), "finished": finished}


def process_maildir(path: str, *, keep: bool = False) -> dict[str, int]:
    """Read the bounce mailbox: a permanent failure stops the address (hard bounce); a delay is
    recorded only. Processed messages are removed unless `keep`."""
    counts = {"messages": 0, "hard": 0, "soft": 0}
    for key, raw in bounces.read_maildir(path):
        counts["messages"] += 1
        for bounce in bounces.parse_dsn(raw):
            kind = stopping.HARD_BOUNCE if bounce.permanent else stopping.SOFT_BOUNCE
            counts["hard" if bounce.permanent else "soft"] += 1
            stopping.record_mail_event(
                source="dsn",
                event_id=f"{bounce.dsn_id}:{bounce.recipient}",
                kind=kind,
                recipient=bounce.recipient,
                message_id=bounce.message_id,
                detail=f"{bounce.status} {bounce.diagnostic}".strip(),
            )
        if not keep:
            bounces.remove(path, key)
    return counts


@task()
def process_bounce_mailbox() -> dict[str, int]:
    """Periodic: the Maildir in OUTREACH_BOUNCE_MAILDIR (nothing to do when unset)."""
    if not settings.OUTREACH_BOUNCE_MAILDIR:
        return {"messages": 0, "hard": 0, "soft": 0}
    return process_maildir(settings.OUTREACH_BOUNCE_MAILDIR)
