"""Pure format modules: IBAN (rule D3), RF references, EPC QR, pain.008/pain.001 (rule D5)."""

from __future__ import annotations

import datetime

import pytest
from django.core.exceptions import ValidationError
from lxml import etree

from piazza.payments.bank import epc_qr, references, sepa_xml
from piazza.payments.bank.iban import bic_for, format_iban, mask_iban, normalize_iban
from piazza.payments.bank.return_reasons import MandateEffect, reason_for

GOOD_IT = "IT60X0542811101000000123456"


def _with_check_digits(country: str, bban: str) -> str:
    """An IBAN whose ISO check digits are right, whatever the BBAN (to test the CIN alone)."""
    digits = "".join(str(int(c, 36)) for c in bban + country + "00")
    return f"{country}{98 - int(digits) % 97:02d}{bban}"


class TestIban:
    def test_valid_italian_iban_is_normalised(self):
        assert normalize_iban(" it60 x054 2811 1010 0000 0123 456 ") == GOOD_IT
        assert format_iban(GOOD_IT) == "IT60 X054 2811 1010 0000 0123 456"
        assert mask_iban(GOOD_IT) == "IT60 •••• 3456"
        assert bic_for(GOOD_IT) == "BLOPIT22"

    def test_foreign_sepa_iban_is_accepted(self):
        assert normalize_iban("DE89 3704 0044 0532 0130 00") == "DE89370400440532013000"

    def test_wrong_cin_is_refused_with_cin_message(self):
        wrong_cin = _with_check_digits("IT", "Y0542811101000000123456")  # check digits fine, CIN wrong
        with pytest.raises(ValidationError) as error:
            normalize_iban(wrong_cin)
        assert error.value.code == "iban_cin"
        assert "CIN" in error.value.messages[0] and "«Y»" in error.value.messages[0]

    @pytest.mark.parametrize(
        ("value", "code"),
        [
            ("", "iban_empty"),
            ("IT61X0542811101000000123456", "iban_checksum"),
            ("IT60X054281110100000012345", "iban_length"),
            ("IT60X05428111010000001234567", "iban_length"),
            ("XX60X0542811101000000123456", "iban_country"),
            ("IT60X05428111010000001234$6", "iban_structure"),
        ],
    )
    def test_bad_ibans_have_specific_codes(self, value, code):
        with pytest.raises(ValidationError) as error:
            normalize_iban(value, field="iban")
        assert error.value.error_dict["iban"][0].code == code


class TestReferences:
    def test_generated_references_validate_and_are_deterministic(self):
        ref = references.reference_for("PZ", 1234)
        assert ref == references.reference_for("PZ", 1234)
        assert references.is_valid_reference(ref)
        assert ref.startswith("RF") and ref.endswith("PZ00001234")

    def test_known_iso_example(self):
        assert references.is_valid_reference("RF18539007547034")
        assert references.format_reference("RF18539007547034") == "RF18 5390 0754 7034"
        assert not references.is_valid_reference("RF19539007547034")

    def test_references_are_found_in_free_text_with_spaces_and_case(self):
        text = "bonifico quota rf18 5390 0754 7034 grazie, anche RF19539007547034 (sbagliato)"
        assert references.find_references(text) == ["RF18539007547034"]

    def test_bad_body_is_refused(self):
        with pytest.raises(ValueError):
            references.creditor_reference("città")
        with pytest.raises(ValueError):
            references.creditor_reference("X" * 22)


