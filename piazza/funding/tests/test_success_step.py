"""The funding side of ADR 0037 (issue 14, P4): a donation's success step reads the donation once,
under its lock, and builds the receipt line from that read; replays, a declined card and company
gifts (rule F13) come out as before — one receipt, counters and ledger in step.
"""

from __future__ import annotations

import pytest
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from piazza.compliance import receipts as receipts_actions
from piazza.compliance.contributions import lines_of
from piazza.compliance.models import Receipt
from piazza.funding.models import CampaignCounter, Donation, DonationStatus
from piazza.funding.payable import donation_row_lines
from piazza.funding.tests.flows import (
    DECLINED_CARD,
    OK_CARD,
    card,
    company_form_data,
    give,
    pay_donation,
    payment_of,
    submit,
)
from piazza.payments.actions.lifecycle import pay
from piazza.payments.payables import notify
from piazza.people.models import TimelineEntry

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("check_ledger")]


def receipts_of(donation: Donation) -> list[Receipt]:
    return list(Receipt.objects.filter(source="funding.donation", source_id=donation.pk).order_by("pk"))


def assert_receipt_is_the_row_sources_line(donation: Donation) -> None:
    """The receipt issued from the success step's line says what the row source would have read."""
    [line] = donation_row_lines(donation.pk)
    [receipt] = receipts_of(donation)
    assert (receipt.amount_cents, receipt.method, receipt.purpose, receipt.received_at) == (
        line.amount_cents,
        line.method,
        line.purpose[:200],
        line.received_at,
    )
    assert (receipt.territory_id, receipt.donor_person_id) == (line.territory_id, line.person_id)
    if line.entity_code:  # rule F13: receipted to the company
        assert (receipt.donor_name, receipt.donor_codice_fiscale) == (line.legal_name, line.entity_code)


def test_paying_a_donation_reads_it_once_under_its_lock_and_looks_for_no_receipt(live_campaign):
    donation = submit(live_campaign, 2_500)
    payment = payment_of(donation)
    with CaptureQueriesContext(connection) as captured:
        pay(actor=None, payment=payment, client_key="k1", data={"card_number": OK_CARD.replace(" ", "")}, return_url="")
    sqls = [q["sql"] for q in captured.captured_queries]
    reads = [s for s in sqls if s.startswith('SELECT "funding_donation".')]
    # Only the locked read: no instrument check (donations have none), no payable read for the
    # handler, no receipt-line read.
    assert len(reads) == 1, reads
    if connection.vendor == "postgresql":
        assert 'FOR UPDATE OF "funding_donation"' in reads[0]
    assert not any(s.startswith("SELECT") and 'FROM "compliance_receipt"' in s for s in sqls)
    paid = Donation.objects.get(pk=donation.pk)
    assert paid.status == DonationStatus.SUCCEEDED
    assert_receipt_is_the_row_sources_line(paid)


def test_a_replayed_success_changes_nothing(live_campaign):
    """A webhook replayed after the browser's return: no second receipt, count or timeline entry."""
    donation = give(live_campaign, 2_500)
    payment = payment_of(donation)
    counted = list(CampaignCounter.objects.values_list("gifts_cents", "gifts_count"))
    timeline = TimelineEntry.objects.count()
    with transaction.atomic():
        notify(payment, "succeeded")
    assert len(receipts_of(donation)) == 1
    assert list(CampaignCounter.objects.values_list("gifts_cents", "gifts_count")) == counted
    assert TimelineEntry.objects.count() == timeline


def test_a_declined_card_then_a_good_one_gives_one_receipt(live_campaign):
    donation = pay_donation(submit(live_campaign, 3_000), DECLINED_CARD)
    assert donation.status == DonationStatus.FAILED and receipts_of(donation) == []
    donation = pay_donation(donation)
    assert donation.status == DonationStatus.SUCCEEDED
    assert_receipt_is_the_row_sources_line(donation)


def test_a_receipt_issued_as_first_time_twice_is_refused_by_the_database(live_campaign):
    """`first_time` skips the look-up; the one-receipt-per-line constraint still holds."""
    donation = give(live_campaign, 2_500)
    with pytest.raises(IntegrityError), transaction.atomic():
        receipts_actions.issue_receipts_for(
            "funding.donation",
            donation.pk,
            actor=None,
            lines=lines_of("funding.donation", donation.pk),
            first_time=True,
        )
    assert len(receipts_of(donation)) == 1


def test_a_company_gift_is_receipted_to_the_company_from_the_locked_read(client, live_campaign, settings, tmp_path):
    """Rule F13: the legal person's name and code come with the donation's locked read."""
    settings.PRIVATE_MEDIA_ROOT = str(tmp_path / "private")
    submitted = client.post(
        reverse("funding:donate_legal_person", args=[live_campaign.slug]), company_form_data(live_campaign, "400")
    )
    assert submitted.status_code == 302, submitted.content[:500]
    assert client.post(submitted["Location"], card()).status_code == 302
    donation = Donation.objects.get()
    assert donation.status == DonationStatus.SUCCEEDED
    [receipt] = receipts_of(donation)
    assert (receipt.donor_name, receipt.donor_codice_fiscale) == ("Tipografia Emiliana srl", "00743110157")
    assert_receipt_is_the_row_sources_line(donation)
