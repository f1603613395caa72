"""SEPA direct-debit collections and batches."""

from __future__ import annotations

import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from piazza.core.audit import record
from piazza.core.errors import Refused as _Refused
from piazza.core.errors import refuse
from piazza.core.errors import refusing as _refusing
from piazza.core.models import AuditKind
from piazza.core.money import Money, format_money
from piazza.core.tasks import enqueue_on_commit
from piazza.ledger.actions import post_transaction, reverse_transaction
from piazza.ledger.models import Account
from piazza.payments.bank import sepa_xml
from piazza.payments.bank.banking_days import add_banking_days, is_banking_day, next_banking_day
from piazza.payments.bank.models import (
    BankAccount,
    BatchStatus,
    Collection,
    CollectionBatch,
    CollectionStatus,
    LineStatus,
    Mandate,
    MandateStatus,
    MatchKind,
    StatementLine,
)
from piazza.payments.bank.return_reasons import MandateEffect, reason_for
from piazza.payments.bank.statement_files import (
    DEBIT,
)

from ._lines import (
    _already_matched,
    _lock_line,
    _mark_matched,
    _queue,
    _receipt_cause,
    _settle_payment_on_commit,
    _unmatched,
)
from ._treasury import _bank_ledger, _placeholder, _require_treasury, setting


def earliest_collection_date(lead_days: int, today: datetime.date | None = None) -> datetime.date:
    """First due date a debit scheduled today may have: the debtor is told `lead_days` calendar
    days ahead (EPC SDD rulebook: pre-notification in calendar days), and a debit settles only on
    a TARGET2 business day."""
    today = today or timezone.localdate()
    return next_banking_day(today + datetime.timedelta(days=lead_days))


def earliest_batch_date(today: datetime.date | None = None) -> datetime.date:
    """First due date a pain.008 sent today may carry: the bank needs it
    `BANK_SDD_MIN_DAYS_BEFORE_DUE` TARGET2 business days ahead."""
    return add_banking_days(today or timezone.localdate(), setting("BANK_SDD_MIN_DAYS_BEFORE_DUE", 2))


def _due_date_problem(due_date: datetime.date, earliest: datetime.date, why: str) -> str | None:
    """None when `due_date` is acceptable, else the message naming the first acceptable date."""
    if due_date < earliest:
        return _("La data di addebito %(due)s è troppo vicina: %(why)s. La prima data possibile è %(first)s.") % {
            "due": due_date.strftime("%d/%m/%Y"),
            "why": why,
            "first": earliest.strftime("%d/%m/%Y"),
        }
    if not is_banking_day(due_date):
        return _(
            "Il %(due)s le banche non regolano addebiti SEPA (fine settimana o festività TARGET2): scegli il "
            "%(first)s o un altro giorno lavorativo."
        ) % {"due": due_date.strftime("%d/%m/%Y"), "first": next_banking_day(due_date).strftime("%d/%m/%Y")}
    return None


# --- collections and batches ----------------------------------------------------------------


