"""The fee line sources of `compliance.contributions` (rules F1, F7, F8, F14; M8 shares)."""

from __future__ import annotations

import pytest

from piazza.compliance.contributions import contribution_lines
from piazza.membership.actions.payment import mark_paid
from piazza.membership.models import PaymentMethod
from piazza.membership.payments import fee_shares
from piazza.membership.tests.conftest import YEAR, join, now_in_year, paid

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("schedule")]


def test_a_paid_fee_is_one_line_per_receiving_share_and_cash_is_not_traceable(tree, cash_allowed):
    by_card = paid(tree)
    in_cash = mark_paid(
        actor=None,
        membership=join(tree),
        method=PaymentMethod.CASH,
        reference="R-1",
        paid_at=now_in_year(),
    )
    join(tree)  # applied, never paid: no line

    lines = list(contribution_lines(YEAR, kinds=["fee"]))
    shares = {(t.pk, cents) for t, cents, _ in fee_shares(by_card)}
    assert {(line.territory_id, line.amount_cents) for line in lines if line.source_id == by_card.pk} == shares
    assert sum(line.amount_cents for line in lines if line.source_id == by_card.pk) == by_card.fee_cents
    assert {line.source_id for line in lines} == {by_card.pk, in_cash.pk}
    assert all(line.traceable for line in lines if line.source_id == by_card.pk)
    assert not any(line.traceable for line in lines if line.source_id == in_cash.pk)  # rule F8

    national_only = list(contribution_lines(YEAR, entity_path=tree.national.path, kinds=["fee"]))
    assert sum(line.amount_cents for line in national_only) == by_card.fee_cents + in_cash.fee_cents
    assert list(contribution_lines(YEAR, entity_path=tree.modena.path, kinds=["fee"])) == []
