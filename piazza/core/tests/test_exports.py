"""The one export writer (convention 17): every cell a spreadsheet would evaluate is escaped, real
numbers stay numbers, each file writes its audit entry; and no other module writes CSV or XLSX."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from decimal import Decimal
from pathlib import Path

import pytest
from openpyxl import load_workbook

from piazza.core.exports import FORMULA_TRIGGERS, escape_cell, render, write_export
from piazza.core.models import AuditEntry, AuditKind

HOSTILE = [
    '=1+HYPERLINK("http://evil.example/","x")',
    "=2+5",  # the old `_safe` let this one through: its second character is a digit
    "+39 333 1234567",
    '-1+HYPERLINK("http://evil.example/")',
    "-5",  # a string, not a number: it stays text
    "@SUM(A1:A9)",
    "\t=1+1",
    "\r=1+1",
]


@pytest.mark.parametrize("value", HOSTILE)
def test_every_trigger_is_escaped_with_a_quote(value):
    assert escape_cell(value) == "'" + value


def test_plain_text_numbers_and_dates_are_left_alone():
    assert escape_cell("Rossi") == "Rossi"
    assert escape_cell("O'Brien") == "O'Brien"
    assert escape_cell(" =1+1") == " =1+1"  # no spreadsheet evaluates a leading space
    assert escape_cell(-5) == -5 and escape_cell(Decimal("-12.50")) == Decimal("-12.50")
    assert escape_cell(dt.date(2026, 12, 6)) == dt.date(2026, 12, 6)
    assert escape_cell(None) == ""
    assert set(FORMULA_TRIGGERS) == {"=", "+", "-", "@", "\t", "\r"}


def test_csv_cells_are_escaped_and_numbers_kept():
    content, count = render("csv", ["Nome", "Importo"], [[v, -5] for v in HOSTILE])
    assert count == len(HOSTILE) and content.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(content.decode("utf-8-sig")), delimiter=";"))
    assert [r[0] for r in rows[1:]] == ["'" + v for v in HOSTILE]
    assert {r[1] for r in rows[1:]} == {"-5"}


def test_xlsx_has_no_formula_and_negative_numbers_stay_numeric():
    content, count = render("xlsx", ["Nome", "Importo"], [[v, -5] for v in HOSTILE])
    sheet = load_workbook(io.BytesIO(content)).active
    assert sheet is not None
    rows = list(sheet.iter_rows(min_row=2))
    assert count == len(rows) == len(HOSTILE)
    for row, value in zip(rows, HOSTILE, strict=True):
        assert row[0].data_type == "s" and row[0].value == "'" + value
        assert row[1].data_type == "n" and row[1].value == -5


@pytest.mark.django_db
def test_write_export_writes_one_audit_entry_with_the_row_count(tree):
    exported = write_export(
        "test.export",
        actor=None,
        file_format="csv",
        filename="prova",
        header=["a"],
        rows=[["x"], ["=y"]],
        territory=tree.bologna_centro,
        data={"purpose": "prova"},
    )
    assert exported.filename == "prova.csv" and exported.rows == 2
    entry = AuditEntry.objects.get(action="test.export")
    assert entry.kind == AuditKind.EXPORT and entry.territory_path == tree.bologna_centro.path
    assert entry.data == {"purpose": "prova", "format": "csv", "rows": 2}


WRITER = Path(__file__).resolve().parents[1] / "exports.py"
ROOT = WRITER.parents[2]
FORBIDDEN = re.compile(r"csv\.(writer|DictWriter)\(|\bWorkbook\(|[\"']text/csv|spreadsheetml")


def test_no_module_outside_the_writer_produces_csv_or_xlsx():
    """Convention 17: there is no second way to produce a CSV or XLSX. Tests may build input
    files (imports), so they are not scanned."""
    offenders = []
    for path in sorted([*(ROOT / "piazza").rglob("*.py"), *(ROOT / "config").rglob("*.py")]):
        if path == WRITER or "tests" in path.relative_to(ROOT).parts:
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if FORBIDDEN.search(line):
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert offenders == []
