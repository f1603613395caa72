from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.utils import timezone

from piazza.people.actions.notices import ensure_default_notices
from piazza.territory.models import Role
from piazza.territory.testing import make_official
from piazza.volunteers import actions
from piazza.volunteers.models import Opportunity, OpportunityKind, Shift


@pytest.fixture(autouse=True)
def notices(db: Any) -> None:
    """The shipped notices (a transactional test elsewhere may have flushed the migration's rows)."""
    ensure_default_notices()


@pytest.fixture
def organiser(tree: Any) -> Any:
    return make_official("org.centro", tree.bologna_centro, [Role.ORGANISATION])


@pytest.fixture
def opportunity(tree: Any, organiser: Any) -> Opportunity:
    return actions.create_opportunity(
        actor=organiser,
        territory=tree.bologna_centro,
        kind=OpportunityKind.GAZEBO,
        title="Gazebo in piazza Maggiore",
        place="Piazza Maggiore, Bologna",
    )


def at(day: str, hour: int) -> dt.datetime:
    """A Rome local time (the frozen clock is Wednesday 10 June 2026, 10:00)."""
    return timezone.make_aware(dt.datetime.fromisoformat(f"{day}T{hour:02d}:00"))


@pytest.fixture
def shift(opportunity: Opportunity, organiser: Any) -> Shift:
    return actions.add_shift(
        actor=organiser,
        opportunity=opportunity,
        starts_at=at("2026-06-11", 17),
        ends_at=at("2026-06-11", 20),
        capacity=2,
    )
