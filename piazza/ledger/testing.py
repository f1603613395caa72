"""pytest plugin for every app that moves money: `check_ledger` asserts the books are clean.

Use it in a test (`def test_x(check_ledger): ...`) or a module
(`pytestmark = pytest.mark.usefixtures("check_ledger")`): after the test body, every
registered ledger invariant is run and any violation fails the test with a readable list.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture
def check_ledger(db: None) -> Iterator[None]:
    yield
    from piazza.ledger.checks import run_checks

    violations = run_checks()
    assert not violations, "ledger invariants broken:\n" + "\n".join(f"  - {v}" for v in violations)
