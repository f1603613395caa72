"""Rule D2 / M19 / M20: the shipped ISTAT list loads completely and builds the tree."""

import csv
import datetime as dt

import pytest
from django.db import connection

from piazza.territory.loading import ISTAT_FILE, load_territory
from piazza.territory.models import Comune, Kind, Level, Territory


def _file_rows():
    with ISTAT_FILE.open(encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


@pytest.mark.django_db
def test_every_comune_province_and_region_of_the_file_is_loaded(tree):
    rows = _file_rows()
    # the ISTAT list of autumn 2023 (7,901) + five fusions to 21 February 2026 + six comuni
    # merged away since 2020, kept with their end date (rule D2)
    assert Comune.objects.count() == len(rows) == 7912
    assert Comune.objects.filter(valid_to__isnull=True).count() == 7894
    assert set(Comune.objects.values_list("istat_code", flat=True)) == {r["istat_code"] for r in rows}
    provinces = {r["province_code"] for r in rows}
    federations = Territory.objects.filter(level=Level.FEDERATION).exclude(kind=Kind.ABROAD_AREA)
    assert set(federations.values_list("code", flat=True)) == provinces
    assert not Comune.objects.filter(federation__isnull=True).exists()
    regions = {r["region_code"] for r in rows}
    assert len(regions) == 20
    # 19 regional unions + the provincial unions of Trento and Bolzano (rule M19) + abroad (M20)
    assert Territory.objects.filter(level=Level.REGION, kind=Kind.REGION).count() == 19
    assert set(Territory.objects.filter(kind=Kind.PROVINCIAL_UNION).values_list("code", flat=True)) == {"021", "022"}
    abroad = Territory.objects.get(kind=Kind.ABROAD)
    assert abroad.children.filter(kind=Kind.ABROAD_AREA).count() == 4


@pytest.mark.django_db
def test_comune_resolves_to_federation_and_its_circoli(tree):
    bologna = Comune.objects.get(istat_code="037006")
    assert bologna.belfiore == "A944"
    assert bologna.federation == tree.bologna
    assert set(bologna.circoli.all()) == {tree.bologna_centro, tree.bologna_navile}
    assert tree.bologna_centro.is_within(tree.emilia)
    assert not tree.bologna_centro.is_within(tree.modena)


@pytest.mark.django_db
def test_loading_twice_changes_nothing_and_keeps_circoli(tree):
    before = Territory.objects.count()
    report = load_territory()
    assert report.comuni_created == 0
    assert report.comuni_updated == 0
    assert Territory.objects.count() == before
    assert tree.bologna_centro.comuni.count() == 1


@pytest.mark.django_db
def test_merged_comuni_keep_their_validity_dates(tree):
    lirio = Comune.objects.get(belfiore="E608")
    assert lirio.valid_to == dt.date(2026, 1, 31)
    assert lirio.successor == Comune.objects.get(name="Montalto Pavese")
    assert Comune.objects.filter(valid_to__isnull=False).count() == 18
    # every comune that ended went somewhere, and the chain ends in a comune in force
    assert not Comune.objects.filter(valid_to__isnull=False, successor__isnull=True).exists()
    assert all(c.current().valid_to is None for c in Comune.objects.filter(successor__isnull=False))


@pytest.mark.postgres
@pytest.mark.django_db
def test_a_comune_typed_by_name_is_found_through_the_upper_name_index(tree):
    """Issue 14: the donation and join forms look comuni up with `name__iexact`; the index must serve it."""
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        plan = Comune.objects.filter(name__iexact="bologna").explain()
    assert "comune_name_upper" in plan
