"""Reading bank statements: CAMT.053 / CAMT.054 (ISO 20022 XML) and SWIFT MT940.

Every format is turned into the same `ParsedFile` → `ParsedStatement` → `StatementLine`
shape, so matching does not care what the bank sent. Parsing is pure (no database).

No official CAMT XSD is available from a package registry (sepaxml ships pain schemas
only), so the structure is validated here, in code: the namespace version must be one we
know, the mandatory elements must be there, amounts must be exact to the cent, and
balances must add up; every problem is reported with the statement and entry it is in.
XML is parsed with defusedxml, which refuses DTDs and entity tricks.
"""

from __future__ import annotations

import datetime
import hashlib
import re
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation

from defusedxml import DefusedXmlException
from defusedxml import ElementTree as SafeET
from django.conf import settings
from django.utils.translation import gettext as _

from piazza.payments.bank.references import find_references, is_valid_reference

CAMT_NAMESPACE = re.compile(r"^urn:iso:std:iso:20022:tech:xsd:(camt\.05[34])\.001\.(\d{2})$")
# Versions whose element layout this parser handles (02–07: names directly under Dbtr;
# 08–10: Dbtr/Pty/Nm and Sts/Cd). A later or unknown version is refused, never guessed.
SUPPORTED_VERSIONS = {f"{kind}.001.{n:02d}" for kind in ("camt.053", "camt.054") for n in range(2, 11)}
ANY_ISO20022 = re.compile(r"^urn:iso:std:iso:20022:tech:xsd:([a-z]{4}\.\d{3})\.\d{3}\.\d{2}$")


def max_statement_mb() -> int:
    """The one size limit of a statement file (setting BANK_STATEMENT_MAX_MB, 1 MB = 2**20 bytes),
    checked by the upload form and by the parser (drop folder, commands) alike (issue 11, item 15)."""
    return int(getattr(settings, "BANK_STATEMENT_MAX_MB", 20))