def schedule_collection(
    *,
    actor: Any,
    mandate: Mandate,
    amount: Money,
    due_date: datetime.date,
    description: str,
    credit_account: Account,
    creation_key: str,
    recurring: bool = False,
    payment: Any = None,
) -> Collection:
    """One direct debit. Called by recurring schedules (payments) and for one-off debits.

    Idempotent by `creation_key`. The debtor is pre-notified at once, so the due date must
    leave the creditor's lead time (default 14 days).
    """
    action = "bank.schedule_collection"
    existing = Collection.objects.filter(creation_key=creation_key).first()
    if existing is not None:
        return existing
    territory = mandate.territory
    if mandate.status == MandateStatus.REVOKED:
        refuse(
            action,
            _(
                "Il mandato %(ref)s di %(name)s è stato revocato: il debitore non ha più autorizzato "
                "addebiti, serve un nuovo mandato firmato."
            )
            % {"ref": mandate.reference, "name": mandate.debtor_name},
            actor=actor,
            territory=territory,
            code="mandate_revoked",
        )
    if not mandate.usable:
        refuse(
            action,
            _("Il mandato %(ref)s è «%(status)s»: non si possono programmare addebiti.")
            % {"ref": mandate.reference, "status": mandate.get_status_display()},
            actor=actor,
            territory=territory,
            code="mandate_unusable",
        )
    if amount.currency != "EUR" or amount.cents <= 0:
        refuse(
            action,
            _("Un addebito SEPA è in euro e maggiore di zero."),
            actor=actor,
            territory=territory,
            code="bad_amount",
            field="amount",
        )
    lead = mandate.creditor.prenotification_days
    problem = _due_date_problem(
        due_date, earliest_collection_date(lead), _("il debitore va avvisato %(n)s giorni prima") % {"n": lead}
    )
    if problem:
        refuse(action, problem, actor=actor, territory=territory, code="due_too_close", field="due_date")
    try:
        with transaction.atomic():
            collection = Collection.objects.create(
                mandate=mandate,
                territory=territory,
                amount_cents=amount.cents,
                currency=amount.currency,
                due_date=due_date,
                description=description[:140],
                end_to_end_id=_placeholder(),
                creation_key=creation_key,
                credit_account=credit_account,
                recurring=recurring,
                prenotified_at=timezone.now(),
                payment=payment,
            )
            collection.end_to_end_id = f"PZ-DD-{collection.pk:010d}"
            collection.save(update_fields=["end_to_end_id"])
            record(
                action,
                actor=actor,
                obj=collection,
                territory=territory,
                data={"amount": amount.cents, "due_date": due_date.isoformat(), "mandate": mandate.reference},
            )
            from piazza.payments.bank import tasks

            enqueue_on_commit(tasks.send_prenotification, collection.pk)
    except IntegrityError:
        return Collection.objects.get(creation_key=creation_key)
    return collection


def prepare_batch(*, actor: Any, creditor: BankAccount, due_date: datetime.date) -> CollectionBatch:
    """Gather the creditor's scheduled debits for `due_date` into its open batch."""
    action = "bank.prepare_batch"
    _require_treasury(action, actor, creditor.territory)
    problem = _due_date_problem(due_date, earliest_batch_date(), _batch_lead_text())
    if problem:
        refuse(action, problem, actor=actor, territory=creditor.territory, code="due_too_close", field="due_date")
    with _refusing(action, actor, creditor.territory), transaction.atomic():
        batch = (
            CollectionBatch.objects.select_for_update()
            .filter(creditor=creditor, due_date=due_date, status=BatchStatus.OPEN)
            .first()
        )
        if batch is None:
            batch = CollectionBatch.objects.create(
                creditor=creditor, territory=creditor.territory, due_date=due_date, message_id=_placeholder()
            )
            batch.message_id = f"PZ-SDD-{batch.pk:08d}"
            batch.save(update_fields=["message_id"])
        added = Collection.objects.filter(
            mandate__creditor=creditor,
            due_date=due_date,
            status=CollectionStatus.SCHEDULED,
            mandate__status__in=[MandateStatus.ACTIVE, MandateStatus.AMENDED],
        ).update(batch=batch, status=CollectionStatus.BATCHED)
        if not batch.collections.exists():  # rolls back the empty batch; the refusal is audited after
            raise _Refused(
                _("Non ci sono addebiti programmati per il %(due)s su %(acct)s.")
                % {"due": due_date.strftime("%d/%m/%Y"), "acct": creditor},
                "empty_batch",
            )
        record(action, actor=actor, obj=batch, territory=creditor.territory, data={"added": added})
    return batch


def _batch_lead_text() -> str:
    return _("la banca deve ricevere la distinta almeno %(n)s giorni lavorativi TARGET2 prima") % {
        "n": setting("BANK_SDD_MIN_DAYS_BEFORE_DUE", 2)
    }


def _sequence(collection: Collection) -> str:
    if not collection.recurring:
        return "OOFF"
    if collection.mandate.pending_new_bank:
        return "FRST"  # EPC: after a change of debtor bank the next debit is a first one
    previous = Collection.objects.filter(
        mandate=collection.mandate,
        status__in=[CollectionStatus.EXPORTED, CollectionStatus.COLLECTED],
        recurring=True,
    ).exclude(pk=collection.pk)
    return "RCUR" if previous.exists() else "FRST"