class TestEpcQr:
    def test_payload_follows_epc069(self):
        payload = epc_qr.epc_payload(
            epc_qr.TransferRequest(
                beneficiary="PD Federazione di Bologna", iban=GOOD_IT, amount_cents=1250, reference="RF18539007547034"
            )
        )
        assert payload.split("\n") == [
            "BCD",
            "002",
            "1",
            "SCT",
            "",
            "PD Federazione di Bologna",
            GOOD_IT,
            "EUR12.50",
            "",
            "RF18539007547034",
        ]

    def test_svg_is_inline_and_csp_safe(self):
        svg = epc_qr.epc_qr_svg(epc_qr.TransferRequest(beneficiary="PD", iban=GOOD_IT, text="Donazione"))
        assert svg.startswith("<svg") and "<path" in svg
        assert "style=" not in svg and "<script" not in svg

    @pytest.mark.parametrize(
        "request_",
        [
            epc_qr.TransferRequest(beneficiary="PD", iban=GOOD_IT, currency="USD"),
            epc_qr.TransferRequest(beneficiary="", iban=GOOD_IT),
            epc_qr.TransferRequest(beneficiary="PD", iban=GOOD_IT, amount_cents=0),
            epc_qr.TransferRequest(beneficiary="PD", iban=GOOD_IT, reference="RF00BAD"),
        ],
    )
    def test_invalid_requests_are_refused(self, request_):
        with pytest.raises(epc_qr.EpcQrError):
            epc_qr.epc_payload(request_)


CREDITOR = sepa_xml.Party(
    "Partito Democratico – Federazione di Bologna", GOOD_IT, "BLOPIT22", "IT66ZZZA1B2C3D4E5F6G7H8"
)


def _debits():
    signed = datetime.date(2026, 1, 5)
    return [
        sepa_xml.Debit("PZ-DD-1", 1500, "PZM-00000001", signed, "Nicolò Dell'Acqua", GOOD_IT, "FRST", "Quota 2026"),
        sepa_xml.Debit(
            "PZ-DD-2",
            2500,
            "PZM-00000002",
            signed,
            "Zoë Müller",
            "DE89370400440532013000",
            "RCUR",
            "Donazione mensile",
            amendment=sepa_xml.Amendment(original_iban=GOOD_IT),
        ),
        sepa_xml.Debit(
            "PZ-DD-3",
            1000,
            "PZM-00000003",
            signed,
            "Łukasz Żółć",
            "DE89370400440532013000",
            "FRST",
            "Donazione mensile",
            amendment=sepa_xml.Amendment(new_bank=True),
        ),
    ]


