"""Refusals keep their audit entry (issue 11, item 23): `refuse()` is never called inside a
caller's atomic block (the rollback would delete the entry); a check under a row lock raises
`Refused` and `refusing()` audits it once the block has rolled back."""

from __future__ import annotations

import ast
import logging
from pathlib import Path

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction

from piazza.core.errors import (
    RefusalInsideTransaction,
    Refused,
    caller_records_refusals,
    refuse,
    refusing,
)
from piazza.core.models import AuditEntry, AuditKind

PIAZZA = Path(__file__).resolve().parents[2]


def _denied(action: str, code: str) -> list[AuditEntry]:
    return [e for e in AuditEntry.objects.filter(kind=AuditKind.DENIED, action=action) if e.data.get("code") == code]


def _is_atomic(node: ast.AST) -> bool:
    target = node.func if isinstance(node, ast.Call) else node
    return (isinstance(target, ast.Attribute) and target.attr == "atomic") or (
        isinstance(target, ast.Name) and target.id == "atomic"
    )


class _RefuseInsideAtomic(ast.NodeVisitor):
    """`refuse(` lexically inside `with …atomic(…)` or an `@atomic` function (Saleor-style house rule)."""

    def __init__(self, path: Path) -> None:
        self.path, self.depth = path, 0
        self.found: list[str] = []

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        saved, self.depth = self.depth, int(any(_is_atomic(d) for d in node.decorator_list))
        self.generic_visit(node)
        self.depth = saved

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_With(self, node: ast.With) -> None:
        atomic = any(isinstance(i.context_expr, ast.Call) and _is_atomic(i.context_expr) for i in node.items)
        self.depth += atomic
        self.generic_visit(node)
        self.depth -= atomic

    def visit_Call(self, node: ast.Call) -> None:
        if self.depth and isinstance(node.func, ast.Name) and node.func.id == "refuse":
            self.found.append(f"{self.path.relative_to(PIAZZA.parent)}:{node.lineno}")
        self.generic_visit(node)


def test_no_refuse_call_sits_inside_an_atomic_block():
    found: list[str] = []
    for path in sorted(PIAZZA.rglob("*.py")):
        if "tests" in path.parts or "migrations" in path.parts:
            continue
        visitor = _RefuseInsideAtomic(path)
        visitor.visit(ast.parse(path.read_text(encoding="utf-8")))
        found += visitor.found
    assert found == [], "raise Refused(...) inside the block and wrap it in refusing(): " + ", ".join(found)


def test_the_scan_sees_a_refusal_inside_a_block(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("def f():\n    with transaction.atomic():\n        refuse('a', 'b', actor=None)\n")
    visitor = _RefuseInsideAtomic(sample)
    visitor.path = PIAZZA / "sample.py"
    visitor.visit(ast.parse(sample.read_text()))
    assert visitor.found == ["piazza/sample.py:3"]


@pytest.mark.django_db
def test_refuse_inside_a_callers_atomic_block_fails_loudly():
    with pytest.raises(RefusalInsideTransaction, match=r"core\.test"), transaction.atomic():
        refuse("core.test", "no", actor=None, code="inside")


@pytest.mark.django_db
def test_in_production_a_misplaced_refusal_is_logged_and_still_refused(settings, caplog):
    settings.PRODUCTION = True
    with (
        caplog.at_level(logging.ERROR, logger="piazza.core.errors"),
        pytest.raises(ValidationError),
        transaction.atomic(),
    ):
        refuse("core.test", "no", actor=None, code="inside")
    assert "inside an atomic block" in caplog.text


@pytest.mark.django_db
def test_refused_inside_a_block_is_audited_after_the_rollback():
    with pytest.raises(PermissionDenied), refusing("core.test", None), transaction.atomic():
        AuditEntry.objects.create(action="core.rolled_back", kind=AuditKind.WRITE)
        raise Refused("non puoi", "locked_check", permission=True)
    assert not AuditEntry.objects.filter(action="core.rolled_back").exists()
    assert len(_denied("core.test", "locked_check")) == 1


@pytest.mark.django_db
def test_a_nested_actions_refusal_travels_to_the_outer_refusing_and_survives():
    def inner() -> None:
        with refusing("core.inner", None), transaction.atomic():
            raise Refused("dentro", "inner_code", field="amount")

    def plain_inner() -> None:  # an action whose own checks call refuse() before its block
        refuse("core.plain", "prima", actor=None, code="plain_code")

    for call, action, code in ((inner, "core.inner", "inner_code"), (plain_inner, "core.plain", "plain_code")):
        with pytest.raises(ValidationError), refusing("core.outer", None), transaction.atomic():
            AuditEntry.objects.create(action="core.rolled_back", kind=AuditKind.WRITE)
            call()
        assert len(_denied(action, code)) == 1
    assert not AuditEntry.objects.filter(action="core.rolled_back").exists()


@pytest.mark.django_db
def test_a_caller_that_records_the_refusal_itself_gets_the_plain_error():
    with transaction.atomic(), caller_records_refusals(), pytest.raises(ValidationError), transaction.atomic():
        refuse("core.test", "no", actor=None, code="caught")
