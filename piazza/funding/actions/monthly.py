"""Monthly donations."""

from __future__ import annotations

import secrets
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from piazza.compliance.rules import (
    check_annual_cap,
    rules_on,
)
from piazza.core.audit import record
from piazza.core.errors import refuse
from piazza.core.money import Money, format_eur
from piazza.funding.models import (
    Campaign,
    Donation,
    Frequency,
    UpdateSubscription,
)
from piazza.ledger.accounts import get_account
from piazza.payments.actions import recurring as recurring_payments

from .donations import gift_accounts


def _schedule_of(donation: Donation) -> Any:
    payment = donation.payment
    return payment.schedule if payment is not None else None


def cancel_monthly(*, donation: Donation, actor: Any = None, reason: str = "", via: str = "donation_page") -> Donation:
    """Stop a monthly gift (the donor's one-click button, or the campaign's end).

    The payments schedule is cancelled; payments then calls our handler, which marks the
    donation (`monthly_cancelled`) — the same path as the cancel link in the receipt email.
    """
    series = donation.parent or donation
    schedule = _schedule_of(series)
    if schedule is not None:
        recurring_payments.cancel_schedule(actor=actor, schedule=schedule, via=via, reason=reason)
    return monthly_cancelled(series.pk, actor=actor, reason=reason)


def change_monthly_amount(*, actor: Any, donation: Donation, amount_cents: int, via: str = "donation_page") -> Any:
    """The donor changes their monthly gift from the next charge on (issue 12).

    The campaign's minimum and the annual cap for the amount alone (F6) are checked here; F6 and
    F2 against the year's other gifts are judged at each charge (`donation_succeeded`), as for
    every month. The fee cover chosen at the start stays the same in cents. Returns the schedule."""
    from piazza.payments.actions import recurring as recurring_payments

    action = "funding.change_monthly_amount"
    series = donation.parent or donation
    campaign = series.campaign
    schedule = _schedule_of(series)
    if series.frequency != Frequency.MONTHLY or schedule is None or series.cancelled_at is not None:
        refuse(
            action,
            _("Questa donazione non è una donazione mensile attiva: l'importo non si può cambiare."),
            actor=actor,
            territory=campaign.territory,
            code="not_monthly",
        )
    if not campaign.is_open_for_gifts():
        refuse(
            action,
            _("Questa raccolta è chiusa: l'importo non si può più cambiare."),
            actor=actor,
            territory=campaign.territory,
            code="closed",
        )
    if amount_cents < campaign.min_gift_cents:
        refuse(
            action,
            _("La donazione minima per questa raccolta è %(min)s.") % {"min": format_eur(campaign.min_gift_cents)},
            actor=actor,
            territory=campaign.territory,
            code="below_minimum",
            field="amount",
        )
    total = amount_cents + series.fee_cover_cents
    rules = rules_on()
    if not check_annual_cap(0, total, rules).allowed:  # rule F6, the amount alone
        refuse(
            action,
            _("Per legge una persona può donare al partito al massimo %(cap)s in un anno: scegli un importo più basso.")
            % {"cap": format_eur(rules.annual_cap_cents)},
            actor=actor,
            territory=campaign.territory,
            code="annual_cap",
            field="amount",
        )
    allocations = gift_accounts(campaign, Money(amount_cents, campaign.currency))
    if series.fee_cover_cents:
        allocations.append(
            (get_account("territory", territory=campaign.territory), Money(series.fee_cover_cents, campaign.currency))
        )
    # Outside any transaction of ours: a refusal inside payments keeps its audit entry.
    changed = recurring_payments.change_schedule_amount(
        actor=actor, schedule=schedule, amount=Money(total, campaign.currency), allocations=allocations, via=via
    )
    with transaction.atomic():
        record(
            action, actor=actor, obj=series, territory=campaign.territory, data={"to_cents": amount_cents, "via": via}
        )
    return changed


def monthly_cancelled(donation_id: int, *, actor: Any = None, reason: str = "") -> Donation:
    """Payable handler (`on_schedule_canceled`): no further months will be charged."""
    with transaction.atomic():
        donation = Donation.objects.select_for_update().get(pk=donation_id)
        if donation.cancelled_at is not None:
            return donation
        donation.cancelled_at = timezone.now()
        donation.save(update_fields=["cancelled_at"])
        record("funding.cancel_monthly", actor=actor, obj=donation, data={"reason": reason[:200]})
    return donation


def unsubscribe_updates(*, subscription: UpdateSubscription) -> UpdateSubscription:
    with transaction.atomic():
        if subscription.unsubscribed_at is None:
            subscription.unsubscribed_at = timezone.now()
            subscription.save(update_fields=["unsubscribed_at"])
            record("funding.unsubscribe_updates", actor=None, obj=subscription.campaign)
    return subscription


def subscribe_updates(*, campaign: Campaign, email: str) -> UpdateSubscription:
    """The campaign's updates by email to an address its owner proved (a follow from Il mio spazio).
    An earlier unsubscription is lifted: following again is a new, explicit request."""
    with transaction.atomic():
        subscription, created = UpdateSubscription.objects.get_or_create(
            campaign=campaign, email=email.lower(), defaults={"token": secrets.token_urlsafe(32)}
        )
        if not created and subscription.unsubscribed_at is not None:
            subscription.unsubscribed_at = None
            subscription.save(update_fields=["unsubscribed_at"])
        record("funding.subscribe_updates", actor=None, obj=campaign)
    return subscription
