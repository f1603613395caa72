"""SEPA mandates, collections and pain.008 batches (issue 5), with every bad input refused."""

from __future__ import annotations

import datetime

import pytest
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError
from lxml import etree

from piazza.core.models import AuditEntry, AuditKind
from piazza.core.money import Money
from piazza.payments.bank import sepa_xml
from piazza.payments.bank.actions import collections as collections_actions
from piazza.payments.bank.actions import mandates as mandates_actions
from piazza.payments.bank.models import (
    BatchStatus,
    Collection,
    CollectionStatus,
    Mandate,
    MandateChannel,
    MandateStatus,
)
from piazza.payments.bank.tests.conftest import CONSENT, far_date, inside_lead_time, signature_day
from piazza.territory.models import Role
from piazza.territory.testing import make_official

pytestmark = pytest.mark.usefixtures("check_ledger")


def _collect(bank, mandate, key="k1", days=20, cents=1500, recurring=True, due_date=None):
    return collections_actions.schedule_collection(
        actor=bank.anna,
        mandate=mandate,
        amount=Money(cents),
        due_date=due_date or far_date(days),
        description="Donazione mensile",
        credit_account=bank.funds,
        creation_key=key,
        recurring=recurring,
    )


class TestMandateBadInput:
    def test_mandate_without_consent_text_is_refused_and_not_stored(self, bank):
        with pytest.raises(ValidationError) as error:
            bank.mandate(consent_text="   ") if False else mandates_actions.sign_mandate(
                actor=bank.anna,
                creditor=bank.account,
                debtor_name="Maria Rossi",
                debtor_iban="IT25O0306909606100000012345",
                signed_on=signature_day(),
                channel=MandateChannel.ONLINE,
                consent_text="  ",
            )
        assert "consenso" in error.value.message_dict["consent_text"][0]
        assert not Mandate.objects.exists()
        assert AuditEntry.objects.filter(kind=AuditKind.DENIED, action="bank.sign_mandate").exists()

    def test_wrong_cin_is_refused_on_the_iban_field(self, bank):
        with pytest.raises(ValidationError) as error:
            bank.mandate(iban="IT64Y0542811101000000123456")
        assert "CIN" in error.value.message_dict["debtor_iban"][0]
        assert not Mandate.objects.exists()

    def test_invalid_iban_checksum(self, bank):
        with pytest.raises(ValidationError) as error:
            bank.mandate(iban="IT61X0542811101000000123456")
        assert "cifre di controllo" in error.value.message_dict["debtor_iban"][0]

    def test_paper_mandate_needs_the_scan(self, bank):
        with pytest.raises(ValidationError) as error:
            mandates_actions.sign_mandate(
                actor=bank.anna,
                creditor=bank.account,
                debtor_name="Maria Rossi",
                debtor_iban="IT25O0306909606100000012345",
                signed_on=signature_day(),
                channel=MandateChannel.PAPER,
                consent_text=CONSENT,
            )
        assert "scansione" in error.value.message_dict["paper_scan"][0]

    def test_treasurer_of_another_federation_cannot_collect_here(self, bank, tree):
        other = make_official("tesoriere.modena", tree.modena, [Role.TREASURY])
        with pytest.raises(PermissionDenied):
            mandates_actions.sign_mandate(
                actor=other,
                creditor=bank.account,
                debtor_name="X",
                debtor_iban="IT25O0306909606100000012345",
                signed_on=signature_day(),
                channel=MandateChannel.ONLINE,
                consent_text=CONSENT,
            )


class TestCollections:
    def test_prenotification_email_and_idempotent_creation(self, bank, django_capture_on_commit_callbacks):
        mandate = bank.mandate()
        with django_capture_on_commit_callbacks(execute=True):
            first = _collect(bank, mandate)
            again = _collect(bank, mandate)
        assert first.pk == again.pk and Collection.objects.count() == 1
        assert first.end_to_end_id == f"PZ-DD-{first.pk:010d}"
        assert len(mail.outbox) == 1
        body = mail.outbox[0].body
        assert "15,00 €" in body and mandate.reference in body and far_date(20).strftime("%d/%m/%Y") in body

    def test_debit_for_a_revoked_mandate_is_refused(self, bank):
        mandate = mandates_actions.revoke_mandate(
            actor=bank.anna, mandate=bank.mandate(), reason="Richiesta del debitore"
        )
        with pytest.raises(ValidationError) as error:
            _collect(bank, mandate)
        assert "revocato" in error.value.messages[0] and mandate.reference in error.value.messages[0]
        assert not Collection.objects.exists()

    def test_due_date_inside_the_prenotification_lead_time_is_refused(self, bank):
        with pytest.raises(ValidationError) as error:
            _collect(bank, bank.mandate(), due_date=inside_lead_time(14))
        assert "troppo vicina" in error.value.message_dict["due_date"][0]
        assert "14 giorni" in error.value.message_dict["due_date"][0]
        assert not Collection.objects.exists()

    def test_lead_days_are_configurable_per_creditor(self, bank):
        bank.account.prenotification_days = 5
        bank.account.save()
        assert _collect(bank, bank.mandate(), days=6).status == CollectionStatus.SCHEDULED

    def test_batch_with_a_due_date_too_close_is_refused(self, bank, settings):
        settings.BANK_SDD_MIN_DAYS_BEFORE_DUE = 3
        with pytest.raises(ValidationError) as error:
            collections_actions.prepare_batch(actor=bank.anna, creditor=bank.account, due_date=far_date(2))
        assert "troppo vicina" in error.value.messages[0]


