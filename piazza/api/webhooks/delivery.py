"""Fan-out of an outbox row into deliveries, and the signed POST of one delivery (issue 16).

Payloads are v1's OSDI representations rendered for the subscription's actor (its owner cut down
to its node, `access.actor_at`) through v1's scoped querysets: an object the actor may not read is
not delivered at all, and a person event without `people:read` carries only the person's link.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.utils import timezone
from django.utils.module_loading import import_string
from django.utils.translation import gettext as _

from piazza.api import v1
from piazza.api.access import actor_at, roles_for
from piazza.api.models import Permission
from piazza.api.osdi.events import attendance_representation
from piazza.api.osdi.petitions import signature_representation
from piazza.api.webhooks import signing
from piazza.api.webhooks.addresses import checked_address
from piazza.api.webhooks.emit import forget_active
from piazza.api.webhooks.models import (
    DeliveryStatus,
    Event,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEvent,
    WebhookSubscription,
)
from piazza.core.audit import record
from piazza.core.tasks import enqueue_on_commit
from piazza.events.models import Rsvp
from piazza.people.models import Person
from piazza.petitions.models import Signature

CONNECT_TIMEOUT, READ_TIMEOUT = 5.0, 10.0
LEASE = dt.timedelta(minutes=2)  # a claimed delivery is free again after this (the task died mid-way)
LIFETIME = dt.timedelta(hours=24)  # retried until this long after the event, then "failed"
FIRST_DELAY = 60  # seconds; doubles at each failure, plus up to 10% jitter
JITTER = 0.1

PERSON_EVENTS = {Event.PERSON_CREATED, Event.PERSON_UPDATED}
# The permission an event's object needs; person events go out without it as a bare link.
EVENT_PERMISSION: dict[str, str] = {
    Event.PERSON_CREATED: Permission.READ_PEOPLE,
    Event.PERSON_UPDATED: Permission.READ_PEOPLE,
    Event.DONATION_SUCCEEDED: Permission.READ_DONATIONS,
    Event.DONATION_REFUNDED: Permission.READ_DONATIONS,
    Event.MEMBERSHIP_EFFECTIVE: Permission.READ_MEMBERSHIPS,
    Event.PETITION_SIGNED: Permission.READ_PETITIONS,
    Event.EVENT_RSVP: Permission.READ_EVENTS,
}


class SiteRequest:
    """What v1's renderers need of a request: absolute URLs, here on `settings.SITE_URL`."""

    def build_absolute_uri(self, location: str = "/") -> str:
        return str(settings.SITE_URL).rstrip("/") + location


def _task(name: str) -> Any:
    """A task of `webhooks.tasks`, which imports this module (so it is looked up when needed)."""
    return import_string(f"piazza.api.webhooks.tasks.{name}")


def pause_after() -> int:
    return int(getattr(settings, "WEBHOOK_PAUSE_AFTER", 50))


def backoff(failures: int) -> dt.timedelta:
    """1 minute after the first failure, doubling after each, with up to 10% jitter."""
    base = FIRST_DELAY * 2 ** max(0, failures - 1)
    return dt.timedelta(seconds=base + random.uniform(0, base * JITTER))


def render(subscription: WebhookSubscription, actor: Any, event: str, object_id: int) -> tuple[str, Any] | None:
    """(object key, OSDI data) as the subscription may see it, or None when it may not see the object."""
    request: Any = SiteRequest()
    needed = EVENT_PERMISSION[event]
    granted = needed in subscription.permissions
    if event in PERSON_EVENTS:
        key = f"person-{object_id}"
        if granted:
            person = v1._people(actor).filter(pk=object_id).first()
            return None if person is None else (key, v1._person(request, person))
        # The link only says that a record exists in the subscription's scope: any role of the owner there.
        roles = set().union(*(roles_for(p) for p in subscription.permissions)) if subscription.permissions else None
        if not Person.objects.visible_to(actor, roles=roles).active().filter(pk=object_id).exists():
            return None
        return key, {
            "identifiers": [f"piazza:person-{object_id}"],
            "_links": {"self": v1._link(request, f"/people/{object_id}")},
        }
    if not granted:
        return None
    if event in (Event.DONATION_SUCCEEDED, Event.DONATION_REFUNDED):
        donation = v1._donations(actor).filter(pk=object_id).first()
        return None if donation is None else (f"donation-{object_id}", v1._donation(request, donation))
    if event == Event.MEMBERSHIP_EFFECTIVE:
        membership = v1._memberships(actor).filter(pk=object_id).first()
        return None if membership is None else (f"membership-{object_id}", v1._membership(request, membership))
    if event == Event.PETITION_SIGNED:
        signature = (
            Signature.objects.visible_to(actor, roles=roles_for(needed))
            .select_related("comune")
            .filter(pk=object_id)
            .first()
        )
        data = None if signature is None else signature_representation(request, signature)
        key = f"signature-{object_id}"
    else:
        rsvp = Rsvp.objects.visible_to(actor, roles=roles_for(needed)).select_related("comune").filter(pk=object_id)
        found = rsvp.first()
        data = None if found is None else attendance_representation(request, found)
        key = f"attendance-{object_id}"
    if data is None:
        return None
    if Permission.READ_PEOPLE not in subscription.permissions:
        data["person"] = {}  # the signer or attendee as typed is a person's data: not without people:read
    return key, data


