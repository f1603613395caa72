"""Statement-line states shared by the import and the matching: locks, queue, matched marks, settlement."""

from __future__ import annotations

from typing import Any

from django.utils import timezone
from django.utils.translation import gettext as _

from piazza.core.errors import Refused as _Refused
from piazza.core.tasks import enqueue_on_commit
from piazza.ledger.models import Account, Cause
from piazza.payments.bank.models import (
    ExpectedTransfer,
    LineStatus,
    StatementLine,
)


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


def _queue(
    line: StatementLine, reason: str, *, confidence: int = 0, suggestion: ExpectedTransfer | None = None
) -> StatementLine:
    """Leave the line for a treasurer, saying why (written only when the why changed)."""
    reason = reason[:300]
    if (line.reason, line.confidence, line.suggestion_id) != (reason, confidence, getattr(suggestion, "pk", None)):
        StatementLine.objects.filter(pk=line.pk, status=LineStatus.QUEUED).update(
            reason=reason, confidence=confidence, suggestion=suggestion
        )
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
