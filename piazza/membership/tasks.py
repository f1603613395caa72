"""Thin, idempotent tasks (convention 13): they take ids and call actions or send one email."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.utils import timezone
from django.utils.translation import gettext as _
from django_tasks import task

from piazza.membership.models import Transfer
from piazza.territory.models import Role, RoleAssignment, Territory


@task()
def notify_transfer_origin(transfer_id: int) -> int:
    """Rule M23: the origin circolo is told about a decided transfer. Safe to run twice."""
    transfer = Transfer.objects.select_related("from_circolo", "to_circolo", "membership__person").get(pk=transfer_id)
    if transfer.origin_notified_at is not None:
        return 0
    user_ids = (
        RoleAssignment.objects.active()
        .filter(territory=transfer.from_circolo, role__in=[Role.MEMBERSHIP, Role.ORGANISATION])
        .values("user_id")
    )
    emails = [u.email for u in get_user_model().objects.filter(pk__in=user_ids) if u.email]
    subject = _("Trasferimento di un iscritto: %(person)s") % {"person": transfer.membership.person}
    body = _(
        "%(person)s ha chiesto il trasferimento da %(a)s a %(b)s per questo motivo: %(reason)s.\nEsito: %(status)s."
    ) % {
        "person": transfer.membership.person,
        "a": transfer.from_circolo.name,
        "b": transfer.to_circolo.name,
        "reason": transfer.reason,
        "status": transfer.get_status_display(),
    }
    sent = send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, emails) if emails else 0
    Transfer.objects.filter(pk=transfer_id, origin_notified_at__isnull=True).update(origin_notified_at=timezone.now())
    return sent


@task()
def send_renewal_reminder(membership_id: int, year: int) -> int:
    """One renewal email for last year's member, with a one-click renewal link."""
    from piazza.membership.actions.renewal import send_renewal_reminder as send

    return send(membership_id=membership_id, year=year)


@task()
def detect_anomalies_task(federation_id: int, year: int) -> int:
    from piazza.membership.actions.review import detect_anomalies

    return len(detect_anomalies(actor=None, federation=Territory.objects.get(pk=federation_id), year=year))


@task()
def send_card_email(membership_id: int) -> int:
    """The digital card by email once the fee is paid (the link opens the printable card)."""
    from django.urls import reverse

    from piazza.membership.cards import card_token
    from piazza.membership.models import Membership, Status

    membership = Membership.objects.select_related("person", "circolo").get(pk=membership_id)
    email = membership.person.primary_email
    if email is None or membership.status not in (Status.PAID, Status.EFFECTIVE):
        return 0
    link = settings.SITE_URL.rstrip("/") + reverse("membership:card", args=[card_token(membership)])
    body = _(
        "Benvenuta/o nel Partito Democratico!\nLa tua tessera %(year)s n. %(card)s del %(circolo)s è qui: %(link)s"
    ) % {"year": membership.year, "card": membership.card_number, "circolo": membership.circolo.name, "link": link}
    return send_mail(
        _("La tua tessera %(year)s") % {"year": membership.year}, body, settings.DEFAULT_FROM_EMAIL, [email.value]
    )
