"""Login, throttling and two-factor authentication (rule G4)."""

import subprocess
import sys

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse
from django_otp.oath import TOTP
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from piazza.core.models import AuditEntry, AuditKind

pytestmark = pytest.mark.django_db


def _code(device):
    return f"{TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift).token():06d}"


def _login(client, username, password="correct-horse-battery"):
    return client.post(reverse("web:login"), {"username": username, "password": password})


def test_passwords_are_hashed_with_argon2(circolo_secretary):
    assert (
        settings.PASSWORD_HASHERS[-2] == "django.contrib.auth.hashers.Argon2PasswordHasher"
        or "Argon2PasswordHasher" in settings.PASSWORD_HASHERS[1]
    )


def test_login_then_2fa_setup_confirms_device_and_gives_backup_codes(circolo_secretary, clock):
    client = Client()
    response = _login(client, "segretario.centro")
    assert response.status_code == 302
    response = client.get(reverse("web:dashboard"))
    assert response["Location"].startswith(reverse("web:otp_setup"))
    page = client.get(response["Location"])
    assert b"<svg" in page.content
    device = TOTPDevice.objects.get(user=circolo_secretary, confirmed=False)
    response = client.post(reverse("web:otp_setup"), {"code": "123456" if _code(device) != "123456" else "654321"})
    assert "Il codice non corrisponde" in response.content.decode()
    response = client.post(reverse("web:otp_setup"), {"code": _code(device)})
    assert "bisogna attendere qualche secondo" in response.content.decode()  # throttled guess
    clock.tick(2.1)  # the suite's clock is frozen: move it rather than wait
    response = client.post(reverse("web:otp_setup"), {"code": _code(device)})
    assert response.status_code == 200
    device.refresh_from_db()
    assert device.confirmed
    assert StaticDevice.objects.get(user=circolo_secretary).token_set.count() == 10
    assert client.get(reverse("web:dashboard")).status_code == 200


def test_wrong_totp_code_is_refused_logged_and_backup_code_works_once(circolo_secretary, clock):
    TOTPDevice.objects.create(user=circolo_secretary, name="phone", confirmed=True)
    static = StaticDevice.objects.create(user=circolo_secretary, name="backup")
    static.token_set.create(token="backup01")
    client = Client()
    _login(client, "segretario.centro")
    response = client.post(reverse("web:otp_verify"), {"code": "000000"})
    assert "Codice non valido o scaduto" in response.content.decode()
    assert client.get(reverse("web:dashboard")).status_code == 302
    assert AuditEntry.objects.filter(action="auth.otp_failed", kind=AuditKind.DENIED).exists()
    clock.tick(1.1)  # django-otp throttles guessing after a wrong code
    response = client.post(reverse("web:otp_verify"), {"code": "backup01"})
    assert response.status_code == 302
    assert client.get(reverse("web:dashboard")).status_code == 200
    other = Client()
    _login(other, "segretario.centro")
    clock.tick(2.1)
    response = other.post(reverse("web:otp_verify"), {"code": "backup01"})
    assert "Codice non valido" in response.content.decode()  # a backup code works once
    assert other.get(reverse("web:dashboard")).status_code == 302


def test_repeated_wrong_passwords_lock_the_account_with_a_clear_message(circolo_secretary):
    client = Client()
    for _ in range(settings.LOGIN_FAILURE_LIMIT):
        response = _login(client, "segretario.centro", "wrong-password")
        assert response.status_code == 200
    response = _login(client, "segretario.centro")  # even the right password now waits
    assert response.status_code == 429
    assert "Troppi tentativi di accesso non riusciti" in response.content.decode()
    assert "_auth_user_id" not in client.session
    assert AuditEntry.objects.filter(action="auth.login_failed").count() == settings.LOGIN_FAILURE_LIMIT


def test_open_redirect_after_2fa_is_refused(circolo_secretary):
    TOTPDevice.objects.create(user=circolo_secretary, name="phone", confirmed=True)
    static = StaticDevice.objects.create(user=circolo_secretary, name="backup")
    static.token_set.create(token="backup02")
    client = Client()
    _login(client, "segretario.centro")
    response = client.post(reverse("web:otp_verify") + "?next=https://evil.example/", {"code": "backup02"})
    assert response["Location"] == reverse("web:dashboard")


def test_security_headers_and_content_security_policy(client):
    response = client.get(reverse("web:home"))
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    csp = response["Content-Security-Policy"]
    assert "script-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp


def test_session_cookie_is_http_only_and_expires():
    assert settings.SESSION_COOKIE_HTTPONLY
    assert settings.SESSION_EXPIRE_AT_BROWSER_CLOSE


def test_home_is_italian_by_default_and_english_on_request(client):
    assert '<html lang="it">' in client.get("/").content.decode()
    response = client.get("/", HTTP_ACCEPT_LANGUAGE="en")
    assert '<html lang="en">' in response.content.decode()


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"PIAZZA_ENV": "production", "SECRET_KEY": "", "ALLOWED_HOSTS": "piazza.example"}, "SECRET_KEY mancante"),
        ({"PIAZZA_ENV": "staging"}, "PIAZZA_ENV must be development, test or production"),
        ({"PIAZZA_ENV": "development", "PIAZZA_TASKS_BACKEND": "celery"}, "PIAZZA_TASKS_BACKEND must be one of"),
    ],
)
def test_bad_configuration_fails_fast_with_a_specific_message(env, expected, tmp_path):
    import os

    environment = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "PIAZZA_ENV"}}
    environment.update(env)
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import django, os; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'config.settings'); django.setup()",
        ],
        env=environment,
        capture_output=True,
        text=True,
        cwd=settings.BASE_DIR,
        timeout=60,
    )
    assert result.returncode != 0
    assert expected in result.stderr
