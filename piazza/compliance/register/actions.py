"""Every write of the donor register (rules F1, F2, F5, F14, F15; convention 1).

* `record_in_kind`: a treasurer records a service or good given, with its value and evidence.
* `declare_election_period`: an official declares a Chamber dissolved or an election coming (F1).
* `refresh_register`: materialise the entries of a year from the contribution lines (idempotent;
  run by the daily task and on demand).
* `publish_register`: a new immutable version of an entity's register; its pending deadlines met.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.core.files import File
from django.db import transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext as _

from piazza.compliance.actions import DECLARATION_MAX_BYTES, DECLARATION_TYPES, _looks_like
from piazza.compliance.contributions import contribution_lines
from piazza.compliance.models import (
    ElectionPeriod,
    ElectionPeriodKind,
    InKindContribution,
    PublishedRow,
    RegisterEntry,
    RegisterItem,
    RegisterPublication,
)
from piazza.compliance.register.compute import Entry, Period, compute_entries, months_before
from piazza.compliance.rules import (
    CAP_SCOPE_PARTY,
    FinanceRules,
    annual_total_cents,
    check_annual_cap,
    lock_contributor,
    may_accept,
    rules_on,
)
from piazza.core.audit import Actor, acting_user, record
from piazza.core.erasure import ERASED_NAME
from piazza.core.errors import Refused, refuse, refusing
from piazza.core.money import format_eur
from piazza.people.codice_fiscale import canonical_codice_fiscale
from piazza.people.models import Person
from piazza.territory.models import Level, Role, Territory
from piazza.territory.scoping import has_role_at

REGISTER_ROLES = {Role.TREASURY, Role.ADMINISTRATOR}
PERIOD_ROLES = {Role.ORGANISATION, Role.TREASURY, Role.ADMINISTRATOR}
IN_KIND_ROLES = {Role.TREASURY}
PUBLISH_ROLES = {Role.TREASURY}


def register_rules(year: int) -> FinanceRules:
    """The parameters a year's register is judged by: those in force at its end (or today, if sooner)."""
    return rules_on(min(timezone.localdate(), dt.date(year, 12, 31)))


def national() -> Territory:
    return Territory.objects.get(level=Level.NATIONAL)


def is_register_entity(entity: Territory, rules: FinanceRules) -> bool:
    """Rule F14: with the "party" scope only the national entity keeps a register."""
    return rules.cap_scope != CAP_SCOPE_PARTY or entity.level == Level.NATIONAL


def _lock(key: str) -> None:
    """Serialise refreshes and publications of one register (PostgreSQL advisory lock; SQLite
    serialises writers anyway)."""
    connection = transaction.get_connection()
    if connection.vendor == "postgresql":
        digest = hashlib.blake2b(f"piazza.register:{key}".encode(), digest_size=8).digest()
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [int.from_bytes(digest, "big", signed=True)])


def _require(action: str, actor: Actor, territory: Territory, roles: Iterable[str]) -> None:
    if not has_role_at(actor, territory, roles):
        refuse(
            action,
            _("Non hai un ruolo di tesoreria su %(t)s.") % {"t": territory},
            actor=actor,
            territory=territory,
            code="out_of_scope",
            permission=True,
        )


# --- Services in kind (rule F1) --------------------------------------------------------------


