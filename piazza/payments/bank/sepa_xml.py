"""SEPA payment initiation files (rule D5): pain.008 direct debits and pain.001 credit
transfers, generated with `sepaxml` and validated against the official ISO 20022 XSDs that
`sepaxml` ships, *before* anyone can download them.

Two things `sepaxml` does not do and we add on its output: our own deterministic message and
payment-information ids (so the file names what the database knows), and the mandate
amendment block (AmdmntInd / AmdmntInfDtls) that the SEPA Core rulebook requires after an
IBAN or bank change, so an amended mandate keeps collecting under the same reference.
"""

from __future__ import annotations

import datetime
import functools
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import sepaxml
from lxml import etree
from text_unidecode import unidecode

SCHEMA_DIR = Path(sepaxml.__file__).parent / "schemas"
PAIN008_SCHEMAS = ("pain.008.001.02", "pain.008.001.08")
PAIN001_SCHEMAS = ("pain.001.001.03", "pain.001.001.09")
SEQUENCE_TYPES = ("FRST", "RCUR", "OOFF", "FNAL")
# SMNDA: "same mandate, new debtor agent" (EPC SDD Core rulebook, AT-24 amendment).
SAME_MANDATE_NEW_DEBTOR_AGENT = "SMNDA"


class SepaFileInvalid(ValueError):
    """The generated XML does not validate against the official schema: never hand it out."""

    def __init__(self, schema: str, errors: list[str]) -> None:
        self.schema = schema
        self.errors = errors
        super().__init__(f"{schema}: " + "; ".join(errors[:5]))


@dataclass(frozen=True)
class Party:
    """Our side of a file: the collecting entity (pain.008) or the paying entity (pain.001)."""

    name: str
    iban: str
    bic: str
    creditor_id: str = ""  # SEPA creditor identifier, pain.008 only


@dataclass(frozen=True)
class Amendment:
    """What changed on the mandate since the last collection (EPC rulebook AT-24)."""

    original_iban: str = ""
    new_bank: bool = False  # the debtor moved to another bank: SMNDA, sequence becomes FRST
    original_mandate_reference: str = ""


@dataclass(frozen=True)
class Debit:
    end_to_end_id: str
    amount_cents: int
    mandate_reference: str
    mandate_signed_on: datetime.date
    debtor_name: str
    debtor_iban: str
    sequence: str  # FRST, RCUR, OOFF, FNAL
    remittance: str
    debtor_bic: str = ""
    amendment: Amendment | None = None


@dataclass(frozen=True)
class Transfer:
    end_to_end_id: str
    amount_cents: int
    creditor_name: str
    creditor_iban: str
    remittance: str
    creditor_bic: str = ""


def _xml_id(value: str) -> str:
    """SEPA ids: at most 35 characters of the restricted Latin set, no spaces."""
    allowed = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789/-?:().,'+")
    cleaned = "".join(c if c in allowed else "-" for c in value)
    return cleaned[:35]


# EPC Basic Latin character set (SEPA rulebooks, EPC217-08): what every bank must accept.
EPC_BASIC_LATIN = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789/-?:().,'+ ")
# EPC217-08 conversion table, for the ASCII characters outside the basic set that have one.
EPC_CONVERSIONS = {"&": "+"}


def epc_text(value: str) -> str:
    """Names and remittance text in the EPC basic Latin set (issue 11, item 15): accents and
    other letters transliterated as `sepaxml` does (à → a, ß → ss), `&` → `+` as the EPC
    conversion table says, and any other character outside the set → `.` (EPC best practice)."""
    plain = unidecode(value or "")
    return "".join(c if c in EPC_BASIC_LATIN else EPC_CONVERSIONS.get(c, ".") for c in plain)


@functools.cache
def _schema(name: str) -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(SCHEMA_DIR / f"{name}.xsd")))


