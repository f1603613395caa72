"""Reads compiled once per process (ADR 0034): the same rows and objects as the ORM, the values
bound as parameters (wildcards and quotes are data), compiled SQL reused, and a lookup that
transforms its value left on the ORM."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.db import connection
from django.db.models import QuerySet
from django.test.utils import CaptureQueriesContext

from piazza.core.prepared import PreparedRead, prepared_read
from piazza.funding.models import Campaign
from piazza.funding.tests.conftest import build_live_campaign
from piazza.territory.models import Comune, Role
from piazza.territory.testing import make_official

pytestmark = pytest.mark.django_db

built: list[tuple[Any, ...]] = []


@prepared_read(Campaign)
def campaign_by_slug(slug: str) -> QuerySet[Campaign]:
    built.append((slug,))
    return Campaign.objects.public().select_related("territory", "candidacy").filter(slug=slug)[:1]


@pytest.fixture
def circolo_official(tree):
    return make_official("tesoriere.centro", tree.bologna_centro, [Role.ORGANISATION, Role.TREASURY])


@pytest.fixture
def federation_official(tree):
    return make_official("federazione.bo", tree.bologna, [Role.ORGANISATION, Role.TREASURY])


def _comune(istat: str, name: str, **kw: Any) -> Comune:
    fields = {"belfiore": "Z999", "province_code": "037", "province_name": "Bologna", "province_sigla": "BO"}
    fields.update(region_code="08", region_name="Emilia-Romagna", **kw)
    return Comune.objects.create(istat_code=istat, name=name, **fields)


def _fields(obj: Any) -> dict[str, Any]:
    return {f.attname: getattr(obj, f.attname) for f in type(obj)._meta.concrete_fields}


def test_a_prepared_read_gives_the_orms_objects_with_their_related_rows(tree, circolo_official, federation_official):
    campaign = build_live_campaign(tree, circolo_official, federation_official)
    read: PreparedRead[Campaign] = PreparedRead(
        Campaign, lambda slug: Campaign.objects.public().select_related("territory", "candidacy").filter(slug=slug)[:1]
    )
    if connection.vendor == "postgresql":
        assert read.prepared(campaign.slug)
    found = read.first(campaign.slug)
    expected = Campaign.objects.select_related("territory").get(pk=campaign.pk)
    assert found is not None and _fields(found) == _fields(expected)
    assert found._state.db == "default" and not found._state.adding
    with CaptureQueriesContext(connection) as queries:
        assert _fields(found.territory) == _fields(expected.territory)  # select_related: no query
        assert found.candidacy is None
    assert len(queries) == 0
    assert read.first("non-esiste") is None


def test_the_sql_is_compiled_once_and_then_only_bound(tree, circolo_official, federation_official):
    campaign = build_live_campaign(tree, circolo_official, federation_official)
    other = build_live_campaign(tree, circolo_official, federation_official, title="Una biblioteca per il quartiere")
    built.clear()
    campaign_by_slug._local.cache = {}  # type: ignore[attr-defined]
    for _ in range(3):
        first, second = campaign_by_slug.first(campaign.slug), campaign_by_slug.first(other.slug)
        assert first is not None and first.pk == campaign.pk
        assert second is not None and second.pk == other.pk
    if connection.vendor == "postgresql":
        assert len(built) == 2  # the two probe compilations, none per call
    else:
        assert len(built) >= 2


def test_a_value_is_data_wildcards_and_quotes_included(db):
    _comune("Z90001", "Piazzaprova")
    _comune("Z90002", "Sant'Agata Piazzaprova")
    read: PreparedRead[Comune] = prepared_read(Comune)(lambda name: Comune.objects.filter(name__iexact=name)[:2])
    assert [c.name for c in read.rows("PIAZZAPROVA")] == ["Piazzaprova"]
    assert [c.name for c in read.rows("sant'agata piazzaprova")] == ["Sant'Agata Piazzaprova"]
    for typed in ("piazzaprova", "Piazzaprov%", "_iazzaprova", "%", "x' OR '1'='1", "Piazzaprova\\", "Sant'Agata%"):
        assert [c.name for c in read.rows(typed)] == [c.name for c in Comune.objects.filter(name__iexact=typed)[:2]]
    assert read.prepared("x") == (connection.vendor == "postgresql")  # SQLite escapes LIKE wildcards: the ORM


def test_a_lookup_that_transforms_its_value_stays_on_the_orm(db):
    _comune("Z90001", "Piazzaprova")
    read: PreparedRead[Comune] = PreparedRead(Comune, lambda part: Comune.objects.filter(name__icontains=part)[:2])
    assert not read.prepared("zzapro")
    assert [c.name for c in read.rows("zzapro")] == ["Piazzaprova"]
    assert read.rows("%") == []  # a wildcard typed is a character, as the ORM escapes it


def test_arguments_of_other_types_take_the_orm(db):
    _comune("Z90001", "Piazzaprova", valid_to=dt.date(2020, 1, 1))
    read: PreparedRead[Comune] = PreparedRead(
        Comune, lambda current: Comune.objects.filter(name="Piazzaprova", valid_to__isnull=current)
    )
    assert not read.prepared(True)  # a bool is not an int here: its SQL changes with the value
    assert read.rows(True) == []
    assert [c.istat_code for c in read.rows(False)] == ["Z90001"]
