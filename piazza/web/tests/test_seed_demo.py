"""`make demo` prints logins that work: password, then a printed backup code, then the dashboard."""

from io import StringIO

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from piazza.web.management.commands.seed_demo import DEMO_BACKUP_CODES, DEMO_PASSWORD

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(("username", "heading"), [
    ("nazionale", "Partito Democratico – Nazionale"),
    ("segretario", "Circolo PD Bologna Centro"),
    ("tesoriera", "Federazione metropolitana di Bologna"),
])
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
    from django.contrib.auth import get_user_model

    assert get_user_model().objects.filter(username="segretario").count() == 1
