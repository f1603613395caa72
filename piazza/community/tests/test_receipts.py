"""Rule F3 in Il mio spazio: the person's receipts listed and downloadable; another person's receipt
id answers 404; without signing in, nothing (issue 13)."""

from __future__ import annotations

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse

from piazza.community.tests.conftest import DONOR_EMAIL, sign_in
from piazza.compliance.models import Receipt
from piazza.funding.tests.flows import give

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("check_ledger")]


@pytest.fixture
def signed_in(donor, django_capture_on_commit_callbacks):
    client = Client()
    sign_in(client, DONOR_EMAIL, django_capture_on_commit_callbacks)
    mail.outbox.clear()
    return client


def test_the_donor_lists_and_downloads_her_receipts_from_the_space(signed_in, donor):
    """Rule F3: both gifts' receipts (the one-off and the first month) are in "Ricevute"."""
    mine = list(Receipt.objects.filter(donor_person_id=donor.pk).order_by("number"))
    assert [r.display_number for r in mine] == ["2026/000001", "2026/000002"]
    page = signed_in.get(reverse("community:home")).content.decode()
    assert "Ricevute" in page and "Ricevuta n. 2026/000001" in page and "Ricevuta n. 2026/000002" in page
    pdf = signed_in.get(reverse("community:receipt", args=[mine[0].pk]))
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf" and pdf.content.startswith(b"%PDF")


def test_a_stranger_cannot_download_another_persons_receipt(signed_in, donor, campaign):
    """Rule F3 with convention 16: the receipt id of someone else's gift is 404 in my space, and the
    space's download needs a signed-in person at all."""
    other = give(campaign, 4_000, n=7)
    theirs = Receipt.objects.get(source="funding.donation", source_id=other.pk)
    assert signed_in.get(reverse("community:receipt", args=[theirs.pk])).status_code == 404
    mine = Receipt.objects.filter(donor_person_id=donor.pk).first()
    assert mine is not None
    anonymous = Client().get(reverse("community:receipt", args=[mine.pk]))
    assert anonymous.status_code == 302 and anonymous["Location"] == reverse("community:door")
