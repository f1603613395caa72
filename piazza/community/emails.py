"""The emails of Il mio spazio: each link goes only to the address it proves (convention 16)."""

from __future__ import annotations

from django.conf import settings
from django.core.mail import send_mail
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django_tasks import task

from piazza.community.models import SpaceLink


def _absolute(path: str) -> str:
    return f"{settings.SITE_URL.rstrip('/')}{path}"


def _live_link(link_id: int) -> SpaceLink | None:
    link = SpaceLink.objects.filter(pk=link_id).first()
    if link is None or link.used_at is not None or link.expires_at <= timezone.now():
        return None
    return link


@task()
def send_sign_in_link(link_id: int, raw_token: str) -> None:
    link = _live_link(link_id)
    if link is None:
        return
    context = {
        "url": _absolute(reverse("community:access", args=[raw_token])),
        "minutes": settings.COMMUNITY_LINK_MINUTES,
    }
    send_mail(
        _("Il tuo link per entrare in Il mio spazio"),
        render_to_string("community/email/sign_in.txt", context),
        settings.DEFAULT_FROM_EMAIL,
        [link.email],
    )


@task()
def send_email_change_link(link_id: int, raw_token: str) -> None:
    link = _live_link(link_id)
    if link is None:
        return
    context = {
        "url": _absolute(reverse("community:confirm_email", args=[raw_token])),
        "minutes": settings.COMMUNITY_LINK_MINUTES,
    }
    send_mail(
        _("Conferma il tuo nuovo indirizzo email"),
        render_to_string("community/email/email_change.txt", context),
        settings.DEFAULT_FROM_EMAIL,
        [link.email],
    )


@task()
def send_email_changed_notice(old_address: str) -> None:
    """To the address that was the main one: it has just been replaced (nothing more is said)."""
    send_mail(
        _("Il tuo indirizzo email su piazza è cambiato"),
        render_to_string("community/email/email_changed.txt", {"door": _absolute(reverse("community:door"))}),
        settings.DEFAULT_FROM_EMAIL,
        [old_address],
    )
