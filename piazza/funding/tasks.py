"""Thin, idempotent tasks (convention 13): they take ids and call an action or send one email."""

from __future__ import annotations

from django.conf import settings
from django.core.mail import send_mail
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django_tasks import task


@task()
def email_update(update_id: int) -> int:
    """Send a campaign update to the donors who opted in; safe to retry (counts what was sent)."""
    from piazza.funding.models import CampaignUpdate, UpdateSubscription

    update = CampaignUpdate.objects.select_related("campaign").get(pk=update_id)
    if update.emailed_to:
        return update.emailed_to
    sent = 0
    subscriptions = UpdateSubscription.objects.filter(campaign=update.campaign, unsubscribed_at__isnull=True)
    for sub in subscriptions.iterator():
        unsubscribe = settings.SITE_URL + reverse("funding:unsubscribe", args=[sub.token])
        body = render_to_string("funding/email/update.txt", {"update": update, "unsubscribe": unsubscribe})
        send_mail(f"{update.campaign.title}: {update.title}", body, None, [sub.email])
        sent += 1
    CampaignUpdate.objects.filter(pk=update.pk).update(emailed_to=sent)
    return sent


@task()
def end_due_campaigns() -> int:
    """Close every live campaign past its deadline (run periodically by the worker / cron)."""
    from piazza.funding.actions import end_campaign
    from piazza.funding.models import Campaign, CampaignStatus

    ended = 0
    for campaign in Campaign.objects.filter(status=CampaignStatus.LIVE, deadline__lte=timezone.now()):
        end_campaign(actor=None, campaign=campaign)
        ended += 1
    return ended


@task()
def send_receipt(donation_id: int) -> bool:
    """Rule F3: a receipt email for every donation, with the link to the donor's page."""
    from piazza.funding.models import Donation

    donation = Donation.objects.select_related("campaign__territory").get(pk=donation_id)
    if donation.receipt_sent_at is not None:
        return False
    link = settings.SITE_URL + reverse("funding:donation", args=[donation.manage_token])
    body = render_to_string("funding/email/receipt.txt", {"donation": donation, "link": link})
    send_mail(f"Ricevuta della tua donazione a «{donation.campaign.title}»", body, None, [donation.email])
    Donation.objects.filter(pk=donation.pk, receipt_sent_at__isnull=True).update(receipt_sent_at=timezone.now())
    return True
