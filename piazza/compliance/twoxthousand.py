"""Rule F9: the 2×1000. Taxpayers direct 0.2% of their income tax to the party; the party gets
the money and, at most, the number of choices the Agenzia delle Entrate publishes — never who.

The national treasurer enters the aggregate amount per tax year. It is booked as income of the
national level: Dr «2×1000 da incassare» (debit-normal, settled when the bank statement shows
the transfer) / Cr the national territory's funds under the key `two_per_thousand`. One entry in
force per year; entering the same figures again changes nothing (idempotent); different figures
are a correction: the entry in force is reversed in the ledger and a new entry booked, never
edited.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from piazza.compliance.models import TwoPerThousandEntry
from piazza.core.audit import Actor, acting_user, record
from piazza.core.errors import refuse
from piazza.core.money import Money, format_eur
from piazza.ledger.accounts import get_account
from piazza.ledger.actions import post_transaction, reverse_transaction
from piazza.ledger.models import Cause
from piazza.territory.models import Level, Role, Territory
from piazza.territory.scoping import has_role_at

RECEIVABLE_KIND = "two_per_thousand_receivable"
INCOME_KEY = "two_per_thousand"
ENTER_ROLES = {Role.TREASURY}
# The 2×1000 exists since the 2014 tax year (DL 149/2013).
FIRST_YEAR = 2014


@dataclass(frozen=True)
class YearTotal:
    """What the public portal shows per year: the amount in force and the published count."""

    year: int
    amount_cents: int
    choices: int | None
    received_on: dt.date
    updated_at: dt.datetime


def two_per_thousand_by_year() -> list[YearTotal]:
    """The 2×1000 in force per tax year, newest first: aggregates only (F9), safe to publish."""
    return [
        YearTotal(e.year, e.amount_cents, e.choices, e.received_on, e.created_at)
        for e in TwoPerThousandEntry.objects.filter(in_force=True).order_by("-year")
    ]


def in_force(year: int) -> TwoPerThousandEntry | None:
    return TwoPerThousandEntry.objects.filter(year=year, in_force=True).first()


def _national() -> Territory:
    return Territory.objects.get(level=Level.NATIONAL)


def record_two_per_thousand(
    *,
    actor: Actor,
    year: int,
    amount: Money,
    received_on: dt.date,
    choices: int | None = None,
    note: str = "",
) -> TwoPerThousandEntry:
    """Enter (or correct) the 2×1000 received for tax `year`. Only the national treasury."""
    action = "compliance.record_two_per_thousand"
    national = _national()
    if not has_role_at(actor, national, ENTER_ROLES):
        refuse(
            action,
            _("Solo la tesoreria nazionale registra il 2×1000."),
            actor=actor,
            territory=national,
            code="out_of_scope",
            permission=True,
        )
    today = timezone.localdate()
    if not FIRST_YEAR <= year <= today.year:
        refuse(
            action,
            _("Indica un anno d'imposta tra il %(first)d e il %(last)d.") % {"first": FIRST_YEAR, "last": today.year},
            actor=actor,
            territory=national,
            code="year",
            field="year",
        )
    if amount.cents <= 0:
        refuse(
            action,
            _("L'importo deve essere maggiore di zero."),
            actor=actor,
            territory=national,
            code="amount",
            field="amount",
        )
    if choices is not None and choices <= 0:
        refuse(
            action,
            _("Il numero di scelte, se pubblicato, è maggiore di zero; altrimenti lascia vuoto."),
            actor=actor,
            territory=national,
            code="choices",
            field="choices",
        )
    if received_on > today:
        refuse(
            action,
            _("La data di accredito non può essere nel futuro."),
            actor=actor,
            territory=national,
            code="received_on",
            field="received_on",
        )
    with transaction.atomic():
        previous = TwoPerThousandEntry.objects.select_for_update().filter(year=year, in_force=True).first()
        if (
            previous is not None
            and previous.amount_cents == amount.cents
            and previous.choices == choices
            and previous.received_on == received_on
        ):
            return previous  # the same figures again: nothing to book
        if previous is not None:
            previous.in_force = False
            previous.save(update_fields=["in_force"])
        entry = TwoPerThousandEntry.objects.create(
            year=year,
            amount_cents=amount.cents,
            choices=choices,
            received_on=received_on,
            note=note.strip()[:300],
            entered_by=acting_user(actor),
        )
        if previous is not None:
            assert previous.ledger_transaction is not None
            previous.reversal_transaction = reverse_transaction(
                actor=actor,
                original=previous.ledger_transaction,
                memo=f"Storno 2x1000 {year} (rettificato)",
                idempotency_key=f"two_per_thousand:reversal:{previous.pk}",
                audit=False,
            )
            previous.superseded_by = entry
            previous.save(update_fields=["reversal_transaction", "superseded_by"])
        receivable = get_account(RECEIVABLE_KIND, territory=national)
        income = get_account("territory", territory=national, key=INCOME_KEY)
        entry.ledger_transaction = post_transaction(
            actor=actor,
            cause=Cause.PAYMENT,
            memo=f"2x1000 anno {year}",
            entries=[(receivable, amount), (income, -amount)],
            idempotency_key=f"two_per_thousand:{entry.pk}",
            about=entry,
            audit=False,
        )
        entry.save(update_fields=["ledger_transaction"])
        record(
            action,
            actor=actor,
            obj=entry,
            territory=national,
            data={
                "year": year,
                "amount_cents": amount.cents,
                "choices": choices,
                "corrects": previous.pk if previous is not None else None,
                "previous_amount_cents": previous.amount_cents if previous is not None else None,
            },
        )
    return entry


def describe(entry: TwoPerThousandEntry) -> str:
    return _("%(year)d: %(amount)s") % {"year": entry.year, "amount": format_eur(entry.amount_cents)}
