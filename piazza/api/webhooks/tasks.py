"""Worker tasks of the webhooks: they take ids and are idempotent (convention 13)."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django_tasks import task

from piazza.api.webhooks import delivery
from piazza.api.webhooks.models import DeliveryStatus, WebhookDelivery, WebhookEvent, WebhookSubscription

BATCH = 500


@task()
def dispatch_event(event_id: int) -> int:
    return len(delivery.dispatch(event_id))


@task()
def send_delivery(delivery_id: int) -> str:
    return delivery.send(delivery_id)


@task()
def send_pause_email(subscription_id: int) -> bool:
    """To the owner of a subscription paused after repeated failures: what happened, what to do."""
    subscription = WebhookSubscription.objects.select_related("owner", "territory").filter(pk=subscription_id).first()
    if subscription is None or not subscription.owner.email:
        return False
    page = str(settings.SITE_URL).rstrip("/") + reverse("api:webhook", args=[subscription.pk])
    send_mail(
        _("Webhook sospeso: %(url)s non riceve le consegne") % {"url": subscription.target_url},
        render_to_string(
            "api/email/webhook_paused.txt",
            {"subscription": subscription, "page": page, "failures": subscription.consecutive_failures},
        ),
        settings.DEFAULT_FROM_EMAIL,
        [subscription.owner.email],
    )
    return True


def retention_days() -> int:
    return int(getattr(settings, "WEBHOOK_DELIVERY_RETENTION_DAYS", 30))


@task()
def run_webhooks() -> str:
    """Periodic, each minute: dispatch outbox rows whose task was lost, send the due retries (so no
    retry depends on an in-memory timer), forget expired previous secrets, purge old deliveries."""
    now = timezone.now()
    stale = list(
        WebhookEvent.objects.filter(dispatched_at__isnull=True).order_by("pk").values_list("pk", flat=True)[:BATCH]
    )
    for event_id in stale:
        delivery.dispatch(event_id)
    due = list(
        WebhookDelivery.objects.filter(
            status=DeliveryStatus.PENDING, next_attempt_at__lte=now, subscription__paused_at__isnull=True
        )
        .exclude(claimed_until__gt=now)
        .order_by("pk")
        .values_list("pk", flat=True)[:BATCH]
    )
    for pk in due:
        send_delivery.enqueue(pk)
    with transaction.atomic():
        WebhookSubscription.objects.filter(previous_valid_until__lte=now).update(
            previous_secret_encrypted="", previous_valid_until=None
        )
        cutoff = now - dt.timedelta(days=retention_days())
        purged, _kinds = (
            WebhookDelivery.objects.filter(created_at__lt=cutoff).exclude(status=DeliveryStatus.PENDING).delete()
        )
        WebhookEvent.objects.filter(created_at__lt=cutoff, dispatched_at__isnull=False).delete()
    return f"dispatched {len(stale)}, due {len(due)}, purged {purged}"
