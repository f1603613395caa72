"""Convention 11 swept over the API (issue 16): a key of one circolo opens every API route with
the ids of every other territory's objects and never gets one; lists come back empty.

The routes are read from the OpenAPI schema, so a new endpoint fails here until it is mapped.
"""

from __future__ import annotations

import datetime as dt
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from piazza.api.actions import create_api_key
from piazza.api.models import Permission
from piazza.api.v1 import api
from piazza.funding.models import Campaign, Donation
from piazza.membership.models import Membership
from piazza.people.models import Person, Segment, Tag
from piazza.territory.models import Kind, Level, Role, Territory
from piazza.territory.testing import make_official

from .conftest import osdi

pytestmark = pytest.mark.django_db

# Which objects' ids each detail route takes.
DETAIL_IDS: dict[str, Any] = {
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


def _routes() -> list[str]:
    paths = api.get_openapi_schema()["paths"]
    return [p.removeprefix("/api/v1") or "/" for p, ops in paths.items() if "get" in ops]


def test_a_circolo_key_never_sees_another_territorys_objects(tree):
    call_command("seed_demo", people=40, stdout=StringIO())
    tag = Tag.objects.create(name="sweep")
    for person in Person.objects.all()[:10]:
        person.tags.add(tag)
    Segment.objects.create(name="Tutti", territory=tree.bologna, definition={})
    lonely = Territory(parent=tree.milano, level=Level.CIRCOLO, kind=Kind.THEMATIC, name="Circolo sweep API")
    lonely.save()
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
        name = route[route.index("{") + 1 : route.index("}")]
        for pk in set(DETAIL_IDS[route]()) - {lonely.pk}:
            path = route.replace("{" + name + "}", str(pk))
            response = osdi(client, lonely_token, path)
            checked += 1
            if route not in reached and osdi(client, national_token, path).status_code == 200:
                reached.add(route)
            shared_tag = route == "/tags/{tag_id}/taggings" and response.status_code == 200
            if shared_tag and response.json()["total_records"] == 0:  # the tag is shared, its people are not
                continue
            if response.status_code != 404:
                leaks.append((path, response.status_code))
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
    }
    if Membership.objects.exists():
        expected.add("/piazza/memberships/{membership_id}")
    assert expected <= reached, expected - reached
