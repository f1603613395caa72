"""The donation line source of `compliance.contributions` (rules F1, F3, F7, F8)."""

from __future__ import annotations

import pytest

from piazza.compliance.contributions import contribution_lines
from piazza.funding.tests.flows import give, payment_of
from piazza.payments.actions.refunds import refund_payment

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("check_ledger")]


def test_kept_gifts_are_lines_of_their_year_and_entity_and_a_refunded_one_is_not(tree, live_campaign):
    kept = give(live_campaign, 2_500, n=1)
    refunded = give(live_campaign, 4_000, n=2)
    refund_payment(actor=None, payment=payment_of(refunded), reason="richiesta")
    assert kept.succeeded_at is not None
    year = kept.succeeded_at.year

    lines = list(contribution_lines(year, kinds=["donation"]))
    assert [(line.source_id, line.amount_cents) for line in lines] == [(kept.pk, 2_500 + kept.fee_cover_cents)]
    line = lines[0]
    assert line.person_id == kept.person_id
    assert line.territory_id == live_campaign.territory_id
    assert line.method == "card" and line.traceable  # rule F8: a card payment identifies the donor
    assert line.received_at == kept.succeeded_at

    assert list(contribution_lines(year, entity_path=tree.modena.path, kinds=["donation"])) == []
    assert len(list(contribution_lines(year, entity_path=tree.bologna.path, kinds=["donation"]))) == 1
    assert list(contribution_lines(year - 1, kinds=["donation"])) == []
    assert list(contribution_lines(year, person_ids=[refunded.person_id or 0], kinds=["donation"])) == []
