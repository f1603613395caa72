"""Rules F6/F14 with real memberships and real donations: fees count toward the yearly cap.

No fake contribution source here: fees are paid at the desk or through the payments page,
donations through the donation form and the sandbox card, exactly as people do.
"""

import datetime as dt
import html

import pytest
from django.urls import reverse

from piazza.compliance.checks import money_in_channels_have_sources
from piazza.compliance.models import FinanceRuleSet
from piazza.compliance.rules import annual_total_cents, register_contribution_source, rules_on
from piazza.core.models import AuditEntry, AuditKind
from piazza.funding.models import Donation, DonationStatus
from piazza.funding.tests.conftest import build_live_campaign
from piazza.funding.tests.flows import VALID_CF, donate_through_pages, form_data, give
from piazza.membership.models import Membership, Status
from piazza.membership.payments import fees_in_year, start_online_payment
from piazza.payments.actions.lifecycle import pay
from piazza.payments.payables import PayableHandler, register_payable, registered_payables
from piazza.territory.models import Role
from piazza.territory.testing import make_official, verified_client

from .conftest import YEAR, join

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("schedule", "check_ledger")]
CARD = {"card_number": "4242424242424242", "expiry": "12/39", "cvc": "123"}
FEE = 2000  # the schedule fixture: €15 base + €5 national surcharge


@pytest.fixture
def campaign(tree):
    owner = make_official("tesoriere.centro", tree.bologna_centro, [Role.ORGANISATION, Role.TREASURY])
    approver = make_official("federazione.bo", tree.bologna, [Role.ORGANISATION, Role.TREASURY])
    return build_live_campaign(tree, owner, approver)


def giulia(tree):
    """An application by the Giulia Rossi whose codice fiscale the donation helpers use."""
    membership = join(tree, first="Giulia", last="Rossi", sex="F", birth_date=dt.date(1980, 1, 1))
    assert membership.person.codice_fiscale_canonical == VALID_CF
    return membership


def desk_pay(client, membership):
    return client.post(
        reverse("membership:membership_pay", args=[membership.pk]),
        {"method": "pos", "reference": "POS-991", "instrument": "", "payer_name": ""},
        follow=True,
    )


def cap(cents, **over):
    FinanceRuleSet.objects.create(valid_from=dt.date(2000, 1, 1), annual_cap_cents=cents, **over)


def test_a_paid_fee_counts_toward_the_cap_of_a_later_donation(client, tree, secretary, campaign):
    """F6 with F14's default: €20 of fee + €15 of gift > a €30 cap → the donation form refuses."""
    membership = giulia(tree)
    desk_pay(verified_client(secretary), membership)
    membership.refresh_from_db()
    assert membership.status == Status.PAID
    assert fees_in_year(membership.person_id, YEAR, "") == FEE
    cap(3000)
    response = client.post(
        reverse("funding:donate", args=[campaign.slug]), form_data(campaign, preset=None, custom_amount="15")
    )
    assert response.status_code == 400
    assert "supera il limite annuale" in html.unescape(response.content.decode())
    assert not Donation.objects.exists()
    # €10 fits: 2000 + 1000 = the cap exactly.
    donate_through_pages(client, campaign, preset=None, custom_amount="10")
    assert Donation.objects.get().status == DonationStatus.SUCCEEDED


def test_fees_count_off_leaves_fees_out(client, tree, secretary, campaign):
    """F14 parameter: with `fees_count` off the same donation is accepted."""
    membership = giulia(tree)
    desk_pay(verified_client(secretary), membership)
    cap(3000, fees_count=False)
    assert annual_total_cents(membership.person_id, YEAR, "", rules_on()) == 0
    donate_through_pages(client, campaign, preset=None, custom_amount="15")
    assert Donation.objects.get().status == DonationStatus.SUCCEEDED


def test_a_fee_over_the_cap_is_refused_at_the_desk(tree, secretary, campaign):
    """Decision (docs/dev/caps.md): a fee that would take the year over the cap is refused like a gift."""
    give(campaign, 2500)
    cap(4000)
    membership = giulia(tree)
    page = desk_pay(verified_client(secretary), membership).content.decode()
    assert "supererebbe il tetto annuo" in html.unescape(page)
    assert "25,00" not in page  # the secretary is not told what the person gave (G1)
    membership.refresh_from_db()
    assert membership.status == Status.APPLIED and not membership.card_number
    assert AuditEntry.objects.filter(
        action="membership.mark_paid", kind=AuditKind.DENIED, data__code="annual_cap"
    ).exists()


def test_fees_count_off_lets_the_same_fee_through_at_the_desk(tree, secretary, campaign):
    give(campaign, 2500)
    cap(4000, fees_count=False)
    membership = giulia(tree)
    desk_pay(verified_client(secretary), membership)
    membership.refresh_from_db()
    assert membership.status == Status.PAID


def test_an_online_fee_over_the_cap_is_not_kept(tree, campaign):
    """Online the money has already arrived: the application stays unpaid, the treasury refunds."""
    give(campaign, 2500)
    cap(4000)
    membership = giulia(tree)
    payment = start_online_payment(membership, actor=None, provider="sandbox")
    pay(actor=None, payment=payment, client_key="fee-over-cap", data=CARD, return_url="")
    membership.refresh_from_db()
    assert membership.status == Status.APPLIED
    entry = AuditEntry.objects.get(action="membership.fee_over_cap")
    assert entry.kind == AuditKind.DENIED and entry.data["payment"] == payment.pk
    assert fees_in_year(membership.person_id, YEAR, "") == 0


def test_per_entity_scope_counts_only_the_shares_each_entity_received(tree, secretary):
    """F14 "entity" scope: the federation counts its M8 share of the fee, the circolo nothing."""
    membership = join(tree)
    desk_pay(verified_client(secretary), membership)
    membership = Membership.objects.get(pk=membership.pk)
    federation_share = sum(
        line["territorial_cents"]
        for line in membership.fee_explanation["lines"]
        if line["code"] != "regional_surcharge"
    )
    assert fees_in_year(membership.person_id, YEAR, tree.bologna.path) == federation_share
    assert fees_in_year(membership.person_id, YEAR, tree.bologna_centro.path) == 0
    assert fees_in_year(membership.person_id, YEAR, "") == FEE
    assert fees_in_year(membership.person_id, YEAR + 1, "") == 0


def test_every_money_in_channel_has_a_contribution_source():
    """Startup check (compliance.E001): each registered payable is counted toward F6."""
    assert {"funding.donation", "membership.membership", "membership.electionregistration"} <= set(
        registered_payables()
    )
    assert money_in_channels_have_sources() == []
    from piazza.payments import payables

    register_payable("shop.order", PayableHandler())
    try:
        errors = money_in_channels_have_sources()
        assert [e.id for e in errors] == ["compliance.E001"] and "shop.order" in errors[0].msg
        register_contribution_source("shop.orders", "donation", lambda pid, year, path: 0, payables=["shop.order"])
        assert money_in_channels_have_sources() == []
    finally:
        payables._handlers.pop("shop.order", None)
        from piazza.compliance import rules

        rules._SOURCES.pop("shop.orders", None)
        rules._COVERED.pop("shop.orders", None)


def test_manage_py_check_runs_the_startup_check():
    from django.core.checks import registry

    assert money_in_channels_have_sources in registry.registry.registered_checks
