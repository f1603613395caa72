"""Rule M18: appeals beyond filing — the regional then the national commission decide, with
deadlines per instance, and the membership follows the outcome (reinstated or rejected)."""

import datetime as dt
import html

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils import timezone

from piazza.core.models import AuditEntry, AuditKind
from piazza.membership.actions import objection as objection_actions
from piazza.membership.models import Appeal, AppealInstance, MembershipRules, Objection, Status
from piazza.people.models import TimelineEntry
from piazza.territory.models import Role
from piazza.territory.testing import make_official, verified_client

from .conftest import join, paid

pytestmark = pytest.mark.usefixtures("schedule")
HOUR = 3600


@pytest.fixture
def national_commission(tree):
    return make_official("garanzia.naz", tree.national, [Role.GUARANTEE])


def _messages(response):
    return " ".join(str(m) for m in get_messages(response.wsgi_request))


def _rejected_at_first_instance(tree, secretary, commission):
    """A fresh membership, contested and rejected by the provincial commission (first instance)."""
    membership = paid(tree, paid_at=timezone.now())
    objection = objection_actions.raise_objection(
        actor=secretary, membership=membership, body="circolo", reason="Iscritto a un altro partito (M15)"
    )
    objection_actions.decide_objection(
        actor=commission, objection=objection, uphold=True, reason="Tessera di altro partito"
    )
    membership.refresh_from_db()
    assert membership.status == Status.REJECTED
    return membership, Objection.objects.get(pk=objection.pk)


def _post(client, name, *args, **data):
    if name == "appeal_decide":  # the decision form's fields carry a prefix on the membership page
        data = {f"appeal-{key}": value for key, value in data.items()}
    return client.post(reverse(f"membership:{name}", args=args), data)


def test_appeal_decided_by_region_then_national_reinstates_the_member(
    tree, secretary, commission, regional_commission, national_commission, clock
):
    membership, objection = _rejected_at_first_instance(tree, secretary, commission)
    desk = verified_client(secretary)
    _post(desk, "objection_appeal", objection.pk, "ricorso", reason="Ho lasciato l'altro partito nel 2024")
    regional = Appeal.objects.get(objection=objection)
    assert (regional.instance, regional.commission) == (AppealInstance.REGIONAL, tree.emilia)
    region_client = verified_client(regional_commission)
    # Before the counter-appeal window closes the commission waits (M18: 48 h to counter-appeal).
    early = _post(region_client, "appeal_decide", regional.pk, outcome="upheld", reason="Prova allegata")
    assert "Il controricorso si può presentare fino al" in _messages(early)
    _post(desk, "objection_appeal", objection.pk, "controricorso", reason="Il circolo conferma")
    _post(region_client, "appeal_decide", regional.pk, outcome="rejected", reason="Nessuna prova delle dimissioni")
    regional.refresh_from_db()
    assert regional.outcome == "rejected" and regional.membership_admitted is False
    assert regional.decided_at is not None
    assert regional.next_appeal_deadline == regional.decided_at + dt.timedelta(hours=24)
    page = html.unescape(
        verified_client(national_commission)
        .get(reverse("membership:membership", args=[membership.pk]))
        .content.decode()
    )
    assert "Ricorso entro il" in page and "alla Commissione nazionale di garanzia" in page
    # Second appeal, to the national commission (last instance), which upholds it.
    _post(desk, "objection_appeal", objection.pk, "ricorso", reason="Allego la lettera di dimissioni")
    national = Appeal.objects.get(objection=objection, instance=AppealInstance.NATIONAL)
    assert national.commission == tree.national
    clock.tick(49 * HOUR)  # no counter-appeal came: the window closed
    nation = verified_client(national_commission)
    done = _post(nation, "appeal_decide", national.pk, outcome="upheld", reason="Dimissioni documentate")
    assert "anagrafe è aggiornata" in _messages(done)
    membership.refresh_from_db()
    assert membership.status in (Status.PAID, Status.EFFECTIVE) and membership.ended_at is None
    reinstated = AuditEntry.objects.get(action="membership.reinstated")
    assert reinstated.data["instance"] == AppealInstance.NATIONAL
    assert TimelineEntry.objects.filter(person=membership.person, kind="membership.reinstated").exists()
    page = html.unescape(nation.get(reverse("membership:membership", args=[membership.pk])).content.decode())
    assert "ultima istanza" in page and "Accolto" in page
    # The national commission is the last instance: nothing further can be filed.
    desk = verified_client(secretary)  # sessions end after hours of inactivity: sign in again
    last = _post(desk, "objection_appeal", objection.pk, "ricorso", reason="Ancora")
    assert "ultima istanza" in _messages(last)
    assert Appeal.objects.filter(objection=objection).count() == 2


def test_an_upheld_appeal_against_a_confirmation_rejects_the_membership(
    tree, secretary, commission, regional_commission, clock
):
    membership = paid(tree, paid_at=timezone.now())
    objection = objection_actions.raise_objection(
        actor=secretary, membership=membership, body="circolo", reason="Doppia"
    )
    objection_actions.decide_objection(actor=commission, objection=objection, uphold=False, reason="Nessuna prova")
    objection.refresh_from_db()
    objection_actions.file_appeal(actor=secretary, objection=objection, reason="Il circolo ricorre")
    appeal = Appeal.objects.get()
    clock.tick(49 * HOUR)
    objection_actions.decide_appeal(actor=regional_commission, appeal=appeal, outcome="upheld", reason="Provata")
    membership.refresh_from_db()
    assert membership.status == Status.REJECTED and membership.end_reason == "Provata"
    assert AuditEntry.objects.filter(action="membership.rejected_on_appeal").exists()


