"""Issue 10, convention 16: a donation typed with a known donor's codice fiscale and a stranger's
email never writes to the donor's record (people.find_or_create_person for an anonymous actor);
the typed email stays on the donation row, for an official to merge if it is really the donor.
A donation matched by code is attached without writing (funding finds it by code); one matched by
email and name went through the old write of `find_or_create_person`."""

from __future__ import annotations

import datetime as dt

import pytest
from django.forms.models import model_to_dict
from freezegun import freeze_time

from piazza.funding.models import Donation
from piazza.funding.tests.flows import donate_through_pages, give
from piazza.people.actions.person import find_or_create_person
from piazza.people.models import Person

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("check_ledger")]


def _record(person: Person) -> dict:
    person = Person.objects.get(pk=person.pk)
    return {
        "fields": model_to_dict(person),
        "emails": sorted(person.emails.values_list("value", "primary")),
        "phones": sorted(person.phones.values_list("value", "primary")),
        "consents": list(person.consents.values_list("pk", flat=True)),
        "tags": sorted(person.tags.values_list("name", flat=True)),
    }


@freeze_time(dt.datetime(2026, 3, 16, 11, 0, tzinfo=dt.UTC))
def test_a_stranger_with_a_donors_code_leaves_the_donors_record_unchanged(live_campaign, client):
    donor = give(live_campaign, 2500, n=7).person
    assert donor is not None
    before = _record(donor)

    # The stranger types the donor's name and codice fiscale (flows n=7) with his own email.
    stranger = give(live_campaign, 1000, n=7, email="intruso@example.org")
    assert stranger.person_id == donor.pk  # the same person for the register (F1 totals)…
    assert stranger.email == "intruso@example.org"  # …the typed email stays on the donation row
    assert _record(donor) == before  # …and nothing of the donor's record changed


@freeze_time(dt.datetime(2026, 3, 16, 11, 0, tzinfo=dt.UTC))
def test_a_donation_matching_a_person_by_email_and_name_writes_nothing_to_her(live_campaign, client):
    """Giulia Rossi is on file with her email and no codice fiscale (she opened a fundraising
    page). A stranger gives with her name and email and a codice fiscale: before the fix, the
    match by email and name wrote the typed code onto her record (and any new contact)."""
    giulia = find_or_create_person(
        actor=None,
        source="donation",
        data={"first_name": "Giulia", "last_name": "Rossi", "emails": ["giulia@example.org"]},
    )
    before = _record(giulia)
    donate_through_pages(client, live_campaign, email="giulia@example.org")  # the form's Giulia Rossi + code
    donation = Donation.objects.get()
    assert donation.codice_fiscale and donation.email == "giulia@example.org"  # typed data stay on the row
    assert _record(giulia) == before
