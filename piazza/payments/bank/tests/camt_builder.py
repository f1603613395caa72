"""Builds real-world-shaped CAMT.053 / CAMT.054 files for tests, in the 001.02 layout
(party names directly under Dbtr, <Sts>BOOK</Sts>) or the 001.08 layout (Dbtr/Pty/Nm,
<Sts><Cd>BOOK</Cd></Sts>), so both code paths of the parser are exercised."""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from xml.sax.saxutils import escape


@dataclass
class Tx:
    amount_cents: int
    name: str = ""
    iban: str = ""
    reference: str = ""  # structured RF reference
    text: str = ""  # unstructured remittance
    end_to_end_id: str = ""
    mandate_id: str = ""
    return_reason: str = ""
    pmt_inf_id: str = ""


@dataclass
class Entry:
    txs: list[Tx]
    credit: bool = True
    status: str = "BOOK"
    booked_on: datetime.date = datetime.date(2026, 2, 3)
    bank_reference: str = ""
    batch_pmt_inf_id: str = ""
    detailed: bool = True
    family: str = "RCDT/ESCT"


@dataclass
class Statement:
    account_iban: str
    entries: list[Entry]
    statement_id: str = "STMT-1"
    opening_cents: int = 0
    closing_cents: int | None = None  # computed from booked entries when None


@dataclass
class CamtFile:
    statements: list[Statement] = field(default_factory=list)
    message_id: str = "MSG-1"
    version: str = "camt.053.001.02"


def _amount(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


def _party(tag: str, name: str, v08: bool) -> str:
    if not name:
        return ""
    inner = f"<Nm>{escape(name)}</Nm>"
    return f"<{tag}>{'<Pty>' + inner + '</Pty>' if v08 else inner}</{tag}>"


def _tx(tx: Tx, entry: Entry, v08: bool) -> str:
    parties = _party("Dbtr", tx.name, v08)
    if tx.iban:
        parties += f"<DbtrAcct><Id><IBAN>{tx.iban}</IBAN></Id></DbtrAcct>"
    refs = "".join(
        [
            f"<PmtInfId>{tx.pmt_inf_id}</PmtInfId>" if tx.pmt_inf_id else "",
            f"<EndToEndId>{escape(tx.end_to_end_id)}</EndToEndId>" if tx.end_to_end_id else "",
            f"<MndtId>{tx.mandate_id}</MndtId>" if tx.mandate_id else "",
        ]
    )
    indicator = "CRDT" if entry.credit else "DBIT"
    amount = (
        f'<Amt Ccy="EUR">{_amount(tx.amount_cents)}</Amt><CdtDbtInd>{indicator}</CdtDbtInd>'
        if v08
        else f'<AmtDtls><TxAmt><Amt Ccy="EUR">{_amount(tx.amount_cents)}</Amt></TxAmt></AmtDtls>'
    )
    remittance = ""
    if tx.text or tx.reference:
        remittance = "<RmtInf>"
        if tx.text:
            remittance += f"<Ustrd>{escape(tx.text)}</Ustrd>"
        if tx.reference:
            remittance += (
                "<Strd><CdtrRefInf><Tp><CdOrPrtry><Cd>SCOR</Cd></CdOrPrtry><Issr>ISO</Issr></Tp>"
                f"<Ref>{tx.reference}</Ref></CdtrRefInf></Strd>"
            )
        remittance += "</RmtInf>"
    ret = f"<RtrInf><Rsn><Cd>{tx.return_reason}</Cd></Rsn></RtrInf>" if tx.return_reason else ""
    return (
        f"<TxDtls>{'<Refs>' + refs + '</Refs>' if refs else ''}{amount}"
        f"{'<RltdPties>' + parties + '</RltdPties>' if parties else ''}{remittance}{ret}</TxDtls>"
    )


def _entry(entry: Entry, v08: bool) -> str:
    total = sum(tx.amount_cents for tx in entry.txs)
    status = f"<Sts><Cd>{entry.status}</Cd></Sts>" if v08 else f"<Sts>{entry.status}</Sts>"
    family, sub = entry.family.split("/")
    details = ""
    if entry.detailed or entry.batch_pmt_inf_id:
        batch = ""
        if len(entry.txs) > 1 or entry.batch_pmt_inf_id:
            pmt_inf = f"<PmtInfId>{entry.batch_pmt_inf_id}</PmtInfId>" if entry.batch_pmt_inf_id else ""
            batch = f"<Btch>{pmt_inf}<NbOfTxs>{len(entry.txs)}</NbOfTxs></Btch>"
        txs = "".join(_tx(tx, entry, v08) for tx in entry.txs) if entry.detailed else ""
        details = f"<NtryDtls>{batch}{txs}</NtryDtls>"
    booked = f"<BookgDt><Dt>{entry.booked_on.isoformat()}</Dt></BookgDt>" if entry.status == "BOOK" else ""
    return (
        f'<Ntry><Amt Ccy="EUR">{_amount(total)}</Amt><CdtDbtInd>{"CRDT" if entry.credit else "DBIT"}</CdtDbtInd>'
        f"{status}{booked}<ValDt><Dt>{entry.booked_on.isoformat()}</Dt></ValDt>"
        f"{'<AcctSvcrRef>' + entry.bank_reference + '</AcctSvcrRef>' if entry.bank_reference else ''}"
        f"<BkTxCd><Domn><Cd>PMNT</Cd><Fmly><Cd>{family}</Cd><SubFmlyCd>{sub}</SubFmlyCd></Fmly></Domn></BkTxCd>"
        f"{details}</Ntry>"
    )


def _balance(code: str, cents: int) -> str:
    indicator = "CRDT" if cents >= 0 else "DBIT"
    return (
        f'<Bal><Tp><CdOrPrtry><Cd>{code}</Cd></CdOrPrtry></Tp><Amt Ccy="EUR">{_amount(abs(cents))}</Amt>'
        f"<CdtDbtInd>{indicator}</CdtDbtInd><Dt><Dt>2026-02-03</Dt></Dt></Bal>"
    )


def build(camt: CamtFile) -> bytes:
    v08 = int(camt.version.rsplit(".", 1)[1]) >= 8
    notification = camt.version.startswith("camt.054")
    container, item = ("BkToCstmrDbtCdtNtfctn", "Ntfctn") if notification else ("BkToCstmrStmt", "Stmt")
    body = []
    for statement in camt.statements:
        booked = sum(
            (1 if e.credit else -1) * sum(t.amount_cents for t in e.txs)
            for e in statement.entries
            if e.status == "BOOK"
        )
        closing = statement.closing_cents if statement.closing_cents is not None else statement.opening_cents + booked
        balances = "" if notification else _balance("OPBD", statement.opening_cents) + _balance("CLBD", closing)
        body.append(
            f"<{item}><Id>{statement.statement_id}</Id><CreDtTm>2026-02-04T06:00:00+01:00</CreDtTm>"
            f"<Acct><Id><IBAN>{statement.account_iban}</IBAN></Id><Ccy>EUR</Ccy></Acct>{balances}"
            + "".join(_entry(e, v08) for e in statement.entries)
            + f"</{item}>"
        )
    xml = (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<Document xmlns="urn:iso:std:iso:20022:tech:xsd:{camt.version}">'
        f"<{container}><GrpHdr><MsgId>{camt.message_id}</MsgId><CreDtTm>2026-02-04T06:00:00+01:00</CreDtTm></GrpHdr>"
        + "".join(body)
        + f"</{container}></Document>"
    )
    return xml.encode()
