"""Certified rolls (M16, M17, M22), transfers (M23), objections (M18)."""

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.db import DatabaseError, IntegrityError, transaction
from django.utils import timezone

from piazza.core.models import AuditEntry, AuditKind
from piazza.membership.actions import card as card_actions
from piazza.membership.actions import objection as objection_actions
from piazza.membership.actions import payment as payment_actions
from piazza.membership.actions import renewal as renewal_actions
from piazza.membership.actions import roll as roll_actions
from piazza.membership.actions import transfer as transfer_actions
from piazza.membership.models import Delivery, MembershipRules, RollEntry, RollStatus, Status, TransferStatus
from piazza.membership.queries import may_vote
from piazza.territory.models import Role
from piazza.territory.testing import make_official

from .conftest import YEAR, join, paid

pytestmark = pytest.mark.usefixtures("schedule")
CUT_OFF = timezone.make_aware(dt.datetime(YEAR, 1, 31, 12, 0, 0))


@pytest.fixture
def congress(tree, secretary):
    organiser = make_official("org.bo", tree.bologna, [Role.ORGANISATION])
    return roll_actions.create_congress(
        actor=organiser,
        territory=tree.bologna,
        name="Congresso provinciale 2026",
        cut_off=CUT_OFF,
        membership_years=[YEAR],
    )


def _effective(tree, secretary, at, **kw):
    m = paid(tree, paid_at=at, **kw)
    m = card_actions.deliver_card(actor=secretary, membership=m, delivery=Delivery.CIRCOLO, now=at)
    return m


def test_m22_cut_off_to_the_second_and_m17_unpaid_excluded(tree, secretary, congress):
    on_time = _effective(tree, secretary, CUT_OFF)
    late = _effective(tree, secretary, CUT_OFF + dt.timedelta(seconds=1))
    unpaid = join(tree)
    paid_not_delivered = paid(tree, paid_at=CUT_OFF - dt.timedelta(days=2))
    roll = roll_actions.compute_roll(actor=secretary, congress=congress, circolo=tree.bologna_centro)
    people = set(roll.entries.values_list("person_id", flat=True))
    assert people == {on_time.person_id}
    assert late.person_id not in people and unpaid.person_id not in people
    assert paid_not_delivered.person_id not in people  # M13: effective only on delivery
    assert roll.member_count == 1 and len(roll.content_hash) == 64 and roll_actions.verify_roll(roll)


def test_roll_versions_supersede_until_signed(tree, secretary, congress):
    _effective(tree, secretary, CUT_OFF - dt.timedelta(days=1))
    first = roll_actions.compute_roll(actor=secretary, congress=congress, circolo=tree.bologna_centro)
    second = roll_actions.compute_roll(actor=secretary, congress=congress, circolo=tree.bologna_centro)
    first.refresh_from_db()
    assert (first.status, second.version) == (RollStatus.SUPERSEDED, 2)
    assert first.content_hash == second.content_hash


def test_bad_input_certified_roll_edited_after_sign_off(tree, secretary, congress):
    _effective(tree, secretary, CUT_OFF - dt.timedelta(days=1))
    roll = roll_actions.compute_roll(actor=secretary, congress=congress, circolo=tree.bologna_centro)
    roll_actions.sign_off_roll(actor=secretary, roll=roll)
    with pytest.raises(ValidationError) as err:
        roll_actions.compute_roll(actor=secretary, congress=congress, circolo=tree.bologna_centro)
    assert "già stata firmata" in str(err.value)
    assert AuditEntry.objects.filter(action="membership.compute_roll", kind=AuditKind.DENIED).exists()
    entry = roll.entries.get()
    with pytest.raises((DatabaseError, IntegrityError)), transaction.atomic():
        RollEntry.objects.filter(pk=entry.pk).update(last_name="Altro")
    # (DELETE is refused too, except in test databases, which carry the purge flag.)
    entry.refresh_from_db()
    assert entry.last_name != "Altro" and roll_actions.verify_roll(roll)


def test_m16_two_thirds_ratifies(tree, secretary, congress, commission):
    _effective(tree, secretary, CUT_OFF - dt.timedelta(days=1))
    roll = roll_actions.sign_off_roll(
        actor=secretary, roll=roll_actions.compute_roll(actor=secretary, congress=congress, circolo=tree.bologna_centro)
    )
    vote = roll_actions.record_roll_vote(
        actor=commission, roll=roll, members_total=9, votes_for=6, votes_against=3, abstentions=0
    )
    roll.refresh_from_db()
    assert vote.passed and roll.status == RollStatus.RATIFIED and vote.content_hash == roll.content_hash


