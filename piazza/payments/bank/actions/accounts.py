"""Bank accounts and payees."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _
from stdnum.eu import at_02

from piazza.core.audit import record
from piazza.core.errors import refuse
from piazza.ledger.accounts import get_account
from piazza.payments.bank.iban import bic_for, mask_iban, normalize_iban
from piazza.payments.bank.models import (
    BankAccount,
    Payee,
)
from piazza.territory.models import Territory

from ._treasury import _require_treasury

# --- bank accounts and payees ---------------------------------------------------------------


def register_bank_account(
    *,
    actor: Any,
    territory: Territory,
    name: str,
    iban: str,
    bic: str = "",
    creditor_id: str = "",
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
        refuse(
            action,
            _(
                "L'identificativo creditore SEPA %(ci)s non è valido: controlla le cifre di controllo "
                "(es. IT66ZZZ seguito dal codice fiscale dell'ente)."
            )
            % {"ci": creditor_id},
            actor=actor,
            territory=territory,
            code="bad_creditor_id",
            field="creditor_id",
        )
    if BankAccount.objects.filter(iban=iban).exists():
        refuse(
            action,
            _("Il conto %(iban)s è già registrato.") % {"iban": iban},
            actor=actor,
            territory=territory,
            code="duplicate",
            field="iban",
        )
    with transaction.atomic():
        ledger = get_account("bank", territory=territory, key=iban, name=f"{name} · {iban}")
        account = BankAccount.objects.create(
            territory=territory,
            name=name.strip(),
            iban=iban,
            bic=bic or bic_for(iban),
            creditor_id=creditor_id,
            prenotification_days=prenotification_days,
            ledger_account=ledger,
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
        refuse(
            action,
            _("Indica il nome del beneficiario."),
            actor=actor,
            territory=territory,
            code="required",
            field="name",
        )
    with transaction.atomic():
        payee = Payee.objects.create(
            territory=territory, name=name.strip(), iban=iban, bic=bic or bic_for(iban), registered_by=actor
        )
        record(action, actor=actor, obj=payee, territory=territory, data={"iban": mask_iban(iban)})
    return payee
