"""Quadratic rounds (issue 17): a matching pool shared at its close by how many people gave."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import formats, timezone
from django.utils.translation import gettext as _

from piazza.core.audit import record
from piazza.core.errors import Refused, refuse, refusing
from piazza.funding.models import (
    Campaign,
    CampaignStatus,
    Donation,
    ExclusionReason,
    MatchingPool,
    PoolMode,
    RoundExclusion,
)
from piazza.funding.quadratic import quadratic_matches
from piazza.funding.queries import round_gift_rows, round_gifts, round_rules, touch_rounds
from piazza.territory.scoping import has_role_at

from ._pool_funds import _bump_counter, _reserve, _settle
from .pools import POOL_ROLES


def close_quadratic_round(*, actor: Any, pool: MatchingPool) -> dict[int, int]:
    """Share what is left of the pool among the round's campaigns by the quadratic rule and book it.

    Each campaign's match is reserved like any other pool's (settled with the campaign; at once for
    a campaign already settled). Idempotent: a closed round answers its booked matches unchanged.
    """
    action = "funding.close_quadratic_round"
    if pool.mode != PoolMode.QUADRATIC:
        refuse(
            action,
            _("Questo fondo non è un round quadratico: raddoppia le donazioni all'arrivo."),
            actor=actor,
            territory=pool.territory,
            code="not_quadratic",
        )
    if actor is not None and not has_role_at(actor, pool.territory, POOL_ROLES):
        refuse(
            action,
            _("Chiude il round solo la tesoreria di %(t)s.") % {"t": pool.territory},
            actor=actor,
            territory=pool.territory,
            code="out_of_scope",
            permission=True,
        )
    if pool.closes_at is None or timezone.now() < pool.closes_at:
        refuse(
            action,
            _("Il round è aperto fino al %(date)s: il fondo si ripartisce dopo la chiusura.")
            % {"date": formats.date_format(timezone.localtime(pool.closes_at), "DATETIME_FORMAT")}
            if pool.closes_at
            else _("Il round non ha una data di chiusura."),
            actor=actor,
            territory=pool.territory,
            code="round_open",
        )
    with transaction.atomic():
        locked = MatchingPool.objects.select_for_update().select_related("eligible_root").get(pk=pool.pk)
        if locked.round_closed_at is not None:
            return dict(locked.matches.filter(donation__isnull=True).values_list("campaign_id", "amount_cents"))
        gifts = round_gifts(locked)
        locked.round_shared_cents = locked.remaining_cents
        matches = {c: cents for c, cents in quadratic_matches(gifts, round_rules(locked)).items() if cents > 0}
        campaigns = Campaign.objects.in_bulk(list(matches))
        for campaign_id in sorted(matches):
            campaign = campaigns[campaign_id]
            match = _reserve(locked, campaign, matches[campaign_id], donation=None)
            _bump_counter(campaign_id, matched=matches[campaign_id])
            if campaign.status == CampaignStatus.SETTLED:
                _settle(match, campaign, locked.currency, actor=actor)
        locked.round_closed_at = timezone.now()
        locked.save(update_fields=["round_closed_at", "round_shared_cents"])
        donors: dict[int, set[str]] = {}
        for gift in gifts:
            donors.setdefault(gift.campaign_id, set()).add(gift.donor)
        record(
            action,
            actor=actor,
            obj=locked,
            territory=locked.territory,
            data={
                "variant": locked.quadratic_variant,
                "shared_cents": locked.round_shared_cents,
                "matched_cents": sum(matches.values()),
                "campaigns": {str(c): {"donors": len(d), "match_cents": matches.get(c, 0)} for c, d in donors.items()},
            },
        )
    return matches


def exclude_from_round(*, actor: Any, pool: MatchingPool, donation_ids: list[int], category: str, reason: str) -> int:
    """Leave gifts out of the round's match, with the treasurer's reason (audited). The gifts stay
    gifts — the campaign keeps the money — but the quadratic rule no longer counts them. Gifts
    already excluded are skipped, so a repeated submit changes nothing. Returns how many were added."""
    action = "funding.exclude_from_round"
    if actor is None or not has_role_at(actor, pool.territory, POOL_ROLES):
        refuse(
            action,
            _("Esclude le donazioni dal round solo la tesoreria di %(t)s.") % {"t": pool.territory},
            actor=actor,
            territory=pool.territory,
            code="out_of_scope",
            permission=True,
        )
    if pool.mode != PoolMode.QUADRATIC:
        refuse(
            action,
            _("Questo fondo non è un round quadratico."),
            actor=actor,
            territory=pool.territory,
            code="not_quadratic",
        )
    if pool.round_closed_at is not None:
        refuse(
            action,
            _("Il round è già chiuso: il fondo è stato ripartito e le esclusioni non si possono più cambiare."),
            actor=actor,
            territory=pool.territory,
            code="round_closed",
        )
    if category not in ExclusionReason.values:
        refuse(
            action, _("Scegli il motivo dell'esclusione."), actor=actor, territory=pool.territory, code="no_category"
        )
    reason = " ".join(reason.split())
    if len(reason) < 10:
        refuse(
            action,
            _("Scrivi in almeno 10 caratteri perché escludi queste donazioni: la spiegazione resta nel registro."),
            actor=actor,
            territory=pool.territory,
            code="no_reason",
        )
    in_round = {row.donation_id: row for row in round_gift_rows(pool)}
    unknown = sorted(set(donation_ids) - set(in_round))
    if not donation_ids or unknown:
        refuse(
            action,
            _("La donazione n. %(n)s non è tra quelle contate in questo round.") % {"n": unknown[0]}
            if unknown
            else _("Indica almeno una donazione da escludere."),
            actor=actor,
            territory=pool.territory,
            code="not_in_round",
        )
    with refusing(action, actor, pool.territory), transaction.atomic():
        locked = MatchingPool.objects.select_for_update().get(pk=pool.pk)
        if locked.round_closed_at is not None:
            raise Refused(_("Il round è stato chiuso nel frattempo."), "round_closed")
        already = set(
            RoundExclusion.objects.filter(pool=locked, donation_id__in=donation_ids).values_list(
                "donation_id", flat=True
            )
        )
        new_ids = sorted(set(donation_ids) - already)
        donations = Donation.objects.in_bulk(new_ids)
        RoundExclusion.objects.bulk_create(
            RoundExclusion(pool=locked, donation=donations[d], category=category, reason=reason[:280], created_by=actor)
            for d in new_ids
        )
        if new_ids:
            record(
                action,
                actor=actor,
                obj=locked,
                territory=locked.territory,
                data={
                    "category": category,
                    "reason": reason[:280],
                    "donations": new_ids,
                    "cents": sum(in_round[d].cents for d in new_ids),
                },
            )
            transaction.on_commit(touch_rounds)
    touch_rounds()
    return len(new_ids)
