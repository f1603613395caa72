"""The send pipeline: a chunk of deliveries through Django's email backend (real SMTP in production,
tests and the demo), one provider-wide rate limit in the shared cache, retries with backoff.

Idempotent per (broadcast, person): each `Delivery` row is claimed by a conditional UPDATE
(queued → sending) before its message is built, so two workers given the same chunk, or a task run
twice, send it once.
"""

from __future__ import annotations

import datetime as dt
import logging
import smtplib
import socket
import time
from collections.abc import Sequence

from django.conf import settings
from django.core.cache import cache
from django.core.mail import get_connection
from django.db.models import Q
from django.utils import timezone
from django_tasks import task

from piazza.outreach.actions import stopping
from piazza.outreach.models import Broadcast, Delivery, DeliveryStatus
from piazza.outreach.render import Prepared, build_message, merge_values, prepare

logger = logging.getLogger("piazza.outreach")


class ProviderRateLimit:
    """At most `OUTREACH_RATE_PER_SECOND` messages per second for the whole provider, across
    processes: a counter per one-second window in the shared cache (Redis in production)."""

    def __init__(self, provider: str, per_second: int) -> None:
        self.provider, self.per_second = provider, per_second

    def acquire(self) -> None:
        while True:
            now = time.time()
            window = int(now)
            key = f"outreach:rate:{self.provider}:{window}"
            if cache.add(key, 1, timeout=5):
                return
            try:
                if int(cache.incr(key)) <= self.per_second:
                    return
            except ValueError:  # the key expired between add and incr
                continue
            time.sleep(max(0.0, window + 1 - time.time()))


def rate_limit() -> ProviderRateLimit:
    return ProviderRateLimit(settings.OUTREACH_PROVIDER, settings.OUTREACH_RATE_PER_SECOND)


def _temporary(exc: Exception) -> bool:
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return all(400 <= code < 500 for code, _msg in exc.recipients.values())
    if isinstance(exc, smtplib.SMTPResponseException):
        return 400 <= exc.smtp_code < 500
    return isinstance(exc, (smtplib.SMTPServerDisconnected, smtplib.SMTPConnectError, ConnectionError, socket.timeout))


def _backoff(attempts: int) -> dt.timedelta:
    return dt.timedelta(seconds=settings.OUTREACH_RETRY_BASE_SECONDS * 2 ** (attempts - 1))


@task()
def send_chunk(broadcast_id: int, person_ids: list[int]) -> int:
    """One worker's share: the queued deliveries of these people for this broadcast."""
    ids = Delivery.objects.filter(broadcast_id=broadcast_id, person_id__in=person_ids).values_list("pk", flat=True)
    return send_deliveries(list(ids))


@task()
def send_retries(delivery_ids: list[int]) -> int:
    return send_deliveries(delivery_ids)


def send_deliveries(delivery_ids: Sequence[int]) -> int:
    """Send the still-queued, due deliveries among `delivery_ids`; returns how many left."""
    now = timezone.now()
    due = Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)
    claimed = list(
        Delivery.objects.filter(pk__in=list(delivery_ids), status=DeliveryStatus.QUEUED)
        .filter(due)
        .values_list("pk", flat=True)
    )
    if not claimed:
        return 0
    # Claim them all at once: another worker running the same chunk finds nothing queued.
    Delivery.objects.filter(pk__in=claimed, status=DeliveryStatus.QUEUED).update(status=DeliveryStatus.SENDING)
    deliveries = list(Delivery.objects.filter(pk__in=claimed, status=DeliveryStatus.SENDING).order_by("pk"))
    if not deliveries:
        return 0
    broadcasts = {
        b.pk: b
        for b in Broadcast.objects.filter(pk__in={d.broadcast_id for d in deliveries}).select_related("territory")
    }
    prepared: dict[tuple[int, str], Prepared] = {}
    values = merge_values(d.person_id for d in deliveries)
    limiter = rate_limit()
    sent = 0
    connection = get_connection()
    try:
        connection.open()  # one SMTP session for the chunk (send() would open and close one per message)
    except (smtplib.SMTPException, OSError) as exc:
        # The server is down or refuses the session: the whole chunk waits for the retry sweep.
        logger.warning("SMTP session refused: %s", exc)
        Delivery.objects.filter(pk__in=claimed, status=DeliveryStatus.SENDING).update(
            status=DeliveryStatus.QUEUED, next_attempt_at=now + _backoff(1), error=f"{type(exc).__name__}: {exc}"[:300]
        )
        return 0
    try:
        for delivery in deliveries:
            key = (delivery.broadcast_id, delivery.variant)
            if key not in prepared:
                prepared[key] = prepare(broadcasts[delivery.broadcast_id], delivery.variant)
            message = build_message(delivery, prepared[key], values.get(delivery.person_id, {}))
            message.connection = connection
            limiter.acquire()
            try:
                message.send()
            except (smtplib.SMTPException, OSError) as exc:
                _failed(delivery, exc, str(message.extra_headers["Message-ID"]))
                connection.close()  # a broken session is not reused
                connection.open()
                continue
            Delivery.objects.filter(pk=delivery.pk, status=DeliveryStatus.SENDING).update(
                status=DeliveryStatus.SENT,
                sent_at=timezone.now(),
                message_id=str(message.extra_headers["Message-ID"]),
                attempts=delivery.attempts + 1,
                error="",
            )
            sent += 1
    finally:
        connection.close()
    return sent


def _failed(delivery: Delivery, exc: Exception, message_id: str) -> None:
    attempts = delivery.attempts + 1
    error = f"{type(exc).__name__}: {exc}"[:300]
    if _temporary(exc) and attempts < settings.OUTREACH_MAX_ATTEMPTS:
        Delivery.objects.filter(pk=delivery.pk).update(
            status=DeliveryStatus.QUEUED,
            attempts=attempts,
            next_attempt_at=timezone.now() + _backoff(attempts),
            error=error,
            message_id=message_id,
        )
        return
    if not _temporary(exc) and isinstance(exc, (smtplib.SMTPRecipientsRefused, smtplib.SMTPDataError)):
        # A permanent refusal of the address: a hard bounce at the door, the address is stopped.
        Delivery.objects.filter(pk=delivery.pk).update(status=DeliveryStatus.BOUNCED, attempts=attempts, error=error)
        stopping.stop_address(email=delivery.email, detail=error, broadcast_id=delivery.broadcast_id)
        return
    logger.warning("delivery %s failed for good: %s", delivery.pk, error)
    Delivery.objects.filter(pk=delivery.pk).update(status=DeliveryStatus.FAILED, attempts=attempts, error=error)