def body_for(delivery: WebhookDelivery, event: str, created: dt.datetime, data: Any) -> str:
    payload = {"event": event, "id": str(delivery.uuid), "created_date": created, "data": data}
    return json.dumps(payload, cls=DjangoJSONEncoder, ensure_ascii=False, separators=(",", ":"))


def dispatch(event_id: int) -> list[int]:
    """One delivery per subscription that wants the event and may see its object; idempotent."""
    created: list[int] = []
    with transaction.atomic():
        row = WebhookEvent.objects.select_for_update().filter(pk=event_id, dispatched_at__isnull=True).first()
        if row is None:
            return created
        subscriptions = WebhookSubscription.objects.select_related("territory").filter(paused_at__isnull=True)
        for subscription in subscriptions.order_by("pk"):
            if row.event not in subscription.events or not row.territory_path.startswith(subscription.territory.path):
                continue
            actor = actor_at(subscription.owner_id, subscription.territory.path)
            rendered = render(subscription, actor, row.event, row.object_id)
            if rendered is None:
                continue
            object_key, data = rendered
            delivery = WebhookDelivery(
                subscription=subscription,
                source=row,
                event=row.event,
                object_key=object_key,
                person_id=row.person_id,
                created_at=row.created_at,
                deadline_at=row.created_at + LIFETIME,
                next_attempt_at=timezone.now(),
            )
            delivery.body = body_for(delivery, row.event, row.created_at, data)
            delivery.save()
            created.append(delivery.pk)
        row.dispatched_at = timezone.now()
        row.save(update_fields=["dispatched_at"])
        for pk in created:
            enqueue_on_commit(_task("send_delivery"), pk)
    return created


@dataclass
class Outcome:
    status_code: int | None
    error: str
    duration_ms: int

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


_client: httpx.Client | None = None


def _http() -> httpx.Client:
    """One client per worker process (thread-safe, keeps connections): building one loads the CA
    certificates, which cost more than a delivery."""
    global _client
    if _client is None:
        timeout = httpx.Timeout(READ_TIMEOUT, connect=CONNECT_TIMEOUT)
        _client = httpx.Client(timeout=timeout, follow_redirects=False)
    return _client


def post(url: str, body: str, headers: dict[str, str]) -> Outcome:
    """One POST, short timeouts, no redirects followed; every failure said in words."""
    started = time.perf_counter()
    code: int | None = None
    error = ""
    parts = urlsplit(url)
    refused, address = checked_address(parts.hostname or "")
    if refused:
        return Outcome(None, refused[:300], 0)
    extensions: dict[str, Any] = {}
    if address is not None:  # connect to the address checked; the name still goes in Host and TLS
        host = f"[{address}]" if ":" in address else address
        headers = {**headers, "Host": parts.netloc}
        extensions["sni_hostname"] = parts.hostname
        url = urlunsplit(parts._replace(netloc=f"{host}:{parts.port}" if parts.port else host))
    try:
        response = _http().post(url, content=body.encode(), headers=headers, extensions=extensions)
        code = response.status_code
        if 300 <= code < 400:
            error = _("Il server ha risposto con un reindirizzamento, che non viene seguito: usa l'indirizzo finale.")
        elif code >= 500:
            error = _("Il server di destinazione ha avuto un errore (codice %(code)d).") % {"code": code}
        elif code >= 400:
            error = _("Il server di destinazione ha rifiutato la consegna (codice %(code)d).") % {"code": code}
    except httpx.ConnectTimeout:
        error = _("Il server di destinazione non ha accettato la connessione entro %(s)d secondi.") % {
            "s": CONNECT_TIMEOUT
        }
    except httpx.TimeoutException:
        error = _("Il server di destinazione non ha risposto entro %(s)d secondi.") % {"s": READ_TIMEOUT}
    except httpx.ConnectError:
        error = _(
            "Impossibile collegarsi al server di destinazione (indirizzo irraggiungibile o connessione rifiutata)."
        )
    except httpx.HTTPError:
        error = _("La comunicazione con il server di destinazione si è interrotta.")
    return Outcome(code, error[:300], int((time.perf_counter() - started) * 1000))