def record_in_kind(
    *,
    actor: Actor,
    person: Person,
    territory: Territory,
    description: str,
    value_cents: int,
    received_on: dt.date,
    evidence: File | None,
    publication_accepted: bool,
) -> InKindContribution:
    """Record a service or good given to `territory`, valued at `value_cents`, with its evidence.

    It counts toward the register (F1) and the yearly cap (F6) like money; the donor who objects
    to publication cannot give above the threshold (F2); it never earns a tax credit (F8).
    """
    action = "compliance.record_in_kind"
    _require(action, actor, territory, IN_KIND_ROLES)
    description = (description or "").strip()
    problems: list[tuple[str, str, Any]] = []
    if not description:
        problems.append(("description", "description", _("Descrivi il bene o il servizio ricevuto.")))
    if value_cents <= 0:
        problems.append(("value", "value", _("Indica un valore maggiore di zero, in euro.")))
    if received_on > timezone.localdate():
        problems.append(("received_on", "received_on", _("La data in cui è stato ricevuto non può essere nel futuro.")))
    name = str(getattr(evidence, "name", "") or "")
    suffix = ("." + name.rsplit(".", 1)[-1].lower()) if "." in name else ""
    if evidence is None or suffix not in DECLARATION_TYPES or not _looks_like(evidence, suffix):
        problems.append(
            (
                "evidence",
                "document_type",
                _("Allega il documento che prova il valore (fattura, preventivo o perizia) in PDF, JPG o PNG."),
            )
        )
    elif int(getattr(evidence, "size", 0) or 0) > DECLARATION_MAX_BYTES:
        problems.append(
            ("evidence", "document_size", _("Il file supera 10 MB: scansionalo a una risoluzione più bassa."))
        )
    if person.erased_at is not None:
        problems.append(("person", "erased", _("Questa persona ha chiesto la cancellazione dei suoi dati.")))
    if problems:
        field, code, message = problems[0]
        refuse(action, message, actor=actor, territory=territory, code=code, field=field)
    assert evidence is not None
    with refusing(action, actor, territory), transaction.atomic():
        lock_contributor(canonical_codice_fiscale(person.codice_fiscale) or f"person:{person.pk}")
        rules = rules_on(received_on)
        already = annual_total_cents(person.pk, received_on.year, territory.path, rules)
        if not check_annual_cap(already, value_cents, rules).allowed:  # rule F6
            raise Refused(
                _("Con questo contributo %(name)s supererebbe il tetto annuo di %(cap)s: non si può accettare.")
                % {"name": person.full_name, "cap": format_eur(rules.annual_cap_cents)},
                "annual_cap",
                field="value",
                rule="F6",
            )
        if not may_accept(already + value_cents, not publication_accepted, rules):  # rule F2
            raise Refused(
                _(
                    "Con questo contributo %(name)s supera %(t)s nell'anno: il nome sarà pubblicato nel registro "
                    "e il partito non può accettare contributi da chi si oppone. Conferma che la persona non si "
                    "oppone alla pubblicazione, oppure rifiuta il contributo."
                )
                % {"name": person.full_name, "t": format_eur(rules.publication_threshold_cents)},
                "publication_objection",
                field="publication_accepted",
                rule="F2",
            )
        contribution = InKindContribution(
            person=person,
            territory=territory,
            description=description[:300],
            value_cents=value_cents,
            received_on=received_on,
            recorded_by=acting_user(actor),
        )
        contribution.evidence.save(f"in-natura-{person.pk}-{received_on:%Y%m%d}{suffix}", evidence, save=False)
        contribution.save()
        record(
            action,
            actor=actor,
            obj=contribution,
            territory=territory,
            data={"value_cents": value_cents, "received_on": received_on.isoformat(), "person": person.pk},
        )
    return contribution


# --- Election periods (rule F1) --------------------------------------------------------------


