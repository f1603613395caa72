"""What erasure does to the membership app's data (rule G5, issue 12; vocabulary in piazza.core.erasure).

A paid fee is an accounting record (who paid, the cash receipt number); the roll of a congress
certified by the circolo (M16) keeps its entries under a hold; everything else goes.
"""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from piazza.core.erasure import BLANK, EMPTY, FILE, KEEP, LINK, NULL, PSEUDONYM, TOKEN, Declaration, HoldBook, scrub
from piazza.membership.models import (
    AlboElection,
    AnomalyFlag,
    Appeal,
    CardBlock,
    Congress,
    Membership,
    Objection,
    RollEntry,
    RollStatus,
    RollVote,
    Supporter,
    Transfer,
)

ERASURE: Declaration = {
    Membership: {
        "person": LINK,
        "payer_fingerprint": BLANK,
        "payer_name": PSEUDONYM,
        "cash_receipt_number": KEEP,
        "paper_form": FILE,
        "signature_scan": FILE,
        "end_reason": BLANK,
        "payment_reference": KEEP,
        "card_number": KEEP,
    },
    CardBlock: {"person": LINK, "reason": BLANK, "lift_note": BLANK},
    Transfer: {"reason": BLANK, "decision_reason": BLANK},
    Objection: {"reason": BLANK, "decision_reason": BLANK, "appeal_reason": BLANK, "counter_appeal_reason": BLANK},
    # Rule M18: the appeals on an objection, with their reasons (the outcome stays on the membership).
    Appeal: {"reason": BLANK, "counter_reason": BLANK, "decision_reason": BLANK},
    RollEntry: {
        "person": LINK,
        "first_name": PSEUDONYM,
        "last_name": PSEUDONYM,
        "birth_date": NULL,
        "card_number": KEEP,
    },
    Supporter: {"person": LINK},
    # A flag names the person (invalid code, age) or the value they share with others (address,
    # instrument, email): the flag is emptied and the person leaves it; a new scan re-flags the others.
    AnomalyFlag: {"people": LINK, "key": TOKEN, "summary": PSEUDONYM, "evidence": EMPTY, "review_note": BLANK},
}

KEEP_REASONS = {
    "membership.membership.cash_receipt_number": "the number of the party's own receipt book: an accounting reference",
    "membership.membership.payment_reference": "a payment's reference at the provider: accounting, no identity",
    "membership.membership.card_number": "the card's number: with the person pseudonymised it identifies nobody",
    "membership.rollentry.card_number": "the card's number in a certified roll (M16)",
}

HELD_FEE_FIELDS = ["payer_name"]
HELD_ROLL_FIELDS = ["first_name", "last_name", "birth_date"]
PAID = ["paid", "effective"]
CERTIFIED = [RollStatus.SIGNED, RollStatus.RATIFIED, RollStatus.REFERRED]

NOT_PERSONAL: Declaration = {
    Membership: {
        "currency": "an ISO currency code",
        "fee_explanation": "how the fee was computed: amounts and rule ids",
        "art9_text_version": "the version of the art. 9 text accepted (proof)",
        "declarations_text_version": "the version of the declarations accepted (proof)",
    },
    Supporter: {"consent_text_version": "the version of the consent text accepted (proof)"},
    Congress: {"name": "the name of a congress"},
    AlboElection: {"name": "the name of an election"},
    RollVote: {"note": "a commission's note on a whole roll"},
}


def erase(person: Any, holds: HoldBook) -> dict[str, int]:
    memberships = Membership.objects.filter(person=person)
    paid = list(memberships.filter(status__in=PAID).exclude(paid_at=None))
    held = holds.keep(
        paid,
        kind="accounting",
        fields=HELD_FEE_FIELDS,
        start=lambda m: m.paid_at.date(),
        why="Quota associativa pagata: scritture contabili",
    )
    unheld = {k: v for k, v in ERASURE[Membership].items() if k not in HELD_FEE_FIELDS}
    entries = RollEntry.objects.filter(person=person)
    certified = list(entries.filter(roll__status__in=CERTIFIED).select_related("roll"))
    held_entries = holds.keep(
        certified,
        kind="congress_roll",
        fields=HELD_ROLL_FIELDS,
        start=lambda e: (e.roll.signed_at or e.roll.computed_at).date(),
        why="Anagrafe certificata di un congresso svolto (M16)",
    )
    unheld_entries = {k: v for k, v in ERASURE[RollEntry].items() if k not in HELD_ROLL_FIELDS}
    return {
        "memberships": scrub(memberships, unheld) + scrub(memberships, ERASURE[Membership], skip_pks=held),
        "memberships_held": len(held),
        "card_blocks": scrub(CardBlock.objects.filter(person=person), ERASURE[CardBlock]),
        "transfers": scrub(Transfer.objects.filter(membership__person=person), ERASURE[Transfer]),
        "objections": scrub(Objection.objects.filter(membership__person=person), ERASURE[Objection]),
        "appeals": scrub(Appeal.objects.filter(objection__membership__person=person), ERASURE[Appeal]),
        "roll_entries": scrub(entries, unheld_entries) + scrub(entries, ERASURE[RollEntry], skip_pks=held_entries),
        "roll_entries_held": len(held_entries),
        "supporters": Supporter.objects.filter(person=person, withdrawn_at=None).update(withdrawn_at=timezone.now()),
        "anomaly_flags": _leave_flags(person),
    }


def _leave_flags(person: Any) -> int:
    flags = AnomalyFlag.objects.filter(
        pk__in=list(AnomalyFlag.objects.filter(people=person).values_list("pk", flat=True))
    )
    for flag in flags:
        flag.people.remove(person)
    return scrub(flags, {k: v for k, v in ERASURE[AnomalyFlag].items() if k != "people"})