def valid_secrets(subscription: WebhookSubscription, now: dt.datetime) -> list[str]:
    found = [signing.decrypt(subscription.secret_encrypted)]
    if (
        subscription.previous_secret_encrypted
        and subscription.previous_valid_until
        and subscription.previous_valid_until > now
    ):
        found.append(signing.decrypt(subscription.previous_secret_encrypted))
    return found


def _blocked_by_earlier(delivery: WebhookDelivery) -> bool:
    """In order per object: an earlier delivery for the same object and subscription still pending."""
    return WebhookDelivery.objects.filter(
        subscription_id=delivery.subscription_id,
        object_key=delivery.object_key,
        status=DeliveryStatus.PENDING,
        pk__lt=delivery.pk,
    ).exists()


def _next_in_line(delivery: WebhookDelivery) -> None:
    """After a delivery ends (sent or failed), the next one for the same object may go."""
    following = (
        WebhookDelivery.objects.filter(
            subscription_id=delivery.subscription_id,
            object_key=delivery.object_key,
            status=DeliveryStatus.PENDING,
            pk__gt=delivery.pk,
        )
        .order_by("pk")
        .values_list("pk", flat=True)
        .first()
    )
    if following is not None:
        enqueue_on_commit(_task("send_delivery"), following)


def send(delivery_id: int) -> str:
    """Attempt one delivery if it is due; returns what happened (for logs and tests).

    Claimed under a row lock with a lease before the POST, recorded after it: a second task finds
    it claimed or already sent and does nothing, a task that died mid-way leaves a lease that runs
    out and the periodic task retries (at least once, never twice for a recorded success).
    """
    now = timezone.now()
    with transaction.atomic():
        delivery = (
            WebhookDelivery.objects.select_for_update(of=("self",))
            .select_related("subscription")
            .filter(pk=delivery_id)
            .first()
        )
        if delivery is None or delivery.status != DeliveryStatus.PENDING:
            return "done"
        subscription = delivery.subscription
        if subscription.paused_at is not None:
            return "paused"
        if delivery.next_attempt_at is not None and delivery.next_attempt_at > now:
            return "not due"
        if delivery.claimed_until is not None and delivery.claimed_until > now:
            return "claimed"
        if _blocked_by_earlier(delivery):
            return "waiting"
        delivery.claimed_until = now + LEASE
        delivery.save(update_fields=["claimed_until"])
    timestamp = int(now.timestamp())
    headers = signing.headers(
        delivery_id=str(delivery.uuid),
        timestamp=timestamp,
        body=delivery.body,
        secrets_=valid_secrets(subscription, now),
    )
    outcome = post(subscription.target_url, delivery.body, headers)
    return _record(delivery.pk, outcome, now)


def _record(delivery_id: int, outcome: Outcome, at: dt.datetime) -> str:
    with transaction.atomic():
        delivery = WebhookDelivery.objects.select_for_update().get(pk=delivery_id)
        subscription = WebhookSubscription.objects.select_for_update().get(pk=delivery.subscription_id)
        if delivery.status != DeliveryStatus.PENDING:
            return "done"
        WebhookAttempt.objects.create(
            delivery=delivery,
            at=at,
            status_code=outcome.status_code,
            error=outcome.error,
            duration_ms=outcome.duration_ms,
        )
        delivery.attempts += 1
        delivery.last_status_code = outcome.status_code
        delivery.last_error = outcome.error
        delivery.claimed_until = None
        if outcome.ok:
            delivery.status = DeliveryStatus.SUCCEEDED
            delivery.delivered_at = at
            delivery.next_attempt_at = None
            subscription.consecutive_failures = 0
            result = "sent"
        else:
            subscription.consecutive_failures += 1
            later = at + backoff(delivery.attempts)
            if at >= delivery.deadline_at:
                delivery.status = DeliveryStatus.FAILED
                delivery.next_attempt_at = None
                result = "failed"
            else:
                delivery.next_attempt_at = min(later, delivery.deadline_at)  # a last try at the deadline
                result = "retry"
        delivery.save()
        if delivery.status != DeliveryStatus.PENDING:
            _next_in_line(delivery)
        if subscription.consecutive_failures >= pause_after() and subscription.paused_at is None:
            subscription.paused_at = at
            subscription.paused_automatically = True
            record(
                "api.webhook_paused",
                actor=None,
                obj=subscription,
                territory=subscription.territory,
                data={"automatic": True, "failures": subscription.consecutive_failures},
            )
            forget_active()
            enqueue_on_commit(_task("send_pause_email"), subscription.pk)
            result = "paused"
        subscription.save(update_fields=["consecutive_failures", "paused_at", "paused_automatically"])
    return result
