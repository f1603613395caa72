"""Find or open ledger accounts. Opening an account is idempotent and race-safe."""

from __future__ import annotations

import copy

from django.contrib.contenttypes.models import ContentType
from django.db import IntegrityError, models, transaction
from django.db.models.signals import post_migrate

from piazza.core.money import DEFAULT_CURRENCY
from piazza.ledger.kinds import get_kind, key_label
from piazza.ledger.models import Account, BalanceSlot

# Accounts never change once opened (kind, owner, currency, slots are fixed; nothing renames or
# deletes them): each process remembers the ones it has seen committed, so a donation's booking
# does not read the same four rows every time (issue 14, P4).
_KNOWN: dict[str, Account] = {}


def forget_accounts(**kwargs: object) -> None:
    """Drop the process cache (a flushed or re-migrated database, e.g. between tests)."""
    _KNOWN.clear()


post_migrate.connect(forget_accounts, dispatch_uid="piazza.ledger.forget_accounts")


def _remember(account: Account) -> None:
    # Only once committed: an account opened in a transaction that rolls back must not be kept.
    transaction.on_commit(lambda: _KNOWN.setdefault(account.identity, copy.copy(account)))


def _default_name(kind: str, key: str, owner: models.Model | None, territory: models.Model | None) -> str:
    parts = [str(get_kind(kind).label)]
    if key:
        parts.append(key_label(key))
    if owner is not None:
        parts.append(str(owner))
    elif territory is not None:
        parts.append(str(territory))
    return " · ".join(parts)[:200]


def get_account(
    kind: str,
    owner: models.Model | None = None,
    territory: models.Model | None = None,
    currency: str = DEFAULT_CURRENCY,
    *,
    key: str = "",
    name: str = "",
) -> Account:
    """The account of `kind` for (`owner`, `territory`, `currency`, `key`), opened on first use.

    `owner` is any saved model instance (stored as a generic reference); `territory` scopes who
    may see the account; `key` separates owner-less accounts of one kind (e.g. one clearing
    account per provider: `get_account("provider_clearing", key="stripe")`).
    """
    get_kind(kind)  # unknown kinds fail loudly
    owner_type_id: int | None = None
    owner_id = ""
    if owner is not None:
        if owner.pk is None:
            raise ValueError("the owner of a ledger account must be saved first")
        owner_type_id = ContentType.objects.get_for_model(owner).pk
        owner_id = str(owner.pk)
    territory_id = territory.pk if territory is not None else None
    identity = Account.make_identity(kind, key, owner_type_id, owner_id, territory_id, currency)
    known = _KNOWN.get(identity)
    if known is not None:
        return copy.copy(known)
    account = Account.objects.filter(identity=identity).first()
    if account is not None:
        _remember(account)
        return account
    try:
        with transaction.atomic():
            account = Account.objects.create(
                kind=kind,
                key=key,
                owner_type_id=owner_type_id,
                owner_id=owner_id,
                territory_id=territory_id,
                currency=currency,
                identity=identity,
                name=name or _default_name(kind, key, owner, territory),
            )
            BalanceSlot.objects.bulk_create([BalanceSlot(account=account, slot=i) for i in range(account.slots)])
    except IntegrityError:
        # Another process opened it at the same moment: use theirs.
        return Account.objects.get(identity=identity)
    _remember(account)
    return account


def accounts_owned_by(owner: models.Model) -> models.QuerySet[Account]:
    return Account.objects.filter(owner_type=ContentType.objects.get_for_model(owner), owner_id=str(owner.pk))
