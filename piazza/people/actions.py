"""Every write to the people database (convention 1): one transaction, an audit entry, a timeline
entry on the person, side effects after commit.

`actor` is the official (or member/donor) acting, or None for system flows (a donation or a
join arriving from a public page), which `find_or_create_person` serves.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, models, transaction
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy
from django.utils.translation import gettext_noop

from piazza.core.audit import record
from piazza.core.errors import Refused, refuse, refusing
from piazza.core.exports import ExportFile, write_export
from piazza.core.i18n import deferred, stored_form
from piazza.core.models import AuditKind
from piazza.core.tasks import enqueue_on_commit
from piazza.people import dedupe
from piazza.people.erased import erased_flags, erased_match
from piazza.people.exports import EXPORT_COLUMNS, export_rows, rejected_rows
from piazza.people.import_targets import ImportTarget, RowContext, get_target
from piazza.people.models import (
    READ_ROLES,
    TIMELINE_SUMMARY_KEY,
    WRITE_ROLES,
    BatchStatus,
    Channel,
    CodeDateReview,
    Consent,
    DuplicateCandidate,
    DuplicateStatus,
    Email,
    ImportBatch,
    ImportMapping,
    ImportRow,
    Person,
    Phone,
    Purpose,
    ReviewStatus,
    RowStatus,
    ScopeRequest,
    ScopeRequestKind,
    ScopeRequestStatus,
    Segment,
    Source,
    Tag,
    TargetOutcome,
    TimelineEntry,
)
from piazza.people.queries import people_for
from piazza.people.validation import CleanedPerson, clean_person_data, search_name
from piazza.territory.models import Comune, Kind, Level, Role, Territory
from piazza.territory.scoping import has_role_at, scope_paths

PERSON_FIELDS = (
    "first_name", "last_name", "sex", "birth_date", "birth_comune", "birth_country", "codice_fiscale",
    "citizenship", "residence_street", "residence_cap", "residence_comune", "domicile_street",
    "domicile_cap", "domicile_comune", "notes",
)


def _is_user(actor: Any) -> bool:
    return actor is not None and getattr(actor, "is_authenticated", False)


def _require_scope(action: str, actor: Any, territory: Territory) -> None:
    """An official may only write people inside their subtree; system flows (actor None) may."""
    if _is_user(actor) and not has_role_at(actor, territory, WRITE_ROLES):
        refuse(
            action,
            _("«%(territory)s» è fuori dal tuo territorio: puoi gestire solo le persone dei territori "
              "dove hai un incarico.") % {"territory": territory},
            actor=actor, territory=territory, code="out_of_scope", permission=True,
        )


def outside_scope(actor: Any, person: Person, roles: Iterable[str] = WRITE_ROLES,
                  home: Territory | None = None) -> bool:
    """Is `person` outside the territory where this official may act? Never for system flows.

    `home` (a circolo where the official works): a person filed at that circolo's federation
    and in no circolo yet (a donor, a supporter) is within reach of the circolo's desk."""
    if not _is_user(actor) or has_role_at(actor, person.territory, roles):
        return False
    territory = person.territory
    return not (home is not None and territory.level == Level.FEDERATION and home.path.startswith(territory.path)
                and has_role_at(actor, home, roles))


def other_territory_message() -> str:
    return _("Questo codice fiscale è di una persona registrata in un altro territorio: da qui non puoi vederla né "
             "modificarla, e non abbiamo registrato nulla. Abbiamo inoltrato quello che hai scritto ai responsabili "
             "del suo territorio, che esamineranno la richiesta e, se serve, contatteranno la persona (per esempio "
             "per un trasferimento) o te.")


def guard_other_territory(
    *, action: str, actor: Any, cleaned: CleanedPerson, territory: Territory, kind: str,
    roles: Iterable[str] = WRITE_ROLES, extra: dict[str, Any] | None = None,
) -> None:
    """An official's flow that would find a person for sure (same codice fiscale, or contacts and
    name): if that person is outside the official's scope, nothing of theirs is read or written;
    a request goes to their territory and the action is refused (call before any transaction,
    so that the request and the refusal's audit entry stay)."""
    if not _is_user(actor):
        return
    matched = [m for m in dedupe.find_matches(_probe(cleaned)) if m.strong]
    if not matched:
        return
    other = Person.objects.select_related("territory").filter(pk=matched[0].person_id).first()
    if other is not None and outside_scope(actor, other, roles, home=territory):
        ask_other_territory(action=action, actor=actor, person=other, from_territory=territory, kind=kind,
                            cleaned=cleaned, extra=extra)


def request_other_territory(
    *, actor: Any, person: Person, from_territory: Territory, kind: str, data: dict[str, Any],
) -> ScopeRequest:
    """Issue 10, rule G1: what an official typed about a person of another territory becomes a
    request to that territory (seen in its "Richieste da altri territori" list), never an edit.
    One open request per person, requesting territory and kind: a repeat refreshes its data."""
    values = {k: _jsonable(v) for k, v in data.items() if k not in {"codice_fiscale_canonical"}}
    with transaction.atomic():
        request = ScopeRequest.objects.filter(person=person, from_territory=from_territory, kind=kind,
                                              status=ScopeRequestStatus.OPEN).select_for_update().first()
        if request is None:
            request = ScopeRequest.objects.create(
                person=person, territory=person.territory, from_territory=from_territory, kind=kind, data=values,
                requested_by=actor if _is_user(actor) else None)
        else:
            request.data = values
            request.requested_at = timezone.now()
            request.save(update_fields=["data", "requested_at"])
        record("people.request_other_territory", actor=actor, obj=request, territory=person.territory,
               data={"kind": kind, "from": from_territory.pk})
    return request


def ask_other_territory(
    *, action: str, actor: Any, person: Person, from_territory: Territory, kind: str, cleaned: CleanedPerson,
    extra: dict[str, Any] | None = None,
) -> None:
    """Send the request, then refuse the official's action with words saying what happens next."""
    data = {**cleaned.values, "emails": ", ".join(cleaned.emails), "phones": ", ".join(cleaned.phones),
            **(extra or {})}
    request_other_territory(actor=actor, person=person, from_territory=from_territory, kind=kind, data=data)
    refuse(action, other_territory_message(), actor=actor, territory=from_territory, code="other_territory",
           field="codice_fiscale")


def close_request(*, actor: Any, request: ScopeRequest, done: bool, note: str) -> ScopeRequest:
    """An official of the person's territory closes a request: handled, or dismissed with a reason."""
    action = "people.close_request"
    _require_scope(action, actor, request.territory)
    if not note.strip():
        refuse(action, _("Scrivi in una riga che cosa è stato fatto o perché la richiesta è respinta."),
               actor=actor, territory=request.territory, field="note")
    with transaction.atomic():
        locked = ScopeRequest.objects.select_for_update().get(pk=request.pk)
        if locked.status != ScopeRequestStatus.OPEN:
            return locked
        locked.status = ScopeRequestStatus.DONE if done else ScopeRequestStatus.DISMISSED
        locked.decided_at = timezone.now()
        locked.decided_by = actor if _is_user(actor) else None
        locked.decision_note = note.strip()
        locked.save(update_fields=["status", "decided_at", "decided_by", "decision_note"])
        record(action, actor=actor, obj=locked, territory=locked.territory,
               data={"status": locked.status, "kind": locked.kind})
    return locked


def _refuse_invalid(action: str, cleaned: CleanedPerson, *, actor: Any, territory: Territory | None) -> None:
    if cleaned.errors:
        from django.core.exceptions import ValidationError

        with transaction.atomic():
            record(action, actor=actor, territory=territory, kind=AuditKind.DENIED,
                   data={"reason": "invalid", "errors": cleaned.errors})
        raise ValidationError(cleaned.errors)


