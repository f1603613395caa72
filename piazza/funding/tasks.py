"""Thin, idempotent tasks (convention 13): they take ids and call an action or send one email."""

from __future__ import annotations

from django.conf import settings
from django.core.mail import EmailMessage, send_mail
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django_tasks import task

from piazza.compliance.receipt_documents import receipt_filename, receipts_pdf
from piazza.compliance.receipts import receipts_of_source
from piazza.compliance.rules import annual_total_cents, check_annual_cap, rules_on
from piazza.core.money import format_eur
from piazza.payments import links
from piazza.payments.actions.refunds import refund_payment
from piazza.payments.models import State
from piazza.people.models import Person


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
    from piazza.funding.actions.closing import end_campaign
    from piazza.funding.models import Campaign, CampaignStatus

    ended = 0
    for campaign in Campaign.objects.filter(status=CampaignStatus.LIVE, deadline__lte=timezone.now()):
        end_campaign(actor=None, campaign=campaign)
        ended += 1
    return ended


@task()
def send_receipt(donation_id: int) -> bool:
    """Rule F3: a receipt email for every donation, with the payer page link (all the donor's
    payments, by signed link) and, for a monthly gift, the one-click cancel link."""
    from piazza.funding.models import Donation, Frequency

    donation = Donation.objects.select_related("campaign__territory", "parent").get(pk=donation_id)
    if donation.receipt_sent_at is not None:
        return False
    series = donation.parent or donation
    schedule = None
    if donation.frequency == Frequency.MONTHLY:
        from piazza.funding.actions.monthly import _schedule_of

        schedule = _schedule_of(series)
    receipts = list(receipts_of_source("funding.donation", [donation.pk]).select_related("entity", "territory"))
    context = {
        "donation": donation,
        "receipts": receipts,
        "link": settings.SITE_URL.rstrip("/") + reverse("funding:donation", args=[series.manage_token]),
        "payer_url": links.payer_request_url(),
        "cancel_url": links.cancel_schedule_url(schedule.token) if schedule is not None else "",
    }
    body = render_to_string("funding/email/receipt.txt", context)
    # Claim first: a retried task never sends the receipt twice.
    if not Donation.objects.filter(pk=donation.pk, receipt_sent_at__isnull=True).update(receipt_sent_at=timezone.now()):
        return False
    message = EmailMessage(
        _("Ricevuta della tua donazione a «%(t)s»") % {"t": donation.campaign.title}, body, None, [donation.email]
    )
    if receipts:  # rule F3: the numbered receipt, attached
        message.attach(receipt_filename(receipts[0]), receipts_pdf(receipts), "application/pdf")
    message.send()
    return True


@task()
def refund_refused(donation_id: int) -> bool:
    """Give back a gift refused at payment success (F6 cap, F2 objection, failed campaign); for a
    monthly gift stop the series too; tell the donor why. Safe to retry."""
    from piazza.funding.actions.monthly import cancel_monthly
    from piazza.funding.models import Donation, DonationStatus, Frequency

    donation = Donation.objects.select_related("campaign", "parent", "payment").get(pk=donation_id)
    if donation.status != DonationStatus.REFUSED:
        return False
    payment = donation.payment
    if payment is not None and payment.state in (State.SUCCEEDED, State.PARTIALLY_REFUNDED):
        refund_payment(actor=None, payment=payment, reason=donation.failure_reason[:200])
    if donation.frequency == Frequency.MONTHLY:
        cancel_monthly(donation=donation.parent or donation, reason="refused at payment")
    body = render_to_string("funding/email/refused.txt", {"donation": donation, "payer_url": links.payer_request_url()})
    send_mail(
        _("La tua donazione a «%(t)s» è stata rimborsata") % {"t": donation.campaign.title},
        body,
        None,
        [donation.email],
    )
    return True


@task()
def tell_donor_over_limit(person_id: int, campaign_id: int, amount_cents: int, code: str) -> int:
    """Issue 10, rule G1: a gift typed with this person's codice fiscale went over a yearly limit
    because of what they gave before. The figures go to their address on record only (never to
    the typed one, never on the page). Sends one email; 0 when no address is known."""
    from piazza.funding.models import Campaign

    person = Person.objects.filter(pk=person_id).first()
    campaign = Campaign.objects.select_related("territory").filter(pk=campaign_id).first()
    email = person.emails.order_by("-primary", "id").first() if person is not None else None
    if person is None or campaign is None or email is None:
        return 0
    rules = rules_on()
    already = annual_total_cents(person.pk, timezone.localdate().year, campaign.territory.path, rules)
    cap = check_annual_cap(already, amount_cents, rules)
    names = {
        "name": person.first_name,
        "amount": format_eur(amount_cents),
        "campaign": campaign.title,
        "already": format_eur(already),
        "cap": format_eur(cap.cap_cents),
        "left": format_eur(cap.remaining_cents),
        "threshold": format_eur(rules.publication_threshold_cents),
    }
    if code == "annual_cap":
        body = (
            _(
                "Ciao %(name)s,\nabbiamo ricevuto dal sito una donazione di %(amount)s per «%(campaign)s» con il tuo "
                "codice fiscale e non l'abbiamo accettata: per legge una persona può donare al partito al massimo "
                "%(cap)s in un anno. Quest'anno hai già donato %(already)s: puoi donare ancora al massimo "
                "%(left)s."
            )
            % names
        )
    else:
        names["quiet"] = format_eur(max(rules.publication_threshold_cents - already, 0))  # F1: "strictly above"
        body = (
            _(
                "Ciao %(name)s,\nabbiamo ricevuto dal sito una donazione di %(amount)s per «%(campaign)s» con il tuo "
                "codice fiscale e non l'abbiamo accettata: quest'anno hai già donato %(already)s e con questa "
                "donazione supereresti %(threshold)s, oltre i quali la legge chiede di pubblicare il nome di chi "
                "dona. Puoi donare accettando la pubblicazione, oppure donare ancora al massimo %(quiet)s "
                "senza."
            )
            % names
        )
    body += "\n\n" + _(
        "Se la donazione non l'hai tentata tu, non è stato addebitato nulla e nessuno ha visto questi "
        "importi: li trovi solo in questo messaggio."
    )
    send_mail(_("La tua donazione non è stata accettata"), body, None, [email.value])
    return 1


@task()
def close_due_quadratic_rounds() -> int:
    """Share every quadratic round whose closing time has passed (periodic; idempotent)."""
    from piazza.funding.actions.rounds import close_quadratic_round
    from piazza.funding.models import MatchingPool, PoolMode

    due = MatchingPool.objects.filter(
        mode=PoolMode.QUADRATIC, round_closed_at__isnull=True, closes_at__lte=timezone.now()
    )
    closed = 0
    for pool in due:
        close_quadratic_round(actor=None, pool=pool)
        closed += 1
    return closed


@task()
def refresh_round_standing(pool_id: int) -> int:
    """Recompute a quadratic round's cached standing after gifts (issue 17: the live estimate)."""
    from django.core.cache import cache

    from piazza.funding.models import MatchingPool
    from piazza.funding.queries import refresh_standing

    try:
        pool = MatchingPool.objects.get(pk=pool_id)
        refresh_standing(pool)
    except MatchingPool.DoesNotExist:
        return 0
    finally:
        cache.delete(f"funding:qf:refreshing:{pool_id}")
    return 1
