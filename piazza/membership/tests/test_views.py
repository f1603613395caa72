"""Pages: scope (404 outside), audit of views and exports, the desk, the join flow, charts."""

import datetime as dt

import pytest
from django.urls import reverse

from piazza.core.models import AuditEntry, AuditKind
from piazza.membership.actions import card as card_actions
from piazza.membership.actions import roll as roll_actions
from piazza.membership.cards import card_token
from piazza.membership.models import Delivery, Membership, Status
from piazza.people.codice_fiscale import make_codice_fiscale
from piazza.people.tests.notices import shown
from piazza.territory.models import Role
from piazza.territory.testing import make_official, verified_client

from .conftest import YEAR, paid

pytestmark = pytest.mark.usefixtures("schedule")


def test_secretary_cannot_see_another_circolos_members(tree, secretary):
    other = paid(tree, tree.online)
    client = verified_client(secretary)
    assert client.get(reverse("membership:circolo", args=[tree.bologna_navile.pk])).status_code == 404
    navile = make_official("navile.v", tree.bologna_navile, [Role.MEMBERSHIP])
    assert verified_client(navile).get(reverse("membership:membership", args=[other.pk])).status_code == 404


def test_member_list_view_is_audited(tree, secretary):
    paid(tree)
    client = verified_client(secretary)
    response = client.get(reverse("membership:circolo", args=[tree.bologna_centro.pk]) + f"?anno={YEAR}")
    assert response.status_code == 200
    assert AuditEntry.objects.filter(action="membership.view_members", kind=AuditKind.VIEW).exists()


def test_desk_registration_with_bad_input_shows_the_message_and_saves_nothing(tree, secretary):
    client = verified_client(secretary)
    born = dt.date(YEAR - 15, 1, 1)  # 14 or 15 all year long, whatever the day
    code = make_codice_fiscale(first_name="Ugo", last_name="Neri", sex="M", birth_date=born, belfiore="A944")
    response = client.post(
        reverse("membership:desk_register", args=[tree.bologna_centro.pk]),
        {
            "first_name": "Ugo",
            "last_name": "Neri",
            "sex": "M",
            "birth_date": born.isoformat(),
            "birth_place": "Bologna",
            "codice_fiscale": code,
            "citizenship": "italian",
            "residence_street": "Via Po 1",
            "email": "ugo@example.org",
            "circolo": tree.bologna_centro.pk,
            "member_of_other_party": "no",
            "declarations_accepted": "on",
            "art9_authorised": "on",
            "method": "pos",
            "reference": "1",
            **shown("desk"),
        },
    )
    assert response.status_code == 200
    assert "almeno 16 anni" in response.content.decode()
    assert not Membership.objects.exists()


def test_overview_renders_the_charts(tree, secretary):
    m = paid(tree)
    card_actions.deliver_card(actor=secretary, membership=m, delivery=Delivery.CIRCOLO)
    response = verified_client(secretary).get(reverse("membership:overview") + f"?anno={YEAR}")
    body = response.content.decode()
    assert response.status_code == 200
    assert body.count("<svg") == 5 and "BO: 1" in body


def test_roll_export_is_audited_and_hash_in_csv(tree, secretary):
    cut_off = m_time = dt.datetime(YEAR, 3, 20, tzinfo=dt.UTC)
    m = paid(tree)
    card_actions.deliver_card(
        actor=secretary, membership=m, delivery=Delivery.CIRCOLO, now=m_time - dt.timedelta(days=1)
    )
    congress = roll_actions.create_congress(
        actor=secretary, territory=tree.bologna_centro, name="Congresso", cut_off=cut_off, membership_years=[YEAR]
    )
    roll = roll_actions.compute_roll(actor=secretary, congress=congress, circolo=tree.bologna_centro)
    client = verified_client(secretary)
    csv_text = client.get(reverse("membership:roll_export", args=[roll.pk, "csv"])).content.decode()
    assert roll.content_hash in csv_text and m.card_number in csv_text
    pdf = client.get(reverse("membership:roll_export", args=[roll.pk, "pdf"]))
    assert pdf.content.startswith(b"%PDF")
    assert AuditEntry.objects.filter(action="membership.export_roll", kind=AuditKind.EXPORT).count() == 2


def test_card_page_and_pdf_by_signed_link(client, tree):
    m = paid(tree)
    token = card_token(m)
    assert m.card_number in client.get(reverse("membership:card", args=[token])).content.decode()
    assert client.get(reverse("membership:card_pdf", args=[token])).content.startswith(b"%PDF")
    assert client.get(reverse("membership:card", args=["forged"])).status_code == 404
    assert Membership.objects.get(pk=m.pk).status == Status.PAID


def test_join_step_one_suggests_circoli_of_the_comune(client, tree):
    response = client.get(reverse("membership:join") + "?comune=Bologna")
    body = response.content.decode()
    assert "Circolo PD Bologna Centro" in body and "Circolo online Bologna" in body
    assert "Circolo PD Modena Nord" not in body


def test_dashboard_section_and_navigation(tree, secretary):
    paid(tree)
    body = verified_client(secretary).get(reverse("web:dashboard")).content.decode()
    assert "Tesseramento" in body and reverse("membership:overview") in body


def test_demo_seed_creates_members_and_flags(tree):
    import io

    from piazza.membership.demo import seed
    from piazza.membership.models import AnomalyFlag

    seed(people=60, stdout=io.StringIO())
    assert Membership.objects.filter(status=Status.EFFECTIVE).count() >= 12
    assert AnomalyFlag.objects.filter(kind="shared_instrument").exists()
    from piazza.membership.models import AlboElection, Transfer

    assert Transfer.objects.filter(status="requested").count() == 1
    assert AlboElection.objects.get().fee_cents == 200
