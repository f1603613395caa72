"""Back-office pages of the quadratic rounds (issue 17): exclusions with a reason, and the simulation
a treasurer runs before opening a round. The round page itself is `views.pool_round`."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from piazza.funding.actions import pools as pools_actions
from piazza.funding.actions import rounds as rounds_actions
from piazza.funding.forms import RoundExclusionForm, RoundSimulationForm
from piazza.funding.models import Campaign, MatchingPool, PoolMode
from piazza.funding.quadratic import linear_matches, quadratic_matches
from piazza.funding.queries import round_gift_rows, round_gifts, round_rules, round_voices
from piazza.territory.access import official_required
from piazza.territory.models import Territory


@require_POST
@official_required(roles=pools_actions.POOL_ROLES)
def pool_round_exclude(request: HttpRequest, pk: int) -> HttpResponse:
    """Leave one gift or a whole suspicious cluster out of the match, with the reason."""
    pool = get_object_or_404(
        MatchingPool.objects.visible_to(request.user, pools_actions.POOL_ROLES).select_related("territory"),
        pk=pk,
        mode=PoolMode.QUADRATIC,
    )
    form = RoundExclusionForm(request.POST)
    if not form.is_valid():
        for errors in form.errors.values():
            for error in errors:
                messages.error(request, str(error))
        return redirect("funding:pool_round", pk=pool.pk)
    d = form.cleaned_data
    try:
        added = rounds_actions.exclude_from_round(
            actor=request.user, pool=pool, donation_ids=d["donations"], category=d["category"], reason=d["reason"]
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(
            request,
            _("Escluse dal raddoppio %(n)s donazioni: restano donazioni, ma non contano più nel round.") % {"n": added}
            if added
            else _("Quelle donazioni erano già escluse: nulla è cambiato."),
        )
    return redirect("funding:pool_round", pk=pool.pk)


@dataclass(frozen=True)
class SimulationLine:
    campaign: Campaign
    donors: int
    gifts_cents: int
    linear_cents: int
    quadratic_cents: int


@official_required(roles=pools_actions.POOL_ROLES)
def pool_simulate(request: HttpRequest) -> HttpResponse:
    """The gifts of a past (or chosen) period under a linear pool and under the quadratic rule, side
    by side, so a treasurer sees who gains before opening a round. Nothing is written."""
    territories = Territory.objects.visible_to(request.user, pools_actions.POOL_ROLES).open().order_by("path")[:300]
    today = timezone.localdate()
    form = RoundSimulationForm(
        request.GET or None,
        initial={"since": today - dt.timedelta(days=90), "until": today},
    )
    lines: list[SimulationLine] = []
    chosen = None
    if request.GET and form.is_valid():
        chosen = get_object_or_404(
            Territory.objects.visible_to(request.user, pools_actions.POOL_ROLES), pk=request.GET.get("territory") or 0
        )
        lines = _simulate(chosen, form)
    top = max([max(line.linear_cents, line.quadratic_cents) for line in lines] or [0])
    return render(
        request,
        "funding/pool_simulate.html",
        {"form": form, "territories": territories, "chosen": chosen, "lines": lines, "top": top},
    )


def _simulate(territory: Territory, form: RoundSimulationForm) -> list[SimulationLine]:
    d = form.cleaned_data
    start = timezone.make_aware(dt.datetime.combine(d["since"], dt.time()))
    end = timezone.make_aware(dt.datetime.combine(d["until"] + dt.timedelta(days=1), dt.time()))
    # An unsaved round with the chosen rules: the same reads the real round uses, nothing stored.
    pool = MatchingPool(
        territory=territory,
        eligible_root=territory,
        budget_cents=d["budget"].cents,
        mode=PoolMode.QUADRATIC,
        min_distinct_donors=d["min_distinct_donors"],
        cap_per_campaign_cents=d["cap_per_campaign"].cents if d.get("cap_per_campaign") else None,
        donor_ceiling_cents=d["donor_ceiling"].cents if d.get("donor_ceiling") else None,
        quadratic_variant=d["quadratic_variant"],
        created_at=start,
        closes_at=end,
    )
    rows = round_gift_rows(pool)
    gifts = round_gifts(pool, rows)
    rules = round_rules(pool, pool_cents=pool.budget_cents)
    quadratic = quadratic_matches(gifts, rules)
    linear = linear_matches(
        gifts, pool_cents=pool.budget_cents, ratio=(d["ratio_num"], d["ratio_den"]), cap_cents=rules.cap_cents
    )
    voices = round_voices(gifts, rules)
    raised: dict[int, int] = {}
    for row in rows:
        raised[row.campaign_id] = raised.get(row.campaign_id, 0) + row.cents
    campaigns = Campaign.objects.filter(pk__in=raised).select_related("territory").in_bulk()
    lines = [
        SimulationLine(campaigns[c], len(voices.get(c, ())), raised[c], linear.get(c, 0), quadratic.get(c, 0))
        for c in raised
    ]
    return sorted(lines, key=lambda line: (-line.quadratic_cents, -line.linear_cents, line.campaign.title))
