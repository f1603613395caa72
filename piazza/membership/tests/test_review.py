"""Refusals added on review: fee years that no one could join under, double decisions, a lift
without a note, an objection against an unpaid application, a second counter-appeal."""

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from piazza.core.models import AuditEntry, AuditKind
from piazza.membership.actions import card as card_actions
from piazza.membership.actions import objection as objection_actions
from piazza.membership.actions import parameters as parameters_actions
from piazza.membership.actions import transfer as transfer_actions
from piazza.membership.models import FeeSchedule
from piazza.territory.models import Role
from piazza.territory.testing import make_official

from .conftest import YEAR, join, paid

pytestmark = pytest.mark.usefixtures("schedule")


def test_fee_year_with_a_total_cap_below_the_base_fee_is_refused(tree):
    office = make_official("naz.quote", tree.national, [Role.MEMBERSHIP])
    with pytest.raises(ValidationError) as err:
        parameters_actions.set_fee_schedule(
            actor=office,
            year=YEAR + 1,
            national=tree.national,
            base_fee_cents=1500,
            national_surcharge_cents=500,
            total_cap_cents=1000,
            regional_deadline=dt.date(YEAR + 1, 1, 10),
            opens_at=timezone.now(),
            closes_at=timezone.now() - dt.timedelta(days=1),
        )
    assert set(err.value.message_dict) == {"total_cap_cents", "closes_at"}
    assert "nessuno potrebbe iscriversi" in str(err.value)
    assert not FeeSchedule.objects.filter(year=YEAR + 1).exists()
    assert AuditEntry.objects.filter(action="membership.set_fee_schedule", kind=AuditKind.DENIED).exists()


def test_lifting_a_block_needs_a_note(tree, secretary):
    m = paid(tree)
    block = card_actions.block_card(
        actor=secretary, person=m.person, territory=tree.bologna_centro, reason="Contributi"
    )
    with pytest.raises(ValidationError, match="nota"):
        card_actions.lift_card_block(actor=secretary, block=block, note=" ")
    block.refresh_from_db()
    assert block.lifted_at is None


def test_an_unpaid_application_cannot_be_contested(tree, secretary):
    with pytest.raises(ValidationError, match="pagata"):
        objection_actions.raise_objection(actor=secretary, membership=join(tree), body="circolo", reason="x")


def test_a_transfer_decided_twice_is_refused(tree, secretary):
    navile = make_official("navile.r", tree.bologna_navile, [Role.MEMBERSHIP])
    transfer = transfer_actions.request_transfer(
        actor=navile, membership=join(tree, tree.bologna_navile), to_circolo=tree.bologna_centro, reason="Lavoro"
    )
    transfer_actions.decide_transfer(actor=secretary, transfer=transfer, approve=False, reason="No")
    with pytest.raises(ValidationError, match="già stata decisa"):
        transfer_actions.decide_transfer(actor=secretary, transfer=transfer, approve=True)


def test_second_counter_appeal_refused(tree, secretary, commission):
    m = paid(tree)
    assert m.paid_at is not None
    objection = objection_actions.raise_objection(
        actor=secretary, membership=m, body="circolo", reason="x", now=m.paid_at
    )
    decided = m.paid_at + dt.timedelta(hours=1)
    objection = objection_actions.decide_objection(
        actor=commission, objection=objection, uphold=False, reason="ok", now=decided
    )
    objection = objection_actions.file_appeal(
        actor=None, objection=objection, reason="a", now=decided + dt.timedelta(hours=1)
    )
    at = decided + dt.timedelta(hours=2)
    objection = objection_actions.file_counter_appeal(actor=None, objection=objection, reason="b", now=at)
    with pytest.raises(ValidationError, match="già stato presentato"):
        objection_actions.file_counter_appeal(actor=None, objection=objection, reason="c", now=at)
