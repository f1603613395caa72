"""`make demo` prints logins that work: password, then a printed backup code, then the dashboard."""

from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from piazza.compliance.models import Candidacy
from piazza.payments.bank.actions import payouts as payouts_bank_actions
from piazza.payments.bank.models import Payout, PayoutStatus
from piazza.territory.models import Level, Role, RoleAssignment, Territory
from piazza.territory.testing import verified_client
from piazza.web.management.commands.seed_demo import DEMO_BACKUP_CODES, DEMO_PASSWORD

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("username", "heading"),
    [
        ("nazionale", "Partito Democratico – Nazionale"),
        ("segretario", "Circolo PD Bologna Centro"),
        ("tesoriera", "Federazione metropolitana di Bologna"),
    ],
)
def test_printed_demo_logins_reach_their_scoped_dashboard(tree, username, heading):
    out = StringIO()
    call_command("seed_demo", people=0, stdout=out)
    printed = out.getvalue()
    assert username in printed and DEMO_PASSWORD in printed and DEMO_BACKUP_CODES[0] in printed
    client = Client()
    response = client.post(reverse("web:login"), {"username": username, "password": DEMO_PASSWORD})
    assert response.status_code == 302
    response = client.post(reverse("web:otp_verify"), {"code": DEMO_BACKUP_CODES[0]})
    assert response.status_code == 302
    page = client.get(reverse("web:dashboard")).content.decode()
    assert f"<h1>{heading}</h1>" in page


def test_seed_demo_runs_twice_without_duplicates(tree):
    call_command("seed_demo", people=0, stdout=StringIO())
    call_command("seed_demo", people=0, stdout=StringIO())
    assert get_user_model().objects.filter(username="segretario").count() == 1


def test_demo_has_two_treasurers_so_a_payout_can_be_approved_by_the_second(tree):
    """Issue 11 item 4: four-eyes payouts can be tried in the demo: tesoriera asked, vicetesoriere approves."""
    out = StringIO()
    call_command("seed_demo", people=0, stdout=out)
    assert "vicetesoriere" in out.getvalue()
    bologna = Territory.objects.get(level=Level.FEDERATION, code="037")
    treasurers = set(
        RoleAssignment.objects.filter(territory=bologna, role=Role.TREASURY, revoked_at__isnull=True).values_list(
            "user__username", flat=True
        )
    )
    assert {"tesoriera", "vicetesoriere"} <= treasurers
    payout = Payout.objects.get(status=PayoutStatus.REQUESTED, requested_by__username="tesoriera")
    with pytest.raises(PermissionDenied):
        payouts_bank_actions.approve_payout(actor=payout.requested_by, payout=payout)
    deputy = get_user_model().objects.get(username="vicetesoriere")
    payouts_bank_actions.approve_payout(actor=deputy, payout=payout)
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.APPROVED


def test_demo_has_a_candidacy_with_its_mandatario(tree):
    call_command("seed_demo", people=0, stdout=StringIO())
    call_command("seed_demo", people=0, stdout=StringIO())
    candidacy = Candidacy.objects.get()
    assert candidacy.mandatario_name and candidacy.mandatario_user is not None
    candidacy.full_clean()
    assert candidacy.territory.code == "037"


@pytest.mark.parametrize(
    ("username", "territory_level"), [("segretario", Level.CIRCOLO), ("tesoriera", Level.FEDERATION)]
)
def test_the_demo_f10_select_lists_the_candidacy(tree, username, territory_level):
    """Issue 11 item 3: the «Candidatura» select of a new campaign was empty in the demo."""
    call_command("seed_demo", people=0, stdout=StringIO())
    candidacy = Candidacy.objects.get()
    user = get_user_model().objects.get(username=username)
    territory = Territory.objects.get(
        pk=RoleAssignment.objects.filter(user=user, territory__level=territory_level).values_list(
            "territory_id", flat=True
        )[0]
    )
    client = verified_client(user)
    form = client.get(f"{reverse('funding:manage_create')}?territory={territory.pk}").content.decode()
    assert f'<option value="{candidacy.pk}">{candidacy}</option>' in form
    page = client.get(reverse("compliance:candidacy", args=[candidacy.pk]))
    if territory_level == Level.FEDERATION:  # the federation's treasurer opens it in «Candidature»
        assert "Laura Neri" in page.content.decode() and "Apri la raccolta della candidatura" in page.content.decode()
    else:  # a circolo only picks it for its campaign: the candidacy's page stays the federation's
        assert page.status_code == 404
