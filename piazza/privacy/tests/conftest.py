"""Fixtures of the data-rights tests: a donor who is also a member with consents, officials."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.utils import timezone

from piazza.core import testing_clock
from piazza.funding.tests.conftest import build_live_campaign
from piazza.funding.tests.flows import VALID_CF, give
from piazza.membership.actions.join import apply_for_membership
from piazza.membership.actions.payment import mark_paid
from piazza.membership.models import Channel, FeeSchedule, PaymentMethod
from piazza.membership.tests.conftest import join_data
from piazza.people.actions.consent import record_consent, withdraw_consent
from piazza.people.models import Channel as ConsentChannel
from piazza.people.models import Person, Purpose
from piazza.territory.models import Role
from piazza.territory.testing import make_official

YEAR = testing_clock.today().year
DONOR_EMAIL = "giulia.0@example.org"


@pytest.fixture(autouse=True)
def private_root(settings: Any, tmp_path: Any) -> Any:
    settings.PRIVATE_MEDIA_ROOT = str(tmp_path / "private")
    return tmp_path / "private"


@pytest.fixture
def subject(tree: Any) -> Person:
    """Giulia Rossi: one paid gift, a paid membership this year, a consent given and one withdrawn."""
    owner = make_official("tesoriere.centro", tree.bologna_centro, [Role.ORGANISATION, Role.TREASURY])
    approver = make_official("federazione.bo", tree.bologna, [Role.ORGANISATION, Role.TREASURY])
    campaign = build_live_campaign(tree, owner, approver)
    donation = give(campaign, 2500)
    FeeSchedule.objects.create(
        year=YEAR,
        base_fee_cents=1500,
        national_surcharge_cents=500,
        regional_deadline=dt.date(YEAR, 1, 10),
        opens_at=timezone.make_aware(dt.datetime(YEAR - 1, 11, 1)),
        closes_at=timezone.make_aware(dt.datetime(YEAR, 12, 31, 23, 59, 59)),
    )
    data = join_data(first="Giulia", last="Rossi", birth_date=dt.date(1980, 1, 1), sex="F", email=DONOR_EMAIL)
    assert data.codice_fiscale == VALID_CF
    membership = apply_for_membership(
        actor=None, data=data, circolo=tree.bologna_centro, channel=Channel.ONLINE, year=YEAR, now=timezone.now()
    )
    mark_paid(actor=None, membership=membership, method=PaymentMethod.CARD, reference="test", paid_at=timezone.now())
    person = membership.person
    assert person.territory == tree.bologna
    donation.refresh_from_db()
    assert donation.person_id == person.pk, "the gift and the membership are the same person's"
    record_consent(
        actor=None,
        person=person,
        purpose=Purpose.NEWSLETTER,
        channel=ConsentChannel.WEB,
        text_version="informativa-2026-01",
    )
    withdraw_consent(actor=None, person=person, purpose=Purpose.NEWSLETTER, channel=ConsentChannel.WEB)
    return person


@pytest.fixture
def privacy_officer(tree: Any) -> Any:
    return make_official("dpo", tree.national, [Role.PRIVACY_OFFICER])


@pytest.fixture
def bologna_official(tree: Any) -> Any:
    """The person's scope: the donor's record sits at the federation of her comune (M10)."""
    return make_official("segreteria.bo", tree.bologna, [Role.ORGANISATION, Role.MEMBERSHIP])


@pytest.fixture
def modena_official(tree: Any) -> Any:
    return make_official("segreteria.mo", tree.modena, [Role.ORGANISATION, Role.MEMBERSHIP])
