"""Screens for what the actions do: card blocks (M9), transfers (M23), objections and appeals
(M18), fee years and regional surcharges (M5–M7), per-territory rules, Albo elections, renewal
campaigns, and the audited admin."""

import datetime as dt

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils import timezone

from piazza.core.models import AuditEntry, AuditKind
from piazza.membership.models import (
    AlboElection,
    CardBlock,
    FeeSchedule,
    MembershipRules,
    Objection,
    RegionalSurcharge,
    RenewalReminder,
    Status,
    Transfer,
    TransferStatus,
)
from piazza.territory.models import Role
from piazza.territory.testing import make_official, verified_client

from .conftest import YEAR, join, paid

pytestmark = pytest.mark.usefixtures("schedule")


def _messages(response):
    return [str(m) for m in get_messages(response.wsgi_request)]


def test_block_and_unblock_the_card_from_the_membership_page(tree, secretary):
    m = paid(tree)
    client = verified_client(secretary)
    url = reverse("membership:membership", args=[m.pk])
    response = client.post(reverse("membership:membership_block", args=[m.pk]), {"reason": ""})
    assert "Indica il motivo" in " ".join(_messages(response)) and not CardBlock.objects.exists()
    blocked = client.post(reverse("membership:membership_block", args=[m.pk]), {"reason": "Contributi 2025 da versare"})
    assert CardBlock.objects.exists(), _messages(blocked)
    page = client.get(url).content.decode()
    assert 'id="card-block"' in page and "Contributi 2025 da versare" in page
    response = client.post(reverse("membership:membership_deliver", args=[m.pk]), {"delivery": "circolo"})
    assert "bloccata" in " ".join(_messages(response))
    client.post(reverse("membership:membership_unblock", args=[m.pk]), {"note": "Versati"})
    assert CardBlock.objects.get().lifted_at is not None
    assert AuditEntry.objects.filter(action="membership.lift_card_block").exists()


def test_transfer_requested_decided_on_the_transfers_page_and_origin_notified(
    tree, secretary, mailoutbox, django_capture_on_commit_callbacks
):
    navile = make_official("navile.t", tree.bologna_navile, [Role.MEMBERSHIP], email="navile@example.org")
    m = join(tree, tree.bologna_navile)
    response = verified_client(navile).post(
        reverse("membership:transfer_request", args=[m.pk]),
        {"to_circolo": tree.bologna_centro.pk, "reason": "Studio a Bologna centro"},
    )
    assert response.status_code == 302
    transfer = Transfer.objects.get()
    client = verified_client(secretary)
    page = client.get(reverse("membership:transfers")).content.decode()
    assert "Studio a Bologna centro" in page and "tetto 5%" in page
    assert AuditEntry.objects.filter(action="membership.view_transfers", kind=AuditKind.VIEW).exists()
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            reverse("membership:transfer_decide", args=[transfer.pk]),
            {f"t{transfer.pk}-decision": "approve", f"t{transfer.pk}-reason": "Ok"},
        )
    transfer.refresh_from_db()
    assert transfer.status == TransferStatus.APPROVED and transfer.origin_notified_at is not None
    assert mailoutbox[-1].to == ["navile@example.org"]


def test_transfers_of_other_circoli_are_not_visible(tree, secretary):
    modena = make_official("modena.t", tree.modena_nord, [Role.MEMBERSHIP])
    m = join(tree, tree.bologna_navile)
    navile = make_official("navile.u", tree.bologna_navile, [Role.MEMBERSHIP])
    verified_client(navile).post(
        reverse("membership:transfer_request", args=[m.pk]), {"to_circolo": tree.bologna_centro.pk, "reason": "Lavoro"}
    )
    transfer = Transfer.objects.get()
    assert "Lavoro" not in verified_client(modena).get(reverse("membership:transfers")).content.decode()
    response = verified_client(modena).post(
        reverse("membership:transfer_decide", args=[transfer.pk]), {f"t{transfer.pk}-decision": "approve"}
    )
    assert response.status_code == 404


