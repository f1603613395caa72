"""The results of closed quadratic rounds on the portal (issue 17): the formula, the rules and each
campaign's inputs as open data (CSV and JSON), so anyone can recompute the allocation.

Only aggregates per campaign are published (donor counts, Σ√c, Σc, exclusions by reason
category): no donor, no single gift. Σ√c is written with every digit of the float the platform
used, so (Σ√c)² − Σc gives back the very ideal match that was scaled.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, render

from piazza.core.exports import CONTENT_TYPES
from piazza.core.exports import render as render_file
from piazza.funding.models import MatchingPool, PoolMode, QuadraticVariant, RoundExclusion
from piazza.funding.quadratic import ideal_matches
from piazza.funding.queries import RoundLine, round_gifts, round_rules, round_standing

FORMULA = (
    "ideale = (Σ √c)² − Σ c per raccolta, con c il contributo contato di ogni persona (una persona, una voce); "
    "0 sotto il minimo di donatori distinti o sotto un milionesimo di centesimo; "
    "quota = ideale × min(1, fondo / Σ ideali), ripetuto togliendo le raccolte che toccano il massimo per raccolta; "
    "centesimi = parte intera della quota, poi i centesimi rimasti uno ciascuno ai resti più grandi "
    "(a parità, la raccolta con il numero più basso)."
)
PAIRWISE_NOTE = (
    "Variante a coppie: ogni coppia di donatori conta 2·√(cᵢcⱼ)·M/(M + quanto la stessa coppia finanzia insieme "
    "nel round), M = 25 €; l'ideale pubblicato è già la somma delle coppie."
)
COLUMNS = (
    "campaign_id",
    "campaign",
    "territory",
    "donors",
    "sum_sqrt_cents",
    "counted_cents",
    "ideal_cents",
    "excluded_gifts",
    "excluded_reasons",
    "match_cents",
)


def _closed_round(pk: int) -> MatchingPool:
    return get_object_or_404(
        MatchingPool.objects.select_related("territory", "eligible_root"),
        pk=pk,
        mode=PoolMode.QUADRATIC,
        round_closed_at__isnull=False,
    )


def _ideal(pool: MatchingPool, line: RoundLine, pairwise: dict[int, float]) -> float:
    if pool.quadratic_variant == QuadraticVariant.PAIRWISE:
        return pairwise.get(line.campaign.pk, 0.0)
    if line.donors < max(pool.min_distinct_donors, 1):
        return 0.0
    value = max(line.sum_roots * line.sum_roots - line.counted_cents, 0.0)
    return value if value >= 1e-6 else 0.0


def round_data(pool: MatchingPool) -> dict[str, Any]:
    """Everything the portal publishes about one closed round."""
    lines = round_standing(pool)
    rules = round_rules(pool)
    pairwise = ideal_matches(round_gifts(pool), rules) if pool.quadratic_variant == QuadraticVariant.PAIRWISE else {}
    reasons: dict[int, Counter[str]] = {}
    for campaign_id, category in RoundExclusion.objects.filter(pool=pool).values_list(
        "donation__campaign_id", "category"
    ):
        reasons.setdefault(campaign_id, Counter())[category] += 1
    campaigns = [
        {
            "campaign_id": line.campaign.pk,
            "campaign": line.campaign.title,
            "territory": line.campaign.territory.name,
            "donors": line.donors,
            "sum_sqrt_cents": line.sum_roots,
            "counted_cents": line.counted_cents,
            "ideal_cents": _ideal(pool, line, pairwise),
            "excluded_gifts": line.excluded,
            "excluded_reasons": dict(sorted(reasons.get(line.campaign.pk, Counter()).items())),
            "match_cents": line.match_cents,
        }
        for line in sorted(lines, key=lambda line: line.campaign.pk)
    ]
    return {
        "round": {
            "id": pool.pk,
            "name": pool.name,
            "territory": pool.territory.name,
            "eligible_under": pool.eligible_root.name,
            "variant": pool.quadratic_variant,
            "opened_at": pool.created_at.isoformat(),
            "closes_at": pool.closes_at.isoformat() if pool.closes_at else None,
            "closed_at": pool.round_closed_at.isoformat() if pool.round_closed_at else None,
            "pool_cents": rules.pool_cents,
            "cap_per_campaign_cents": rules.cap_cents,
            "min_distinct_donors": rules.min_donors,
            "donor_ceiling_cents": rules.donor_ceiling_cents,
            "matched_cents": sum(c["match_cents"] for c in campaigns),
        },
        "formula": FORMULA + (" " + PAIRWISE_NOTE if pool.quadratic_variant == QuadraticVariant.PAIRWISE else ""),
        "campaigns": campaigns,
    }


def round_page(request: HttpRequest, pk: int) -> HttpResponse:
    pool = _closed_round(pk)
    data = round_data(pool)
    top = max((c["match_cents"] for c in data["campaigns"]), default=0)
    return render(request, "transparency/round.html", {"pool": pool, "data": data, "top": top})


def round_file(request: HttpRequest, pk: int, fmt: str) -> HttpResponse:
    if fmt not in ("csv", "json"):
        raise Http404
    pool = _closed_round(pk)
    data = round_data(pool)
    filename = f"round-quadratico-{pool.pk}.{fmt}"
    if fmt == "json":
        response: HttpResponse = JsonResponse(data, json_dumps_params={"ensure_ascii": False, "indent": 1})
    else:
        rows = [
            [
                *(c[name] for name in COLUMNS[:-2]),
                json.dumps(c["excluded_reasons"], ensure_ascii=False),
                c["match_cents"],
            ]
            for c in data["campaigns"]
        ]
        body, _count = render_file("csv", COLUMNS, rows, delimiter=",")
        response = HttpResponse(body, content_type=CONTENT_TYPES["csv"])
    response["Content-Disposition"] = f'inline; filename="{filename}"'
    response["Access-Control-Allow-Origin"] = "*"
    return response


def rounds_index(request: HttpRequest) -> HttpResponse:
    pools = (
        MatchingPool.objects.filter(mode=PoolMode.QUADRATIC, round_closed_at__isnull=False)
        .select_related("territory")
        .order_by("-round_closed_at", "-pk")[:200]
    )
    return render(request, "transparency/rounds.html", {"pools": pools})