def declare_election_period(
    *,
    actor: Actor,
    territory: Territory,
    kind: str,
    election_day: dt.date,
    description: str,
    dissolved_on: dt.date | None = None,
) -> ElectionPeriod:
    """Rule F1: from a Chamber's dissolution (or the months before an election, a parameter) to
    election day, register entries of `territory` and the entities above and below it are due
    within the short deadline."""
    action = "compliance.declare_election_period"
    if not has_role_at(actor, territory, PERIOD_ROLES):
        refuse(
            action,
            _("Non hai un ruolo su %(t)s per dichiarare un periodo elettorale.") % {"t": territory},
            actor=actor,
            territory=territory,
            code="out_of_scope",
            permission=True,
        )
    description = (description or "").strip()
    rules = rules_on(election_day)
    if kind == ElectionPeriodKind.DISSOLUTION:
        if dissolved_on is None:
            refuse(
                action,
                _("Indica la data dello scioglimento della Camera."),
                actor=actor,
                territory=territory,
                code="dissolved_on",
                field="dissolved_on",
            )
        assert dissolved_on is not None
        if dissolved_on > election_day:
            refuse(
                action,
                _("Lo scioglimento deve precedere il giorno delle elezioni."),
                actor=actor,
                territory=territory,
                code="order",
                field="dissolved_on",
            )
        starts_on = dissolved_on
    elif kind == ElectionPeriodKind.ELECTION:
        starts_on = months_before(election_day, rules.election_period_months)
    else:
        refuse(action, _("Scegli il tipo di periodo."), actor=actor, territory=territory, code="kind", field="kind")
    if not description:
        refuse(
            action,
            _("Scrivi di quale elezione si tratta, per esempio «Elezioni regionali dell'Emilia-Romagna 2029»."),
            actor=actor,
            territory=territory,
            code="description",
            field="description",
        )
    with transaction.atomic():
        period = ElectionPeriod.objects.create(
            territory=territory,
            kind=kind,
            description=description[:200],
            starts_on=starts_on,
            ends_on=election_day,
            election_day=election_day,
            declared_by=acting_user(actor),
        )
        record(
            action,
            actor=actor,
            obj=period,
            territory=territory,
            data={"kind": kind, "starts_on": starts_on.isoformat(), "ends_on": election_day.isoformat()},
        )
    return period


# --- Refreshing the entries (rules F1, F14) --------------------------------------------------


@dataclass(frozen=True)
class Refreshed:
    entries: int
    created: int
    removed: int


def _periods(year: int) -> list[Period]:
    rows = ElectionPeriod.objects.filter(starts_on__lte=dt.date(year, 12, 31), ends_on__gte=dt.date(year, 1, 1))
    return [Period(p.territory.path, p.starts_on, p.ends_on) for p in rows.select_related("territory")]


def computed_entries(year: int, entity: Territory | None, rules: FinanceRules) -> list[Entry]:
    """The entries `contribution_lines` give for `year` (one entity, or every one when None)."""
    top = national()
    party = rules.cap_scope == CAP_SCOPE_PARTY
    path = "" if entity is None or party else entity.path
    return compute_entries(
        contribution_lines(year, entity_path=path),
        rules=rules,
        national_id=top.pk,
        national_path=top.path,
        periods=_periods(year),
        only_entity=entity.pk if entity is not None else None,
    )


