"""Territorial scope of an official's writes, and requests to reach another territory."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from piazza.core.audit import record
from piazza.core.errors import refuse
from piazza.people import dedupe
from piazza.people.models import (
    WRITE_ROLES,
    Person,
    ScopeRequest,
    ScopeRequestStatus,
)
from piazza.people.validation import CleanedPerson
from piazza.territory.models import Comune, Kind, Level, Territory
from piazza.territory.scoping import has_role_at

from ._records import _is_user, _jsonable, _probe, _require_scope


def outside_scope(
    actor: Any, person: Person, roles: Iterable[str] = WRITE_ROLES, home: Territory | None = None
) -> bool:
    """Is `person` outside the territory where this official may act? Never for system flows.

    `home` (a circolo where the official works): a person filed at that circolo's federation
    and in no circolo yet (a donor, a supporter) is within reach of the circolo's desk."""
    if not _is_user(actor) or has_role_at(actor, person.territory, roles):
        return False
    territory = person.territory
    return not (
        home is not None
        and territory.level == Level.FEDERATION
        and home.path.startswith(territory.path)
        and has_role_at(actor, home, roles)
    )


def other_territory_message() -> str:
    return _(
        "Questo codice fiscale è di una persona registrata in un altro territorio: da qui non puoi vederla né "
        "modificarla, e non abbiamo registrato nulla. Abbiamo inoltrato quello che hai scritto ai responsabili "
        "del suo territorio, che esamineranno la richiesta e, se serve, contatteranno la persona (per esempio "
        "per un trasferimento) o te."
    )


def guard_other_territory(
    *,
    action: str,
    actor: Any,
    cleaned: CleanedPerson,
    territory: Territory,
    kind: str,
    roles: Iterable[str] = WRITE_ROLES,
    extra: dict[str, Any] | None = None,
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
        ask_other_territory(
            action=action, actor=actor, person=other, from_territory=territory, kind=kind, cleaned=cleaned, extra=extra
        )


def request_other_territory(
    *,
    actor: Any,
    person: Person,
    from_territory: Territory,
    kind: str,
    data: dict[str, Any],
) -> ScopeRequest:
    """Issue 10, rule G1: what an official typed about a person of another territory becomes a
    request to that territory (seen in its "Richieste da altri territori" list), never an edit.
    One open request per person, requesting territory and kind: a repeat refreshes its data."""
    values = {k: _jsonable(v) for k, v in data.items() if k not in {"codice_fiscale_canonical"}}
    with transaction.atomic():
        request = (
            ScopeRequest.objects.filter(
                person=person, from_territory=from_territory, kind=kind, status=ScopeRequestStatus.OPEN
            )
            .select_for_update()
            .first()
        )
        if request is None:
            request = ScopeRequest.objects.create(
                person=person,
                territory=person.territory,
                from_territory=from_territory,
                kind=kind,
                data=values,
                requested_by=actor if _is_user(actor) else None,
            )
        else:
            request.data = values
            request.requested_at = timezone.now()
            request.save(update_fields=["data", "requested_at"])
        record(
            "people.request_other_territory",
            actor=actor,
            obj=request,
            territory=person.territory,
            data={"kind": kind, "from": from_territory.pk},
        )
    return request


def ask_other_territory(
    *,
    action: str,
    actor: Any,
    person: Person,
    from_territory: Territory,
    kind: str,
    cleaned: CleanedPerson,
    extra: dict[str, Any] | None = None,
) -> None:
    """Send the request, then refuse the official's action with words saying what happens next."""
    data = {**cleaned.values, "emails": ", ".join(cleaned.emails), "phones": ", ".join(cleaned.phones), **(extra or {})}
    request_other_territory(actor=actor, person=person, from_territory=from_territory, kind=kind, data=data)
    refuse(
        action,
        other_territory_message(),
        actor=actor,
        territory=from_territory,
        code="other_territory",
        field="codice_fiscale",
    )


def close_request(*, actor: Any, request: ScopeRequest, done: bool, note: str) -> ScopeRequest:
    """An official of the person's territory closes a request: handled, or dismissed with a reason."""
    action = "people.close_request"
    _require_scope(action, actor, request.territory)
    if not note.strip():
        refuse(
            action,
            _("Scrivi in una riga che cosa è stato fatto o perché la richiesta è respinta."),
            actor=actor,
            territory=request.territory,
            field="note",
        )
    with transaction.atomic():
        locked = ScopeRequest.objects.select_for_update().get(pk=request.pk)
        if locked.status != ScopeRequestStatus.OPEN:
            return locked
        locked.status = ScopeRequestStatus.DONE if done else ScopeRequestStatus.DISMISSED
        locked.decided_at = timezone.now()
        locked.decided_by = actor if _is_user(actor) else None
        locked.decision_note = note.strip()
        locked.save(update_fields=["status", "decided_at", "decided_by", "decision_note"])
        record(
            action,
            actor=actor,
            obj=locked,
            territory=locked.territory,
            data={"status": locked.status, "kind": locked.kind},
        )
    return locked


def assign_territory(*, residence_comune: Comune | None, circolo: Territory | None) -> Territory:
    """Rule M10/M11 scope: the chosen circolo; else the only territorial circolo of the residence
    comune; else the federation serving that comune; else national."""
    if circolo is not None:
        return circolo
    return territories_for_comuni([residence_comune])[residence_comune.pk if residence_comune else None]


def territories_for_comuni(comuni: Iterable[Comune | None]) -> dict[int | None, Territory]:
    """`assign_territory` without a chosen circolo, for many comuni at once (the import's chunk):
    three queries whatever their number, keyed by comune id (None: no comune, national)."""
    comuni_list = list(comuni)
    wanted = {c.pk: c for c in comuni_list if c is not None}
    open_circoli: dict[int, list[int]] = {}
    for comune_id, circolo_id in Territory.comuni.through.objects.filter(
        comune_id__in=wanted, territory__closed_at__isnull=True, territory__kind=Kind.TERRITORIAL
    ).values_list("comune_id", "territory_id"):
        open_circoli.setdefault(comune_id, []).append(circolo_id)
    chosen: dict[int | None, int | None] = {None: None} if None in comuni_list else {}
    for pk, comune in wanted.items():
        circoli = open_circoli.get(pk, [])
        chosen[pk] = circoli[0] if len(circoli) == 1 else comune.federation_id
    nodes = Territory.objects.in_bulk({t for t in chosen.values() if t is not None})
    national: Territory | None = None
    found: dict[int | None, Territory] = {}
    for key, territory_id in chosen.items():
        if territory_id is None:
            national = national or Territory.objects.get(level=Level.NATIONAL)
            found[key] = national
        else:
            found[key] = nodes[territory_id]
    return found
