"""Every write of the bank rails (convention 1): keyword-only `actor`, one transaction, an audit
entry, side effects (emails) on commit, refusals through `refuse()` with a specific message.

Ledger postings (all idempotent by deterministic keys):
- transfer received:       Dr bank            / Cr destination (excess: Cr bank_unallocated)
- direct-debit settled:    Dr bank            / Cr destination, one transaction per collection
- direct-debit returned:   reversal of the collection's transaction
- bank charges:            Dr bank_charges    / Cr bank
- payout approved:         Dr source account  / Cr payouts_approved
- payout seen on statement: Dr payouts_approved / Cr bank
"""

from __future__ import annotations

import datetime
import logging
import unicodedata
import uuid
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _
from rapidfuzz import fuzz
from stdnum.eu import at_02

from piazza.core.audit import record
from piazza.core.errors import Refused as _Refused
from piazza.core.errors import refuse
from piazza.core.errors import refusing as _refusing
from piazza.core.models import AuditKind
from piazza.core.money import Money, format_money
from piazza.core.tasks import enqueue_on_commit
from piazza.ledger.accounts import get_account
from piazza.ledger.actions import post_transaction, reverse_transaction
from piazza.ledger.models import Account, Cause
from piazza.ledger.queries import balance
from piazza.payments.bank import sepa_xml
from piazza.payments.bank.banking_days import add_banking_days, is_banking_day, next_banking_day
from piazza.payments.bank.iban import bic_for, mask_iban, normalize_iban
from piazza.payments.bank.models import (
    BankAccount,
    BatchStatus,
    Collection,
    CollectionBatch,
    CollectionStatus,
    ExpectedTransfer,
    ImportStatus,
    LineStatus,
    Mandate,
    MandateAmendment,
    MandateChannel,
    MandateStatus,
    MatchKind,
    Payee,
    Payout,
    PayoutBatch,
    PayoutStatus,
    StatementImport,
    StatementLine,
    TransferStatus,
)
from piazza.payments.bank.queries import StatementLookups, difference_words
from piazza.payments.bank.references import reference_for
from piazza.payments.bank.return_reasons import MandateEffect, reason_for
from piazza.payments.bank.statement_files import (
    BOOKED,
    CREDIT,
    DEBIT,
    StatementFileError,
    parse_statement_file,
)
from piazza.payments.bank.statement_files import StatementLine as ParsedLine
from piazza.territory.models import Role, Territory
from piazza.territory.scoping import has_role_at

TREASURY = {Role.TREASURY}
logger = logging.getLogger(__name__)


def setting(name: str, default: int) -> int:
    """Configurable parameters of the rails (issue 5: never constants)."""
    return int(getattr(settings, name, default))


def _require_treasury(action: str, actor: Any, territory: Territory) -> None:
    """Officials act only within their subtree; system actors (None: tasks, commands) pass."""
    if actor is None:
        return
    if not has_role_at(actor, territory, TREASURY):
        refuse(action, _("Non hai il ruolo di tesoreria su %(t)s.") % {"t": territory},
               actor=actor, territory=territory, code="out_of_scope", permission=True)


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
            "due": due_date.strftime("%d/%m/%Y"), "why": why, "first": earliest.strftime("%d/%m/%Y")}
    if not is_banking_day(due_date):
        return _("Il %(due)s le banche non regolano addebiti SEPA (fine settimana o festività TARGET2): scegli il "
                 "%(first)s o un altro giorno lavorativo.") % {
            "due": due_date.strftime("%d/%m/%Y"), "first": next_banking_day(due_date).strftime("%d/%m/%Y")}
    return None


def _placeholder() -> str:
    """A unique stand-in until the row has its primary key and its real, readable identifier."""
    return f"tmp{uuid.uuid4().hex[:20]}"


def _bank_ledger(account: BankAccount) -> Account:
    return account.ledger_account


# --- bank accounts and payees ---------------------------------------------------------------


def register_bank_account(
    *, actor: Any, territory: Territory, name: str, iban: str, bic: str = "", creditor_id: str = "",
    prenotification_days: int = 14,
) -> BankAccount:
    action = "bank.register_account"
    _require_treasury(action, actor, territory)
    try:
        iban = normalize_iban(iban, field="iban")
    except ValidationError as error:
        refuse(action, error.message_dict["iban"][0], actor=actor, territory=territory, code="bad_iban", field="iban")
    creditor_id = "".join(creditor_id.split()).upper()
    if creditor_id and not at_02.is_valid(creditor_id):
        refuse(action, _("L'identificativo creditore SEPA %(ci)s non è valido: controlla le cifre di controllo "
                         "(es. IT66ZZZ seguito dal codice fiscale dell'ente).") % {"ci": creditor_id},
               actor=actor, territory=territory, code="bad_creditor_id", field="creditor_id")
    if BankAccount.objects.filter(iban=iban).exists():
        refuse(action, _("Il conto %(iban)s è già registrato.") % {"iban": iban}, actor=actor, territory=territory,
               code="duplicate", field="iban")
    with transaction.atomic():
        ledger = get_account("bank", territory=territory, key=iban, name=f"{name} · {iban}")
        account = BankAccount.objects.create(
            territory=territory, name=name.strip(), iban=iban, bic=bic or bic_for(iban), creditor_id=creditor_id,
            prenotification_days=prenotification_days, ledger_account=ledger,
        )
        record(action, actor=actor, obj=account, territory=territory, data={"iban": mask_iban(iban)})
    return account


def register_payee(*, actor: Any, territory: Territory, name: str, iban: str, bic: str = "") -> Payee:
    action = "bank.register_payee"
    _require_treasury(action, actor, territory)
    try:
        iban = normalize_iban(iban, field="iban")
    except ValidationError as error:
        refuse(action, error.message_dict["iban"][0], actor=actor, territory=territory, code="bad_iban", field="iban")
    if not name.strip():
        refuse(action, _("Indica il nome del beneficiario."), actor=actor, territory=territory, code="required",
               field="name")
    with transaction.atomic():
        payee = Payee.objects.create(territory=territory, name=name.strip(), iban=iban, bic=bic or bic_for(iban),
                                     registered_by=actor)
        record(action, actor=actor, obj=payee, territory=territory, data={"iban": mask_iban(iban)})
    return payee


# --- mandates -------------------------------------------------------------------------------


