"""Payouts from the treasury."""

from __future__ import annotations

import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from piazza.core.audit import record
from piazza.core.errors import Refused as _Refused
from piazza.core.errors import refuse
from piazza.core.errors import refusing as _refusing
from piazza.core.models import AuditKind
from piazza.core.money import Money, format_money
from piazza.ledger.accounts import get_account
from piazza.ledger.actions import post_transaction
from piazza.ledger.models import Account, Cause
from piazza.ledger.queries import balance
from piazza.payments.bank import sepa_xml
from piazza.payments.bank.models import (
    BankAccount,
    CollectionBatch,
    LineStatus,
    MatchKind,
    Payee,
    Payout,
    PayoutBatch,
    PayoutStatus,
    StatementLine,
)
from piazza.payments.bank.statement_files import (
    DEBIT,
)
from piazza.territory.models import Territory

from ._lines import _already_matched, _lock_line, _mark_matched, _unmatched
from ._treasury import _bank_ledger, _placeholder, _require_treasury


def confirm_payout(*, actor: Any, line: StatementLine, payout: Payout, manual: bool = False) -> StatementLine:
    """The payout left the bank: Dr payouts_approved / Cr bank, the payout is confirmed."""
    action = "bank.confirm_payout"
    with _refusing(action, actor, line.territory), transaction.atomic():
        locked_line = _lock_line(line)
        if locked_line.status != LineStatus.QUEUED:
            if manual:
                raise _already_matched(locked_line)
            return locked_line
        locked = (
            Payout.objects.select_for_update(of=("self",)).select_related("bank_account__territory").get(pk=payout.pk)
        )
        if locked_line.direction != DEBIT or locked.bank_account_id != locked_line.account_id:
            return _unmatched(
                manual,
                locked_line,
                _("Il versamento %(e2e)s esce da un altro conto o questo movimento non è un'uscita.")
                % {"e2e": locked.end_to_end_id},
                "other_account",
            )
        if locked.status != PayoutStatus.EXPORTED or locked.amount_cents != locked_line.amount_cents:
            return _unmatched(
                manual,
                locked_line,
                _(
                    "Uscita di %(got)s per il versamento %(e2e)s di %(want)s "
                    "(«%(status)s»): importo o stato non corrispondono, verifica."
                )
                % {
                    "got": format_money(Money(locked_line.amount_cents)),
                    "e2e": locked.end_to_end_id,
                    "want": format_money(locked.amount),
                    "status": locked.get_status_display(),
                },
                "payout_mismatch",
            )
        pending = get_account("payouts_approved", territory=locked.bank_account.territory)
        post_transaction(
            actor=actor,
            cause=Cause.PAYOUT,
            memo=f"Versamento {locked.end_to_end_id} eseguito",
            entries=[(pending, locked.amount), (_bank_ledger(locked_line.account), -locked.amount)],
            idempotency_key=f"bank:payout:{locked.pk}:confirm",
            about=locked,
            audit=False,
        )
        locked.status = PayoutStatus.CONFIRMED
        locked.save(update_fields=["status"])
        _mark_matched(locked_line, actor, MatchKind.PAYOUT, _("Versamento eseguito dalla banca."), 100, payout=locked)
        record(
            action, actor=actor, obj=locked, territory=locked.territory, data={"line": locked_line.pk, "manual": manual}
        )
    return locked_line


# --- payouts --------------------------------------------------------------------------------


def _available(source: Account) -> Money:
    return balance(source)


def request_payout(
    *,
    actor: Any,
    source_account: Account,
    bank_account: BankAccount,
    payee: Payee,
    amount: Money,
    description: str,
) -> Payout:
    action = "bank.request_payout"
    territory = bank_account.territory
    _require_treasury(action, actor, territory)
    if (
        source_account.territory_id is None
        or not Territory.objects.filter(pk=source_account.territory_id, path__startswith=territory.path).exists()
    ):
        refuse(
            action,
            _("Il conto di partenza non appartiene a %(t)s.") % {"t": territory},
            actor=actor,
            territory=territory,
            code="out_of_scope",
            field="source_account",
        )
    if not payee.territory.path.startswith(territory.path):
        refuse(
            action,
            _(
                "%(payee)s è registrato per %(pt)s, fuori da %(t)s (titolare del conto): si paga solo un "
                "beneficiario registrato per %(t)s o per una struttura che ne fa parte. Registralo qui, "
                "se è il caso."
            )
            % {"payee": payee.name, "pt": payee.territory, "t": territory},
            actor=actor,
            territory=territory,
            code="payee_out_of_scope",
            field="payee",
        )
    if amount.cents <= 0:
        refuse(
            action,
            _("L'importo deve essere maggiore di zero."),
            actor=actor,
            territory=territory,
            code="bad_amount",
            field="amount",
        )
    available = _available(source_account)
    if amount > available:
        refuse(
            action,
            _(
                "%(amount)s supera il saldo disponibile di %(account)s (%(available)s): nessun versamento "
                "è stato richiesto."
            )
            % {"amount": format_money(amount), "account": source_account, "available": format_money(available)},
            actor=actor,
            territory=territory,
            code="insufficient_balance",
            field="amount",
        )
    with transaction.atomic():
        payout = Payout.objects.create(
            source_account=source_account,
            bank_account=bank_account,
            payee=payee,
            territory=territory,
            amount_cents=amount.cents,
            currency=amount.currency,
            description=description[:140],
            end_to_end_id=_placeholder(),
            requested_by=actor,
        )
        payout.end_to_end_id = f"PZ-PO-{payout.pk:010d}"
        payout.save(update_fields=["end_to_end_id"])
        record(action, actor=actor, obj=payout, territory=territory, data={"amount": amount.cents, "payee": payee.name})
    return payout


