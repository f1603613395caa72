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
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.core.mail import get_connection
from django.core.mail.backends.smtp import EmailBackend as SMTPBackend
from django.db import connection as connection_for_write
from django.db.models import Q
from django.utils import timezone
from django_tasks import task

from piazza.outreach.actions import stopping
from piazza.outreach.models import Broadcast, Delivery, DeliveryStatus
from piazza.outreach.render import Compiled, build_message, merge_values, prepare

logger = logging.getLogger("piazza.outreach")


class ProviderRateLimit:
    """At most `OUTREACH_RATE_PER_SECOND` messages per second for the whole provider, across
    processes: a counter per one-second window in the shared cache (Redis in production)."""

    def __init__(self, provider: str, per_second: int) -> None:
        self.provider, self.per_second = provider, per_second

    def acquire(self, n: int = 1) -> None:
        """Take `n` sends from the current window (the sender takes a few at a time: one cache round
        trip per group, not per message), waiting for the next window when it is full."""
        n = max(1, min(n, self.per_second))
        while True:
            now = time.time()
            window = int(now)
            key = f"outreach:rate:{self.provider}:{window}"
            if cache.add(key, n, timeout=5):
                return
            try:
                if int(cache.incr(key, n)) <= self.per_second:
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
def send_range(broadcast_id: int, first_id: int, last_id: int) -> int:
    """One chunk as queued (benchmark P9): the deliveries of this broadcast with ids in the range."""
    ids = Delivery.objects.filter(broadcast_id=broadcast_id, pk__gte=first_id, pk__lte=last_id).values_list(
        "pk", flat=True
    )
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
    compiled: dict[tuple[int, str], Compiled] = {}
    values = merge_values(d.person_id for d in deliveries)
    limiter = rate_limit()
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
    # Django's SMTP backend: hand smtplib the bytes written by `Compiled` (no MIME tree per message).
    # Any other backend (a provider's API through anymail, say) gets Django's message objects.
    raw = isinstance(connection, SMTPBackend) and connection.connection is not None
    done: list[Delivery] = []
    sent = allowance = 0
    try:
        for index, delivery in enumerate(deliveries):
            key = (delivery.broadcast_id, delivery.variant)
            if key not in compiled:
                broadcast = broadcasts[delivery.broadcast_id]
                compiled[key] = Compiled(prepare(broadcast, delivery.variant), broadcast_id=broadcast.pk)
            if allowance == 0:
                allowance = min(_RATE_GROUP, len(deliveries) - index, limiter.per_second)
                limiter.acquire(allowance)
            allowance -= 1
            try:
                message_id = _send_one(connection, raw, compiled[key], delivery, values.get(delivery.person_id, {}))
            except _SendFailed as failure:
                _failed(delivery, failure.exc, failure.message_id)
                connection.close()  # a broken session is not reused
                connection.open()
                raw = isinstance(connection, SMTPBackend) and connection.connection is not None
                continue
            delivery.message_id, delivery.sent_at = message_id, timezone.now()
            done.append(delivery)
            sent += 1
            if len(done) >= _FLUSH:
                _mark_sent(done)
                done = []
    finally:
        _mark_sent(done)
        connection.close()
    return sent


# Sends taken from the provider's rate limit at a time.
_RATE_GROUP = 20
# Sent rows are written in groups (one UPDATE each) rather than one UPDATE per message.
_FLUSH = 100


class _SendFailed(Exception):
    def __init__(self, exc: Exception, message_id: str) -> None:
        super().__init__(str(exc))
        self.exc, self.message_id = exc, message_id


def _send_one(connection: Any, raw: bool, compiled: Compiled, delivery: Delivery, values: dict[str, str]) -> str:
    """Send one message on the open session; returns its Message-ID."""
    if raw:
        data, message_id = compiled.message_bytes(
            delivery_id=delivery.pk,
            person_id=delivery.person_id,
            email=delivery.email,
            values=values,
            message_id=delivery.message_id,
        )
        try:
            connection.connection.sendmail(compiled.from_email, [compiled.address(delivery.email)], data)
        except (smtplib.SMTPException, OSError) as exc:
            raise _SendFailed(exc, message_id) from exc
        return message_id
    message = build_message(delivery, compiled.prepared, values)
    message.connection = connection
    try:
        message.send()
    except (smtplib.SMTPException, OSError) as exc:
        raise _SendFailed(exc, str(message.extra_headers["Message-ID"])) from exc
    return str(message.extra_headers["Message-ID"])


def _mark_sent(done: list[Delivery]) -> None:
    """One statement for a group of sent messages (each keeps its own Message-ID and time)."""
    if not done:
        return
    rows = [(d.pk, d.message_id, d.sent_at, d.attempts + 1) for d in done]
    if connection_for_write.vendor != "postgresql":
        # SQLite (the demo's embedded database) has no arrays: one UPDATE per message.
        for pk, message_id, sent_at, attempts in rows:
            Delivery.objects.filter(pk=pk, status=DeliveryStatus.SENDING).update(
                status=DeliveryStatus.SENT, message_id=message_id, sent_at=sent_at, attempts=attempts, error=""
            )
        return
    with connection_for_write.cursor() as cursor:
        cursor.execute(
            """UPDATE outreach_delivery AS d
                SET status = %s, message_id = v.message_id, sent_at = v.sent_at, attempts = v.attempts, error = ''
                FROM unnest(%s::bigint[], %s::varchar[], %s::timestamptz[], %s::smallint[])
                    AS v(id, message_id, sent_at, attempts)
                WHERE d.id = v.id AND d.status = %s""",
            [
                DeliveryStatus.SENT,
                [r[0] for r in rows],
                [r[1] for r in rows],
                [r[2] for r in rows],
                [r[3] for r in rows],
                DeliveryStatus.SENDING,
            ],
        )


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