def sign_mandate(
    *, actor: Any, creditor: BankAccount, debtor_name: str, debtor_iban: str, signed_on: datetime.date,
    channel: str, consent_text: str, debtor_email: str = "", paper_scan: Any = None,
) -> Mandate:
    """Record a signed SEPA mandate. Online: the exact consent text shown; paper: the scan."""
    action = "bank.sign_mandate"
    territory = creditor.territory
    if actor is not None and getattr(actor, "is_authenticated", False):
        _require_treasury(action, actor, territory)

    def no(message: str, code: str, field: str | None = None) -> None:
        refuse(action, message, actor=actor, territory=territory, code=code, field=field)

    if not creditor.creditor_id:
        no(_("%(acct)s non ha un identificativo creditore SEPA: registralo prima di raccogliere mandati.")
           % {"acct": creditor}, "no_creditor_id")
    if not (consent_text or "").strip():
        no(_("Manca il testo del consenso: un mandato SEPA vale solo con il testo che il debitore ha accettato."),
           "no_consent", "consent_text")
    if channel not in MandateChannel.values:
        no(_("Canale di firma sconosciuto."), "bad_channel", "channel")
    if channel == MandateChannel.PAPER and not paper_scan:
        no(_("Per un modulo cartaceo allega la scansione firmata."), "no_scan", "paper_scan")
    if not debtor_name.strip():
        no(_("Indica l'intestatario del conto."), "required", "debtor_name")
    if signed_on > timezone.localdate():
        no(_("La data di firma non può essere nel futuro."), "future", "signed_on")
    try:
        iban = normalize_iban(debtor_iban, field="debtor_iban")
    except ValidationError as error:
        no(error.message_dict["debtor_iban"][0], "bad_iban", "debtor_iban")
    with transaction.atomic():
        mandate = Mandate(
            reference=_placeholder(), creditor=creditor, territory=territory,
            debtor_name=debtor_name.strip(), debtor_email=debtor_email.strip(), debtor_iban=iban,
            debtor_bic=bic_for(iban), signed_on=signed_on, channel=channel, consent_text=consent_text.strip(),
        )
        if paper_scan:
            mandate.paper_scan = paper_scan
        mandate.save()
        mandate.reference = f"PZ{creditor.pk:04d}M{mandate.pk:010d}"
        mandate.save(update_fields=["reference"])
        record(action, actor=actor, obj=mandate, territory=territory,
               data={"reference": mandate.reference, "channel": channel, "iban": mask_iban(iban)})
    return mandate


def amend_mandate(*, actor: Any, mandate: Mandate, debtor_name: str = "", debtor_iban: str = "") -> Mandate:
    """New IBAN or name under the same reference: schedules, collections and payables stay linked."""
    action = "bank.amend_mandate"
    _require_treasury(action, actor, mandate.territory)
    if mandate.status in (MandateStatus.REVOKED, MandateStatus.EXPIRED):
        refuse(action, _("Il mandato %(ref)s è %(status)s: serve un nuovo mandato firmato.")
               % {"ref": mandate.reference, "status": mandate.get_status_display().lower()},
               actor=actor, territory=mandate.territory, code="mandate_closed")
    new_iban = mandate.debtor_iban
    if debtor_iban:
        try:
            new_iban = normalize_iban(debtor_iban, field="debtor_iban")
        except ValidationError as error:
            refuse(action, error.message_dict["debtor_iban"][0], actor=actor, territory=mandate.territory,
                   code="bad_iban", field="debtor_iban")
    new_name = debtor_name.strip() or mandate.debtor_name
    if new_iban == mandate.debtor_iban and new_name == mandate.debtor_name:
        refuse(action, _("Nessuna modifica: IBAN e intestatario sono quelli già registrati."),
               actor=actor, territory=mandate.territory, code="no_change")
    with transaction.atomic():
        locked = Mandate.objects.select_for_update().get(pk=mandate.pk)
        MandateAmendment.objects.create(mandate=locked, old_debtor_name=locked.debtor_name, new_debtor_name=new_name,
                                        old_iban=locked.debtor_iban, new_iban=new_iban, actor=actor)
        if new_iban != locked.debtor_iban:
            old_bank = locked.debtor_iban[:4] + locked.debtor_iban[5:10] if locked.debtor_iban.startswith("IT") \
                else bic_for(locked.debtor_iban)[:8]
            new_bank = new_iban[:4] + new_iban[5:10] if new_iban.startswith("IT") else bic_for(new_iban)[:8]
            if not locked.pending_original_iban:
                locked.pending_original_iban = locked.debtor_iban  # the IBAN the bank last saw
            locked.pending_new_bank = locked.pending_new_bank or old_bank != new_bank
            locked.debtor_iban = new_iban
            locked.debtor_bic = bic_for(new_iban)
            locked.status = MandateStatus.AMENDED
            locked.status_reason = ""
        locked.debtor_name = new_name
        locked.save()
        record(action, actor=actor, obj=locked, territory=locked.territory,
               data={"iban_changed": new_iban != mandate.debtor_iban, "name_changed": new_name != mandate.debtor_name})
    return locked


def revoke_mandate(*, actor: Any, mandate: Mandate, reason: str) -> Mandate:
    action = "bank.revoke_mandate"
    _require_treasury(action, actor, mandate.territory)
    with transaction.atomic():
        locked = Mandate.objects.select_for_update().get(pk=mandate.pk)
        locked.status = MandateStatus.REVOKED
        locked.status_reason = reason[:300]
        locked.save(update_fields=["status", "status_reason"])
        cancelled = Collection.objects.filter(mandate=locked, status=CollectionStatus.SCHEDULED).update(
            status=CollectionStatus.CANCELLED)
        record(action, actor=actor, obj=locked, territory=locked.territory,
               data={"reason": reason[:300], "cancelled_collections": cancelled})
    return locked


def expire_mandates(*, actor: Any = None, today: datetime.date | None = None) -> int:
    """Mandates unused for 36 months lapse (scheduled task)."""
    today = today or timezone.localdate()
    expired = 0
    for mandate in Mandate.objects.filter(status__in=[MandateStatus.ACTIVE, MandateStatus.AMENDED]).iterator():
        if mandate.lapses_on() <= today and not mandate.collections.filter(
                status__in=[CollectionStatus.SCHEDULED, CollectionStatus.BATCHED, CollectionStatus.EXPORTED]).exists():
            with transaction.atomic():
                Mandate.objects.filter(pk=mandate.pk).update(
                    status=MandateStatus.EXPIRED, status_reason=_("36 mesi senza addebiti"))
                record("bank.expire_mandate", actor=actor, obj=mandate, territory=mandate.territory)
            expired += 1
    return expired


# --- collections and batches ----------------------------------------------------------------


