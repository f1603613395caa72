"""Convention 11 swept over the API (issue 16): a key of one circolo opens every API route with
the ids of every other territory's objects and never gets one; lists come back empty.

The routes are read from the OpenAPI schema, so a new endpoint fails here until it is mapped.
"""

from __future__ import annotations

import datetime as dt
import re
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from piazza.api.actions import create_api_key
from piazza.api.models import Permission
from piazza.api.v1 import api
from piazza.events.actions import EventData, create_event, rsvp_to_event
from piazza.events.models import Event, Rsvp
from piazza.funding.models import Campaign, Donation
from piazza.membership.models import Membership
from piazza.outreach.models import Broadcast, BroadcastStatus, Delivery
from piazza.people.models import Person, Segment, Tag
from piazza.petitions.actions import SignatureInput, create_petition, sign_petition
from piazza.petitions.models import Petition, Signature
from piazza.territory.models import Comune, Kind, Level, Role, Territory
from piazza.territory.testing import make_official

from .conftest import osdi

pytestmark = pytest.mark.django_db

# Which objects' ids each detail route takes (a tuple per path when it takes two).
DETAIL_IDS: dict[str, Any] = {
    "/events/{event_id}": lambda: Event.objects.values_list("pk", flat=True),
    "/events/{event_id}/attendances": lambda: Event.objects.values_list("pk", flat=True),
    "/events/{event_id}/attendances/{attendance_id}": lambda: Rsvp.objects.values_list("event_id", "pk"),
    "/petitions/{petition_id}": lambda: Petition.objects.values_list("pk", flat=True),
    "/petitions/{petition_id}/signatures": lambda: Petition.objects.values_list("pk", flat=True),
    "/petitions/{petition_id}/signatures/{signature_id}": lambda: Signature.objects.values_list("petition_id", "pk"),
    "/messages/{message_id}": lambda: Broadcast.objects.values_list("pk", flat=True),
    "/people/{person_id}": lambda: Person.objects.values_list("pk", flat=True),
    "/people/{person_id}/taggings": lambda: Person.objects.values_list("pk", flat=True),
    "/tags/{tag_id}/taggings": lambda: Tag.objects.values_list("pk", flat=True),
    "/lists/{list_id}": lambda: Segment.objects.values_list("pk", flat=True),
    "/lists/{list_id}/items": lambda: Segment.objects.values_list("pk", flat=True),
    "/donations/{donation_id}": lambda: Donation.objects.values_list("pk", flat=True),
    "/fundraising_pages/{page_id}": lambda: Campaign.objects.values_list("pk", flat=True),
    "/piazza/memberships/{membership_id}": lambda: Membership.objects.values_list("pk", flat=True),
    "/piazza/circoli/{circolo_id}": lambda: Territory.objects.filter(level=Level.CIRCOLO).values_list("pk", flat=True)[
        :60
    ],
}
# Not personal and the same for every key: the vocabulary of tags.
SHARED = {"/", "/tags", "/tags/{tag_id}"}


def _routes(method: str = "get") -> list[str]:
    paths = api.get_openapi_schema()["paths"]
    return [p.removeprefix("/api/v1") or "/" for p, ops in paths.items() if method in ops]


# A valid body for each record helper taking another territory's object (the POST routes with ids).
HELPER_BODY = {"person": {"given_name": "Ivo", "family_name": "Sweep", "email_addresses": [{"address": "ivo@x.org"}]}}
HELPER_OBJECTS: dict[str, Any] = {
    "/events/{event_id}/attendances": lambda: Event.objects.values_list("pk", flat=True),
    "/petitions/{petition_id}/signatures": lambda: Petition.objects.values_list("pk", flat=True),
}


def _fill(route: str, ids: Any) -> str:
    values = ids if isinstance(ids, tuple) else (ids,)
    names = re.findall(r"{(\w+)}", route)
    assert len(names) == len(values), (route, ids)
    for name, value in zip(names, values, strict=True):
        route = route.replace("{" + name + "}", str(value))
    return route


