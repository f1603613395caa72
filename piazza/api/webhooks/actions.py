"""Writes of the webhooks: subscriptions (create, rotate, pause, resume, delete) and redelivery.

Every one is audited. The creator must hold, at the node, the roles of every permission given
(`grantable_permissions`, as for a key); an event needs the permission that reads its object,
except person events, which without `people:read` carry only the person's link.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from piazza.api.access import grantable_permissions
from piazza.api.models import Permission
from piazza.api.webhooks import signing, tasks
from piazza.api.webhooks.addresses import LOCAL_HOSTS, address_problem
from piazza.api.webhooks.delivery import EVENT_PERMISSION, LIFETIME, PERSON_EVENTS, body_for
from piazza.api.webhooks.emit import forget_active
from piazza.api.webhooks.models import DeliveryStatus, Event, WebhookDelivery, WebhookSubscription
from piazza.core.audit import record
from piazza.core.errors import refuse
from piazza.core.tasks import enqueue_on_commit
from piazza.territory.models import Territory
from piazza.territory.scoping import has_role_at

ROTATION_GRACE = dt.timedelta(hours=24)


def url_problem(url: str) -> str | None:
    """Why `url` cannot receive webhooks, in words, or None. https only; http to this machine in dev/test."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return _("Scrivi un indirizzo completo che inizi con https://, per esempio https://esempio.it/webhook.")
    if parts.username or parts.password:
        return _("L'indirizzo non può contenere nome utente o password: usa la firma per riconoscere le consegne.")
    if parts.scheme == "http":
        if not getattr(settings, "WEBHOOK_ALLOW_HTTP", False):
            return _("L'indirizzo deve iniziare con https://: le consegne contengono dati da proteggere.")
        if parts.hostname not in LOCAL_HOSTS:
            return _("http:// è ammesso solo verso questo computer (localhost), per le prove: altrove usa https://.")
    return address_problem(parts.hostname)


def create_subscription(
    *,
    actor: Any,
    territory: Territory,
    target_url: str,
    events: Iterable[str],
    permissions: Iterable[str],
) -> tuple[WebhookSubscription, str]:
    """A new subscription and its signing secret (shown once)."""
    action = "api.create_webhook"
    wanted_events = sorted(set(events))
    wanted = sorted(set(permissions))

    def no(message: str, code: str, field: str, permission: bool = False) -> None:
        refuse(action, message, actor=actor, territory=territory, code=code, field=field, permission=permission)

    if not has_role_at(actor, territory):
        no(_("Puoi creare webhook solo per la tua struttura o quelle sotto di essa."), "scope", "territory", True)
    problem = url_problem(target_url)
    if problem:
        no(problem, "url", "target_url")
    if not wanted_events or any(e not in Event.values for e in wanted_events):
        no(_("Scegli almeno un evento da ricevere."), "events", "events")
    readable = {p for p in Permission.values if p.endswith(":read")}  # a webhook only reads
    if not set(wanted) <= readable & set(grantable_permissions(actor, territory)):
        no(
            _("Puoi dare al webhook solo permessi che il tuo ruolo ha in questa struttura."),
            "permissions",
            "permissions",
        )
    missing = sorted(
        {str(dict(Permission.choices)[EVENT_PERMISSION[e]]) for e in wanted_events if e not in PERSON_EVENTS}
        - {str(dict(Permission.choices)[p]) for p in wanted}
    )
    if missing:
        no(
            _("Per gli eventi scelti serve anche il permesso: %(names)s.") % {"names": "; ".join(missing)},
            "permissions",
            "permissions",
        )
    secret = signing.new_secret()
    with transaction.atomic():
        subscription = WebhookSubscription.objects.create(
            owner=actor,
            territory=territory,
            target_url=target_url.strip(),
            events=wanted_events,
            permissions=wanted,
            secret_encrypted=signing.encrypt(secret),
        )
        record(
            action,
            actor=actor,
            obj=subscription,
            territory=territory,
            data={"url": subscription.target_url, "events": wanted_events, "permissions": wanted},
        )
        forget_active()
    return subscription, secret


