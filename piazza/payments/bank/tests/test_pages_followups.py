"""Pages added when the import went to the background: the progress page (htmx fragment), the
manual match of an outgoing line, the private paper-mandate scan, and the payee check."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from piazza.core.models import AuditEntry, AuditKind
from piazza.core.money import Money
from piazza.payments.bank.actions import accounts as accounts_actions
from piazza.payments.bank.actions import collections as collections_actions
from piazza.payments.bank.actions import mandates as mandates_actions
from piazza.payments.bank.actions import matching as matching_actions
from piazza.payments.bank.actions import payouts as payouts_actions
from piazza.payments.bank.actions import statements as statements_actions
from piazza.payments.bank.models import (
    CollectionStatus,
    ImportStatus,
    LineStatus,
    MandateChannel,
    Payout,
    StatementImport,
    StatementLine,
)
from piazza.payments.bank.tests.camt_builder import CamtFile, Statement, Tx, build
from piazza.payments.bank.tests.camt_builder import Entry as CamtEntry
from piazza.payments.bank.tests.conftest import CONSENT, OUR_IBAN, far_date
from piazza.territory.models import Role
from piazza.territory.testing import make_official, verified_client

pytestmark = pytest.mark.usefixtures("check_ledger")


def _statement(*entries):
    return build(CamtFile(statements=[Statement(OUR_IBAN, list(entries))]))


def test_upload_waits_in_the_queue_then_the_progress_page_reports(bank, django_capture_on_commit_callbacks):
    client = verified_client(bank.anna)
    data = _statement(
        CamtEntry([Tx(4000, "F. NERI", text="contributo")], bank_reference="P1"),
        CamtEntry([Tx(250, text="Spese")], credit=False, family="MDOP/CHRG", bank_reference="P2"),
    )
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post(reverse("bank:import"), {"file": SimpleUploadedFile("feb.xml", data)})
    assert response.status_code == 302 and len(callbacks) == 1
    statement_import = StatementImport.objects.get()
    assert statement_import.status == ImportStatus.PENDING and not StatementLine.objects.exists()
    fragment = client.get(response["Location"], headers={"HX-Request": "true"}).content.decode()
    assert 'hx-trigger="every 1s"' in fragment and "<progress" in fragment and "0 movimenti su 2" in fragment
    assert "<html" not in fragment  # the fragment only, swapped in place

    callbacks[0]()  # the worker runs the task
    statement_import.refresh_from_db()
    assert (statement_import.status, statement_import.processed_lines, statement_import.progress_percent) == (
        ImportStatus.DONE,
        2,
        100,
    )
    page = client.get(response["Location"]).content.decode()
    assert "2 movimenti nuovi, 0 già presenti, 1 da abbinare a mano" in page
    assert "hx-trigger" not in page  # finished: polling stops


def test_progress_page_of_another_federation_is_404(bank, tree):
    [statement_import] = statements_actions.import_statement(
        actor=bank.anna,
        territory=tree.bologna,
        filename="a.xml",
        data=_statement(CamtEntry([Tx(100, "X")], bank_reference="Z")),
    )
    modena = verified_client(make_official("tes.modena", tree.modena, [Role.TREASURY]))
    url = reverse("bank:import_progress", args=[statement_import.upload_id])
    assert modena.get(url).status_code == 404
    assert verified_client(bank.anna).get(url).status_code == 200


def test_a_failed_import_says_so_and_a_rerun_completes_without_double_booking(bank, tree, monkeypatch):
    expected = matching_actions.expect_transfer(
        actor=bank.anna,
        account=bank.account,
        amount=Money(1200),
        payer_name="Maria Rossi",
        description="D",
        credit_account=bank.funds,
        creation_key="crash",
    )
    data = _statement(CamtEntry([Tx(1200, "Maria Rossi", reference=expected.reference)], bank_reference="C1"))

    def crash(*args, **kwargs):
        raise RuntimeError("worker lost")

    monkeypatch.setattr(statements_actions, "rematch_queued", crash)
    with pytest.raises(RuntimeError):
        statements_actions.import_statement(actor=bank.anna, territory=tree.bologna, filename="c.xml", data=data)
    statement_import = StatementImport.objects.get()
    assert statement_import.status == ImportStatus.FAILED and "RuntimeError" in statement_import.error
    assert "nulla verrà registrato due volte" in statement_import.error
    page = verified_client(bank.anna).get(reverse("bank:import_progress", args=[statement_import.upload_id]))
    assert "non è stata completata" in page.content.decode()
    monkeypatch.undo()
    statements_actions.process_statement_import(actor=None, statement_import_id=statement_import.pk)
    statement_import.refresh_from_db()
    assert statement_import.status == ImportStatus.DONE and statement_import.new_lines == 1
    assert StatementLine.objects.get().status == LineStatus.MATCHED
    expected.refresh_from_db()
    assert expected.received_cents == 1200


def test_an_outgoing_line_is_matched_to_its_return_through_the_page(bank, tree):
    mandate = bank.mandate()
    collection = collections_actions.schedule_collection(
        actor=bank.anna,
        mandate=mandate,
        amount=Money(1500),
        due_date=far_date(20),
        description="Quota",
        credit_account=bank.funds,
        creation_key="p1",
    )
    batch = collections_actions.prepare_batch(actor=bank.anna, creditor=bank.account, due_date=far_date(20))
    collections_actions.export_batch(actor=bank.anna, batch=batch)
    collection.refresh_from_db()
    statements_actions.import_statement(
        actor=bank.anna,
        territory=tree.bologna,
        filename="a.xml",
        data=_statement(
            CamtEntry(
                [Tx(1500, "Nicolò Dell'Acqua", end_to_end_id=collection.end_to_end_id)],
                batch_pmt_inf_id=f"{batch.message_id}-DD1",
                bank_reference="CR",
            ),
            CamtEntry(
                [Tx(1500, "DELL ACQUA NICOLO", return_reason="AC04")],
                credit=False,
                family="RDDT/UPDD",
                bank_reference="RT",
            ),
        ),
    )
    line = StatementLine.objects.get(bank_reference="RT")
    client = verified_client(bank.bruno)
    page = client.get(reverse("bank:line", args=[line.pk])).content.decode()
    assert collection.end_to_end_id in page and f"Registra lo storno di {collection.end_to_end_id}" in page
    response = client.post(
        reverse("bank:line", args=[line.pk]), {"do": "match_return", "collection": collection.pk}, follow=True
    )
    assert "Storno dell&#x27;addebito" in response.content.decode()
    collection.refresh_from_db()
    assert collection.status == CollectionStatus.FAILED and collection.return_reason == "AC04"
    modena = verified_client(make_official("tes.modena", tree.modena, [Role.TREASURY]))
    assert (
        modena.post(
            reverse("bank:line", args=[line.pk]), {"do": "match_return", "collection": collection.pk}
        ).status_code
        == 404
    )


def test_paper_scan_is_private_served_in_scope_and_audited(bank, tree, settings, tmp_path):
    settings.PRIVATE_MEDIA_ROOT = str(tmp_path / "private")
    scan = SimpleUploadedFile("modulo.pdf", b"%PDF-1.4 firmato", content_type="application/pdf")
    mandate = mandates_actions.sign_mandate(
        actor=bank.anna,
        creditor=bank.account,
        debtor_name="Maria Rossi",
        debtor_iban="IT25O0306909606100000012345",
        signed_on=far_date(-30),
        channel=MandateChannel.PAPER,
        consent_text=CONSENT,
        paper_scan=scan,
    )
    stored = Path(settings.PRIVATE_MEDIA_ROOT) / mandate.paper_scan.name
    assert stored.exists() and not str(stored).startswith(str(django_settings.MEDIA_ROOT))
    with pytest.raises(ValueError):
        _ = mandate.paper_scan.url  # no public URL exists
    client = verified_client(bank.anna)
    assert (
        reverse("bank:mandate_scan", args=[mandate.pk])
        in client.get(reverse("bank:mandate", args=[mandate.pk])).content.decode()
    )
    response = client.get(reverse("bank:mandate_scan", args=[mandate.pk]))
    assert response.status_code == 200 and response.content == b"%PDF-1.4 firmato"
    assert response["Content-Type"] == "application/pdf" and "no-store" in response["Cache-Control"]
    assert AuditEntry.objects.filter(
        action="bank.view_mandate_scan", kind=AuditKind.VIEW, object_id=str(mandate.pk), actor=bank.anna
    ).exists()
    modena = verified_client(make_official("tes.modena", tree.modena, [Role.TREASURY]))
    assert modena.get(reverse("bank:mandate_scan", args=[mandate.pk])).status_code == 404
    organiser = verified_client(make_official("org.bologna", tree.bologna, [Role.ORGANISATION]))
    assert organiser.get(reverse("bank:mandate_scan", args=[mandate.pk])).status_code == 403


def test_overview_shows_its_heading_once_and_links_each_import_to_its_report(bank, tree):
    [statement_import] = statements_actions.import_statement(
        actor=bank.anna,
        territory=tree.bologna,
        filename="gen.xml",
        data=_statement(CamtEntry([Tx(100, "X")], bank_reference="O1")),
    )
    body = verified_client(bank.anna).get(reverse("bank:overview")).content.decode()
    assert body.count(">Banca</h") + body.count(">Banca</a></h") == 1
    assert reverse("bank:import_progress", args=[statement_import.upload_id]) in body and "Completata" in body


def test_payout_to_a_payee_of_a_parent_territory_is_refused(bank, tree):
    regional = accounts_actions.register_payee(
        actor=make_official("tes.emilia", tree.emilia, [Role.TREASURY]),
        territory=tree.emilia,
        name="Fornitore regionale",
        iban="IT69G0200802435000104428964",
    )
    with pytest.raises(ValidationError) as error:
        payouts_actions.request_payout(
            actor=bank.anna,
            source_account=bank.funds,
            bank_account=bank.account,
            payee=regional,
            amount=Money(100),
            description="X",
        )
    message = error.value.message_dict["payee"][0]
    assert "Fornitore regionale" in message and "fuori da" in message
    assert not Payout.objects.exists()
    circolo = accounts_actions.register_payee(
        actor=bank.anna, territory=tree.bologna_navile, name="Circolo Navile", iban="IT25O0306909606100000012345"
    )
    with pytest.raises(ValidationError) as balance_error:  # accepted payee: the next check (balance) speaks
        payouts_actions.request_payout(
            actor=bank.anna,
            source_account=bank.funds,
            bank_account=bank.account,
            payee=circolo,
            amount=Money(100),
            description="X",
        )
    assert "saldo disponibile" in balance_error.value.messages[0]


def test_a_statement_above_the_size_limit_is_refused_on_the_field(bank, settings):
    settings.BANK_STATEMENT_MAX_MB = 1
    response = verified_client(bank.anna).post(
        reverse("bank:import"), {"file": SimpleUploadedFile("anno.xml", b"<" + b"x" * (2 * 2**20))}
    )
    body = response.content.decode()
    assert response.status_code == 200 and "oltre il limite di 1 MB" in body and "periodo più breve" in body
    assert not StatementImport.objects.exists()
