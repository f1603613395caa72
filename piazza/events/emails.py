"""The emails of an RSVP: each goes only to the address typed on it (convention 16). The
confirmation carries the calendar file (.ics) and the QR code scanned at the door."""

from __future__ import annotations

import io

import qrcode
from django.conf import settings
from django.core.mail import EmailMessage
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.translation import gettext as _
from django_tasks import task

from piazza.events.ical import calendar
from piazza.events.models import Rsvp, RsvpStatus
from piazza.events.tokens import checkin_token, manage_token


def _absolute(path: str) -> str:
    return f"{settings.SITE_URL.rstrip('/')}{path}"


def qr_png(text: str) -> bytes:
    buffer = io.BytesIO()
    qrcode.make(text, box_size=8, border=2).save(buffer)
    return buffer.getvalue()


def _context(rsvp: Rsvp) -> dict[str, object]:
    return {
        "rsvp": rsvp,
        "event": rsvp.event,
        "waiting": rsvp.status == RsvpStatus.WAITING,
        "manage_url": _absolute(reverse("events:manage", args=[manage_token(rsvp.pk)])),
        "event_url": _absolute(reverse("events:detail", args=[rsvp.event.public_key])),
    }


def _live(rsvp_id: int) -> Rsvp | None:
    rsvp = Rsvp.objects.select_related("event", "event__comune").filter(pk=rsvp_id).first()
    if rsvp is None or not rsvp.email:
        return None
    return rsvp


def _send(rsvp: Rsvp, subject: str, template: str, *, with_ticket: bool) -> None:
    message = EmailMessage(
        subject, render_to_string(template, _context(rsvp)), settings.DEFAULT_FROM_EMAIL, [rsvp.email]
    )
    if with_ticket:
        message.attach("evento.ics", calendar(rsvp.event, method="PUBLISH"), "text/calendar")
        if rsvp.status == RsvpStatus.CONFIRMED:
            message.attach("ingresso.png", qr_png(checkin_token(rsvp.event_id, rsvp.pk)), "image/png")
    message.send()


@task()
def send_confirmation(rsvp_id: int) -> None:
    rsvp = _live(rsvp_id)
    if rsvp is None or rsvp.status == RsvpStatus.CANCELLED:
        return
    subject = (
        _("Sei in lista d'attesa: %(title)s") if rsvp.status == RsvpStatus.WAITING else _("Ti aspettiamo: %(title)s")
    ) % {"title": rsvp.event.title}
    _send(rsvp, subject, "events/email/confirmation.txt", with_ticket=True)


@task()
def send_promotion(rsvp_id: int) -> None:
    rsvp = _live(rsvp_id)
    if rsvp is None or rsvp.status != RsvpStatus.CONFIRMED:
        return
    _send(
        rsvp,
        _("Si è liberato un posto: %(title)s") % {"title": rsvp.event.title},
        "events/email/promoted.txt",
        with_ticket=True,
    )


@task()
def send_reminder(rsvp_id: int) -> None:
    rsvp = _live(rsvp_id)
    if rsvp is None or rsvp.status != RsvpStatus.CONFIRMED or rsvp.event.is_cancelled:
        return
    _send(rsvp, _("Domani: %(title)s") % {"title": rsvp.event.title}, "events/email/reminder.txt", with_ticket=True)


@task()
def send_cancellation_notice(rsvp_id: int) -> None:
    rsvp = _live(rsvp_id)
    if rsvp is None:
        return
    _send(
        rsvp,
        _("Evento annullato: %(title)s") % {"title": rsvp.event.title},
        "events/email/cancelled.txt",
        with_ticket=False,
    )