def _store(year: int, entity: Territory | None, computed: list[Entry]) -> Refreshed:
    """Write the computed entries over the stored ones, keeping each item's publication date."""
    stored = RegisterEntry.objects.filter(year=year)
    if entity is not None:
        stored = stored.filter(entity=entity)
    by_key: dict[tuple[int, tuple[str, int | str] | None], RegisterEntry] = {
        (e.entity_id, ("entity", e.entity_code) if e.entity_code else ("person", int(e.person_id or 0))): e
        for e in stored.prefetch_related("items")
    }
    # An erased person's name is the pseudonym: the entry keeps the name it had (legal hold, F1).
    names = {
        p.pk: p.full_name
        for p in Person.objects.filter(pk__in={e.person_id for e in computed}, erased_at__isnull=True).only(
            "first_name", "last_name"
        )
    }
    now = timezone.now()
    created = 0
    keep: set[int] = set()
    for data in computed:
        entry = by_key.get((data.entity_id, data.contributor))
        if data.entity_code:  # rule F13: the company's own name; its representative only signs
            name = data.legal_name[:210]
        else:
            name = names.get(data.person_id or 0, entry.donor_name if entry else ERASED_NAME)[:210]
        if entry is None:
            entry = RegisterEntry.objects.create(
                year=year,
                entity_id=data.entity_id,
                person_id=data.person_id,
                entity_code=data.entity_code,
                signatory_id=data.signatory_id,
                donor_name=name,
                total_cents=data.total_cents,
                crossed_on=data.crossed_on,
                refreshed_at=now,
            )
            created += 1
            old_items: dict[tuple[str, int], RegisterItem] = {}
        else:
            changed = (entry.donor_name, entry.total_cents, entry.crossed_on, entry.signatory_id) != (
                name,
                data.total_cents,
                data.crossed_on,
                data.signatory_id,
            )
            if changed:
                entry.donor_name, entry.total_cents, entry.crossed_on = name, data.total_cents, data.crossed_on
                entry.signatory_id = data.signatory_id
                entry.refreshed_at = now
                entry.save(update_fields=["donor_name", "total_cents", "crossed_on", "signatory", "refreshed_at"])
            old_items = {(i.source, i.source_id): i for i in entry.items.all()}
        keep.add(entry.pk)
        new_keys = {(i.source, i.source_id) for i in data.items}
        gone = [i.pk for key, i in old_items.items() if key not in new_keys]
        if gone:
            RegisterItem.objects.filter(pk__in=gone).delete()
        to_create, to_update = [], []
        for item in data.items:
            old = old_items.get((item.source, item.source_id))
            values = (
                item.kind,
                item.method,
                item.amount_cents,
                item.received_on,
                item.due_on,
                item.in_election_period,
                item.resolution_on,
            )
            if old is None:
                to_create.append(
                    RegisterItem(
                        entry=entry,
                        source=item.source,
                        source_id=item.source_id,
                        kind=item.kind,
                        method=item.method,
                        amount_cents=item.amount_cents,
                        received_on=item.received_on,
                        due_on=item.due_on,
                        in_election_period=item.in_election_period,
                        resolution_on=item.resolution_on,
                    )
                )
            elif (
                old.kind,
                old.method,
                old.amount_cents,
                old.received_on,
                old.due_on,
                old.in_election_period,
                old.resolution_on,
            ) != values:
                (
                    old.kind,
                    old.method,
                    old.amount_cents,
                    old.received_on,
                    old.due_on,
                    old.in_election_period,
                    old.resolution_on,
                ) = values
                to_update.append(old)
        RegisterItem.objects.bulk_create(to_create)
        if to_update:
            RegisterItem.objects.bulk_update(
                to_update,
                ["kind", "method", "amount_cents", "received_on", "due_on", "in_election_period", "resolution_on"],
            )
    removed_qs = stored.exclude(pk__in=keep)
    removed = removed_qs.count()
    if removed:
        RegisterItem.objects.filter(entry__in=removed_qs).delete()
        removed_qs.delete()
    return Refreshed(entries=len(computed), created=created, removed=removed)


def refresh_register(*, actor: Actor, year: int, entity: Territory | None = None) -> Refreshed:
    """Materialise the register of `year` for `entity` (or every entity): idempotent, safe to retry.

    A donor whose money was refunded or refused (F2) has no line, so leaves the register; items
    already published keep their publication date. `actor` None is the periodic task.
    """
    action = "compliance.refresh_register"
    rules = register_rules(year)
    if entity is not None:
        if actor is not None:
            _require(action, actor, entity, REGISTER_ROLES)
        if not is_register_entity(entity, rules):
            refuse(
                action,
                _(
                    "Il registro dei contributi si tiene per tutto il partito, a livello nazionale: "
                    "%(t)s non ne ha uno proprio."
                )
                % {"t": entity},
                actor=actor,
                territory=entity,
                code="party_scope",
            )
    elif actor is not None and not has_role_at(actor, national(), REGISTER_ROLES):
        refuse(
            action,
            _("Solo la tesoreria nazionale aggiorna tutti i registri insieme."),
            actor=actor,
            code="out_of_scope",
            permission=True,
        )
    computed = computed_entries(year, entity, rules)
    with transaction.atomic():
        _lock(f"{year}:{entity.pk if entity else 'all'}")
        result = _store(year, entity, computed)
        record(
            action,
            actor=actor,
            territory=entity,
            data={"year": year, "entries": result.entries, "created": result.created, "removed": result.removed},
        )
    return result


# --- Publication (rules F1, F2) --------------------------------------------------------------