def schedule_collection(
    *, actor: Any, mandate: Mandate, amount: Money, due_date: datetime.date, description: str,
    credit_account: Account, creation_key: str, recurring: bool = False, payment: Any = None,
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
        refuse(action, _("Il mandato %(ref)s di %(name)s è stato revocato: il debitore non ha più autorizzato "
                         "addebiti, serve un nuovo mandato firmato.")
               % {"ref": mandate.reference, "name": mandate.debtor_name},
               actor=actor, territory=territory, code="mandate_revoked")
    if not mandate.usable:
        refuse(action, _("Il mandato %(ref)s è «%(status)s»: non si possono programmare addebiti.")
               % {"ref": mandate.reference, "status": mandate.get_status_display()},
               actor=actor, territory=territory, code="mandate_unusable")
    if amount.currency != "EUR" or amount.cents <= 0:
        refuse(action, _("Un addebito SEPA è in euro e maggiore di zero."), actor=actor, territory=territory,
               code="bad_amount", field="amount")
    lead = mandate.creditor.prenotification_days
    problem = _due_date_problem(due_date, earliest_collection_date(lead),
                                _("il debitore va avvisato %(n)s giorni prima") % {"n": lead})
    if problem:
        refuse(action, problem, actor=actor, territory=territory, code="due_too_close", field="due_date")
    try:
        with transaction.atomic():
            collection = Collection.objects.create(
                mandate=mandate, territory=territory, amount_cents=amount.cents, currency=amount.currency,
                due_date=due_date, description=description[:140], end_to_end_id=_placeholder(),
                creation_key=creation_key, credit_account=credit_account, recurring=recurring,
                prenotified_at=timezone.now(), payment=payment,
            )
            collection.end_to_end_id = f"PZ-DD-{collection.pk:010d}"
            collection.save(update_fields=["end_to_end_id"])
            record(action, actor=actor, obj=collection, territory=territory,
                   data={"amount": amount.cents, "due_date": due_date.isoformat(), "mandate": mandate.reference})
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
        batch = CollectionBatch.objects.select_for_update().filter(
            creditor=creditor, due_date=due_date, status=BatchStatus.OPEN).first()
        if batch is None:
            batch = CollectionBatch.objects.create(
                creditor=creditor, territory=creditor.territory, due_date=due_date,
                message_id=_placeholder())
            batch.message_id = f"PZ-SDD-{batch.pk:08d}"
            batch.save(update_fields=["message_id"])
        added = Collection.objects.filter(
            mandate__creditor=creditor, due_date=due_date, status=CollectionStatus.SCHEDULED,
            mandate__status__in=[MandateStatus.ACTIVE, MandateStatus.AMENDED],
        ).update(batch=batch, status=CollectionStatus.BATCHED)
        if not batch.collections.exists():  # rolls back the empty batch; the refusal is audited after
            raise _Refused(_("Non ci sono addebiti programmati per il %(due)s su %(acct)s.")
                           % {"due": due_date.strftime("%d/%m/%Y"), "acct": creditor}, "empty_batch")
        record(action, actor=actor, obj=batch, territory=creditor.territory, data={"added": added})
    return batch


def _batch_lead_text() -> str:
    return _("la banca deve ricevere la distinta almeno %(n)s giorni lavorativi TARGET2 prima") % {
        "n": setting("BANK_SDD_MIN_DAYS_BEFORE_DUE", 2)}


def _sequence(collection: Collection) -> str:
    if not collection.recurring:
        return "OOFF"
    if collection.mandate.pending_new_bank:
        return "FRST"  # EPC: after a change of debtor bank the next debit is a first one
    previous = Collection.objects.filter(
        mandate=collection.mandate, status__in=[CollectionStatus.EXPORTED, CollectionStatus.COLLECTED],
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
            record(action, actor=actor, obj=locked, territory=locked.territory, kind=AuditKind.EXPORT,
                   data={"again": True, "sha256": locked.xml_sha256})
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
                amendment = sepa_xml.Amendment(original_iban=mandate.pending_original_iban,
                                               new_bank=mandate.pending_new_bank)
            collection.sequence = _sequence(collection)
            debits.append(sepa_xml.Debit(
                end_to_end_id=collection.end_to_end_id, amount_cents=collection.amount_cents,
                mandate_reference=mandate.reference, mandate_signed_on=mandate.signed_on,
                debtor_name=mandate.debtor_name, debtor_iban=mandate.debtor_iban, sequence=collection.sequence,
                remittance=collection.description, debtor_bic=mandate.debtor_bic, amendment=amendment,
            ))
        creditor = locked.creditor
        party = sepa_xml.Party(creditor.name, creditor.iban, creditor.bic, creditor.creditor_id)
        schema = "pain.008.001.02" if creditor.bic else "pain.008.001.08"
        try:
            xml = sepa_xml.build_pain008(party, debits, collection_date=locked.due_date,
                                         message_id=locked.message_id, schema=schema)
        except sepa_xml.SepaFileInvalid as error:
            raise _Refused(_("Il file pain.008 non supera la validazione XSD, non viene rilasciato: %(e)s")
                           % {"e": "; ".join(error.errors[:3])}, "xsd_invalid") from error
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
        record(action, actor=actor, obj=locked, territory=locked.territory, kind=AuditKind.EXPORT,
               data={"sha256": locked.xml_sha256, "count": len(collections), "schema": schema})
    return xml


# --- expected transfers ---------------------------------------------------------------------


def expect_transfer(
    *, actor: Any, account: BankAccount, amount: Money, payer_name: str, description: str,
    credit_account: Account, creation_key: str, payer_email: str = "", payment: Any = None,
) -> ExpectedTransfer:
    """A transfer we wait for, with its RF reference (bank_transfer provider). Idempotent."""
    existing = ExpectedTransfer.objects.filter(creation_key=creation_key).first()
    if existing is not None:
        return existing
    if amount.cents <= 0 or amount.currency != "EUR":
        refuse("bank.expect_transfer", _("Un bonifico atteso è in euro e maggiore di zero."), actor=actor,
               territory=account.territory, code="bad_amount", field="amount")
    try:
        with transaction.atomic():
            expected = ExpectedTransfer.objects.create(
                reference=_placeholder(), account=account, territory=account.territory,
                amount_cents=amount.cents, currency=amount.currency, payer_name=payer_name.strip(),
                payer_email=payer_email, description=description[:140], credit_account=credit_account,
                creation_key=creation_key, payment=payment,
            )
            expected.reference = reference_for("PZ", expected.pk)
            expected.save(update_fields=["reference"])
            record("bank.expect_transfer", actor=actor, obj=expected, territory=account.territory,
                   data={"reference": expected.reference, "amount": amount.cents})
    except IntegrityError:
        return ExpectedTransfer.objects.get(creation_key=creation_key)
    return expected


# --- statements -----------------------------------------------------------------------------

PROGRESS_EVERY = 25  # lines matched between two updates of the progress bar
REMATCH_LIMIT = 1000  # earlier queued lines looked at again after each import


def import_statement(
    *, actor: Any, territory: Territory, filename: str, data: bytes, source: str = "upload",
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
    known = {a.iban: a for a in BankAccount.objects.filter(
        iban__in={s.account_iban for s in parsed.statements}).select_related("territory")}
    for statement in parsed.statements:
        account = known.get(statement.account_iban)
        if account is None or not account.territory.path.startswith(territory.path):
            refuse(action, _("L'estratto %(id)s è del conto %(iban)s, che non è registrato tra i conti di %(t)s: "
                             "registra il conto o carica l'estratto giusto.")
                   % {"id": statement.statement_id, "iban": statement.account_iban, "t": territory},
                   actor=actor, territory=territory, code="unknown_account", field="file")
    digest = CollectionBatch.digest(data)
    upload_id = uuid.uuid4()
    user = actor if getattr(actor, "is_authenticated", False) else None
    imports: dict[str, StatementImport] = {}
    with transaction.atomic():
        for statement in parsed.statements:
            account = known[statement.account_iban]
            if account.iban not in imports:
                imports[account.iban] = StatementImport(
                    account=account, territory=account.territory, filename=filename[:255], sha256=digest,
                    format=parsed.format, message_id=parsed.message_id[:140], source=source, content=data,
                    imported_by=user, upload_id=upload_id, status=ImportStatus.PENDING, warnings=[],
                )
            imports[account.iban].warnings += statement.warnings
            imports[account.iban].line_count += len(statement.lines)
        for iban, statement_import in imports.items():
            statement_import.save()
            record(action, actor=actor, obj=statement_import, territory=statement_import.territory,
                   data={"statements": [s.statement_id for s in parsed.statements if s.account_iban == iban],
                         "lines": statement_import.line_count, "sha256": digest, "background": background})
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
        status=ImportStatus.RUNNING, error="")
    statement_import = StatementImport.objects.select_related(
        "account__territory", "account__ledger_account", "territory").get(pk=statement_import_id)
    if statement_import.status == ImportStatus.DONE:
        return statement_import
    try:
        _store_and_match(actor, statement_import)
    except Exception as error:
        logger.exception("statement import %s failed", statement_import_id)
        StatementImport.objects.filter(pk=statement_import_id).update(
            status=ImportStatus.FAILED, finished_at=timezone.now(),
            error=(_("Elaborazione interrotta da un errore interno (%(e)s): i movimenti già registrati restano "
                     "validi; carica di nuovo il file per completare, nulla verrà registrato due volte.")
                   % {"e": type(error).__name__})[:500])
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
        new_lines=new_lines, duplicate_lines=statement_import.line_count - new_lines, processed_lines=done_before)
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
            status=ImportStatus.DONE, processed_lines=statement_import.line_count, finished_at=timezone.now(),
            waiting_lines=waiting)
        record("bank.process_statement", actor=actor, obj=statement_import, territory=statement_import.territory,
               data={"new": new_lines, "duplicates": statement_import.line_count - new_lines,
                     "earlier_lines_booked": rematched})


