"""Test helpers that give money the real way: the donation action or form, then payments'
payment page (or its `pay` action) with a sandbox card — never a hand-made ledger entry."""

from __future__ import annotations

import secrets
import uuid
from typing import Any

from codicefiscale import codicefiscale
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from piazza.compliance.rules import ATTESTATION_KEYS
from piazza.funding.actions import donations as donations_actions
from piazza.funding.forms import sign_campaign
from piazza.funding.models import Donation, Frequency
from piazza.payments.actions.lifecycle import pay
from piazza.payments.models import Payment
from piazza.people.notices import current_version
from piazza.territory.models import Comune

OK_CARD = "4242 4242 4242 4242"
DECLINED_CARD = "4000 0000 0000 0002"
NO_FUNDS_CARD = "4000 0000 0000 9995"
VALID_CF = "RSSGLI80A41A944K"  # Giulia Rossi, Bologna, 1 Jan 1980
COMPANY = "Tipografia Emiliana srl"
COMPANY_VAT = "00743110157"  # a valid partita IVA (D2)
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"

FIRST_NAMES = ["Giulia", "Luca", "Anna", "Paolo", "Sara", "Marco", "Elena", "Davide", "Chiara", "Matteo"]


def codice_fiscale_for(n: int) -> tuple[str, str, str]:
    """A valid codice fiscale for the n-th test donor: (first name, last name, code)."""
    first = FIRST_NAMES[n % len(FIRST_NAMES)]
    last = f"Donatore{chr(65 + n // 26 % 26)}{chr(65 + n % 26)}"
    female = first.endswith("a")
    code = codicefiscale.encode(
        lastname=last,
        firstname=first,
        gender="F" if female else "M",
        birthdate=f"{1 + n % 28:02d}/{1 + n // 28 % 12:02d}/{1950 + n // 336 % 50}",
        birthplace="Bologna",
    )
    return first, last, code


def card(number: str = OK_CARD, key: str | None = None) -> dict[str, str]:
    return {"card_number": number, "expiry": "08/29", "cvc": "123", "idempotency_key": key or uuid.uuid4().hex}


def form_data(campaign: Any, **over: Any) -> dict[str, str]:
    data: dict[str, Any] = {
        "campaign_token": sign_campaign(campaign),
        "idempotency_key": secrets.token_hex(8),
        "preset": "2500",
        "frequency": "one_off",
        "first_name": "Giulia",
        "last_name": "Rossi",
        "codice_fiscale": VALID_CF,
        "email": "giulia@example.org",
        "address": "Via Zamboni 1",
        "postal_code": "40126",
        "comune": "Bologna",
        "publication": "accept",
        **{f"attest_{key}": "on" for key in ATTESTATION_KEYS},
        # The privacy notice the page shows, posted back (GDPR art. 13, people.notices).
        "notice_version": str(getattr(current_version("donate", "it"), "pk", "")),
    }
    data.update(over)
    return {k: v for k, v in data.items() if v is not None}


def company_form_data(campaign: Any, euros: str, **over: Any) -> dict[str, Any]:
    """The legal-person form (rule F13): Giulia Rossi signs for the company, which gives `euros`.

    The individual's attestations give way to the company's; `over` changes a field, None drops it.
    """
    data: dict[str, Any] = {
        **form_data(campaign, preset="", custom_amount=euros, **{f"attest_{key}": None for key in ATTESTATION_KEYS}),
        "giver_kind": "company",
        "legal_name": COMPANY,
        "entity_code": COMPANY_VAT,
        "public_capital": "0",
        "resolution_date": "2026-05-20",
        "legal_attest_not_public_body": "on",
        "legal_attest_not_public_control": "on",
        "legal_attest_board_resolution": "on",
        "legal_attest_not_foreign": "on",
        "resolution": SimpleUploadedFile("delibera.pdf", PDF, content_type="application/pdf"),
        **over,
    }
    return {k: v for k, v in data.items() if v is not None}


def donation_input(campaign: Any, amount_cents: int, *, n: int = 0, **over: Any) -> donations_actions.DonationInput:
    first, last, code = ("Giulia", "Rossi", VALID_CF) if n == 0 else codice_fiscale_for(n)
    fields: dict[str, Any] = {
        "amount_cents": amount_cents,
        "frequency": Frequency.ONE_OFF,
        "first_name": first,
        "last_name": last,
        "codice_fiscale": code,
        "email": f"{first.lower()}.{n}@example.org",
        "address": "Via Zamboni 1",
        "postal_code": "40126",
        "comune": Comune.objects.filter(name="Bologna").first(),
        "attestations": list(ATTESTATION_KEYS),
        "publication": "accept",
        "idempotency_key": uuid.uuid4().hex,
        "on_wall": True,
        "provider": "sandbox",
    }
    fields.update(over)
    return donations_actions.DonationInput(**fields)


def submit(campaign: Any, amount_cents: int, *, n: int = 0, **over: Any) -> Donation:
    return donations_actions.submit_donation(
        actor=None, campaign=campaign, data=donation_input(campaign, amount_cents, n=n, **over)
    ).donation


def payment_of(donation: Donation) -> Payment:
    donation.refresh_from_db()
    assert donation.payment is not None
    return donation.payment


def pay_donation(donation: Donation, number: str = OK_CARD) -> Donation:
    """The payment page's submit, through payments' own action (sandbox card)."""
    payment = payment_of(donation)
    pay(
        actor=None,
        payment=payment,
        client_key=uuid.uuid4().hex,
        data={"card_number": number.replace(" ", "")},
        return_url="",
    )
    donation.refresh_from_db()
    return donation


def give(campaign: Any, amount_cents: int, *, n: int = 0, number: str = OK_CARD, **over: Any) -> Donation:
    """Submit and pay: the whole donation flow without a browser."""
    return pay_donation(submit(campaign, amount_cents, n=n, **over), number)


def donate_through_pages(client: Any, campaign: Any, *, number: str = OK_CARD, **over: Any) -> Any:
    """Donation form → payments' payment page → card: returns the response of the card POST."""
    response = client.post(reverse("funding:donate", args=[campaign.slug]), form_data(campaign, **over))
    assert response.status_code == 302, response.content.decode()[:2000]
    return client.post(response["Location"], card(number))


def give_own_card(campaign: Any, amount_cents: int, *, n: int = 0, card_id: str | None = None, **over: Any) -> Donation:
    """`give`, then the payment records its own card fingerprint (`card_id`, by default one per donor n).

    The sandbox has a single succeeding credit card, so every donor of `give` shares one fingerprint,
    which the quadratic rounds rightly count as one person (issue 17). This stands for each donor
    paying with their own card; give two donors the same `card_id` to simulate a shared card."""
    donation = give(campaign, amount_cents, n=n, **over)
    payment = payment_of(donation)
    payment.metadata = {**(payment.metadata or {}), "instrument_fingerprint": f"sandbox:own-{card_id or n}"}
    payment.save(update_fields=["metadata"])
    return donation