def published_rows(entries: Iterable[RegisterEntry]) -> list[dict[str, Any]]:
    """What the public page shows of each entry: name, total, and each contribution (no identifier
    of a natural person). A legal person (rule F13) is shown by its name and VAT number, each gift
    with the date of the board resolution approving it; its representative is not published."""
    rows = []
    for entry in entries:
        items = []
        for item in sorted(entry.items.all(), key=lambda i: (i.received_on, i.pk)):
            shown: dict[str, Any] = {
                "received_on": item.received_on.isoformat(),
                "amount_cents": item.amount_cents,
                "kind": item.kind,
                "method": item.method,
            }
            if entry.entity_code:
                shown["resolution_on"] = item.resolution_on.isoformat() if item.resolution_on else ""
            items.append(shown)
        row: dict[str, Any] = {
            "person_id": entry.person_id,
            "donor_name": entry.donor_name,
            "total_cents": entry.total_cents,
            "items": items,
        }
        if entry.entity_code:
            row["entity_code"] = entry.entity_code
        rows.append(row)
    return rows


def rows_digest(rows: list[dict[str, Any]]) -> str:
    return hashlib.sha256(json.dumps(rows, sort_keys=True).encode()).hexdigest()


def register_entries(year: int, entity: Territory) -> Any:
    return (
        RegisterEntry.objects.filter(year=year, entity=entity)
        .select_related("signatory")
        .prefetch_related("items")
        .order_by("donor_name", "id")
    )


def publish_register(*, actor: Actor, entity: Territory, year: int, note: str = "") -> RegisterPublication:
    """Rules F1, F2: publish the register of `entity` for `year` as a new immutable version.

    The entries are refreshed first, so what is published is what the contributions say now;
    every contribution not yet published has its deadline met today. Publishing again without a
    change is refused (the page would show a new date for the same rows).
    """
    action = "compliance.publish_register"
    _require(action, actor, entity, PUBLISH_ROLES)
    today = timezone.localdate()
    rules = register_rules(year)
    if year > today.year:
        refuse(
            action,
            _("Non si può pubblicare il registro di un anno futuro."),
            actor=actor,
            territory=entity,
            code="year",
        )
    if not is_register_entity(entity, rules):
        refuse(
            action,
            _("Il registro dei contributi si pubblica per tutto il partito, a livello nazionale."),
            actor=actor,
            territory=entity,
            code="party_scope",
        )
    computed = computed_entries(year, entity, rules)
    with refusing(action, actor, entity), transaction.atomic():
        _lock(f"{year}:{entity.pk}")
        _store(year, entity, computed)
        entries = list(register_entries(year, entity))
        rows = published_rows(entries)
        digest = rows_digest(rows)
        last = RegisterPublication.objects.filter(entity=entity, year=year).order_by("-version").first()
        pending = RegisterItem.objects.filter(entry__in=entries, published_on__isnull=True).exists()
        if last is not None and last.digest == digest and not pending:
            raise Refused(
                _("Il registro non è cambiato dalla versione %(v)d pubblicata il %(d)s: non c'è nulla da pubblicare.")
                % {"v": last.version, "d": timezone.localtime(last.published_at).strftime("%d/%m/%Y")},
                "unchanged",
            )
        version = (
            RegisterPublication.objects.filter(entity=entity, year=year).aggregate(v=Max("version"))["v"] or 0
        ) + 1
        publication = RegisterPublication.objects.create(
            entity=entity,
            year=year,
            version=version,
            published_at=timezone.now(),
            published_by=acting_user(actor),
            note=(note or "").strip()[:300],
            digest=digest,
            total_cents=sum(r["total_cents"] for r in rows),
        )
        PublishedRow.objects.bulk_create(
            PublishedRow(
                publication=publication,
                position=position,
                person_id=row["person_id"],
                entity_code=row.get("entity_code", ""),
                donor_name=row["donor_name"],
                total_cents=row["total_cents"],
                items=row["items"],
            )
            for position, row in enumerate(rows, start=1)
        )
        met = RegisterItem.objects.filter(entry__in=entries, published_on__isnull=True).update(published_on=today)
        record(
            action,
            actor=actor,
            obj=publication,
            territory=entity,
            data={"year": year, "version": version, "rows": len(rows), "items_met": met},
        )
    return publication
