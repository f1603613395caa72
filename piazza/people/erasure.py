"""What erasure does to the people app's data (rule G5, issue 12; vocabulary in piazza.core.erasure).

Run last by privacy.erasure: the other apps find the person's rows by their emails first.
"""

from __future__ import annotations

from typing import Any

from piazza.core.erasure import (
    BLANK,
    DELETE_ROW,
    EMPTY,
    ERASED_FIRST_NAME,
    ERASED_LAST_NAME,
    KEEP,
    LINK,
    NULL,
    ROW,
    Declaration,
    HoldBook,
    scrub,
)
from piazza.people.models import (
    CodeDateReview,
    Consent,
    DuplicateCandidate,
    Email,
    ErasedIdentity,
    ImportBatch,
    ImportMapping,
    ImportRow,
    NoticeAcceptance,
    Person,
    Phone,
    ScopeRequest,
    Segment,
    Tag,
    TimelineEntry,
)
from piazza.people.validation import search_name

ERASURE: Declaration = {
    Person: {
        "first_name": KEEP,
        "last_name": KEEP,  # set to "Persona" "cancellata" by erase below
        "search_name": BLANK,
        "sex": BLANK,
        "birth_date": NULL,
        "birth_comune": NULL,
        "birth_country": BLANK,
        "codice_fiscale": BLANK,
        "codice_fiscale_canonical": BLANK,
        "residence_street": BLANK,
        "residence_cap": BLANK,
        "residence_comune": NULL,
        "domicile_street": BLANK,
        "domicile_cap": BLANK,
        "domicile_comune": NULL,
        "notes": BLANK,
        "tags": BLANK,
        "merged_into": KEEP,
    },
    Email: {ROW: DELETE_ROW, "value": BLANK, "person": LINK},
    Phone: {ROW: DELETE_ROW, "value": BLANK, "person": LINK},
    # Rule G3: the consent history stays as pseudonymous proof (purpose, yes/no, when, text version)
    # of a person now called "Persona cancellata"; the free-text evidence goes.
    Consent: {"person": LINK, "evidence": BLANK, "text_version": KEEP},
    TimelineEntry: {ROW: DELETE_ROW, "person": LINK, "kind": BLANK, "summary": BLANK, "data": EMPTY},
    DuplicateCandidate: {ROW: DELETE_ROW, "person_a": LINK, "person_b": LINK, "reasons": EMPTY},
    ImportRow: {"raw": EMPTY, "errors": EMPTY, "person": NULL, "match_note": BLANK, "target_note": BLANK},
    # Issue 11 item 14: a codice fiscale and birth date waiting for an official's check.
    CodeDateReview: {
        ROW: DELETE_ROW,
        "person": LINK,
        "codice_fiscale": BLANK,
        "code_birth_date": NULL,
        "record_birth_date": NULL,
        "note": BLANK,
    },
    ScopeRequest: {"person": LINK, "data": EMPTY, "decision_note": BLANK},
    # Rule G3: like a consent, which notice version "Persona cancellata" was shown stays as proof.
    NoticeAcceptance: {"person": LINK, "collection_point": KEEP, "channel": KEEP, "source_label": KEEP},
}

KEEP_REASONS = {
    "people.person.first_name": "replaced by «Persona» «cancellata», the record stays for the rows the law keeps",
    "people.person.last_name": "replaced by «Persona» «cancellata», the record stays for the rows the law keeps",
    "people.person.merged_into": "a record id: where a merged record points",
    "people.consent.text_version": "the version of the notice accepted: proof of consent, not about the person",
    "people.noticeacceptance.collection_point": "which form showed the notice: proof, not about the person",
    "people.noticeacceptance.channel": "web or paper: how the notice was shown, not about the person",
    "people.noticeacceptance.source_label": "the kind of row the form wrote (e.g. funding.donation), no data",
}

NOT_PERSONAL: Declaration = {
    Tag: {"name": "a label officials give to groups, no person"},
    Segment: {"name": "the name of a saved search"},
    ImportMapping: {"name": "the name of a column mapping"},
    ImportBatch: {"file_name": "the name of the uploaded file, chosen by the official"},
    ErasedIdentity: {ROW: "only keyed hashes, unreadable without settings.ERASURE_HASH_KEY"},
}


def erase(person: Person, holds: HoldBook) -> dict[str, int]:
    """Blank everything of the person in the people app; nothing here is held by law."""
    counts = {
        "emails": scrub(Email.objects.filter(person=person), ERASURE[Email]),
        "phones": scrub(Phone.objects.filter(person=person), ERASURE[Phone]),
        "consents": scrub(Consent.objects.filter(person=person), ERASURE[Consent]),
        "timeline": scrub(TimelineEntry.objects.filter(person=person), ERASURE[TimelineEntry]),
        "duplicates": scrub(
            DuplicateCandidate.objects.filter(person_a=person) | DuplicateCandidate.objects.filter(person_b=person),
            ERASURE[DuplicateCandidate],
        ),
        "import_rows": scrub(ImportRow.objects.filter(person=person), ERASURE[ImportRow]),
        "code_reviews": scrub(CodeDateReview.objects.filter(person=person), ERASURE[CodeDateReview]),
        "scope_requests": scrub(ScopeRequest.objects.filter(person=person), ERASURE[ScopeRequest]),
        "notice_acceptances": scrub(NoticeAcceptance.objects.filter(person=person), ERASURE[NoticeAcceptance]),
    }
    # Records merged into this one carry the same human's old data.
    for old in Person.objects.filter(merged_into=person):
        _blank_person(old)
    _blank_person(person)
    return counts


def _blank_person(person: Any) -> None:
    scrub(Person.objects.filter(pk=person.pk), ERASURE[Person])
    Person.objects.filter(pk=person.pk).update(
        first_name=ERASED_FIRST_NAME,
        last_name=ERASED_LAST_NAME,
        search_name=search_name(ERASED_FIRST_NAME, ERASED_LAST_NAME),
    )