def validate_sepa_xml(xml: bytes, schema: str) -> None:
    """Raise SepaFileInvalid with every schema error (line and message) unless `xml` is valid."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    try:
        document = etree.fromstring(xml, parser)
    except etree.XMLSyntaxError as error:
        raise SepaFileInvalid(schema, [str(error)]) from error
    validator = _schema(schema)
    if not validator.validate(document):
        raise SepaFileInvalid(schema, [f"line {e.line}: {e.message}" for e in validator.error_log])
    expected = f"urn:iso:std:iso:20022:tech:xsd:{schema}"
    if etree.QName(document).namespace != expected:
        raise SepaFileInvalid(schema, [f"namespace {etree.QName(document).namespace} is not {expected}"])


def _retag(document: etree._Element, namespace: str, message_id: str, prefix: str) -> None:
    """Deterministic MsgId and PmtInfId (sepaxml makes random ones)."""
    ns = {"p": namespace}
    for node in document.iterfind(".//p:GrpHdr/p:MsgId", ns):
        node.text = _xml_id(message_id)
    for index, node in enumerate(document.iterfind(".//p:PmtInf/p:PmtInfId", ns), start=1):
        node.text = _xml_id(f"{message_id}-{prefix}{index}")


def _add_amendments(document: etree._Element, namespace: str, debits: Sequence[Debit]) -> None:
    ns = {"p": namespace}
    by_e2e = {d.end_to_end_id: d for d in debits if d.amendment is not None}
    if not by_e2e:
        return
    q = functools.partial(etree.QName, namespace)
    for tx in document.iterfind(".//p:DrctDbtTxInf", ns):
        e2e = tx.findtext("p:PmtId/p:EndToEndId", namespaces=ns)
        debit = by_e2e.get(e2e or "")
        if debit is None or debit.amendment is None:
            continue
        mandate = tx.find("p:DrctDbtTx/p:MndtRltdInf", ns)
        assert mandate is not None
        signed = mandate.find("p:DtOfSgntr", ns)
        assert signed is not None
        indicator = etree.Element(q("AmdmntInd"))
        indicator.text = "true"
        details = etree.Element(q("AmdmntInfDtls"))
        amendment = debit.amendment
        if amendment.original_mandate_reference:
            etree.SubElement(details, q("OrgnlMndtId")).text = amendment.original_mandate_reference
        if amendment.new_bank:
            agent = etree.SubElement(details, q("OrgnlDbtrAgt"))
            institution = etree.SubElement(agent, q("FinInstnId"))
            other = etree.SubElement(institution, q("Othr"))
            etree.SubElement(other, q("Id")).text = SAME_MANDATE_NEW_DEBTOR_AGENT
        elif amendment.original_iban:
            account = etree.SubElement(details, q("OrgnlDbtrAcct"))
            identifier = etree.SubElement(account, q("Id"))
            etree.SubElement(identifier, q("IBAN")).text = amendment.original_iban
        signed.addnext(indicator)
        indicator.addnext(details)


def build_pain008(
    creditor: Party,
    debits: Sequence[Debit],
    *,
    collection_date: datetime.date,
    message_id: str,
    schema: str = "pain.008.001.02",
) -> bytes:
    """A CORE direct-debit initiation for one creditor and due date, validated, as bytes."""
    if schema not in PAIN008_SCHEMAS:
        raise ValueError(f"unsupported schema {schema}")
    if not debits:
        raise ValueError("a pain.008 file needs at least one debit")
    if not creditor.creditor_id:
        raise ValueError("a pain.008 file needs the creditor identifier")
    config = {
        "name": epc_text(creditor.name),
        "IBAN": creditor.iban,
        "BIC": creditor.bic,
        "batch": True,
        "creditor_id": creditor.creditor_id,
        "currency": "EUR",
        "instrument": "CORE",
    }
    document = sepaxml.SepaDD(config, schema=schema, clean=True)
    for debit in debits:
        if debit.sequence not in SEQUENCE_TYPES:
            raise ValueError(f"unknown sequence type {debit.sequence}")
        payment: dict[str, object] = {
            "name": epc_text(debit.debtor_name),
            "IBAN": debit.debtor_iban,
            "amount": debit.amount_cents,
            "type": debit.sequence,
            "collection_date": collection_date,
            "mandate_id": debit.mandate_reference,
            "mandate_date": debit.mandate_signed_on,
            "description": epc_text(debit.remittance),
            "endtoend_id": _xml_id(debit.end_to_end_id),
        }
        if debit.debtor_bic:
            payment["BIC"] = debit.debtor_bic
        document.add_payment(payment)
    raw = document.export(validate=False)
    namespace = f"urn:iso:std:iso:20022:tech:xsd:{schema}"
    tree = etree.fromstring(raw, etree.XMLParser(resolve_entities=False, no_network=True))
    _retag(tree, namespace, message_id, "DD")
    _add_amendments(
        tree,
        namespace,
        [Debit(**{**debit.__dict__, "end_to_end_id": _xml_id(debit.end_to_end_id)}) for debit in debits],
    )
    xml = etree.tostring(tree, xml_declaration=True, encoding="UTF-8", pretty_print=True)
    validate_sepa_xml(xml, schema)
    return bytes(xml)


def build_pain001(
    debtor: Party,
    transfers: Sequence[Transfer],
    *,
    execution_date: datetime.date,
    message_id: str,
    schema: str = "pain.001.001.03",
) -> bytes:
    """A SEPA credit-transfer initiation from one of our accounts, validated, as bytes."""
    if schema not in PAIN001_SCHEMAS:
        raise ValueError(f"unsupported schema {schema}")
    if not transfers:
        raise ValueError("a pain.001 file needs at least one transfer")
    config = {"name": epc_text(debtor.name), "IBAN": debtor.iban, "BIC": debtor.bic, "batch": True, "currency": "EUR"}
    document = sepaxml.SepaTransfer(config, schema=schema, clean=True)
    for transfer in transfers:
        payment: dict[str, object] = {
            "name": epc_text(transfer.creditor_name),
            "IBAN": transfer.creditor_iban,
            "amount": transfer.amount_cents,
            "execution_date": execution_date,
            "description": epc_text(transfer.remittance),
            "endtoend_id": _xml_id(transfer.end_to_end_id),
        }
        if transfer.creditor_bic:
            payment["BIC"] = transfer.creditor_bic
        document.add_payment(payment)
    raw = document.export(validate=False)
    namespace = f"urn:iso:std:iso:20022:tech:xsd:{schema}"
    tree = etree.fromstring(raw, etree.XMLParser(resolve_entities=False, no_network=True))
    _retag(tree, namespace, message_id, "CT")
    xml = etree.tostring(tree, xml_declaration=True, encoding="UTF-8", pretty_print=True)
    validate_sepa_xml(xml, schema)
    return bytes(xml)