def test_m16_below_two_thirds_goes_to_the_region(tree, secretary, congress, commission, regional_commission):
    m = _effective(tree, secretary, CUT_OFF - dt.timedelta(days=1))
    roll = roll_actions.sign_off_roll(
        actor=secretary, roll=roll_actions.compute_roll(actor=secretary, congress=congress, circolo=tree.bologna_centro)
    )
    roll_actions.record_roll_vote(
        actor=commission, roll=roll, members_total=9, votes_for=5, votes_against=4, abstentions=0
    )
    roll.refresh_from_db()
    assert roll.status == RollStatus.REFERRED
    assert may_vote(congress, tree.bologna_centro, m.person).allowed is False  # not certified yet
    with pytest.raises(Exception):  # noqa: B017 - the provincial commission cannot vote twice
        roll_actions.record_roll_vote(
            actor=commission, roll=roll, members_total=9, votes_for=9, votes_against=0, abstentions=0
        )
    roll_actions.record_roll_vote(
        actor=regional_commission, roll=roll, members_total=7, votes_for=4, votes_against=2, abstentions=1
    )
    roll.refresh_from_db()
    assert roll.status == RollStatus.RATIFIED
    assert may_vote(congress, tree.bologna_centro, m.person).allowed is True


def test_vote_counts_beyond_members_refused(tree, secretary, congress, commission):
    _effective(tree, secretary, CUT_OFF - dt.timedelta(days=1))
    roll = roll_actions.sign_off_roll(
        actor=secretary, roll=roll_actions.compute_roll(actor=secretary, congress=congress, circolo=tree.bologna_centro)
    )
    with pytest.raises(ValidationError, match="non possono superare"):
        roll_actions.record_roll_vote(
            actor=commission, roll=roll, members_total=5, votes_for=5, votes_against=1, abstentions=0
        )


def test_eligibility_answers_from_the_snapshot_not_live_data(tree, secretary, congress, commission):
    m = _effective(tree, secretary, CUT_OFF - dt.timedelta(days=1))
    outsider = _effective(tree, secretary, CUT_OFF + dt.timedelta(hours=1))
    roll = roll_actions.sign_off_roll(
        actor=secretary, roll=roll_actions.compute_roll(actor=secretary, congress=congress, circolo=tree.bologna_centro)
    )
    roll_actions.record_roll_vote(
        actor=commission, roll=roll, members_total=3, votes_for=2, votes_against=1, abstentions=0
    )
    answer = may_vote(congress, tree.bologna_centro, m.person)
    assert answer.allowed and answer.roll == roll and m.card_number in answer.reason
    assert not may_vote(congress, tree.bologna_centro, outsider.person).allowed
    assert not may_vote(congress, tree.bologna_navile, m.person).allowed


def test_m23_transfer_with_cap_and_origin_notified(tree, secretary, mailoutbox, django_capture_on_commit_callbacks):
    from piazza.territory.models import Comune

    navile = make_official("navile.m", tree.bologna_navile, [Role.MEMBERSHIP], email="navile@example.org")
    modena_secretary = make_official("modena.m", tree.modena_nord, [Role.MEMBERSHIP])
    MembershipRules.objects.create(territory=tree.modena, out_of_area_cap_percent=50)
    # Modena Nord has one resident member: a second, out-of-area, reaches exactly 50%.
    modena = Comune.objects.get(istat_code="036023")
    join(tree, tree.modena_nord, residence_comune=modena)
    m = join(tree, tree.bologna_navile)
    transfer = transfer_actions.request_transfer(
        actor=navile, membership=m, to_circolo=tree.modena_nord, reason="Lavoro a Modena"
    )
    with django_capture_on_commit_callbacks(execute=True):
        transfer_actions.decide_transfer(actor=modena_secretary, transfer=transfer, approve=True)
    m.refresh_from_db()
    assert m.circolo == tree.modena_nord and m.out_of_area
    assert m.person.__class__.objects.get(pk=m.person_id).voting_circolo == tree.modena_nord  # M11
    transfer.refresh_from_db()
    assert transfer.status == TransferStatus.APPROVED and transfer.origin_notified_at is not None
    assert mailoutbox and mailoutbox[0].to == ["navile@example.org"]
    second = join(tree, tree.bologna_navile)
    t2 = transfer_actions.request_transfer(
        actor=navile, membership=second, to_circolo=tree.modena_nord, reason="Studio"
    )
    with pytest.raises(ValidationError, match="oltre il tetto del 50%"):
        transfer_actions.decide_transfer(actor=modena_secretary, transfer=t2, approve=True)