class TestBatches:
    def test_batch_export_is_xsd_valid_and_immutable(self, bank):
        mandate = bank.mandate()
        other = bank.mandate(name="Zoë Müller", iban="DE89370400440532013000", email="zoe@example.org")
        _collect(bank, mandate, "a")
        _collect(bank, other, "b", cents=2500, recurring=False)
        batch = collections_actions.prepare_batch(actor=bank.anna, creditor=bank.account, due_date=far_date(20))
        xml = collections_actions.export_batch(actor=bank.anna, batch=batch)
        sepa_xml.validate_sepa_xml(xml, "pain.008.001.02")
        batch.refresh_from_db()
        assert batch.status == BatchStatus.EXPORTED and batch.xml_sha256
        assert collections_actions.export_batch(actor=bank.bruno, batch=batch) == xml  # same bytes, forever
        doc = etree.fromstring(xml)
        ns = {"p": "urn:iso:std:iso:20022:tech:xsd:pain.008.001.02"}
        assert sorted(doc.xpath("//p:SeqTp/text()", namespaces=ns)) == ["FRST", "OOFF"]
        assert doc.findtext(".//p:CdtrSchmeId/p:Id/p:PrvtId/p:Othr/p:Id", namespaces=ns) == bank.account.creditor_id
        assert AuditEntry.objects.filter(action="bank.export_batch", kind=AuditKind.EXPORT).count() == 2
        # A new debit for the same day goes to a new batch: the exported one never changes.
        _collect(bank, mandate, "c")
        second = collections_actions.prepare_batch(actor=bank.anna, creditor=bank.account, due_date=far_date(20))
        assert second.pk != batch.pk and batch.collections.count() == 2

    def test_amended_mandate_keeps_its_collections_and_tells_the_bank(self, bank):
        mandate = bank.mandate()
        _collect(bank, mandate, "first")
        first_batch = collections_actions.prepare_batch(actor=bank.anna, creditor=bank.account, due_date=far_date(20))
        collections_actions.export_batch(actor=bank.anna, batch=first_batch)
        scheduled = _collect(bank, mandate, "second", days=50)
        amended = mandates_actions.amend_mandate(
            actor=bank.bruno,
            mandate=mandate,
            debtor_iban="IT60X0542811101000000123456",
            debtor_name="Nicolò Dell'Acqua Bianchi",
        )
        assert amended.reference == mandate.reference and amended.status == MandateStatus.AMENDED
        scheduled.refresh_from_db()
        assert scheduled.mandate_id == mandate.pk  # the link to schedule and payable is untouched
        batch = collections_actions.prepare_batch(actor=bank.anna, creditor=bank.account, due_date=far_date(50))
        xml = collections_actions.export_batch(actor=bank.anna, batch=batch)
        doc = etree.fromstring(xml)
        ns = {"p": "urn:iso:std:iso:20022:tech:xsd:pain.008.001.02"}
        assert doc.xpath("//p:AmdmntInd/text()", namespaces=ns) == ["true"]
        # New bank (other ABI): SMNDA and a FRST sequence, as the rulebook requires.
        assert doc.xpath("//p:OrgnlDbtrAgt//p:Id/text()", namespaces=ns) == ["SMNDA"]
        assert doc.xpath("//p:SeqTp/text()", namespaces=ns) == ["FRST"]
        assert "Nicolo Dell'Acqua Bianchi" in xml.decode()
        mandate.refresh_from_db()
        assert mandate.status == MandateStatus.ACTIVE and not mandate.pending_original_iban

    @pytest.mark.parametrize(
        ("signed", "lapses"),
        [
            (datetime.date(2026, 1, 31), datetime.date(2029, 1, 31)),
            (datetime.date(2028, 2, 29), datetime.date(2031, 2, 28)),
            (datetime.date(2027, 5, 31), datetime.date(2030, 5, 31)),
            (datetime.date(2026, 12, 31), datetime.date(2029, 12, 31)),
        ],
    )
    def test_36_months_end_on_the_same_day_or_the_months_last(self, signed, lapses):
        assert Mandate(signed_on=signed).lapses_on() == lapses

    def test_mandates_lapse_after_36_months_unused(self, bank):
        mandate = bank.mandate()
        lapses = datetime.date(mandate.signed_on.year + 3, 1, 5)  # signed on 5 January
        assert mandate.lapses_on() == lapses
        assert mandates_actions.expire_mandates(today=lapses - datetime.timedelta(days=1)) == 0
        assert mandates_actions.expire_mandates(today=lapses) == 1
        mandate.refresh_from_db()
        assert mandate.status == MandateStatus.EXPIRED
