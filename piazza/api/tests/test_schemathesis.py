"""Issue 16: a bounded schemathesis run against the OpenAPI schema with a real circolo key.

Every operation gets generated requests (valid and not); the answers must never be a 500, must
conform to the schema (status, content type, body) and must never name a person outside the
key's circolo (convention 11). Bounded by `max_examples` so the run stays well under a minute.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.utils import timezone
from hypothesis import HealthCheck, settings
from schemathesis.checks import content_type_conformance, not_a_server_error, response_schema_conformance

from piazza.api.actions import create_api_key
from piazza.api.models import Permission
from piazza.api.v1 import api
from piazza.events.actions import EventData, create_event, rsvp_to_event
from piazza.events.models import Rsvp
from piazza.outreach.models import Broadcast, BroadcastStatus
from piazza.people.actions.notices import ensure_default_notices
from piazza.people.models import Person, Segment, Tag
from piazza.petitions.actions import SignatureInput, create_petition, sign_petition
from piazza.petitions.models import Signature
from piazza.territory.models import Comune, Role
from piazza.territory.testing import make_official

from .conftest import make_person

schema = schemathesis.openapi.from_dict(api.get_openapi_schema())
schema.app = WSGIHandler()
PERSON_ID = re.compile(r"piazza:person-(\d+)")
ATTENDANCE_ID = re.compile(r"piazza:attendance-(\d+)")
SIGNATURE_ID = re.compile(r"piazza:signature-(\d+)")


@pytest.fixture
def fuzz_key(tree: Any) -> Iterator[str]:
    """A key of Bologna Centro holding every permission, with people inside and outside it."""
    # The in-process WSGI app would close the test's connection at the end of each request.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    ensure_default_notices()
    tag = Tag.objects.create(name="fuzz")
    for territory, name in (
        (tree.bologna_centro, "Dentro"),
        (tree.bologna_navile, "Fuori"),
        (tree.modena_nord, "Lontano"),
    ):
        make_person(territory, "Persona", name, f"{name.lower()}@example.org").tags.add(tag)
    Segment.objects.create(name="Tutti", territory=tree.bologna_centro, definition={})
    owner = make_official("fuzz", tree.bologna_centro, list(Role.values))
    # An event, a petition and a broadcast inside the circolo and outside it, with attendees and signers.
    organiser = make_official("fuzz.eventi", tree.bologna, list(Role.values))
    bologna = Comune.objects.get(name="Bologna")
    start = timezone.make_aware(dt.datetime(2026, 6, 12, 18, 0))
    for node, name in ((tree.bologna_centro, "dentro"), (tree.bologna_navile, "fuori")):
        event = create_event(
            actor=organiser,
            territory=node,
            data=EventData(
                title=name, description="", starts_at=start, ends_at=start + dt.timedelta(hours=1), comune=bologna
            ),
        )
        rsvp_to_event(event=event, first_name="Ada", last_name=name, email=f"ada.{name}@example.org")
        petition = create_petition(actor=organiser, territory=node, title=name, text="Testo", target="Sindaco")
        sign_petition(
            actor=None,
            petition=petition,
            data=SignatureInput(
                first_name="Bea", last_name=name, email=f"bea.{name}@example.org", comune=bologna, postal_code="40121"
            ),
        )
        Broadcast.objects.create(
            territory=node, segment=Segment.objects.get(), subject=name, body="Testo", status=BroadcastStatus.SENT
        )
    _, token = create_api_key(
        actor=owner,
        territory=tree.bologna_centro,
        name="fuzz",
        permissions=list(Permission.values),
        expires_on=timezone.localdate() + dt.timedelta(days=9),
    )
    try:
        yield token
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.mark.django_db
@schema.parametrize()
@settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_against_its_schema(case: Any, fuzz_key: str, tree: Any) -> None:
    response = case.call(headers={"OSDI-API-Token": fuzz_key})
    case.validate_response(
        response,
        checks=[not_a_server_error, response_schema_conformance, content_type_conformance],
        headers={"OSDI-API-Token": fuzz_key},
    )
    if response.status_code == 200:
        named = {int(pk) for pk in PERSON_ID.findall(json.dumps(response.json()))}
        inside = set(
            Person.objects.filter(territory__path__startswith=tree.bologna_centro.path).values_list("pk", flat=True)
        )
        assert named <= inside, f"{case.method} {case.formatted_path} named people outside the key's circolo"
        text = json.dumps(response.json())
        centro = tree.bologna_centro.path
        attendees = set(Rsvp.objects.filter(event__territory__path__startswith=centro).values_list("pk", flat=True))
        signers = set(
            Signature.objects.filter(petition__territory__path__startswith=centro).values_list("pk", flat=True)
        )
        assert {int(pk) for pk in ATTENDANCE_ID.findall(text)} <= attendees, f"{case.formatted_path}: attendees"
        assert {int(pk) for pk in SIGNATURE_ID.findall(text)} <= signers, f"{case.formatted_path}: signers"
