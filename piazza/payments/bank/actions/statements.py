"""Bank statement imports."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from piazza.core.audit import record
from piazza.core.errors import refuse
from piazza.core.tasks import enqueue_on_commit
from piazza.payments.bank.models import (
    BankAccount,
    CollectionBatch,
    CollectionStatus,
    ImportStatus,
    LineStatus,
    PayoutStatus,
    StatementImport,
    StatementLine,
    TransferStatus,
)
from piazza.payments.bank.queries import StatementLookups
from piazza.payments.bank.statement_files import (
    BOOKED,
    CREDIT,
    DEBIT,
    StatementFileError,
    parse_statement_file,
)
from piazza.payments.bank.statement_files import StatementLine as ParsedLine
from piazza.territory.models import Territory

from ._treasury import _require_treasury
from .matching import auto_match

logger = logging.getLogger(__name__)


# --- statements -----------------------------------------------------------------------------

PROGRESS_EVERY = 25  # lines matched between two updates of the progress bar


REMATCH_LIMIT = 1000  # earlier queued lines looked at again after each import


def import_statement(
    *,
    actor: Any,
    territory: Territory,
    filename: str,
    data: bytes,
    source: str = "upload",
    background: bool = False,
) -> list[StatementImport]:
    """Import a CAMT.053/054 or MT940 file: one `StatementImport` per account it covers.

    The file is checked at once: not a statement, truncated, an unknown version or an account
    not registered in `territory` is refused with nothing stored. Its lines are then stored
    once per (account, fingerprint) and matched by `process_statement_import`: right here,
    or by the worker when `background` (uploads: the treasurer watches a progress bar).
    Re-imports and overlapping statements book nothing twice.
    """
    action = "bank.import_statement"
    _require_treasury(action, actor, territory)
    try:
        parsed = parse_statement_file(data, filename)
    except StatementFileError as error:
        refuse(action, error.message, actor=actor, territory=territory, code=error.code, field="file")
    known = {
        a.iban: a
        for a in BankAccount.objects.filter(iban__in={s.account_iban for s in parsed.statements}).select_related(
            "territory"
        )
    }
    for statement in parsed.statements:
        account = known.get(statement.account_iban)
        if account is None or not account.territory.path.startswith(territory.path):
            refuse(
                action,
                _(
                    "L'estratto %(id)s è del conto %(iban)s, che non è registrato tra i conti di %(t)s: "
                    "registra il conto o carica l'estratto giusto."
                )
                % {"id": statement.statement_id, "iban": statement.account_iban, "t": territory},
                actor=actor,
                territory=territory,
                code="unknown_account",
                field="file",
            )
    digest = CollectionBatch.digest(data)
    upload_id = uuid.uuid4()
    user = actor if getattr(actor, "is_authenticated", False) else None
    imports: dict[str, StatementImport] = {}
    with transaction.atomic():
        for statement in parsed.statements:
            account = known[statement.account_iban]
            if account.iban not in imports:
                imports[account.iban] = StatementImport(
                    account=account,
                    territory=account.territory,
                    filename=filename[:255],
                    sha256=digest,
                    format=parsed.format,
                    message_id=parsed.message_id[:140],
                    source=source,
                    content=data,
                    imported_by=user,
                    upload_id=upload_id,
                    status=ImportStatus.PENDING,
                    warnings=[],
                )
            imports[account.iban].warnings += statement.warnings
            imports[account.iban].line_count += len(statement.lines)
        for iban, statement_import in imports.items():
            statement_import.save()
            record(
                action,
                actor=actor,
                obj=statement_import,
                territory=statement_import.territory,
                data={
                    "statements": [s.statement_id for s in parsed.statements if s.account_iban == iban],
                    "lines": statement_import.line_count,
                    "sha256": digest,
                    "background": background,
                },
            )
            if background:
                from piazza.payments.bank import tasks

                enqueue_on_commit(tasks.process_statement_import, statement_import.pk, user.pk if user else None)
    if not background:
        for statement_import in imports.values():
            process_statement_import(actor=actor, statement_import_id=statement_import.pk)
            statement_import.refresh_from_db()
    return list(imports.values())


def process_statement_import(*, actor: Any, statement_import_id: int) -> StatementImport:
    """Store and match the lines of one import (the worker's half of `import_statement`).

    Safe to run again after a crash: stored lines are skipped by fingerprint and the import's
    lines still queued are simply looked at again. Afterwards the account's earlier queued lines
    whose reference now leads somewhere (a return whose batch credit arrived in this file, a
    transfer expected since) are booked too.
    """
    StatementImport.objects.filter(pk=statement_import_id).exclude(status=ImportStatus.DONE).update(
        status=ImportStatus.RUNNING, error=""
    )
    statement_import = StatementImport.objects.select_related(
        "account__territory", "account__ledger_account", "territory"
    ).get(pk=statement_import_id)
    if statement_import.status == ImportStatus.DONE:
        return statement_import
    try:
        _store_and_match(actor, statement_import)
    except Exception as error:
        logger.exception("statement import %s failed", statement_import_id)
        StatementImport.objects.filter(pk=statement_import_id).update(
            status=ImportStatus.FAILED,
            finished_at=timezone.now(),
            error=(
                _(
                    "Elaborazione interrotta da un errore interno (%(e)s): i movimenti già registrati restano "
                    "validi; carica di nuovo il file per completare, nulla verrà registrato due volte."
                )
                % {"e": type(error).__name__}
            )[:500],
        )
        raise
    statement_import.refresh_from_db()
    return statement_import


def _store_and_match(actor: Any, statement_import: StatementImport) -> None:
    account = statement_import.account
    assert account is not None
    parsed = parse_statement_file(bytes(statement_import.content), statement_import.filename)
    statements = [s for s in parsed.statements if s.account_iban == account.iban]
    _store_lines(statement_import, account, statements)
    stored = StatementLine.objects.filter(statement_import=statement_import)
    new_lines = stored.count()
    # Credits first: a batch credit must be booked before a return of one of its debits.
    queued = sorted(stored.filter(status=LineStatus.QUEUED).order_by("id"), key=lambda x: x.direction != CREDIT)
    done_before = statement_import.line_count - len(queued)
    StatementImport.objects.filter(pk=statement_import.pk).update(
        new_lines=new_lines, duplicate_lines=statement_import.line_count - new_lines, processed_lines=done_before
    )
    _attach(queued, account)
    lookups = StatementLookups(account, queued)
    for index, line in enumerate(queued, start=1):
        auto_match(line, lookups)
        if index % PROGRESS_EVERY == 0:
            StatementImport.objects.filter(pk=statement_import.pk).update(processed_lines=done_before + index)
    rematched = rematch_queued(account, exclude_import=statement_import)
    waiting = _waiting_lines(account, [line.fingerprint for statement in statements for line in statement.lines])
    with transaction.atomic():
        StatementImport.objects.filter(pk=statement_import.pk).update(
            status=ImportStatus.DONE,
            processed_lines=statement_import.line_count,
            finished_at=timezone.now(),
            waiting_lines=waiting,
        )
        record(
            "bank.process_statement",
            actor=actor,
            obj=statement_import,
            territory=statement_import.territory,
            data={
                "new": new_lines,
                "duplicates": statement_import.line_count - new_lines,
                "earlier_lines_booked": rematched,
            },
        )


def _waiting_lines(account: BankAccount, fingerprints: list[str]) -> int:
    """How many of the file's lines wait for a treasurer, whichever upload stored them: the
    summary must not say "0 da abbinare" while the same movements wait from an earlier upload."""
    ordered = sorted(set(fingerprints))
    return sum(
        StatementLine.objects.filter(
            account=account, status=LineStatus.QUEUED, fingerprint__in=ordered[start : start + 1000]
        ).count()
        for start in range(0, len(ordered), 1000)
    )


def _attach(lines: list[StatementLine], account: BankAccount) -> None:
    """The lines' account and territory are the import's: no query per line to reach them."""
    for line in lines:
        line.account = account
        line.territory = account.territory


def _store_lines(statement_import: StatementImport, account: BankAccount, statements: list[Any]) -> None:
    """Insert the lines not seen before in one bulk statement; when a concurrent import of an
    overlapping statement got some first, fall back to one insert per line."""
    fingerprints = [line.fingerprint for statement in statements for line in statement.lines]
    seen: set[str] = set()
    for start in range(0, len(fingerprints), 1000):
        seen.update(
            StatementLine.objects.filter(
                account=account, fingerprint__in=fingerprints[start : start + 1000]
            ).values_list("fingerprint", flat=True)
        )
    fresh: dict[str, StatementLine] = {}
    for statement in statements:
        for parsed in statement.lines:
            if parsed.fingerprint not in seen and parsed.fingerprint not in fresh:
                fresh[parsed.fingerprint] = _new_line(statement_import, account, statement.statement_id, parsed)
    if not fresh:
        return
    try:
        with transaction.atomic():
            StatementLine.objects.bulk_create(fresh.values(), batch_size=500)
    except IntegrityError:
        for line in fresh.values():
            line.pk = None
            try:
                with transaction.atomic():
                    line.save(force_insert=True)
            except IntegrityError:
                pass  # the other import stored this one


def _new_line(
    statement_import: StatementImport, account: BankAccount, statement_id: str, parsed: ParsedLine
) -> StatementLine:
    booked = parsed.status == BOOKED
    return StatementLine(
        account=account,
        territory=account.territory,
        statement_import=statement_import,
        fingerprint=parsed.fingerprint,
        statement_id=statement_id[:140],
        position=parsed.position,
        direction=parsed.direction,
        amount_cents=parsed.amount_cents,
        currency=parsed.currency,
        booking_date=parsed.booking_date,
        value_date=parsed.value_date,
        counterparty_name=parsed.counterparty_name[:140],
        counterparty_iban=parsed.counterparty_iban[:34],
        remittance=parsed.remittance[:500],
        creditor_reference=parsed.creditor_reference,
        end_to_end_id=parsed.end_to_end_id[:35],
        mandate_id=parsed.mandate_id[:35],
        payment_information_id=parsed.payment_information_id[:35],
        bank_reference=parsed.bank_reference[:140],
        return_reason=parsed.return_reason[:4],
        bank_transaction_code=parsed.bank_transaction_code[:40],
        status=LineStatus.QUEUED if booked else LineStatus.REJECTED,
        reason=""
        if booked
        else _(
            "Movimento non ancora contabilizzato dalla banca (%(s)s): verrà importato quando comparirà "
            "come contabilizzato."
        )
        % {"s": parsed.status},
    )


def rematch_queued(account: BankAccount, *, exclude_import: StatementImport | None = None) -> int:
    """Look again at the account's queued lines that carry one of our references, and book those
    whose target is now ready (e.g. a return seen before its batch credit, issue 5). Lines whose
    target is still missing are left untouched: no write, no noise. Returns how many were booked."""
    rows = StatementLine.objects.filter(account=account, status=LineStatus.QUEUED).filter(
        Q(end_to_end_id__startswith="PZ-") | ~Q(creditor_reference="") | ~Q(payment_information_id="")
    )
    if exclude_import is not None:
        rows = rows.exclude(statement_import=exclude_import)
    lines = sorted(rows.order_by("-id")[:REMATCH_LIMIT], key=lambda x: (x.direction != CREDIT, x.pk))
    if not lines:
        return 0
    _attach(lines, account)
    lookups = StatementLookups(account, lines)
    booked = 0
    for line in lines:
        if _target_ready(line, lookups):
            booked += auto_match(line, lookups).status == LineStatus.MATCHED
    return booked


def _target_ready(line: StatementLine, lookups: StatementLookups) -> bool:
    if line.direction == DEBIT:
        collection = lookups.collection(line.end_to_end_id)
        if collection is not None:
            return collection.status == CollectionStatus.COLLECTED
        payout = lookups.payout(line.end_to_end_id)
        return payout is not None and payout.status == PayoutStatus.EXPORTED
    if lookups.batch_for(line) is not None:
        return True
    transfer = lookups.transfer(line.creditor_reference)
    return (
        transfer is not None and transfer.account_id == line.account_id and transfer.status != TransferStatus.CANCELLED
    )
