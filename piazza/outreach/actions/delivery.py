"""The system's side of sending: start at the scheduled time, queue the recipients, finish."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from piazza.core.audit import record
from piazza.core.tasks import enqueue_on_commit
from piazza.outreach.models import Broadcast, BroadcastStatus, Delivery, DeliveryStatus, Variant
from piazza.outreach.queries import audience_count, eligible_rows
from piazza.outreach.sending import send_chunk


def ab_bucket(broadcast_id: int, person_id: int) -> int:
    """A stable 0–99 bucket per person and broadcast (Knuth's multiplicative hash)."""
    return ((person_id * 2654435761 + broadcast_id * 40503) % 2**32) % 100


def start_broadcast(*, actor: Any = None, broadcast_id: int) -> Broadcast | None:
    """The scheduled time has come: count the audience, then queue everyone (or the A/B samples)."""
    with transaction.atomic():
        broadcast = (
            Broadcast.objects.select_for_update().select_related("territory", "segment").filter(pk=broadcast_id).first()
        )
        if broadcast is None or broadcast.status != BroadcastStatus.SCHEDULED:
            return None
        if broadcast.send_at and broadcast.send_at > timezone.now():
            return None
        count = audience_count(broadcast)
        broadcast.audience_summary = {"eligible": count.eligible, **{code: n for code, _w, n in count.exclusions}}
        broadcast.started_at = timezone.now()
        broadcast.status = BroadcastStatus.TESTING if broadcast.is_ab else BroadcastStatus.SENDING
        if broadcast.is_ab:
            broadcast.ab_started_at = broadcast.started_at
        broadcast.save(update_fields=["audience_summary", "started_at", "status", "ab_started_at"])
        record(
            "outreach.start_broadcast",
            actor=actor,
            obj=broadcast,
            territory=broadcast.territory,
            data=broadcast.audience_summary,
        )
    queue_deliveries(broadcast, sample=broadcast.is_ab)
    return broadcast


def queue_deliveries(broadcast: Broadcast, *, sample: bool = False) -> int:
    """Stream the eligible recipients into `Delivery` rows, a chunk per transaction, and enqueue one
    send task per chunk after its commit. Re-running it queues nobody twice (unique per person)."""
    chunk: list[Delivery] = []
    queued = 0
    pct = broadcast.ab_sample_percent
    for person_id, email in eligible_rows(broadcast):
        variant = ""
        if broadcast.is_ab:
            bucket = ab_bucket(broadcast.pk, person_id)
            if sample:
                if bucket >= 2 * pct:
                    continue
                variant = Variant.A if bucket < pct else Variant.B
            else:
                variant = broadcast.winner or Variant.A
        chunk.append(Delivery(broadcast_id=broadcast.pk, person_id=person_id, email=email, variant=variant))
        if len(chunk) >= settings.OUTREACH_CHUNK_SIZE:
            queued += _queue_chunk(broadcast, chunk)
            chunk = []
    if chunk:
        queued += _queue_chunk(broadcast, chunk)
    return queued


def _queue_chunk(broadcast: Broadcast, chunk: list[Delivery]) -> int:
    with transaction.atomic():
        Delivery.objects.bulk_create(chunk, ignore_conflicts=True)
        enqueue_on_commit(send_chunk, broadcast.pk, [d.person_id for d in chunk])
    return len(chunk)


def finish_broadcast(*, broadcast: Broadcast) -> bool:
    """Mark a broadcast sent once nothing of it is waiting any more."""
    with transaction.atomic():
        locked = Broadcast.objects.select_for_update().get(pk=broadcast.pk)
        waiting = Delivery.objects.filter(broadcast=locked, status__in=[DeliveryStatus.QUEUED, DeliveryStatus.SENDING])
        if locked.status != BroadcastStatus.SENDING or waiting.exists():
            return False
        locked.status, locked.finished_at = BroadcastStatus.SENT, timezone.now()
        locked.save(update_fields=["status", "finished_at"])
        record("outreach.finish_broadcast", actor=None, obj=locked, territory=locked.territory)
    return True


def close_ab_test(*, broadcast: Broadcast, winner: str, actor: Any = None) -> bool:
    """End an A/B test with `winner` and queue the rest (the officer's choice or the periodic task's)."""
    with transaction.atomic():
        locked = Broadcast.objects.select_for_update().get(pk=broadcast.pk)
        if locked.status != BroadcastStatus.TESTING:
            return False
        locked.winner, locked.status = winner, BroadcastStatus.SENDING
        locked.save(update_fields=["winner", "status"])
        record("outreach.choose_winner", actor=actor, obj=locked, territory=locked.territory, data={"winner": winner})
    queue_deliveries(Broadcast.objects.select_related("territory", "segment").get(pk=broadcast.pk))
    return True
