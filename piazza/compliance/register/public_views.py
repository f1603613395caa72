"""The published donor register on the party's website (rules F1, F2): one permanent address per
entity and year, the latest version with its date, and every earlier version. Public: it shows
only what the law publishes (name, amounts, dates, channel), never an identifier."""

from __future__ import annotations

import datetime as dt

from django.db.models import Max
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET

from piazza.compliance.models import RegisterPublication
from piazza.compliance.register.queries import channel_label, kind_label


@require_GET
def index(request: HttpRequest) -> HttpResponse:
    """Every entity and year with a published register, newest year first."""
    published = (
        RegisterPublication.objects.values("entity_id", "entity__name", "year")
        .annotate(latest=Max("published_at"))
        .order_by("-year", "entity__path")
    )
    return render(request, "compliance/register/public_index.html", {"published": published})


def _day(value: str | None) -> dt.date | None:
    return dt.date.fromisoformat(value) if value else None


def _show(request: HttpRequest, publication: RegisterPublication) -> HttpResponse:
    versions = list(
        RegisterPublication.objects.filter(entity=publication.entity, year=publication.year)
        .only("version", "published_at", "note", "entity_id", "year")
        .order_by("-version")
    )
    rows = [
        {
            "donor_name": row.donor_name,
            "entity_code": row.entity_code,
            "total_cents": row.total_cents,
            "items": [
                {
                    "resolution_on": dt.date.fromisoformat(item["resolution_on"])
                    if item.get("resolution_on")
                    else None,
                    "received_on": dt.date.fromisoformat(item["received_on"]),
                    "amount_cents": int(item["amount_cents"]),
                    "channel": channel_label(item["method"]),
                    "kind": kind_label(item["kind"]),
                }
                for item in row.items
            ],
        }
        for row in publication.rows.order_by("position")
    ]
    response = render(
        request,
        "compliance/register/public.html",
        {
            "publication": publication,
            "latest": versions[0],
            "versions": versions,
            "rows": rows,
        },
    )
    response["Cache-Control"] = "public, max-age=300"
    return response


@require_GET
def latest(request: HttpRequest, entity: int, year: int) -> HttpResponse:
    publication = (
        RegisterPublication.objects.filter(entity_id=entity, year=year)
        .select_related("entity")
        .order_by("-version")
        .first()
    )
    if publication is None:
        return render(request, "compliance/register/public_none.html", {"year": year}, status=404)
    return _show(request, publication)


@require_GET
def version(request: HttpRequest, entity: int, year: int, version: int) -> HttpResponse:
    publication = get_object_or_404(
        RegisterPublication.objects.select_related("entity"), entity_id=entity, year=year, version=version
    )
    return _show(request, publication)