def test_m18_objection_window_decision_and_appeal_deadlines(tree, secretary, commission):
    m = paid(tree)
    assert m.paid_at is not None
    assert m.objection_deadline == m.paid_at + dt.timedelta(days=15)
    objection = objection_actions.raise_objection(
        actor=secretary, membership=m, body="circolo", reason="Residenza dichiarata inesistente", now=m.paid_at
    )
    decided_at = m.paid_at + dt.timedelta(days=2)
    objection = objection_actions.decide_objection(
        actor=commission, objection=objection, uphold=True, reason="Indirizzo inesistente", now=decided_at
    )
    m.refresh_from_db()
    assert m.status == Status.REJECTED
    assert objection.appeal_deadline == decided_at + dt.timedelta(hours=24)
    with pytest.raises(ValidationError, match="24 ore"):
        objection_actions.file_appeal(
            actor=None, objection=objection, reason="x", now=decided_at + dt.timedelta(hours=24, seconds=1)
        )
    filed = decided_at + dt.timedelta(hours=23)
    objection = objection_actions.file_appeal(actor=None, objection=objection, reason="L'indirizzo esiste", now=filed)
    assert objection.counter_appeal_deadline == filed + dt.timedelta(hours=48)


def test_m18_objection_after_the_window_refused(tree, secretary):
    m = paid(tree)
    assert m.objection_deadline is not None
    with pytest.raises(ValidationError, match="scaduto"):
        objection_actions.raise_objection(
            actor=secretary,
            membership=m,
            body="circolo",
            reason="tardi",
            now=m.objection_deadline + dt.timedelta(seconds=1),
        )


def test_congress_over_two_years_lists_each_person_once(tree, secretary, schedule):
    """A person paid up in both years of a two-year congress is one roll entry, with the card of
    the latest year (the roll computation raised IntegrityError on roll_entry_person_once)."""
    from piazza.membership.models import FeeSchedule

    FeeSchedule.objects.create(
        year=YEAR + 1,
        base_fee_cents=schedule.base_fee_cents,
        national_surcharge_cents=schedule.national_surcharge_cents,
        regional_deadline=dt.date(YEAR + 1, 1, 10),
        opens_at=timezone.make_aware(dt.datetime(YEAR, 11, 1)),
        closes_at=timezone.make_aware(dt.datetime(YEAR + 1, 12, 31, 23, 59, 59)),
    )
    organiser = make_official("org.bo2", tree.bologna, [Role.ORGANISATION])
    cut_off = timezone.make_aware(dt.datetime(YEAR + 1, 3, 31, 12, 0, 0))
    congress = roll_actions.create_congress(
        actor=organiser,
        territory=tree.bologna,
        name="Congresso 2026-2027",
        cut_off=cut_off,
        membership_years=[YEAR, YEAR + 1],
    )
    both = _effective(tree, secretary, CUT_OFF)
    renewed_at = timezone.make_aware(dt.datetime(YEAR + 1, 2, 1, 10, 0, 0))
    renewed = renewal_actions.renew_membership(
        actor=None, previous=both, year=YEAR + 1, declarations_accepted=True, art9_authorised=True, now=renewed_at
    )
    renewed = payment_actions.mark_paid(
        actor=None, membership=renewed, method="card", reference="t", paid_at=renewed_at
    )
    renewed = card_actions.deliver_card(actor=secretary, membership=renewed, delivery=Delivery.CIRCOLO, now=renewed_at)
    only_first_year = _effective(tree, secretary, CUT_OFF)
    roll = roll_actions.compute_roll(actor=secretary, congress=congress, circolo=tree.bologna_centro)
    entries = {e.person_id: e for e in roll.entries.all()}
    assert set(entries) == {both.person_id, only_first_year.person_id}
    assert entries[both.person_id].membership_id == renewed.pk
    assert entries[only_first_year.person_id].card_number == only_first_year.card_number
    assert roll.member_count == 2 and roll_actions.verify_roll(roll)
