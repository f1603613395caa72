"""Append-only double-entry ledger (ARCHITECTURE conventions 8 and 9).

- `Account`: one pot of money of one kind (see `kinds.py`), optionally owned by any model
  through a generic reference (a territory, a campaign, a mandatario…) — never a foreign key
  into a higher app — and hanging below a territory for scoping.
- `LedgerTransaction`: a group of `Entry` rows summing to zero, linked to its cause and actor,
  unique by idempotency key. Both tables are append-only (triggers on PostgreSQL and SQLite);
  corrections are reversal transactions.
- `BalanceSlot`: each account's balance is spread over a few counter rows; a posting updates
  one randomly chosen slot, so many concurrent donations to one campaign do not queue on a
  single hot row (convention 9). The balance is the sum of the slots; `check_ledger` proves
  it equals the sum of the entries.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from piazza.core.money import AmountCentsField, CurrencyField, Money, MoneyProperty
from piazza.ledger.kinds import get_kind
from piazza.territory.scoping import ScopedQuerySet

DEFAULT_SLOTS = 8


class AccountQuerySet(ScopedQuerySet["Account"]):
    scope_path_field = "territory__path"


class Account(models.Model):
    kind = models.CharField(_("tipo"), max_length=40, db_index=True)
    key = models.CharField(
        max_length=60,
        blank=True,
        help_text=_("Distingue conti dello stesso tipo senza proprietario, es. il circuito 'stripe'."),
    )
    owner_type = models.ForeignKey(ContentType, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    owner_id = models.CharField(max_length=64, blank=True)
    territory = models.ForeignKey(
        "territory.Territory", null=True, blank=True, on_delete=models.PROTECT, related_name="ledger_accounts"
    )
    currency = CurrencyField()
    name = models.CharField(_("nome"), max_length=200)
    identity = models.CharField(max_length=255, unique=True, editable=False)
    slots = models.PositiveSmallIntegerField(default=DEFAULT_SLOTS, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    objects = AccountQuerySet.as_manager()

    class Meta:
        ordering = ["kind", "name"]
        verbose_name = _("conto")
        verbose_name_plural = _("conti")
        indexes = [models.Index(fields=["owner_type", "owner_id"])]

    def __str__(self) -> str:
        return self.name

    @property
    def normal(self) -> str:
        return get_kind(self.kind).normal

    @staticmethod
    def make_identity(
        kind: str, key: str, owner_type_id: int | None, owner_id: str, territory_id: int | None, currency: str
    ) -> str:
        return f"{kind}|{key}|{owner_type_id or ''}:{owner_id}|{territory_id or ''}|{currency}"


class Cause(models.TextChoices):
    PAYMENT = "payment", _("Pagamento")
    FEE = "fee", _("Commissione")
    REFUND = "refund", _("Rimborso")
    DISPUTE = "dispute", _("Contestazione")
    DISPUTE_WON = "dispute_won", _("Contestazione vinta")
    PAYOUT = "payout", _("Versamento")
    TRANSFER = "transfer", _("Giroconto")
    ADJUSTMENT = "adjustment", _("Rettifica")
    REVERSAL = "reversal", _("Storno")


class AppendOnlyModel(models.Model):
    """Python-side guard; the database triggers are the real enforcement."""

    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise PermissionDenied(f"{type(self).__name__} rows are append-only")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise PermissionDenied(f"{type(self).__name__} rows are append-only; post a reversal instead")


class LedgerTransaction(AppendOnlyModel):
    cause = models.CharField(_("causa"), max_length=20, choices=Cause.choices)
    about_type = models.ForeignKey(ContentType, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    about_id = models.CharField(max_length=64, blank=True)
    memo = models.CharField(_("descrizione"), max_length=255)
    idempotency_key = models.CharField(max_length=200, unique=True)
    reverses = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="reversals")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    actor_label = models.CharField(max_length=150, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("movimento contabile")
        verbose_name_plural = _("movimenti contabili")
        indexes = [models.Index(fields=["about_type", "about_id"])]

    def __str__(self) -> str:
        return f"#{self.pk} {self.get_cause_display()}: {self.memo}"


class Entry(AppendOnlyModel):
    transaction = models.ForeignKey(LedgerTransaction, on_delete=models.PROTECT, related_name="entries")
    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="entries")
    amount_cents = AmountCentsField(help_text=_("Positivo = dare (addebito), negativo = avere (accredito)."))
    currency = CurrencyField()
    created_at = models.DateTimeField(default=timezone.now)

    amount = MoneyProperty("amount_cents", "currency")

    class Meta:
        verbose_name = _("scrittura")
        verbose_name_plural = _("scritture")
        indexes = [models.Index(fields=["account", "created_at"])]
        constraints = [models.CheckConstraint(condition=~models.Q(amount_cents=0), name="ledger_entry_nonzero")]

    def __str__(self) -> str:
        return f"{self.account}: {Money(self.amount_cents, self.currency)}"


class BalanceSlot(models.Model):
    """One of an account's counter rows; balance = sum over the account's slots."""

    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="balance_slots")
    slot = models.PositiveSmallIntegerField()
    balance_cents = models.BigIntegerField(default=0)
    entry_count = models.BigIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["account", "slot"], name="ledger_balance_slot_unique")]

    def __str__(self) -> str:
        return f"{self.account_id}[{self.slot}] = {self.balance_cents}"
