"""Duplicates: detection, dismissal and merging."""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, models, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from piazza.core.audit import record
from piazza.core.errors import refuse, refusing
from piazza.core.i18n import deferred
from piazza.people import dedupe
from piazza.people.models import (
    Consent,
    DuplicateCandidate,
    DuplicateStatus,
    Email,
    Person,
    Phone,
    TimelineEntry,
)
from piazza.people.validation import search_name

from ._records import PERSON_FIELDS, _is_user, _require_scope, _snapshot
from .person import add_timeline_entry, check_duplicates


def dismiss_duplicate(*, actor: Any, candidate: DuplicateCandidate) -> DuplicateCandidate:
    """Two records judged to be different people: the pair leaves the queue for good."""
    _require_scope("people.dismiss_duplicate", actor, candidate.person_a.territory)
    _require_scope("people.dismiss_duplicate", actor, candidate.person_b.territory)
    with transaction.atomic():
        candidate.status = DuplicateStatus.DISMISSED
        candidate.resolved_at = timezone.now()
        candidate.resolved_by = actor if _is_user(actor) else None
        candidate.save(update_fields=["status", "resolved_at", "resolved_by"])
        record(
            "people.dismiss_duplicate",
            actor=actor,
            obj=candidate,
            territory=candidate.person_a.territory,
            data={"person_a": candidate.person_a_id, "person_b": candidate.person_b_id},
        )
    return candidate


# Relations owned by this app and moved explicitly by merge_people; any other model pointing at
# Person (donations, memberships, … of higher apps) is re-pointed generically.
_OWN_RELATIONS = {Email, Phone, Consent, TimelineEntry, DuplicateCandidate}


def merge_people(
    *,
    actor: Any,
    survivor: Person,
    merged: Person,
    field_choices: dict[str, str] | None = None,
) -> Person:
    """Merge `merged` into `survivor`: keep every email, phone, consent, tag, timeline entry and
    relation of other apps; fill the survivor's blanks (or take the values chosen in
    `field_choices[field] == "merged"`); the old record stays, empty, and redirects.
    """
    if survivor.pk == merged.pk:
        refuse(
            "people.merge_people",
            _("Non si può unire una scheda con se stessa."),
            actor=actor,
            territory=survivor.territory,
        )
    if merged.erased_at or survivor.erased_at:
        # Issue 12, rule G5: merging would copy data back into an erased record or onto a live one.
        refuse(
            "people.merge_people",
            _("Una delle due schede è di una persona che ha chiesto la cancellazione dei suoi dati: non si può unire."),
            actor=actor,
            territory=survivor.territory,
            code="erased",
        )
    if merged.merged_into_id or survivor.merged_into_id:
        refuse(
            "people.merge_people",
            _("Una delle due schede è già stata unita a un'altra: ricarica la pagina."),
            actor=actor,
            territory=survivor.territory,
            code="already_merged",
        )
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
        ).update(
            status=DuplicateStatus.MERGED, resolved_at=timezone.now(), resolved_by=actor if _is_user(actor) else None
        )
        DuplicateCandidate.objects.filter(status=DuplicateStatus.OPEN).filter(dedupe.overlapping([merged.pk])).update(
            status=DuplicateStatus.MERGED, resolved_at=timezone.now(), resolved_by=actor if _is_user(actor) else None
        )
        merged.merged_into = survivor
        merged.merged_at = timezone.now()
        merged.save(update_fields=["merged_into", "merged_at", "updated_at"])
        Person.objects.filter(merged_into=merged).update(merged_into=survivor)
        data = {"merged_id": merged.pk, "merged_record": old, "survivor_before": before, "taken": taken, "moved": moved}
        add_timeline_entry(
            survivor,
            kind="merged",
            actor=actor,
            data=data,
            summary=deferred(
                gettext_noop("Unita la scheda n. %(id)d (%(name)s) in questa"), id=merged.pk, name=str(merged)
            ),
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
                (
                    f.name
                    for f in through._meta.get_fields()
                    if getattr(f, "related_model", None) is Person and f.many_to_one
                ),
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
                _(
                    "Le due schede hanno entrambe un dato «%(what)s» che può esistere una volta sola: "
                    "risolvi prima quello (es. due tessere nello stesso anno), poi unisci."
                )
                % {"what": model._meta.verbose_name},  # type: ignore[union-attr]
                actor=actor,
                territory=survivor.territory,
                code="merge_conflict",
            )
        if count:
            moved[model._meta.label_lower] = count  # type: ignore[union-attr]
    return moved


def scan_duplicates(*, actor: Any) -> int:
    """The full pass (P7): every pair sharing a code, email or phone, and every similar name
    within the same birth date, goes to the review queue. Returns how many pairs were new."""
    pairs: dict[tuple[int, int], tuple[int, list[str]]] = {}
    for a, b, reason in dedupe.contact_pairs():
        score, reasons = pairs.get((a, b), (0, []))
        pairs[(a, b)] = (min(100, score + 60), [*reasons, reason])
    rows = (
        Person.objects.active()
        .exclude(birth_date=None)
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
