"""Issue 10, finding 5 (rule G1): a donation form must not tell anyone what a named person gave.

The attack: a gift of €99,999.99 typed with a donor's name and codice fiscale answered "Quest'anno
hai già donato 82,00 €". The cap still applies; the page says nothing about the amounts and the
figures go to the address on record of the person with that code. The form is throttled per
client IP and per codice fiscale (frozen time, so that the window is explicit).
"""

import datetime as dt

import pytest
from django.core import mail
from django.test import override_settings
from django.urls import reverse
from freezegun import freeze_time

from piazza.core.models import AuditEntry, AuditKind
from piazza.funding.models import Donation
from piazza.funding.tests.flows import codice_fiscale_for, form_data, give
from piazza.payments.models import Payment
from piazza.people.models import Person

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("check_ledger")]

NOW = dt.datetime(2026, 6, 10, 11, 0, 0)


def post(client, campaign, **over):
    return client.post(reverse("funding:donate", args=[campaign.slug]), form_data(campaign, **over))


@freeze_time(NOW)
def test_a_gift_above_the_cap_with_a_donors_code_reveals_nothing(
    client, live_campaign, django_capture_on_commit_callbacks
):
    donor = give(live_campaign, 8200)  # Giulia Rossi, registered address giulia.0@example.org
    assert donor.person is not None
    registered = donor.person.emails.get().value
    before = (Donation.objects.count(), Payment.objects.count(), Person.objects.count())

    with django_capture_on_commit_callbacks(execute=True):
        response = post(client, live_campaign, preset=None, custom_amount="99999,99", email="curioso@example.org")

    page = response.content.decode()
    assert response.status_code == 400
    assert "supera il limite annuale" in page and "ti abbiamo scritto all&#x27;indirizzo registrato" in page
    for secret in ("82,00", "82.00", "99.918", "99918", "già donato", "Rossi Giulia"):
        assert secret not in page
    # Nothing half-written; the refusal is audited.
    assert (Donation.objects.count(), Payment.objects.count(), Person.objects.count()) == before
    assert not Person.objects.filter(emails__value="curioso@example.org").exists()
    assert AuditEntry.objects.filter(
        action="funding.submit_donation", kind=AuditKind.DENIED, data__code="annual_cap"
    ).exists()
    # The real donor learns the figures at the registered address; the typed one gets nothing.
    assert [m.to for m in mail.outbox if "non è stata accettata" in m.subject] == [[registered]]
    body = next(m.body for m in mail.outbox if "non è stata accettata" in m.subject)
    assert "82,00" in body and "99.918,00" in body
    assert not any("curioso@example.org" in m.to for m in mail.outbox)


@freeze_time(NOW)
def test_a_gift_above_the_cap_by_itself_says_the_cap_and_nothing_else(client, live_campaign):
    first, last, code = codice_fiscale_for(3)
    response = post(
        client,
        live_campaign,
        preset=None,
        custom_amount="100000,01",
        first_name=first,
        last_name=last,
        codice_fiscale=code,
    )
    assert response.status_code == 400
    assert "100.000,00" in response.content.decode() and "registrato" not in response.content.decode()
    assert not mail.outbox and not Donation.objects.exists()


@freeze_time(NOW)
@override_settings(PUBLIC_FORM_THROTTLE_PER_IP=1000, PUBLIC_FORM_THROTTLE_PER_CODE=3)
def test_the_donation_form_is_throttled_per_codice_fiscale(client, live_campaign):
    answers = [
        post(client, live_campaign, preset=None, custom_amount="99999,99", REMOTE_ADDR=f"203.0.113.{i}").status_code
        for i in range(4)
    ]
    assert answers == [302, 302, 302, 429]
    assert Donation.objects.count() == 3  # the fourth attempt wrote nothing
    with freeze_time(NOW + dt.timedelta(hours=1, seconds=1)):
        assert post(client, live_campaign, preset=None, custom_amount="99999,99").status_code == 302


@freeze_time(NOW)
@override_settings(PUBLIC_FORM_THROTTLE_PER_IP=2, PUBLIC_FORM_THROTTLE_PER_CODE=1000)
def test_the_donation_form_is_throttled_per_client(client, live_campaign):
    codes = [codice_fiscale_for(i) for i in range(3)]
    answers = [
        post(
            client, live_campaign, first_name=f, last_name=la, codice_fiscale=c, REMOTE_ADDR="203.0.113.50"
        ).status_code
        for f, la, c in codes
    ]
    assert answers == [302, 302, 429]
    assert Donation.objects.count() == 2
    response = post(client, live_campaign, REMOTE_ADDR="203.0.113.50")
    assert response.status_code == 429 and "Troppi tentativi" in response.content.decode()
