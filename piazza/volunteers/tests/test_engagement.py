"""The ladder of engagement (issue 15): counts and last dates per rung from the timeline, the
segment conditions registered in the people segment builder, and the ladder page."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone

from piazza.people.actions.person import add_timeline_entry
from piazza.people.models import Person
from piazza.people.queries import RELATIONS, people_for
from piazza.territory.models import Role
from piazza.territory.testing import make_official, verified_client
from piazza.volunteers import queries

pytestmark = pytest.mark.django_db


def _did(person: Person, kind: str, day: str) -> None:
    add_timeline_entry(
        person, kind=kind, summary="x", actor=None, at=timezone.make_aware(dt.datetime.fromisoformat(day))
    )


@pytest.fixture
def people(tree: Any) -> dict[str, Person]:
    made = {
        name: Person.objects.create(first_name=name, last_name="Rossi", territory=tree.bologna_centro)
        for name in ("Anna", "Bruno", "Carla")
    }
    _did(made["Anna"], "petition_signed", "2026-03-01T10:00")
    _did(made["Anna"], "petition_signed", "2026-05-01T10:00")
    _did(made["Anna"], "donation", "2026-04-01T10:00")
    _did(made["Bruno"], "petition_signed", "2026-03-01T10:00")
    _did(made["Bruno"], "petition_signed", "2026-03-02T10:00")
    _did(made["Bruno"], "event_attended", "2026-03-05T10:00")
    _did(made["Carla"], "volunteers.signup", "2026-05-05T10:00")
    return made


def test_counts_and_last_dates_per_rung(people):
    summary = {e.rung: e for e in queries.engagement_of(people["Anna"])}
    assert summary["signed"].count == 2
    assert timezone.localtime(summary["signed"].last).date() == dt.date(2026, 5, 1)
    assert summary["gave"].count == 1 and summary["attended"].count == 0 and summary["attended"].last is None


def test_segment_signed_twice_never_came(tree, people):
    official = make_official("org", tree.bologna_centro, [Role.ORGANISATION])
    assert "engagement_signed_twice_never_attended" in RELATIONS
    found = people_for(official, {"relation": "engagement_signed_twice_never_attended"})
    assert list(found.values_list("first_name", flat=True)) == ["Anna"]
    volunteers = people_for(official, {"relation": "engagement_volunteered_never_came"})
    assert list(volunteers.values_list("first_name", flat=True)) == ["Carla"]
    gave = people_for(official, {"relation": "engagement_gave_never_volunteered"})
    assert list(gave.values_list("first_name", flat=True)) == ["Anna"]


def test_ladder_counts_people_on_each_rung(tree, people):
    Person.objects.create(first_name="Zeno", last_name="Bassi", territory=tree.modena_nord)
    rows = dict(queries.ladder(Person.objects.filter(territory=tree.bologna_centro)))
    assert rows["Persone nel territorio"] == 3
    assert rows["Hanno firmato"] == 2
    assert rows["Sono venuti (evento o turno)"] == 1
    assert rows["Si sono offerti volontari"] == 1


def test_ladder_page_in_scope_with_chart_and_table(tree, people):
    official = make_official("org", tree.bologna, [Role.ORGANISATION])
    client = verified_client(official)
    page = client.get(reverse("volunteers:ladder"), {"territory": tree.bologna_centro.pk})
    body = page.content.decode()
    assert page.status_code == 200
    assert "<svg" in body and "<table" in body and "Hanno firmato" in body
    outside = client.get(reverse("volunteers:ladder"), {"territory": tree.modena_nord.pk})
    assert outside.status_code == 404
    assert "Scala dell" in client.get(reverse("volunteers:manage")).content.decode()


def test_every_rung_reads_a_kind_that_an_app_really_writes():
    """The ladder reads timeline kinds by name (no import across apps): each name must be one
    some app's code writes, or a rung stays empty forever (the events kind once was misspelt)."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    sources = "\n".join(
        path.read_text()
        for path in root.rglob("*.py")
        if "tests" not in path.parts and "migrations" not in path.parts and path.name != "queries.py"
    )
    missing = [kind for kinds in queries.ENGAGEMENT_KINDS.values() for kind in kinds if f'"{kind}"' not in sources]
    assert missing == []
