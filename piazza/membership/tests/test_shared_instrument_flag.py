"""Issue 14, P8 (ADR 0051): a payment's shared-instrument flag (M4/M24) reads only its own
instrument's group, lists a bounded part of it in the evidence, and the review page still shows
every membership of the group, in the federation only."""

import pytest
from django.urls import reverse

from piazza.membership import anomalies
from piazza.membership.models import AnomalyFlag, FlagKind, Membership, MembershipRules, rules_for
from piazza.territory.models import Role
from piazza.territory.testing import make_official, verified_client

from .conftest import YEAR, paid

pytestmark = pytest.mark.usefixtures("schedule")


@pytest.fixture(autouse=True)
def limit(tree):
    """M24: the payments share cards within the limit, so none of them is refused."""
    return MembershipRules.objects.create(territory=tree.national, max_per_instrument=10)


def _in_modena(tree, fingerprint):
    """A membership of Modena's federation paid with `fingerprint` (paid first: the ones after it
    see it as a shared instrument of the year, but it is not Bologna's)."""
    m = paid(tree, fingerprint=fingerprint)
    Membership.objects.filter(pk=m.pk).update(circolo=tree.modena_nord)
    return m


def _groups(tree):
    """Two shared cards across two circoli of Bologna, one card used once, one in Modena."""
    _in_modena(tree, "card-1")
    for circolo in (tree.bologna_centro, tree.bologna_navile, tree.bologna_centro):
        paid(tree, circolo, fingerprint="card-1")
    paid(tree, fingerprint="card-2")
    paid(tree, fingerprint="card-2")
    paid(tree, fingerprint="card-3")


@pytest.mark.parametrize("listed", [50, 2])  # the group fits in the evidence; it does not
def test_one_instrument_signal_equals_the_federation_scan(tree, monkeypatch, listed):
    monkeypatch.setattr(anomalies, "EVIDENCE_LISTED", listed)
    _groups(tree)
    rules = rules_for(tree.bologna)
    scan = {s.key: s for s in anomalies.shared_instruments(tree.bologna, YEAR, rules)}
    assert sorted(scan) == ["card-1", "card-2"]
    for key in ("card-1", "card-2"):
        (one,) = anomalies.shared_instruments(tree.bologna, YEAR, rules, fingerprint=key)
        assert one == scan[key]
        assert str(one.summary) == str(scan[key].summary)
    assert anomalies.shared_instruments(tree.bologna, YEAR, rules, fingerprint="card-3") == []
    # The flag the payments stored is that signal's (the within/over-the-limit wording included).
    flag = AnomalyFlag.objects.get(federation=tree.bologna, kind=FlagKind.SHARED_INSTRUMENT, key="card-1")
    assert flag.summary == str(scan["card-1"].summary)
    assert {k: v for k, v in flag.evidence.items() if k != "_summary"} == scan["card-1"].evidence
    assert sorted(flag.people.values_list("pk", flat=True)) == scan["card-1"].person_ids


def test_a_large_group_stores_bounded_evidence_and_the_report_lists_it_all(tree, monkeypatch):
    monkeypatch.setattr(anomalies, "EVIDENCE_LISTED", 2)
    elsewhere = _in_modena(tree, "card-1")
    members = [paid(tree, fingerprint="card-1") for _ in range(5)]
    flag = AnomalyFlag.objects.get(federation=tree.bologna, kind=FlagKind.SHARED_INSTRUMENT)
    assert flag.evidence["count"] == 5 and flag.evidence["not_listed"] == 3
    assert [m["card"] for m in flag.evidence["memberships"]] == [m.card_number for m in members[:2]]
    assert flag.people.count() == 5
    commission = make_official("garanzia.bo", tree.bologna, [Role.GUARANTEE])
    page = (
        verified_client(commission)
        .get(reverse("membership:anomalies", args=[tree.bologna.pk]) + f"?anno={YEAR}")
        .content.decode()
    )
    for m in members:
        assert m.card_number in page
    assert elsewhere.card_number not in page  # Modena's membership is not Bologna's to see
    assert "tessere non elencate nelle prove" in page
