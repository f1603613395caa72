"""What the people app holds about a person, for the data-rights handlers (rule G5).

Read by `piazza.privacy.registry` (a higher layer); this module imports nothing above people.
`PERSONAL_FIELDS` declares, per model, the columns that hold personal data; `NOT_PERSONAL`
lists models that point at a person but hold nothing of theirs, with the reason; `export`
returns every row about the person, keyed by model label (docs/adr/0015).
"""

from __future__ import annotations

from typing import Any

from django.db import models
from django.utils.translation import gettext_lazy as _

from piazza.core.data_export import row, rows
from piazza.core.processing import Processing
from piazza.people.models import (
    CodeDateReview,
    Consent,
    DuplicateCandidate,
    Email,
    ImportRow,
    NoticeAcceptance,
    Person,
    Phone,
    ScopeRequest,
    TimelineEntry,
)

SECTION = "people"

PERSONAL_FIELDS: dict[type[models.Model], list[str]] = {
    Person: [
        "first_name",
        "last_name",
        "sex",
        "birth_date",
        "birth_comune",
        "birth_country",
        "codice_fiscale",
        "citizenship",
        "residence_street",
        "residence_cap",
        "residence_comune",
        "domicile_street",
        "domicile_cap",
        "domicile_comune",
        "territory",
        "voting_circolo",
        "tags",
        "notes",
        "merged_into",
    ],
    Email: ["value"],
    Phone: ["value"],
    Consent: ["purpose", "granted", "at", "channel", "text_version", "evidence"],
    TimelineEntry: ["summary", "data"],
    ImportRow: ["raw", "errors", "match_note", "target_note"],
    CodeDateReview: ["codice_fiscale", "code_birth_date", "record_birth_date", "note"],
    ScopeRequest: ["data", "decision_note"],
    # Which privacy notice version the person was shown, where and when (rule G3, GDPR art. 7(1)).
    NoticeAcceptance: ["person", "collection_point", "channel", "at"],
}

NOT_PERSONAL: dict[type[models.Model], str] = {
    DuplicateCandidate: "a pair of record ids and a similarity score for officials' deduplication: "
    "no data beyond the two Person rows, which are exported",
}


def export(person: Any) -> dict[str, list[dict[str, Any]]]:
    profile = row(person)
    profile["tags"] = sorted(person.tags.values_list("name", flat=True))
    acceptances = list(
        NoticeAcceptance.objects.filter(person=person).select_related("version__notice").order_by("at", "id")
    )
    return {
        "people.person": [profile],
        "people.email": rows(Email.objects.filter(person=person)),
        "people.phone": rows(Phone.objects.filter(person=person)),
        # G3: every consent event with its purpose, channel, time and the text version accepted.
        "people.consent": rows(Consent.objects.filter(person=person).order_by("at", "id"), exclude=["recorded_by"]),
        "people.timelineentry": rows(
            TimelineEntry.objects.filter(person=person).order_by("at", "id"), exclude=["actor"]
        ),
        "people.importrow": rows(ImportRow.objects.filter(person=person).select_related("batch")),
        "people.codedatereview": rows(CodeDateReview.objects.filter(person=person), exclude=["resolved_by"]),
        "people.scoperequest": rows(ScopeRequest.objects.filter(person=person), exclude=["requested_by", "decided_by"]),
        "people.noticeacceptance": [
            {**item, "version": code}
            for item, code in zip(
                rows(acceptances, exclude=["recorded_by"]), [a.version.code for a in acceptances], strict=True
            )
        ],
    }


PROCESSING = [
    Processing(
        name=_("Anagrafe dei contatti, iscritti e sostenitori"),
        purpose=_("Tenere un'unica scheda per persona con recapiti, territorio, cronologia e deduplicazione"),
        legal_basis=_("Art. 6.1.b e 6.1.f GDPR; art. 9.2.d per le attività legittime del partito (regola G1)"),
        subjects=_("Iscritti, sostenitori, donatori, contatti dei circoli"),
        retention=("inactive_contacts_years", "import_rows_days"),
    ),
    Processing(
        name=_("Consensi e informative"),
        purpose=_("Registrare per finalità i consensi dati e revocati e le informative lette (G3)"),
        legal_basis=_("Art. 7.1 GDPR (onere della prova del consenso); art. 6.1.c"),
        subjects=_("Chiunque dia o revochi un consenso o compili un modulo"),
        retention=("inactive_contacts_years",),
    ),
]
