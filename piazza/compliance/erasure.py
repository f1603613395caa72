"""Rule G5 declarations (piazza.core.erasure) for the compliance app."""

from __future__ import annotations

from piazza.compliance.models import Candidacy, CandidateExpense, FinanceRuleSet, JointDeclaration, Receipt
from piazza.core.erasure import KEEP, LINK, Declaration

ERASURE: Declaration = {
    Candidacy: {
        "candidate_name": KEEP,
        "mandatario_name": KEEP,
        "mandatario_codice_fiscale": KEEP,
        "mandatario_iban": KEEP,
        "candidate_person": LINK,
        "mandatario_person": LINK,
        "election": KEEP,
        "constituency": KEEP,
    },
    # Rule F12: the joint declaration is filed with the election authority; kept with the candidacy.
    JointDeclaration: {"donor": LINK, "document": KEEP},
    # Rule F3, convention 10: a receipt is an immutable accounting document (append-only table).
    Receipt: {
        "donor_person_id": KEEP,
        "donor_name": KEEP,
        "donor_codice_fiscale": KEEP,
        "donor_address": KEEP,
        "purpose": KEEP,
        "reason": KEEP,
    },
}
KEEP_REASONS = {
    "compliance.candidacy.candidate_name": "a candidate's public candidacy and campaign finance record "
    "(L. 515/1993): not a Person record, kept for the election's accounts",
    "compliance.candidacy.mandatario_name": "the electoral agent named by law for the candidacy (as above)",
    "compliance.candidacy.mandatario_codice_fiscale": "as above",
    "compliance.candidacy.mandatario_iban": "the candidacy's dedicated account (as above)",
    "compliance.candidacy.election": "the name of an election, public",
    "compliance.candidacy.constituency": "the constituency of a candidacy, public",
    "compliance.receipt.donor_person_id": "the numbered receipt (rule F3) of money the party received: an "
    "accounting document kept whole for the legal period (art. 2220 c.c.); the table refuses UPDATE and DELETE",
    "compliance.receipt.donor_name": "as above: the donor's name as written on the receipt at issue",
    "compliance.receipt.donor_codice_fiscale": "as above: the codice fiscale, needed for the tax credit (F7/F8)",
    "compliance.receipt.donor_address": "as above: the donor's address as written on the receipt",
    "compliance.receipt.purpose": "as above: what the money was for (a campaign, a fee)",
    "compliance.receipt.reason": "as above: why a cancellation was issued (refund, chargeback)",
    "compliance.jointdeclaration.document": "the joint declaration of a contribution above the F12 threshold, "
    "filed with the election authority: part of the candidacy's accounts",
}
NOT_PERSONAL: Declaration = {
    FinanceRuleSet: {"note": "a note on a set of finance rules"},
    CandidateExpense: {"description": "an election expense of the candidacy", "supplier": "a supplier, a business"},
    Receipt: {"tax_note": "the fixed F7/F8 wording printed on every receipt, the same for everyone"},
}
