"""The emails to volunteers: the confirmation of a sign-up and the reminder the day before."""

from __future__ import annotations

from django.conf import settings
from django.core.mail import send_mail
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django_tasks import task

from piazza.people.models import Email
from piazza.volunteers.models import OpportunityKind, ShiftSignup


def _send(signup_id: int, subject: str, template: str) -> bool:
    signup = (
        ShiftSignup.objects.filter(pk=signup_id, person__erased_at__isnull=True)
        .select_related("shift__opportunity", "person")
        .first()
    )
    if signup is None:
        return False
    address = Email.objects.filter(person_id=signup.person_id).order_by("-primary", "id").first()
    if address is None:
        return False
    opportunity = signup.shift.opportunity
    context = {
        "first_name": signup.person.first_name,
        "title": opportunity.title,
        "place": opportunity.place,
        "starts": timezone.localtime(signup.shift.starts_at),
        "ends": timezone.localtime(signup.shift.ends_at),
        "url": f"{settings.SITE_URL.rstrip('/')}{reverse('volunteers:public', args=[opportunity.public_id])}",
        # A phone-bank shift: the volunteer calls from Il mio spazio (signed in by the emailed link).
        "calls_url": f"{settings.SITE_URL.rstrip('/')}{reverse('volunteers:my_calls')}"
        if opportunity.kind == OpportunityKind.PHONE_BANK
        else "",
    }
    send_mail(subject, render_to_string(template, context), settings.DEFAULT_FROM_EMAIL, [address.value])
    return True


@task()
def send_signup_confirmation(signup_id: int) -> None:
    _send(signup_id, _("Sei iscritto al turno"), "volunteers/email/confirmation.txt")


@task()
def send_shift_reminder(signup_id: int) -> None:
    _send(signup_id, _("Promemoria: domani il tuo turno"), "volunteers/email/reminder.txt")