def test_objection_decision_and_appeal_through_the_page_show_the_deadlines(tree, secretary, commission):
    m = paid(tree, paid_at=timezone.now())
    page = verified_client(secretary).get(reverse("membership:membership", args=[m.pk])).content.decode()
    assert "si può contestare fino al" in page
    verified_client(secretary).post(
        reverse("membership:objection_raise", args=[m.pk]), {"body": "circolo", "reason": "Residenza inesistente"}
    )
    objection = Objection.objects.get()
    guarantee = verified_client(commission)
    guarantee.post(
        reverse("membership:objection_decide", args=[objection.pk]),
        {"uphold": "yes", "reason": "Indirizzo inesistente"},
    )
    objection.refresh_from_db()
    m.refresh_from_db()
    assert m.status == Status.REJECTED and objection.appeal_deadline is not None
    page = guarantee.get(reverse("membership:membership", args=[m.pk])).content.decode()
    assert "Ricorso entro il" in page and "Registra il ricorso" in page
    guarantee.post(
        reverse("membership:objection_appeal", args=[objection.pk, "ricorso"]), {"reason": "L'indirizzo esiste"}
    )
    objection.refresh_from_db()
    assert objection.appeal_filed_at is not None and objection.counter_appeal_deadline is not None
    assert "Controricorso entro il" in guarantee.get(reverse("membership:membership", args=[m.pk])).content.decode()


@pytest.fixture
def national_office(tree):
    return make_official("tesseramento.naz", tree.national, [Role.MEMBERSHIP, Role.ORGANISATION])


def test_national_office_sets_a_fee_year(tree, national_office):
    client = verified_client(national_office)
    assert "Quote per anno" in client.get(reverse("membership:rules")).content.decode()
    client.post(
        reverse("membership:fee_schedule_save"),
        {
            "year": YEAR + 1,
            "base_fee": "15,00",
            "national_surcharge": "0,00",
            "regional_surcharge_cap": "20,00",
            "total_cap": "40,00",
            "regional_deadline": f"{YEAR + 1}-01-10",
            "reduced_percent": 50,
            "opens_at": f"{YEAR}-11-01T00:00",
        },
    )
    assert FeeSchedule.objects.get(year=YEAR + 1).base_fee_cents == 1500


def test_regional_surcharge_screen_refuses_above_the_cap_and_after_the_deadline(tree, schedule):
    regional = make_official("tesseramento.er", tree.emilia, [Role.MEMBERSHIP])
    client = verified_client(regional)
    FeeSchedule.objects.filter(pk=schedule.pk).update(regional_deadline=timezone.localdate() + dt.timedelta(days=5))
    url = reverse("membership:surcharge_save", args=[tree.emilia.pk])
    response = client.post(url, {f"r{tree.emilia.pk}-year": YEAR, f"r{tree.emilia.pk}-amount": "25,00"})
    assert "al massimo 20,00 €" in " ".join(_messages(response))
    client.post(url, {f"r{tree.emilia.pk}-year": YEAR, f"r{tree.emilia.pk}-amount": "10,00"})
    assert RegionalSurcharge.objects.get().amount_cents == 1000
    FeeSchedule.objects.filter(pk=schedule.pk).update(regional_deadline=timezone.localdate() - dt.timedelta(days=1))
    response = client.post(url, {f"r{tree.emilia.pk}-year": YEAR, f"r{tree.emilia.pk}-amount": "5,00"})
    assert "Il termine per fissare la maggiorazione" in " ".join(_messages(response))
    assert RegionalSurcharge.objects.get().amount_cents == 1000
    assert client.post(reverse("membership:surcharge_save", args=[tree.lombardia.pk]), {}).status_code == 404