def export_batch(*, actor: Any, batch: CollectionBatch) -> bytes:
    """Generate, validate against the pain.008 XSD and freeze the batch. Later calls return
    the very same bytes: an exported batch never changes."""
    action = "bank.export_batch"
    _require_treasury(action, actor, batch.territory)
    with _refusing(action, actor, batch.territory), transaction.atomic():
        locked = CollectionBatch.objects.select_for_update().get(pk=batch.pk)
        if locked.is_exported:
            record(
                action,
                actor=actor,
                obj=locked,
                territory=locked.territory,
                kind=AuditKind.EXPORT,
                data={"again": True, "sha256": locked.xml_sha256},
            )
            return bytes(locked.xml or b"")
        collections = list(locked.collections.select_related("mandate").filter(status=CollectionStatus.BATCHED))
        if not collections:
            raise _Refused(_("La distinta è vuota."), "empty_batch")
        problem = _due_date_problem(locked.due_date, earliest_batch_date(), _batch_lead_text())
        if problem:
            raise _Refused(problem + " " + _("Annulla e riprogramma gli addebiti."), "due_too_close")
        debits = []
        for collection in collections:
            mandate = collection.mandate
            amendment = None
            if mandate.pending_original_iban or mandate.pending_new_bank:
                amendment = sepa_xml.Amendment(
                    original_iban=mandate.pending_original_iban, new_bank=mandate.pending_new_bank
                )
            collection.sequence = _sequence(collection)
            debits.append(
                sepa_xml.Debit(
                    end_to_end_id=collection.end_to_end_id,
                    amount_cents=collection.amount_cents,
                    mandate_reference=mandate.reference,
                    mandate_signed_on=mandate.signed_on,
                    debtor_name=mandate.debtor_name,
                    debtor_iban=mandate.debtor_iban,
                    sequence=collection.sequence,
                    remittance=collection.description,
                    debtor_bic=mandate.debtor_bic,
                    amendment=amendment,
                )
            )
        creditor = locked.creditor
        party = sepa_xml.Party(creditor.name, creditor.iban, creditor.bic, creditor.creditor_id)
        schema = "pain.008.001.02" if creditor.bic else "pain.008.001.08"
        try:
            xml = sepa_xml.build_pain008(
                party, debits, collection_date=locked.due_date, message_id=locked.message_id, schema=schema
            )
        except sepa_xml.SepaFileInvalid as error:
            raise _Refused(
                _("Il file pain.008 non supera la validazione XSD, non viene rilasciato: %(e)s")
                % {"e": "; ".join(error.errors[:3])},
                "xsd_invalid",
            ) from error
        for collection in collections:
            collection.status = CollectionStatus.EXPORTED
            collection.save(update_fields=["sequence", "status"])
        mandate_ids = {c.mandate_id for c in collections}
        Mandate.objects.filter(pk__in=mandate_ids).update(pending_original_iban="", pending_new_bank=False)
        Mandate.objects.filter(pk__in=mandate_ids, status=MandateStatus.AMENDED).update(status=MandateStatus.ACTIVE)
        Mandate.objects.filter(pk__in=mandate_ids).update(last_collected_on=locked.due_date)
        locked.xml = xml
        locked.xml_sha256 = CollectionBatch.digest(xml)
        locked.schema = schema
        locked.status = BatchStatus.EXPORTED
        locked.exported_at = timezone.now()
        locked.exported_by = actor if getattr(actor, "is_authenticated", False) else None
        locked.save()
        record(
            action,
            actor=actor,
            obj=locked,
            territory=locked.territory,
            kind=AuditKind.EXPORT,
            data={"sha256": locked.xml_sha256, "count": len(collections), "schema": schema},
        )
    return xml


