"""Matching statement lines to what they pay."""

from __future__ import annotations

import unicodedata
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from rapidfuzz import fuzz

from piazza.core.audit import record
from piazza.core.errors import Refused as _Refused
from piazza.core.errors import refuse
from piazza.core.errors import refusing as _refusing
from piazza.core.money import Money, format_money
from piazza.ledger.accounts import get_account
from piazza.ledger.actions import post_transaction
from piazza.ledger.models import Account, Cause
from piazza.payments.bank.models import (
    BankAccount,
    Collection,
    ExpectedTransfer,
    LineStatus,
    MatchKind,
    Payout,
    StatementLine,
    TransferStatus,
)
from piazza.payments.bank.queries import StatementLookups, difference_words
from piazza.payments.bank.references import reference_for
from piazza.payments.bank.statement_files import (
    CREDIT,
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
from .collections import record_return, settle_batch
from .payouts import confirm_payout

# --- expected transfers ---------------------------------------------------------------------


def expect_transfer(
    *,
    actor: Any,
    account: BankAccount,
    amount: Money,
    payer_name: str,
    description: str,
    credit_account: Account,
    creation_key: str,
    payer_email: str = "",
    payment: Any = None,
) -> ExpectedTransfer:
    """A transfer we wait for, with its RF reference (bank_transfer provider). Idempotent."""
    existing = ExpectedTransfer.objects.filter(creation_key=creation_key).first()
    if existing is not None:
        return existing
    if amount.cents <= 0 or amount.currency != "EUR":
        refuse(
            "bank.expect_transfer",
            _("Un bonifico atteso è in euro e maggiore di zero."),
            actor=actor,
            territory=account.territory,
            code="bad_amount",
            field="amount",
        )
    try:
        with transaction.atomic():
            expected = ExpectedTransfer.objects.create(
                reference=_placeholder(),
                account=account,
                territory=account.territory,
                amount_cents=amount.cents,
                currency=amount.currency,
                payer_name=payer_name.strip(),
                payer_email=payer_email,
                description=description[:140],
                credit_account=credit_account,
                creation_key=creation_key,
                payment=payment,
            )
            expected.reference = reference_for("PZ", expected.pk)
            expected.save(update_fields=["reference"])
            record(
                "bank.expect_transfer",
                actor=actor,
                obj=expected,
                territory=account.territory,
                data={"reference": expected.reference, "amount": amount.cents},
            )
    except IntegrityError:
        return ExpectedTransfer.objects.get(creation_key=creation_key)
    return expected


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
        status=LineStatus.REJECTED, reason=reason[:300]
    )
    line.status, line.reason = LineStatus.REJECTED, reason[:300]
    return line


def _is_return(line: StatementLine) -> bool:
    return bool(line.return_reason) or line.bank_transaction_code.endswith(("UPDD", "/RDDT"))


def _auto_match_debit(line: StatementLine, lookups: StatementLookups) -> StatementLine:
    if _is_return(line):
        collection = lookups.collection(line.end_to_end_id)
        if collection is None:
            return _queue(
                line,
                _(
                    "Storno di addebito SEPA (%(code)s) per un addebito che non risulta tra i nostri "
                    "(riferimento «%(ref)s»): cercalo per nome o importo e abbinalo, o verifica con "
                    "la banca."
                )
                % {"code": line.return_reason or "?", "ref": line.end_to_end_id or "-"},
            )
        return record_return(actor=None, line=line, collection=collection)
    payout = lookups.payout(line.end_to_end_id)
    if payout is not None:
        return confirm_payout(actor=None, line=line, payout=payout)
    if line.bank_transaction_code.endswith(("CHRG", "/FEES", "NCHG")):
        return book_bank_charge(actor=None, line=line)
    return _queue(
        line,
        _(
            "Uscita non riconosciuta: nessun versamento esportato con questo riferimento. Cercalo per "
            "beneficiario o importo e abbinalo, o scarta il movimento spiegando perché."
        ),
    )


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
            return _queue(
                line,
                _(
                    "Il riferimento %(ref)s non corrisponde a nessun bonifico atteso su questo conto: "
                    "abbina il movimento a mano o segnalalo."
                )
                % {"ref": line.creditor_reference},
            )
        if expected.status == TransferStatus.CANCELLED:
            return _queue(
                line, _("Il riferimento %(ref)s è di un bonifico atteso annullato.") % {"ref": line.creditor_reference}
            )
        return _book_transfer(line, expected, 100, lookups)
    scored = sorted(((score_candidate(line, c), c) for c in lookups.open_transfers()), key=lambda p: -p[0])
    threshold = setting("BANK_AUTO_MATCH_CONFIDENCE", 85)
    if scored:
        best_score, best = scored[0]
        runner_up = scored[1][0] if len(scored) > 1 else 0
        if best_score >= threshold and best_score - runner_up >= 15:
            return _book_transfer(line, best, best_score, lookups)
        if best_score >= 50:
            return _queue(
                line,
                _(
                    "Nessun riferimento: possibile corrispondenza con %(ref)s (%(name)s), affidabilità "
                    "%(score)s%%. Controlla e conferma."
                )
                % {"ref": best.reference, "name": best.payer_name, "score": best_score},
                confidence=best_score,
                suggestion=best,
            )
    return _queue(line, _("Nessun riferimento e nessun bonifico atteso con importo e nome compatibili."))


