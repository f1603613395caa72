"""Treasurer pages: scoped (404 outside), audited, errors on the right field, nothing half-done."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from piazza.core.models import AuditEntry, AuditKind
from piazza.core.money import Money
from piazza.payments.bank.actions import accounts as accounts_actions
from piazza.payments.bank.actions import collections as collections_actions
from piazza.payments.bank.actions import matching as matching_actions
from piazza.payments.bank.actions import statements as statements_actions
from piazza.payments.bank.models import LineStatus, StatementLine
from piazza.payments.bank.tests.camt_builder import CamtFile, Statement, Tx, build
from piazza.payments.bank.tests.camt_builder import Entry as CamtEntry
from piazza.payments.bank.tests.conftest import OUR_IBAN, far_date, signature_day
from piazza.territory.models import Role
from piazza.territory.testing import make_official, verified_client

pytestmark = pytest.mark.usefixtures("check_ledger")


@pytest.fixture
def upload(django_capture_on_commit_callbacks):
    """Post a statement; the worker's task runs on commit (inline in tests), then the progress page."""

    def post(client, data, name="estratto.xml"):
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(reverse("bank:import"), {"file": SimpleUploadedFile(name, data)})
        return client.get(response["Location"]) if response.status_code == 302 else response

    return post


@pytest.fixture
def queued_line(bank, tree, upload):
    expected = matching_actions.expect_transfer(
        actor=bank.anna,
        account=bank.account,
        amount=Money(4000),
        payer_name="Francesca Neri",
        description="Donazione festa",
        credit_account=bank.funds,
        creation_key="v",
    )
    client = verified_client(bank.anna)
    response = upload(
        client,
        build(
            CamtFile(
                statements=[
                    Statement(OUR_IBAN, [CamtEntry([Tx(4000, "F. NERI", text="contributo")], bank_reference="V1")])
                ]
            )
        ),
    )
    assert "1 movimenti nuovi" in response.content.decode()
    return StatementLine.objects.get(), expected, client


def test_upload_and_manual_match_through_the_pages(bank, queued_line):
    line, expected, client = queued_line
    page = client.get(reverse("bank:line", args=[line.pk]), {"q": "Neri"})
    assert page.status_code == 200 and expected.reference in page.content.decode()
    assert AuditEntry.objects.filter(action="bank.view_line", kind=AuditKind.VIEW, object_id=str(line.pk)).exists()
    response = client.post(reverse("bank:line", args=[line.pk]), {"do": "match", "transfer": expected.pk}, follow=True)
    assert "abbinato a" in response.content.decode()
    line.refresh_from_db()
    assert line.status == LineStatus.MATCHED and line.matched_by == bank.anna


def test_bad_file_shows_the_specific_message_on_the_field(bank, tree, upload):
    client = verified_client(bank.anna)
    response = upload(client, b"<html>not a statement</html>", "export.html")
    body = response.content.decode()
    assert response.status_code == 200 and "non è un estratto conto CAMT" in body
    # On the field (linked by aria-describedby) and in the one error summary at the top (issue 11 item 19).
    assert 'id="error-summary"' in body and '_error"' in body and not StatementLine.objects.exists()


def test_other_federation_gets_404_and_non_treasurers_403(bank, tree, queued_line):
    line, expected, _client = queued_line
    modena = verified_client(make_official("tesoriere.modena", tree.modena, [Role.TREASURY]))
    assert modena.get(reverse("bank:line", args=[line.pk])).status_code == 404
    assert modena.get(reverse("bank:transfer", args=[expected.pk])).status_code == 404
    assert (
        modena.post(reverse("bank:line", args=[line.pk]), {"do": "match", "transfer": expected.pk}).status_code == 404
    )
    assert "F. NERI" not in modena.get(reverse("bank:lines")).content.decode()
    organiser = verified_client(make_official("org.bologna", tree.bologna, [Role.ORGANISATION]))
    assert organiser.get(reverse("bank:overview")).status_code == 403
    line.refresh_from_db()
    assert line.status == LineStatus.QUEUED