class TestPain:
    @pytest.mark.parametrize("schema", sepa_xml.PAIN008_SCHEMAS)
    def test_pain008_is_xsd_valid_with_amendments(self, schema):
        xml = sepa_xml.build_pain008(
            CREDITOR, _debits(), collection_date=datetime.date(2026, 2, 20), message_id="PZ-B-7", schema=schema
        )
        sepa_xml.validate_sepa_xml(xml, schema)  # the official XSD shipped with sepaxml
        doc = etree.fromstring(xml)
        ns = {"p": f"urn:iso:std:iso:20022:tech:xsd:{schema}"}
        assert doc.findtext(".//p:GrpHdr/p:MsgId", namespaces=ns) == "PZ-B-7"
        assert doc.findtext(".//p:GrpHdr/p:CtrlSum", namespaces=ns) == "50.00"
        assert doc.findtext(".//p:GrpHdr/p:NbOfTxs", namespaces=ns) == "3"
        assert sorted(doc.xpath("//p:SeqTp/text()", namespaces=ns)) == ["FRST", "RCUR"]
        assert doc.xpath("//p:AmdmntInfDtls/p:OrgnlDbtrAcct/p:Id/p:IBAN/text()", namespaces=ns) == [GOOD_IT]
        assert doc.xpath("//p:AmdmntInfDtls/p:OrgnlDbtrAgt/p:FinInstnId/p:Othr/p:Id/text()", namespaces=ns) == ["SMNDA"]
        # Names are transliterated to the SEPA character set, not dropped.
        assert "Nicolo Dell'Acqua" in xml.decode()

    @pytest.mark.parametrize("schema", sepa_xml.PAIN008_SCHEMAS + sepa_xml.PAIN001_SCHEMAS)
    def test_names_and_remittance_keep_to_the_epc_basic_latin_set(self, schema):
        """Issue 11, item 15: `&` is outside the EPC basic Latin set: it becomes `+` (EPC
        conversion table), accents are transliterated, anything else becomes `.`; still XSD-valid."""
        signed = datetime.date(2026, 1, 5)
        party = sepa_xml.Party("Federazione & Circoli – Società", GOOD_IT, "BLOPIT22", "IT66ZZZA1B2C3D4E5F6G7H8")
        if schema.startswith("pain.008"):
            xml = sepa_xml.build_pain008(
                party,
                [
                    sepa_xml.Debit(
                        "PZ-DD-1",
                        1500,
                        "PZM-00000001",
                        signed,
                        "Rossi & Figli s.n.c.",
                        GOOD_IT,
                        "FRST",
                        "Quota 50% #1 & più_altro",
                    )
                ],
                collection_date=datetime.date(2026, 2, 20),
                message_id="PZ-B-8",
                schema=schema,
            )
        else:
            xml = sepa_xml.build_pain001(
                party,
                [sepa_xml.Transfer("PZ-PO-1", 1500, "Rossi & Figli s.n.c.", GOOD_IT, "Quota 50% #1 & più_altro")],
                execution_date=datetime.date(2026, 2, 20),
                message_id="PZ-P-2",
                schema=schema,
            )
        sepa_xml.validate_sepa_xml(xml, schema)
        doc = etree.fromstring(xml)
        ns = {"p": f"urn:iso:std:iso:20022:tech:xsd:{schema}"}
        names = doc.xpath("//p:Nm/text()", namespaces=ns)
        texts = names + doc.xpath("//p:Ustrd/text()", namespaces=ns)
        assert "Rossi + Figli s.n.c." in names and "Federazione + Circoli - Societa" in names
        assert "Quota 50. .1 + piu.altro" in texts
        assert b"&amp;" not in xml and all(set(t) <= sepa_xml.EPC_BASIC_LATIN for t in texts)

    @pytest.mark.parametrize("schema", sepa_xml.PAIN001_SCHEMAS)
    def test_pain001_is_xsd_valid(self, schema):
        xml = sepa_xml.build_pain001(
            CREDITOR,
            [sepa_xml.Transfer("PZ-PO-1", 123456, "Circolo PD Bologna Navile", GOOD_IT, "Rimborso spese")],
            execution_date=datetime.date(2026, 2, 20),
            message_id="PZ-P-1",
            schema=schema,
        )
        sepa_xml.validate_sepa_xml(xml, schema)
        assert b"1234.56" in xml

    def test_tampered_file_fails_validation(self):
        xml = sepa_xml.build_pain008(
            CREDITOR, _debits(), collection_date=datetime.date(2026, 2, 20), message_id="PZ-B-7"
        )
        broken = xml.replace(b"<SeqTp>FRST</SeqTp>", b"<SeqTp>NOPE</SeqTp>")
        with pytest.raises(sepa_xml.SepaFileInvalid) as error:
            sepa_xml.validate_sepa_xml(broken, "pain.008.001.02")
        assert error.value.errors and "SeqTp" in error.value.errors[0]

    def test_wrong_namespace_is_refused(self):
        xml = sepa_xml.build_pain001(
            CREDITOR,
            [sepa_xml.Transfer("PZ-PO-1", 100, "X", GOOD_IT, "r")],
            execution_date=datetime.date(2026, 2, 20),
            message_id="PZ-P-1",
        )
        with pytest.raises(sepa_xml.SepaFileInvalid):
            sepa_xml.validate_sepa_xml(xml, "pain.008.001.02")


class TestReturnReasons:
    def test_retry_and_mandate_effects(self):
        assert reason_for("AM04").retry is True
        assert reason_for("ms02").retry is False
        assert reason_for("MD01").mandate_effect == MandateEffect.REVOKE
        assert reason_for("AC04").mandate_effect == MandateEffect.SUSPEND
        assert "IBAN" in reason_for("AC04").debtor_text

    def test_unknown_code_is_kept_and_never_retried(self):
        reason = reason_for("ZZ99")
        assert reason.code == "ZZ99" and reason.retry is False
