"""Manual matching of a line whose amount differs from what a transfer expects (issue 11, item 15):
near amounts are offered (the suggested one always), closest first, with the gap in words; a
different amount is matched only with a decision on the gap; a short payment waits in the queue;
the import summary counts this file's waiting lines; one statement size limit."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from piazza.core.models import AuditEntry, AuditKind
from piazza.core.money import Money
from piazza.ledger.accounts import get_account
from piazza.ledger.queries import balance
from piazza.payments.bank.actions import collections as collections_actions
from piazza.payments.bank.actions import matching as matching_actions
from piazza.payments.bank.actions import statements as statements_actions
from piazza.payments.bank.models import CollectionBatch, LineStatus, StatementImport, StatementLine, TransferStatus
from piazza.payments.bank.statement_files import StatementFileError, parse_statement_file
from piazza.payments.bank.tests.camt_builder import CamtFile, Statement, Tx, build
from piazza.payments.bank.tests.camt_builder import Entry as CamtEntry
from piazza.payments.bank.tests.conftest import OUR_IBAN, far_date
from piazza.territory.testing import verified_client

pytestmark = pytest.mark.usefixtures("check_ledger")


def _expect(bank, name, cents, key):
    return matching_actions.expect_transfer(
        actor=bank.anna,
        account=bank.account,
        amount=Money(cents),
        payer_name=name,
        description="Donazione",
        credit_account=bank.funds,
        creation_key=key,
    )


def _file(*entries):
    return build(CamtFile(statements=[Statement(OUR_IBAN, list(entries))]))


@pytest.fixture
def short(bank, tree):
    """Maria owes 50,00 € and pays 49,99 € with the RF reference; other transfers are open."""
    maria = _expect(bank, "Maria Rossi", 5000, "maria")
    near = _expect(bank, "Paolo Verdi", 5100, "near")
    partial_far = _expect(bank, "Giulia Neri", 20000, "far")  # an unrelated larger transfer
    statements_actions.import_statement(
        actor=bank.anna,
        territory=tree.bologna,
        filename="a.xml",
        data=_file(CamtEntry([Tx(4999, "Maria Rossi", reference=maria.reference)], bank_reference="S1")),
    )
    line = StatementLine.objects.get()
    return maria, near, partial_far, line


def test_a_short_payment_waits_in_the_queue_with_the_gap_in_words(bank, short):
    maria, _near, _far, line = short
    maria.refresh_from_db()
    assert line.status == LineStatus.QUEUED and line.suggestion_id == maria.pk
    assert "mancano 0,01 €" in line.reason and maria.reference in line.reason
    assert maria.status == TransferStatus.AWAITING and balance(bank.funds) == Money(0)


def test_the_line_page_offers_near_amounts_closest_first_and_no_one_click_match(bank, short):
    maria, near, far, line = short
    page = verified_client(bank.anna).get(reverse("bank:line", args=[line.pk])).content.decode()
    assert maria.reference in page and near.reference in page and far.reference not in page
    assert page.index(maria.reference) < page.index(near.reference)  # closest first
    assert "mancano 0,01 €" in page and "mancano 1,01 €" in page and "suggerito" in page
    assert f'id="difference-{maria.pk}"' in page and "Registra e chiedi il resto" in page
    assert f"Abbina a {maria.reference}" not in page  # the one-click button is only for exact amounts


def test_the_suggested_transfer_is_offered_even_outside_the_tolerance(bank, short, settings):
    maria, near, _far, line = short
    settings.BANK_MATCH_AMOUNT_TOLERANCE_CENTS = 0
    page = verified_client(bank.anna).get(reverse("bank:line", args=[line.pk])).content.decode()
    assert maria.reference in page and near.reference not in page


def test_matching_a_different_amount_without_a_decision_is_refused_and_audited(bank, short):
    maria, _near, _far, line = short
    response = verified_client(bank.anna).post(
        reverse("bank:line", args=[line.pk]), {"do": "match", "transfer": maria.pk}, follow=True
    )
    assert "Scegli cosa fare della differenza" in response.content.decode()
    line.refresh_from_db()
    assert line.status == LineStatus.QUEUED and balance(bank.funds) == Money(0)
    denied = AuditEntry.objects.get(kind=AuditKind.DENIED, action="bank.match_transfer")
    assert denied.data["code"] == "difference_undecided"


def test_accepting_a_short_payment_pays_the_transfer_and_writes_off_the_gap(bank, short, tree):
    maria, _near, _far, line = short
    response = verified_client(bank.anna).post(
        reverse("bank:line", args=[line.pk]), {"do": "match", "transfer": maria.pk, "difference": "accept"}
    )
    assert response.status_code == 302
    line.refresh_from_db()
    maria.refresh_from_db()
    assert line.status == LineStatus.MATCHED and "mancano 0,01 €" in line.reason
    assert maria.status == TransferStatus.PAID
    assert balance(bank.funds) == Money(5000)  # the destination gets what was expected
    assert balance(get_account("bank_short_payments", territory=tree.bologna)) == Money(1)
    assert balance(bank.account.ledger_account) == Money(4999)


def test_asking_the_rest_books_the_part_and_keeps_the_transfer_open(bank, short):
    maria, _near, _far, line = short
    verified_client(bank.anna).post(
        reverse("bank:line", args=[line.pk]), {"do": "match", "transfer": maria.pk, "difference": "ask_rest"}
    )
    maria.refresh_from_db()
    assert maria.status == TransferStatus.PARTIAL and maria.outstanding_cents == 1
    assert balance(bank.funds) == Money(4999)


def test_refusing_the_difference_sets_the_line_aside_and_books_nothing(bank, short):
    maria, _near, _far, line = short
    verified_client(bank.anna).post(
        reverse("bank:line", args=[line.pk]), {"do": "match", "transfer": maria.pk, "difference": "refuse"}
    )
    line.refresh_from_db()
    maria.refresh_from_db()
    assert line.status == LineStatus.REJECTED and "da restituire" in line.reason and line.matched_by == bank.anna
    assert maria.status == TransferStatus.AWAITING and balance(bank.account.ledger_account) == Money(0)


def test_an_excess_cannot_be_asked_for_the_rest(bank, tree):
    maria = _expect(bank, "Maria Rossi", 5000, "maria")
    statements_actions.import_statement(
        actor=bank.anna,
        territory=tree.bologna,
        filename="a.xml",
        data=_file(CamtEntry([Tx(5001, "Sconosciuto", text="donazione")], bank_reference="S2")),
    )
    line = StatementLine.objects.get()
    assert line.status == LineStatus.QUEUED
    response = verified_client(bank.anna).post(
        reverse("bank:line", args=[line.pk]),
        {"do": "match", "transfer": maria.pk, "difference": "ask_rest"},
        follow=True,
    )
    assert "0,01 € in più" in response.content.decode()
    line.refresh_from_db()
    assert line.status == LineStatus.QUEUED


def test_the_import_summary_counts_the_lines_of_this_file_still_waiting(
    bank, short, django_capture_on_commit_callbacks
):
    """The same movements uploaded again: stored by the first upload, still waiting."""
    client = verified_client(bank.anna)
    data = bytes(StatementImport.objects.get().content)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("bank:import"), {"file": SimpleUploadedFile("again.xml", data)})
    page = client.get(response["Location"]).content.decode()
    assert "0 movimenti nuovi, 1 già presenti, 1 da abbinare a mano" in page


def test_one_size_limit_for_the_upload_form_and_the_parser(bank, settings):
    settings.BANK_STATEMENT_MAX_MB = 1
    too_big = b"<" + b"x" * (2 * 2**20)
    with pytest.raises(StatementFileError) as error:
        parse_statement_file(too_big, "anno.xml")
    assert "pesa 3 MB, oltre il limite di 1 MB" in error.value.args[0]
    page = (
        verified_client(bank.anna)
        .post(reverse("bank:import"), {"file": SimpleUploadedFile("anno.xml", too_big)})
        .content.decode()
    )
    assert "pesa 3 MB, oltre il limite di 1 MB" in page and not StatementImport.objects.exists()


def test_an_empty_batch_is_refused_its_audit_entry_kept_and_no_batch_left(bank):
    """Issue 11, item 23: the refusal decided inside prepare_batch's block survives its rollback."""
    with pytest.raises(ValidationError, match="Non ci sono addebiti programmati"):
        collections_actions.prepare_batch(actor=bank.anna, creditor=bank.account, due_date=far_date(20))
    assert not CollectionBatch.objects.exists()
    denied = AuditEntry.objects.get(kind=AuditKind.DENIED, action="bank.prepare_batch")
    assert denied.data["code"] == "empty_batch" and denied.territory_id == bank.account.territory_id
