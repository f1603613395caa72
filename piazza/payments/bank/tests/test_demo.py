"""The demo seeder leaves something to look at (matched and queued lines) and is idempotent."""

from __future__ import annotations

import io

import pytest

from piazza.payments.bank import demo
from piazza.payments.bank.models import ExpectedTransfer, LineStatus, Mandate, StatementLine
from piazza.territory.models import Role
from piazza.territory.testing import make_official

pytestmark = pytest.mark.usefixtures("check_ledger")


def test_demo_seed_twice(tree):
    make_official("tesoriera", tree.bologna, [Role.TREASURY])
    demo.seed(people=0, stdout=io.StringIO())
    demo.seed(people=0, stdout=io.StringIO())
    assert ExpectedTransfer.objects.count() == 4 and Mandate.objects.count() == 2
    statuses = sorted(StatementLine.objects.values_list("status", flat=True))
    assert statuses.count(LineStatus.MATCHED) >= 2 and statuses.count(LineStatus.QUEUED) >= 1
    assert len(statuses) == 5