def settle_batch(*, actor: Any, line: StatementLine, batch: CollectionBatch) -> StatementLine:
    """The bank credited a pain.008 batch (or part of it): book each collection once."""
    action = "bank.settle_batch"
    with transaction.atomic():
        locked_line = _lock_line(line)
        if locked_line.status != LineStatus.QUEUED:
            return locked_line
        collections = list(
            Collection.objects.select_for_update(of=("self",))
            .select_related("credit_account")
            .filter(batch=batch, status=CollectionStatus.EXPORTED)
            .order_by("id")
        )
        # A batch credit detailed per transaction carries each debit's EndToEndId: settle that one.
        e2e = locked_line.end_to_end_id
        detailed = [c for c in collections if e2e and c.end_to_end_id == e2e]
        if detailed or (locked_line.end_to_end_id and not locked_line.payment_information_id):
            collections = detailed
        total = sum(c.amount_cents for c in collections)
        if total != locked_line.amount_cents:
            return _queue(
                locked_line,
                _(
                    "Accredito della distinta %(batch)s di %(got)s, ma gli addebiti in attesa "
                    "sommano %(want)s: verifica gli storni e abbina a mano."
                )
                % {
                    "batch": batch.message_id,
                    "got": format_money(Money(locked_line.amount_cents)),
                    "want": format_money(Money(total)),
                },
            )
        bank = _bank_ledger(locked_line.account)
        for collection in collections:
            collection.ledger_transaction = post_transaction(
                actor=actor,
                cause=_receipt_cause(collection.credit_account),
                memo=f"Addebito SEPA {collection.end_to_end_id}",
                entries=[(bank, collection.amount), (collection.credit_account, -collection.amount)],
                idempotency_key=f"bank:collection:{collection.pk}",
                about=collection,
                audit=False,
            )
            collection.status = CollectionStatus.COLLECTED
            collection.save(update_fields=["ledger_transaction", "status"])
            _settle_payment_on_commit(collection.payment_id)
        if not batch.collections.filter(status=CollectionStatus.EXPORTED).exists():
            CollectionBatch.objects.filter(pk=batch.pk).update(status=BatchStatus.SETTLED)
        _mark_matched(
            locked_line,
            actor,
            MatchKind.COLLECTION_BATCH,
            _("Distinta %(batch)s: %(n)s addebiti incassati.") % {"batch": batch.message_id, "n": len(collections)},
            100,
            batch=batch,
        )
        record(action, actor=actor, obj=batch, territory=batch.territory, data={"collections": len(collections)})
    return locked_line


