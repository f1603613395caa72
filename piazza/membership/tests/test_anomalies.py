"""Anomaly signals on constructed data, each with and without its pattern."""

import datetime as dt

import pytest
from django.utils import timezone

from piazza.membership.actions import review as review_actions
from piazza.membership.actions import roll as roll_actions
from piazza.membership.models import AnomalyFlag, FlagKind, FlagStatus, Membership
from piazza.people.models import Email, Person

from .conftest import YEAR, join, paid

pytestmark = pytest.mark.usefixtures("schedule")


def _kinds(tree):
    review_actions.detect_anomalies(actor=None, federation=tree.bologna, year=YEAR)
    return set(AnomalyFlag.objects.values_list("kind", flat=True))


def test_clean_federation_has_no_flags(tree):
    for _ in range(4):
        paid(tree)
    assert _kinds(tree) == set()


def test_shared_instrument(tree):
    paid(tree, fingerprint="card-1")
    paid(tree, fingerprint="card-1")
    assert FlagKind.SHARED_INSTRUMENT in _kinds(tree)


def test_shared_email_cluster_and_its_absence(tree):
    people = [join(tree).person for _ in range(3)]
    assert FlagKind.SHARED_EMAIL not in _kinds(tree)
    for p in people:
        Email.objects.filter(person=p).update(value="stessa@example.org")
    assert FlagKind.SHARED_EMAIL in _kinds(tree)
    flag = AnomalyFlag.objects.get(kind=FlagKind.SHARED_EMAIL)
    assert set(flag.people.values_list("pk", flat=True)) == {p.pk for p in people}


def test_shared_address_cluster(tree):
    for _ in range(3):
        join(tree, residence_street="Via Roma 1")
    assert FlagKind.SHARED_ADDRESS in _kinds(tree)


def test_invalid_codice_fiscale_flagged(tree):
    m = join(tree)
    assert FlagKind.INVALID_CF not in _kinds(tree)
    Person.objects.filter(pk=m.person_id).update(birth_date=dt.date(1950, 1, 1))  # inconsistent with the code
    assert FlagKind.INVALID_CF in _kinds(tree)


def test_implausible_age(tree):
    m = join(tree)
    Person.objects.filter(pk=m.person_id).update(birth_date=dt.date(1900, 1, 1))
    assert FlagKind.IMPLAUSIBLE_AGE in _kinds(tree)


def test_pre_cut_off_spike_against_own_history(tree, secretary):
    cut_off = timezone.make_aware(dt.datetime(YEAR, 6, 30, 12, 0))
    roll_actions.create_congress(
        actor=secretary, territory=tree.bologna_centro, name="Congresso", cut_off=cut_off, membership_years=[YEAR]
    )
    # Usual rhythm: one join a month in the previous months.
    for month in range(1, 6):
        join(tree, now=timezone.make_aware(dt.datetime(YEAR, month, 3)))
    assert FlagKind.PRE_CUTOFF_SPIKE not in _kinds(tree)
    for hour in range(8):
        join(tree, now=cut_off - dt.timedelta(days=1, hours=hour))
    assert FlagKind.PRE_CUTOFF_SPIKE in _kinds(tree)
    flag = AnomalyFlag.objects.get(kind=FlagKind.PRE_CUTOFF_SPIKE)
    assert flag.evidence["count"] == 8 and flag.people.count() == 8


def test_out_of_area_beyond_cap(tree):
    join(tree)
    m = join(tree)
    Membership.objects.filter(pk=m.pk).update(out_of_area=True)
    assert FlagKind.OUT_OF_AREA in _kinds(tree)


def test_review_and_idempotent_rerun(tree, commission):
    paid(tree, fingerprint="card-9")
    paid(tree, fingerprint="card-9")
    _kinds(tree)
    flag = AnomalyFlag.objects.get(kind=FlagKind.SHARED_INSTRUMENT)
    review_actions.review_flag(actor=commission, flag=flag, status=FlagStatus.RESOLVED, note="Coniugi, stessa carta")
    _kinds(tree)
    flag.refresh_from_db()
    assert flag.status == FlagStatus.RESOLVED and AnomalyFlag.objects.count() == 1
    paid(tree, fingerprint="card-9")  # the cluster grows: open again
    flag.refresh_from_db()
    assert flag.status == FlagStatus.OPEN and flag.people.count() == 3
    assert Membership.objects.filter(status="paid").count() == 3  # nothing rejected automatically
