""" "Vicino a me" (issue 17): campaigns, events and circoli of a comune or postal code, or of the
signed-in person's own territory. A fixed handful of indexed queries whatever the number of rows
(the tests pin the count): comuni by ISTAT code or upper-cased name, territories by comune, then
campaigns and events by the materialised paths of those territories and their ancestors."""

from __future__ import annotations

import datetime as dt
import difflib
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Prefetch, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from piazza.discovery import cap as caps
from piazza.events.models import Event
from piazza.funding.models import Campaign, CampaignKind
from piazza.funding.queries import comuni_named
from piazza.territory.models import Comune, Level, Territory

LIMIT = 30
KINDS = [(k.value, k.label) for k in CampaignKind]
LEVELS = [(lv.value, lv.label) for lv in (Level.CIRCOLO, Level.FEDERATION, Level.REGION, Level.NATIONAL)]


@dataclass
class Place:
    """What the visitor typed, understood: the comuni it names, or why not and what to try."""

    text: str
    comuni: list[Comune] = field(default_factory=list)
    error: str = ""
    suggestions: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        return ", ".join(str(c) for c in self.comuni)


def resolve(text: str) -> Place:
    """A CAP (five digits) or a comune's name → the comuni in force it names (a merged comune answers
    with the one it became, rule D2). Unknown input gets a specific message and suggestions."""
    text = " ".join(text.split())[:120]
    place = Place(text=text)
    if not text:
        return place
    if text.isascii() and text.isdigit():
        if not caps.is_cap(text):
            place.error = _("Un CAP ha cinque cifre: «%(text)s» ne ha %(n)d. Controlla e riprova.") % {
                "text": text,
                "n": len(text),
            }
            return place
        codes = caps.istat_codes_of(text)
        place.comuni = [c.current() for c in Comune.objects.filter(istat_code__in=codes).select_related("successor")]
        if not place.comuni:
            place.error = _(
                "Il CAP %(cap)s non corrisponde a nessun comune che conosciamo. Prova con un CAP vicino o "
                "scrivi il nome del comune."
            ) % {"cap": text}
            place.suggestions = caps.neighbouring_caps(text)
        return place
    place.comuni = comuni_named(text)
    if not place.comuni:
        place.error = _(
            "Non troviamo un comune che si chiami «%(text)s». Controlla come è scritto, oppure usa il CAP."
        ) % {"text": text}
        # Names sharing the first two letters (an indexed prefix scan), closest spelling first.
        names = {
            n.lower(): n
            for n in Comune.objects.filter(name__istartswith=text[:2], valid_to__isnull=True).values_list(
                "name", flat=True
            )
        }
        place.suggestions = [names[n] for n in difflib.get_close_matches(text.lower(), list(names), n=5, cutoff=0.6)]
    return place


@dataclass
class Nearby:
    circoli: list[Territory]
    territories: list[Territory]  # every level serving the place, circoli first
    campaigns: list[Campaign]
    events: list[Event]
    next_event_of: dict[int, Event] = field(default_factory=dict)


def _prefixes(paths: list[str]) -> set[str]:
    prefixes: set[str] = set()
    for path in paths:
        parts = [p for p in path.strip("/").split("/") if p]
        prefixes.update("/" + "/".join(parts[:i]) + "/" for i in range(1, len(parts) + 1))
    return prefixes


def nearby(
    *,
    comuni: list[Comune] | None = None,
    territory: Territory | None = None,
    kind: str = "",
    level: str = "",
    now: dt.datetime | None = None,
) -> Nearby:
    """What is near the comuni (their circoli, their federation and the levels above), or near a
    territory (itself and its ancestors). `kind` filters campaigns; `level` filters campaigns and
    events by the level of the territory running them."""
    now = now or timezone.now()
    comuni = comuni or []
    if comuni:
        serving = list(
            Territory.objects.open()
            .filter(Q(comuni__in=comuni) | Q(comuni_served__in=comuni))
            .distinct()
            .values_list("path", flat=True)
        )
    elif territory is not None:
        serving = [territory.path]
    else:
        return Nearby([], [], [], [])
    prefixes = _prefixes(serving)
    territories = list(
        Territory.objects.open()
        .filter(path__in=prefixes)
        .prefetch_related(Prefetch("comuni", queryset=Comune.objects.order_by("name")))
        .order_by("-depth", "name")
    )
    circoli = [t for t in territories if t.level == Level.CIRCOLO]
    campaigns = Campaign.objects.live().filter(territory__path__in=prefixes).select_related("territory", "candidacy")
    events = (
        Event.objects.listed()
        .filter(starts_at__gte=now)
        .filter(Q(territory__path__in=prefixes) | Q(comune__in=comuni))
        .select_related("territory", "comune")
    )
    if kind:
        campaigns = campaigns.filter(kind=kind)
    if level:
        campaigns = campaigns.filter(territory__level=level)
        events = events.filter(territory__level=level)
        circoli = circoli if level == Level.CIRCOLO else []
    event_list = list(events.distinct().order_by("starts_at", "id")[:LIMIT])
    next_event_of: dict[int, Event] = {}
    for event in event_list:
        next_event_of.setdefault(event.territory_id, event)
    for circolo in circoli:  # where and when to meet them: their next public event, if any
        circolo.next_event = next_event_of.get(circolo.pk)  # type: ignore[attr-defined]
    return Nearby(
        circoli=circoli,
        territories=territories,
        campaigns=list(campaigns.order_by("deadline", "id")[:LIMIT]),
        events=event_list,
        next_event_of=next_event_of,
    )


def valid_filter(value: str, choices: list[tuple[str, Any]]) -> str:
    return value if value in {v for v, _label in choices} else ""
