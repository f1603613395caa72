"""Yearly renewal: campaigns, reminders, tokens, the renewal itself."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.core import signing
from django.core.mail import send_mail
from django.db import transaction
from django.urls import reverse
from django.utils.translation import gettext as _

from piazza.core.audit import record
from piazza.core.errors import refuse
from piazza.core.tasks import enqueue_on_commit
from piazza.membership.fees import format_cents
from piazza.membership.models import (
    LIVE_STATUSES,
    PAID_STATUSES,
    Channel,
    Membership,
    RenewalReminder,
)
from piazza.people.models import Citizenship
from piazza.territory.models import Territory
from piazza.territory.scoping import has_role_at

from ._guards import MEMBERSHIP_ROLES
from .applicant import JoinData
from .join import apply_for_membership
from .parameters import quote_for, schedule_for

# --- Renewals --------------------------------------------------------------------------

RENEWAL_SALT = "membership.renewal"


def renewal_token(previous: Membership, year: int) -> str:
    """A signed link token: which membership is renewed for which year (no login needed)."""
    return signing.dumps({"m": previous.pk, "y": year}, salt=RENEWAL_SALT, compress=True)


def read_renewal_token(token: str, *, max_age_days: int = 400) -> tuple[Membership, int] | None:
    try:
        data = signing.loads(token, salt=RENEWAL_SALT, max_age=dt.timedelta(days=max_age_days))
    except signing.BadSignature:
        return None
    previous = Membership.objects.select_related("person", "circolo").filter(pk=data.get("m")).first()
    return (previous, int(data["y"])) if previous is not None else None


def start_renewal_campaign(*, actor: Any, territory: Territory, year: int) -> int:
    """Reminder emails to last year's members in `territory` who have not renewed yet.

    Re-running it never emails anyone twice (one `RenewalReminder` per membership and year).
    """
    action = "membership.start_renewal_campaign"
    if not has_role_at(actor, territory, MEMBERSHIP_ROLES):
        refuse(
            action,
            _("Non hai un ruolo di tesseramento su %(t)s.") % {"t": territory},
            actor=actor,
            territory=territory,
            code="out_of_scope",
            permission=True,
        )
    if schedule_for(year) is None:
        refuse(
            action,
            _("Le quote del %(year)s non sono ancora fissate: la campagna non può partire.") % {"year": year},
            actor=actor,
            territory=territory,
            code="no_schedule",
        )
    renewed = Membership.objects.filter(year=year, status__in=LIVE_STATUSES).values("person_id")
    already = RenewalReminder.objects.filter(year=year).values("previous_id")
    previous = (
        Membership.objects.filter(circolo__path__startswith=territory.path, year=year - 1, status__in=PAID_STATUSES)
        .exclude(person_id__in=renewed)
        .exclude(pk__in=already)
        .values_list("pk", flat=True)
    )
    ids = list(previous)
    from piazza.membership.tasks import send_renewal_reminder as task

    with transaction.atomic():
        for pk in ids:
            enqueue_on_commit(task, pk, year)
        record(action, actor=actor, territory=territory, data={"year": year, "reminders": len(ids)})
    return len(ids)


def yearly_debit_problem(previous: Membership, schedule: Any, year: int) -> str:
    """Why next year's automatic SEPA debit must not run, or "": the fee of `year` differs from
    the amount of the mandate's schedule, or the member must confirm something again (M2: a
    non-EU citizen's residence permit may have expired)."""
    person = previous.person
    if schedule.saved_method_id is None:
        return _("il mandato SEPA non risulta collegato all'addebito annuale")
    if person.citizenship == Citizenship.NON_EU_PERMIT:
        return _("serve confermare di nuovo il permesso di soggiorno")
    fee_schedule = schedule_for(year)
    if fee_schedule is None:
        return _("le quote del %(year)s non sono ancora fissate") % {"year": year}
    quote = quote_for(fee_schedule, previous.circolo, person.birth_date, schedule.next_charge_on)
    if quote.total_cents != schedule.amount_cents:
        return _("la quota %(year)s è %(fee)s invece di %(old)s") % {
            "year": year,
            "fee": format_cents(quote.total_cents),
            "old": format_cents(schedule.amount_cents),
        }
    return ""