def approve_payout(*, actor: Any, payout: Payout) -> Payout:
    """The second treasurer approves: never the requester (four eyes). The money is set aside
    at once (Dr source / Cr payouts_approved) under a lock on the source account."""
    action = "bank.approve_payout"
    _require_treasury(action, actor, payout.territory)
    if actor is None or actor.pk == payout.requested_by_id:
        refuse(
            action,
            _("Hai chiesto tu questo versamento: deve approvarlo un altro tesoriere (regola dei quattro occhi)."),
            actor=actor,
            territory=payout.territory,
            code="four_eyes",
            permission=True,
        )
    with _refusing(action, actor, payout.territory), transaction.atomic():
        locked = Payout.objects.select_for_update().get(pk=payout.pk)
        if locked.status != PayoutStatus.REQUESTED:
            raise _Refused(_("Il versamento è già «%(s)s».") % {"s": locked.get_status_display()}, "not_requested")
        Account.objects.select_for_update().get(pk=locked.source_account_id)  # serialise approvals per account
        available = _available(locked.source_account)
        if locked.amount > available:
            raise _Refused(
                _(
                    "%(amount)s supera il saldo disponibile di %(account)s (%(available)s): il versamento "
                    "non può essere approvato."
                )
                % {
                    "amount": format_money(locked.amount),
                    "account": locked.source_account,
                    "available": format_money(available),
                },
                "insufficient_balance",
            )
        pending = get_account("payouts_approved", territory=locked.bank_account.territory)
        locked.reserve_transaction = post_transaction(
            actor=actor,
            cause=Cause.PAYOUT,
            memo=f"Versamento {locked.end_to_end_id} a {locked.payee.name}",
            entries=[(locked.source_account, locked.amount), (pending, -locked.amount)],
            idempotency_key=f"bank:payout:{locked.pk}:approve",
            about=locked,
            audit=False,
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
        refuse(
            action,
            _("La data di esecuzione non può essere nel passato."),
            actor=actor,
            territory=bank_account.territory,
            code="past_date",
            field="execution_date",
        )
    with _refusing(action, actor, bank_account.territory), transaction.atomic():
        payouts = list(
            Payout.objects.select_for_update()
            .filter(bank_account=bank_account, status=PayoutStatus.APPROVED)
            .select_related("payee")
            .order_by("id")
        )
        if not payouts:
            raise _Refused(_("Non ci sono versamenti approvati da esportare."), "empty_batch")
        batch = PayoutBatch(
            account=bank_account,
            territory=bank_account.territory,
            execution_date=execution_date,
            message_id=_placeholder(),
            xml=b"",
            xml_sha256="",
            schema="pain.001.001.03",
            exported_by=actor,
        )
        batch.save()
        batch.message_id = f"PZ-SCT-{batch.pk:08d}"
        party = sepa_xml.Party(bank_account.name, bank_account.iban, bank_account.bic)
        transfers = [
            sepa_xml.Transfer(p.end_to_end_id, p.amount_cents, p.payee.name, p.payee.iban, p.description, p.payee.bic)
            for p in payouts
        ]
        try:
            xml = sepa_xml.build_pain001(
                party, transfers, execution_date=execution_date, message_id=batch.message_id, schema=batch.schema
            )
        except sepa_xml.SepaFileInvalid as error:
            raise _Refused(
                _("Il file pain.001 non supera la validazione XSD: %(e)s") % {"e": "; ".join(error.errors[:3])},
                "xsd_invalid",
            ) from error
        batch.xml = xml
        batch.xml_sha256 = CollectionBatch.digest(xml)
        batch.save()
        Payout.objects.filter(pk__in=[p.pk for p in payouts]).update(status=PayoutStatus.EXPORTED, batch=batch)
        record(
            action,
            actor=actor,
            obj=batch,
            territory=batch.territory,
            kind=AuditKind.EXPORT,
            data={"count": len(payouts), "sha256": batch.xml_sha256},
        )
    return batch
