"""Issue 12, rule G4: an official's way back — password reset by emailed link (the second factor
is still required afterwards), recovery codes (each use audited) and an administrator's reset of
the second factor (the official enrols again)."""

from __future__ import annotations

import re
from urllib.parse import urlparse

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from piazza.core.models import AuditEntry
from piazza.territory import actions as territory_actions
from piazza.territory.models import Role, RoleAssignment
from piazza.territory.testing import make_official, verified_client

pytestmark = pytest.mark.django_db
CSRF = re.compile(r'name="csrfmiddlewaretoken" value="[^"]+"')


@pytest.fixture
def secretary(tree):
    user = make_official(
        "segretaria.centro", tree.bologna_centro, [Role.ORGANISATION, Role.MEMBERSHIP], email="segretaria@example.org"
    )
    TOTPDevice.objects.create(user=user, name="telefono", confirmed=True)
    return user


def _reset_link() -> str:
    found = re.search(r"http\S+/accesso/password/\S+/\S+/", str(mail.outbox[-1].body))
    assert found, mail.outbox[-1].body
    return urlparse(found.group(0)).path


def test_forgotten_password_by_emailed_link_then_the_second_factor_is_still_required(client, secretary):
    assert "Password dimenticata?" in client.get(reverse("web:login")).content.decode()
    known = client.post(reverse("web:password_reset"), {"email": "segretaria@example.org"}, follow=True)
    unknown = Client().post(reverse("web:password_reset"), {"email": "nessuno@example.org"}, follow=True)
    assert CSRF.sub("", known.content.decode()) == CSRF.sub("", unknown.content.decode())
    assert [m.to for m in mail.outbox] == [["segretaria@example.org"]]
    assert "Nuova password" in mail.outbox[0].subject and "segretaria.centro" in mail.outbox[0].body

    form = client.get(_reset_link(), follow=True)
    assert "Scegli una nuova password" in form.content.decode()
    done = client.post(
        form.redirect_chain[-1][0],
        {"new_password1": "una-nuova-frase-lunga-42", "new_password2": "una-nuova-frase-lunga-42"},
        follow=True,
    )
    assert "Password cambiata" in done.content.decode()
    assert AuditEntry.objects.filter(action="auth.password_reset", actor=secretary).exists()
    assert client.get(reverse("web:dashboard"))["Location"].startswith(reverse("web:login"))  # nobody logged in

    login = client.post(reverse("web:login"), {"username": "segretaria.centro", "password": "una-nuova-frase-lunga-42"})
    assert login.status_code == 302
    dashboard = client.get(reverse("web:dashboard"))
    assert dashboard.status_code == 302 and dashboard["Location"].startswith(reverse("web:otp_verify"))


def test_a_reset_link_works_once(client, secretary):
    client.post(reverse("web:password_reset"), {"email": "segretaria@example.org"})
    link = _reset_link()
    form = client.get(link, follow=True)
    client.post(
        form.redirect_chain[-1][0],
        {"new_password1": "una-nuova-frase-lunga-42", "new_password2": "una-nuova-frase-lunga-42"},
    )
    again = Client().get(link, follow=True)
    assert "non vale più" in again.content.decode()


def test_reset_requests_are_throttled_with_the_same_answer(secretary):
    for _i in range(5):
        Client().post(reverse("web:password_reset"), {"email": "segretaria@example.org"})
    assert len(mail.outbox) == 3
    assert AuditEntry.objects.filter(action="auth.password_reset_requested").count() == 5


