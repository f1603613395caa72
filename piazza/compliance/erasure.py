"""Rule G5 declarations (piazza.core.erasure) for the compliance app."""

from __future__ import annotations

from piazza.compliance.models import Candidacy, FinanceRuleSet
from piazza.core.erasure import KEEP, Declaration

ERASURE: Declaration = {
    Candidacy: {"candidate_name": KEEP, "mandatario_name": KEEP, "mandatario_codice_fiscale": KEEP,
                "mandatario_iban": KEEP},
}
KEEP_REASONS = {
    "compliance.candidacy.candidate_name": "a candidate's public candidacy and campaign finance record "
                                           "(L. 515/1993): not a Person record, kept for the election's accounts",
    "compliance.candidacy.mandatario_name": "the electoral agent named by law for the candidacy (as above)",
    "compliance.candidacy.mandatario_codice_fiscale": "as above",
    "compliance.candidacy.mandatario_iban": "the candidacy's dedicated account (as above)",
}
NOT_PERSONAL: Declaration = {FinanceRuleSet: {"note": "a note on a set of finance rules"}}