def rotate_secret(*, actor: Any, subscription: WebhookSubscription) -> str:
    """A new secret; the current one stays valid for 24 hours (both are signed meanwhile)."""
    secret = signing.new_secret()
    now = timezone.now()
    with transaction.atomic():
        locked = WebhookSubscription.objects.select_for_update().get(pk=subscription.pk)
        locked.previous_secret_encrypted = locked.secret_encrypted
        locked.previous_valid_until = now + ROTATION_GRACE
        locked.secret_encrypted = signing.encrypt(secret)
        locked.save(update_fields=["previous_secret_encrypted", "previous_valid_until", "secret_encrypted"])
        record(
            "api.rotate_webhook_secret",
            actor=actor,
            obj=locked,
            territory=locked.territory,
            data={"previous_valid_until": locked.previous_valid_until.isoformat()},
        )
    return secret


def pause(*, actor: Any, subscription: WebhookSubscription) -> None:
    with transaction.atomic():
        locked = WebhookSubscription.objects.select_for_update().get(pk=subscription.pk)
        if locked.paused_at is None:
            locked.paused_at = timezone.now()
            locked.paused_automatically = False
            locked.save(update_fields=["paused_at", "paused_automatically"])
            record("api.webhook_paused", actor=actor, obj=locked, territory=locked.territory, data={"automatic": False})
            forget_active()


def resume(*, actor: Any, subscription: WebhookSubscription) -> None:
    """Deliveries start again; the pending ones are due now (their lifetime counted from now)."""
    now = timezone.now()
    with transaction.atomic():
        locked = WebhookSubscription.objects.select_for_update().get(pk=subscription.pk)
        if locked.paused_at is None:
            return
        locked.paused_at = None
        locked.paused_automatically = False
        locked.consecutive_failures = 0
        locked.save(update_fields=["paused_at", "paused_automatically", "consecutive_failures"])
        pending = WebhookDelivery.objects.filter(subscription=locked, status=DeliveryStatus.PENDING)
        pending.update(next_attempt_at=now, deadline_at=now + LIFETIME, claimed_until=None)
        record("api.webhook_resumed", actor=actor, obj=locked, territory=locked.territory, data={})
        forget_active()
        enqueue_on_commit(tasks.run_webhooks)


def delete_subscription(*, actor: Any, subscription: WebhookSubscription) -> None:
    """The subscription and its deliveries go; the audit entry stays."""
    with transaction.atomic():
        locked = WebhookSubscription.objects.select_for_update().get(pk=subscription.pk)
        record(
            "api.delete_webhook",
            actor=actor,
            obj=locked,
            territory=locked.territory,
            data={"url": locked.target_url, "events": locked.events},
        )
        locked.delete()
        forget_active()


def redeliver(*, actor: Any, delivery: WebhookDelivery) -> WebhookDelivery:
    """The same event again as a new delivery (a new `Piazza-Webhook-Id`, so receivers do not drop it)."""
    now = timezone.now()
    with transaction.atomic():
        original = WebhookDelivery.objects.select_related("subscription__territory").get(pk=delivery.pk)
        copy = WebhookDelivery(
            subscription=original.subscription,
            source=original.source,
            event=original.event,
            object_key=original.object_key,
            person_id=original.person_id,
            created_at=now,
            deadline_at=now + LIFETIME,
            next_attempt_at=now,
            redelivery_of=original,
        )
        old = json.loads(original.body)
        copy.body = body_for(copy, original.event, old["created_date"], old["data"])
        copy.save()
        record(
            "api.redeliver_webhook",
            actor=actor,
            obj=original.subscription,
            territory=original.subscription.territory,
            data={"delivery": str(original.uuid), "new_delivery": str(copy.uuid), "event": original.event},
        )
        enqueue_on_commit(tasks.send_delivery, copy.pk)
    return copy
