"""Rule D2: a newer ISTAT list never loses a person's comune.

The database is put back as the 2020 list left it (Montecopiolo in the province of Pesaro e
Urbino under code 041033; Castegnero and Nanto in force; no Castegnero Nanto), with people and a
circolo pointing at those comuni; then the shipped list is loaded over it.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.management import call_command

from piazza.funding.queries import comuni_named
from piazza.people.models import Person
from piazza.people.validation import find_comune
from piazza.territory.loading import load_territory
from piazza.territory.models import Comune, Level, Territory


def _as_in_2020(tree) -> dict[str, object]:
    pesaro = Territory.objects.get(level=Level.FEDERATION, code="041")
    montecopiolo = Comune.objects.get(belfiore="F478")
    Comune.objects.filter(pk=montecopiolo.pk).update(
        istat_code="041033",
        province_code="041",
        province_name="Pesaro e Urbino",
        province_sigla="PU",
        region_code="11",
        region_name="Marche",
        federation=pesaro,
    )
    Comune.objects.filter(istat_code__in=["024027", "024071"]).update(valid_to=None, successor=None)
    Comune.objects.filter(istat_code="024129").delete()
    nanto = Comune.objects.get(istat_code="024071")
    circolo = Territory(
        parent=Territory.objects.get(level=Level.FEDERATION, code="024"),
        level=Level.CIRCOLO,
        kind="territorial",
        name="Circolo dei Berici",
    )
    circolo.save()
    circolo.comuni.set([nanto])
    born = Person.objects.create(
        first_name="Ada",
        last_name="Colli",
        birth_date=dt.date(1950, 3, 1),
        birth_comune=montecopiolo,
        residence_comune=nanto,
        territory=circolo,
    )
    return {"montecopiolo": montecopiolo, "nanto": nanto, "circolo": circolo, "person": born}


@pytest.mark.django_db
def test_the_shipped_list_updates_a_2020_database_without_losing_anyone(tree):
    old = _as_in_2020(tree)
    report = load_territory()
    assert report.comuni_recoded == 1
    assert report.comuni_created == 1  # Castegnero Nanto
    assert report.comuni_not_in_file == 0

    person = Person.objects.get(pk=old["person"].pk)
    # recoded in place: same row, new code, new province and federation
    assert person.birth_comune_id == old["montecopiolo"].pk
    assert person.birth_comune.istat_code == "099030"
    assert person.birth_comune.province_sigla == "RN"
    assert person.birth_comune.federation.code == "099"
    # merged away: the person still lives in Nanto, which now ends and points to its successor
    nanto = person.residence_comune
    assert nanto.pk == old["nanto"].pk
    assert nanto.valid_to == dt.date(2026, 2, 20)
    assert nanto.current().name == "Castegnero Nanto"
    # the circolo that covered Nanto covers the new comune too, so its new residents find it
    assert set(old["circolo"].comuni.values_list("istat_code", flat=True)) == {"024071", "024129"}
    assert report.circoli_extended >= 1

    again = load_territory()
    assert (again.comuni_created, again.comuni_updated, again.comuni_recoded, again.circoli_extended) == (0, 0, 0, 0)


@pytest.mark.django_db
def test_a_dry_run_reports_and_writes_nothing(tree):
    _as_in_2020(tree)
    report = load_territory(dry_run=True)
    assert (report.comuni_recoded, report.comuni_created) == (1, 1)
    assert Comune.objects.filter(istat_code="041033").exists()
    assert not Comune.objects.filter(istat_code="024129").exists()


@pytest.mark.django_db
def test_the_command_says_what_changed_in_words(tree, capsys):
    _as_in_2020(tree)
    call_command("load_territory", "--dry-run")
    out = capsys.readouterr().out
    assert "Prova (nulla è stato scritto)" in out
    assert "con nuovo codice ISTAT 1" in out
    assert Comune.objects.filter(istat_code="041033").exists()


@pytest.mark.django_db
def test_names_of_merged_comuni_still_find_their_place(tree):
    # a merged comune and the new one share the name Sovizzo: the one in force is chosen
    assert find_comune("Sovizzo").istat_code == "024128"
    # a comune that no longer exists answers, for "near me", with the comune it became
    assert [c.name for c in comuni_named("Nanto")] == ["Castegnero Nanto"]
    assert [c.name for c in comuni_named("Castegnero Nanto")] == ["Castegnero Nanto"]
