"""The worker's actions for a run of tax statements (rules F7, F8): plan, generate a chunk, email.

Set-based: a chunk of donors costs a handful of queries whatever its size (the contribution lines
of its persons, the latest versions, the names, one bulk insert), never one query per donor.
Idempotent and resumable: a chunk is done once (its row is locked and marked in the same
transaction as its statements), a statement whose figures did not change gets no new version.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Collection

from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.db import transaction
from django.db.models import F
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from piazza.compliance.contributions import contribution_lines
from piazza.compliance.models import TaxStatement, TaxStatementChunk, TaxStatementRun, TaxStatementRunStatus
from piazza.compliance.rules import FinanceRules, rules_on
from piazza.compliance.tax_statements.figures import EntityResolver, figures_of, group_lines, line_kinds
from piazza.core.audit import Actor, record
from piazza.core.models import AuditKind
from piazza.people.models import Email, Person
from piazza.territory.models import Territory

logger = logging.getLogger("piazza.compliance")

MAX_RUN_ERRORS = 20  # messages kept on the run row (the log has them all)


def chunk_size() -> int:
    return int(settings.TAX_STATEMENTS_CHUNK_SIZE)


def rules_for_year(year: int) -> FinanceRules:
    """The parameters in force at the end of the year (a change during the year applies to all of it)."""
    return rules_on(dt.date(year, 12, 31))


def resolver_for(rules: FinanceRules) -> EntityResolver:
    return EntityResolver(dict(Territory.objects.values_list("id", "level")), rules.tax_credit_levels)


def plan_tax_statements(*, actor: Actor, run_id: int) -> list[int]:
    """Split a run into chunks of donor ids (every person with a line of the year, and every person
    with a statement of the year: a refund may have emptied it). Returns the chunks still to do."""
    with transaction.atomic():
        run = TaxStatementRun.objects.select_for_update().get(pk=run_id)
        if run.finished:
            return []
        if not run.chunks.exists():
            rules = rules_for_year(run.year)
            person_ids = {
                line.person_id
                for line in contribution_lines(run.year, kinds=line_kinds(rules))
                if line.person_id is not None
            }
            person_ids.update(TaxStatement.objects.filter(year=run.year).values_list("person_id", flat=True))
            ordered = sorted(person_ids)
            size = chunk_size()
            TaxStatementChunk.objects.bulk_create(
                [
                    TaxStatementChunk(run=run, index=n, person_ids=ordered[start : start + size])
                    for n, start in enumerate(range(0, len(ordered), size))
                ],
                batch_size=500,
            )
            run.total = len(ordered)
            run.status = TaxStatementRunStatus.RUNNING
            run.save(update_fields=["total", "status"])
            record(
                "compliance.plan_tax_statements",
                actor=actor,
                obj=run,
                territory=run.territory,
                data={"year": run.year, "donors": run.total},
            )
            _finish_if_complete(run.pk)
        return list(run.chunks.filter(done_at__isnull=True).order_by("index").values_list("pk", flat=True))


def generate_tax_statement_chunk(*, actor: Actor, chunk_id: int) -> list[int]:
    """Write the new statements (or new versions) of one chunk's donors; returns their ids."""
    with transaction.atomic():
        chunk = TaxStatementChunk.objects.select_for_update().select_related("run").get(pk=chunk_id)
        if chunk.done_at is not None:
            return []
        run = chunk.run
        year = run.year
        rules = rules_for_year(year)
        ids = [int(i) for i in chunk.person_ids]
        groups, _skipped = group_lines(
            contribution_lines(year, person_ids=ids, kinds=line_kinds(rules)), resolver_for(rules)
        )
        latest: dict[tuple[int, int], tuple[int, str]] = {}
        for person_id, entity_id, version, digest in (
            TaxStatement.objects.filter(year=year, person_id__in=ids)
            .order_by("version")
            .values_list("person_id", "entity_id", "version", "digest")
        ):
            latest[(person_id, entity_id)] = (version, digest)
        people = {
            pk: (f"{first} {last}".strip(), code)
            for pk, first, last, code in Person.objects.filter(pk__in=ids).values_list(
                "pk", "first_name", "last_name", "codice_fiscale"
            )
        }
        now = timezone.now()
        new: list[TaxStatement] = []
        unchanged = 0
        for key in sorted(set(groups) | set(latest)):
            person_id, entity_id = key
            figures = figures_of(person_id, entity_id, year, groups.get(key, []), rules)
            digest = figures.digest()
            previous = latest.get(key)
            if previous is not None and previous[1] == digest:
                unchanged += 1
                continue
            name, code = people.get(person_id, ("", ""))
            new.append(
                TaxStatement(
                    person_id=person_id,
                    entity_id=entity_id,
                    year=year,
                    version=previous[0] + 1 if previous else 1,
                    donor_name=name,
                    donor_codice_fiscale=code,
                    total_cents=figures.total_cents,
                    excluded_cents=figures.excluded_cents,
                    traceable_cents=figures.traceable_cents,
                    deductible_cents=figures.deductible_cents,
                    credit_cents=figures.credit_cents,
                    rate_bp=figures.rate_bp,
                    floor_cents=figures.floor_cents,
                    ceiling_cents=figures.ceiling_cents,
                    lines=figures.lines,
                    digest=digest,
                    run=run,
                    generated_at=now,
                )
            )
        created = TaxStatement.objects.bulk_create(new, batch_size=1000)
        recovered = len(ids) if chunk.error else 0
        chunk.done_at, chunk.error = now, ""
        chunk.save(update_fields=["done_at", "error"])
        TaxStatementRun.objects.filter(pk=run.pk).update(
            done=F("done") + len(ids),
            failed=F("failed") - recovered,
            created=F("created") + len(created),
            unchanged=F("unchanged") + unchanged,
        )
        record(
            "compliance.generate_tax_statements",
            actor=actor,
            obj=run,
            territory=run.territory,
            data={"chunk": chunk.index, "donors": len(ids), "written": len(created), "unchanged": unchanged},
        )
        _finish_if_complete(run.pk)
    return [int(s.pk) for s in created]


