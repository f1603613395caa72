"""Company donors (rule F13) in the donor register and the yearly totals (rules F1, F2, F6, F7).

A company or an association that gives is a contributor of its own: its own yearly total per
receiving entity, its own register line (name, VAT number, amounts, dates, channel, the board
resolution of each gift); its legal representative only signs, and the company's money never
counts toward the representative's personal totals. Everything goes through the public forms
and the treasurer's pages.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.urls import reverse

from piazza.compliance.contributions import contribution_lines
from piazza.compliance.models import FinanceRuleSet, PublishedRow, Receipt, RegisterEntry, TaxStatement
from piazza.compliance.rules import annual_total_cents, entity_annual_total_cents, rules_on
from piazza.compliance.tax_statements.actions.runs import start_tax_statements
from piazza.funding.models import Donation, DonationStatus
from piazza.funding.tests.conftest import build_live_campaign
from piazza.funding.tests.flows import COMPANY, COMPANY_VAT, card, company_form_data, give
from piazza.people.models import Person
from piazza.territory.models import Role
from piazza.territory.testing import make_official, verified_client

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("check_ledger")]

YEAR = 2026  # the suite's frozen clock: 10 June 2026


@pytest.fixture(autouse=True)
def private_media(settings, tmp_path):
    settings.PRIVATE_MEDIA_ROOT = str(tmp_path / "private")


@pytest.fixture
def campaign(tree):
    owner = make_official("tesoriere.centro", tree.bologna_centro, [Role.ORGANISATION, Role.TREASURY])
    approver = make_official("federazione.bo", tree.bologna, [Role.ORGANISATION, Role.TREASURY])
    return build_live_campaign(tree, owner, approver, goal_cents=5_000_000)


@pytest.fixture
def national_treasurer(tree):
    return make_official("tesoreria.nazionale", tree.national, [Role.TREASURY])


def company_gives(client: Any, campaign: Any, euros: str, **over: Any) -> Any:
    """Giulia Rossi, legal representative, gives `euros` on behalf of the company and pays by card."""
    response = client.post(
        reverse("funding:donate_legal_person", args=[campaign.slug]), company_form_data(campaign, euros, **over)
    )
    if response.status_code != 302:
        return response
    return client.post(response["Location"], card())


def test_f13_f1_a_company_is_its_own_register_line_and_its_representative_only_signs(
    client, tree, campaign, national_treasurer
):
    """Rules F13 and F1: the company's €2,000 make a register entry of the company (name, COMPANY_VAT
    number, amount, date, channel, board resolution), not of its representative, whose own €400
    stay below the threshold; the public page, the CSV for the Chamber (F5) and the PDF show the
    company and never the representative."""
    give(campaign, 400_00)  # Giulia Rossi, in her own name
    assert company_gives(client, campaign, "2000").status_code == 302
    representative = Person.objects.get(last_name="Rossi")
    rules = rules_on()
    assert annual_total_cents(representative.pk, YEAR, campaign.territory.path, rules) == 400_00
    company_receipt = Receipt.objects.get(donor_codice_fiscale=COMPANY_VAT)  # rule F3: receipted to the company
    assert (company_receipt.donor_name, company_receipt.amount_cents) == (COMPANY, 2000_00)
    assert entity_annual_total_cents(COMPANY_VAT, YEAR, campaign.territory.path, rules) == 2000_00

    office = verified_client(national_treasurer)
    url = reverse("compliance:register_entity", args=[tree.national.pk, YEAR])
    assert office.post(url, {"do": "refresh"}).status_code == 302
    entry = RegisterEntry.objects.get()
    assert (entry.person_id, entry.entity_code, entry.donor_name) == (None, COMPANY_VAT, COMPANY)
    assert entry.signatory_id == representative.pk and entry.total_cents == 2000_00
    item = entry.items.get()
    assert (item.amount_cents, item.received_on, item.method) == (2000_00, dt.date(2026, 6, 10), "card")
    assert item.resolution_on == dt.date(2026, 5, 20) and item.due_on == dt.date(2026, 7, 31)
    board = office.get(url).content.decode()
    assert COMPANY in board and COMPANY_VAT in board and "firma il legale rappresentante Giulia Rossi" in board

    assert office.post(url, {"do": "publish", "note": ""}).status_code == 302
    row = PublishedRow.objects.get()
    assert (row.person_id, row.entity_code, row.donor_name) == (None, COMPANY_VAT, COMPANY)
    public = client.get(reverse("register:public", args=[tree.national.pk, YEAR])).content.decode()
    assert COMPANY in public and COMPANY_VAT in public and "delibera del 20/05/2026" in public
    assert "Giulia" not in public and "Rossi" not in public
    csv = office.get(reverse("compliance:register_csv", args=[row.publication_id])).content.decode("utf-8-sig")
    header, line = csv.splitlines()[:2]
    assert header.split(";")[-2:] == ["partita_iva_ente", "delibera_del"]
    fields = line.split(";")
    assert fields[4:8] == [COMPANY, "2000,00", "10/06/2026", "2000,00"] and fields[-2:] == [COMPANY_VAT, "20/05/2026"]
    assert "Rossi" not in csv


def test_f13_f2_the_companys_money_does_not_count_toward_its_representatives_objection(client, tree, campaign):
    """Rules F13 and F2: a representative who objects to publication may still give up to the
    threshold in her own name after her company gave €2,000 (the company's total is its own);
    counted together, her €450 + €40 would have been refused."""
    give(campaign, 450_00, publication="object")
    assert company_gives(client, campaign, "2000").status_code == 302
    own = give(campaign, 40_00, publication="object")
    assert own.status == DonationStatus.SUCCEEDED
    statuses = sorted(Donation.objects.values_list("status", flat=True))
    assert statuses == [DonationStatus.SUCCEEDED] * 3


def test_f13_f6_a_company_has_its_own_yearly_cap_apart_from_its_representative(client, tree, campaign):
    """Rules F13 and F6: with the cap at €3,000 a company's second €2,000 gift is refused with the
    reason, while its representative can still give €2,500 in her own name."""
    FinanceRuleSet.objects.create(valid_from=dt.date(2020, 1, 1), annual_cap_cents=3_000_00)
    assert company_gives(client, campaign, "2000").status_code == 302
    refused = company_gives(client, campaign, "2000")
    assert refused.status_code == 400 and "al massimo 3.000" in refused.content.decode()
    assert Donation.objects.count() == 1
    own = give(campaign, 2_500_00)
    assert own.status == DonationStatus.SUCCEEDED


def test_f13_f7_a_companys_gift_never_enters_its_representatives_tax_statement(
    client, tree, campaign, django_capture_on_commit_callbacks
):
    """Rules F13 and F7: the personal tax credit is for a natural person's own gifts; the yearly
    run gives the representative a statement of her own €100 only, not of the company's €2,000."""
    kept = give(campaign, 100_00)
    assert company_gives(client, campaign, "2000").status_code == 302
    assert sorted((line.entity_code, line.amount_cents) for line in contribution_lines(YEAR)) == [
        ("", 100_00 + kept.fee_cover_cents),
        (COMPANY_VAT, 2000_00),
    ]
    treasurer = make_official("tesoreria.naz", tree.national, [Role.TREASURY])
    with django_capture_on_commit_callbacks(execute=True):
        start_tax_statements(actor=treasurer, year=YEAR)
    statement = TaxStatement.objects.get(person__last_name="Rossi", year=YEAR)
    assert statement.total_cents == 100_00 + kept.fee_cover_cents
    assert [line["amount_cents"] for line in statement.lines] == [100_00 + kept.fee_cover_cents]
