"""What erasure does to the bank rails' data (rule G5, issue 12; vocabulary in piazza.core.erasure).

A SEPA mandate and an expected transfer are found by the person's email addresses (they have no
link to the person record). A mandate that collected money and a transfer that was paid are
accounting records: the debtor's name and IBAN are held.
"""

from __future__ import annotations

from typing import Any

from piazza.core.erasure import BLANK, FILE, KEEP, PSEUDONYM, Declaration, HoldBook, scrub
from piazza.payments.bank.models import (
    BankAccount,
    Collection,
    CollectionBatch,
    ExpectedTransfer,
    Mandate,
    MandateAmendment,
    Payee,
    PayoutBatch,
    StatementImport,
    StatementLine,
    TransferStatus,
)

ERASURE: Declaration = {
    Mandate: {
        "debtor_name": PSEUDONYM,
        "debtor_email": BLANK,
        "debtor_iban": BLANK,
        "debtor_bic": BLANK,
        "pending_original_iban": BLANK,
        "paper_scan": FILE,
        "status_reason": BLANK,
    },
    MandateAmendment: {
        "old_debtor_name": PSEUDONYM,
        "new_debtor_name": PSEUDONYM,
        "old_iban": BLANK,
        "new_iban": BLANK,
    },
    ExpectedTransfer: {"payer_name": PSEUDONYM, "payer_email": BLANK},
    StatementLine: {"counterparty_name": KEEP, "counterparty_iban": KEEP},
}

KEEP_REASONS = {
    "bank.statementline.counterparty_name": "a bank statement as the bank sent it: an accounting record kept whole "
    "(art. 2220 c.c.); not linked to a person, so not found by erasure",
    "bank.statementline.counterparty_iban": "as above",
}

HELD_MANDATE = ["debtor_name", "debtor_iban", "debtor_bic"]
HELD_AMENDMENT = ["old_debtor_name", "new_debtor_name", "old_iban", "new_iban"]
PAID = [TransferStatus.PAID, TransferStatus.PARTIAL, TransferStatus.OVERPAID]

NOT_PERSONAL: Declaration = {
    BankAccount: {"name": "the party's own account", "iban": "the party's own account"},
    Payee: {
        "name": "a supplier the party pays (a business), registered by a treasurer",
        "iban": "a supplier's account",
    },
    CollectionBatch: {"message_id": "a SEPA file id"},
    PayoutBatch: {"message_id": "a SEPA file id"},
    StatementImport: {"filename": "the bank file's name", "message_id": "the bank file's id"},
    StatementLine: {"return_reason": "an ISO return code", "reason": "why the line was matched, by rule"},
    Collection: {"return_reason": "an ISO return code"},
}


def erase(person: Any, holds: HoldBook) -> dict[str, int]:
    emails = list(person.emails.values_list("value", flat=True))
    # By primary key: blanking the email must not empty the querysets half-way.
    mandates = Mandate.objects.filter(
        pk__in=list(Mandate.objects.filter(debtor_email__in=emails).values_list("pk", flat=True))
    )
    collected = list(mandates.exclude(last_collected_on=None))
    held = holds.keep(
        collected,
        kind="accounting",
        fields=HELD_MANDATE,
        start=lambda m: m.last_collected_on,
        why="Mandato SEPA con addebiti incassati: scritture contabili",
    )
    amendments = MandateAmendment.objects.filter(mandate__in=mandates)
    held_amendments = holds.keep(
        amendments.filter(mandate__in=held),
        kind="accounting",
        fields=HELD_AMENDMENT,
        start=lambda a: a.created_at.date(),
        why="Modifica di un mandato con addebiti",
    )
    transfers = ExpectedTransfer.objects.filter(
        pk__in=list(ExpectedTransfer.objects.filter(payer_email__in=emails).values_list("pk", flat=True))
    )
    held_transfers = holds.keep(
        transfers.filter(status__in=PAID),
        kind="accounting",
        fields=["payer_name"],
        start=lambda t: t.created_at.date(),
        why="Bonifico ricevuto: scritture contabili",
    )

    def unheld(model: Any, fields: list[str]) -> dict[str, str]:
        return {k: v for k, v in ERASURE[model].items() if k not in fields}

    return {
        "mandates": scrub(mandates, unheld(Mandate, HELD_MANDATE)) + scrub(mandates, ERASURE[Mandate], skip_pks=held),
        "mandate_amendments": scrub(amendments, ERASURE[MandateAmendment], skip_pks=held_amendments),
        "transfers": scrub(transfers, unheld(ExpectedTransfer, ["payer_name"]))
        + scrub(transfers, ERASURE[ExpectedTransfer], skip_pks=held_transfers),
    }
