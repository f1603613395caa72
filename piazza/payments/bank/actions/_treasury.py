"""The treasury account, bank settings and the refusal helpers shared by every bank topic."""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.utils.translation import gettext as _

from piazza.core.errors import refuse
from piazza.ledger.models import Account
from piazza.payments.bank.models import (
    BankAccount,
)
from piazza.territory.models import Role, Territory
from piazza.territory.scoping import has_role_at

TREASURY = {Role.TREASURY}


def setting(name: str, default: int) -> int:
    """Configurable parameters of the rails (issue 5: never constants)."""
    return int(getattr(settings, name, default))


def _require_treasury(action: str, actor: Any, territory: Territory) -> None:
    """Officials act only within their subtree; system actors (None: tasks, commands) pass."""
    if actor is None:
        return
    if not has_role_at(actor, territory, TREASURY):
        refuse(
            action,
            _("Non hai il ruolo di tesoreria su %(t)s.") % {"t": territory},
            actor=actor,
            territory=territory,
            code="out_of_scope",
            permission=True,
        )


def _placeholder() -> str:
    """A unique stand-in until the row has its primary key and its real, readable identifier."""
    return f"tmp{uuid.uuid4().hex[:20]}"


def _bank_ledger(account: BankAccount) -> Account:
    return account.ledger_account
