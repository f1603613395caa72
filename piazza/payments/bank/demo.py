"""Demo content of the bank rails for `seed_demo`: the Bologna federation's account, a few
expected transfers and mandates, and one imported statement leaving lines to match by hand.
Idempotent: running `seed_demo` twice adds nothing."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.utils import timezone

from piazza.core.money import Money
from piazza.ledger.accounts import get_account
from piazza.payments.bank.actions import accounts as accounts_actions
from piazza.payments.bank.actions import collections as collections_actions
from piazza.payments.bank.actions import mandates as mandates_actions
from piazza.payments.bank.actions import matching as matching_actions
from piazza.payments.bank.actions import payouts as payouts_actions
from piazza.payments.bank.actions import statements as statements_actions
from piazza.payments.bank.models import BankAccount, MandateChannel, Payee, Payout, StatementImport
from piazza.territory.models import Level, Territory

DEMO_IBAN = "IT60X0542811101000000123456"
DEMO_CREDITOR_ID = "IT66ZZZA1B2C3D4E5F6G7H8"
CONSENT = (
    "Autorizzo il Partito Democratico – Federazione di Bologna a richiedere alla mia banca l'addebito del "
    "mio conto (mandato SEPA Core); ho diritto al rimborso entro 8 settimane dall'addebito."
)
SUPPLIER_IBAN = "IT24D0542811101000000654321"
PAYOUT_DESCRIPTION = "Stampa dei volantini per la Festa de l'Unità"
PAYERS = [("Maria Rossi", 5000), ("Ludovica Dell'Orto", 2500), ("Giorgio Bianchi", 3000), ("Zoë Müller", 1500)]


def _camt(account: BankAccount, transfers: list[Any]) -> bytes:
    today = timezone.localdate().isoformat()
    entries = []
    for index, (transfer, (name, cents)) in enumerate(zip(transfers, PAYERS, strict=True), start=1):
        remittance = (
            f"<Strd><CdtrRefInf><Ref>{transfer.reference}</Ref></CdtrRefInf></Strd>"
            if index % 2
            else "<Ustrd>contributo</Ustrd>"
        )
        shown = name if index % 2 else name.split()[-1].upper()
        entries.append(
            f'<Ntry><Amt Ccy="EUR">{cents // 100}.{cents % 100:02d}</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts>BOOK</Sts>'
            f"<BookgDt><Dt>{today}</Dt></BookgDt><ValDt><Dt>{today}</Dt></ValDt><AcctSvcrRef>DEMO-{index}</AcctSvcrRef>"
            f"<NtryDtls><TxDtls><RltdPties><Dbtr><Nm>{shown}</Nm></Dbtr></RltdPties><RmtInf>{remittance}</RmtInf>"
            f"</TxDtls></NtryDtls></Ntry>"
        )
    entries.append(  # no reference, nobody expected: it waits in the queue for a treasurer
        f'<Ntry><Amt Ccy="EUR">20.00</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts>BOOK</Sts><BookgDt><Dt>{today}</Dt></BookgDt>'
        f"<ValDt><Dt>{today}</Dt></ValDt><AcctSvcrRef>DEMO-9</AcctSvcrRef><NtryDtls><TxDtls><RltdPties><Dbtr>"
        f"<Nm>Paolo Verdi</Nm></Dbtr></RltdPties><RmtInf><Ustrd>bonifico</Ustrd></RmtInf></TxDtls></NtryDtls></Ntry>"
    )
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02">'
        f"<BkToCstmrStmt><GrpHdr><MsgId>DEMO-{today}</MsgId><CreDtTm>{today}T06:00:00</CreDtTm></GrpHdr>"
        f"<Stmt><Id>DEMO-{today}</Id><Acct><Id><IBAN>{account.iban}</IBAN></Id><Ccy>EUR</Ccy></Acct>"
        + "".join(entries)
        + "</Stmt></BkToCstmrStmt></Document>"
    ).encode()


def seed(*, people: int, stdout: Any) -> None:
    treasurer = get_user_model().objects.filter(username="tesoriera").first()
    bologna = Territory.objects.filter(level=Level.FEDERATION, code="037").first()
    if treasurer is None or bologna is None:
        return
    account = BankAccount.objects.filter(iban=DEMO_IBAN).first() or accounts_actions.register_bank_account(
        actor=treasurer,
        territory=bologna,
        name="PD Federazione di Bologna",
        iban=DEMO_IBAN,
        creditor_id=DEMO_CREDITOR_ID,
    )
    funds = get_account("territory", territory=bologna)
    transfers = [
        matching_actions.expect_transfer(
            actor=treasurer,
            account=account,
            amount=Money(cents),
            payer_name=name,
            description="Contributo Festa de l'Unità",
            credit_account=funds,
            creation_key=f"demo:transfer:{i}",
        )
        for i, (name, cents) in enumerate(PAYERS)
    ]
    for index, (name, iban) in enumerate(
        [("Nicolò Dell'Acqua", "IT25O0306909606100000012345"), ("Søren Kierkegård", "IT69G0200802435000104428964")]
    ):
        if not account.mandates.filter(debtor_name=name).exists():
            mandate = mandates_actions.sign_mandate(
                actor=treasurer,
                creditor=account,
                debtor_name=name,
                debtor_iban=iban,
                signed_on=timezone.localdate(),
                channel=MandateChannel.ONLINE,
                consent_text=CONSENT,
                debtor_email=f"demo{index}@example.org",
            )
            collections_actions.schedule_collection(
                actor=treasurer,
                mandate=mandate,
                amount=Money(1000),
                credit_account=funds,
                recurring=True,
                due_date=collections_actions.earliest_collection_date(account.prenotification_days + 3),
                description="Contributo mensile",
                creation_key=f"demo:collection:{index}",
            )
    if not StatementImport.objects.filter(account=account, filename="demo-camt053.xml").exists():
        statements_actions.import_statement(
            actor=treasurer, territory=bologna, filename="demo-camt053.xml", data=_camt(account, transfers)
        )
    # A payout asked by one treasurer, waiting for the other one (four eyes: `vicetesoriere` approves it).
    if not Payout.objects.filter(bank_account=account, description=PAYOUT_DESCRIPTION).exists():
        payee = Payee.objects.filter(territory=bologna, iban=SUPPLIER_IBAN).first() or accounts_actions.register_payee(
            actor=treasurer, territory=bologna, name="Tipografia Emiliana Srl", iban=SUPPLIER_IBAN
        )
        payouts_actions.request_payout(
            actor=treasurer,
            source_account=funds,
            bank_account=account,
            payee=payee,
            amount=Money(3000),
            description=PAYOUT_DESCRIPTION,
        )
    stdout.write(
        "Banca: conto della Federazione di Bologna, bonifici attesi, mandati SEPA, un estratto importato, "
        "un versamento da approvare.\n"
    )
