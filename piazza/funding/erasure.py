"""What erasure does to the funding app's data (rule G5, issue 12; vocabulary in piazza.core.erasure).

A gift that was received is an accounting record (receipt data: name, codice fiscale, address)
and may be in the F1 donor register: those columns are held, the rest (email, message, links)
goes at once.
"""

from __future__ import annotations

from typing import Any

from piazza.core.erasure import (
    BLANK,
    DELETE_ROW,
    KEEP,
    LINK,
    NULL,
    PSEUDONYM,
    ROW,
    TOKEN,
    Declaration,
    HoldBook,
    scrub,
)
from piazza.funding.models import (
    Campaign,
    CampaignUpdate,
    Donation,
    DonationStatus,
    FundraisingPage,
    FundraisingTeam,
    MatchingPool,
    RoundExclusion,
    UpdateSubscription,
)
from piazza.payments.erasure import erase_payments
from piazza.payments.models import Payment

ERASURE: Declaration = {
    Donation: {
        "person": LINK,
        "user": NULL,
        "first_name": PSEUDONYM,
        "last_name": PSEUDONYM,
        "codice_fiscale": BLANK,
        "email": BLANK,
        "address": BLANK,
        "postal_code": BLANK,
        "comune": KEEP,
        "message": BLANK,
        "manage_token": TOKEN,
        "on_wall": KEEP,
    },
    FundraisingPage: {
        "person": LINK,
        "slug": TOKEN,
        "display_name": PSEUDONYM,
        "title": PSEUDONYM,
        "story": BLANK,
        "manage_token": TOKEN,
        "rejection_reason": BLANK,
    },
    UpdateSubscription: {ROW: DELETE_ROW, "email": BLANK},
}

KEEP_REASONS = {
    "funding.donation.comune": "a comune alone identifies nobody once name, code and address are gone (a "
    "required column)",
    "funding.donation.on_wall": "a yes/no; the wall shows the (pseudonymised) name only",
}

# Rule F1 / accounting: the identity a receipt and the register carry.
HELD_DONATION_FIELDS = ["first_name", "last_name", "codice_fiscale", "address", "postal_code", "comune"]
RECEIVED = [DonationStatus.SUCCEEDED, DonationStatus.REFUSED, DonationStatus.REFUNDED]

NOT_PERSONAL: Declaration = {
    Donation: {
        "currency": "an ISO currency code",
        "attestations": "which legal statements were ticked (F4), no identity",
        "attestation_version": "the version of the statements' text",
        "refcode": "a campaign's referral code",
        "utm_source": "a campaign's tracking tag",
        "utm_medium": "a campaign's tracking tag",
        "utm_campaign": "a campaign's tracking tag",
        "idempotency_key": "a random key sent by the form",
        "failure_reason": "a payment provider's error code",
    },
    Campaign: {
        "story_markdown": "the campaign's public text",
        "story_html": "the campaign's public text",
        "rejection_reason": "an official's decision on a campaign",
    },
    CampaignUpdate: {"emailed_to": "a count of recipients"},
    MatchingPool: {"name": "the name of a matchfunding pool"},
    RoundExclusion: {"reason": "a treasurer's note on a pattern of gifts left out of a round's match (issue 17)"},
    FundraisingTeam: {"name": "the public name of a team of fundraisers"},
}


def erase(person: Any, holds: HoldBook) -> dict[str, int]:
    donations = Donation.objects.filter(person=person)
    received = list(donations.filter(status__in=RECEIVED))
    held = holds.keep(
        received,
        kind="accounting",
        fields=HELD_DONATION_FIELDS,
        start=lambda d: (d.succeeded_at or d.created_at).date(),
        why="Donazione ricevuta: dati della ricevuta e delle scritture contabili",
    )
    holds.keep(
        [d for d in received if d.status == DonationStatus.SUCCEEDED],
        kind="donor_register",
        fields=HELD_DONATION_FIELDS,
        start=lambda d: (d.succeeded_at or d.created_at).date(),
        why="Contributo nel registro dei contributi ricevuti (regola F1)",
    )
    emails = list(person.emails.values_list("value", flat=True))
    unheld = {k: v for k, v in ERASURE[Donation].items() if k not in HELD_DONATION_FIELDS}
    paid_by = erase_payments(Payment.objects.filter(pk__in=donations.exclude(payment=None).values("payment")), holds)
    return {
        "donation_payments": paid_by["payments"],
        "donations": scrub(donations, unheld) + scrub(donations, ERASURE[Donation], skip_pks=held),
        "donations_held": len(held),
        "fundraising_pages": scrub(FundraisingPage.objects.filter(person=person), ERASURE[FundraisingPage]),
        "subscriptions": scrub(UpdateSubscription.objects.filter(email__in=emails), ERASURE[UpdateSubscription]),
    }
