"""Rule M12: online circoli and Punti PD need a minimum of members to certify their roll.

The minimum is a parameter per circolo kind (federation, region or national rules page); the
roll page says so before the official tries, and signing or ratifying below it is refused."""

import datetime as dt
import html

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils import timezone

from piazza.core.models import AuditEntry, AuditKind
from piazza.membership.actions import card as card_actions
from piazza.membership.actions import roll as roll_actions
from piazza.membership.models import Delivery, MembershipRules, Roll, RollStatus
from piazza.territory.models import Kind, Level, Role, Territory
from piazza.territory.testing import make_official, verified_client

from .conftest import YEAR, paid

pytestmark = pytest.mark.usefixtures("schedule")
CUT_OFF = timezone.make_aware(dt.datetime(YEAR, 1, 31, 12, 0, 0))


@pytest.fixture
def federation_office(tree):
    """The Bologna federation's membership office: computes and signs the rolls of its circoli."""
    return make_official("tesseramento.bo", tree.bologna, [Role.MEMBERSHIP, Role.ORGANISATION])


@pytest.fixture
def congress(tree, federation_office):
    return roll_actions.create_congress(
        actor=federation_office, territory=tree.bologna, name="Congresso 2026", cut_off=CUT_OFF, membership_years=[YEAR]
    )


def _members(tree, circolo, office, n, **kw):
    at = CUT_OFF - dt.timedelta(days=3)
    for _ in range(n):
        m = paid(tree, circolo, paid_at=at, **kw)
        card_actions.deliver_card(actor=office, membership=m, delivery=Delivery.CIRCOLO, now=at)


def _messages(response):
    return [str(m) for m in get_messages(response.wsgi_request)]


def test_online_circolo_below_ten_cannot_sign_and_the_page_says_so(tree, federation_office, congress):
    _members(tree, tree.online, federation_office, 2)
    roll = roll_actions.compute_roll(actor=federation_office, congress=congress, circolo=tree.online)
    client = verified_client(federation_office)
    page = html.unescape(client.get(reverse("membership:roll", args=[roll.pk])).content.decode())
    assert 'id="roll-minimum"' in page and "almeno 10 iscritti" in page and "ne conta 2" in page
    assert reverse("membership:roll_sign", args=[roll.pk]) not in page  # no sign button to press
    response = client.post(reverse("membership:roll_sign", args=[roll.pk]))
    assert "almeno 10 iscritti" in " ".join(_messages(response))
    roll.refresh_from_db()
    assert roll.status == RollStatus.FROZEN
    assert AuditEntry.objects.filter(
        action="membership.sign_off_roll", kind=AuditKind.DENIED, data__code="below_minimum_members"
    ).exists()


def test_the_minimum_is_a_parameter_set_on_the_rules_page(tree, federation_office, congress):
    client = verified_client(federation_office)
    prefix = f"t{tree.bologna.pk}"
    bad = client.post(reverse("membership:rules_save", args=[tree.bologna.pk]), {f"{prefix}-min_members_online": "0"})
    assert "Controlla i parametri" in " ".join(_messages(bad))
    assert not MembershipRules.objects.filter(territory=tree.bologna, min_members_online__isnull=False).exists()
    client.post(reverse("membership:rules_save", args=[tree.bologna.pk]), {f"{prefix}-min_members_online": "2"})
    assert MembershipRules.objects.get(territory=tree.bologna).min_members_online == 2
    _members(tree, tree.online, federation_office, 2)
    roll = roll_actions.compute_roll(actor=federation_office, congress=congress, circolo=tree.online)
    page = client.get(reverse("membership:roll", args=[roll.pk])).content.decode()
    assert 'id="roll-minimum"' not in page and reverse("membership:roll_sign", args=[roll.pk]) in page
    signed = client.post(reverse("membership:roll_sign", args=[roll.pk]))
    roll.refresh_from_db()
    assert roll.status == RollStatus.SIGNED, _messages(signed)


def test_a_territorial_circolo_has_no_minimum(tree, federation_office, congress):
    _members(tree, tree.bologna_centro, federation_office, 1)
    roll = roll_actions.compute_roll(actor=federation_office, congress=congress, circolo=tree.bologna_centro)
    assert roll_actions.sign_off_roll(actor=federation_office, roll=roll).status == RollStatus.SIGNED


def test_punto_pd_needs_three_people_of_the_same_place(tree, federation_office, congress):
    punto = Territory(parent=tree.bologna, level=Level.CIRCOLO, kind=Kind.PUNTO_PD, name="Punto PD Università")
    punto.save()
    _members(tree, punto, federation_office, 2)
    roll = roll_actions.compute_roll(actor=federation_office, congress=congress, circolo=punto)
    check = roll_actions.roll_minimum(roll)
    assert (check.required, check.counted, check.met) == (3, 2, False)
    client = verified_client(federation_office)
    response = client.post(reverse("membership:roll_sign", args=[roll.pk]))
    assert "almeno 3 persone dello stesso comune" in " ".join(_messages(response))
    _members(tree, punto, federation_office, 1)
    roll = roll_actions.compute_roll(actor=federation_office, congress=congress, circolo=punto)
    client.post(reverse("membership:roll_sign", args=[roll.pk]))
    assert Roll.objects.get(pk=roll.pk).status == RollStatus.SIGNED


def test_ratification_below_a_raised_minimum_is_refused(tree, federation_office, congress, commission):
    MembershipRules.objects.create(territory=tree.bologna, min_members_online=2)
    _members(tree, tree.online, federation_office, 2)
    roll = roll_actions.compute_roll(actor=federation_office, congress=congress, circolo=tree.online)
    roll_actions.sign_off_roll(actor=federation_office, roll=roll)
    MembershipRules.objects.filter(territory=tree.bologna).update(min_members_online=5)
    client = verified_client(commission)
    response = client.post(
        reverse("membership:roll_vote", args=[roll.pk]),
        {"members_total": 3, "votes_for": 3, "votes_against": 0, "abstentions": 0},
    )
    assert "almeno 5 iscritti" in " ".join(_messages(response))
    roll.refresh_from_db()
    assert roll.status == RollStatus.SIGNED and not roll.votes.exists()