def _waiting_lines(account: BankAccount, fingerprints: list[str]) -> int:
    """How many of the file's lines wait for a treasurer, whichever upload stored them: the
    summary must not say "0 da abbinare" while the same movements wait from an earlier upload."""
    ordered = sorted(set(fingerprints))
    return sum(StatementLine.objects.filter(account=account, status=LineStatus.QUEUED,
                                            fingerprint__in=ordered[start:start + 1000]).count()
               for start in range(0, len(ordered), 1000))


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
        seen.update(StatementLine.objects.filter(
            account=account, fingerprint__in=fingerprints[start:start + 1000]).values_list("fingerprint", flat=True))
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


def _new_line(statement_import: StatementImport, account: BankAccount, statement_id: str,
              parsed: ParsedLine) -> StatementLine:
    booked = parsed.status == BOOKED
    return StatementLine(
        account=account, territory=account.territory, statement_import=statement_import,
        fingerprint=parsed.fingerprint, statement_id=statement_id[:140], position=parsed.position,
        direction=parsed.direction, amount_cents=parsed.amount_cents, currency=parsed.currency,
        booking_date=parsed.booking_date, value_date=parsed.value_date,
        counterparty_name=parsed.counterparty_name[:140], counterparty_iban=parsed.counterparty_iban[:34],
        remittance=parsed.remittance[:500], creditor_reference=parsed.creditor_reference,
        end_to_end_id=parsed.end_to_end_id[:35], mandate_id=parsed.mandate_id[:35],
        payment_information_id=parsed.payment_information_id[:35],
        bank_reference=parsed.bank_reference[:140], return_reason=parsed.return_reason[:4],
        bank_transaction_code=parsed.bank_transaction_code[:40],
        status=LineStatus.QUEUED if booked else LineStatus.REJECTED,
        reason="" if booked else _(
            "Movimento non ancora contabilizzato dalla banca (%(s)s): verrà importato quando comparirà "
            "come contabilizzato.") % {"s": parsed.status},
    )


def rematch_queued(account: BankAccount, *, exclude_import: StatementImport | None = None) -> int:
    """Look again at the account's queued lines that carry one of our references, and book those
    whose target is now ready (e.g. a return seen before its batch credit, issue 5). Lines whose
    target is still missing are left untouched: no write, no noise. Returns how many were booked."""
    rows = StatementLine.objects.filter(account=account, status=LineStatus.QUEUED).filter(
        Q(end_to_end_id__startswith="PZ-") | ~Q(creditor_reference="") | ~Q(payment_information_id=""))
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
    return transfer is not None and transfer.account_id == line.account_id and \
        transfer.status != TransferStatus.CANCELLED


def _receipt_cause(credit_account: Account) -> str:
    """Money settling a provider's clearing account is a transfer (payments books the payment
    itself); money credited straight to funds is a payment received."""
    return Cause.TRANSFER if credit_account.kind == "provider_clearing" else Cause.PAYMENT


def _settle_payment_on_commit(payment_id: int | None) -> None:
    """A bank rail moved: let `payments` re-fetch its payment (provider `fetch`) and apply it."""
    if payment_id is None:
        return
    from piazza.payments.bank import tasks

    enqueue_on_commit(tasks.settle_payment, payment_id)


def _lock_line(line: StatementLine) -> StatementLine:
    """Lock the line's row and re-read it; the account and territory already loaded with `line`
    (an import attaches them to every line) are reused, so the locking query stays a plain one."""
    locked = StatementLine.objects.select_for_update().get(pk=line.pk)
    for name in ("account", "territory"):
        if StatementLine._meta.get_field(name).is_cached(line):  # type: ignore[union-attr]
            setattr(locked, name, getattr(line, name))
    return locked


def _queue(line: StatementLine, reason: str, *, confidence: int = 0,
           suggestion: ExpectedTransfer | None = None) -> StatementLine:
    """Leave the line for a treasurer, saying why (written only when the why changed)."""
    reason = reason[:300]
    if (line.reason, line.confidence, line.suggestion_id) != (reason, confidence, getattr(suggestion, "pk", None)):
        StatementLine.objects.filter(pk=line.pk, status=LineStatus.QUEUED).update(
            reason=reason, confidence=confidence, suggestion=suggestion)
        line.reason, line.confidence, line.suggestion = reason, confidence, suggestion
    return line


def _unmatched(manual: bool, line: StatementLine, reason: str, code: str) -> StatementLine:
    """The automatic path queues the line with the reason; a treasurer's match is refused with it."""
    if manual:
        raise _Refused(reason, code)
    return _queue(line, reason)


def _already_matched(line: StatementLine) -> _Refused:
    who = line.matched_by.get_username() if line.matched_by else _("l'abbinamento automatico")
    if line.status == LineStatus.REJECTED:
        return _Refused(_("Questo movimento è stato scartato: %(r)s") % {"r": line.reason}, "already_matched")
    return _Refused(_("Questo movimento è già stato abbinato da %(who)s.") % {"who": who}, "already_matched")


def auto_match(line: StatementLine, lookups: StatementLookups | None = None) -> StatementLine:
    """Match a queued line by our references, else by amount + name + date window with a confidence.

    `lookups` holds what the statement's lines refer to (one read per import, not per line)."""
    if line.status != LineStatus.QUEUED:
        return line
    lookups = lookups or StatementLookups(line.account, [line])
    if line.currency != line.account.ledger_account.currency:
        return _reject(line, _("Movimento in %(c)s su un conto in euro: va registrato a mano.") % {"c": line.currency})
    if line.direction == DEBIT:
        return _auto_match_debit(line, lookups)
    return _auto_match_credit(line, lookups)


def _reject(line: StatementLine, reason: str) -> StatementLine:
    StatementLine.objects.filter(pk=line.pk, status=LineStatus.QUEUED).update(
        status=LineStatus.REJECTED, reason=reason[:300])
    line.status, line.reason = LineStatus.REJECTED, reason[:300]
    return line


def _is_return(line: StatementLine) -> bool:
    return bool(line.return_reason) or line.bank_transaction_code.endswith(("UPDD", "/RDDT"))


def _auto_match_debit(line: StatementLine, lookups: StatementLookups) -> StatementLine:
    if _is_return(line):
        collection = lookups.collection(line.end_to_end_id)
        if collection is None:
            return _queue(line, _("Storno di addebito SEPA (%(code)s) per un addebito che non risulta tra i nostri "
                                  "(riferimento «%(ref)s»): cercalo per nome o importo e abbinalo, o verifica con "
                                  "la banca.") % {"code": line.return_reason or "?", "ref": line.end_to_end_id or "-"})
        return record_return(actor=None, line=line, collection=collection)
    payout = lookups.payout(line.end_to_end_id)
    if payout is not None:
        return confirm_payout(actor=None, line=line, payout=payout)
    if line.bank_transaction_code.endswith(("CHRG", "/FEES", "NCHG")):
        return book_bank_charge(actor=None, line=line)
    return _queue(line, _("Uscita non riconosciuta: nessun versamento esportato con questo riferimento. Cercalo per "
                          "beneficiario o importo e abbinalo, o scarta il movimento spiegando perché."))


