"""Rows for the discovery tests, written straight to the tables (the campaigns' and events' own
workflows are tested in their apps)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.utils import timezone

from piazza.events.models import Event
from piazza.funding.models import Campaign, CampaignStatus
from piazza.petitions.models import Petition
from piazza.territory.models import Comune

_n = [0]


def campaign(territory: Any, title: str, *, kind: str = "project", launched: Any = None, **kw: Any) -> Campaign:
    _n[0] += 1
    return Campaign.objects.create(
        territory=territory,
        kind=kind,
        status=CampaignStatus.LIVE,
        slug=f"raccolta-{_n[0]}-{territory.pk}",
        title=title,
        summary="In una frase",
        goal_cents=100_000,
        deadline=timezone.now() + dt.timedelta(days=30),
        launched_at=launched or timezone.now(),
        **kw,
    )


def event(territory: Any, title: str, *, days: int = 3, created: Any = None, comune: str = "037006") -> Event:
    start = timezone.now() + dt.timedelta(days=days)
    return Event.objects.create(
        territory=territory,
        title=title,
        comune=Comune.objects.get(istat_code=comune),
        address="Via del Pratello 53",
        starts_at=start,
        ends_at=start + dt.timedelta(hours=2),
        created_at=created or timezone.now(),
    )


def petition(territory: Any, title: str, *, created: Any = None) -> Petition:
    _n[0] += 1
    return Petition.objects.create(
        territory=territory,
        slug=f"petizione-{_n[0]}",
        title=title,
        text="Chiediamo…",
        created_at=created or timezone.now(),
    )
