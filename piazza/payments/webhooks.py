"""Provider notifications, in the order of convention 5.

verify signature and mode → store the raw event under a unique (provider, event_id), answer
200 to a duplicate → find our payment (unknown: stored and flagged) → re-fetch the payment
from the provider → apply under the payment's row lock (actions.sync_payment) → record the
handler's status and error on the event row.
"""

from __future__ import annotations

import hashlib
import logging

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from piazza.core.audit import record
from piazza.core.models import AuditKind
from piazza.payments.actions.methods import check_approved_instrument
from piazza.payments.actions.sync import sync_payment
from piazza.payments.models import IN_FLIGHT_ATTEMPT_STATES, Payment, WebhookEvent, WebhookStatus
from piazza.payments.providers.base import Capability, InvalidSignature, MalformedEvent, ProviderError, WebhookNotice
from piazza.payments.providers.registry import get_provider

log = logging.getLogger(__name__)
FINAL = {WebhookStatus.PROCESSED, WebhookStatus.IGNORED, WebhookStatus.UNMATCHED}
# The columns a notice is stored in: anything longer is refused, never truncated into a match.
NOTICE_LIMITS = {"event_id": 200, "event_type": 100, "payment_reference": 120, "payment_id": 64}


def _payload(request: HttpRequest) -> str:
    # PostgreSQL text cannot hold U+0000: the raw payload keeps everything else.
    return request.body.decode("utf-8", errors="replace").replace("\x00", "\ufffd")


def check_notice(notice: WebhookNotice) -> None:
    """Whatever the provider, a notice must fit the columns it is stored in."""
    if not notice.event_id:
        raise MalformedEvent("the event has no id")
    for name, limit in NOTICE_LIMITS.items():
        value = getattr(notice, name)
        if not isinstance(value, str) or len(value) > limit or not value.isprintable():
            raise MalformedEvent(f"{name} is not a printable string of at most {limit} characters")


def _refuse_malformed(provider_id: str, request: HttpRequest, exc: MalformedEvent) -> HttpResponse:
    """Signed but malformed: stored under a digest of the body with the error, answered 400
    (the provider will not make it well-formed by delivering it again)."""
    log.warning("webhook %s malformed: %s", provider_id, exc)
    digest = hashlib.sha256(request.body).hexdigest()[:48]
    try:
        with transaction.atomic():
            WebhookEvent.objects.create(
                provider=provider_id,
                event_id=f"malformed:{digest}",
                payload=_payload(request),
                relevant=False,
                status=WebhookStatus.IGNORED,
                error=f"malformed event: {exc}"[:2000],
                processed_at=timezone.now(),
            )
    except IntegrityError:
        pass  # the same body again: already recorded
    return HttpResponse("malformed event", status=400, content_type="text/plain")


def receive(provider_id: str, request: HttpRequest) -> HttpResponse:
    try:
        provider = get_provider(provider_id)
    except LookupError:
        return HttpResponse("unknown provider", status=404, content_type="text/plain")
    try:
        notice = provider.verify_webhook(request)
        check_notice(notice)
    except MalformedEvent as exc:
        return _refuse_malformed(provider_id, request, exc)
    except InvalidSignature as exc:
        log.warning("webhook %s refused: %s", provider_id, exc)
        with transaction.atomic():
            record(
                "payments.webhook_refused",
                actor=None,
                kind=AuditKind.DENIED,
                data={"provider": provider_id, "reason": str(exc)[:300]},
            )
        return HttpResponse("invalid signature", status=400, content_type="text/plain")
    except ProviderError as exc:
        # Verification needs the provider (PayPal) and it did not answer: let it deliver again.
        log.warning("webhook %s: could not verify now: %s", provider_id, exc)
        return HttpResponse("cannot verify now, retry", status=503, content_type="text/plain")
    try:
        with transaction.atomic():
            event = WebhookEvent.objects.create(
                provider=provider_id,
                event_id=notice.event_id,
                event_type=notice.event_type,
                payload=_payload(request),
                reference=notice.payment_reference,
                payment_hint=notice.payment_id,
                relevant=notice.relevant,
            )
    except IntegrityError:
        event = WebhookEvent.objects.get(provider=provider_id, event_id=notice.event_id)
        if event.status in FINAL:
            return HttpResponse("duplicate", status=200, content_type="text/plain")
    status = process_event(event.pk)
    if status == WebhookStatus.FAILED:
        # Non-2xx makes the provider deliver again; our retry task also picks it up.
        return HttpResponse("failed, will retry", status=503, content_type="text/plain")
    return HttpResponse(status, status=200, content_type="text/plain")


def _find_payment(event: WebhookEvent) -> Payment | None:
    query = Q(pk__in=[])
    if event.payment_hint.isdigit():
        query |= Q(pk=int(event.payment_hint), provider=event.provider)
    if event.reference:
        query |= Q(provider=event.provider, provider_reference=event.reference)
        query |= Q(provider=event.provider, attempts__provider_reference=event.reference)
    return Payment.objects.filter(query).distinct().first()


def _finish(event_pk: int, status: str, *, payment: Payment | None = None, error: str = "") -> str:
    WebhookEvent.objects.filter(pk=event_pk).update(
        status=status, error=error[:2000], payment=payment, processed_at=timezone.now()
    )
    return status


def process_event(event_pk: int) -> str:
    """Apply one stored event; safe to call again for the same event (everything is idempotent)."""
    WebhookEvent.objects.filter(pk=event_pk).update(attempts=F("attempts") + 1)
    event = WebhookEvent.objects.get(pk=event_pk)
    if not event.relevant:
        return _finish(event.pk, WebhookStatus.IGNORED)
    payment = _find_payment(event)
    if payment is None:
        log.warning("webhook %s:%s for an unknown payment (%s)", event.provider, event.event_id, event.reference)
        return _finish(event.pk, WebhookStatus.UNMATCHED, error=f"no payment for reference {event.reference!r}")
    try:
        provider = get_provider(event.provider)
        attempt = payment.attempts.filter(provider_reference=event.reference).first() if event.reference else None
        if (
            attempt is not None
            and payment.is_booked
            and payment.provider_reference
            and event.reference != payment.provider_reference
            and provider.has(Capability.CHARGE_LIST)
        ):
            # About another charge than the one booked (a second tab's, a late one): fetch that
            # charge itself, so a duplicate is seen and refunded (issue 10, finding 7).
            remote = provider.fetch_charge(payment, event.reference)
        else:
            if attempt is not None and attempt.state in IN_FLIGHT_ATTEMPT_STATES and payment.is_open:
                try:  # an approval (PayPal) is checked against the payable's rules before any capture
                    check_approved_instrument(actor=None, payment=payment, attempt=attempt)
                except ValidationError:
                    return _finish(event.pk, WebhookStatus.PROCESSED, payment=payment)
            remote = provider.fetch(payment, attempt)  # outside any transaction
        sync_payment(actor=None, payment=payment, remote=remote, source=f"webhook:{event.event_type}")
    except Exception as exc:  # recorded on the event row, retried by tasks.retry_webhooks
        log.exception("webhook %s:%s failed", event.provider, event.event_id)
        return _finish(event.pk, WebhookStatus.FAILED, payment=payment, error=f"{type(exc).__name__}: {exc}")
    return _finish(event.pk, WebhookStatus.PROCESSED, payment=payment)
