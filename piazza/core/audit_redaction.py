"""Pseudonymising the audit entries about an erased person (rule G5, issue 12) without breaking the
audit chain (rule G4, docs/adr/0014, docs/dev/erasure.md).

Chained entries seal their personal columns (`AuditEntry.REDACTABLE`: actor label, IP, user agent,
data) through `personal_digest`, so these columns can be rewritten once — the database trigger
allows exactly that and nothing else — while the chain still verifies. What a redaction wrote is
sealed in turn by one chained entry `core.redact_audit` ({entry id: digest of the new columns}),
which `verify_chain` checks: a redacted entry that no redaction entry covers, or whose columns
changed again, is reported as altered.

What is replaced by the person's pseudonymous reference (`E-…`):
- the person's strong identifiers (emails, phones, codice fiscale, IBANs, full name, address,
  notes) wherever they appear, in any entry;
- in entries about the person or one of their records (`about`): their first and last names too,
  and every value under a key that names personal data (`PERSONAL_KEYS`);
- the IP address and browser of entries about them written with no official acting (the person's
  own requests: Il mio spazio, public forms). Officials' names, IPs and object ids stay.
Entries written before personal digests existed are sealed whole and cannot be redacted: they
are counted (`legacy`) and listed in the erasure's report.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Q, TextField
from django.db.models.functions import Cast
from django.utils import timezone

from piazza.core.audit import Actor, record
from piazza.core.auditchain import REDACTION_ACTION
from piazza.core.models import AuditEntry

# Keys of audit data that hold personal data when the entry is about the person.
PERSONAL_KEYS = frozenset(
    {
        "name",
        "first_name",
        "last_name",
        "full_name",
        "display_name",
        "email",
        "emails",
        "phone",
        "phones",
        "codice_fiscale",
        "cf",
        "iban",
        "debtor_iban",
        "debtor_name",
        "address",
        "street",
        "residence_street",
        "birth_date",
        "birth_place",
        "notes",
        "note",
        "payer_name",
        "payer_email",
        "message",
        "evidence",
    }
)
MIN_IDENTIFIER = 4  # shorter strings are too common to be the person's alone
MIN_NAME = 2


@dataclass
class Subject:
    """The erased person as the audit log may name them."""

    pseudonym: str
    about: set[tuple[str, str]] = field(default_factory=set)  # (object_type, object_id) of their records
    identifiers: set[str] = field(default_factory=set)  # strong: replaced in every entry
    names: set[str] = field(default_factory=set)  # weak: replaced only in entries about them


@dataclass
class Redaction:
    redacted: list[int]
    legacy: int


def _pattern(values: Iterable[str], minimum: int) -> re.Pattern[str] | None:
    wanted = sorted({v.strip() for v in values if v and len(v.strip()) >= minimum}, key=len, reverse=True)
    if not wanted:
        return None
    return re.compile("|".join(rf"(?<!\w){re.escape(v)}(?!\w)" for v in wanted), re.IGNORECASE)


def _scrub(value: Any, patterns: list[re.Pattern[str]], about: bool, pseudonym: str) -> Any:
    if isinstance(value, dict):
        return {
            k: (
                pseudonym
                if about and str(k).lower() in PERSONAL_KEYS and value[k] not in (None, "", [], {})
                else _scrub(value[k], patterns, about, pseudonym)
            )
            for k in value
        }
    if isinstance(value, list):
        return [_scrub(v, patterns, about, pseudonym) for v in value]
    if isinstance(value, str):
        for pattern in patterns:
            value = pattern.sub(pseudonym, value)
        return value
    return value


def _candidates(subject: Subject) -> Any:
    text = Q()
    for value in subject.identifiers:
        if len(value) < MIN_IDENTIFIER:
            continue
        for form in {value, json.dumps(value)[1:-1]}:  # SQLite stores JSON with \\u escapes
            text |= Q(data_text__icontains=form) | Q(actor_label__icontains=form)
    about = Q()
    by_type: dict[str, list[str]] = {}
    for object_type, object_id in subject.about:
        by_type.setdefault(object_type, []).append(object_id)
    for object_type, ids in by_type.items():
        about |= Q(object_type=object_type, object_id__in=ids)
    wanted = text | about
    if not wanted:
        return AuditEntry.objects.none()
    return AuditEntry.objects.annotate(data_text=Cast("data", TextField())).filter(wanted, redacted_at=None)


def redact_entries(*, actor: Actor, subject: Subject) -> Redaction:
    """Pseudonymise every audit entry naming `subject` (inside the erasure's transaction), then
    seal what was written with one chained `core.redact_audit` entry."""
    strong = _pattern(subject.identifiers, MIN_IDENTIFIER)
    weak = _pattern(subject.names, MIN_NAME)
    now = timezone.now()
    seals: dict[str, str] = {}
    legacy = 0
    for entry in _candidates(subject).order_by("pk").iterator(500):
        about = (entry.object_type, entry.object_id) in subject.about
        patterns = [p for p in (strong, weak if about else None) if p is not None]
        data = _scrub(entry.data, patterns, about, subject.pseudonym)
        label = _scrub(entry.actor_label, patterns, False, subject.pseudonym)
        own = about and entry.actor_id is None  # the person's own request: their address and browser
        ip, agent = ("", "") if own else (entry.ip, entry.user_agent)
        if (data, label, ip, agent) == (entry.data, entry.actor_label, entry.ip, entry.user_agent):
            continue
        if not entry.personal_digest:
            legacy += 1  # sealed whole before personal digests: cannot change without breaking the chain
            continue
        AuditEntry.objects.filter(pk=entry.pk).update(
            data=data, actor_label=label, ip=ip, user_agent=agent, redacted_at=now
        )
        seals[str(entry.pk)] = AuditEntry.digest_of_personal(label, ip, agent, data)
    if seals:
        record(REDACTION_ACTION, actor=actor, data={"ref": subject.pseudonym, "entries": seals})
    return Redaction(redacted=[int(pk) for pk in seals], legacy=legacy)
