""" "Vicino a me": a phone-first public list (works without JavaScript)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _

from piazza.community import session
from piazza.discovery import queries


def near(request: HttpRequest) -> HttpResponse:
    """`?q=` a comune or a CAP, `tipo=` a campaign kind, `livello=` a level. Signed in to Il mio
    spazio with nothing typed: the person's comune of residence, else their own territory."""
    place = queries.resolve(request.GET.get("q", ""))
    kind = queries.valid_filter(request.GET.get("tipo", ""), queries.KINDS)
    level = queries.valid_filter(request.GET.get("livello", ""), queries.LEVELS)
    own = ""
    result = None
    if place.comuni:
        result = queries.nearby(comuni=place.comuni, kind=kind, level=level)
    elif not place.text:
        person, _expired = session.current_person(request)
        if person is not None and person.residence_comune_id:
            comune = person.residence_comune
            assert comune is not None
            result = queries.nearby(comuni=[comune.current()], kind=kind, level=level)
            own = _("Vicino a %(place)s, il tuo comune di residenza.") % {"place": comune.current()}
        elif person is not None and person.territory_id:
            result = queries.nearby(territory=person.territory, kind=kind, level=level)
            own = _("Vicino a %(place)s, il tuo territorio.") % {"place": person.territory}
    return render(
        request,
        "discovery/near.html",
        {
            "place": place,
            "own": own,
            "result": result,
            "kind": kind,
            "level": level,
            "kinds": queries.KINDS,
            "levels": queries.LEVELS,
        },
        status=400 if place.error else 200,
    )
