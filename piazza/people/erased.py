"""Issue 12, rule G5: recognising a person who asked to be erased, without keeping who they were.

Erasure (piazza.privacy.erasure, a higher layer) calls `remember_erased` with the person's
identifiers before blanking them; the import and `find_or_create_person` call `erased_match` on
what they are given. Only keyed hashes (HMAC-SHA256 with settings.ERASURE_HASH_KEY) of the
normalised email, phone and canonical codice fiscale are stored: without the key a digest
reveals nothing, and a name alone is never remembered.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable

from django.conf import settings

from piazza.people.codice_fiscale import canonical_codice_fiscale
from piazza.people.models import ErasedIdentity, ErasedIdentityKind, Person


def digest(kind: str, value: str) -> str:
    key = str(settings.ERASURE_HASH_KEY).encode()
    return hmac.new(key, f"{kind}:{value.strip().lower()}".encode(), hashlib.sha256).hexdigest()


def _digests(emails: Iterable[str] = (), phones: Iterable[str] = (), codice_fiscale: str = "") -> dict[str, str]:
    out: dict[str, str] = {}
    for value in emails:
        if value:
            out[digest(ErasedIdentityKind.EMAIL, value)] = ErasedIdentityKind.EMAIL
    for value in phones:
        if value:
            out[digest(ErasedIdentityKind.PHONE, value)] = ErasedIdentityKind.PHONE
    if codice_fiscale:
        code = canonical_codice_fiscale(codice_fiscale) or codice_fiscale
        out[digest(ErasedIdentityKind.CODICE_FISCALE, code)] = ErasedIdentityKind.CODICE_FISCALE
    return out


def remember_erased(person: Person) -> int:
    """Store the digests of the person's identifiers (idempotent); returns how many are new."""
    found = _digests(
        emails=person.emails.values_list("value", flat=True),
        phones=person.phones.values_list("value", flat=True),
        codice_fiscale=person.codice_fiscale_canonical or person.codice_fiscale,
    )
    known = set(ErasedIdentity.objects.filter(digest__in=list(found)).values_list("digest", flat=True))
    ErasedIdentity.objects.bulk_create(
        [ErasedIdentity(kind=kind, digest=d) for d, kind in found.items() if d not in known],
        ignore_conflicts=True,
    )
    return len(set(found) - known)


def erased_match(*, emails: Iterable[str] = (), phones: Iterable[str] = (), codice_fiscale: str = "") -> list[str]:
    """The kinds of identifier (email, phone, codice_fiscale) that belong to an erased person."""
    found = _digests(emails, phones, codice_fiscale)
    if not found:
        return []
    hits = ErasedIdentity.objects.filter(digest__in=list(found)).values_list("digest", flat=True)
    return sorted({found[d] for d in hits})


def erased_flags(items: list[tuple[Iterable[str], Iterable[str], str]]) -> list[bool]:
    """For many (emails, phones, codice fiscale) at once (an import chunk): one query in all."""
    per_item = [_digests(emails, phones, code) for emails, phones, code in items]
    wanted = {d for found in per_item for d in found}
    if not wanted:
        return [False] * len(items)
    hits = set(ErasedIdentity.objects.filter(digest__any=wanted).values_list("digest", flat=True))
    return [bool(hits & set(found)) for found in per_item]