def _book_transfer(
    line: StatementLine, expected: ExpectedTransfer, confidence: int, lookups: StatementLookups
) -> StatementLine:
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


def apply_transfer(
    *,
    actor: Any,
    line: StatementLine,
    expected: ExpectedTransfer,
    confidence: int,
    manual: bool = False,
    difference: str = "",
) -> StatementLine:
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
            return _unmatched(
                manual, locked_line, _("Solo un'entrata può pagare un bonifico atteso."), "wrong_direction"
            )
        target = (
            ExpectedTransfer.objects.select_for_update(of=("self",))
            .select_related("credit_account")
            .get(pk=expected.pk)
        )
        if target.account_id != locked_line.account_id:
            return _unmatched(
                manual,
                locked_line,
                _("Il bonifico atteso %(ref)s è su un altro conto.") % {"ref": target.reference},
                "other_account",
            )
        if target.status == TransferStatus.CANCELLED:
            return _unmatched(
                manual,
                locked_line,
                _("Il bonifico atteso %(ref)s è annullato.") % {"ref": target.reference},
                "cancelled",
            )
        received = locked_line.amount_cents
        outstanding = target.outstanding_cents
        gap = outstanding - received
        if gap and not manual:
            if gap > 0:  # a short payment waits for a treasurer's decision
                return _queue(
                    locked_line,
                    _(
                        "Bonifico %(ref)s arrivato con %(got)s invece di %(want)s: %(words)s. Decidi se accettare "
                        "il pagamento ridotto, chiedere il resto o rifiutarlo."
                    )
                    % {
                        "ref": target.reference,
                        "got": format_money(Money(received)),
                        "want": format_money(Money(outstanding)),
                        "words": difference_words(received, outstanding),
                    },
                    confidence=confidence,
                    suggestion=target,
                )
            difference = Difference.ACCEPT  # an excess is set aside in bank_unallocated, as before
        if gap and difference not in (Difference.SHORT if gap > 0 else Difference.OVER):
            raise _Refused(
                _(
                    "Il movimento (%(got)s) non corrisponde a quanto atteso per %(ref)s (%(want)s): "
                    "%(words)s. Scegli cosa fare della differenza e conferma."
                )
                % {
                    "got": format_money(Money(received)),
                    "ref": target.reference,
                    "want": format_money(Money(outstanding)),
                    "words": difference_words(received, outstanding),
                },
                "difference_undecided",
                field="difference",
            )
        if gap and difference == Difference.REFUSE:
            reason = _(
                "Importo diverso da quanto atteso per %(ref)s (%(words)s): rifiutato, da restituire a chi ha pagato."
            ) % {"ref": target.reference, "words": difference_words(received, outstanding)}
            _reject(locked_line, reason)
            StatementLine.objects.filter(pk=locked_line.pk).update(matched_by=actor, matched_at=timezone.now())
            record(
                action,
                actor=actor,
                obj=locked_line,
                territory=locked_line.territory,
                data={"transfer": target.reference, "difference": difference, "gap": gap},
            )
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
        post_transaction(
            actor=actor,
            cause=_receipt_cause(target.credit_account),
            memo=f"Bonifico {target.reference} {target.payer_name}",
            entries=entries,
            idempotency_key=f"bank:line:{locked_line.pk}",
            about=target,
            audit=False,
        )
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
                "words": difference_words(received, outstanding)
            }
        _mark_matched(locked_line, actor, MatchKind.TRANSFER, reason, confidence, transfer=target)
        _settle_payment_on_commit(target.payment_id)
        record(
            action,
            actor=actor,
            obj=locked_line,
            territory=locked_line.territory,
            data={
                "transfer": target.reference,
                "confidence": confidence,
                "status": target.status,
                **({"difference": difference, "gap": gap} if gap else {}),
            },
        )
    return locked_line


def match_line(*, actor: Any, line: StatementLine, transfer: ExpectedTransfer, difference: str = "") -> StatementLine:
    """A treasurer's manual match; two treasurers at once → one wins, the other is told.
    A different amount needs `difference` (see `Difference`), else it is refused."""
    _require_treasury("bank.match_transfer", actor, line.territory)
    return apply_transfer(actor=actor, line=line, expected=transfer, confidence=100, manual=True, difference=difference)


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
        refuse(
            action,
            _("Scrivi perché il movimento viene scartato."),
            actor=actor,
            territory=line.territory,
            code="required",
            field="reason",
        )
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
        post_transaction(
            actor=actor,
            cause=Cause.FEE,
            memo=f"Commissioni bancarie {locked.booking_date}",
            entries=[
                (charges, Money(locked.amount_cents, locked.currency)),
                (_bank_ledger(locked.account), Money(-locked.amount_cents, locked.currency)),
            ],
            idempotency_key=f"bank:line:{locked.pk}",
            about=locked,
            audit=False,
        )
        _mark_matched(locked, actor, MatchKind.BANK_FEE, _("Commissioni bancarie registrate."), 100)
        record("bank.book_charge", actor=actor, obj=locked, territory=locked.territory)
    return locked
