"""Emails to payers, sent by the queue after the commit: actions enqueue them, so they import no action."""

from __future__ import annotations

from django.conf import settings
from django.core.mail import send_mail
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.translation import gettext as _
from django_tasks import task

from piazza.payments import links
from piazza.payments.models import PayerAccessLink, Payment, RecurringSchedule


@task()
def send_payment_confirmation(payment_id: int) -> None:
    """Receipt email of a successful payment, with the payer page and (if recurring) cancel links."""
    payment = Payment.objects.select_related("schedule").get(pk=payment_id)
    if not payment.payer_email:
        return
    context = {
        "payment": payment,
        "payer_url": links.payer_request_url(),
        "cancel_url": links.cancel_schedule_url(payment.schedule.token) if payment.schedule else "",
    }
    send_mail(
        _("Pagamento ricevuto: %(d)s") % {"d": payment.description},
        render_to_string("payments/email/confirmation.txt", context),
        settings.DEFAULT_FROM_EMAIL,
        [payment.payer_email],
    )


@task()
def send_recurring_failure_notice(schedule_id: int, payment_id: int) -> None:
    schedule = RecurringSchedule.objects.get(pk=schedule_id)
    if not schedule.payer_email:
        return
    payment = Payment.objects.get(pk=payment_id)
    context = {
        "schedule": schedule,
        "payment": payment,
        "payer_url": links.payer_request_url(),
        "cancel_url": links.cancel_schedule_url(schedule.token),
    }
    send_mail(
        _("Addebito non riuscito: %(d)s") % {"d": schedule.description},
        render_to_string("payments/email/recurring_failed.txt", context),
        settings.DEFAULT_FROM_EMAIL,
        [schedule.payer_email],
    )


@task()
def send_payer_link(link_id: int, raw_token: str) -> None:
    """The one-time link to the payer page, sent only to the address it opens (convention 16)."""
    link = PayerAccessLink.objects.get(pk=link_id)
    if link.used_at is not None or link.expires_at <= timezone.now():
        return
    context = {
        "url": links.payer_access_url(raw_token),
        "minutes": int((link.expires_at - link.created_at).total_seconds() // 60),
    }
    send_mail(
        _("Il link ai tuoi pagamenti"),
        render_to_string("payments/email/payer_link.txt", context),
        settings.DEFAULT_FROM_EMAIL,
        [link.email],
    )


@task()
def send_device_link(link_id: int, raw_token: str) -> None:
    """The one-time link that adds a browser to the donor's saved card, sent only to its owner's address."""
    link = PayerAccessLink.objects.select_related("method").get(pk=link_id)
    if link.used_at is not None or link.expires_at <= timezone.now() or link.method is None:
        return
    context = {
        "url": links.device_access_url(raw_token),
        "card": link.method.label,
        "minutes": int((link.expires_at - link.created_at).total_seconds() // 60),
    }
    send_mail(
        _("Dona in un clic da un nuovo dispositivo"),
        render_to_string("payments/email/device_link.txt", context),
        settings.DEFAULT_FROM_EMAIL,
        [link.email],
    )
