"""What the compliance app holds about a person, for the data-rights handlers (rule G5).

Receipts and the donor register (F1) are derived from funding's donations, exported there.
What compliance itself stores per person is the mandatario of a candidacy (F10): their name,
codice fiscale and bank account, matched to the person by codice fiscale. See
`piazza.people.personal_data` for the shape.
"""

from __future__ import annotations

from typing import Any

from django.db import models
from django.db.models import Q

from piazza.compliance.models import (
    Candidacy,
    InKindContribution,
    JointDeclaration,
    PublishedRow,
    Receipt,
    RegisterEntry,
    TaxStatement,
)
from piazza.compliance.receipts import person_ids_of
from piazza.core.data_export import rows

SECTION = "compliance"

PERSONAL_FIELDS: dict[type[models.Model], list[str]] = {
    Candidacy: [
        "mandatario_name",
        "mandatario_codice_fiscale",
        "mandatario_iban",
        "candidate_person",
        "mandatario_person",
    ],
    JointDeclaration: ["donor", "document", "signed_on", "filed_on", "status"],
    # The donor register (rule F1): what was given in kind, the entries and the published rows.
    InKindContribution: ["person", "description", "value_cents", "received_on", "evidence"],
    RegisterEntry: ["person", "signatory", "donor_name", "year", "total_cents"],
    PublishedRow: ["person", "donor_name", "total_cents", "items"],
    # Rule F3: the numbered receipts, with the donor's data as copied at issue.
    Receipt: ["donor_person_id", "donor_name", "donor_codice_fiscale", "donor_address"],
    # Rules F7/F8: the annual tax statements issued to the person (every version).
    TaxStatement: ["person", "donor_name", "donor_codice_fiscale", "lines"],
}


def export(person: Any) -> dict[str, list[dict[str, Any]]]:
    codes = {code for code in (person.codice_fiscale.upper(), person.codice_fiscale_canonical) if code}
    candidacies = Candidacy.objects.filter(mandatario_codice_fiscale__in=codes) if codes else Candidacy.objects.none()
    candidacies = (
        candidacies
        | Candidacy.objects.filter(candidate_person=person)
        | Candidacy.objects.filter(mandatario_person=person)
    )
    return {
        "compliance.candidacy": rows(candidacies.distinct().order_by("created_at", "id"), exclude=["mandatario_user"]),
        "compliance.jointdeclaration": rows(
            JointDeclaration.objects.filter(donor=person).order_by("id"), exclude=["document", "uploaded_by"]
        ),
        "compliance.inkindcontribution": rows(
            InKindContribution.objects.filter(person=person).order_by("id"), exclude=["evidence", "recorded_by"]
        ),
        "compliance.registerentry": rows(
            RegisterEntry.objects.filter(Q(person=person) | Q(signatory=person)).order_by("year", "id")
        ),
        "compliance.publishedrow": rows(PublishedRow.objects.filter(person=person).order_by("id")),
        "compliance.receipt": rows(Receipt.objects.filter(donor_person_id__in=person_ids_of(person)).order_by("id")),
        "compliance.taxstatement": rows(
            TaxStatement.objects.filter(person=person).order_by("year", "entity_id", "version"),
            exclude=["digest", "run"],
        ),
    }
