"""Ending and settling campaigns."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from piazza.core.audit import record
from piazza.core.errors import refuse
from piazza.funding.models import (
    Campaign,
    CampaignOutcome,
    CampaignStatus,
    DonationStatus,
    Frequency,
    FundingModel,
    MatchingPool,
    MatchStatus,
    PoolMatch,
)
from piazza.payments.actions import refunds as refunds_payments

from ._pool_funds import _bump_counter, _release, _settle
from .monthly import cancel_monthly
from .permissions import _require_manage


def end_campaign(*, actor: Any, campaign: Campaign) -> Campaign:
    """Live → ended. All-or-nothing below its minimum: every gift refunded, matches released,
    monthly gifts stopped. Otherwise reserved matches are settled to the campaign. Then settled."""
    import logging

    from piazza.funding.queries import counter_totals

    action = "funding.end_campaign"
    if actor is not None:
        _require_manage(action, actor, campaign)
    campaign = Campaign.objects.select_related("territory").get(pk=campaign.pk)
    if campaign.status != CampaignStatus.LIVE:
        refuse(
            action,
            _("Si conclude solo una raccolta attiva."),
            actor=actor,
            territory=campaign.territory,
            code="wrong_status",
        )
    with transaction.atomic():
        campaign = Campaign.objects.select_for_update(of=("self",)).select_related("territory").get(pk=campaign.pk)
        if campaign.status != CampaignStatus.LIVE:  # ended meanwhile by another run
            return campaign
        totals = counter_totals(campaign.pk)
        raised = totals["gifts"] + totals["matched"]
        failed = campaign.funding_model == FundingModel.ALL_OR_NOTHING and raised < campaign.threshold_cents
        campaign.status = CampaignStatus.ENDED
        campaign.ended_at = timezone.now()
        campaign.outcome = CampaignOutcome.FAILED if failed else CampaignOutcome.FUNDED
        campaign.save(update_fields=["status", "ended_at", "outcome"])
        record(
            action,
            actor=actor,
            obj=campaign,
            territory=campaign.territory,
            data={"raised_cents": raised, "outcome": campaign.outcome},
        )
    for donation in campaign.donations.filter(
        frequency=Frequency.MONTHLY, parent__isnull=True, cancelled_at__isnull=True
    ):
        cancel_monthly(donation=donation, actor=actor, reason="campaign ended")
    if failed:
        for donation in campaign.donations.filter(status=DonationStatus.SUCCEEDED).select_related("payment"):
            payment = donation.payment
            if payment is None:
                continue
            try:
                # The all-or-nothing rule refunds, not the official: a system action.
                refunds_payments.refund_payment(
                    actor=None, payment=payment, reason="tutto o niente: minimo non raggiunto"
                )
            except ValidationError as exc:  # disputed or already refunded: the treasury sees it on the page
                logging.getLogger(__name__).warning(
                    "campaign %s: refund of payment %s refused: %s", campaign.pk, payment.pk, exc
                )
        for match in PoolMatch.objects.filter(campaign=campaign, status=MatchStatus.RESERVED, donation__isnull=True):
            with transaction.atomic():
                MatchingPool.objects.select_for_update().get(pk=match.pool_id)
                _release(match, "raccolta non finanziata")
                _bump_counter(campaign.pk, matched=-match.amount_cents)
    return settle_campaign(actor=actor, campaign=campaign)


def settle_campaign(*, actor: Any, campaign: Campaign) -> Campaign:
    """Ended → settled: reserved matches become the campaign's money (a funded campaign), or —
    for a failed one — settlement waits until every refund has gone through."""
    action = "funding.settle_campaign"
    with transaction.atomic():
        campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
        if campaign.status != CampaignStatus.ENDED:
            return campaign
        if campaign.outcome == CampaignOutcome.FAILED:
            if campaign.donations.filter(status__in=[DonationStatus.SUCCEEDED, DonationStatus.REFUSED]).exists():
                return campaign  # refunds still in flight; the refund handler calls us again
        else:
            matches = list(PoolMatch.objects.filter(campaign=campaign, status=MatchStatus.RESERVED))
            pools = {
                p.pk: p
                for p in MatchingPool.objects.select_for_update()
                .filter(pk__in={m.pool_id for m in matches})
                .order_by("pk")
            }
            for match in matches:
                _settle(match, campaign, pools[match.pool_id].currency, actor=actor)
        campaign.status = CampaignStatus.SETTLED
        campaign.settled_at = timezone.now()
        campaign.save(update_fields=["status", "settled_at"])
        record(action, actor=actor, obj=campaign, territory=campaign.territory, data={"outcome": campaign.outcome})
    return campaign
