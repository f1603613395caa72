"""The system's side of sending: start at the scheduled time, queue the recipients, finish."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from piazza.core.audit import record
from piazza.core.tasks import enqueue_on_commit
from piazza.outreach.models import Broadcast, BroadcastStatus, Delivery, DeliveryStatus, Variant
from piazza.outreach.queries import OK, audience_count, classified
from piazza.outreach.sending import send_range


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
    """Turn the eligible audience into `Delivery` rows and enqueue one send task per chunk after the
    commit (benchmark P9).

    One INSERT … SELECT: the classification (rules G2, G3, the frequency limit) and the insert run
    inside PostgreSQL, so no recipient passes through Python and memory stays flat. A transaction
    lock serialises queueing across all broadcasts: a second broadcast waits, then its frequency
    count sees the first one's rows (a person in a circolo, a federation and the national list is
    counted once across all of them). Re-running it queues nobody twice (unique per person)."""
    rows = classified(broadcast).filter(_reason=OK).order_by().values("pk", "_email")
    if connection.vendor != "postgresql":
        return _queue_in_python(broadcast, rows, sample=sample)
    select, params = rows.query.sql_with_params()
    bucket = "((e.pid * 2654435761 + %s::bigint * 40503) %% 4294967296) %% 100"
    pct = broadcast.ab_sample_percent
    if broadcast.is_ab and sample:
        variant = f"CASE WHEN {bucket} < %s THEN %s ELSE %s END"
        variant_params: list[Any] = [broadcast.pk, pct, Variant.A, Variant.B]
        where, where_params = f"WHERE {bucket} < %s", [broadcast.pk, 2 * pct]
    else:
        variant, variant_params = "%s", [(broadcast.winner or Variant.A) if broadcast.is_ab else ""]
        where, where_params = "", []
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_QUEUE_LOCK])
        cursor.execute("SELECT COALESCE(MAX(id), 0) FROM outreach_delivery")
        before = cursor.fetchone()[0]
        cursor.execute(
            f"""INSERT INTO outreach_delivery (broadcast_id, person_id, email, variant, status, attempts,
                    queued_at, message_id, error)
                SELECT %s, e.pid, e.address, {variant}, %s, 0, %s, '', ''
                FROM ({select}) AS e(pid, address) {where}
                ORDER BY e.pid
                ON CONFLICT DO NOTHING""",  # noqa: S608 (fixed SQL around the ORM's own query)
            [broadcast.pk, *variant_params, DeliveryStatus.QUEUED, timezone.now(), *params, *where_params],
        )
        queued = cursor.rowcount
        cursor.execute(
            """SELECT MIN(id), MAX(id) FROM (
                    SELECT id, (ROW_NUMBER() OVER (ORDER BY id) - 1) / %s AS chunk
                    FROM outreach_delivery WHERE broadcast_id = %s AND id > %s
                ) AS numbered GROUP BY chunk ORDER BY 1""",
            [settings.OUTREACH_CHUNK_SIZE, broadcast.pk, before],
        )
        for first, last in cursor.fetchall():
            enqueue_on_commit(send_range, broadcast.pk, first, last)
    return max(queued, 0)


def _queue_in_python(broadcast: Broadcast, rows: Any, *, sample: bool) -> int:
    """SQLite (the demo's embedded database; its writes are serialised anyway): the same rows,
    variants and chunks as the INSERT … SELECT above, built in Python in pages of a chunk."""
    pct = broadcast.ab_sample_percent
    ab_sample = broadcast.is_ab and sample
    fixed = (broadcast.winner or Variant.A) if broadcast.is_ab else ""
    size = int(settings.OUTREACH_CHUNK_SIZE)
    queued = 0
    with transaction.atomic():
        already = set(Delivery.objects.filter(broadcast=broadcast).values_list("person_id", flat=True))
        batch: list[Delivery] = []
        for row in rows.order_by("pk").iterator(chunk_size=size):
            bucket = ab_bucket(broadcast.pk, row["pk"])
            if row["pk"] in already or (ab_sample and bucket >= 2 * pct):
                continue
            variant = (Variant.A if bucket < pct else Variant.B) if ab_sample else fixed
            batch.append(Delivery(broadcast=broadcast, person_id=row["pk"], email=row["_email"], variant=variant))
            if len(batch) == size:
                queued += _insert_chunk(broadcast, batch)
                batch = []
        if batch:
            queued += _insert_chunk(broadcast, batch)
    return queued


def _insert_chunk(broadcast: Broadcast, batch: list[Delivery]) -> int:
    created = Delivery.objects.bulk_create(batch)
    ids = [d.pk for d in created]
    enqueue_on_commit(send_range, broadcast.pk, min(ids), max(ids))
    return len(created)


# Any constant shared by every process that queues broadcasts (pg_advisory_xact_lock takes a bigint).
_QUEUE_LOCK = 0x0B0ADCA57


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
