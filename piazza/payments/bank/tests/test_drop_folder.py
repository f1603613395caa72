"""Scheduled import from a drop folder: files are imported for their territory and moved to
done/ or failed/ (with the reason beside them); running it again imports nothing twice."""

from __future__ import annotations

import pytest

from piazza.core.money import Money
from piazza.payments.bank import tasks
from piazza.payments.bank.actions import matching as matching_actions
from piazza.payments.bank.models import LineStatus, StatementLine
from piazza.payments.bank.tests.camt_builder import CamtFile, Statement, Tx, build
from piazza.payments.bank.tests.camt_builder import Entry as CamtEntry
from piazza.payments.bank.tests.conftest import OUR_IBAN

pytestmark = pytest.mark.usefixtures("check_ledger")


def test_drop_folder_imports_and_sorts_files(bank, tree, tmp_path, settings):
    settings.BANK_STATEMENT_DROP_DIR = str(tmp_path)
    expected = matching_actions.expect_transfer(
        actor=bank.anna,
        account=bank.account,
        amount=Money(1200),
        payer_name="Maria Rossi",
        description="D",
        credit_account=bank.funds,
        creation_key="drop",
    )
    folder = tmp_path / str(tree.bologna.pk)
    folder.mkdir()
    good = build(
        CamtFile(
            statements=[
                Statement(
                    OUR_IBAN, [CamtEntry([Tx(1200, "Maria Rossi", reference=expected.reference)], bank_reference="D1")]
                )
            ]
        )
    )
    (folder / "2026-02-03.xml").write_bytes(good)
    (folder / "2026-02-04.xml").write_bytes(good[: len(good) // 2])
    assert tasks.import_drop_folder.call() == 2
    assert (folder / "done" / "2026-02-03.xml").exists()
    assert "troncato" in (folder / "failed" / "2026-02-04.xml.error.txt").read_text(encoding="utf-8")
    assert StatementLine.objects.get().status == LineStatus.MATCHED
    (folder / "again.xml").write_bytes(good)
    assert tasks.import_drop_folder.call() == 1
    assert StatementLine.objects.count() == 1
