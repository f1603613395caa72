"""Refusals that users can act on (convention 15): one place to raise them and log the attempt."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction

from piazza.core.audit import Actor, HasTerritory, record
from piazza.core.models import AuditKind

log = logging.getLogger(__name__)

# How many `refusing()` blocks are open: a refusal inside a transaction travels to the outermost.
_refusing_depth: ContextVar[int] = ContextVar("refusing_depth", default=0)
# Set by `caller_records_refusals()`: the caller catches the refusal and writes its own entry.
_caller_records: ContextVar[bool] = ContextVar("caller_records_refusals", default=False)


class RefusalInsideTransaction(RuntimeError):
    """`refuse()` was called inside a caller's atomic block: the rollback would delete its audit entry."""


def inside_callers_transaction(using: str | None = None) -> bool:
    """True inside an atomic block the caller opened (a test's own wrapping blocks do not count).

    The same test Django's `atomic(durable=True)` makes: pytest-django and TestCase mark the
    blocks they wrap each test in with `_from_testcase`, so the check holds in tests too.
    """
    blocks = transaction.get_connection(using).atomic_blocks
    return bool(blocks) and not getattr(blocks[-1], "_from_testcase", False)


def refuse(
    action: str,
    message: Any,
    *,
    actor: Actor,
    territory: HasTerritory | None = None,
    code: str = "invalid",
    field: str | None = None,
    permission: bool = False,
    rule: str = "",
) -> None:
    """Log a refused attempt in the audit log (outside any rolled-back work) and raise.

    `permission=True` raises PermissionDenied (HTTP 403); otherwise a ValidationError whose
    message is shown in the form, optionally attached to `field`. `rule` (a DOMAIN.md id such as
    "M17") goes into the audit detail only: people read the message, never the rule id.

    The entry must outlive the caller's rollback (issue 11, item 23). Outside any atomic block
    it is written at once. Inside one that a `refusing()` wraps (an action calling another, or a
    check under a row lock), the refusal is raised as `Refused` and written by that `refusing()`
    once every block has rolled back. Inside a block nobody wraps, it raises
    `RefusalInsideTransaction` outside production (tests fail loudly), and in production logs
    an error and goes on (the user still gets the refusal; the entry may be lost).
    """
    if _caller_records.get():
        pass  # the caller catches the ValidationError and records the refusal in its own transaction
    elif inside_callers_transaction() and _refusing_depth.get():
        refused = Refused(message, code, field=field, permission=permission, rule=rule)
        refused.action, refused.actor, refused.territory = action, actor, territory
        raise refused
    elif inside_callers_transaction():
        problem = (
            f"refuse({action!r}, code={code!r}) called inside an atomic block: its audit entry would be rolled back"
        )
        if not getattr(settings, "PRODUCTION", False):
            raise RefusalInsideTransaction(problem)
        log.error(problem)
    with transaction.atomic():
        record(
            action,
            actor=actor,
            territory=territory,
            kind=AuditKind.DENIED,
            data={"reason": str(message), "code": code, **({"rule": rule} if rule else {})},
        )
    if permission:
        raise PermissionDenied(message)
    if field:
        raise ValidationError({field: ValidationError(message, code=code)})
    raise ValidationError(message, code=code)


class Refused(Exception):
    """Raised inside an action's transaction; `refusing()` around the block turns it into
    `refuse()` once the transaction has rolled back, so the refused attempt stays in the audit log."""

    def __init__(
        self, message: Any, code: str, *, field: str | None = None, permission: bool = False, rule: str = ""
    ) -> None:
        super().__init__(str(message))
        self.message, self.code, self.field, self.permission = message, code, field, permission
        self.rule = rule
        self.action: str | None = None
        self.actor: Actor = None
        self.territory: HasTerritory | None = None


@contextmanager
def refusing(action: str, actor: Actor, territory: HasTerritory | None = None) -> Iterator[None]:
    """`with refusing(action, actor, territory), transaction.atomic(): ... raise Refused(...)`.

    The innermost `refusing` names the action; when it is itself inside a caller's transaction
    (an action called by another action), the refusal travels on to the caller's own
    `refusing`, outside every block, and is audited there under the inner action's name.
    """
    opened = _refusing_depth.set(_refusing_depth.get() + 1)
    token: Token[int] | None = opened
    try:
        yield
    except Refused as refused:
        _refusing_depth.reset(opened)
        token = None
        if refused.action is None:
            refused.action, refused.actor, refused.territory = action, actor, territory
        if inside_callers_transaction() and _refusing_depth.get() and not _caller_records.get():
            raise  # an outer refusing() writes it once its blocks have rolled back
        refuse(
            refused.action,
            refused.message,
            actor=refused.actor,
            territory=refused.territory,
            code=refused.code,
            field=refused.field,
            permission=refused.permission,
            rule=refused.rule,
        )
    finally:
        if token is not None:
            _refusing_depth.reset(token)


@contextmanager
def caller_records_refusals() -> Iterator[None]:
    """For a caller inside a transaction that catches a nested action's refusal and writes its
    own audit entry that commits with its work (e.g. money that cannot become a membership):
    `refuse()` then raises the plain ValidationError and the nested entry may be rolled back."""
    token = _caller_records.set(True)
    try:
        yield
    finally:
        _caller_records.reset(token)
