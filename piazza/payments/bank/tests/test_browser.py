"""Journey (Anna, federation treasurer): upload the bank's CAMT.053, most lines match by
themselves, she finds the remaining one by name and matches it; the books stay clean."""

from __future__ import annotations

from pathlib import Path

import pytest
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from piazza.core.money import Money
from piazza.ledger.accounts import get_account
from piazza.ledger.checks import run_checks
from piazza.ledger.queries import balance
from piazza.payments.bank.actions import accounts as accounts_actions
from piazza.payments.bank.actions import collections as collections_actions
from piazza.payments.bank.actions import mandates as mandates_actions
from piazza.payments.bank.actions import matching as matching_actions
from piazza.payments.bank.actions import statements as statements_actions
from piazza.payments.bank.models import LineStatus, StatementLine, TransferStatus
from piazza.payments.bank.tests.camt_builder import CamtFile, Statement, Tx, build
from piazza.payments.bank.tests.camt_builder import Entry as CamtEntry
from piazza.payments.bank.tests.conftest import CREDITOR_ID, OUR_IBAN
from piazza.territory.models import Role
from piazza.territory.testing import build_tree, make_official
from piazza.web.testing_browser import assert_accessible

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _login(page, username):
    device = TOTPDevice.objects.create(user=_user(username), name="phone", confirmed=True)
    page.goto("/accesso/")
    page.get_by_label("Nome utente").fill(username)
    page.get_by_label("Password").fill("correct-horse-battery")
    page.get_by_role("button", name="Entra").click()
    page.wait_for_url("**/accesso/2fa/**")
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    page.get_by_label("Codice di verifica").fill(f"{totp.token():06d}")
    page.get_by_role("button", name="Verifica").click()
    page.wait_for_url("**/gestione/")


def _user(username):
    from django.contrib.auth import get_user_model

    return get_user_model().objects.get(username=username)


def test_statement_import_then_manual_match(page, tmp_path: Path):
    tree = build_tree()
    anna = make_official("anna", tree.bologna, [Role.TREASURY])
    account = accounts_actions.register_bank_account(
        actor=anna, territory=tree.bologna, name="PD Federazione di Bologna", iban=OUR_IBAN, creditor_id=CREDITOR_ID
    )
    funds = get_account("territory", territory=tree.bologna)
    by_reference = matching_actions.expect_transfer(
        actor=anna,
        account=account,
        amount=Money(5000),
        payer_name="Maria Rossi",
        description="Donazione",
        credit_account=funds,
        creation_key="b1",
    )
    manual = matching_actions.expect_transfer(
        actor=anna,
        account=account,
        amount=Money(2500),
        payer_name="Ludovica Dell'Orto",
        description="Tessera 2026",
        credit_account=funds,
        creation_key="b2",
    )
    statement = tmp_path / "estratto-febbraio.xml"
    statement.write_bytes(
        build(
            CamtFile(
                statements=[
                    Statement(
                        OUR_IBAN,
                        [
                            CamtEntry([Tx(5000, "Maria Rossi", reference=by_reference.reference)], bank_reference="W1"),
                            CamtEntry([Tx(2500, "L. D. ORTO", text="tessera")], bank_reference="W2"),
                        ],
                    )
                ]
            )
        )
    )

    _login(page, "anna")
    page.get_by_role("link", name="Banca").first.click()
    assert_accessible(page)  # the treasurer's overview, desktop (issue 11 item 19)
    page.get_by_role("link", name="Importa estratto").click()
    assert_accessible(page)
    page.get_by_label("File dell'estratto conto").set_input_files(str(statement))
    page.get_by_role("button", name="Importa").click()
    page.wait_for_url("**/banca/estratti/*/")  # the progress page (the worker runs inline in tests)
    report = page.locator("#import-progress [role=status]")
    report.wait_for()
    assert "2 movimenti nuovi" in report.inner_text() and "1 da abbinare a mano" in report.inner_text()
    assert page.locator("progress").get_attribute("value") == "100"
    page.get_by_role("link", name="Vai ai movimenti da abbinare").click()
    page.wait_for_url("**/banca/movimenti/")
    assert_accessible(page)

    page.get_by_role("link", name="L. D. ORTO").click()
    page.get_by_label("Cerca per nome o riferimento").fill("Dell'Orto")
    page.get_by_role("button", name="Cerca").click()
    page.get_by_role("button", name=f"Abbina a {manual.reference}").click()
    page.wait_for_url("**/banca/movimenti/")
    assert f"abbinato a {manual.reference}" in page.locator(".messages").inner_text()
    assert_accessible(page)  # with the confirmation message

    assert set(StatementLine.objects.values_list("status", flat=True)) == {LineStatus.MATCHED}
    manual.refresh_from_db()
    assert manual.status == TransferStatus.PAID
    assert balance(funds) == Money(7500)
    assert run_checks() == []


def test_a_return_without_reference_is_matched_by_hand_in_the_browser(page):
    """Anna's bank returned a debit without our reference: she finds the collection by name."""
    from piazza.payments.bank.models import CollectionStatus
    from piazza.payments.bank.tests.conftest import CONSENT, far_date

    tree = build_tree()
    anna = make_official("anna", tree.bologna, [Role.TREASURY])
    account = accounts_actions.register_bank_account(
        actor=anna, territory=tree.bologna, name="PD Federazione di Bologna", iban=OUR_IBAN, creditor_id=CREDITOR_ID
    )
    funds = get_account("territory", territory=tree.bologna)
    mandate = mandates_actions.sign_mandate(
        actor=anna,
        creditor=account,
        debtor_name="Nicolò Dell'Acqua",
        debtor_iban="IT25O0306909606100000012345",
        signed_on=far_date(-10),
        channel="online",
        consent_text=CONSENT,
    )
    collection = collections_actions.schedule_collection(
        actor=anna,
        mandate=mandate,
        amount=Money(1500),
        due_date=far_date(20),
        description="Quota",
        credit_account=funds,
        creation_key="br",
    )
    batch = collections_actions.prepare_batch(actor=anna, creditor=account, due_date=far_date(20))
    collections_actions.export_batch(actor=anna, batch=batch)
    collection.refresh_from_db()
    statements_actions.import_statement(
        actor=anna,
        territory=tree.bologna,
        filename="marzo.xml",
        data=build(
            CamtFile(
                statements=[
                    Statement(
                        OUR_IBAN,
                        [
                            CamtEntry(
                                [Tx(1500, "Nicolò Dell'Acqua", end_to_end_id=collection.end_to_end_id)],
                                batch_pmt_inf_id=f"{batch.message_id}-DD1",
                                bank_reference="CR",
                            ),
                            CamtEntry(
                                [Tx(1500, "DELL ACQUA N", return_reason="AM04")],
                                credit=False,
                                family="RDDT/UPDD",
                                bank_reference="RT",
                            ),
                        ],
                    )
                ]
            )
        ),
    )

    _login(page, "anna")
    page.goto("/banca/movimenti/")
    page.get_by_role("link", name="DELL ACQUA N").click()
    page.get_by_label("Cerca per nome o riferimento").fill("Dell'Acqua")
    page.get_by_role("button", name="Cerca").click()
    page.get_by_role("button", name=f"Registra lo storno di {collection.end_to_end_id}").click()
    page.wait_for_url("**/banca/movimenti/")
    assert collection.end_to_end_id in page.locator(".messages").inner_text()
    collection.refresh_from_db()
    assert collection.status == CollectionStatus.FAILED and collection.return_reason == "AM04"
    assert balance(funds) == Money(0)
    assert run_checks() == []
