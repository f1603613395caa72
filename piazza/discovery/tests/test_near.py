""" "Vicino a me" (issue 17): by CAP or comune, or the signed-in person's own place; filters by kind
and level; clear messages for unknown input; a fixed number of queries whatever the rows."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from piazza.community.tests.conftest import sign_in
from piazza.discovery import cap
from piazza.discovery.tests.helpers import campaign, event
from piazza.people.models import Email, Person
from piazza.territory.models import Comune

pytestmark = pytest.mark.django_db
NEAR = reverse("discovery:near")


def test_cap_table_knows_bologna_and_modena() -> None:
    assert cap.istat_codes_of("40125") == ("037006",)
    assert "41121" in cap.caps_of("036023")
    assert cap.neighbouring_caps("40199")[0] == "40141"


def test_a_visitor_types_a_cap_and_sees_campaigns_events_and_circoli_nearby(tree: Any) -> None:
    campaign(tree.bologna_centro, "Tetto della Casa del Popolo")
    campaign(tree.bologna, "Festa provinciale", kind="mobilisation")
    campaign(tree.modena_nord, "Lontano da Bologna")
    event(tree.bologna_navile, "Gazebo al mercato")
    event(tree.modena_nord, "Assemblea a Modena", comune="036023")
    page = Client().get(NEAR, {"q": "40125"}).content.decode()
    assert "Vicino a Bologna (BO)." in page
    assert "Tetto della Casa del Popolo" in page and "Festa provinciale" in page
    assert "Lontano da Bologna" not in page
    assert "Gazebo al mercato" in page and "Assemblea a Modena" not in page
    assert "Circolo PD Bologna Centro" in page and "Circolo PD Bologna Navile" in page
    assert "Circolo PD Modena Nord" not in page
    # where and how to meet the circolo: its next public event, with a map link
    assert "Via del Pratello 53" in page and "openstreetmap.org" in page
    assert f'name="territory" value="{tree.bologna_centro.pk}"' in page  # "Segui" the circolo
    assert f'name="territory" value="{tree.bologna.pk}"' in page  # and the federation


def test_by_comune_name_and_filters_by_kind_and_level(tree: Any) -> None:
    campaign(tree.bologna_centro, "Progetto del circolo")
    campaign(tree.bologna, "Mobilitazione provinciale", kind="mobilisation")
    client = Client()
    page = client.get(NEAR, {"q": "bologna", "tipo": "mobilisation"}).content.decode()
    assert "Mobilitazione provinciale" in page and "Progetto del circolo" not in page
    page = client.get(NEAR, {"q": "Bologna", "livello": "circolo"}).content.decode()
    assert "Progetto del circolo" in page and "Mobilitazione provinciale" not in page
    page = client.get(NEAR, {"q": "Bologna", "livello": "federation"}).content.decode()
    assert "Mobilitazione provinciale" in page and "Progetto del circolo" not in page
    assert "Circolo PD Bologna Centro" not in page  # circoli listed only at the circolo level
    page = client.get(NEAR, {"q": "Bologna", "tipo": "nonsense"}).content.decode()  # unknown filter: ignored
    assert "Mobilitazione provinciale" in page and "Progetto del circolo" in page


@pytest.mark.parametrize(
    ("typed", "message", "suggestion"),
    [
        ("40199", "Il CAP 40199 non corrisponde a nessun comune", "40141"),
        ("4012", "Un CAP ha cinque cifre: «4012» ne ha 4", ""),
        ("Bolgna", "Non troviamo un comune che si chiami «Bolgna»", "Bologna"),
    ],
)
def test_unknown_cap_or_comune_gets_a_clear_message_and_suggestions(
    tree: Any, typed: str, message: str, suggestion: str
) -> None:
    response = Client().get(NEAR, {"q": typed})
    page = response.content.decode()
    assert response.status_code == 400
    assert message in page
    if suggestion:
        assert f"?q={suggestion}" in page


def test_signed_in_person_sees_their_own_place_without_typing(
    tree: Any, django_capture_on_commit_callbacks: Any
) -> None:
    person = Person.objects.create(
        first_name="Anna",
        last_name="Rossi",
        territory=tree.modena_nord,
        residence_comune=Comune.objects.get(istat_code="036023"),
    )
    Email.objects.create(person=person, value="anna.rossi@example.org", primary=True)
    campaign(tree.modena_nord, "Orto condiviso")
    client = Client()
    sign_in(client, "anna.rossi@example.org", django_capture_on_commit_callbacks)
    page = client.get(NEAR).content.decode()
    assert "il tuo comune di residenza" in page and "Orto condiviso" in page


def test_home_page_offers_near_me(tree: Any) -> None:
    page = Client().get(reverse("web:home")).content.decode()
    assert f'action="{NEAR}"' in page and "Vicino a te" in page


def _queries(q: str) -> int:
    client = Client()
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(NEAR, {"q": q}).status_code == 200
    return len(ctx.captured_queries)


def test_query_count_does_not_grow_with_rows(tree: Any) -> None:
    """No N+1: the page costs the same with 1 or 12 campaigns, events and circoli' comuni."""
    campaign(tree.bologna_centro, "Uno")
    event(tree.bologna_centro, "Evento uno")
    _queries("40125")  # warm the CAP table and the session
    few = _queries("40125")
    for i in range(11):
        campaign(tree.bologna_navile if i % 2 else tree.bologna, f"Raccolta {i}")
        event(tree.bologna_navile, f"Evento {i}", days=4 + i)
    many = _queries("40125")
    assert many == few
    assert few <= 8
