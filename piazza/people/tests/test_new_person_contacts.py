"""A new person's e-mails, phones and tags are written without reading them back (issue 14, P8, ADR 0050).

`find_or_create_person` and `create_person` insert the person and then its contacts and tags in the
same transaction: nothing of the person's exists to read, so none is read. What is stored must be
what the reads made before: every value once, the first of each kind primary, the tags attached."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from piazza.people.actions import person as person_actions
from piazza.people.models import Person

pytestmark = pytest.mark.django_db


def _reads_of_the_new_persons_own(captured: CaptureQueriesContext) -> list[str]:
    """SELECTs of e-mails, phones or tags by person (the candidates' match by value is not one)."""
    own = ('"people_email"."person_id" =', '"people_phone"."person_id" =', '"people_person_tags"."person_id" =')
    return [
        q["sql"] for q in captured.captured_queries if q["sql"].startswith("SELECT") and any(o in q["sql"] for o in own)
    ]


@pytest.mark.parametrize("how", ["find_or_create_person", "create_person"])
def test_a_new_persons_contacts_and_tags_are_stored_without_reading_them_back(tree, national_admin, mario_data, how):
    data = {
        **mario_data,
        "emails": ["Mario.Rossi@Example.org", "mario@example.org", "MARIO@example.org"],  # the last is a repeat
        "phones": ["333 123 4567", "051 123456"],
        "tags": ["volontario", "donatore", "volontario"],
    }
    with CaptureQueriesContext(connection) as captured:
        person = getattr(person_actions, how)(actor=national_admin, data=data, circolo=tree.bologna_centro)
    assert _reads_of_the_new_persons_own(captured) == []
    person = Person.objects.get(pk=person.pk)
    assert list(person.emails.order_by("pk").values_list("value", "primary")) == [
        ("mario.rossi@example.org", True),
        ("mario@example.org", False),
    ]
    assert list(person.phones.order_by("pk").values_list("value", "primary")) == [
        ("+393331234567", True),
        ("+39051123456", False),
    ]
    assert sorted(person.tags.values_list("name", flat=True)) == ["donatore", "volontario"]


def test_a_matched_person_still_gets_only_what_it_lacks(tree, national_admin, mario_data):
    """The person already stored is read (it has contacts): nothing is added twice, its primary stays."""
    first = person_actions.create_person(actor=national_admin, data={**mario_data, "tags": ["donatore"]})
    again = person_actions.find_or_create_person(
        actor=national_admin,
        data={**mario_data, "emails": ["nuova@example.org", "mario.rossi@example.org"], "tags": ["donatore", "socio"]},
    )
    assert again.pk == first.pk and not again.was_created
    assert list(first.emails.order_by("pk").values_list("value", "primary")) == [
        ("mario.rossi@example.org", True),
        ("nuova@example.org", False),
    ]
    assert list(first.phones.values_list("value", flat=True)) == ["+393331234567"]
    assert sorted(first.tags.values_list("name", flat=True)) == ["donatore", "socio"]