def record_return(*, actor: Any, line: StatementLine, collection: Collection, manual: bool = False) -> StatementLine:
    """An R-transaction: the collection fails, its booking is reversed, the retry rule of the
    reason code applies, the mandate follows the reason, and both sides are told in plain words.

    Automatic (`manual=False`): a line that does not fit stays queued with the reason. Manual
    (`match_return`): the same checks refuse with the reason."""
    action = "bank.record_return"
    reason = reason_for(line.return_reason)
    with _refusing(action, actor, line.territory), transaction.atomic():
        locked_line = _lock_line(line)
        if locked_line.status != LineStatus.QUEUED:
            if manual:
                raise _already_matched(locked_line)
            return locked_line
        if locked_line.direction != DEBIT:
            raise _Refused(_("Uno storno è un'uscita dal conto: questo movimento è un'entrata."), "wrong_direction")
        target = (
            Collection.objects.select_for_update(of=("self",)).select_related("mandate", "batch").get(pk=collection.pk)
        )
        if target.batch is None or target.batch.creditor_id != locked_line.account_id:
            return _unmatched(
                manual,
                locked_line,
                _("L'addebito %(e2e)s non è stato inviato da questo conto: verifica.") % {"e2e": target.end_to_end_id},
                "other_account",
            )
        if target.status == CollectionStatus.FAILED:
            return _unmatched(
                manual,
                locked_line,
                _("L'addebito %(e2e)s risulta già respinto: possibile storno doppio, verifica.")
                % {"e2e": target.end_to_end_id},
                "already_returned",
            )
        if locked_line.amount_cents != target.amount_cents:
            return _unmatched(
                manual,
                locked_line,
                _("Storno di %(got)s per l'addebito %(e2e)s di %(want)s: importi diversi, verifica.")
                % {
                    "got": format_money(Money(locked_line.amount_cents)),
                    "e2e": target.end_to_end_id,
                    "want": format_money(target.amount),
                },
                "amount_mismatch",
            )
        if target.status != CollectionStatus.COLLECTED or target.ledger_transaction_id is None:
            # The batch credit has not been seen yet (another file): booking the return now would
            # leave the books wrong. The line waits; each import looks at it again (rematch_queued).
            return _unmatched(
                manual,
                locked_line,
                _(
                    "Storno dell'addebito %(e2e)s arrivato prima dell'accredito della "
                    "sua distinta: verrà registrato da solo quando importerai "
                    "l'estratto con l'accredito."
                )
                % {"e2e": target.end_to_end_id},
                "not_collected",
            )
        assert target.ledger_transaction is not None
        reverse_transaction(
            actor=actor,
            original=target.ledger_transaction,
            memo=f"Storno SEPA {reason.code} {target.end_to_end_id}",
            idempotency_key=f"bank:line:{locked_line.pk}",
            audit=False,
        )
        target.status = CollectionStatus.FAILED
        target.return_reason = reason.code[:4]
        target.save(update_fields=["status", "return_reason"])
        mandate = target.mandate
        if reason.mandate_effect == MandateEffect.REVOKE:
            Mandate.objects.filter(pk=mandate.pk).update(
                status=MandateStatus.REVOKED, status_reason=str(reason.treasurer)
            )
            Collection.objects.filter(mandate=mandate, status=CollectionStatus.SCHEDULED).update(
                status=CollectionStatus.CANCELLED
            )
            mandate.status = MandateStatus.REVOKED
        elif reason.mandate_effect == MandateEffect.SUSPEND:
            Mandate.objects.filter(pk=mandate.pk).update(
                status=MandateStatus.SUSPENDED, status_reason=str(reason.treasurer)
            )
            mandate.status = MandateStatus.SUSPENDED
        _settle_payment_on_commit(target.payment_id)
        retry = _schedule_retry(target, reason.retry)
        message = _("%(reason)s (%(code)s).") % {"reason": reason.treasurer, "code": reason.code or "?"}
        if retry is not None:
            message += " " + _("Nuovo tentativo il %(d)s.") % {"d": retry.due_date.strftime("%d/%m/%Y")}
        _mark_matched(locked_line, actor, MatchKind.COLLECTION_RETURN, message, 100, collection=target)
        record(
            action,
            actor=actor,
            obj=target,
            territory=target.territory,
            data={
                "code": reason.code,
                "retry": retry.pk if retry else None,
                "effect": str(reason.mandate_effect),
                "line": locked_line.pk,
                "manual": manual,
            },
        )
        from piazza.payments.bank import tasks

        enqueue_on_commit(tasks.send_return_notices, target.pk)
    return locked_line


def _schedule_retry(failed: Collection, retry_allowed: bool) -> Collection | None:
    """A bank-level retry (AM04, MS03, FF01) of a debit created in the bank pages, on the first
    TARGET2 business day the bank can still receive it. Debits of a payments' schedule are
    retried by the schedule's own rules, not here."""
    if not (
        retry_allowed
        and failed.attempt < setting("BANK_SDD_MAX_ATTEMPTS", 2)
        and failed.mandate.usable
        and failed.payment_id is None
    ):
        return None
    today = timezone.localdate()
    due = max(
        next_banking_day(today + datetime.timedelta(days=setting("BANK_SDD_RETRY_DAYS", 7))), earliest_batch_date(today)
    )
    retry = Collection.objects.create(
        mandate=failed.mandate,
        territory=failed.territory,
        amount_cents=failed.amount_cents,
        currency=failed.currency,
        due_date=due,
        description=failed.description,
        end_to_end_id=_placeholder(),
        creation_key=f"{failed.creation_key}:retry{failed.attempt + 1}",
        credit_account=failed.credit_account,
        recurring=failed.recurring,
        attempt=failed.attempt + 1,
        retry_of=failed,
        prenotified_at=timezone.now(),
    )
    retry.end_to_end_id = f"PZ-DD-{retry.pk:010d}"
    retry.save(update_fields=["end_to_end_id"])
    return retry
