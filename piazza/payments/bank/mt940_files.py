"""SWIFT MT940 statements, for banks that offer nothing else, read with the `mt-940` library
and turned into the same lines as CAMT. MT940 carries no structured party fields: names come
from the common "/NAME/" sub-field of :86: when present, references are searched in the text.
"""

from __future__ import annotations

import datetime
import io
import re
from decimal import Decimal
from typing import Any

import mt940
from django.utils.translation import gettext as _

from piazza.payments.bank.statement_files import (
    BOOKED,
    CREDIT,
    DEBIT,
    ParsedFile,
    ParsedStatement,
    StatementFileError,
    StatementLine,
    _with_reference,
    check_balances,
    with_fingerprints,
)

_NAME = re.compile(r"/NAME/([^/]+)")
_REMITTANCE = re.compile(r"/REMI/(.+?)(?:/[A-Z]{4}/|$)")
_IBAN = re.compile(r"/IBAN/([A-Z]{2}\d{2}[A-Z0-9]{10,30})")


def _cents(amount: Any) -> int:
    value = Decimal(str(amount.amount))
    return abs(int(value * 100))


def _balance(balance: Any) -> int | None:
    if balance is None:
        return None
    return int(Decimal(str(balance.amount.amount)) * 100)


def _date(value: Any) -> datetime.date | None:
    return datetime.date(value.year, value.month, value.day) if value else None


def parse_mt940(data: bytes) -> ParsedFile:
    try:
        blocks = mt940.parse_statements(io.BytesIO(data))
    except Exception as error:  # the library raises assorted errors on malformed input
        raise StatementFileError(
            _("Il file MT940 non è leggibile (%(error)s): scaricalo di nuovo o chiedi alla banca il formato CAMT.053.")
            % {"error": str(error)[:200]},
            "bad_mt940",
        ) from None
    statements = []
    for number, block in enumerate(blocks, start=1):
        info = block.data
        account = str(info.get("account_identification") or "").replace(" ", "").upper()
        # Some banks write "BIC/IBAN" or "ABI/CAB/account" in :25:; keep the IBAN part.
        match = re.search(r"[A-Z]{2}\d{2}[A-Z0-9]{11,30}", account)
        account = match.group(0) if match else account
        if not account:
            raise StatementFileError(
                _("Estratto MT940 %(n)s: manca il conto (campo :25:).") % {"n": number}, "structure"
            )
        opening = info.get("final_opening_balance")
        statement = ParsedStatement(
            statement_id=str(info.get("transaction_reference") or f"MT940-{number}"),
            account_iban=account,
            currency=str(getattr(getattr(opening, "amount", None), "currency", "EUR") or "EUR"),
            sequence_number=f"{info.get('statement_number', '')}/{info.get('sequence_number', '')}".strip("/"),
            opening_balance_cents=_balance(opening),
            closing_balance_cents=_balance(info.get("final_closing_balance")),
        )
        for index, transaction in enumerate(block, start=1):
            tx = transaction.data
            details = " ".join(str(tx.get("transaction_details") or "").split())
            name_match = _NAME.search(details)
            remittance_match = _REMITTANCE.search(details)
            iban_match = _IBAN.search(details)
            credit = str(tx.get("status", "C")).endswith("C")
            is_reversal = str(tx.get("status", "")).startswith("R")
            name = name_match.group(1).strip() if name_match else ""
            iban = iban_match.group(1) if iban_match else ""
            line = StatementLine(
                position=f"{index}.0",
                amount_cents=_cents(tx["amount"]),
                currency=str(tx.get("currency") or statement.currency),
                direction=CREDIT if credit else DEBIT,
                status=BOOKED,
                booking_date=_date(tx.get("entry_date") or tx.get("date")),
                value_date=_date(tx.get("date")),
                bank_reference=str(tx.get("bank_reference") or ""),
                end_to_end_id="" if tx.get("customer_reference") in (None, "NONREF") else str(tx["customer_reference"]),
                remittance=remittance_match.group(1).strip() if remittance_match else details,
                debtor_name=name if credit else "",
                debtor_iban=iban if credit else "",
                creditor_name="" if credit else name,
                creditor_iban="" if credit else iban,
                is_reversal=is_reversal,
                bank_transaction_code=str(tx.get("id") or ""),
            )
            statement.lines.append(_with_reference(line, [details]))
        check_balances(statement, _("estratto MT940 %(id)s") % {"id": statement.statement_id})
        statements.append(with_fingerprints(statement))
    if not statements:
        raise StatementFileError(_("Il file MT940 non contiene nessun estratto (:20:)."), "structure")
    return ParsedFile(format="mt940", message_id=statements[0].statement_id, statements=statements)
