"""The work of a signature after the answer (issue 15): thin, idempotent tasks taking ids (convention 13)."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.core.mail import send_mail
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.translation import gettext as _
from django_tasks import task

from piazza.petitions import matching
from piazza.petitions.models import Signature


@task()
def process_signature(signature_id: int) -> bool:
    """Match the signer into people, consents, timeline, audit; then the confirmation email.

    A second run finds the signature matched and does nothing, so no email goes twice."""
    if not matching.process_signature(signature_id):
        return False
    send_confirmation(signature_id)
    return True


@task()
def match_pending_signatures() -> int:
    """Periodic (settings.PERIODIC_TASKS): signatures still unmatched five minutes after signing
    (their task lost with a worker or a queue) are processed now; idempotent like the task."""
    cutoff = timezone.now() - dt.timedelta(minutes=5)
    pending = Signature.objects.filter(person__isnull=True, signed_at__lte=cutoff).values_list("pk", flat=True)
    return sum(1 for pk in list(pending[:5000]) if process_signature.call(pk))


def send_confirmation(signature_id: int) -> bool:
    """The thank-you email to the address typed, with the petition's link to share."""
    signature = Signature.objects.select_related("petition").filter(pk=signature_id).exclude(email="").first()
    if signature is None:
        return False
    petition = signature.petition
    context = {
        "first_name": signature.first_name,
        "petition": petition,
        "url": f"{settings.SITE_URL.rstrip('/')}{petition.get_absolute_url()}",
    }
    subject = _("Grazie: «%(title)s»") % {"title": petition.title}
    send_mail(
        subject,
        render_to_string("petitions/email/confirmation.txt", context),
        settings.DEFAULT_FROM_EMAIL,
        [signature.email],
    )
    return True
