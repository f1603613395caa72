"""`__any` (ADR 0045): the same rows as `__in`, in one statement whose text does not grow with
the list, for text, date, id and foreign-key columns."""

import datetime as dt

import pytest
from django.db import connection

from piazza.people.actions import person as person_actions
from piazza.people.models import Email, Person

pytestmark = pytest.mark.django_db


def test_any_finds_what_in_finds(tree, mario_data):
    mario = person_actions.create_person(actor=None, data=mario_data, circolo=tree.bologna_centro)
    anna = person_actions.create_person(
        actor=None,
        data={"first_name": "Anna", "last_name": "Neri", "birth_date": "01/02/1990", "emails": ["anna@example.org"]},
        circolo=tree.bologna_centro,
    )
    cases = [
        ("codice_fiscale_canonical", [mario.codice_fiscale_canonical, "NOTACODE", None]),
        ("birth_date", {dt.date(1985, 3, 12): 1, dt.date(1990, 2, 1): 2, dt.date(2000, 1, 1): 3}),
        ("pk", [anna.pk, anna.pk, 10**12]),
        ("search_name", ["neri anna", *(f"nessuno {i}" for i in range(3000))]),
    ]
    for name, values in cases:
        expected = set(Person.objects.filter(**{f"{name}__in": values}).values_list("pk", flat=True))
        assert set(Person.objects.filter(**{f"{name}__any": values}).values_list("pk", flat=True)) == expected, name
        assert expected
    emails = set(Email.objects.filter(person_id__any=[mario.pk, anna.pk]).values_list("value", flat=True))
    assert emails == {"mario.rossi@example.org", "anna@example.org"}
    assert not Person.objects.filter(pk__any=[]).exists()


def test_any_sends_the_list_as_one_parameter():
    """PostgreSQL: 3,000 values are one array parameter, not 3,000 placeholders (P6)."""
    if connection.vendor != "postgresql":
        pytest.skip("one array parameter on PostgreSQL only")
    values = [f"X{i}" for i in range(3000)]
    sql, params = Person.objects.filter(codice_fiscale_canonical__any=values).query.sql_with_params()
    assert "= ANY(%s)" in sql
    assert params == (values,)
    _sql, params = Person.objects.filter(codice_fiscale_canonical__in=values).query.sql_with_params()
    assert len(params) == 3000  # what `__in` sends
