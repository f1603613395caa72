"""Journey (Giulia, on her phone, issue 11 item 1): after the donation form she chooses how to
pay; she picks the bank transfer and gets the IBAN, the beneficiary, the RF reference, the
amount and the QR code for her banking app. The gift stays pending until the CAMT import."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from piazza.funding.models import Donation, DonationStatus
from piazza.funding.tests.conftest import build_live_campaign
from piazza.funding.tests.test_browser_donations import fill_donation_form
from piazza.payments.bank.actions import accounts as accounts_bank_actions
from piazza.payments.bank.models import ExpectedTransfer
from piazza.payments.bank.references import format_reference
from piazza.payments.models import State
from piazza.territory.models import Role
from piazza.territory.testing import make_official

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

IBAN = "IT60X0542811101000000123456"


@pytest.fixture
def campaign(tree: Any) -> Any:
    owner = make_official("tesoriere.centro", tree.bologna_centro, [Role.ORGANISATION, Role.TREASURY])
    approver = make_official("federazione.bo", tree.bologna, [Role.ORGANISATION, Role.TREASURY])
    accounts_bank_actions.register_bank_account(
        actor=approver, territory=tree.bologna, name="PD Federazione di Bologna", iban=IBAN
    )
    return build_live_campaign(tree, owner, approver)


def test_donor_chooses_bank_transfer_and_sees_iban_rf_and_qr(phone_page: Any, campaign: Any) -> None:
    page = phone_page
    page.goto(campaign.get_absolute_url())
    assert page.viewport_size["width"] == 390
    fill_donation_form(page)
    page.wait_for_url("**/pagamenti/**/metodo/")
    methods = page.get_by_role("group", name="Metodo di pagamento")
    expect(methods.get_by_role("radio")).to_have_count(2)  # card and transfer; PayPal is not configured
    methods.get_by_role("radio", name="Bonifico bancario").check()
    page.get_by_role("button", name="Continua").click()
    page.wait_for_url("**/bonifico/**")
    donation = Donation.objects.get()
    transfer = ExpectedTransfer.objects.get(payment=donation.payment)
    expect(page.get_by_text(IBAN)).to_be_visible()
    expect(page.get_by_text("PD Federazione di Bologna")).to_be_visible()
    expect(page.get_by_text(format_reference(transfer.reference))).to_be_visible()
    expect(page.get_by_role("img", name="QR code per il bonifico")).to_be_visible()
    expect(page.locator(".transfer-instructions").get_by_text("25,00 €")).to_be_visible()
    donation.refresh_from_db()
    assert donation.payment is not None
    assert donation.status == DonationStatus.PENDING and donation.payment.state == State.PENDING
