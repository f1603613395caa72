from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.utils import timezone

from piazza.events.actions import EventData, create_event
from piazza.events.models import Event
from piazza.people.actions.notices import ensure_default_notices
from piazza.people.notices import current_version
from piazza.territory.models import Comune, Role
from piazza.territory.testing import make_official

# The frozen clock says Wednesday 10 June 2026, 10:00 in Rome: the event is on Friday 12 June.
START = timezone.make_aware(dt.datetime(2026, 6, 12, 18, 0))


@pytest.fixture
def organiser(tree: Any) -> Any:
    return make_official("eventi.bologna", tree.bologna, [Role.COMMUNICATION])


@pytest.fixture
def bologna_comune(tree: Any) -> Comune:
    return Comune.objects.get(name="Bologna")


@pytest.fixture
def notice(db: Any) -> Any:
    ensure_default_notices()
    return current_version("event")


@pytest.fixture
def make_event(tree: Any, organiser: Any, bologna_comune: Comune) -> Any:
    def make(**overrides: Any) -> Event:
        values: dict[str, Any] = {
            "title": "Festa de l'Unità, apertura",
            "description": "Musica, **dibattiti** e <script>alert(1)</script> tortellini.",
            "starts_at": START,
            "ends_at": START + dt.timedelta(hours=3),
            "comune": bologna_comune,
            "address": "Via del Pratello 1",
            "postal_code": "40122",
            "capacity": 2,
        }
        cohosts = overrides.pop("cohosts", ())
        territory = overrides.pop("territory", tree.bologna)
        values.update(overrides)
        return create_event(actor=organiser, territory=territory, data=EventData(**values), cohosts=cohosts)

    return make
