"""Dates of people read on the Italian calendar, never on the server's (UTC) one.

Just after midnight in Rome it is still yesterday in UTC: a birthday, "today" and "this year" are
Italian. Each test freezes the clock in that half hour, where `date.today()` gives the wrong day.
"""

import datetime as dt

import pytest

from piazza.people.actions import consent as consent_actions
from piazza.people.actions import person as person_actions
from piazza.people.codice_fiscale import make_codice_fiscale, validate_codice_fiscale
from piazza.people.models import Person
from piazza.people.queries import apply_definition, contact_permission
from piazza.people.validation import clean_person_data, parse_date

pytestmark = pytest.mark.django_db


@pytest.mark.clock("2028-03-01 00:30")  # 29 February 2028, 23:30 UTC
def test_an_age_filter_counts_the_birthday_of_today_in_italy(tree):
    eighteen_today = person_actions.create_person(
        actor=None,
        data={"first_name": "Nina", "last_name": "Galli", "birth_date": "01/03/2010"},
        circolo=tree.bologna_centro,
    )
    assert list(apply_definition(Person.objects.all(), {"age_min": 18})) == [eighteen_today]
    assert not apply_definition(Person.objects.all(), {"age_max": 17}).exists()


@pytest.mark.clock("2027-01-01 00:30")  # 31 December 2026, 23:30 UTC
def test_this_years_two_digit_dates_and_codes_belong_to_this_century():
    assert parse_date("01/01/27") == dt.date(2027, 1, 1)
    assert clean_person_data({"first_name": "Ada", "last_name": "Neri", "birth_date": "01/01/2027"}).values[
        "birth_date"
    ] == dt.date(2027, 1, 1)
    code = make_codice_fiscale(
        first_name="Ada", last_name="Neri", sex="F", birth_date=dt.date(2027, 1, 1), belfiore="A944"
    )
    assert validate_codice_fiscale(code).birth_date == dt.date(2027, 1, 1)


@pytest.mark.clock("2027-01-01 00:30")  # 31 December 2026, 23:30 UTC
def test_a_consent_given_after_midnight_is_dated_on_the_italian_day(tree, mario_data):
    person = person_actions.create_person(actor=None, data=mario_data)
    consent_actions.record_consent(actor=None, person=person, purpose="newsletter", channel="web", text_version="v1")
    assert "dato il 01/01/2027" in contact_permission(person, "newsletter").reason
    consent_actions.withdraw_consent(actor=None, person=person, purpose="newsletter", channel="web")
    assert "revocato il 01/01/2027" in contact_permission(person, "newsletter").reason