def send_renewal_reminder(*, membership_id: int, year: int) -> int:
    """Send one reminder (idempotent: the unique `RenewalReminder` row is the guard).

    A member who renews every year by SEPA is told when and how much will be debited, with the
    one-click link to stop it; if the debit must not run as it stands (the fee changed, a
    permit to confirm), the yearly schedule is stopped and the usual one-click renewal is sent.
    """
    from piazza.membership.payments import active_yearly_schedule

    previous = Membership.objects.select_related("person", "circolo").get(pk=membership_id)
    email = previous.person.primary_email
    if email is None:
        return 0
    with transaction.atomic():
        _reminder, created = RenewalReminder.objects.get_or_create(previous=previous, year=year)
        if not created:
            return 0
        link = settings.SITE_URL.rstrip("/") + reverse("membership:renew", args=[renewal_token(previous, year)])
        names = {
            "name": previous.person.first_name,
            "prev": previous.year,
            "circolo": previous.circolo.name,
            "year": year,
            "link": link,
        }
        schedule = active_yearly_schedule(previous.person)
        problem = yearly_debit_problem(previous, schedule, year) if schedule is not None else ""
        if schedule is not None and not problem:
            from piazza.payments.links import cancel_schedule_url

            subject = _("La tua tessera %(year)s si rinnova con l'addebito SEPA") % {"year": year}
            body = _(
                "Ciao %(name)s,\nil %(date)s addebiteremo %(amount)s sul tuo conto per la tessera %(year)s del "
                "%(circolo)s, come hai scelto. Se nel frattempo qualcosa è cambiato (ti sei iscritto a un altro "
                "partito, hai cambiato residenza) o non vuoi più rinnovare, annulla l'addebito con un clic: "
                "%(cancel)s"
            ) % {
                **names,
                "date": schedule.next_charge_on.strftime("%d/%m/%Y"),
                "amount": format_cents(schedule.amount_cents),
                "cancel": cancel_schedule_url(schedule.token),
            }
        else:
            if schedule is not None:
                from piazza.payments.actions.recurring import cancel_schedule

                cancel_schedule(actor=None, schedule=schedule, via="membership", reason=problem)
            subject = _("Rinnova la tua tessera %(year)s") % {"year": year}
            body = (
                _(
                    "Ciao %(name)s,\nla tua tessera %(prev)s del %(circolo)s sta per scadere. Rinnovala per il "
                    "%(year)s con un clic: %(link)s\n\nPuoi scegliere anche l'addebito SEPA annuale."
                )
                % names
            )
            if problem:
                body += "\n" + (
                    _("L'addebito SEPA annuale è stato sospeso perché %(why)s: rinnova dal link qui sopra.")
                    % {"why": problem}
                )
        transaction.on_commit(lambda: send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [email.value]))
        record(
            "membership.renewal_reminder",
            actor=None,
            obj=previous,
            territory=previous.circolo,
            data={"year": year, "sepa_yearly": schedule is not None and not problem, "sepa_stopped": problem},
        )
    return 1


def renew_membership(
    *,
    actor: Any,
    previous: Membership,
    year: int,
    declarations_accepted: bool,
    art9_authorised: bool,
    member_of_other_party: bool = False,
    citizenship: str | None = None,
    has_residence_permit: bool = False,
    residence_street: str | None = None,
    residence_cap: str | None = None,
    now: dt.datetime | None = None,
) -> Membership:
    """One-click renewal: last year's data and circolo, with what may have changed asked again —
    citizenship and the residence permit (M2: a permit may have expired), the address, the
    declarations (M15) and the art. 9 authorisation (M4). The same checks as joining apply."""
    person = previous.person
    email = person.primary_email
    phone = person.primary_phone
    data = JoinData(
        first_name=person.first_name,
        last_name=person.last_name,
        birth_date=person.birth_date or dt.date.min,
        codice_fiscale=person.codice_fiscale,
        citizenship=citizenship or person.citizenship,
        sex=person.sex,
        birth_comune=person.birth_comune,
        birth_country=person.birth_country,
        residence_street=person.residence_street if residence_street is None else residence_street,
        residence_cap=person.residence_cap if residence_cap is None else residence_cap,
        residence_comune=person.residence_comune,
        email=email.value if email else "",
        phone=phone.value if phone else "",
        has_residence_permit=has_residence_permit,
        member_of_other_party=member_of_other_party,
        declarations_accepted=declarations_accepted,
        art9_authorised=art9_authorised,
    )
    return apply_for_membership(
        actor=actor, data=data, circolo=previous.circolo, channel=Channel.RENEWAL, year=year, now=now, is_renewal=True
    )