def assign_territory(*, residence_comune: Comune | None, circolo: Territory | None) -> Territory:
    """Rule M10/M11 scope: the chosen circolo; else the only territorial circolo of the residence
    comune; else the federation serving that comune; else national."""
    if circolo is not None:
        return circolo
    if residence_comune is not None:
        circoli = list(
            residence_comune.circoli.filter(closed_at__isnull=True, kind=Kind.TERRITORIAL)[:2]
        )
        if len(circoli) == 1:
            return circoli[0]
        if residence_comune.federation_id:
            federation = residence_comune.federation
            assert federation is not None
            return federation
    return Territory.objects.get(level=Level.NATIONAL)


def add_timeline_entry(
    person: Person, *, kind: str, summary: str, data: dict[str, Any] | None = None, actor: Any,
    at: dt.datetime | None = None,
) -> TimelineEntry:
    """Other apps (donations, memberships) add their events here; merged ids are followed."""
    while person.merged_into_id:
        person = Person.objects.get(pk=person.merged_into_id)
    said = stored_form(summary)  # a core.i18n.Deferred summary is read again in the reader's language
    data = {**(data or {}), TIMELINE_SUMMARY_KEY: said} if said else (data or {})
    return TimelineEntry.objects.create(
        person=person, kind=kind, summary=summary[:300], data=data,
        actor=actor if _is_user(actor) else None, at=at or timezone.now(),
    )


def _set_contacts(person: Person, model: type[Email] | type[Phone], values: list[str]) -> list[str]:
    """Add the values not yet there; the first value becomes primary if none is. Returns added."""
    existing = {c.value: c for c in model.objects.filter(person=person)}
    has_primary = any(c.primary for c in existing.values())
    added = []
    for value in values:
        if value in existing:
            continue
        model.objects.create(person=person, value=value, primary=not has_primary)
        has_primary = True
        added.append(value)
    return added


def _set_tags(person: Person, names: Iterable[str]) -> list[str]:
    added = []
    current = set(person.tags.values_list("name", flat=True))
    for name in names:
        if name in current:
            continue
        tag, _created = Tag.objects.get_or_create(name=name[:60])
        person.tags.add(tag)
        added.append(name)
    return added


