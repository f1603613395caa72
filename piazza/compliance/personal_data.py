"""What the compliance app holds about a person, for the data-rights handlers (rule G5).

Receipts and the donor register (F1) are derived from funding's donations, exported there.
What compliance itself stores per person is the mandatario of a candidacy (F10): their name,
codice fiscale and bank account, matched to the person by codice fiscale. See
`piazza.people.personal_data` for the shape.
"""

from __future__ import annotations

from typing import Any

from django.db import models

from piazza.compliance.models import Candidacy, JointDeclaration, TaxStatement
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
        "compliance.taxstatement": rows(
            TaxStatement.objects.filter(person=person).order_by("year", "entity_id", "version"),
            exclude=["digest", "run"],
        ),
    }