def _norm(name: str) -> str:
    decomposed = unicodedata.normalize("NFKD", name or "")
    plain = "".join(c for c in decomposed if not unicodedata.combining(c)).lower()
    return " ".join(sorted("".join(c if c.isalnum() else " " for c in plain).split()))


def name_similarity(a: str, b: str) -> float:
    """0–1, order- and accent-insensitive ("Dell'Acqua Nicolò" ~ "Nicolo Dell Acqua"); rapidfuzz's
    indel ratio (C) because an import scores every line without reference against many names."""
    if not a or not b:
        return 0.0
    return float(fuzz.ratio(_norm(a), _norm(b))) / 100


def score_candidate(line: StatementLine, expected: ExpectedTransfer) -> int:
    """Confidence 0–100: exact amount 50, name up to 40, date within the window 10."""
    score = 0
    if expected.outstanding_cents == line.amount_cents:
        score += 50
    score += round(40 * name_similarity(line.counterparty_name, expected.payer_name))
    window = setting("BANK_MATCH_WINDOW_DAYS", 45)
    if line.booking_date is not None:
        age = (line.booking_date - timezone.localtime(expected.created_at).date()).days
        if -1 <= age <= window:
            score += 10
    return min(score, 100)


def _auto_match_credit(line: StatementLine, lookups: StatementLookups) -> StatementLine:
    if line.payment_information_id or line.end_to_end_id.startswith("PZ-DD-"):
        batch = lookups.batch_for(line)
        if batch is not None:
            return settle_batch(actor=None, line=line, batch=batch)
    if line.creditor_reference:
        expected = lookups.transfer(line.creditor_reference)
        if expected is None or expected.account_id != line.account_id:
            return _queue(line, _("Il riferimento %(ref)s non corrisponde a nessun bonifico atteso su questo conto: "
                                  "abbina il movimento a mano o segnalalo.") % {"ref": line.creditor_reference})
        if expected.status == TransferStatus.CANCELLED:
            return _queue(line, _("Il riferimento %(ref)s è di un bonifico atteso annullato.")
                          % {"ref": line.creditor_reference})
        return _book_transfer(line, expected, 100, lookups)
    scored = sorted(((score_candidate(line, c), c) for c in lookups.open_transfers()), key=lambda p: -p[0])
    threshold = setting("BANK_AUTO_MATCH_CONFIDENCE", 85)
    if scored:
        best_score, best = scored[0]
        runner_up = scored[1][0] if len(scored) > 1 else 0
        if best_score >= threshold and best_score - runner_up >= 15:
            return _book_transfer(line, best, best_score, lookups)
        if best_score >= 50:
            return _queue(line, _("Nessun riferimento: possibile corrispondenza con %(ref)s (%(name)s), affidabilità "
                                  "%(score)s%%. Controlla e conferma.")
                          % {"ref": best.reference, "name": best.payer_name, "score": best_score},
                          confidence=best_score, suggestion=best)
    return _queue(line, _("Nessun riferimento e nessun bonifico atteso con importo e nome compatibili."))


def _book_transfer(line: StatementLine, expected: ExpectedTransfer, confidence: int,
                   lookups: StatementLookups) -> StatementLine:
    booked = apply_transfer(actor=None, line=line, expected=expected, confidence=confidence)
    if booked.transfer_id is not None and booked.transfer is not None:
        lookups.booked(booked.transfer)
    return booked


class Difference:
    """What a treasurer decides when a line's amount is not what a transfer still expects
    (issue 11, item 15): never decided by a one-click match."""

    ACCEPT = "accept"  # short: take it as paid, the gap to bank_short_payments; over: excess to bank_unallocated
    ASK_REST = "ask_rest"  # short only: book it, the transfer stays partly paid until the rest arrives
    REFUSE = "refuse"  # set the line aside (to be sent back), nothing booked

    SHORT = (ACCEPT, ASK_REST, REFUSE)
    OVER = (ACCEPT, REFUSE)


def apply_transfer(*, actor: Any, line: StatementLine, expected: ExpectedTransfer, confidence: int,
                   manual: bool = False, difference: str = "") -> StatementLine:
    """Book a received transfer against what was expected: partial and over-payments are explicit
    (the expected transfer says partial / overpaid, the excess sits in bank_unallocated).

    A short line is never booked automatically: it waits in the manual queue with the gap in
    words. A treasurer's match of a different amount needs a `difference` decision
    (`Difference.SHORT` / `Difference.OVER`), else it is refused (issue 11, item 15).
    A line another process booked meanwhile is left alone (automatic) or refused saying who (manual)."""
    action = "bank.match_transfer"
    with _refusing(action, actor, line.territory), transaction.atomic():
        locked_line = _lock_line(line)
        if locked_line.status != LineStatus.QUEUED:
            if manual:
                raise _already_matched(locked_line)
            return locked_line
        if locked_line.direction != CREDIT:
            return _unmatched(manual, locked_line, _("Solo un'entrata può pagare un bonifico atteso."),
                              "wrong_direction")
        target = ExpectedTransfer.objects.select_for_update(of=("self",)).select_related("credit_account").get(
            pk=expected.pk)
        if target.account_id != locked_line.account_id:
            return _unmatched(manual, locked_line, _("Il bonifico atteso %(ref)s è su un altro conto.")
                              % {"ref": target.reference}, "other_account")
        if target.status == TransferStatus.CANCELLED:
            return _unmatched(manual, locked_line, _("Il bonifico atteso %(ref)s è annullato.")
                              % {"ref": target.reference}, "cancelled")
        received = locked_line.amount_cents
        outstanding = target.outstanding_cents
        gap = outstanding - received
        if gap and not manual:
            if gap > 0:  # a short payment waits for a treasurer's decision
                return _queue(locked_line, _(
                    "Bonifico %(ref)s arrivato con %(got)s invece di %(want)s: %(words)s. Decidi se accettare "
                    "il pagamento ridotto, chiedere il resto o rifiutarlo.") % {
                    "ref": target.reference, "got": format_money(Money(received)),
                    "want": format_money(Money(outstanding)), "words": difference_words(received, outstanding)},
                    confidence=confidence, suggestion=target)
            difference = Difference.ACCEPT  # an excess is set aside in bank_unallocated, as before
        if gap and difference not in (Difference.SHORT if gap > 0 else Difference.OVER):
            raise _Refused(_("Il movimento (%(got)s) non corrisponde a quanto atteso per %(ref)s (%(want)s): "
                             "%(words)s. Scegli cosa fare della differenza e conferma.") % {
                "got": format_money(Money(received)), "ref": target.reference,
                "want": format_money(Money(outstanding)), "words": difference_words(received, outstanding)},
                "difference_undecided", field="difference")
        if gap and difference == Difference.REFUSE:
            reason = _("Importo diverso da quanto atteso per %(ref)s (%(words)s): rifiutato, da restituire a chi "
                       "ha pagato.") % {"ref": target.reference, "words": difference_words(received, outstanding)}
            _reject(locked_line, reason)
            StatementLine.objects.filter(pk=locked_line.pk).update(matched_by=actor, matched_at=timezone.now())
            record(action, actor=actor, obj=locked_line, territory=locked_line.territory,
                   data={"transfer": target.reference, "difference": difference, "gap": gap})
            return locked_line
        accepted_short = gap > 0 and difference == Difference.ACCEPT
        to_destination = outstanding if accepted_short else min(received, outstanding)
        excess = received - min(received, outstanding)
        bank = _bank_ledger(locked_line.account)
        entries = [(bank, Money(received, locked_line.currency))]
        if accepted_short:  # the gap is written off, the destination gets what was expected
            shortfall = get_account("bank_short_payments", territory=locked_line.account.territory)
            entries.append((shortfall, Money(gap, locked_line.currency)))
        if to_destination:
            entries.append((target.credit_account, Money(-to_destination, locked_line.currency)))
        if excess:
            unallocated = get_account("bank_unallocated", territory=locked_line.account.territory)
            entries.append((unallocated, Money(-excess, locked_line.currency)))
        post_transaction(actor=actor, cause=_receipt_cause(target.credit_account),
                         memo=f"Bonifico {target.reference} {target.payer_name}",
                         entries=entries, idempotency_key=f"bank:line:{locked_line.pk}", about=target, audit=False)
        target.received_cents += received
        if accepted_short or target.received_cents == target.amount_cents:
            target.status = TransferStatus.PAID
        elif target.received_cents < target.amount_cents:
            target.status = TransferStatus.PARTIAL
        else:
            target.status = TransferStatus.OVERPAID
        target.save(update_fields=["received_cents", "status"])
        reason = {
            TransferStatus.PARTIAL: _("Pagamento parziale: mancano %(m)s.")
            % {"m": format_money(Money(target.outstanding_cents))},
            TransferStatus.OVERPAID: _("Pagamento in eccesso di %(m)s, accantonato tra gli incassi da attribuire.")
            % {"m": format_money(Money(excess))},
        }.get(TransferStatus(target.status), "")
        if accepted_short:
            reason = _("Pagamento ridotto accettato: %(words)s, registrati tra le differenze accettate.") % {
                "words": difference_words(received, outstanding)}
        _mark_matched(locked_line, actor, MatchKind.TRANSFER, reason, confidence, transfer=target)
        _settle_payment_on_commit(target.payment_id)
        record(action, actor=actor, obj=locked_line, territory=locked_line.territory,
               data={"transfer": target.reference, "confidence": confidence, "status": target.status,
                     **({"difference": difference, "gap": gap} if gap else {})})
    return locked_line


