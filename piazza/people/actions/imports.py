"""Importing people from spreadsheets, in batches."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, models, transaction
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from piazza.core.audit import record
from piazza.core.errors import refuse
from piazza.core.exports import ExportFile, write_export
from piazza.core.i18n import deferred
from piazza.core.tasks import enqueue_on_commit
from piazza.people import dedupe
from piazza.people.erased import erased_flags
from piazza.people.exports import rejected_rows
from piazza.people.import_targets import ImportTarget, RowContext, get_target
from piazza.people.models import (
    WRITE_ROLES,
    BatchStatus,
    CodeDateReview,
    DuplicateCandidate,
    Email,
    ImportBatch,
    ImportMapping,
    ImportRow,
    Person,
    Phone,
    ReviewStatus,
    RowStatus,
    Source,
    Tag,
    TargetOutcome,
    TimelineEntry,
)
from piazza.people.validation import CleanedPerson, clean_person_data, search_name
from piazza.territory.models import Comune, Level, Territory

from ._records import _is_user, _jsonable, _probe, _require_scope, _set_contacts, _set_tags
from .person import ERASED_ROW_MESSAGE, add_timeline_entry
from .scope import territories_for_comuni

# --- Import (CSV / XLSX) ------------------------------------------------------------------------

# Rows per chunk, i.e. per transaction (P6): each chunk costs ~25 statements whatever its size, so
# 2,000 rows spend a quarter of what 500 did; the chunk's lock on matched people lasts ~1 s.
IMPORT_CHUNK = 2000


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
    earlier = (
        (
            ImportBatch.objects.visible_to(actor, roles=WRITE_ROLES)
            if _is_user(actor)
            else ImportBatch.objects.filter(territory=territory)
        )
        .filter(file_sha256=digest)
        .first()
    )
    with transaction.atomic():
        batch = ImportBatch.objects.create(
            territory=territory,
            created_by=actor if _is_user(actor) else None,
            file_name=file_name[:255],
            file_sha256=digest,
            file_format=parsed.file_format,
            encoding=parsed.encoding,
            delimiter=parsed.delimiter,
            headers=parsed.headers,
            mapping=parsed.mapping,
            total_rows=len(parsed.rows),
            repeat_of=earlier,
        )
        _stage_rows(batch, parsed.rows)
        record(
            "people.start_import",
            actor=actor,
            obj=batch,
            territory=territory,
            data={
                "file": file_name,
                "rows": len(parsed.rows),
                "format": parsed.file_format,
                "repeat_of": earlier.pk if earlier else None,
            },
        )
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
    with (
        connection.cursor() as cursor,
        cursor.copy(
            f"COPY {ImportRow._meta.db_table} (batch_id, number, raw, status, errors, match_note, target_outcome, "
            "target_note) FROM STDIN"
        ) as copy,
    ):
        for i, row in enumerate(rows):
            copy.write_row(
                (batch.pk, i + 2, json.dumps([_jsonable(c) for c in row]), RowStatus.PENDING.value, "[]", "", "", "")
            )


def set_import_mapping(
    *,
    actor: Any,
    batch: ImportBatch,
    mapping: dict[str, str],
    save_as: str = "",
) -> ImportBatch:
    """Column → field for this batch; `save_as` also keeps it for the next files."""
    from piazza.people.imports import FIELDS

    _require_scope("people.set_import_mapping", actor, batch.territory)
    clean = {k: v for k, v in mapping.items() if v in FIELDS and k.isdigit() and int(k) < len(batch.headers)}
    chosen = list(clean.values())
    twice = sorted({v for v in chosen if chosen.count(v) > 1})
    if twice:
        refuse(
            "people.set_import_mapping",
            _("Il campo «%(field)s» è associato a più colonne: scegline una sola.") % {"field": FIELDS[twice[0]]},
            actor=actor,
            territory=batch.territory,
            field="mapping",
        )
    if not {"first_name", "last_name"} <= set(chosen):
        refuse(
            "people.set_import_mapping",
            _("Associa almeno le colonne Nome e Cognome."),
            actor=actor,
            territory=batch.territory,
            field="mapping",
        )
    with transaction.atomic():
        batch.mapping = clean
        batch.status = BatchStatus.MAPPED
        batch.save(update_fields=["mapping", "status"])
        if save_as.strip():
            ImportMapping.objects.update_or_create(
                territory=batch.territory,
                name=save_as.strip()[:120],
                defaults={
                    "mapping": {batch.headers[int(k)]: v for k, v in clean.items()},
                    "created_by": actor if _is_user(actor) else None,
                },
            )
        record(
            "people.set_import_mapping",
            actor=actor,
            obj=batch,
            territory=batch.territory,
            data={"mapping": clean, "saved_as": save_as.strip()},
        )
    return batch


def repeat_warning(batch: ImportBatch) -> str:
    """Item 14: "this file was already imported on … by …", or "" for a new file."""
    earlier = batch.repeat_of
    if earlier is None:
        return ""
    who = earlier.created_by
    name = (who.get_full_name() or who.get_username()) if who is not None else _("una procedura automatica")
    return _("Questo file è già stato importato il %(when)s da %(who)s («%(file)s»).") % {
        "when": date_format(timezone.localtime(earlier.created_at), "d/m/Y \\a\\l\\l\\e H:i"),
        "who": name,
        "file": earlier.file_name,
    }


def set_import_target(*, actor: Any, batch: ImportBatch, target: str, options: dict[str, Any]) -> ImportBatch:
    """What the rows become besides people (item 13): "" (people only) or a registered target,
    with the options that target checked (`ImportTarget.check_options`)."""
    _require_scope("people.set_import_target", actor, batch.territory)
    if target and get_target(target) is None:
        refuse(
            "people.set_import_target",
            _("Destinazione dell'importazione sconosciuta: scegline una dell'elenco."),
            actor=actor,
            territory=batch.territory,
            field="target",
        )
    if batch.status not in (BatchStatus.MAPPED, BatchStatus.FAILED):
        refuse(
            "people.set_import_target",
            _("Associa prima le colonne del file (o l'importazione è già partita)."),
            actor=actor,
            territory=batch.territory,
        )
    with transaction.atomic():
        batch.target = target
        batch.target_options = options if target else {}
        batch.save(update_fields=["target", "target_options"])
        record(
            "people.set_import_target",
            actor=actor,
            obj=batch,
            territory=batch.territory,
            data={"target": target, "options": batch.target_options},
        )
    return batch


def run_import(*, actor: Any, batch: ImportBatch, confirm_repeat: bool = False) -> ImportBatch:
    """Queue the batch for the background worker (progress is read from the batch). A file
    already imported runs only when the official confirms it (item 14)."""
    from piazza.people.tasks import process_import

    _require_scope("people.run_import", actor, batch.territory)
    if batch.status not in (BatchStatus.MAPPED, BatchStatus.DONE, BatchStatus.FAILED):
        refuse("people.run_import", _("Associa prima le colonne del file."), actor=actor, territory=batch.territory)
    if batch.repeat_of_id and not (batch.repeat_confirmed or confirm_repeat):
        refuse(
            "people.run_import",
            repeat_warning(batch) + " " + _("Per importarlo di nuovo spunta la conferma."),
            actor=actor,
            territory=batch.territory,
            code="repeat_not_confirmed",
            field="confirm_repeat",
        )
    target = get_target(batch.target)
    problem = target.actor_problem(actor, batch.target_options) if target is not None else ""
    if problem:
        refuse("people.run_import", problem, actor=actor, territory=batch.territory, code="target_out_of_scope")
    with transaction.atomic():
        batch.status = BatchStatus.QUEUED
        batch.repeat_confirmed = batch.repeat_confirmed or bool(batch.repeat_of_id and confirm_repeat)
        batch.save(update_fields=["status", "repeat_confirmed"])
        record(
            "people.run_import",
            actor=actor,
            obj=batch,
            territory=batch.territory,
            data={"repeat_confirmed": batch.repeat_confirmed, "target": batch.target},
        )
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
        status=BatchStatus.RUNNING, started_at=timezone.now(), error="", processed_rows=done
    )
    last = 0
    territories: dict[int | None, Territory] = {}  # residence comune → where its people go
    target = get_target(batch.target)
    try:
        with comune_cache():
            while True:
                rows = list(
                    ImportRow.objects.filter(batch=batch, status=RowStatus.PENDING, number__gt=last).order_by("number")[
                        :IMPORT_CHUNK
                    ]
                )
                if not rows:
                    break
                last = rows[-1].number
                _process_chunk_safely(batch, rows, actor=actor, territories=territories, target=target)
                ImportBatch.objects.filter(pk=batch.pk).update(processed_rows=models.F("processed_rows") + len(rows))
    except Exception as exc:
        ImportBatch.objects.filter(pk=batch.pk).update(status=BatchStatus.FAILED, error=str(exc)[:2000])
        raise
    counts = dict(ImportRow.objects.filter(batch=batch).values_list("status").annotate(n=models.Count("id")).order_by())
    with transaction.atomic():
        ImportBatch.objects.filter(pk=batch.pk).update(
            status=BatchStatus.DONE,
            finished_at=timezone.now(),
            summary=counts,
            processed_rows=batch.total_rows,
        )
        batch.refresh_from_db()
        record("people.import_batch", actor=actor, obj=batch, territory=batch.territory, data={"counts": counts})
    return batch


def _process_chunk_safely(
    batch: ImportBatch,
    rows: list[ImportRow],
    *,
    actor: Any,
    territories: dict[int | None, Territory],
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


@dataclass
class _NewPerson:
    """A person the chunk will create; until then known by a negative id in the dedupe pool."""

    key: int
    person: Person
    cleaned: CleanedPerson
    rows: list[ImportRow]
    weak: list[dedupe.Match]


def _process_chunk(
    batch: ImportBatch,
    rows: list[ImportRow],
    *,
    actor: Any,
    territories: dict[int | None, Territory],
    target: ImportTarget | None = None,
) -> None:
    from piazza.people.imports import FIELDS, row_to_data

    labels = dict(FIELDS)
    prepared: list[tuple[ImportRow, CleanedPerson, dedupe.Probe]] = []
    for row in rows:
        # The id, not the relation: the descriptor's checks cost ~3 µs a row, and a changed id
        # drops a person cached by an earlier attempt at the chunk.
        row.person_id, row.errors, row.match_note, row.target_outcome, row.target_note = None, [], "", "", ""
        data, problem = row_to_data(row.raw, batch.mapping, len(batch.headers))
        # Item 14: a code that disagrees only with the birth date keeps the row, flagged (D1).
        cleaned = clean_person_data(data, flag_birth_date=True) if not problem else CleanedPerson()
        if problem or cleaned.errors:
            row.status = RowStatus.REJECTED
            row.errors = (
                [problem]
                if problem
                else [f"{labels.get(k, k)}: {m}" for k, msgs in cleaned.errors.items() for m in msgs]
            )
            continue
        prepared.append((row, cleaned, _probe(cleaned)))
    # Issue 12, rule G5: a person who asked to be erased is never re-created silently (one query).
    erased = erased_flags(
        [(c.emails, c.phones, c.values.get("codice_fiscale_canonical", "")) for _r, c, _p in prepared]
    )
    for (row, _c, _p), flagged in zip(prepared, erased, strict=True):
        if flagged:
            row.status = RowStatus.ERASED
            row.errors = [str(ERASED_ROW_MESSAGE)]
    prepared = [item for item, flagged in zip(prepared, erased, strict=True) if not flagged]
    pool = dedupe.fetch_pool(p for _r, _c, p in prepared)
    by_name = _same_names_in_scope(batch, [c for _r, c, _p in prepared])
    new: dict[int, _NewPerson] = {}
    existing: list[tuple[ImportRow, int, CleanedPerson]] = []
    make_person = _PersonMaker()
    for row, cleaned, probe in prepared:
        matches = dedupe.match(probe, pool)
        strong = [m for m in matches if m.strong]
        same = strong[0].person_id if strong else _same_name(by_name, cleaned)
        if same is not None and same < 0:  # the same human twice in this file
            entry = new[same]
            changed = _fill_new(entry, cleaned)
            entry.rows.append(row)
            row.status = RowStatus.UPDATED if changed else RowStatus.UNCHANGED
            row.match_note = _(
                "Stessa persona della riga %(number)d del file (%(name)s): dati uniti in una scheda."
            ) % {"number": entry.rows[0].number, "name": f"{entry.person.last_name} {entry.person.first_name}"}
            continue
        if same is not None:
            known = pool.people.get(same)  # name-only matches come from inside the scope already
            if known is not None and not known.territory_path.startswith(batch.territory.path):
                row.status = RowStatus.DUPLICATE
                row.errors = [
                    _(
                        "La persona è già registrata in un altro territorio: chiedi alla federazione di "
                        "trasferirla se deve passare a te."
                    )
                ]
                continue
            existing.append((row, same, cleaned))
            continue
        residence = cleaned.values.get("residence_comune")
        comune_id = residence.pk if residence else None
        if comune_id not in territories:
            _assign_territories(batch, territories, [c for _r, c, _p in prepared])
        key = -len(new) - 1
        person = make_person(
            territory=territories[comune_id],
            source=Source.IMPORT,
            created_by=actor if _is_user(actor) else None,
            **_person_values(cleaned),
        )
        person.search_name = search_name(person.first_name, person.last_name)
        new[key] = _NewPerson(key, person, cleaned, [row], [m for m in matches if not m.strong])
        pool.add(
            dedupe.Known(
                key,
                person.first_name,
                person.last_name,
                person.birth_date,
                probe.comune_ids,
                person.territory.path,
                probe.codice_fiscale_canonical,
            ),
            code=cleaned.values.get("codice_fiscale_canonical", ""),
            emails=cleaned.emails,
            phones=cleaned.phones,
        )
        by_name.setdefault(person.search_name, []).append((key, comune_id, person.birth_date))
    updated = []
    matched = [pk for _row, pk, _cleaned in existing]
    on_record = {p.pk: p for p in Person.objects.select_for_update().filter(pk__any=matched)} if matched else {}
    contacts = _contacts_of(matched)
    texts = _on_record_texts()
    for row, pk, cleaned in existing:
        person = on_record[pk]
        # Most matched rows bring nothing new: decided in memory, written only when they do.
        changed = _brings_news(person, contacts, cleaned) and _fill_blanks(person, cleaned, actor=actor, batch=batch)
        row.status = RowStatus.UPDATED if changed else RowStatus.UNCHANGED
        row.person = person
        row.match_note = _already_on_record(person, texts)
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
    record(
        "people.import_chunk",
        actor=actor,
        obj=batch,
        territory=batch.territory,
        data={"rows": [rows[0].number, rows[-1].number], "created": created, "updated": updated},
    )


def _assign_territories(
    batch: ImportBatch, territories: dict[int | None, Territory], chunk: list[CleanedPerson]
) -> None:
    """Where the chunk's new people belong (rules M10/M11, `assign_territory`), resolved for all of
    its comuni at once: an import into a circolo keeps them there; a node outside the batch's
    territory falls back to the batch's."""
    needed: dict[int | None, Comune | None] = {}
    for cleaned in chunk:
        comune = cleaned.values.get("residence_comune")
        needed[comune.pk if comune else None] = comune
    missing = {pk: comune for pk, comune in needed.items() if pk not in territories}
    if batch.territory.level == Level.CIRCOLO:
        territories.update(dict.fromkeys(missing, batch.territory))
        return
    for pk, territory in territories_for_comuni(missing.values()).items():
        territories[pk] = territory if territory.path.startswith(batch.territory.path) else batch.territory


