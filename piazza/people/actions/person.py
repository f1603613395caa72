"""Creating and editing a person: contacts, tags, timeline."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy
from django.utils.translation import gettext_noop

from piazza.core.audit import record
from piazza.core.errors import Refused, refuse, refusing
from piazza.core.i18n import deferred, stored_form
from piazza.core.models import AuditKind
from piazza.core.outbound import announce
from piazza.core.write_queue import queue_insert
from piazza.people import dedupe
from piazza.people.erased import erased_match
from piazza.people.models import (
    TIMELINE_SUMMARY_KEY,
    WRITE_ROLES,
    DuplicateCandidate,
    DuplicateStatus,
    Email,
    Person,
    Phone,
    ScopeRequestKind,
    Source,
    Tag,
    TimelineEntry,
)
from piazza.people.validation import CleanedPerson, clean_person_data, search_name
from piazza.territory.models import Comune, Level, Role, Territory

from ._records import PERSON_FIELDS, _is_user, _require_scope, _set_contacts, _set_tags, _snapshot
from .scope import ask_other_territory, assign_territory, outside_scope


def _refuse_invalid(action: str, cleaned: CleanedPerson, *, actor: Any, territory: Territory | None) -> None:
    if cleaned.errors:
        from django.core.exceptions import ValidationError

        with transaction.atomic():
            record(
                action,
                actor=actor,
                territory=territory,
                kind=AuditKind.DENIED,
                data={"reason": "invalid", "errors": cleaned.errors},
            )
        raise ValidationError(cleaned.errors)


def add_timeline_entry(
    person: Person,
    *,
    kind: str,
    summary: str,
    data: dict[str, Any] | None = None,
    actor: Any,
    at: dt.datetime | None = None,
) -> TimelineEntry:
    """Other apps (donations, memberships) add their events here; merged ids are followed."""
    while person.merged_into_id:
        person = Person.objects.get(pk=person.merged_into_id)
    said = stored_form(summary)  # a core.i18n.Deferred summary is read again in the reader's language
    data = {**(data or {}), TIMELINE_SUMMARY_KEY: said} if said else (data or {})
    entry = TimelineEntry(
        person=person,
        kind=kind,
        summary=summary[:300],
        data=data,
        actor=actor if _is_user(actor) else None,
        at=at or timezone.now(),
    )
    # Inside `audited_atomic()` written with the block's last statement: a timeline is only read
    # by pages and exports, never by the action adding to it (ADR 0046).
    queue_insert(entry)
    return entry


def _queue_duplicates(person: Person, matches: list[dedupe.Match]) -> list[DuplicateCandidate]:
    queued = []
    for m in matches:
        a, b = sorted((person.pk, m.person_id))
        candidate, created = DuplicateCandidate.objects.get_or_create(
            person_a_id=a,
            person_b_id=b,
            defaults={"score": m.score, "reasons": m.reasons},
        )
        if not created and candidate.status == DuplicateStatus.OPEN:
            candidate.score = max(candidate.score, m.score)
            candidate.reasons = sorted(set(candidate.reasons) | set(m.reasons))
            candidate.save(update_fields=["score", "reasons"])
        queued.append(candidate)
    return queued


def check_duplicates(person: Person) -> list[DuplicateCandidate]:
    """The on-write check (P7): queue every likely duplicate of `person` for review."""
    return _queue_duplicates(person, dedupe.find_matches_of(person))


def create_person(
    *,
    actor: Any,
    data: dict[str, Any],
    circolo: Territory | None = None,
    source: str = Source.MANUAL,
    allow_duplicate_code: bool = False,
    after_erasure: bool = False,
) -> Person:
    """Validate and create one person; likely duplicates go to the review queue.

    Issue 12, rule G5: the email, phone or codice fiscale of a person who asked to be erased is
    refused unless `after_erasure` (the official records that the person gave a new, explicit,
    written consent); the new record is not linked to the erased one.

    The same codice fiscale (any omocodia form) as an existing person is refused unless
    `allow_duplicate_code` (then the pair is queued): a code identifies one human.
    """
    cleaned = clean_person_data(data)
    residence = cleaned.values.get("residence_comune")
    territory = assign_territory(residence_comune=residence, circolo=circolo)
    _refuse_invalid("people.create_person", cleaned, actor=actor, territory=territory)
    _require_scope("people.create_person", actor, territory)
    canonical = cleaned.values.get("codice_fiscale_canonical")
    if not after_erasure and erased_match(emails=cleaned.emails, phones=cleaned.phones, codice_fiscale=canonical or ""):
        refuse(
            "people.create_person",
            ERASED_ROW_MESSAGE,
            actor=actor,
            territory=territory,
            code="erased_identity",
            field="new_consent_after_erasure",
        )
    if canonical and not allow_duplicate_code:
        existing = Person.objects.active().filter(codice_fiscale_canonical=canonical).first()
        if existing is not None and outside_scope(actor, existing):
            ask_other_territory(
                action="people.create_person",
                actor=actor,
                person=existing,
                from_territory=territory,
                kind=ScopeRequestKind.CREATE,
                cleaned=cleaned,
            )
        if existing is not None:
            refuse(
                "people.create_person",
                _(
                    "Esiste già una persona con questo codice fiscale (scheda n. %(id)d): aprila e aggiornala "
                    "invece di crearne una nuova."
                )
                % {"id": existing.pk},
                actor=actor,
                territory=territory,
                code="duplicate_code",
                field="codice_fiscale",
            )
    with transaction.atomic():
        person = _create(actor=actor, cleaned=cleaned, territory=territory, source=source)
        check_duplicates(person)
    return person


def _create(*, actor: Any, cleaned: CleanedPerson, territory: Territory, source: str) -> Person:
    values = {k: v for k, v in cleaned.values.items() if v is not None or k.endswith("comune")}
    person = Person(territory=territory, source=source, created_by=actor if _is_user(actor) else None, **values)
    person.search_name = search_name(person.first_name, person.last_name)
    person.save()
    # Just inserted: nothing of the person's to read back before adding (issue 14, P8: −3 statements).
    _set_contacts(person, Email, cleaned.emails, new=True)
    _set_contacts(person, Phone, cleaned.phones, new=True)
    _set_tags(person, cleaned.tags, new=True)
    add_timeline_entry(
        person,
        kind="created",
        actor=actor,
        summary=_("Scheda creata (%(source)s)") % {"source": Source(source).label},
    )
    record("people.create_person", actor=actor, obj=person, territory=territory, data={"source": source})
    announce("person.created", object_id=person.pk, territory_path=lambda: territory.path, person_id=person.pk)
    return person


def update_person(
    *,
    actor: Any,
    person: Person,
    data: dict[str, Any],
    circolo: Territory | None = None,
    voting_circolo: Territory | bool | None = False,
) -> Person:
    """Change fields, add emails/phones/tags; every change goes in the timeline, old → new.

    `circolo` moves the person to another circolo (both within the actor's scope);
    `voting_circolo` sets the circolo where the person exercises their rights (rule M11).
    """
    _require_scope("people.update_person", actor, person.territory)
    before = _snapshot(person)
    old_territory_id = person.territory_id
    merged = {**before, **{k: v for k, v in data.items() if k in PERSON_FIELDS}}
    for name in ("birth_comune", "residence_comune", "domicile_comune"):
        if name in merged and isinstance(merged[name], int):
            merged[name] = Comune.objects.get(pk=merged[name])
    for extra in ("emails", "phones", "tags", "accept_inconsistent_codice_fiscale"):
        if extra in data:
            merged[extra] = data[extra]
    cleaned = clean_person_data(merged)
    _refuse_invalid("people.update_person", cleaned, actor=actor, territory=person.territory)
    canonical = cleaned.values.get("codice_fiscale_canonical")
    if canonical and canonical != person.codice_fiscale_canonical:
        other = Person.objects.active().filter(codice_fiscale_canonical=canonical).exclude(pk=person.pk).first()
        if other is not None and outside_scope(actor, other):
            ask_other_territory(
                action="people.update_person",
                actor=actor,
                person=other,
                from_territory=person.territory,
                kind=ScopeRequestKind.UPDATE,
                cleaned=cleaned,
            )
        if other is not None:
            refuse(
                "people.update_person",
                _(
                    "Il codice fiscale è già della scheda n. %(id)d: se è la stessa persona, uniscile dalla "
                    "revisione dei duplicati."
                )
                % {"id": other.pk},
                actor=actor,
                territory=person.territory,
                code="duplicate_code",
                field="codice_fiscale",
            )
    new_territory = person.territory
    if circolo is not None and circolo.pk != person.territory_id:
        _require_scope("people.update_person", actor, circolo)
        new_territory = circolo
    elif circolo is None and "residence_comune" in data and person.territory.level != Level.CIRCOLO:
        new_territory = assign_territory(residence_comune=cleaned.values.get("residence_comune"), circolo=None)
    if voting_circolo is not False and voting_circolo is not None:
        assert isinstance(voting_circolo, Territory)
        if voting_circolo.level != Level.CIRCOLO:
            refuse(
                "people.update_person",
                _("Il circolo di voto deve essere un circolo."),
                actor=actor,
                territory=person.territory,
                field="voting_circolo",
            )
    with transaction.atomic():
        person = Person.objects.select_for_update().get(pk=person.pk)
        for name, value in cleaned.values.items():
            setattr(person, name, value)
        person.search_name = search_name(person.first_name, person.last_name)
        person.territory = new_territory
        if voting_circolo is not False:
            person.voting_circolo = voting_circolo  # type: ignore[assignment]
        person.save()
        after = _snapshot(person)
        changes = {k: [before[k], after[k]] for k in PERSON_FIELDS if before[k] != after[k]}
        if new_territory.pk != old_territory_id:
            changes["territory"] = [old_territory_id, new_territory.pk]
        added_emails = _set_contacts(person, Email, cleaned.emails)
        added_phones = _set_contacts(person, Phone, cleaned.phones)
        added_tags = _set_tags(person, cleaned.tags)
        if added_emails:
            changes["emails"] = [None, added_emails]
        if added_phones:
            changes["phones"] = [None, added_phones]
        if added_tags:
            changes["tags"] = [None, added_tags]
        if voting_circolo is not False:
            changes["voting_circolo"] = [None, voting_circolo.pk if voting_circolo else None]  # type: ignore[union-attr]
        if changes:
            add_timeline_entry(
                person,
                kind="updated",
                actor=actor,
                data={"changes": changes},
                summary=deferred(gettext_noop("Scheda modificata: %(fields)s"), fields=", ".join(sorted(changes))),
            )
            record(
                "people.update_person",
                actor=actor,
                obj=person,
                territory=person.territory,
                data={"fields": sorted(changes)},
            )
            announce(
                "person.updated", object_id=person.pk, territory_path=lambda: new_territory.path, person_id=person.pk
            )
            if {"first_name", "last_name", "birth_date", "codice_fiscale", "emails", "phones"} & set(changes):
                check_duplicates(person)
    return person


def set_tags(*, actor: Any, person: Person, names: Iterable[str]) -> Person:
    """Replace a person's tags."""
    _require_scope("people.set_tags", actor, person.territory)
    names = sorted({n.strip()[:60] for n in names if n.strip()})
    with transaction.atomic():
        old = sorted(person.tags.values_list("name", flat=True))
        tags = [Tag.objects.get_or_create(name=n)[0] for n in names]
        person.tags.set(tags)
        if old != names:
            add_timeline_entry(
                person,
                kind="tags",
                actor=actor,
                data={"before": old, "after": names},
                summary=deferred(gettext_noop("Etichette: %(tags)s"), tags=", ".join(names) or "—"),
            )
            record(
                "people.set_tags",
                actor=actor,
                obj=person,
                territory=person.territory,
                data={"before": old, "after": names},
            )
    return person


ERASED_ROW_MESSAGE = _lazy(
    "Persona che ha chiesto la cancellazione dei suoi dati: non viene registrata di nuovo. Decidi tu, "
    "solo con un suo nuovo consenso esplicito (scritto), se inserirla a mano."
)


def find_or_create_person(
    *,
    actor: Any,
    data: dict[str, Any] | None = None,
    circolo: Territory | None = None,
    territory: Territory | None = None,
    source: str = Source.MANUAL,
    email: str | None = None,
    phone: str | None = None,
    proved: bool = False,
    **fields: Any,
) -> Person:
    """For flows like donating or joining: the existing person when they match for sure
    (same codice fiscale in any omocodia form, or same email/phone with a similar name, or the
    same name, birth date and comune), else a new person with likely duplicates queued.

    Person fields come as `data` or as keyword arguments (`first_name=…`, `email=…`, `phone=…`);
    `territory` is an alias of `circolo`. The returned person's `was_created` says whether it is
    new. Missing contacts, tags and a missing codice fiscale given now are added to the existing
    person only when `may_write_matched` allows it (an official in scope, or `proved=True` after
    the person clicked a link sent to their registered address): from a public form (anonymous
    visitor, actor None) the matched person is returned untouched (issue 10, convention 16).

    An official's flow (the circolo desk) calls `guard_other_territory` first, outside its
    transaction: a person of another territory is then never matched nor written to.
    """
    data = {**(data or {}), **fields}
    if email:
        data["emails"] = [*(data.get("emails") or []), email]
    if phone:
        data["phones"] = [*(data.get("phones") or []), phone]
    circolo = circolo or territory
    cleaned = clean_person_data(data)
    assigned = assign_territory(residence_comune=cleaned.values.get("residence_comune"), circolo=circolo)
    _refuse_invalid("people.find_or_create_person", cleaned, actor=actor, territory=assigned)
    probe = dedupe.Probe(
        first_name=cleaned.values.get("first_name", ""),
        last_name=cleaned.values.get("last_name", ""),
        birth_date=cleaned.values.get("birth_date"),
        codice_fiscale_canonical=cleaned.values.get("codice_fiscale_canonical", ""),
        emails=cleaned.emails,
        phones=cleaned.phones,
        comune_ids={c.pk for c in (cleaned.values.get("birth_comune"), cleaned.values.get("residence_comune")) if c},
    )
    with refusing("people.create_person", actor, assigned), transaction.atomic():  # _require_scope may refuse
        matches = dedupe.find_matches(probe)
        strong = [m for m in matches if m.strong]
        if (
            not strong
            and _is_user(actor)
            and erased_match(
                emails=cleaned.emails,
                phones=cleaned.phones,
                codice_fiscale=cleaned.values.get("codice_fiscale_canonical", ""),
            )
        ):
            # Issue 12, rule G5: an official (desk) typing the data of an erased person is stopped;
            # the public forms (actor None) create a fresh person from the visitor's own new,
            # explicit act (docs/dev/erasure.md), with nothing linking it to the erased record.
            refused = Refused(ERASED_ROW_MESSAGE, "erased_identity")
            refused.action, refused.actor, refused.territory = "people.find_or_create_person", actor, assigned
            raise refused
        if strong:
            person = Person.objects.select_for_update().select_related("territory").get(pk=strong[0].person_id)
            written = may_write_matched(actor, person, home=circolo, proved=proved)
            if written:
                _set_contacts(person, Email, cleaned.emails)
                _set_contacts(person, Phone, cleaned.phones)
                _set_tags(person, cleaned.tags)
                if not person.codice_fiscale and cleaned.values.get("codice_fiscale"):
                    person.codice_fiscale = cleaned.values["codice_fiscale"]
                    person.codice_fiscale_canonical = cleaned.values["codice_fiscale_canonical"]
                    person.save(update_fields=["codice_fiscale", "codice_fiscale_canonical", "updated_at"])
            record(
                "people.find_or_create_person",
                actor=actor,
                obj=person,
                territory=person.territory,
                data={"matched": strong[0].reasons, "source": source, "written": written, "proved": proved},
            )
            person.was_created = False
            return person
        _require_scope("people.create_person", actor, assigned)
        person = _create(actor=actor, cleaned=cleaned, territory=assigned, source=source)
        # The on-write check (P7) with the matches just found: the new row holds exactly the probe's
        # names, dates, comuni and contacts, so `check_duplicates` would read the same candidates
        # again (issue 14: five reads less for a new donor).
        _queue_duplicates(person, matches)
        person.was_created = True
        return person


# Who may write to a person found by what was typed: officials of these roles in scope (the desk).
MATCH_WRITE_ROLES = WRITE_ROLES | {Role.TREASURY}


def may_write_matched(actor: Any, person: Person, *, home: Territory | None = None, proved: bool = False) -> bool:
    """Issue 10, rule G1, convention 16: a codice fiscale or an email typed into a public form
    identifies nobody, so the person it matches is written to (contacts, consents, fields) only
    by an official whose scope holds that person (the desk, the import), or once the person has
    proved control of their registered address (`proved`, from the link emailed there).
    Anonymous visitors and system flows acting for them (actor None) never write."""
    if proved:
        return True
    return _is_user(actor) and not outside_scope(actor, person, MATCH_WRITE_ROLES, home=home)