def _activity(tree: Any) -> None:
    """Events with attendees, petitions with signatures, broadcasts with deliveries, in several
    territories (seed_demo makes none)."""
    organiser = make_official("sweep.eventi", tree.national, [Role.ORGANISATION, Role.COMMUNICATION])
    bologna = Comune.objects.get(name="Bologna")
    start = timezone.make_aware(dt.datetime(2026, 6, 12, 18, 0))
    segment = Segment.objects.create(name="Sweep", territory=tree.national, definition={})
    for i, node in enumerate((tree.bologna, tree.bologna_centro, tree.modena_nord, tree.milano)):
        event = create_event(
            actor=organiser,
            territory=node,
            data=EventData(
                title=f"Evento {i}",
                description="",
                starts_at=start,
                ends_at=start + dt.timedelta(hours=2),
                comune=bologna,
            ),
        )
        rsvp_to_event(event=event, first_name="Ada", last_name=f"Sweep{i}", email=f"ada{i}@example.org")
        petition = create_petition(
            actor=organiser, territory=node, title=f"Petizione {i}", text="Testo", target="Sindaco"
        )
        sign_petition(
            actor=None,
            petition=petition,
            data=SignatureInput(
                first_name="Bea",
                last_name=f"Sweep{i}",
                email=f"bea{i}@example.org",
                comune=bologna,
                postal_code="40121",
            ),
        )
        broadcast = Broadcast.objects.create(
            territory=node, segment=segment, subject=f"Notizie {i}", body="Testo", status=BroadcastStatus.SENT
        )
        Delivery.objects.create(broadcast=broadcast, person=Person.objects.all()[0], email="d@example.org")


def test_a_circolo_key_never_sees_another_territorys_objects(tree):
    call_command("seed_demo", people=40, stdout=StringIO())
    tag = Tag.objects.create(name="sweep")
    for person in Person.objects.all()[:10]:
        person.tags.add(tag)
    Segment.objects.create(name="Tutti", territory=tree.bologna, definition={})
    lonely = Territory(parent=tree.milano, level=Level.CIRCOLO, kind=Kind.THEMATIC, name="Circolo sweep API")
    lonely.save()
    _activity(tree)
    everything = list(Permission.values)

    def key(owner: Any, node: Territory) -> str:
        return create_api_key(
            actor=owner,
            territory=node,
            name="sweep",
            permissions=everything,
            expires_on=timezone.localdate() + dt.timedelta(days=5),
        )[1]

    lonely_token = key(make_official("sweep.api", lonely, list(Role.values)), lonely)
    national_token = key(make_official("sweep.api.nazionale", tree.national, list(Role.values)), tree.national)
    client = Client()

    routes = _routes()
    unmapped = [r for r in routes if "{" in r and r not in DETAIL_IDS and r not in SHARED]
    assert not unmapped, f"map these API routes in DETAIL_IDS: {unmapped}"
    leaks, reached, checked = [], set(), 0
    for route in routes:
        if route in SHARED:
            continue
        if "{" not in route:
            body = osdi(client, lonely_token, route).json()
            seen = {i for items in body["_embedded"].values() for item in items for i in item.get("identifiers", [])}
            assert seen <= {f"piazza:circolo-{lonely.pk}"}, (route, seen)
            if osdi(client, national_token, route).json()["total_records"]:
                reached.add(route)
            checked += 1
            continue
        for ids in set(DETAIL_IDS[route]()) - {lonely.pk}:
            path = _fill(route, ids)
            response = osdi(client, lonely_token, path)
            checked += 1
            if route not in reached and osdi(client, national_token, path).status_code == 200:
                reached.add(route)
            shared_tag = route == "/tags/{tag_id}/taggings" and response.status_code == 200
            if shared_tag and response.json()["total_records"] == 0:  # the tag is shared, its people are not
                continue
            if response.status_code != 404:
                leaks.append((path, response.status_code))
    # The record helpers: another territory's event or petition is not there (404), nothing written.
    helpers = [r for r in _routes("post") if "{" in r]
    assert sorted(helpers) == sorted(HELPER_OBJECTS), f"map these API helpers in HELPER_OBJECTS: {helpers}"
    written = (Rsvp.objects.count(), Signature.objects.count(), Person.objects.count())
    for route in helpers:
        for pk in HELPER_OBJECTS[route]():
            response = client.post(
                f"/api/v1{_fill(route, pk)}",
                HELPER_BODY,
                content_type="application/json",
                HTTP_OSDI_API_TOKEN=lonely_token,
            )
            checked += 1
            if response.status_code != 404:
                leaks.append((f"POST {_fill(route, pk)}", response.status_code))
    assert (Rsvp.objects.count(), Signature.objects.count(), Person.objects.count()) == written
    assert not leaks, leaks
    assert checked > 100
    # The ids were real: the national key reaches every route the lonely circolo was refused.
    expected = {
        "/people",
        "/people/{person_id}",
        "/lists/{list_id}",
        "/tags/{tag_id}/taggings",
        "/donations/{donation_id}",
        "/fundraising_pages/{page_id}",
        "/piazza/circoli/{circolo_id}",
        "/events",
        "/events/{event_id}",
        "/events/{event_id}/attendances",
        "/events/{event_id}/attendances/{attendance_id}",
        "/petitions",
        "/petitions/{petition_id}",
        "/petitions/{petition_id}/signatures",
        "/petitions/{petition_id}/signatures/{signature_id}",
        "/messages",
        "/messages/{message_id}",
    }
    if Membership.objects.exists():
        expected.add("/piazza/memberships/{membership_id}")
    assert expected <= reached, expected - reached