def _save_outcomes(rows: list[ImportRow]) -> None:
    """One parametrised UPDATE sent for all rows (pipelined by psycopg): `bulk_update`'s CASE
    expressions cost more than the rest of the chunk."""
    from django.db import connection

    table = connection.ops.quote_name(ImportRow._meta.db_table)
    if connection.vendor == "postgresql":
        # COPY into a scratch table and one UPDATE … FROM: no statement per row to build and
        # quote on this side (P6). Dropped at commit; emptied first for the next chunk of the
        # same transaction (an import run inside a caller's transaction).
        with connection.cursor() as cursor:
            cursor.execute(
                "CREATE TEMP TABLE IF NOT EXISTS people_import_outcome (id bigint, status varchar(20), "
                "errors jsonb, person_id bigint, match_note text, target_outcome varchar(20), target_note text) "
                "ON COMMIT DROP"
            )
            cursor.execute("TRUNCATE people_import_outcome")
            with cursor.copy("COPY people_import_outcome FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(
                        (
                            row.pk,
                            str(row.status),
                            json.dumps(row.errors),
                            row.person.pk if row.person else None,
                            row.match_note,
                            str(row.target_outcome),
                            row.target_note,
                        )
                    )
            cursor.execute(
                f"UPDATE {table} AS r SET status = o.status, errors = o.errors, person_id = o.person_id, "  # noqa: S608 (table from model meta)
                "match_note = o.match_note, target_outcome = o.target_outcome, target_note = o.target_note "
                "FROM people_import_outcome AS o WHERE r.id = o.id"
            )
        return
    with connection.cursor() as cursor:
        cursor.executemany(
            f"UPDATE {table} SET status = %s, errors = %s, person_id = %s, match_note = %s, "  # noqa: S608 (table from model meta)
            "target_outcome = %s, target_note = %s WHERE id = %s",
            [
                (
                    row.status,
                    json.dumps(row.errors),
                    row.person.pk if row.person else None,
                    row.match_note,
                    row.target_outcome,
                    row.target_note,
                    row.pk,
                )
                for row in rows
            ],
        )