def too_large_message(size_bytes: int) -> str:
    """What a treasurer reads when a statement is over the limit: its size, the limit, what to do."""
    return _(
        "Il file pesa %(size)s MB, oltre il limite di %(limit)s MB: scarica dall'home banking un periodo "
        "più breve (ad esempio un mese) e caricalo in più volte."
    ) % {"size": -(-size_bytes // 2**20), "limit": max_statement_mb()}


CREDIT = "credit"
DEBIT = "debit"
BOOKED = "booked"
PENDING = "pending"
INFO = "info"


class StatementFileError(ValueError):
    """The file cannot be imported at all; `message` says why in words a treasurer can act on."""

    def __init__(self, message: str, code: str, details: list[str] | None = None) -> None:
        self.message = message
        self.code = code
        self.details = details or []
        super().__init__(message)


@dataclass(frozen=True)
class StatementLine:
    """One movement: one transaction of an entry (a batch entry gives one line per transaction
    when the bank details them, else one line for the batch total)."""

    position: str  # "entry.transaction" within the statement, for people and for fingerprints
    amount_cents: int  # always positive; `direction` says which way
    currency: str
    direction: str  # credit (money in) or debit (money out)
    status: str  # booked, pending, info
    booking_date: datetime.date | None
    value_date: datetime.date | None
    bank_reference: str = ""  # AcctSvcrRef: the bank's own unique id, when it gives one
    entry_reference: str = ""
    end_to_end_id: str = ""
    mandate_id: str = ""
    payment_information_id: str = ""  # PmtInfId of a batch we sent (pain.008 / pain.001)
    creditor_reference: str = ""  # ISO 11649 RF reference, structured or found in the text
    remittance: str = ""
    debtor_name: str = ""
    debtor_iban: str = ""
    creditor_name: str = ""
    creditor_iban: str = ""
    is_reversal: bool = False
    return_reason: str = ""  # ISO 20022 external return reason code (AC04, AM04, MD01, MS02…)
    return_info: str = ""
    bank_transaction_code: str = ""  # Domain/Family/SubFamily, e.g. PMNT/RCDT/ESCT
    batch_size: int = 1
    fingerprint: str = ""

    @property
    def counterparty_name(self) -> str:
        """Who is on the other side: the payer of money in, the payee of money out; for a
        returned direct debit, the debtor whose debit came back."""
        if self.direction == CREDIT or self.return_reason or self.mandate_id:
            return self.debtor_name or self.creditor_name
        return self.creditor_name or self.debtor_name

    @property
    def counterparty_iban(self) -> str:
        if self.direction == CREDIT or self.return_reason or self.mandate_id:
            return self.debtor_iban or self.creditor_iban
        return self.creditor_iban or self.debtor_iban

    @property
    def signed_cents(self) -> int:
        return self.amount_cents if self.direction == CREDIT else -self.amount_cents


@dataclass
class ParsedStatement:
    statement_id: str
    account_iban: str
    currency: str
    sequence_number: str = ""
    created_at: datetime.datetime | None = None
    from_date: datetime.date | None = None
    to_date: datetime.date | None = None
    opening_balance_cents: int | None = None
    closing_balance_cents: int | None = None
    lines: list[StatementLine] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


@dataclass
class ParsedFile:
    format: str  # camt.053.001.02, camt.054.001.08, mt940
    message_id: str
    statements: list[ParsedStatement]

    @property
    def line_count(self) -> int:
        return sum(len(s.lines) for s in self.statements)


# --- shared helpers -----------------------------------------------------------------------


def parse_cents(text: str | None, where: str) -> int:
    """Exact decimal amount → cents; refuses fractions of a cent and anything not a number."""
    try:
        value = Decimal((text or "").strip())
    except InvalidOperation:
        raise StatementFileError(
            _("%(where)s: «%(text)s» non è un importo.") % {"where": where, "text": text or ""},
            "bad_amount",
        ) from None
    cents = value * 100
    if not value.is_finite() or cents != cents.to_integral_value() or value < 0:
        raise StatementFileError(
            _("%(where)s: l'importo «%(text)s» non è un importo positivo al centesimo.")
            % {"where": where, "text": text},
            "bad_amount",
        )
    return int(cents)


def _fingerprint(account: str, line: StatementLine, occurrence: int) -> str:
    """A stable identity for a line across files, so re-imports and overlapping statements
    book nothing twice. The bank's own reference wins; otherwise the content, plus how many
    identical lines came before it in the same file."""
    if line.bank_reference:
        tx = line.position.split(".")[1]
        basis = f"ref|{account}|{line.bank_reference}|{tx}|{line.status}"
    else:
        basis = "|".join(
            [
                "content",
                account,
                line.status,
                line.direction,
                str(line.amount_cents),
                line.currency,
                str(line.booking_date),
                str(line.value_date),
                line.end_to_end_id,
                line.creditor_reference,
                line.remittance,
                line.counterparty_name,
                line.counterparty_iban,
                line.return_reason,
                str(occurrence),
            ]
        )
    return hashlib.sha256(basis.encode()).hexdigest()


def with_fingerprints(statement: ParsedStatement) -> ParsedStatement:
    seen: Counter[str] = Counter()
    lines = []
    for line in statement.lines:
        key = _fingerprint(statement.account_iban, replace(line, position="0.0"), 0)
        seen[key] += 1
        lines.append(replace(line, fingerprint=_fingerprint(statement.account_iban, line, seen[key] - 1)))
    statement.lines = lines
    return statement


# --- CAMT ----------------------------------------------------------------------------------


class _Camt:
    """Walks one CAMT document of a known namespace."""

    def __init__(self, namespace: str) -> None:
        self.ns = {"c": namespace}

    def find(self, node: ET.Element | None, path: str) -> ET.Element | None:
        if node is None:
            return None
        return node.find(self._path(path), self.ns)

    def findall(self, node: ET.Element | None, path: str) -> list[ET.Element]:
        if node is None:
            return []
        return node.findall(self._path(path), self.ns)

    def text(self, node: ET.Element | None, path: str) -> str:
        found = self.find(node, path)
        return " ".join((found.text or "").split()) if found is not None else ""

    @staticmethod
    def _path(path: str) -> str:
        return "/".join(
            part if part in (".", "..") or part.startswith(".//") else f"c:{part}" for part in path.split("/")
        )

    def date(self, node: ET.Element | None, where: str) -> datetime.date | None:
        """A <Dt> or <DtTm> child; None when the node is absent."""
        if node is None:
            return None
        day = self.text(node, "Dt")
        stamp = self.text(node, "DtTm")
        try:
            if day:
                return datetime.date.fromisoformat(day[:10])
            if stamp:
                return datetime.datetime.fromisoformat(stamp).date()
        except ValueError:
            raise StatementFileError(
                _("%(where)s: data «%(value)s» non valida.") % {"where": where, "value": day or stamp},
                "bad_date",
            ) from None
        return None

    def name(self, party: ET.Element | None) -> str:
        """Party name in both layouts: Dbtr/Nm (≤ .07) and Dbtr/Pty/Nm (≥ .08)."""
        return self.text(party, "Nm") or self.text(party, "Pty/Nm")

    def account(self, node: ET.Element | None) -> str:
        return (self.text(node, "Id/IBAN") or self.text(node, "Id/Othr/Id")).replace(" ", "").upper()


def _sniff(data: bytes) -> str:
    """What the bytes look like: xml, mt940 or unknown."""
    head = data[:2000].lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith(b"<"):
        return "xml"
    if head.startswith(b"{1:") or head.startswith(b":20:") or b"\n:20:" in head or b"\n:61:" in data[:20000]:
        return "mt940"
    return "unknown"


def parse_statement_file(data: bytes, filename: str = "") -> ParsedFile:
    """Parse a statement file of any supported format, or raise StatementFileError."""
    if not data or not data.strip():
        raise StatementFileError(_("Il file è vuoto."), "empty")
    if len(data) > max_statement_mb() * 2**20:
        raise StatementFileError(too_large_message(len(data)), "too_large")
    kind = _sniff(data)
    if kind == "xml":
        return parse_camt(data)
    if kind == "mt940":
        from piazza.payments.bank.mt940_files import parse_mt940

        return parse_mt940(data)
    raise StatementFileError(
        _(
            "«%(name)s» non è un estratto conto CAMT (XML ISO 20022) né MT940: scarica "
            "dall'home banking l'estratto in formato CAMT.053."
        )
        % {"name": filename or _("Il file")},
        "not_camt",
    )


def parse_camt(data: bytes) -> ParsedFile:
    try:
        root = SafeET.fromstring(data, forbid_dtd=True)
    except DefusedXmlException:
        raise StatementFileError(
            _(
                "Il file contiene una dichiarazione DTD o entità XML, che un estratto conto non usa: "
                "per sicurezza non viene letto."
            ),
            "unsafe_xml",
        ) from None
    except ET.ParseError as error:
        line, _column = getattr(error, "position", (0, 0))
        truncated = "no element found" in str(error) or "unclosed token" in str(error)
        if truncated:
            raise StatementFileError(
                _(
                    "Il file è troncato (finisce a metà, riga %(line)s): scaricalo di nuovo "
                    "dall'home banking e ricaricalo."
                )
                % {"line": line},
                "truncated",
            ) from None
        raise StatementFileError(
            _(
                "Il file non è XML valido (riga %(line)s): non è un estratto CAMT leggibile. "
                "Scaricalo di nuovo dall'home banking."
            )
            % {"line": line},
            "bad_xml",
        ) from None
    namespace = root.tag[1:].split("}")[0] if root.tag.startswith("{") else ""
    local = root.tag.split("}")[-1]
    match = CAMT_NAMESPACE.match(namespace)
    if match is None:
        other = ANY_ISO20022.match(namespace)
        if other:
            raise StatementFileError(
                _(
                    "Questo è un file %(kind)s, non un estratto conto CAMT.053/054: carica "
                    "l'estratto conto scaricato dalla banca."
                )
                % {"kind": other.group(1)},
                "not_camt",
            )
        raise StatementFileError(
            _("Il file XML non è un estratto conto CAMT (elemento radice «%(root)s», namespace «%(ns)s»).")
            % {"root": local, "ns": namespace or "-"},
            "not_camt",
        )
    version = namespace.rsplit(":", 1)[1]
    if version not in SUPPORTED_VERSIONS:
        raise StatementFileError(
            _(
                "La versione %(version)s del formato CAMT non è supportata. Versioni supportate: "
                "%(known)s. Chiedi alla banca l'estratto CAMT.053 in versione 001.02 o 001.08."
            )
            % {"version": version, "known": ", ".join(sorted(SUPPORTED_VERSIONS))},
            "unknown_version",
        )
    camt = _Camt(namespace)
    container_tag, item_tag = (
        ("BkToCstmrStmt", "Stmt") if match.group(1) == "camt.053" else ("BkToCstmrDbtCdtNtfctn", "Ntfctn")
    )
    container = camt.find(root, container_tag)
    errors: list[str] = []
    if container is None:
        raise StatementFileError(
            _("Manca l'elemento %(tag)s: il file %(version)s è incompleto.")
            % {"tag": container_tag, "version": version},
            "structure",
            [container_tag],
        )
    message_id = camt.text(container, "GrpHdr/MsgId")
    if not message_id:
        errors.append(_("Manca l'identificativo del messaggio (GrpHdr/MsgId)."))
    items = camt.findall(container, item_tag)
    if not items:
        errors.append(_("Il file non contiene nessun estratto (%(tag)s).") % {"tag": item_tag})
    statements = []
    for number, item in enumerate(items, start=1):
        try:
            statements.append(_camt_statement(camt, item, number, errors))
        except StatementFileError as error:
            errors.append(error.message)
    if errors:
        raise StatementFileError(
            _("Il file %(version)s non ha la struttura attesa: %(first)s") % {"version": version, "first": errors[0]},
            "structure",
            errors,
        )
    return ParsedFile(format=version, message_id=message_id, statements=[with_fingerprints(s) for s in statements])


def _balance(camt: _Camt, item: ET.Element, codes: tuple[str, ...], where: str) -> int | None:
    for balance in camt.findall(item, "Bal"):
        code = camt.text(balance, "Tp/CdOrPrtry/Cd")
        if code in codes:
            cents = parse_cents(camt.text(balance, "Amt"), where)
            return -cents if camt.text(balance, "CdtDbtInd") == "DBIT" else cents
    return None


def _camt_statement(camt: _Camt, item: ET.Element, number: int, errors: list[str]) -> ParsedStatement:
    statement_id = camt.text(item, "Id")
    where = _("estratto %(n)s (%(id)s)") % {"n": number, "id": statement_id or "?"}
    account_node = camt.find(item, "Acct")
    account = camt.account(account_node)
    if not statement_id:
        errors.append(_("%(where)s: manca l'identificativo (Id).") % {"where": where})
    if not account:
        errors.append(_("%(where)s: manca il conto (Acct/Id/IBAN).") % {"where": where})
    created = camt.text(item, "CreDtTm")
    statement = ParsedStatement(
        statement_id=statement_id,
        account_iban=account,
        currency=camt.text(account_node, "Ccy") or "EUR",
        sequence_number=camt.text(item, "ElctrncSeqNb") or camt.text(item, "LglSeqNb"),
        created_at=_datetime_or_none(created),
        from_date=_date_or_none(camt.text(item, "FrToDt/FrDtTm")),
        to_date=_date_or_none(camt.text(item, "FrToDt/ToDtTm")),
        opening_balance_cents=_balance(camt, item, ("OPBD", "PRCD"), where),
        closing_balance_cents=_balance(camt, item, ("CLBD",), where),
    )
    for entry_number, entry in enumerate(camt.findall(item, "Ntry"), start=1):
        entry_where = _("%(where)s, movimento %(n)s") % {"where": where, "n": entry_number}
        try:
            statement.lines.extend(_camt_entry(camt, entry, entry_number, entry_where))
        except StatementFileError as error:
            errors.append(error.message)
    check_balances(statement, where)
    return statement


def check_balances(statement: ParsedStatement, where: str) -> None:
    """Opening balance + booked lines must give the closing balance, else warn: a statement
    missing lines would otherwise leave payments silently unmatched."""
    if statement.opening_balance_cents is None or statement.closing_balance_cents is None:
        return
    booked = sum(line.signed_cents for line in statement.lines if line.status == BOOKED)
    # Batch entries detailed per transaction still sum to the entry, so this holds.
    if statement.opening_balance_cents + booked != statement.closing_balance_cents:
        statement.warnings.append(
            _(
                "%(where)s: saldo iniziale più movimenti contabilizzati non dà il saldo finale; "
                "l'estratto potrebbe essere incompleto."
            )
            % {"where": where}
        )


def _date_or_none(text: str) -> datetime.date | None:
    try:
        return datetime.date.fromisoformat(text[:10]) if text else None
    except ValueError:
        return None


def _datetime_or_none(text: str) -> datetime.datetime | None:
    try:
        return datetime.datetime.fromisoformat(text) if text else None
    except ValueError:
        return None


def _camt_entry(camt: _Camt, entry: ET.Element, entry_number: int, where: str) -> list[StatementLine]:
    amount_node = camt.find(entry, "Amt")
    if amount_node is None:
        raise StatementFileError(_("%(where)s: manca l'importo (Amt).") % {"where": where}, "structure")
    currency = amount_node.get("Ccy", "")
    if not re.fullmatch(r"[A-Z]{3}", currency):
        raise StatementFileError(_("%(where)s: manca la valuta dell'importo.") % {"where": where}, "structure")
    amount = parse_cents(amount_node.text, where)
    indicator = camt.text(entry, "CdtDbtInd")
    if indicator not in ("CRDT", "DBIT"):
        raise StatementFileError(
            _("%(where)s: CdtDbtInd deve essere CRDT o DBIT, non «%(v)s».") % {"where": where, "v": indicator},
            "structure",
        )
    status_code = camt.text(entry, "Sts/Cd") or camt.text(entry, "Sts")
    status = {"BOOK": BOOKED, "PDNG": PENDING, "INFO": INFO}.get(status_code)
    if status is None:
        raise StatementFileError(
            _("%(where)s: stato «%(v)s» sconosciuto (atteso BOOK, PDNG o INFO).") % {"where": where, "v": status_code},
            "structure",
        )
    booking = camt.date(camt.find(entry, "BookgDt"), where)
    value = camt.date(camt.find(entry, "ValDt"), where)
    if status == BOOKED and booking is None and value is None:
        raise StatementFileError(_("%(where)s: manca la data contabile.") % {"where": where}, "structure")
    domain = camt.find(entry, "BkTxCd/Domn")
    bank_code = "/".join(
        x for x in (camt.text(domain, "Cd"), camt.text(domain, "Fmly/Cd"), camt.text(domain, "Fmly/SubFmlyCd")) if x
    )
    base = StatementLine(
        position=f"{entry_number}.0",
        amount_cents=amount,
        currency=currency,
        direction=CREDIT if indicator == "CRDT" else DEBIT,
        status=status,
        booking_date=booking or value,
        value_date=value,
        bank_reference=camt.text(entry, "AcctSvcrRef"),
        entry_reference=camt.text(entry, "NtryRef"),
        is_reversal=camt.text(entry, "RvslInd").lower() == "true",
        bank_transaction_code=bank_code or camt.text(entry, "BkTxCd/Prtry/Cd"),
        remittance=camt.text(entry, "AddtlNtryInf"),
    )
    details = camt.findall(entry, "NtryDtls")
    batch_size = 0
    pmt_inf_id = ""
    transactions: list[ET.Element] = []
    for detail in details:
        batch_size += int(camt.text(detail, "Btch/NbOfTxs") or 0)
        pmt_inf_id = pmt_inf_id or camt.text(detail, "Btch/PmtInfId")
        transactions.extend(camt.findall(detail, "TxDtls"))
    base = replace(base, payment_information_id=pmt_inf_id, batch_size=max(batch_size, len(transactions), 1))
    if not transactions:
        return [_with_reference(base)]
    lines = []
    total = 0
    for tx_number, tx in enumerate(transactions, start=1):
        tx_where = _("%(where)s, operazione %(n)s") % {"where": where, "n": tx_number}
        tx_amount_node = _first(camt.find(tx, path) for path in ("Amt", "AmtDtls/TxAmt/Amt", "AmtDtls/InstdAmt/Amt"))
        if tx_amount_node is not None:
            tx_amount = parse_cents(tx_amount_node.text, tx_where)
        elif len(transactions) == 1:
            tx_amount = amount
        else:
            raise StatementFileError(
                _("%(where)s: una operazione di un movimento cumulativo non ha l'importo.") % {"where": tx_where},
                "structure",
            )
        total += tx_amount
        parties = camt.find(tx, "RltdPties")
        unstructured = " ".join(camt.text(node, ".") for node in camt.findall(tx, "RmtInf/Ustrd"))
        structured_refs = [camt.text(node, ".") for node in camt.findall(tx, "RmtInf/Strd/CdtrRefInf/Ref")]
        line = replace(
            base,
            position=f"{entry_number}.{tx_number}",
            amount_cents=tx_amount,
            bank_reference=camt.text(tx, "Refs/AcctSvcrRef") or base.bank_reference,
            end_to_end_id=_not_provided(camt.text(tx, "Refs/EndToEndId")),
            mandate_id=camt.text(tx, "Refs/MndtId"),
            payment_information_id=camt.text(tx, "Refs/PmtInfId") or base.payment_information_id,
            remittance=(unstructured or base.remittance).strip(),
            debtor_name=camt.name(camt.find(parties, "Dbtr")),
            debtor_iban=camt.account(camt.find(parties, "DbtrAcct")),
            creditor_name=camt.name(camt.find(parties, "Cdtr")),
            creditor_iban=camt.account(camt.find(parties, "CdtrAcct")),
            return_reason=camt.text(tx, "RtrInf/Rsn/Cd"),
            return_info=camt.text(tx, "RtrInf/AddtlInf"),
        )
        lines.append(_with_reference(line, structured_refs))
    if total != amount:
        raise StatementFileError(
            _("%(where)s: le operazioni sommano %(sum)s centesimi ma il movimento è di %(amount)s.")
            % {"where": where, "sum": total, "amount": amount},
            "structure",
        )
    return lines


def _first(nodes: Iterable[ET.Element | None]) -> ET.Element | None:
    """First node that exists (an Element without children is falsy, so `or` would skip it)."""
    for node in nodes:
        if node is not None:
            return node
    return None


def _not_provided(value: str) -> str:
    return "" if value.upper() == "NOTPROVIDED" else value


def _with_reference(line: StatementLine, structured: list[str] | None = None) -> StatementLine:
    """The RF reference: the structured one if valid, else the first valid one in the text."""
    for candidate in structured or []:
        compact = "".join(candidate.split()).upper()
        if is_valid_reference(compact):
            return replace(line, creditor_reference=compact)
    found = find_references(" ".join([line.remittance, line.end_to_end_id, *(structured or [])]))
    return replace(line, creditor_reference=found[0] if found else "")
