"""Rule G5 declarations (piazza.core.erasure) for the compliance app."""

from __future__ import annotations

from piazza.compliance.models import (
    Candidacy,
    CandidateExpense,
    FinanceRuleSet,
    JointDeclaration,
    LegalGiver,
    TwoPerThousandEntry,
)
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
}
KEEP_REASONS = {
    "compliance.candidacy.candidate_name": "a candidate's public candidacy and campaign finance record "
    "(L. 515/1993): not a Person record, kept for the election's accounts",
    "compliance.candidacy.mandatario_name": "the electoral agent named by law for the candidacy (as above)",
    "compliance.candidacy.mandatario_codice_fiscale": "as above",
    "compliance.candidacy.mandatario_iban": "the candidacy's dedicated account (as above)",
    "compliance.candidacy.election": "the name of an election, public",
    "compliance.candidacy.constituency": "the constituency of a candidacy, public",
    "compliance.jointdeclaration.document": "the joint declaration of a contribution above the F12 threshold, "
    "filed with the election authority: part of the candidacy's accounts",
}
NOT_PERSONAL: Declaration = {
    FinanceRuleSet: {"note": "a note on a set of finance rules"},
    CandidateExpense: {"description": "an election expense of the candidacy", "supplier": "a supplier, a business"},
    TwoPerThousandEntry: {"note": "the treasurer's note on an aggregate 2×1000 amount (rule F9): no person"},
    LegalGiver: {"legal_name": "the name of a company or association giving (rule F13): a legal person"},
}
