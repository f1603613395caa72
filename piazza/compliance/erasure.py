"""Rule G5 declarations (piazza.core.erasure) for the compliance app."""

from __future__ import annotations

import datetime as dt
from typing import Any

from piazza.compliance.models import (
    Candidacy,
    CandidateExpense,
    ElectionPeriod,
    FinanceRuleSet,
    InKindContribution,
    JointDeclaration,
    LegalGiver,
    PublishedRow,
    Receipt,
    RegisterEntry,
    RegisterPublication,
    TaxStatement,
    TaxStatementChunk,
    TaxStatementRun,
    TwoPerThousandEntry,
)
from piazza.core.erasure import BLANK, FILE, KEEP, LINK, PSEUDONYM, Declaration, HoldBook, scrub

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
    # The donor register (rule F1): the name stays under the "donor_register" legal hold (5 years,
    # settings.PRIVACY_LEGAL_HOLDS), then becomes the pseudonym; the evidence of a contribution in
    # kind is an accounting document (held 10 years), then deleted.
    InKindContribution: {"person": LINK, "description": BLANK, "evidence": FILE},
    # Rule F13: a company's entry names the company; its legal representative is only the signatory.
    RegisterEntry: {"person": LINK, "donor_name": PSEUDONYM, "signatory": LINK},
    PublishedRow: {"person": LINK, "donor_name": PSEUDONYM},
    # Rule F3, convention 10: a receipt is an immutable accounting document (append-only table).
    Receipt: {
        "donor_person_id": KEEP,
        "donor_name": KEEP,
        "donor_codice_fiscale": KEEP,
        "donor_address": KEEP,
        "purpose": KEEP,
        "reason": KEEP,
    },
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
    "compliance.receipt.donor_person_id": "the numbered receipt (rule F3) of money the party received: an "
    "accounting document kept whole for the legal period (art. 2220 c.c.); the table refuses UPDATE and DELETE",
    "compliance.receipt.donor_name": "as above: the donor's name as written on the receipt at issue",
    "compliance.receipt.donor_codice_fiscale": "as above: the codice fiscale, needed for the tax credit (F7/F8)",
    "compliance.receipt.donor_address": "as above: the donor's address as written on the receipt",
    "compliance.receipt.purpose": "as above: what the money was for (a campaign, a fee)",
    "compliance.receipt.reason": "as above: why a cancellation was issued (refund, chargeback)",
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
    ElectionPeriod: {"description": "the name of an election, public"},
    RegisterPublication: {"note": "the treasurer's note on a published version (what changed)"},
    PublishedRow: {
        "items": "dates, amounts and channels of contributions, no identity",
        "entity_code": "the VAT number of a company or association giving (rule F13): a legal person",
    },
    RegisterEntry: {"entity_code": "the VAT number of a company or association giving (rule F13): a legal person"},
    CandidateExpense: {"description": "an election expense of the candidacy", "supplier": "a supplier, a business"},
    Receipt: {"tax_note": "the fixed F7/F8 wording printed on every receipt, the same for everyone"},
    TaxStatementRun: {
        "errors": "technical messages of a generation run (chunk numbers, exception names)",
        "emailed": "a count of emails sent by a run",
    },
    TaxStatementChunk: {"person_ids": "row ids of the persons in one slice of a run, nothing else"},
    TaxStatement: {"digest": "a SHA-256 of the figures and lines, to tell a changed version from an unchanged one"},
    TwoPerThousandEntry: {"note": "the treasurer's note on an aggregate 2×1000 amount (rule F9): no person"},
    LegalGiver: {"legal_name": "the name of a company or association giving (rule F13): a legal person"},
}


IN_KIND_HELD = ["description", "evidence"]
NAME_HELD = ["donor_name"]


def erase(person: Any, holds: HoldBook) -> dict[str, int]:
    """Rule G5 with rule F1: the register keeps the donor's name for the years the law requires
    (legal hold "donor_register"), the in-kind evidence as an accounting record ("accounting");
    what no hold covers any more is blanked now."""
    in_kind = InKindContribution.objects.filter(person=person)
    held_in_kind = holds.keep(
        list(in_kind),
        kind="accounting",
        fields=IN_KIND_HELD,
        start=lambda c: c.received_on,
        why="Contributo in natura: documento contabile del valore ricevuto",
    )
    entries = RegisterEntry.objects.filter(person=person)
    held_entries = holds.keep(
        list(entries),
        kind="donor_register",
        fields=NAME_HELD,
        start=lambda e: dt.date(e.year, 12, 31),
        why="Donatore nel registro dei contributi ricevuti (regola F1)",
    )
    rows = PublishedRow.objects.filter(person=person).select_related("publication")
    held_rows = holds.keep(
        list(rows),
        kind="donor_register",
        fields=NAME_HELD,
        start=lambda r: r.publication.published_at.date(),
        why="Nome pubblicato nel registro dei contributi, da tenere online (regola F1)",
    )
    return {
        "in_kind": scrub(in_kind, ERASURE[InKindContribution], skip_pks=held_in_kind),
        "register_entries": scrub(entries, ERASURE[RegisterEntry], skip_pks=held_entries),
        "published_rows": scrub(PublishedRow.objects.filter(person=person), ERASURE[PublishedRow], skip_pks=held_rows),
    }