def test_federation_sets_its_rules_and_they_are_in_force_below(tree):
    from piazza.membership.models import rules_for

    federation = make_official("tesseramento.bo", tree.bologna, [Role.MEMBERSHIP])
    client = verified_client(federation)
    prefix = f"t{tree.bologna.pk}"
    client.post(
        reverse("membership:rules_save", args=[tree.bologna.pk]),
        {f"{prefix}-cash_allowed": "yes", f"{prefix}-out_of_area_cap_percent": "10", f"{prefix}-objection_days": "20"},
    )
    assert MembershipRules.objects.get(territory=tree.bologna).cash_allowed is True
    in_force = rules_for(tree.bologna_centro)
    assert in_force.cash_allowed and in_force.out_of_area_cap_percent == 10 and in_force.objection_days == 20
    response = client.post(
        reverse("membership:rules_save", args=[tree.bologna.pk]), {f"{prefix}-out_of_area_cap_percent": "150"}
    )
    assert "Controlla i parametri" in " ".join(_messages(response))
    assert rules_for(tree.bologna_centro).out_of_area_cap_percent == 10


def test_albo_election_created_from_the_rules_page(tree, national_office):
    client = verified_client(national_office)
    created = client.post(
        reverse("membership:election_create", args=[tree.national.pk]),
        {"name": "Primarie 2027", "fee": "2,00", "opens_at": f"{YEAR}-12-01T08:00", "closes_at": f"{YEAR}-12-01T20:00"},
    )
    election = AlboElection.objects.get()
    assert election.fee_cents == 200
    assert f"/tesseramento/albo/?elezione={election.pk}" in " ".join(_messages(created))
    response = client.post(
        reverse("membership:election_create", args=[tree.national.pk]),
        {"name": "Al contrario", "fee": "2,00", "opens_at": f"{YEAR}-12-02T08:00", "closes_at": f"{YEAR}-12-01T20:00"},
    )
    assert "dopo l'apertura" in " ".join(_messages(response)) and AlboElection.objects.count() == 1


def test_renewal_campaign_from_the_rules_page_and_renewal_rate_on_the_overview(
    tree, schedule, secretary, django_capture_on_commit_callbacks, mailoutbox
):
    federation = make_official("tesseramento.bo2", tree.bologna, [Role.MEMBERSHIP])
    last = FeeSchedule.objects.create(
        year=YEAR - 1,
        regional_deadline=dt.date(YEAR - 1, 1, 10),
        opens_at=timezone.make_aware(dt.datetime(YEAR - 2, 11, 1)),
    )
    from piazza.membership.actions import join as join_actions
    from piazza.membership.actions import payment as payment_actions

    from .conftest import join_data

    previous = join_actions.apply_for_membership(
        actor=None,
        data=join_data(),
        circolo=tree.bologna_centro,
        year=last.year,
        now=timezone.make_aware(dt.datetime(YEAR - 1, 3, 1)),
    )
    payment_actions.mark_paid(actor=None, membership=previous, method="card", reference="x")
    client = verified_client(federation)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("membership:renewal_campaign", args=[tree.bologna.pk]), {"year": YEAR})
    assert "1 promemoria" in " ".join(_messages(response))
    assert RenewalReminder.objects.filter(previous=previous, year=YEAR).exists()
    assert "/rinnova/" in mailoutbox[-1].body
    overview = verified_client(secretary).get(reverse("membership:overview") + f"?anno={YEAR}").content.decode()
    assert "0% (0/1)" in overview  # renewal rate per circolo: nobody renewed yet


def test_admin_opening_a_membership_is_audited(tree, national_admin):
    m = join(tree)
    admin_client = verified_client(national_admin)
    assert admin_client.get(reverse("admin:membership_membership_changelist")).status_code == 200
    response = admin_client.get(reverse("admin:membership_membership_change", args=[m.pk]))
    assert response.status_code == 200
    assert AuditEntry.objects.filter(action="admin.view", kind=AuditKind.VIEW, object_id=str(m.pk)).exists()
    assert admin_client.get(reverse("admin:membership_membership_add")).status_code == 403