def test_a_recovery_code_opens_once_and_each_use_is_audited(client, secretary):
    codes = territory_actions.issue_backup_codes(actor=secretary, user=secretary)
    client.post(reverse("web:login"), {"username": "segretaria.centro", "password": "correct-horse-battery"})
    used = client.post(reverse("web:otp_verify"), {"code": codes[0], "next": reverse("web:dashboard")}, follow=True)
    assert used.status_code == 200 and "codice di riserva" in used.content.decode()
    entry = AuditEntry.objects.get(action="auth.backup_code_used")
    assert entry.actor == secretary and entry.data["left"] == 9

    other = Client()
    other.post(reverse("web:login"), {"username": "segretaria.centro", "password": "correct-horse-battery"})
    again = other.post(reverse("web:otp_verify"), {"code": codes[0]})
    assert again.status_code == 200 and "error-summary" in again.content.decode()  # refused, asked again
    assert other.get(reverse("web:dashboard"))["Location"].startswith(reverse("web:otp_verify"))
    assert AuditEntry.objects.filter(action="auth.backup_code_used").count() == 1


def test_recovery_codes_are_regenerated_from_the_officials_page(secretary):
    old = territory_actions.issue_backup_codes(actor=secretary, user=secretary)
    client = verified_client(secretary)
    page = client.get(reverse("web:backup_codes")).content.decode()
    assert "Ti restano 10 codici di riserva" in page
    response = client.post(reverse("web:backup_codes"))
    new = re.findall(r"<li>(\w+)</li>", response.content.decode())
    assert len(new) == 10 and not set(new) & set(old)
    assert set(StaticToken.objects.values_list("token", flat=True)) == set(new)
    assert AuditEntry.objects.filter(action="auth.backup_codes_issued", actor=secretary).count() == 2


def test_an_administrator_resets_the_second_factor_and_the_official_enrols_again(tree, secretary):
    territory_actions.issue_backup_codes(actor=secretary, user=secretary)
    theirs = verified_client(secretary)
    assert theirs.get(reverse("web:dashboard")).status_code == 200
    admin = make_official("admin.bologna", tree.bologna, [Role.ADMINISTRATOR])
    client = verified_client(admin)
    page = client.get(reverse("territory:detail", args=[tree.bologna_centro.pk])).content.decode()
    assert "Azzera la verifica in due passaggi" in page
    response = client.post(
        reverse("territory:reset_second_factor", args=[tree.bologna_centro.pk, secretary.pk]), follow=True
    )
    assert "dovrà attivarla di nuovo" in response.content.decode()
    assert not TOTPDevice.objects.filter(user=secretary).exists()
    assert not StaticDevice.objects.filter(user=secretary).exists()
    entry = AuditEntry.objects.get(action="auth.otp_reset")
    assert entry.actor == admin and entry.data["user"] == "segretaria.centro"
    after = theirs.get(reverse("web:dashboard"))  # the old verified session counts no more
    assert after.status_code == 302 and after["Location"].startswith(reverse("web:otp_setup"))


def test_only_an_administrator_of_all_the_officials_territories_may_reset(tree, secretary):
    url = reverse("territory:reset_second_factor", args=[tree.bologna_centro.pk, secretary.pk])
    elsewhere = make_official("admin.modena", tree.modena, [Role.ADMINISTRATOR])
    assert verified_client(elsewhere).post(url).status_code == 404  # the circolo is not even visible
    plain = make_official("solo.org", tree.bologna_centro, [Role.ORGANISATION])
    assert verified_client(plain).post(url).status_code == 403
    admin = make_official("admin.bologna", tree.bologna, [Role.ADMINISTRATOR])
    own = verified_client(admin).post(
        reverse("territory:reset_second_factor", args=[tree.bologna.pk, admin.pk]), follow=True
    )
    assert "chiedilo a un altro amministratore" in own.content.decode()
    RoleAssignment.objects.create(user=secretary, territory=tree.modena_nord, role=Role.ORGANISATION)
    partial = verified_client(admin).post(url, follow=True)
    assert "Solo un amministratore del territorio" in partial.content.decode()
    assert TOTPDevice.objects.filter(user=secretary).exists()
    assert AuditEntry.objects.filter(action="auth.otp_reset", kind="denied").count() == 2