def _mark_matched(line: StatementLine, actor: Any, kind: str, reason: str, confidence: int, **links: Any) -> None:
    line.status = LineStatus.MATCHED
    line.match_kind = kind
    line.reason = reason[:300]
    line.confidence = confidence
    line.matched_by = actor if getattr(actor, "is_authenticated", False) else None
    line.matched_at = timezone.now()
    for name, value in links.items():
        setattr(line, name, value)
    line.save(update_fields=["status", "match_kind", "reason", "confidence", "matched_by", "matched_at", *links])


def match_line(*, actor: Any, line: StatementLine, transfer: ExpectedTransfer,
               difference: str = "") -> StatementLine:
    """A treasurer's manual match; two treasurers at once → one wins, the other is told.
    A different amount needs `difference` (see `Difference`), else it is refused."""
    _require_treasury("bank.match_transfer", actor, line.territory)
    return apply_transfer(actor=actor, line=line, expected=transfer, confidence=100, manual=True,
                          difference=difference)


def match_return(*, actor: Any, line: StatementLine, collection: Collection) -> StatementLine:
    """A treasurer matches a queued outgoing line to the collected debit it returns (the bank sent
    no usable reference): exactly what the automatic path books — reversal, mandate effect,
    retry rule, notices. Two treasurers at once → one wins, the other is told."""
    action = "bank.record_return"
    _require_treasury(action, actor, line.territory)
    return record_return(actor=actor, line=line, collection=collection, manual=True)


def match_payout(*, actor: Any, line: StatementLine, payout: Payout) -> StatementLine:
    """A treasurer matches a queued outgoing line to the exported payout it executes."""
    _require_treasury("bank.confirm_payout", actor, line.territory)
    return confirm_payout(actor=actor, line=line, payout=payout, manual=True)


def reject_line(*, actor: Any, line: StatementLine, reason: str) -> StatementLine:
    """Set a queued line aside with the treasurer's reason (e.g. a movement between own accounts)."""
    action = "bank.reject_line"
    _require_treasury(action, actor, line.territory)
    if not reason.strip():
        refuse(action, _("Scrivi perché il movimento viene scartato."), actor=actor, territory=line.territory,
               code="required", field="reason")
    with _refusing(action, actor, line.territory), transaction.atomic():
        locked = _lock_line(line)
        if locked.status != LineStatus.QUEUED:
            raise _Refused(_("Il movimento non è più da abbinare."), "already_matched")
        locked.status = LineStatus.REJECTED
        locked.reason = reason.strip()[:300]
        locked.matched_by = actor
        locked.matched_at = timezone.now()
        locked.save(update_fields=["status", "reason", "matched_by", "matched_at"])
        record(action, actor=actor, obj=locked, territory=locked.territory, data={"reason": locked.reason})
    return locked


def book_bank_charge(*, actor: Any, line: StatementLine) -> StatementLine:
    with transaction.atomic():
        locked = _lock_line(line)
        if locked.status != LineStatus.QUEUED:
            return locked
        charges = get_account("bank_charges", territory=locked.account.territory)
        post_transaction(actor=actor, cause=Cause.FEE, memo=f"Commissioni bancarie {locked.booking_date}",
                         entries=[(charges, Money(locked.amount_cents, locked.currency)),
                                  (_bank_ledger(locked.account), Money(-locked.amount_cents, locked.currency))],
                         idempotency_key=f"bank:line:{locked.pk}", about=locked, audit=False)
        _mark_matched(locked, actor, MatchKind.BANK_FEE, _("Commissioni bancarie registrate."), 100)
        record("bank.book_charge", actor=actor, obj=locked, territory=locked.territory)
    return locked


