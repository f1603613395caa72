"""Reading CAMT.053/054 and MT940 files; every bad file gets a specific, actionable refusal."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest

from piazza.payments.bank.statement_files import (
    BOOKED,
    CREDIT,
    DEBIT,
    PENDING,
    StatementFileError,
    parse_statement_file,
)
from piazza.payments.bank.tests.camt_builder import CamtFile, Entry, Statement, Tx, build

FIXTURES = Path(__file__).parent / "fixtures"
OUR_IBAN = "IT60X0542811101000000123456"


def _v02() -> bytes:
    return (FIXTURES / "camt053_v02_two_statements.xml").read_bytes()


class TestCamt053Version02:
    def test_two_statements_batched_entries_returns_and_foreign_names(self):
        parsed = parse_statement_file(_v02(), "estratto.xml")
        assert parsed.format == "camt.053.001.02"
        assert [s.account_iban for s in parsed.statements] == [OUR_IBAN, "IT02L1234512345123456789012"]
        first = parsed.statements[0]
        assert first.warnings == []  # balances add up
        assert [line.position for line in first.lines] == [
            "1.1",
            "2.1",
            "2.2",
            "2.3",
            "3.1",
            "4.1",
            "4.2",
            "5.0",
            "6.1",
        ]
        structured, polish, german, french = first.lines[:4]
        assert structured.creditor_reference == "RF18539007547034"
        assert structured.end_to_end_id == ""  # NOTPROVIDED is not a reference
        assert (polish.counterparty_name, polish.amount_cents, polish.batch_size) == ("Łukasz Żółćiński", 2500, 3)
        assert german.creditor_reference == "RF18539007547034"  # found in the free text, lower case, spaced
        assert french.counterparty_name == "François Ødegård"
        returns = [line for line in first.lines if line.return_reason]
        assert [(r.return_reason, r.mandate_id, r.end_to_end_id, r.direction) for r in returns] == [
            ("AM04", "PZM-00000003", "PZ-DD-00000007", DEBIT),
            ("MD01", "PZM-00000004", "PZ-DD-00000008", DEBIT),
            ("MS02", "PZM-00000005", "PZ-DD-00000009", DEBIT),
        ]
        assert returns[0].counterparty_name == "Nicolò Dell'Acqua"
        fee = first.lines[7]
        assert (fee.direction, fee.amount_cents, fee.remittance) == (DEBIT, 250, "COMMISSIONI TENUTA CONTO")
        assert first.lines[8].status == PENDING
        assert parsed.statements[1].lines[0].counterparty_name == "Αλέξανδρος Παπαδόπουλος"

    def test_fingerprints_are_unique_and_stable(self):
        once = parse_statement_file(_v02())
        again = parse_statement_file(_v02())
        prints = [line.fingerprint for s in once.statements for line in s.lines]
        assert len(set(prints)) == len(prints)
        assert prints == [line.fingerprint for s in again.statements for line in s.lines]

    def test_balance_mismatch_is_a_warning_naming_the_statement(self):
        data = _v02().replace(b'<Amt Ccy="EUR">1077.50</Amt>', b'<Amt Ccy="EUR">1077.00</Amt>')
        parsed = parse_statement_file(data)
        assert "saldo finale" in parsed.statements[0].warnings[0]


class TestCamtVersion08AndNotifications:
    def test_v08_layout_party_wrapper_and_status_code(self):
        data = build(
            CamtFile(
                version="camt.053.001.08",
                statements=[
                    Statement(
                        OUR_IBAN,
                        [
                            Entry([Tx(1000, "Ærøskøbing Jensen", reference="RF18539007547034")], bank_reference="A1"),
                            Entry([Tx(500, "Bob"), Tx(700, "Zoë")], bank_reference="A2"),
                        ],
                    )
                ],
            )
        )
        parsed = parse_statement_file(data)
        lines = parsed.statements[0].lines
        assert [(x.counterparty_name, x.amount_cents, x.status, x.direction) for x in lines] == [
            ("Ærøskøbing Jensen", 1000, BOOKED, CREDIT),
            ("Bob", 500, BOOKED, CREDIT),
            ("Zoë", 700, BOOKED, CREDIT),
        ]
        assert lines[0].creditor_reference == "RF18539007547034"

    def test_camt054_notification(self):
        data = build(
            CamtFile(
                version="camt.054.001.02",
                statements=[
                    Statement(
                        OUR_IBAN,
                        [
                            Entry(
                                [Tx(1500, "Nicolò", end_to_end_id="PZ-DD-1", mandate_id="PZM-1", return_reason="AC04")],
                                credit=False,
                                family="RDDT/UPDD",
                                bank_reference="R1",
                            ),
                        ],
                    )
                ],
            )
        )
        parsed = parse_statement_file(data)
        assert parsed.format == "camt.054.001.02"
        assert parsed.statements[0].lines[0].return_reason == "AC04"

    def test_undetailed_batch_keeps_its_payment_information_id(self):
        data = build(
            CamtFile(
                statements=[
                    Statement(
                        OUR_IBAN,
                        [
                            Entry(
                                [Tx(1000), Tx(2000)], detailed=False, batch_pmt_inf_id="PZ-B-3-DD1", family="RCDT/ESCT"
                            ),
                        ],
                    )
                ]
            )
        )
        [line] = parse_statement_file(data).statements[0].lines
        assert (line.amount_cents, line.payment_information_id, line.batch_size) == (3000, "PZ-B-3-DD1", 2)


class TestBadFiles:
    """Issue 5, bad input: a CAMT file that is not CAMT, is truncated, or of an unknown version."""

    def _refusal(self, data: bytes, name: str = "file.xml") -> StatementFileError:
        with pytest.raises(StatementFileError) as error:
            parse_statement_file(data, name)
        return error.value

    def test_not_camt_csv(self):
        error = self._refusal(b"data;importo;causale\n2026-02-03;50,00;donazione\n", "movimenti.csv")
        assert error.code == "not_camt" and "movimenti.csv" in error.message and "CAMT.053" in error.message

    def test_not_camt_but_pain(self):
        data = b'<?xml version="1.0"?><Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.008.001.02"/>'
        error = self._refusal(data)
        assert error.code == "not_camt" and "pain.008" in error.message

    def test_not_camt_other_xml(self):
        error = self._refusal(b"<html><body>login</body></html>")
        assert error.code == "not_camt" and "html" in error.message

    def test_truncated(self):
        data = _v02()
        error = self._refusal(data[: len(data) // 2])
        assert error.code == "truncated" and "troncato" in error.message

    def test_unknown_namespace_version(self):
        data = _v02().replace(b"camt.053.001.02", b"camt.053.001.99")
        error = self._refusal(data)
        assert error.code == "unknown_version" and "camt.053.001.99" in error.message

    def test_dtd_and_entities_are_refused(self):
        data = (
            b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x "y">]>'
            b'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02">&x;</Document>'
        )
        assert self._refusal(data).code == "unsafe_xml"

    def test_empty(self):
        assert self._refusal(b"  \n").code == "empty"

    @pytest.mark.parametrize(
        ("old", "new", "fragment"),
        [
            (
                b'<Amt Ccy="EUR">50.00</Amt>\n        <CdtDbtInd>CRDT',
                b'<Amt Ccy="EUR">50.001</Amt>\n        <CdtDbtInd>CRDT',
                "centesimo",
            ),
            (
                b"<CdtDbtInd>CRDT</CdtDbtInd>\n        <Sts>BOOK</Sts>",
                b"<CdtDbtInd>CRED</CdtDbtInd>\n        <Sts>BOOK</Sts>",
                "CdtDbtInd",
            ),
            (b"<MsgId>053D2026020301234</MsgId>", b"", "MsgId"),
            (b"<Sts>PDNG</Sts>", b"<Sts>WAIT</Sts>", "WAIT"),
        ],
    )
    def test_structure_errors_name_the_problem(self, old, new, fragment):
        assert old in _v02()
        error = self._refusal(_v02().replace(old, new, 1))
        assert error.code in {"structure", "bad_amount"}
        assert fragment in " ".join([error.message, *error.details])

    def test_batch_details_not_adding_up(self):
        data = _v02().replace(b'<Amt Ccy="EUR">65.00</Amt>', b'<Amt Ccy="EUR">66.00</Amt>')
        error = self._refusal(data)
        assert "movimento 2" in " ".join(error.details)


class TestMt940:
    def test_two_statements_names_and_references(self):
        parsed = parse_statement_file((FIXTURES / "statement.mt940").read_bytes(), "estratto.sta")
        assert parsed.format == "mt940"
        assert [s.statement_id for s in parsed.statements] == ["STMT20260203", "STMT20260204"]
        first = parsed.statements[0]
        assert first.warnings == []
        assert first.lines[0].creditor_reference == "RF18539007547034"
        assert first.lines[0].booking_date == datetime.date(2026, 2, 3)
        assert (first.lines[1].counterparty_name, first.lines[1].remittance) == (
            "Ludovica Dell'Orto",
            "Quota iscrizione 2026",
        )
        assert (first.lines[2].direction, first.lines[2].amount_cents) == (DEBIT, 250)
        assert len({line.fingerprint for s in parsed.statements for line in s.lines}) == 4

    def test_broken_mt940(self):
        with pytest.raises(StatementFileError) as error:
            parse_statement_file(b":20:X\r\n:25:\r\n:61:garbage\r\n-", "x.sta")
        assert error.value.code in {"bad_mt940", "structure"}
