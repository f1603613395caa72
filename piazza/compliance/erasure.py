"""Rule G5 declarations (piazza.core.erasure) for the compliance app."""

from __future__ import annotations

from piazza.compliance.models import (
    Candidacy,
    CandidateExpense,
    FinanceRuleSet,
    JointDeclaration,
    TaxStatement,
    TaxStatementChunk,
    TaxStatementRun,
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
    # Rules F7/F8: a tax statement is a document issued for the donor's tax return (new versions, no edits).
    TaxStatement: {"person": LINK, "donor_name": KEEP, "donor_codice_fiscale": KEEP, "lines": KEEP},
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
    "compliance.taxstatement.donor_name": "the annual statement issued for the donor's tax credit (DL 149/2013 "
    "art. 11), a document the tax authority may check: kept with the accounts, never edited "
    "(a change is a new version)",
    "compliance.taxstatement.donor_codice_fiscale": "as above",
    "compliance.taxstatement.lines": "the gifts the statement certifies (dates, amounts, means): as above",
}
NOT_PERSONAL: Declaration = {
    FinanceRuleSet: {"note": "a note on a set of finance rules"},
    CandidateExpense: {"description": "an election expense of the candidacy", "supplier": "a supplier, a business"},
    TaxStatementRun: {
        "errors": "technical messages of a generation run (chunk numbers, exception names)",
        "emailed": "a count of emails sent by a run",
    },
    TaxStatementChunk: {"person_ids": "row ids of the persons in one slice of a run, nothing else"},
    TaxStatement: {"digest": "a SHA-256 of the figures and lines, to tell a changed version from an unchanged one"},
}