def settle_batch(*, actor: Any, line: StatementLine, batch: CollectionBatch) -> StatementLine:
    """The bank credited a pain.008 batch (or part of it): book each collection once."""
    action = "bank.settle_batch"
    with transaction.atomic():
        locked_line = _lock_line(line)
        if locked_line.status != LineStatus.QUEUED:
            return locked_line
        collections = list(Collection.objects.select_for_update(of=("self",)).select_related("credit_account").filter(
            batch=batch, status=CollectionStatus.EXPORTED).order_by("id"))
        # A batch credit detailed per transaction carries each debit's EndToEndId: settle that one.
        e2e = locked_line.end_to_end_id
        detailed = [c for c in collections if e2e and c.end_to_end_id == e2e]
        if detailed or (locked_line.end_to_end_id and not locked_line.payment_information_id):
            collections = detailed
        total = sum(c.amount_cents for c in collections)
        if total != locked_line.amount_cents:
            return _queue(locked_line, _("Accredito della distinta %(batch)s di %(got)s, ma gli addebiti in attesa "
                                         "sommano %(want)s: verifica gli storni e abbina a mano.")
                          % {"batch": batch.message_id, "got": format_money(Money(locked_line.amount_cents)),
                             "want": format_money(Money(total))})
        bank = _bank_ledger(locked_line.account)
        for collection in collections:
            collection.ledger_transaction = post_transaction(
                actor=actor, cause=_receipt_cause(collection.credit_account),
                memo=f"Addebito SEPA {collection.end_to_end_id}",
                entries=[(bank, collection.amount), (collection.credit_account, -collection.amount)],
                idempotency_key=f"bank:collection:{collection.pk}", about=collection, audit=False,
            )
            collection.status = CollectionStatus.COLLECTED
            collection.save(update_fields=["ledger_transaction", "status"])
            _settle_payment_on_commit(collection.payment_id)
        if not batch.collections.filter(status=CollectionStatus.EXPORTED).exists():
            CollectionBatch.objects.filter(pk=batch.pk).update(status=BatchStatus.SETTLED)
        _mark_matched(locked_line, actor, MatchKind.COLLECTION_BATCH,
                      _("Distinta %(batch)s: %(n)s addebiti incassati.") % {"batch": batch.message_id,
                                                                             "n": len(collections)},
                      100, batch=batch)
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
        target = Collection.objects.select_for_update(of=("self",)).select_related("mandate", "batch").get(
            pk=collection.pk)
        if target.batch is None or target.batch.creditor_id != locked_line.account_id:
            return _unmatched(manual, locked_line, _("L'addebito %(e2e)s non è stato inviato da questo conto: "
                                                     "verifica.") % {"e2e": target.end_to_end_id}, "other_account")
        if target.status == CollectionStatus.FAILED:
            return _unmatched(manual, locked_line, _("L'addebito %(e2e)s risulta già respinto: possibile storno "
                                                     "doppio, verifica.") % {"e2e": target.end_to_end_id},
                              "already_returned")
        if locked_line.amount_cents != target.amount_cents:
            return _unmatched(manual, locked_line, _("Storno di %(got)s per l'addebito %(e2e)s di %(want)s: importi "
                                                     "diversi, verifica.")
                              % {"got": format_money(Money(locked_line.amount_cents)), "e2e": target.end_to_end_id,
                                 "want": format_money(target.amount)}, "amount_mismatch")
        if target.status != CollectionStatus.COLLECTED or target.ledger_transaction_id is None:
            # The batch credit has not been seen yet (another file): booking the return now would
            # leave the books wrong. The line waits; each import looks at it again (rematch_queued).
            return _unmatched(manual, locked_line, _("Storno dell'addebito %(e2e)s arrivato prima dell'accredito della "
                                                     "sua distinta: verrà registrato da solo quando importerai "
                                                     "l'estratto con l'accredito.") % {"e2e": target.end_to_end_id},
                              "not_collected")
        assert target.ledger_transaction is not None
        reverse_transaction(actor=actor, original=target.ledger_transaction,
                            memo=f"Storno SEPA {reason.code} {target.end_to_end_id}",
                            idempotency_key=f"bank:line:{locked_line.pk}", audit=False)
        target.status = CollectionStatus.FAILED
        target.return_reason = reason.code[:4]
        target.save(update_fields=["status", "return_reason"])
        mandate = target.mandate
        if reason.mandate_effect == MandateEffect.REVOKE:
            Mandate.objects.filter(pk=mandate.pk).update(status=MandateStatus.REVOKED,
                                                         status_reason=str(reason.treasurer))
            Collection.objects.filter(mandate=mandate, status=CollectionStatus.SCHEDULED).update(
                status=CollectionStatus.CANCELLED)
            mandate.status = MandateStatus.REVOKED
        elif reason.mandate_effect == MandateEffect.SUSPEND:
            Mandate.objects.filter(pk=mandate.pk).update(status=MandateStatus.SUSPENDED,
                                                         status_reason=str(reason.treasurer))
            mandate.status = MandateStatus.SUSPENDED
        _settle_payment_on_commit(target.payment_id)
        retry = _schedule_retry(target, reason.retry)
        message = _("%(reason)s (%(code)s).") % {"reason": reason.treasurer, "code": reason.code or "?"}
        if retry is not None:
            message += " " + _("Nuovo tentativo il %(d)s.") % {"d": retry.due_date.strftime("%d/%m/%Y")}
        _mark_matched(locked_line, actor, MatchKind.COLLECTION_RETURN, message, 100, collection=target)
        record(action, actor=actor, obj=target, territory=target.territory,
               data={"code": reason.code, "retry": retry.pk if retry else None, "effect": str(reason.mandate_effect),
                     "line": locked_line.pk, "manual": manual})
        from piazza.payments.bank import tasks

        enqueue_on_commit(tasks.send_return_notices, target.pk)
    return locked_line


def _schedule_retry(failed: Collection, retry_allowed: bool) -> Collection | None:
    """A bank-level retry (AM04, MS03, FF01) of a debit created in the bank pages, on the first
    TARGET2 business day the bank can still receive it. Debits of a payments' schedule are
    retried by the schedule's own rules, not here."""
    if not (retry_allowed and failed.attempt < setting("BANK_SDD_MAX_ATTEMPTS", 2) and failed.mandate.usable
            and failed.payment_id is None):
        return None
    today = timezone.localdate()
    due = max(next_banking_day(today + datetime.timedelta(days=setting("BANK_SDD_RETRY_DAYS", 7))),
              earliest_batch_date(today))
    retry = Collection.objects.create(
        mandate=failed.mandate, territory=failed.territory, amount_cents=failed.amount_cents,
        currency=failed.currency, due_date=due, description=failed.description, end_to_end_id=_placeholder(),
        creation_key=f"{failed.creation_key}:retry{failed.attempt + 1}", credit_account=failed.credit_account,
        recurring=failed.recurring, attempt=failed.attempt + 1, retry_of=failed, prenotified_at=timezone.now(),
    )
    retry.end_to_end_id = f"PZ-DD-{retry.pk:010d}"
    retry.save(update_fields=["end_to_end_id"])
    return retry


def confirm_payout(*, actor: Any, line: StatementLine, payout: Payout, manual: bool = False) -> StatementLine:
    """The payout left the bank: Dr payouts_approved / Cr bank, the payout is confirmed."""
    action = "bank.confirm_payout"
    with _refusing(action, actor, line.territory), transaction.atomic():
        locked_line = _lock_line(line)
        if locked_line.status != LineStatus.QUEUED:
            if manual:
                raise _already_matched(locked_line)
            return locked_line
        locked = Payout.objects.select_for_update(of=("self",)).select_related("bank_account__territory").get(
            pk=payout.pk)
        if locked_line.direction != DEBIT or locked.bank_account_id != locked_line.account_id:
            return _unmatched(manual, locked_line, _("Il versamento %(e2e)s esce da un altro conto o questo movimento "
                                                     "non è un'uscita.") % {"e2e": locked.end_to_end_id},
                              "other_account")
        if locked.status != PayoutStatus.EXPORTED or locked.amount_cents != locked_line.amount_cents:
            return _unmatched(manual, locked_line, _("Uscita di %(got)s per il versamento %(e2e)s di %(want)s "
                                                     "(«%(status)s»): importo o stato non corrispondono, verifica.")
                              % {"got": format_money(Money(locked_line.amount_cents)), "e2e": locked.end_to_end_id,
                                 "want": format_money(locked.amount), "status": locked.get_status_display()},
                              "payout_mismatch")
        pending = get_account("payouts_approved", territory=locked.bank_account.territory)
        post_transaction(actor=actor, cause=Cause.PAYOUT, memo=f"Versamento {locked.end_to_end_id} eseguito",
                         entries=[(pending, locked.amount), (_bank_ledger(locked_line.account), -locked.amount)],
                         idempotency_key=f"bank:payout:{locked.pk}:confirm", about=locked, audit=False)
        locked.status = PayoutStatus.CONFIRMED
        locked.save(update_fields=["status"])
        _mark_matched(locked_line, actor, MatchKind.PAYOUT, _("Versamento eseguito dalla banca."), 100, payout=locked)
        record(action, actor=actor, obj=locked, territory=locked.territory, data={"line": locked_line.pk,
                                                                               "manual": manual})
    return locked_line