def test_transfer_page_shows_iban_reference_and_qr(bank):
    expected = matching_actions.expect_transfer(
        actor=bank.anna,
        account=bank.account,
        amount=Money(2500),
        payer_name="Maria Rossi",
        description="Tessera",
        credit_account=bank.funds,
        creation_key="qr",
    )
    body = verified_client(bank.anna).get(reverse("bank:transfer", args=[expected.pk])).content.decode()
    assert OUR_IBAN in body and "<svg" in body and "25,00 €" in body
    assert expected.reference[:4] in body


def test_batch_export_download_and_mandate_pages(bank):
    mandate = bank.mandate()
    collections_actions.schedule_collection(
        actor=bank.anna,
        mandate=mandate,
        amount=Money(1500),
        due_date=far_date(20),
        description="Quota",
        credit_account=bank.funds,
        creation_key="v1",
        recurring=True,
    )
    client = verified_client(bank.anna)
    assert "Nicolò Dell&#x27;Acqua" in client.get(reverse("bank:mandate", args=[mandate.pk])).content.decode()
    response = client.post(reverse("bank:batches"), {"creditor": bank.account.pk, "due_date": far_date(20).isoformat()})
    assert response.status_code == 302
    batch_url = response["Location"]
    export = client.post(batch_url + "esporta/")
    assert export["Content-Type"] == "application/xml" and b"pain.008.001.02" in export.content
    assert "non si può più modificare" in client.get(batch_url).content.decode()


def test_new_mandate_page_refuses_a_wrong_cin(bank):
    client = verified_client(bank.anna)
    response = client.post(
        reverse("bank:mandate_new"),
        {
            "creditor": bank.account.pk,
            "debtor_name": "Maria Rossi",
            "debtor_iban": "IT64Y0542811101000000123456",
            "signed_on": signature_day().isoformat(),
            "channel": "online",
            "consent_text": "Autorizzo l'addebito",
        },
    )
    assert response.status_code == 200 and "CIN" in response.content.decode()


def test_requester_sees_no_approve_button_and_a_forced_post_is_refused(bank, tree):
    payee = accounts_actions.register_payee(
        actor=bank.anna, territory=tree.bologna, name="Circolo Navile", iban="IT69G0200802435000104428964"
    )
    expected = matching_actions.expect_transfer(
        actor=bank.anna,
        account=bank.account,
        amount=Money(10000),
        payer_name="Maria Rossi",
        description="D",
        credit_account=bank.funds,
        creation_key="f",
    )
    statements_actions.import_statement(
        actor=bank.anna,
        territory=tree.bologna,
        filename="in.xml",
        data=build(
            CamtFile(
                statements=[
                    Statement(
                        OUR_IBAN,
                        [CamtEntry([Tx(10000, "Maria Rossi", reference=expected.reference)], bank_reference="F1")],
                    )
                ]
            )
        ),
    )
    client = verified_client(bank.anna)
    response = client.post(
        reverse("bank:payouts"),
        {
            "do": "request",
            "bank_account": bank.account.pk,
            "source_account": bank.funds.pk,
            "payee": payee.pk,
            "amount": "60,00",
            "description": "Feste",
        },
        follow=True,
    )
    assert "deve approvarlo un altro tesoriere" in response.content.decode()
    assert "Approva" not in response.content.decode()
    payout = payee.payouts.get()
    assert client.post(reverse("bank:payout_decide", args=[payout.pk]), {"do": "approve"}).status_code == 403
    too_much = client.post(
        reverse("bank:payouts"),
        {
            "do": "request",
            "bank_account": bank.account.pk,
            "source_account": bank.funds.pk,
            "payee": payee.pk,
            "amount": "150,00",
            "description": "Troppo",
        },
    )
    assert "saldo disponibile" in too_much.content.decode()