def _possible_duplicates(
    batch: ImportBatch,
    weak: list[dedupe.Match],
    pool: dedupe.Pool,
    new: dict[int, _NewPerson],
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
            names.append(
                _("%(name)s (scheda n. %(id)d)") % {"name": f"{known.last_name} {known.first_name}", "id": known.pk}
            )
        else:
            names.append(_("una persona di un altro territorio"))
    return _("Creata, ma forse è la stessa persona di: %(who)s. Verifica nei possibili doppioni.") % {
        "who": "; ".join(dict.fromkeys(names))
    }


def _already_on_record(person: Person, texts: tuple[str, str]) -> str:
    """The existing person a row matched, in words (the report's duplicate list, item 14).
    `texts`: `_on_record_texts()`, translated once for a whole chunk (P6: `gettext` is slow)."""
    note, born_on = texts
    born = born_on % {"date": person.birth_date.strftime("%d/%m/%Y")} if person.birth_date else ""
    return note % {
        "name": f"{person.last_name} {person.first_name}",
        "born": born,
        "id": person.pk,
    }


def _on_record_texts() -> tuple[str, str]:
    return _("Già registrata: %(name)s%(born)s (scheda n. %(id)d)."), _(", nata/o il %(date)s")


def _flag_code_dates(
    batch: ImportBatch,
    rows: list[ImportRow],
    cleaned_of: dict[int, CleanedPerson],
    *,
    actor: Any,
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
        message = _(
            "Il codice fiscale dice nato/a il %(code)s, il file dice %(record)s: la riga è stata tenuta ed è "
            "nella coda «Codici fiscali da verificare»."
        ) % {"code": cleaned.code_birth_date.strftime("%d/%m/%Y"), "record": record_date.strftime("%d/%m/%Y")}
        row.errors = [*row.errors, message]
        if (
            any(r.person_id == person.pk for r in reviews)
            or CodeDateReview.objects.filter(person=person, status=ReviewStatus.OPEN).exists()
        ):
            continue
        reviews.append(
            CodeDateReview(
                person=person,
                batch=batch,
                row_number=row.number,
                codice_fiscale=person.codice_fiscale,
                code_birth_date=cleaned.code_birth_date,
                record_birth_date=record_date,
            )
        )
    if reviews:
        CodeDateReview.objects.bulk_create(reviews)
        record(
            "people.flag_code_dates",
            actor=actor,
            obj=batch,
            territory=batch.territory,
            data={"rows": sorted(r.row_number or 0 for r in reviews), "rule": "D1"},
        )
    return held


def _apply_target(
    batch: ImportBatch,
    rows: list[ImportRow],
    cleaned_of: dict[int, CleanedPerson],
    held: set[int],
    *,
    target: ImportTarget,
    actor: Any,
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
        outcome = target.apply_row(
            RowContext(row.number, row.person, cleaned.emails, cleaned.phones),
            actor=actor,
            batch=batch,
            options=batch.target_options,
        )
        row.target_outcome, row.target_note = outcome.outcome, outcome.note


class _PersonMaker:
    """Builds a chunk's new `Person` instances from field values as Django builds those it reads
    (positionally, by column), not by keyword (P6: each missing field's default looked up and
    each related object set through its descriptor cost ~50 µs a person). The related objects
    given go to the instance's cache, so reading them later costs no query, as with keywords."""

    def __init__(self) -> None:
        fields = Person._meta.concrete_fields
        self.position = {f.name: i for i, f in enumerate(fields)}
        self.related: dict[str, models.ForeignKey[Any, Any]] = {
            f.name: f for f in fields if isinstance(f, models.ForeignKey)
        }
        self.defaults = [None if f.primary_key else f.get_default() for f in fields]
        self.callable_defaults = [(i, f) for i, f in enumerate(fields) if callable(f.default)]

    def __call__(self, **values: Any) -> Person:
        row = list(self.defaults)
        for i, field in self.callable_defaults:  # e.g. `created_at`: one instant a person, as Django does
            row[i] = field.get_default()
        cached = []
        for name, value in values.items():
            related = self.related.get(name)
            if related is not None:
                cached.append((related, value))
                value = None if value is None else value.pk
            row[self.position[name]] = value
        person = Person(*row)
        for related, value in cached:
            related.set_cached_value(person, value)
        return person


def _person_values(cleaned: CleanedPerson) -> dict[str, Any]:
    return {k: v for k, v in cleaned.values.items() if v is not None or k.endswith("comune")}


def _fill_new(entry: _NewPerson, cleaned: CleanedPerson) -> bool:
    """A later row of the file about a person the chunk is creating: fill blanks, add contacts."""
    changed = False
    for name, value in cleaned.values.items():
        if value not in (None, "") and getattr(entry.person, name) in (None, ""):
            setattr(entry.person, name, value)
            changed = True
    for mine, theirs in (
        (entry.cleaned.emails, cleaned.emails),
        (entry.cleaned.phones, cleaned.phones),
        (entry.cleaned.tags, cleaned.tags),
    ):
        for value in theirs:
            if value not in mine:
                mine.append(value)
                changed = True
    return changed


def _create_in_bulk(batch: ImportBatch, new: list[_NewPerson], *, actor: Any) -> list[int]:
    """Insert the chunk's new people and everything hanging from them with one statement each."""
    if not new:
        return []
    _insert_all(Person, [n.person for n in new])
    ids = {n.key: n.person.pk for n in new}
    # Plain tuples, not model instances (P6: building and preparing ~4 instances per new person
    # cost more than the COPY that writes them): the columns of `_insert_rows`, ready for the database.
    now = timezone.now()
    emails: list[tuple[Any, ...]] = []
    phones: list[tuple[Any, ...]] = []
    tagged: list[tuple[int, int]] = []
    timeline: list[tuple[Any, ...]] = []
    pairs: dict[tuple[int, int], tuple[int, list[str]]] = {}
    tag_ids = _tag_ids({t for n in new for t in n.cleaned.tags})
    who = actor.pk if _is_user(actor) else None
    summary = _("Scheda creata (%(source)s)") % {"source": Source.IMPORT.label}
    data = json.dumps({"import_batch": batch.pk})
    for n in new:
        pk = n.person.pk
        for row in n.rows:
            row.person = n.person
        emails += [(pk, v, i == 0, False, now) for i, v in enumerate(n.cleaned.emails)]
        phones += [(pk, v, i == 0, False, now) for i, v in enumerate(n.cleaned.phones)]
        tagged += [(pk, tag_ids[t]) for t in dict.fromkeys(n.cleaned.tags)]
        timeline.append((pk, now, "created", summary, data, who))
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
    contact = ("person_id", "value", "primary", "verified", "created_at")
    _insert_rows(Email, contact, emails)
    _insert_rows(Phone, contact, phones)
    _insert_rows(Person.tags.through, ("person_id", "tag_id"), tagged)
    _insert_rows(TimelineEntry, ("person_id", "at", "kind", "summary", "data", "actor_id"), timeline)
    DuplicateCandidate.objects.bulk_create(
        [DuplicateCandidate(person_a_id=a, person_b_id=b, score=s, reasons=r) for (a, b), (s, r) in pairs.items()],
        batch_size=1000,
        ignore_conflicts=True,
    )
    return list(ids.values())


_PLAIN_FIELDS = (
    models.CharField,
    models.TextField,
    models.BooleanField,
    models.ForeignKey,
    models.BigAutoField,
    models.AutoField,
    models.PositiveSmallIntegerField,
    models.IntegerField,
    models.DateField,
    models.DateTimeField,
)
_PLAIN_VALUES = (str, bool, int, dt.date, dt.datetime)  # what psycopg writes as it is (aware datetimes)


def _insert_all(model: type[models.Model], objects: list[Any]) -> None:
    """`bulk_create` of new rows without signals, as one `COPY` on PostgreSQL (P6): the ids are
    drawn from the table's sequence first, and each value is prepared as `bulk_create` would
    (`pre_save`, `get_db_prep_save`), but without building and quoting a multi-row INSERT."""
    from django.db import DEFAULT_DB_ALIAS, connections

    if not objects:
        return
    connection = connections[DEFAULT_DB_ALIAS]  # the object itself: the proxy costs a lookup per value
    if connection.vendor != "postgresql":
        model._default_manager.bulk_create(objects, batch_size=1000)
        return
    meta = model._meta
    table = connection.ops.quote_name(meta.db_table)
    pk = meta.pk
    assert pk is not None
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
            [meta.db_table, pk.column, len(objects)],
        )
        for obj, (value,) in zip(objects, cursor.fetchall(), strict=True):
            obj.pk = value
        fields = meta.concrete_fields
        # Text, flag, key and date columns holding a plain value go as they are, read straight
        # from the instance (what `pre_save` and `get_db_prep_save` give for them on PostgreSQL);
        # `auto_now` dates, JSON and anything else through the field.
        spec = [
            (
                f,
                f.attname,
                type(f) in _PLAIN_FIELDS and not (getattr(f, "auto_now", 0) or getattr(f, "auto_now_add", 0)),
            )
            for f in fields
        ]
        names = ", ".join(connection.ops.quote_name(f.column) for f in fields)
        with cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
            for obj in objects:
                row = []
                given = obj.__dict__
                for field, attname, plain in spec:
                    if plain:
                        value = given[attname]
                        kind = type(value)
                        if value is None or (
                            kind in _PLAIN_VALUES and not (kind is dt.datetime and value.tzinfo is None)
                        ):
                            row.append(value)
                            continue
                    value = field.pre_save(obj, True)
                    if not (plain and (value is None or type(value) in _PLAIN_VALUES)) or (
                        type(value) is dt.datetime and value.tzinfo is None  # Django makes it aware
                    ):
                        value = field.get_db_prep_save(value, connection)
                    row.append(value)
                copy.write_row(row)
                obj._state.adding = False
                obj._state.db = connection.alias


def _insert_rows(model: type[models.Model], columns: tuple[str, ...], rows: list[tuple[Any, ...]]) -> None:
    """New rows given as tuples of `columns` (attribute names, which are the column names here;
    JSON already dumped), numbered by the table's default: one `COPY` on PostgreSQL, `bulk_create`
    elsewhere."""
    from django.db import connection

    if not rows:
        return
    if connection.vendor != "postgresql":
        decoded = {c for c in columns if isinstance(model._meta.get_field(c.removesuffix("_id")), models.JSONField)}
        objects = [
            model(**{c: json.loads(v) if c in decoded else v for c, v in zip(columns, row, strict=True)})
            for row in rows
        ]
        model._default_manager.bulk_create(objects, batch_size=1000)
        return
    names = ", ".join(connection.ops.quote_name(c) for c in columns)
    with (
        connection.cursor() as cursor,
        cursor.copy(f"COPY {connection.ops.quote_name(model._meta.db_table)} ({names}) FROM STDIN") as copy,
    ):
        for row in rows:
            copy.write_row(row)


def _tag_ids(names: set[str]) -> dict[str, int]:
    """The ids of the chunk's tags, new ones created: two statements for any number of tags (a
    name too long for a tag was rejected with its row by `clean_person_data`)."""
    if not names:
        return {}
    Tag.objects.bulk_create([Tag(name=name) for name in names], ignore_conflicts=True)
    return dict(Tag.objects.filter(name__in=names).order_by().values_list("name", "pk"))


def _same_names_in_scope(
    batch: ImportBatch,
    cleaned: list[CleanedPerson],
) -> dict[str, list[tuple[int, int | None, Any]]]:
    """Rows without code or contacts are matched on the same name, birth date and comune within
    the batch's territory (re-running a file must not create people twice): one query per chunk."""
    names = {
        search_name(c.values.get("first_name", ""), c.values.get("last_name", ""))
        for c in cleaned
        if _identifiable_by_name_only(c)
    }
    found: dict[str, list[tuple[int, int | None, Any]]] = {}
    if names:
        for pk, name, comune_id, birth in (
            Person.objects.active()
            .alias(exact_name=Lower("search_name"))  # served by `person_search_name_exact`, names are lower case
            .filter(
                exact_name__any=names,
                territory__path__startswith=batch.territory.path,
            )
            .values_list("pk", "search_name", "residence_comune_id", "birth_date")
        ):
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


def _contacts_of(person_ids: list[int]) -> dict[str, dict[int, set[str]]]:
    """The e-mails, phones and tag names of the matched people, as plain values (three queries,
    P6: a prefetch would build a model instance for each)."""
    out: dict[str, dict[int, set[str]]] = {"emails": {}, "phones": {}, "tags": {}}
    if not person_ids:
        return out
    for kind, rows in (
        ("emails", Email.objects.filter(person_id__any=person_ids).values_list("person_id", "value")),
        ("phones", Phone.objects.filter(person_id__any=person_ids).values_list("person_id", "value")),
        ("tags", Person.tags.through.objects.filter(person_id__any=person_ids).values_list("person_id", "tag__name")),
    ):
        for pk, value in rows.order_by():
            out[kind].setdefault(pk, set()).add(value)
    return out


def _brings_news(person: Person, contacts: dict[str, dict[int, set[str]]], cleaned: CleanedPerson) -> bool:
    """Whether `_fill_blanks` would change anything (reads no relation: `contacts` has them)."""
    for name, value in cleaned.values.items():
        attname = f"{name}_id" if name.endswith("comune") else name  # no query for the related comune
        if value not in (None, "") and name != "codice_fiscale_canonical" and getattr(person, attname) in (None, ""):
            return True
    none: set[str] = set()
    return (
        not contacts["emails"].get(person.pk, none).issuperset(cleaned.emails)
        or not contacts["phones"].get(person.pk, none).issuperset(cleaned.phones)
        or not contacts["tags"].get(person.pk, none).issuperset(cleaned.tags)
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
        add_timeline_entry(
            person,
            kind="updated",
            actor=actor,
            data={"import_batch": batch.pk, "filled": filled, "added": added, "tags": tags},
            summary=deferred(gettext_noop("Completata da importazione «%(file)s»"), file=batch.file_name),
        )
        return True
    return False


def close_import_batch(*, actor: Any, batch: ImportBatch) -> ImportBatch:
    """Drop the staged rows (the people stay); the counts remain in the batch summary."""
    _require_scope("people.close_import_batch", actor, batch.territory)
    if batch.status in (BatchStatus.QUEUED, BatchStatus.RUNNING):
        refuse(
            "people.close_import_batch",
            _("L'importazione è ancora in corso: attendi che finisca."),
            actor=actor,
            territory=batch.territory,
        )
    with transaction.atomic():
        if not batch.summary:
            batch.summary = dict(
                ImportRow.objects.filter(batch=batch).values_list("status").annotate(n=models.Count("id")).order_by()
            )
        ImportRow.objects.filter(batch=batch).delete()
        batch.status = BatchStatus.CLOSED
        batch.closed_at = timezone.now()
        batch.save(update_fields=["status", "closed_at", "summary"])
        record(
            "people.close_import_batch",
            actor=actor,
            obj=batch,
            territory=batch.territory,
            data={"summary": batch.summary},
        )
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
        refuse(
            action, _("Scegli una delle tre soluzioni."), actor=actor, territory=person.territory, field="resolution"
        )
    if review.status != ReviewStatus.OPEN:
        refuse(
            action,
            _("Questa verifica è già stata chiusa il %(when)s.")
            % {"when": date_format(timezone.localtime(review.resolved_at), "d/m/Y H:i")}
            if review.resolved_at
            else _("Questa verifica è già stata chiusa."),
            actor=actor,
            territory=person.territory,
            code="already_resolved",
        )
    if resolution == ReviewStatus.EDITED:
        cleaned = clean_person_data(
            {
                "first_name": person.first_name,
                "last_name": person.last_name,
                "birth_date": person.birth_date,
                "codice_fiscale": person.codice_fiscale,
            },
            flag_birth_date=True,
        )
        if cleaned.code_birth_date is not None or "codice_fiscale" in cleaned.errors:
            refuse(
                action,
                _(
                    "Nella scheda il codice fiscale e la data di nascita non coincidono ancora: correggi "
                    "l'uno o l'altra dalla scheda, poi torna qui."
                ),
                actor=actor,
                territory=person.territory,
                code="still_disagree",
                field="resolution",
            )
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
        }[ReviewStatus(resolution)] % {
            "before": before.strftime("%d/%m/%Y") if before else "—",
            "after": locked.code_birth_date.strftime("%d/%m/%Y"),
        }
        add_timeline_entry(
            person,
            kind="updated",
            actor=actor,
            summary=summary,
            data={"code_date_review": locked.pk, "resolution": resolution},
        )
        record(
            action,
            actor=actor,
            obj=person,
            territory=person.territory,
            data={
                "review": locked.pk,
                "resolution": resolution,
                "before": str(before),
                "after": str(person.birth_date),
                "rule": "D1",
                "note": note.strip()[:500],
            },
        )
        _run_held_target(locked, actor=actor)
    return locked


def _run_held_target(review: CodeDateReview, *, actor: Any) -> None:
    """The import row this review held: its target (e.g. the membership) runs now."""
    if review.batch_id is None or review.row_number is None:
        return
    batch = ImportBatch.objects.select_related("territory").get(pk=review.batch_id)
    target = get_target(batch.target)
    row = ImportRow.objects.filter(batch=batch, number=review.row_number, target_outcome=TargetOutcome.HELD).first()
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
    outcome = target.apply_row(
        RowContext(row.number, person, emails, phones), actor=actor, batch=batch, options=batch.target_options
    )
    row.target_outcome, row.target_note = outcome.outcome, outcome.note
    row.save(update_fields=["target_outcome", "target_note"])


def export_rejected_rows(*, actor: Any, batch: ImportBatch) -> ExportFile:
    """The rejected rows of an import as a CSV to fix and re-import, logged as EXPORT (rule G4)."""
    _require_scope("people.export_rejected_rows", actor, batch.territory)
    header, rows = rejected_rows(batch)
    return write_export(
        "people.export_rejected_rows",
        actor=actor,
        file_format="csv",
        filename=f"scartate-{batch.pk}",
        header=header,
        rows=rows,
        obj=batch,
        territory=batch.territory,
        delimiter=batch.delimiter or ";",
    )