def _queue_duplicates(person: Person, matches: list[dedupe.Match]) -> list[DuplicateCandidate]:
    queued = []
    for m in matches:
        a, b = sorted((person.pk, m.person_id))
        candidate, created = DuplicateCandidate.objects.get_or_create(
            person_a_id=a, person_b_id=b,
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
    return _queue_duplicates(person, dedupe.find_matches(dedupe.Probe.of(person), exclude_id=person.pk))


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
    if not after_erasure and erased_match(emails=cleaned.emails, phones=cleaned.phones,
                                          codice_fiscale=canonical or ""):
        refuse("people.create_person", ERASED_ROW_MESSAGE, actor=actor, territory=territory,
               code="erased_identity", field="new_consent_after_erasure")
    if canonical and not allow_duplicate_code:
        existing = Person.objects.active().filter(codice_fiscale_canonical=canonical).first()
        if existing is not None and outside_scope(actor, existing):
            ask_other_territory(action="people.create_person", actor=actor, person=existing, from_territory=territory,
                                kind=ScopeRequestKind.CREATE, cleaned=cleaned)
        if existing is not None:
            refuse(
                "people.create_person",
                _("Esiste già una persona con questo codice fiscale (scheda n. %(id)d): aprila e aggiornala "
                  "invece di crearne una nuova.") % {"id": existing.pk},
                actor=actor, territory=territory, code="duplicate_code", field="codice_fiscale",
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
    _set_contacts(person, Email, cleaned.emails)
    _set_contacts(person, Phone, cleaned.phones)
    _set_tags(person, cleaned.tags)
    add_timeline_entry(
        person, kind="created", actor=actor,
        summary=_("Scheda creata (%(source)s)") % {"source": Source(source).label},
    )
    record("people.create_person", actor=actor, obj=person, territory=territory, data={"source": source})
    return person


def _snapshot(person: Person) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in PERSON_FIELDS:
        value = getattr(person, name)
        if isinstance(value, models.Model):
            value = value.pk
        elif isinstance(value, dt.date):
            value = value.isoformat()
        out[name] = value
    return out


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
            ask_other_territory(action="people.update_person", actor=actor, person=other,
                                from_territory=person.territory, kind=ScopeRequestKind.UPDATE, cleaned=cleaned)
        if other is not None:
            refuse(
                "people.update_person",
                _("Il codice fiscale è già della scheda n. %(id)d: se è la stessa persona, uniscile dalla "
                  "revisione dei duplicati.") % {"id": other.pk},
                actor=actor, territory=person.territory, code="duplicate_code", field="codice_fiscale",
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
            refuse("people.update_person", _("Il circolo di voto deve essere un circolo."), actor=actor,
                   territory=person.territory, field="voting_circolo")
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
                person, kind="updated", actor=actor, data={"changes": changes},
                summary=deferred(gettext_noop("Scheda modificata: %(fields)s"), fields=", ".join(sorted(changes))),
            )
            record("people.update_person", actor=actor, obj=person, territory=person.territory,
                   data={"fields": sorted(changes)})
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
            add_timeline_entry(person, kind="tags", actor=actor, data={"before": old, "after": names},
                               summary=deferred(gettext_noop("Etichette: %(tags)s"), tags=", ".join(names) or "—"))
            record("people.set_tags", actor=actor, obj=person, territory=person.territory,
                   data={"before": old, "after": names})
    return person


ERASED_ROW_MESSAGE = _lazy(
    "Persona che ha chiesto la cancellazione dei suoi dati: non viene registrata di nuovo. Decidi tu, "
    "solo con un suo nuovo consenso esplicito (scritto), se inserirla a mano.")


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
        first_name=cleaned.values.get("first_name", ""), last_name=cleaned.values.get("last_name", ""),
        birth_date=cleaned.values.get("birth_date"),
        codice_fiscale_canonical=cleaned.values.get("codice_fiscale_canonical", ""),
        emails=cleaned.emails, phones=cleaned.phones,
        comune_ids={c.pk for c in (cleaned.values.get("birth_comune"), cleaned.values.get("residence_comune")) if c},
    )
    with refusing("people.create_person", actor, assigned), transaction.atomic():  # _require_scope may refuse
        strong = [m for m in dedupe.find_matches(probe) if m.strong]
        if not strong and _is_user(actor) and erased_match(
                emails=cleaned.emails, phones=cleaned.phones,
                codice_fiscale=cleaned.values.get("codice_fiscale_canonical", "")):
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
            record("people.find_or_create_person", actor=actor, obj=person, territory=person.territory,
                   data={"matched": strong[0].reasons, "source": source, "written": written, "proved": proved})
            person.was_created = False
            return person
        _require_scope("people.create_person", actor, assigned)
        person = _create(actor=actor, cleaned=cleaned, territory=assigned, source=source)
        check_duplicates(person)
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


def record_consent(
    *, actor: Any, person: Person, purpose: str, channel: str, text_version: str, evidence: str = "",
    at: dt.datetime | None = None, given: bool = True, source: str = "",
) -> Consent:
    """Rule G3: a consent for one purpose, with time, channel, text version and evidence.

    `given=False` is a withdrawal (same as `withdraw_consent`); `source` names the flow that
    collected it (e.g. "albo") and is kept with the evidence.
    """
    if source:
        evidence = f"[{source}] {evidence}".strip()
    return _consent(actor=actor, person=person, purpose=purpose, channel=channel, text_version=text_version,
                    evidence=evidence, at=at, granted=given)


def withdraw_consent(
    *, actor: Any, person: Person, purpose: str, channel: str, text_version: str = "", evidence: str = "",
    at: dt.datetime | None = None,
) -> Consent:
    """Rule G3: withdrawal as easy as giving; the earlier consent row stays as history."""
    return _consent(actor=actor, person=person, purpose=purpose, channel=channel,
                    text_version=text_version or "revoca", evidence=evidence, at=at, granted=False)


def _consent(
    *, actor: Any, person: Person, purpose: str, channel: str, text_version: str, evidence: str,
    at: dt.datetime | None, granted: bool,
) -> Consent:
    action = "people.record_consent" if granted else "people.withdraw_consent"
    if _is_user(actor) and actor.pk != getattr(person, "user_id", None):
        _require_scope(action, actor, person.territory)
    if purpose not in Purpose.values:
        refuse(action, _("Finalità «%(value)s» sconosciuta.") % {"value": purpose}, actor=actor,
               territory=person.territory, field="purpose")
    if channel not in Channel.values:
        refuse(action, _("Canale «%(value)s» sconosciuto.") % {"value": channel}, actor=actor,
               territory=person.territory, field="channel")
    if not text_version.strip():
        refuse(action, _("Indica la versione dell'informativa che la persona ha letto."), actor=actor,
               territory=person.territory, field="text_version")
    with transaction.atomic():
        consent = Consent.objects.create(
            person=person, purpose=purpose, granted=granted, channel=channel, text_version=text_version.strip(),
            evidence=evidence, at=at or timezone.now(), recorded_by=actor if _is_user(actor) else None,
        )
        label = Purpose(purpose).label
        summary = (_("Consenso dato: %(purpose)s") if granted else _("Consenso revocato: %(purpose)s")) % {
            "purpose": label}
        add_timeline_entry(person, kind="consent", actor=actor, summary=summary,
                           data={"purpose": purpose, "granted": granted, "channel": channel,
                                 "text_version": consent.text_version})
        record(action, actor=actor, obj=person, territory=person.territory,
               data={"purpose": purpose, "channel": channel, "text_version": consent.text_version})
    return consent


def dismiss_duplicate(*, actor: Any, candidate: DuplicateCandidate) -> DuplicateCandidate:
    """Two records judged to be different people: the pair leaves the queue for good."""
    _require_scope("people.dismiss_duplicate", actor, candidate.person_a.territory)
    _require_scope("people.dismiss_duplicate", actor, candidate.person_b.territory)
    with transaction.atomic():
        candidate.status = DuplicateStatus.DISMISSED
        candidate.resolved_at = timezone.now()
        candidate.resolved_by = actor if _is_user(actor) else None
        candidate.save(update_fields=["status", "resolved_at", "resolved_by"])
        record("people.dismiss_duplicate", actor=actor, obj=candidate, territory=candidate.person_a.territory,
               data={"person_a": candidate.person_a_id, "person_b": candidate.person_b_id})
    return candidate


# Relations owned by this app and moved explicitly by merge_people; any other model pointing at
# Person (donations, memberships, … of higher apps) is re-pointed generically.
_OWN_RELATIONS = {Email, Phone, Consent, TimelineEntry, DuplicateCandidate}


def merge_people(
    *, actor: Any, survivor: Person, merged: Person, field_choices: dict[str, str] | None = None,
) -> Person:
    """Merge `merged` into `survivor`: keep every email, phone, consent, tag, timeline entry and
    relation of other apps; fill the survivor's blanks (or take the values chosen in
    `field_choices[field] == "merged"`); the old record stays, empty, and redirects.
    """
    if survivor.pk == merged.pk:
        refuse("people.merge_people", _("Non si può unire una scheda con se stessa."), actor=actor,
               territory=survivor.territory)
    if merged.erased_at or survivor.erased_at:
        # Issue 12, rule G5: merging would copy data back into an erased record or onto a live one.
        refuse("people.merge_people", _("Una delle due schede è di una persona che ha chiesto la cancellazione dei "
                                        "suoi dati: non si può unire."),
               actor=actor, territory=survivor.territory, code="erased")
    if merged.merged_into_id or survivor.merged_into_id:
        refuse("people.merge_people", _("Una delle due schede è già stata unita a un'altra: ricarica la pagina."),
               actor=actor, territory=survivor.territory, code="already_merged")
    _require_scope("people.merge_people", actor, survivor.territory)
    _require_scope("people.merge_people", actor, merged.territory)
    choices = field_choices or {}
    # _move_foreign_relations may refuse inside the block: audited after its rollback (issue 11, item 23).
    with refusing("people.merge_people", actor, survivor.territory), transaction.atomic():
        survivor = Person.objects.select_for_update().get(pk=survivor.pk)
        merged = Person.objects.select_for_update().get(pk=merged.pk)
        before = _snapshot(survivor)
        old = _snapshot(merged)
        taken = []
        for name in PERSON_FIELDS:
            mine, theirs = getattr(survivor, name), getattr(merged, name)
            if theirs in (None, "") or mine == theirs:
                continue
            if mine in (None, "") or choices.get(name) == "merged":
                setattr(survivor, name, theirs)
                taken.append(name)
        if "notes" in taken or (merged.notes and survivor.notes != merged.notes and "notes" not in taken):
            survivor.notes = "\n\n".join(n for n in (before["notes"], merged.notes) if n)
        if survivor.codice_fiscale:
            from piazza.people.codice_fiscale import canonical_codice_fiscale

            survivor.codice_fiscale_canonical = canonical_codice_fiscale(survivor.codice_fiscale)
        survivor.search_name = search_name(survivor.first_name, survivor.last_name)
        if survivor.voting_circolo_id is None and merged.voting_circolo_id:
            survivor.voting_circolo_id = merged.voting_circolo_id
        survivor.save()
        moved = {
            "emails": _move_contacts(Email, merged, survivor),
            "phones": _move_contacts(Phone, merged, survivor),
            "consents": Consent.objects.filter(person=merged).update(person=survivor),
            "timeline": TimelineEntry.objects.filter(person=merged).update(person=survivor),
        }
        merged_tags = list(merged.tags.all())
        survivor.tags.add(*merged_tags)
        moved["tags"] = len(merged_tags)
        moved.update(_move_foreign_relations(merged, survivor, actor=actor))
        DuplicateCandidate.objects.filter(
            models.Q(person_a=merged, person_b=survivor) | models.Q(person_a=survivor, person_b=merged)
        ).update(status=DuplicateStatus.MERGED, resolved_at=timezone.now(),
                 resolved_by=actor if _is_user(actor) else None)
        DuplicateCandidate.objects.filter(status=DuplicateStatus.OPEN).filter(
            dedupe.overlapping([merged.pk])
        ).update(status=DuplicateStatus.MERGED, resolved_at=timezone.now(),
                 resolved_by=actor if _is_user(actor) else None)
        merged.merged_into = survivor
        merged.merged_at = timezone.now()
        merged.save(update_fields=["merged_into", "merged_at", "updated_at"])
        Person.objects.filter(merged_into=merged).update(merged_into=survivor)
        data = {"merged_id": merged.pk, "merged_record": old, "survivor_before": before, "taken": taken,
                "moved": moved}
        add_timeline_entry(
            survivor, kind="merged", actor=actor, data=data,
            summary=deferred(gettext_noop("Unita la scheda n. %(id)d (%(name)s) in questa"),
                             id=merged.pk, name=str(merged)),
        )
        record("people.merge_people", actor=actor, obj=survivor, territory=survivor.territory, data=data)
        check_duplicates(survivor)
    return survivor


def _move_contacts(model: type[Email] | type[Phone], merged: Person, survivor: Person) -> int:
    mine = set(model.objects.filter(person=survivor).values_list("value", flat=True))
    has_primary = model.objects.filter(person=survivor, primary=True).exists()
    count = 0
    for contact in model.objects.filter(person=merged):
        if contact.value in mine:
            if contact.verified:
                model.objects.filter(person=survivor, value=contact.value).update(verified=True)
            contact.delete()
            continue
        contact.person = survivor
        if contact.primary and has_primary:
            contact.primary = False
        has_primary = has_primary or contact.primary
        contact.save(update_fields=["person", "primary"])
        count += 1
    return count


def _move_foreign_relations(merged: Person, survivor: Person, *, actor: Any) -> dict[str, int]:
    """Re-point every foreign key of other apps (donations, memberships, …) to the survivor."""
    from django.db import connection

    moved: dict[str, int] = {}
    # Only tables that exist: an app installed but not yet migrated holds no rows to move.
    tables = set(connection.introspection.table_names())
    for rel in Person._meta.related_objects:
        model = rel.related_model
        if model in _OWN_RELATIONS or model is Person or not isinstance(model, type):
            continue
        if rel.many_to_many:
            through = rel.through if hasattr(rel, "through") else None
            if through is None:
                continue
            fk_name = next(
                (f.name for f in through._meta.get_fields()
                 if getattr(f, "related_model", None) is Person and f.many_to_one),
                None,
            )
            if fk_name is None:
                continue
            manager = through._default_manager
        elif rel.one_to_many or rel.one_to_one:
            fk_name = rel.field.name
            manager = model._default_manager  # type: ignore[union-attr]
        else:
            continue
        if manager.model._meta.db_table not in tables:
            continue
        try:
            with transaction.atomic():
                count = manager.filter(**{fk_name: merged}).update(**{fk_name: survivor})
        except IntegrityError:
            refuse(
                "people.merge_people",
                _("Le due schede hanno entrambe un dato «%(what)s» che può esistere una volta sola: "
                  "risolvi prima quello (es. due tessere nello stesso anno), poi unisci.")
                % {"what": model._meta.verbose_name},  # type: ignore[union-attr]
                actor=actor, territory=survivor.territory, code="merge_conflict",
            )
        if count:
            moved[model._meta.label_lower] = count  # type: ignore[union-attr]
    return moved


def save_segment(
    *, actor: Any, name: str, territory: Territory, definition: dict[str, Any], segment: Segment | None = None,
) -> Segment:
    """A saved filter definition; evaluated later always within the viewer's scope."""
    from piazza.people.queries import clean_definition

    _require_scope("people.save_segment", actor, territory)
    if not name.strip():
        refuse("people.save_segment", _("Dai un nome al segmento."), actor=actor, territory=territory, field="name")
    with transaction.atomic():
        if segment is None:
            segment = Segment(created_by=actor if _is_user(actor) else None)
        segment.name = name.strip()[:120]
        segment.territory = territory
        segment.definition = clean_definition(definition)
        segment.save()
        record("people.save_segment", actor=actor, obj=segment, territory=territory,
               data={"definition": segment.definition})
    return segment


def delete_segment(*, actor: Any, segment: Segment) -> None:
    _require_scope("people.delete_segment", actor, segment.territory)
    with transaction.atomic():
        record("people.delete_segment", actor=actor, obj=segment, territory=segment.territory,
               data={"name": segment.name, "definition": segment.definition})
        segment.delete()


# --- Import (CSV / XLSX) ------------------------------------------------------------------------

IMPORT_CHUNK = 500


def start_import(*, actor: Any, territory: Territory, file_name: str, content: bytes) -> ImportBatch:
    """Read the file and stage every row; a file that cannot be read leaves nothing behind."""
    import hashlib

    from piazza.people.imports import read_upload

    _require_scope("people.start_import", actor, territory)
    try:
        parsed = read_upload(file_name, content)
    except ValueError as exc:
        refuse("people.start_import", str(exc), actor=actor, territory=territory, code="bad_file", field="file")
        raise  # pragma: no cover - refuse always raises
    digest = hashlib.sha256(content).hexdigest()
    # Item 14: the same bytes imported before, in a batch the uploader can see, need a confirmation.
    earlier = (ImportBatch.objects.visible_to(actor, roles=WRITE_ROLES) if _is_user(actor)
               else ImportBatch.objects.filter(territory=territory)).filter(file_sha256=digest).first()
    with transaction.atomic():
        batch = ImportBatch.objects.create(
            territory=territory, created_by=actor if _is_user(actor) else None, file_name=file_name[:255],
            file_sha256=digest, file_format=parsed.file_format,
            encoding=parsed.encoding, delimiter=parsed.delimiter, headers=parsed.headers,
            mapping=parsed.mapping, total_rows=len(parsed.rows), repeat_of=earlier,
        )
        _stage_rows(batch, parsed.rows)
        record("people.start_import", actor=actor, obj=batch, territory=territory,
               data={"file": file_name, "rows": len(parsed.rows), "format": parsed.file_format,
                     "repeat_of": earlier.pk if earlier else None})
    return batch


def _stage_rows(batch: ImportBatch, rows: list[list[Any]]) -> None:
    """Keep every input row as read (P6: staging near the speed of a raw COPY on PostgreSQL)."""
    from django.db import connection

    if connection.vendor != "postgresql":
        ImportRow.objects.bulk_create(
            [ImportRow(batch=batch, number=i + 2, raw=[_jsonable(c) for c in row]) for i, row in enumerate(rows)],
            batch_size=2000,
        )
        return
    import json

    with connection.cursor() as cursor, cursor.copy(
        f"COPY {ImportRow._meta.db_table} (batch_id, number, raw, status, errors, match_note, target_outcome, "
        "target_note) FROM STDIN"
    ) as copy:
        for i, row in enumerate(rows):
            copy.write_row((batch.pk, i + 2, json.dumps([_jsonable(c) for c in row]), RowStatus.PENDING.value, "[]",
                            "", "", ""))


def _jsonable(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()[:10]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def set_import_mapping(
    *, actor: Any, batch: ImportBatch, mapping: dict[str, str], save_as: str = "",
) -> ImportBatch:
    """Column → field for this batch; `save_as` also keeps it for the next files."""
    from piazza.people.imports import FIELDS

    _require_scope("people.set_import_mapping", actor, batch.territory)
    clean = {k: v for k, v in mapping.items() if v in FIELDS and k.isdigit() and int(k) < len(batch.headers)}
    chosen = list(clean.values())
    twice = sorted({v for v in chosen if chosen.count(v) > 1})
    if twice:
        refuse("people.set_import_mapping",
               _("Il campo «%(field)s» è associato a più colonne: scegline una sola.") % {"field": FIELDS[twice[0]]},
               actor=actor, territory=batch.territory, field="mapping")
    if not {"first_name", "last_name"} <= set(chosen):
        refuse("people.set_import_mapping",
               _("Associa almeno le colonne Nome e Cognome."),
               actor=actor, territory=batch.territory, field="mapping")
    with transaction.atomic():
        batch.mapping = clean
        batch.status = BatchStatus.MAPPED
        batch.save(update_fields=["mapping", "status"])
        if save_as.strip():
            ImportMapping.objects.update_or_create(
                territory=batch.territory, name=save_as.strip()[:120],
                defaults={"mapping": {batch.headers[int(k)]: v for k, v in clean.items()},
                          "created_by": actor if _is_user(actor) else None},
            )
        record("people.set_import_mapping", actor=actor, obj=batch, territory=batch.territory,
               data={"mapping": clean, "saved_as": save_as.strip()})
    return batch


def repeat_warning(batch: ImportBatch) -> str:
    """Item 14: "this file was already imported on … by …", or "" for a new file."""
    earlier = batch.repeat_of
    if earlier is None:
        return ""
    who = earlier.created_by
    name = (who.get_full_name() or who.get_username()) if who is not None else _("una procedura automatica")
    return _("Questo file è già stato importato il %(when)s da %(who)s («%(file)s»).") % {
        "when": date_format(timezone.localtime(earlier.created_at), "d/m/Y \\a\\l\\l\\e H:i"), "who": name,
        "file": earlier.file_name}


def set_import_target(*, actor: Any, batch: ImportBatch, target: str, options: dict[str, Any]) -> ImportBatch:
    """What the rows become besides people (item 13): "" (people only) or a registered target,
    with the options that target checked (`ImportTarget.check_options`)."""
    _require_scope("people.set_import_target", actor, batch.territory)
    if target and get_target(target) is None:
        refuse("people.set_import_target", _("Destinazione dell'importazione sconosciuta: scegline una dell'elenco."),
               actor=actor, territory=batch.territory, field="target")
    if batch.status not in (BatchStatus.MAPPED, BatchStatus.FAILED):
        refuse("people.set_import_target", _("Associa prima le colonne del file (o l'importazione è già partita)."),
               actor=actor, territory=batch.territory)
    with transaction.atomic():
        batch.target = target
        batch.target_options = options if target else {}
        batch.save(update_fields=["target", "target_options"])
        record("people.set_import_target", actor=actor, obj=batch, territory=batch.territory,
               data={"target": target, "options": batch.target_options})
    return batch


def run_import(*, actor: Any, batch: ImportBatch, confirm_repeat: bool = False) -> ImportBatch:
    """Queue the batch for the background worker (progress is read from the batch). A file
    already imported runs only when the official confirms it (item 14)."""
    from piazza.people.tasks import process_import

    _require_scope("people.run_import", actor, batch.territory)
    if batch.status not in (BatchStatus.MAPPED, BatchStatus.DONE, BatchStatus.FAILED):
        refuse("people.run_import", _("Associa prima le colonne del file."), actor=actor, territory=batch.territory)
    if batch.repeat_of_id and not (batch.repeat_confirmed or confirm_repeat):
        refuse("people.run_import", repeat_warning(batch) + " " + _("Per importarlo di nuovo spunta la conferma."),
               actor=actor, territory=batch.territory, code="repeat_not_confirmed", field="confirm_repeat")
    target = get_target(batch.target)
    problem = target.actor_problem(actor, batch.target_options) if target is not None else ""
    if problem:
        refuse("people.run_import", problem, actor=actor, territory=batch.territory, code="target_out_of_scope")
    with transaction.atomic():
        batch.status = BatchStatus.QUEUED
        batch.repeat_confirmed = batch.repeat_confirmed or bool(batch.repeat_of_id and confirm_repeat)
        batch.save(update_fields=["status", "repeat_confirmed"])
        record("people.run_import", actor=actor, obj=batch, territory=batch.territory,
               data={"repeat_confirmed": batch.repeat_confirmed, "target": batch.target})
        enqueue_on_commit(process_import, batch.pk, actor.pk if _is_user(actor) else None)
    return batch


def process_import_batch(*, actor: Any, batch_id: int) -> ImportBatch:
    """Work through the pending rows in chunks of IMPORT_CHUNK rows (P6).

    Each chunk is one transaction: the dedupe candidates of all its rows are read with a few
    queries, the new people are created in bulk with their contacts, tags and timeline, and one
    audit entry lists them. A bad row never blocks the others (it is rejected with its reason);
    a chunk that meets a concurrent writer is redone row by row. Safe to re-run: done rows are
    skipped and people already present are matched, not created again.
    """
    from piazza.people.validation import comune_cache

    batch = ImportBatch.objects.select_related("territory").get(pk=batch_id)
    if batch.status == BatchStatus.CLOSED:
        return batch
    done = ImportRow.objects.filter(batch=batch).exclude(status=RowStatus.PENDING).count()
    ImportBatch.objects.filter(pk=batch.pk).update(
        status=BatchStatus.RUNNING, started_at=timezone.now(), error="", processed_rows=done)
    last = 0
    territories: dict[int | None, Territory] = {}  # residence comune → where its people go
    target = get_target(batch.target)
    try:
        with comune_cache():
            while True:
                rows = list(ImportRow.objects.filter(batch=batch, status=RowStatus.PENDING, number__gt=last)
                            .order_by("number")[:IMPORT_CHUNK])
                if not rows:
                    break
                last = rows[-1].number
                _process_chunk_safely(batch, rows, actor=actor, territories=territories, target=target)
                ImportBatch.objects.filter(pk=batch.pk).update(processed_rows=models.F("processed_rows") + len(rows))
    except Exception as exc:
        ImportBatch.objects.filter(pk=batch.pk).update(status=BatchStatus.FAILED, error=str(exc)[:2000])
        raise
    counts = dict(
        ImportRow.objects.filter(batch=batch).values_list("status").annotate(n=models.Count("id")).order_by()
    )
    with transaction.atomic():
        ImportBatch.objects.filter(pk=batch.pk).update(
            status=BatchStatus.DONE, finished_at=timezone.now(), summary=counts, processed_rows=batch.total_rows,
        )
        batch.refresh_from_db()
        record("people.import_batch", actor=actor, obj=batch, territory=batch.territory, data={"counts": counts})
    return batch


def _process_chunk_safely(
    batch: ImportBatch, rows: list[ImportRow], *, actor: Any, territories: dict[int | None, Territory],
    target: ImportTarget | None = None,
) -> None:
    try:
        with transaction.atomic():
            _process_chunk(batch, rows, actor=actor, territories=territories, target=target)
        return
    except IntegrityError:
        pass
    for row in rows:  # a concurrent writer: redo row by row, leave nothing of the conflicting one
        try:
            with transaction.atomic():
                _process_chunk(batch, [row], actor=actor, territories=territories, target=target)
        except IntegrityError as exc:
            _reject(row, [_("Conflitto con una modifica contemporanea (%(why)s): reimporta la riga.") % {"why": exc}])


def _reject(row: ImportRow, errors: list[str]) -> None:
    row.status = RowStatus.REJECTED
    row.errors = errors
    row.person = None
    row.save(update_fields=["status", "errors", "person"])


def _probe(cleaned: CleanedPerson) -> dedupe.Probe:
    values = cleaned.values
    return dedupe.Probe(
        first_name=values.get("first_name", ""), last_name=values.get("last_name", ""),
        birth_date=values.get("birth_date"), codice_fiscale_canonical=values.get("codice_fiscale_canonical", ""),
        emails=cleaned.emails, phones=cleaned.phones,
        comune_ids={c.pk for c in (values.get("birth_comune"), values.get("residence_comune")) if c},
    )


@dataclass
class _NewPerson:
    """A person the chunk will create; until then known by a negative id in the dedupe pool."""

    key: int
    person: Person
    cleaned: CleanedPerson
    rows: list[ImportRow]
    weak: list[dedupe.Match]


def _process_chunk(
    batch: ImportBatch, rows: list[ImportRow], *, actor: Any, territories: dict[int | None, Territory],
    target: ImportTarget | None = None,
) -> None:
    from piazza.people.imports import FIELDS, row_to_data

    labels = dict(FIELDS)
    prepared: list[tuple[ImportRow, CleanedPerson, dedupe.Probe]] = []
    for row in rows:
        row.person, row.errors, row.match_note, row.target_outcome, row.target_note = None, [], "", "", ""
        data, problem = row_to_data(row.raw, batch.mapping, len(batch.headers))
        # Item 14: a code that disagrees only with the birth date keeps the row, flagged (D1).
        cleaned = clean_person_data(data, flag_birth_date=True) if not problem else CleanedPerson()
        if problem or cleaned.errors:
            row.status = RowStatus.REJECTED
            row.errors = [problem] if problem else [
                f"{labels.get(k, k)}: {m}" for k, msgs in cleaned.errors.items() for m in msgs]
            continue
        prepared.append((row, cleaned, _probe(cleaned)))
    # Issue 12, rule G5: a person who asked to be erased is never re-created silently (one query).
    erased = erased_flags([(c.emails, c.phones, c.values.get("codice_fiscale_canonical", ""))
                           for _r, c, _p in prepared])
    for (row, _c, _p), flagged in zip(prepared, erased, strict=True):
        if flagged:
            row.status = RowStatus.ERASED
            row.errors = [str(ERASED_ROW_MESSAGE)]
    prepared = [item for item, flagged in zip(prepared, erased, strict=True) if not flagged]
    pool = dedupe.fetch_pool(p for _r, _c, p in prepared)
    by_name = _same_names_in_scope(batch, [c for _r, c, _p in prepared])
    new: dict[int, _NewPerson] = {}
    existing: list[tuple[ImportRow, int, CleanedPerson]] = []
    for row, cleaned, probe in prepared:
        matches = dedupe.match(probe, pool)
        strong = [m for m in matches if m.strong]
        same = strong[0].person_id if strong else _same_name(by_name, cleaned)
        if same is not None and same < 0:  # the same human twice in this file
            entry = new[same]
            changed = _fill_new(entry, cleaned)
            entry.rows.append(row)
            row.status = RowStatus.UPDATED if changed else RowStatus.UNCHANGED
            row.match_note = _("Stessa persona della riga %(number)d del file (%(name)s): dati uniti in una "
                               "scheda.") % {"number": entry.rows[0].number,
                                             "name": f"{entry.person.last_name} {entry.person.first_name}"}
            continue
        if same is not None:
            known = pool.people.get(same)  # name-only matches come from inside the scope already
            if known is not None and not known.territory_path.startswith(batch.territory.path):
                row.status = RowStatus.DUPLICATE
                row.errors = [_("La persona è già registrata in un altro territorio: chiedi alla federazione di "
                                "trasferirla se deve passare a te.")]
                continue
            existing.append((row, same, cleaned))
            continue
        residence = cleaned.values.get("residence_comune")
        comune_id = residence.pk if residence else None
        if comune_id not in territories:
            circolo = batch.territory if batch.territory.level == Level.CIRCOLO else None
            territory = assign_territory(residence_comune=residence, circolo=circolo)
            territories[comune_id] = territory if territory.path.startswith(batch.territory.path) else batch.territory
        key = -len(new) - 1
        person = Person(territory=territories[comune_id], source=Source.IMPORT,
                        created_by=actor if _is_user(actor) else None, **_person_values(cleaned))
        person.search_name = search_name(person.first_name, person.last_name)
        new[key] = _NewPerson(key, person, cleaned, [row], [m for m in matches if not m.strong])
        pool.add(dedupe.Known(key, person.first_name, person.last_name, person.birth_date, probe.comune_ids,
                              person.territory.path),
                 code=cleaned.values.get("codice_fiscale_canonical", ""), emails=cleaned.emails,
                 phones=cleaned.phones)
        by_name.setdefault(person.search_name, []).append((key, comune_id, person.birth_date))
    updated = []
    on_record = Person.objects.select_for_update().prefetch_related("emails", "phones", "tags").in_bulk(
        [pk for _row, pk, _cleaned in existing])
    for row, pk, cleaned in existing:
        person = on_record[pk]
        # Most matched rows bring nothing new: decided in memory, written only when they do.
        changed = _brings_news(person, cleaned) and _fill_blanks(person, cleaned, actor=actor, batch=batch)
        row.status = RowStatus.UPDATED if changed else RowStatus.UNCHANGED
        row.person = person
        row.match_note = _already_on_record(person)
        if changed:
            updated.append(person.pk)
    created = _create_in_bulk(batch, list(new.values()), actor=actor)
    for entry in new.values():
        if entry.weak:
            entry.rows[0].match_note = _possible_duplicates(batch, entry.weak, pool, new)
    cleaned_of = {row.pk: cleaned for row, cleaned, _p in prepared}
    held = _flag_code_dates(batch, rows, cleaned_of, actor=actor)
    if target is not None:
        _apply_target(batch, rows, cleaned_of, held, target=target, actor=actor)
    _save_outcomes(rows)
    record("people.import_chunk", actor=actor, obj=batch, territory=batch.territory,
           data={"rows": [rows[0].number, rows[-1].number], "created": created, "updated": updated})


def _save_outcomes(rows: list[ImportRow]) -> None:
    """One parametrised UPDATE sent for all rows (pipelined by psycopg): `bulk_update`'s CASE
    expressions cost more than the rest of the chunk."""
    import json

    from django.db import connection

    table = connection.ops.quote_name(ImportRow._meta.db_table)
    with connection.cursor() as cursor:
        cursor.executemany(
            f"UPDATE {table} SET status = %s, errors = %s, person_id = %s, match_note = %s, "  # noqa: S608 (table from model meta)
            "target_outcome = %s, target_note = %s WHERE id = %s",
            [(row.status, json.dumps(row.errors), row.person.pk if row.person else None, row.match_note,
              row.target_outcome, row.target_note, row.pk) for row in rows],
        )


def _possible_duplicates(
    batch: ImportBatch, weak: list[dedupe.Match], pool: dedupe.Pool, new: dict[int, _NewPerson],
) -> str:
    """Who a new person may be (in the review queue of duplicates), in words. A person outside
    the batch's territory is not named (convention 11)."""
    names = []
    for m in weak:
        if m.person_id < 0 and m.person_id in new:
            names.append(_("la riga %(number)d del file") % {"number": new[m.person_id].rows[0].number})
            continue
        known = pool.people.get(m.person_id)
        if known is not None and known.territory_path.startswith(batch.territory.path):
            names.append(_("%(name)s (scheda n. %(id)d)") % {"name": f"{known.last_name} {known.first_name}",
                                                             "id": known.pk})
        else:
            names.append(_("una persona di un altro territorio"))
    return _("Creata, ma forse è la stessa persona di: %(who)s. Verifica nei possibili doppioni.") % {
        "who": "; ".join(dict.fromkeys(names))}


def _already_on_record(person: Person) -> str:
    """The existing person a row matched, in words (the report's duplicate list, item 14)."""
    born = _(", nata/o il %(date)s") % {"date": person.birth_date.strftime("%d/%m/%Y")} if person.birth_date else ""
    return _("Già registrata: %(name)s%(born)s (scheda n. %(id)d).") % {
        "name": f"{person.last_name} {person.first_name}", "born": born, "id": person.pk}


def _flag_code_dates(
    batch: ImportBatch, rows: list[ImportRow], cleaned_of: dict[int, CleanedPerson], *, actor: Any,
) -> set[int]:
    """Rows whose code says another birth date (D1) are kept and queued for review (item 14).
    Returns the ids of the rows held: their target waits for the review."""
    held: set[int] = set()
    reviews: list[CodeDateReview] = []
    for row in rows:
        cleaned = cleaned_of.get(row.pk)
        person = row.person
        if cleaned is None or cleaned.code_birth_date is None or person is None:
            continue
        record_date = cleaned.values.get("birth_date")
        # The person on record (matched, not overwritten) may already agree with the code.
        if record_date is None or person.birth_date == cleaned.code_birth_date or person.birth_date != record_date:
            continue
        held.add(row.pk)
        message = _("Il codice fiscale dice nato/a il %(code)s, il file dice %(record)s: la riga è stata tenuta ed è "
                    "nella coda «Codici fiscali da verificare».") % {
            "code": cleaned.code_birth_date.strftime("%d/%m/%Y"), "record": record_date.strftime("%d/%m/%Y")}
        row.errors = [*row.errors, message]
        if any(r.person_id == person.pk for r in reviews) or CodeDateReview.objects.filter(
                person=person, status=ReviewStatus.OPEN).exists():
            continue
        reviews.append(CodeDateReview(
            person=person, batch=batch, row_number=row.number, codice_fiscale=person.codice_fiscale,
            code_birth_date=cleaned.code_birth_date, record_birth_date=record_date))
    if reviews:
        CodeDateReview.objects.bulk_create(reviews)
        record("people.flag_code_dates", actor=actor, obj=batch, territory=batch.territory,
               data={"rows": sorted(r.row_number or 0 for r in reviews), "rule": "D1"})
    return held


def _apply_target(
    batch: ImportBatch, rows: list[ImportRow], cleaned_of: dict[int, CleanedPerson], held: set[int], *,
    target: ImportTarget, actor: Any,
) -> None:
    """The registered target (item 13) for every row with a person; flagged rows wait."""
    for row in rows:
        if row.status == RowStatus.REJECTED:
            continue
        if row.person is None:
            row.target_outcome = TargetOutcome.REFUSED
            row.target_note = _("Nessuna scheda in questo territorio per la riga: vedi il motivo.")
            continue
        if row.pk in held:
            row.target_outcome = TargetOutcome.HELD
            row.target_note = _("In attesa: si registra quando il codice fiscale è verificato nella coda.")
            continue
        cleaned = cleaned_of[row.pk]
        outcome = target.apply_row(RowContext(row.number, row.person, cleaned.emails, cleaned.phones),
                                   actor=actor, batch=batch, options=batch.target_options)
        row.target_outcome, row.target_note = outcome.outcome, outcome.note


def _person_values(cleaned: CleanedPerson) -> dict[str, Any]:
    return {k: v for k, v in cleaned.values.items() if v is not None or k.endswith("comune")}


def _fill_new(entry: _NewPerson, cleaned: CleanedPerson) -> bool:
    """A later row of the file about a person the chunk is creating: fill blanks, add contacts."""
    changed = False
    for name, value in cleaned.values.items():
        if value not in (None, "") and getattr(entry.person, name) in (None, ""):
            setattr(entry.person, name, value)
            changed = True
    for mine, theirs in ((entry.cleaned.emails, cleaned.emails), (entry.cleaned.phones, cleaned.phones),
                         (entry.cleaned.tags, cleaned.tags)):
        for value in theirs:
            if value not in mine:
                mine.append(value)
                changed = True
    return changed


def _create_in_bulk(batch: ImportBatch, new: list[_NewPerson], *, actor: Any) -> list[int]:
    """Insert the chunk's new people and everything hanging from them with one statement each."""
    if not new:
        return []
    Person.objects.bulk_create([n.person for n in new])
    ids = {n.key: n.person.pk for n in new}
    emails: list[Email] = []
    phones: list[Phone] = []
    tagged: list[Any] = []
    timeline: list[TimelineEntry] = []
    pairs: dict[tuple[int, int], tuple[int, list[str]]] = {}
    tag_ids = _tag_ids({t for n in new for t in n.cleaned.tags})
    who = actor if _is_user(actor) else None
    summary = _("Scheda creata (%(source)s)") % {"source": Source.IMPORT.label}
    for n in new:
        pk = n.person.pk
        for row in n.rows:
            row.person = n.person
        emails += [Email(person_id=pk, value=v, primary=i == 0) for i, v in enumerate(n.cleaned.emails)]
        phones += [Phone(person_id=pk, value=v, primary=i == 0) for i, v in enumerate(n.cleaned.phones)]
        tagged += [Person.tags.through(person_id=pk, tag_id=tag_ids[t]) for t in dict.fromkeys(n.cleaned.tags)]
        timeline.append(TimelineEntry(person_id=pk, kind="created", summary=summary, actor=who,
                                      data={"import_batch": batch.pk}))
        for m in n.weak:
            other = ids.get(m.person_id, m.person_id)
            a, b = sorted((pk, other))
            score, reasons = pairs.get((a, b), (0, []))
            pairs[(a, b)] = (max(score, m.score), sorted({*reasons, *m.reasons}))
        if n.weak:
            first = n.rows[0]
            first.status = RowStatus.DUPLICATE
            first.errors = [r for m in n.weak for r in m.reasons]
        else:
            n.rows[0].status = RowStatus.CREATED
    Email.objects.bulk_create(emails, batch_size=1000)
    Phone.objects.bulk_create(phones, batch_size=1000)
    Person.tags.through.objects.bulk_create(tagged, batch_size=1000)
    TimelineEntry.objects.bulk_create(timeline, batch_size=1000)
    DuplicateCandidate.objects.bulk_create(
        [DuplicateCandidate(person_a_id=a, person_b_id=b, score=s, reasons=r) for (a, b), (s, r) in pairs.items()],
        batch_size=1000, ignore_conflicts=True,
    )
    return list(ids.values())


def _tag_ids(names: set[str]) -> dict[str, int]:
    names = {n[:60] for n in names}
    found = dict(Tag.objects.filter(name__in=names).values_list("name", "pk"))
    for name in names - set(found):
        found[name] = Tag.objects.get_or_create(name=name)[0].pk
    return found


def _same_names_in_scope(
    batch: ImportBatch, cleaned: list[CleanedPerson],
) -> dict[str, list[tuple[int, int | None, Any]]]:
    """Rows without code or contacts are matched on the same name, birth date and comune within
    the batch's territory (re-running a file must not create people twice): one query per chunk."""
    names = {search_name(c.values.get("first_name", ""), c.values.get("last_name", ""))
             for c in cleaned if _identifiable_by_name_only(c)}
    found: dict[str, list[tuple[int, int | None, Any]]] = {}
    if names:
        for pk, name, comune_id, birth in Person.objects.active().filter(
            search_name__in=names, territory__path__startswith=batch.territory.path,
        ).values_list("pk", "search_name", "residence_comune_id", "birth_date"):
            found.setdefault(name, []).append((pk, comune_id, birth))
    return found


def _identifiable_by_name_only(cleaned: CleanedPerson) -> bool:
    values = cleaned.values
    return not (values.get("codice_fiscale_canonical") or cleaned.emails or cleaned.phones)


def _same_name(by_name: dict[str, list[tuple[int, int | None, Any]]], cleaned: CleanedPerson) -> int | None:
    """The person in scope with the same name, birth date (or none) and comune (or none)."""
    if not _identifiable_by_name_only(cleaned):
        return None
    residence = cleaned.values.get("residence_comune")
    key = (residence.pk if residence else None, cleaned.values.get("birth_date"))
    name = search_name(cleaned.values.get("first_name", ""), cleaned.values.get("last_name", ""))
    ids = [pk for pk, comune_id, birth in by_name.get(name, []) if (comune_id, birth) == key]
    # Several already (an older import): the oldest record, so a file never multiplies them.
    return min(ids, key=lambda pk: (pk < 0, abs(pk))) if ids else None


def _brings_news(person: Person, cleaned: CleanedPerson) -> bool:
    """Whether `_fill_blanks` would change anything (reads only prefetched relations)."""
    for name, value in cleaned.values.items():
        attname = f"{name}_id" if name.endswith("comune") else name  # no query for the related comune
        if value not in (None, "") and name != "codice_fiscale_canonical" and getattr(person, attname) in (None, ""):
            return True
    return (
        bool(set(cleaned.emails) - {e.value for e in person.emails.all()})
        or bool(set(cleaned.phones) - {p.value for p in person.phones.all()})
        or bool(set(cleaned.tags) - {t.name for t in person.tags.all()})
    )


def _fill_blanks(person: Person, cleaned: CleanedPerson, *, actor: Any, batch: ImportBatch) -> bool:
    """An import never overwrites what is on record: it fills blanks and adds contacts and tags."""
    filled = []
    for name, value in cleaned.values.items():
        if value in (None, "") or name == "codice_fiscale_canonical":
            continue
        if getattr(person, name) in (None, ""):
            setattr(person, name, value)
            filled.append(name)
            if name == "codice_fiscale":
                person.codice_fiscale_canonical = cleaned.values.get("codice_fiscale_canonical", "")
    if filled:
        person.save()
    added = _set_contacts(person, Email, cleaned.emails) + _set_contacts(person, Phone, cleaned.phones)
    tags = _set_tags(person, cleaned.tags)
    if filled or added or tags:
        add_timeline_entry(person, kind="updated", actor=actor,
                           data={"import_batch": batch.pk, "filled": filled, "added": added, "tags": tags},
                           summary=deferred(gettext_noop("Completata da importazione «%(file)s»"),
                                            file=batch.file_name))
        return True
    return False


def close_import_batch(*, actor: Any, batch: ImportBatch) -> ImportBatch:
    """Drop the staged rows (the people stay); the counts remain in the batch summary."""
    _require_scope("people.close_import_batch", actor, batch.territory)
    if batch.status in (BatchStatus.QUEUED, BatchStatus.RUNNING):
        refuse("people.close_import_batch", _("L'importazione è ancora in corso: attendi che finisca."),
               actor=actor, territory=batch.territory)
    with transaction.atomic():
        if not batch.summary:
            batch.summary = dict(
                ImportRow.objects.filter(batch=batch).values_list("status").annotate(n=models.Count("id")).order_by()
            )
        ImportRow.objects.filter(batch=batch).delete()
        batch.status = BatchStatus.CLOSED
        batch.closed_at = timezone.now()
        batch.save(update_fields=["status", "closed_at", "summary"])
        record("people.close_import_batch", actor=actor, obj=batch, territory=batch.territory,
               data={"summary": batch.summary})
    return batch


# --- Codes that disagree with the birth date (issue 11, item 14; rule D1) ---------------------

RESOLUTIONS = (ReviewStatus.CODE_RIGHT, ReviewStatus.DATE_RIGHT, ReviewStatus.EDITED)


def resolve_code_date(*, actor: Any, review: CodeDateReview, resolution: str, note: str = "") -> CodeDateReview:
    """An official decides a flagged row: the code is right (the birth date is taken from the
    code), the date is right (the code stays, marked to check), or the record was edited by hand
    (then code and date must agree now). A held import target runs again for the row."""
    action = "people.resolve_code_date"
    person = review.person
    _require_scope(action, actor, person.territory)
    if resolution not in RESOLUTIONS:
        refuse(action, _("Scegli una delle tre soluzioni."), actor=actor, territory=person.territory,
               field="resolution")
    if review.status != ReviewStatus.OPEN:
        refuse(action, _("Questa verifica è già stata chiusa il %(when)s.")
               % {"when": date_format(timezone.localtime(review.resolved_at), "d/m/Y H:i")}
               if review.resolved_at else _("Questa verifica è già stata chiusa."),
               actor=actor, territory=person.territory, code="already_resolved")
    if resolution == ReviewStatus.EDITED:
        cleaned = clean_person_data({"first_name": person.first_name, "last_name": person.last_name,
                                     "birth_date": person.birth_date, "codice_fiscale": person.codice_fiscale},
                                    flag_birth_date=True)
        if cleaned.code_birth_date is not None or "codice_fiscale" in cleaned.errors:
            refuse(action, _("Nella scheda il codice fiscale e la data di nascita non coincidono ancora: correggi "
                             "l'uno o l'altra dalla scheda, poi torna qui."),
                   actor=actor, territory=person.territory, code="still_disagree", field="resolution")
    with transaction.atomic():
        locked = CodeDateReview.objects.select_for_update().get(pk=review.pk)
        if locked.status != ReviewStatus.OPEN:  # a colleague decided in the meantime
            return locked
        before = person.birth_date
        if resolution == ReviewStatus.CODE_RIGHT:
            person.birth_date = locked.code_birth_date
            person.save(update_fields=["birth_date", "updated_at"])
        locked.status = resolution
        locked.code_to_check = resolution == ReviewStatus.DATE_RIGHT
        locked.resolved_at = timezone.now()
        locked.resolved_by = actor if _is_user(actor) else None
        locked.note = note.strip()
        locked.save()
        summary = {
            ReviewStatus.CODE_RIGHT: _("Data di nascita corretta dal codice fiscale (%(before)s → %(after)s)"),
            ReviewStatus.DATE_RIGHT: _("Data di nascita confermata (%(before)s): codice fiscale da verificare"),
            ReviewStatus.EDITED: _("Codice fiscale e data di nascita corretti a mano"),
        }[ReviewStatus(resolution)] % {"before": before.strftime("%d/%m/%Y") if before else "—",
                                       "after": locked.code_birth_date.strftime("%d/%m/%Y")}
        add_timeline_entry(person, kind="updated", actor=actor, summary=summary,
                           data={"code_date_review": locked.pk, "resolution": resolution})
        record(action, actor=actor, obj=person, territory=person.territory,
               data={"review": locked.pk, "resolution": resolution, "before": str(before),
                     "after": str(person.birth_date), "rule": "D1", "note": note.strip()[:500]})
        _run_held_target(locked, actor=actor)
    return locked


def _run_held_target(review: CodeDateReview, *, actor: Any) -> None:
    """The import row this review held: its target (e.g. the membership) runs now."""
    if review.batch_id is None or review.row_number is None:
        return
    batch = ImportBatch.objects.select_related("territory").get(pk=review.batch_id)
    target = get_target(batch.target)
    row = ImportRow.objects.filter(batch=batch, number=review.row_number,
                                   target_outcome=TargetOutcome.HELD).first()
    if target is None or row is None:
        return
    person = Person.objects.prefetch_related("emails", "phones").get(pk=review.person_id)
    emails = [e.value for e in sorted(person.emails.all(), key=lambda e: not e.primary)]
    phones = [p.value for p in sorted(person.phones.all(), key=lambda p: not p.primary)]
    problem = target.actor_problem(actor, batch.target_options)
    if problem:  # resolved by an official who may not run the target: said in words, not run
        row.target_outcome = TargetOutcome.REFUSED
        row.target_note = _("Non registrata alla verifica del codice: %(why)s") % {"why": problem}
        row.save(update_fields=["target_outcome", "target_note"])
        return
    outcome = target.apply_row(RowContext(row.number, person, emails, phones), actor=actor, batch=batch,
                               options=batch.target_options)
    row.target_outcome, row.target_note = outcome.outcome, outcome.note
    row.save(update_fields=["target_outcome", "target_note"])


# --- Export -------------------------------------------------------------------------------------


def export_people(
    *, actor: Any, definition: dict[str, Any], purpose: str, file_format: str = "csv",
    scope: Territory | None = None,
) -> ExportFile:
    """Export the people matching `definition` inside the actor's scope, purpose declared and
    logged as EXPORT (rule G4), through the one export writer (convention 17: every cell that
    a spreadsheet would evaluate is escaped).

    An official with several scope nodes (say two circoli) names the one the export is for with
    `scope`; it must be one of their nodes or below one, and the audit entry is filed under it."""
    if len(purpose.strip()) < 10:
        refuse("people.export_people",
               _("Scrivi per cosa ti serve l'esportazione (almeno qualche parola): resta nel registro attività."),
               actor=actor, field="purpose")
    if file_format not in ("csv", "xlsx"):
        refuse("people.export_people", _("Formato non previsto: scegli CSV o XLSX."), actor=actor, field="file_format")
    paths = scope_paths(actor, READ_ROLES)
    queryset = people_for(actor, definition)
    if scope is not None:
        if not any(scope.path.startswith(p) for p in paths):
            refuse("people.export_people", _("Puoi esportare solo dal tuo territorio: scegli uno dei tuoi ambiti."),
                   actor=actor, territory=scope, code="out_of_scope", field="scope")
        queryset = queryset.filter(territory__path__startswith=scope.path)
    territory = scope or (Territory.objects.filter(path=paths[0]).first() if len(paths) == 1 else None)
    return write_export("people.export_people", actor=actor, file_format=file_format, filename="persone",
                        header=EXPORT_COLUMNS, rows=export_rows(queryset), territory=territory,
                        sheet_title="Persone", data={"purpose": purpose.strip(), "definition": definition})


def export_rejected_rows(*, actor: Any, batch: ImportBatch) -> ExportFile:
    """The rejected rows of an import as a CSV to fix and re-import, logged as EXPORT (rule G4)."""
    _require_scope("people.export_rejected_rows", actor, batch.territory)
    header, rows = rejected_rows(batch)
    return write_export("people.export_rejected_rows", actor=actor, file_format="csv",
                        filename=f"scartate-{batch.pk}", header=header, rows=rows, obj=batch,
                        territory=batch.territory, delimiter=batch.delimiter or ";")


def scan_duplicates(*, actor: Any) -> int:
    """The full pass (P7): every pair sharing a code, email or phone, and every similar name
    within the same birth date, goes to the review queue. Returns how many pairs were new."""
    pairs: dict[tuple[int, int], tuple[int, list[str]]] = {}
    for a, b, reason in dedupe.contact_pairs():
        score, reasons = pairs.get((a, b), (0, []))
        pairs[(a, b)] = (min(100, score + 60), [*reasons, reason])
    rows = (
        Person.objects.active().exclude(birth_date=None)
        .order_by("birth_date")
        .values_list("pk", "first_name", "last_name", "birth_date", "birth_comune_id", "residence_comune_id")
    )
    for a, b, score, reasons in dedupe.fuzzy_pairs_by_birth_date(rows.iterator(chunk_size=20000)):
        old_score, old_reasons = pairs.get((a, b), (0, []))
        pairs[(a, b)] = (min(100, old_score + score), [*old_reasons, *reasons])
    before = DuplicateCandidate.objects.count()
    items = [DuplicateCandidate(person_a_id=a, person_b_id=b, score=s, reasons=r) for (a, b), (s, r) in pairs.items()]
    with transaction.atomic():
        DuplicateCandidate.objects.bulk_create(items, batch_size=5000, ignore_conflicts=True)
        created = DuplicateCandidate.objects.count() - before
        record("people.scan_duplicates", actor=actor, data={"pairs": len(pairs), "new": created})
    return created