# --- payouts --------------------------------------------------------------------------------


def _available(source: Account) -> Money:
    return balance(source)


def request_payout(
    *, actor: Any, source_account: Account, bank_account: BankAccount, payee: Payee, amount: Money, description: str,
) -> Payout:
    action = "bank.request_payout"
    territory = bank_account.territory
    _require_treasury(action, actor, territory)
    if source_account.territory_id is None or not Territory.objects.filter(
            pk=source_account.territory_id, path__startswith=territory.path).exists():
        refuse(action, _("Il conto di partenza non appartiene a %(t)s.") % {"t": territory}, actor=actor,
               territory=territory, code="out_of_scope", field="source_account")
    if not payee.territory.path.startswith(territory.path):
        refuse(action, _("%(payee)s è registrato per %(pt)s, fuori da %(t)s (titolare del conto): si paga solo un "
                         "beneficiario registrato per %(t)s o per una struttura che ne fa parte. Registralo qui, "
                         "se è il caso.") % {"payee": payee.name, "pt": payee.territory, "t": territory},
               actor=actor, territory=territory, code="payee_out_of_scope", field="payee")
    if amount.cents <= 0:
        refuse(action, _("L'importo deve essere maggiore di zero."), actor=actor, territory=territory,
               code="bad_amount", field="amount")
    available = _available(source_account)
    if amount > available:
        refuse(action, _("%(amount)s supera il saldo disponibile di %(account)s (%(available)s): nessun versamento "
                         "è stato richiesto.") % {"amount": format_money(amount), "account": source_account,
                                                  "available": format_money(available)},
               actor=actor, territory=territory, code="insufficient_balance", field="amount")
    with transaction.atomic():
        payout = Payout.objects.create(
            source_account=source_account, bank_account=bank_account, payee=payee, territory=territory,
            amount_cents=amount.cents, currency=amount.currency, description=description[:140],
            end_to_end_id=_placeholder(), requested_by=actor,
        )
        payout.end_to_end_id = f"PZ-PO-{payout.pk:010d}"
        payout.save(update_fields=["end_to_end_id"])
        record(action, actor=actor, obj=payout, territory=territory,
               data={"amount": amount.cents, "payee": payee.name})
    return payout


def approve_payout(*, actor: Any, payout: Payout) -> Payout:
    """The second treasurer approves: never the requester (four eyes). The money is set aside
    at once (Dr source / Cr payouts_approved) under a lock on the source account."""
    action = "bank.approve_payout"
    _require_treasury(action, actor, payout.territory)
    if actor is None or actor.pk == payout.requested_by_id:
        refuse(action, _("Hai chiesto tu questo versamento: deve approvarlo un altro tesoriere (regola dei quattro "
                         "occhi)."), actor=actor, territory=payout.territory, code="four_eyes", permission=True)
    with _refusing(action, actor, payout.territory), transaction.atomic():
        locked = Payout.objects.select_for_update().get(pk=payout.pk)
        if locked.status != PayoutStatus.REQUESTED:
            raise _Refused(_("Il versamento è già «%(s)s».") % {"s": locked.get_status_display()}, "not_requested")
        Account.objects.select_for_update().get(pk=locked.source_account_id)  # serialise approvals per account
        available = _available(locked.source_account)
        if locked.amount > available:
            raise _Refused(_("%(amount)s supera il saldo disponibile di %(account)s (%(available)s): il versamento "
                             "non può essere approvato.") % {"amount": format_money(locked.amount),
                                                              "account": locked.source_account,
                                                              "available": format_money(available)},
                           "insufficient_balance")
        pending = get_account("payouts_approved", territory=locked.bank_account.territory)
        locked.reserve_transaction = post_transaction(
            actor=actor, cause=Cause.PAYOUT, memo=f"Versamento {locked.end_to_end_id} a {locked.payee.name}",
            entries=[(locked.source_account, locked.amount), (pending, -locked.amount)],
            idempotency_key=f"bank:payout:{locked.pk}:approve", about=locked, audit=False,
        )
        locked.status = PayoutStatus.APPROVED
        locked.approved_by = actor
        locked.approved_at = timezone.now()
        locked.save()
        record(action, actor=actor, obj=locked, territory=locked.territory, data={"amount": locked.amount_cents})
    return locked


def reject_payout(*, actor: Any, payout: Payout, reason: str) -> Payout:
    action = "bank.reject_payout"
    _require_treasury(action, actor, payout.territory)
    with _refusing(action, actor, payout.territory), transaction.atomic():
        locked = Payout.objects.select_for_update().get(pk=payout.pk)
        if locked.status != PayoutStatus.REQUESTED:
            raise _Refused(_("Si può respingere solo un versamento ancora da approvare."), "not_requested")
        locked.status = PayoutStatus.REJECTED
        locked.save(update_fields=["status"])
        record(action, actor=actor, obj=locked, territory=locked.territory, data={"reason": reason[:300]})
    return locked


def export_payouts(*, actor: Any, bank_account: BankAccount, execution_date: datetime.date) -> PayoutBatch:
    """All approved payouts of the account in one XSD-validated pain.001; frozen once made."""
    action = "bank.export_payouts"
    _require_treasury(action, actor, bank_account.territory)
    if execution_date < timezone.localdate():
        refuse(action, _("La data di esecuzione non può essere nel passato."), actor=actor,
               territory=bank_account.territory, code="past_date", field="execution_date")
    with _refusing(action, actor, bank_account.territory), transaction.atomic():
        payouts = list(Payout.objects.select_for_update().filter(
            bank_account=bank_account, status=PayoutStatus.APPROVED).select_related("payee").order_by("id"))
        if not payouts:
            raise _Refused(_("Non ci sono versamenti approvati da esportare."), "empty_batch")
        batch = PayoutBatch(account=bank_account, territory=bank_account.territory, execution_date=execution_date,
                            message_id=_placeholder(), xml=b"", xml_sha256="",
                            schema="pain.001.001.03", exported_by=actor)
        batch.save()
        batch.message_id = f"PZ-SCT-{batch.pk:08d}"
        party = sepa_xml.Party(bank_account.name, bank_account.iban, bank_account.bic)
        transfers = [sepa_xml.Transfer(p.end_to_end_id, p.amount_cents, p.payee.name, p.payee.iban, p.description,
                                       p.payee.bic) for p in payouts]
        try:
            xml = sepa_xml.build_pain001(party, transfers, execution_date=execution_date,
                                         message_id=batch.message_id, schema=batch.schema)
        except sepa_xml.SepaFileInvalid as error:
            raise _Refused(_("Il file pain.001 non supera la validazione XSD: %(e)s")
                           % {"e": "; ".join(error.errors[:3])}, "xsd_invalid") from error
        batch.xml = xml
        batch.xml_sha256 = CollectionBatch.digest(xml)
        batch.save()
        Payout.objects.filter(pk__in=[p.pk for p in payouts]).update(status=PayoutStatus.EXPORTED, batch=batch)
        record(action, actor=actor, obj=batch, territory=batch.territory, kind=AuditKind.EXPORT,
               data={"count": len(payouts), "sha256": batch.xml_sha256})
    return batch
