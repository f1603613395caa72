"""Issue 12: a member whose next year is open for renewal renews from Il mio spazio — "Rinnova la
tessera" leads to the renewal page of the reminder email, with the yearly SEPA option where the
territory offers it, then to the payment."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from piazza.community.tests.conftest import sign_in
from piazza.membership.actions.renewal import renew_membership
from piazza.membership.models import FeeSchedule, Membership, Status
from piazza.membership.tests.conftest import YEAR, join, paid, schedule  # noqa: F401 (the fixture)
from piazza.payments.bank.actions.accounts import register_bank_account
from piazza.territory.models import Role
from piazza.territory.testing import make_official

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("schedule", "check_ledger")]


def _next_year(opens_in_days: int = -1) -> FeeSchedule:
    return FeeSchedule.objects.create(
        year=YEAR + 1,
        base_fee_cents=1500,
        national_surcharge_cents=500,
        regional_deadline=dt.date(YEAR + 1, 1, 10),
        opens_at=timezone.now() + dt.timedelta(days=opens_in_days),
    )


@pytest.fixture
def member(tree):
    return paid(tree, first="Giulia", last="Rossi", email="giulia.socia@example.org")


@pytest.fixture
def signed_in(member, django_capture_on_commit_callbacks):
    client = Client()
    sign_in(client, "giulia.socia@example.org", django_capture_on_commit_callbacks)
    mail.outbox.clear()
    return client


@pytest.fixture
def sepa(tree):
    treasurer = make_official("tesoriere.bo", tree.bologna, [Role.TREASURY])
    return register_bank_account(
        actor=treasurer,
        territory=tree.bologna,
        name="PD Federazione di Bologna",
        iban="IT60X0542811101000000123456",
        creditor_id="IT66ZZZA1B2C3D4E5F6G7H8",
    )


def test_a_member_renews_from_the_space_with_the_yearly_sepa_option(signed_in, member, sepa):
    _next_year()
    home = signed_in.get(reverse("community:home")).content.decode()
    assert f"Rinnova la tessera {YEAR + 1}" in home and "addebito SEPA annuale" in home
    link = home.split('<p class="renewal"><a class="button" href="')[1].split('"')[0]
    assert link.startswith("/") and "/rinnova/" in link

    page = signed_in.get(link)
    assert page.status_code == 200
    assert "yearly_sepa" in page.context["form"].fields  # the territory offers the mandate
    response = signed_in.post(
        link,
        {
            "citizenship": "italian",
            "residence_street": "Via Nuova 2",
            "member_of_other_party": "no",
            "declarations_accepted": "on",
            "art9_authorised": "on",
        },
    )
    assert response.status_code == 302 and "/pagamenti/" in response["Location"]
    renewed = Membership.objects.get(person=member.person, year=YEAR + 1)
    assert renewed.status == Status.APPLIED and renewed.is_renewal
    # Renewed (waiting for the fee): no second button.
    assert "Rinnova la tessera" not in signed_in.get(reverse("community:home")).content.decode()


def test_without_sepa_the_space_says_the_fee_is_paid_online(signed_in):
    _next_year()
    home = signed_in.get(reverse("community:home")).content.decode()
    assert f"Rinnova la tessera {YEAR + 1}" in home and "Paghi la quota online" in home
    assert "addebito SEPA annuale" not in home


def test_no_renewal_before_the_year_opens_or_once_renewed(signed_in, member):
    next_year = _next_year(opens_in_days=10)
    assert "Rinnova la tessera" not in signed_in.get(reverse("community:home")).content.decode()
    FeeSchedule.objects.filter(pk=next_year.pk).update(opens_at=timezone.now() - dt.timedelta(days=1))
    assert "Rinnova la tessera" in signed_in.get(reverse("community:home")).content.decode()
    renew_membership(actor=None, previous=member, year=YEAR + 1, declarations_accepted=True, art9_authorised=True)
    assert "Rinnova la tessera" not in signed_in.get(reverse("community:home")).content.decode()


def test_no_renewal_for_someone_who_was_not_a_paid_member(tree, django_capture_on_commit_callbacks):
    join(tree, first="Anna", last="Verdi", email="anna.socia@example.org")  # applied, never paid
    _next_year()
    client = Client()
    sign_in(client, "anna.socia@example.org", django_capture_on_commit_callbacks)
    assert "Rinnova la tessera" not in client.get(reverse("community:home")).content.decode()