def test_only_the_competent_commission_decides(
    tree, secretary, commission, regional_commission, national_commission, clock
):
    _membership, objection = _rejected_at_first_instance(tree, secretary, commission)
    objection_actions.file_appeal(actor=secretary, objection=objection, reason="Ricorso")
    appeal = Appeal.objects.get()
    clock.tick(49 * HOUR)
    for outsider in (commission, national_commission):  # the instance below, and the one above
        response = _post(verified_client(outsider), "appeal_decide", appeal.pk, outcome="upheld", reason="x")
        assert response.status_code in (302, 403)
        appeal.refresh_from_db()
        assert appeal.decided_at is None
    assert AuditEntry.objects.filter(action="membership.decide_appeal", kind=AuditKind.DENIED).count() == 2
    lombardia = make_official("garanzia.lo", tree.lombardia, [Role.GUARANTEE])
    assert (
        _post(verified_client(lombardia), "appeal_decide", appeal.pk, outcome="upheld", reason="x").status_code == 404
    )


def test_bad_decisions_and_late_appeals_are_refused_and_write_nothing(
    tree, secretary, commission, regional_commission, clock
):
    _membership, objection = _rejected_at_first_instance(tree, secretary, commission)
    desk = verified_client(secretary)
    empty = _post(desk, "objection_appeal", objection.pk, "ricorso", reason="")
    assert "Riporta i motivi" in _messages(empty) and not Appeal.objects.exists()
    objection_actions.file_appeal(actor=secretary, objection=objection, reason="Ricorso")
    appeal = Appeal.objects.get()
    clock.tick(49 * HOUR)
    region = verified_client(regional_commission)
    for data in ({"outcome": "upheld", "reason": ""}, {"outcome": "forse", "reason": "x"}):
        response = _post(region, "appeal_decide", appeal.pk, **data)
        assert "Scegli l'esito del ricorso e scrivi la motivazione" in _messages(response)
    appeal.refresh_from_db()
    assert appeal.decided_at is None
    objection_actions.decide_appeal(
        actor=regional_commission, appeal=appeal, outcome="inadmissible", reason="Fuori termine"
    )
    again = _post(region, "appeal_decide", appeal.pk, outcome="upheld", reason="Ripensamento")
    assert "già stato deciso" in _messages(again)
    clock.tick(25 * HOUR)  # the 24 h to appeal to the national commission have passed
    late = _post(verified_client(secretary), "objection_appeal", objection.pk, "ricorso", reason="Tardi")
    assert "scaduto" in _messages(late)
    assert Appeal.objects.count() == 1


def test_overdue_appeals_are_on_the_queue_with_per_instance_deadlines(
    tree, secretary, commission, regional_commission, clock
):
    MembershipRules.objects.create(territory=tree.emilia, appeal_decision_hours_regional=72)
    membership, objection = _rejected_at_first_instance(tree, secretary, commission)
    objection_actions.file_appeal(actor=secretary, objection=objection, reason="Ricorso")
    appeal = Appeal.objects.get()
    assert appeal.decision_due == appeal.filed_at + dt.timedelta(hours=72)
    region = verified_client(regional_commission)
    page = html.unescape(region.get(reverse("membership:appeals")).content.decode())
    assert membership.person.last_name in page and "in ritardo" not in page
    clock.tick(73 * HOUR)
    page = html.unescape(verified_client(regional_commission).get(reverse("membership:appeals")).content.decode())
    assert "in ritardo" in page and 'id="appeals-overdue"' in page and "Apri e decidi" in page
    assert AuditEntry.objects.filter(action="membership.view_appeals", kind=AuditKind.VIEW).exists()
    lombardia = make_official("garanzia.lo", tree.lombardia, [Role.GUARANTEE])
    other = html.unescape(verified_client(lombardia).get(reverse("membership:appeals")).content.decode())
    assert membership.person.last_name not in other and "Nessun ricorso in attesa" in other


def test_reinstating_is_refused_while_the_person_has_another_membership_that_year(
    tree, secretary, commission, regional_commission, clock
):
    membership, objection = _rejected_at_first_instance(tree, secretary, commission)
    objection_actions.file_appeal(actor=secretary, objection=objection, reason="Ricorso")
    appeal = Appeal.objects.get()
    person = membership.person
    again = join(
        tree,
        tree.bologna_navile,
        first=person.first_name,
        last=person.last_name,
        sex=person.sex,
        birth_date=person.birth_date,
    )
    assert again.person_id == person.pk
    clock.tick(49 * HOUR)
    response = _post(
        verified_client(regional_commission),
        "appeal_decide",
        appeal.pk,
        outcome="upheld",
        reason="Dimissioni documentate",
    )
    assert "un'altra iscrizione" in _messages(response)
    appeal.refresh_from_db()
    membership.refresh_from_db()
    assert appeal.decided_at is None and membership.status == Status.REJECTED
    assert AuditEntry.objects.filter(
        action="membership.decide_appeal", kind=AuditKind.DENIED, data__code="duplicate"
    ).exists()
