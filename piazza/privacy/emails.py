"""Emails of the data-rights flows, sent by the queue after the commit (they import no action).

Each goes only to the address the request proved or recorded (convention 16)."""

from __future__ import annotations

from django.conf import settings
from django.core.mail import send_mail
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.translation import gettext as _
from django_tasks import task

from piazza.privacy import links
from piazza.privacy.models import AddressLink, DataExport, ExportState


@task()
def send_address_link(link_id: int, raw_token: str) -> None:
    """The one-time link that confirms an export request from the address it was asked for."""
    link = AddressLink.objects.get(pk=link_id)
    if link.used_at is not None or link.expires_at <= timezone.now():
        return
    context = {
        "url": links.address_link_url(raw_token),
        "minutes": int((link.expires_at - link.created_at).total_seconds() // 60),
    }
    send_mail(
        _("Conferma la richiesta dei tuoi dati"),
        render_to_string("privacy/email/address_link.txt", context),
        settings.DEFAULT_FROM_EMAIL,
        [link.email],
    )


@task()
def send_download_link(export_id: int, raw_token: str) -> None:
    """The one-time, expiring link to download the export, to the request's verified address."""
    export = DataExport.objects.select_related("request").get(pk=export_id)
    if export.state != ExportState.READY or export.link_expires_at is None or not export.request.email:
        return
    context = {"url": links.download_url(raw_token), "expires_at": timezone.localtime(export.link_expires_at)}
    send_mail(
        _("I tuoi dati sono pronti"),
        render_to_string("privacy/email/download_link.txt", context),
        settings.DEFAULT_FROM_EMAIL,
        [export.request.email],
    )