def fail_tax_statement_chunk(*, actor: Actor, chunk_id: int, error: str) -> None:
    """A chunk's transaction failed: its donors count as failed (a resume does them again)."""
    with transaction.atomic():
        chunk = TaxStatementChunk.objects.select_for_update().select_related("run").get(pk=chunk_id)
        if chunk.done_at is not None:
            return
        first_failure = not chunk.error
        chunk.error = error[:500] or "?"
        chunk.save(update_fields=["error"])
        run = TaxStatementRun.objects.select_for_update().get(pk=chunk.run_id)
        if first_failure:
            run.failed += len(chunk.person_ids)
        message = _("Gruppo %(n)d (%(count)d donatori): %(error)s") % {
            "n": chunk.index + 1,
            "count": len(chunk.person_ids),
            "error": chunk.error,
        }
        run.errors = [*run.errors, message][-MAX_RUN_ERRORS:]
        run.save(update_fields=["failed", "errors"])
        record(
            "compliance.fail_tax_statements",
            actor=actor,
            obj=run,
            territory=run.territory,
            kind=AuditKind.WRITE,
            data={"chunk": chunk.index, "error": chunk.error},
        )
        _finish_if_complete(run.pk)


def _finish_if_complete(run_id: int) -> None:
    run = TaxStatementRun.objects.select_for_update().get(pk=run_id)
    if run.finished or run.done + run.failed < run.total:
        return
    run.status = TaxStatementRunStatus.FAILED if run.failed else TaxStatementRunStatus.DONE
    run.finished_at = timezone.now()
    run.save(update_fields=["status", "finished_at"])
    record(
        "compliance.finish_tax_statements",
        actor=None,
        obj=run,
        territory=run.territory,
        data={"year": run.year, "done": run.done, "failed": run.failed, "written": run.created},
    )


def email_tax_statements(*, actor: Actor, statement_ids: Collection[int]) -> int:
    """One email per donor: the statement is ready in Il mio spazio (a link, never the PDF).
    Sent over one connection per batch; returns how many left."""
    statements = list(
        TaxStatement.objects.filter(pk__in=list(statement_ids), person__erased_at__isnull=True)
        .select_related("entity")
        .order_by("person_id", "entity_id")
    )
    if not statements:
        return 0
    addresses = dict(
        Email.objects.filter(person_id__in={s.person_id for s in statements}, primary=True).values_list(
            "person_id", "value"
        )
    )
    url = f"{settings.SITE_URL.rstrip('/')}{reverse('community:home')}#tax-statements"
    by_person: dict[int, list[TaxStatement]] = {}
    for statement in statements:
        if statement.person_id in addresses:
            by_person.setdefault(statement.person_id, []).append(statement)
    messages = [
        EmailMessage(
            # ASCII subject: the same for every donor and no per-message header encoding (300,000 emails)
            _("Dichiarazione per la detrazione %(year)s: pronta in Il mio spazio") % {"year": own[0].year},
            render_to_string("compliance/tax_statements/email.txt", {"statements": own, "url": url}),
            settings.DEFAULT_FROM_EMAIL,
            [addresses[person_id]],
        )
        for person_id, own in by_person.items()
    ]
    with get_connection() as connection:
        sent = int(connection.send_messages(messages) or 0)
    run_ids = {s.run_id for s in statements if s.run_id}
    with transaction.atomic():
        if len(run_ids) == 1:
            TaxStatementRun.objects.filter(pk__in=run_ids).update(emailed=F("emailed") + sent)
        record("compliance.email_tax_statements", actor=actor, data={"statements": len(statements), "sent": sent})
    return sent


def note_tax_statement_download(*, actor: Actor, statement: TaxStatement, by_donor: bool) -> None:
    """Rule G4: an official's download is an export of personal data; the donor's own is noted too."""
    with transaction.atomic():
        record(
            "compliance.download_tax_statement",
            actor=None if by_donor else actor,
            obj=statement,
            territory=statement.entity,
            kind=AuditKind.VIEW if by_donor else AuditKind.EXPORT,
            data={"year": statement.year, "version": statement.version, "by_donor": by_donor},
        )
