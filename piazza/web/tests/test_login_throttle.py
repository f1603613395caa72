"""Finding 12 (issue 10): login throttling that a stranger can neither dodge nor turn against an official.

Failures count per (username, client) pair with growing delays, and per client across
usernames; forged X-Forwarded-For headers change neither. Time is frozen.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse
from freezegun import freeze_time

from piazza.core.models import AuditEntry

pytestmark = pytest.mark.django_db

START = dt.datetime(2026, 3, 10, 9, 0, tzinfo=dt.UTC)
OFFICIAL_IP = "198.51.100.7"
ATTACKER_IP = "203.0.113.66"


def _login(client, username, password="correct-horse-battery", ip=ATTACKER_IP, forwarded=None):
    extra = {"REMOTE_ADDR": ip}
    if forwarded:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded
    return client.post(reverse("web:login"), {"username": username, "password": password}, **extra)


def test_forged_forwarded_for_is_not_written_to_the_audit_log(circolo_secretary):
    with freeze_time(START):
        _login(Client(), "segretario.centro", "wrong", forwarded="6.6.6.6")
    entry = AuditEntry.objects.get(action="auth.login_failed")
    assert entry.ip == ATTACKER_IP


def test_a_stranger_cannot_lock_the_official_out(circolo_secretary):
    attacker = Client()
    with freeze_time(START) as frozen:
        for _ in range(3 * settings.LOGIN_FAILURE_LIMIT):
            _login(attacker, "segretario.centro", "wrong")
            frozen.tick(1)
        assert _login(attacker, "segretario.centro", "wrong").status_code == 429
        official = Client()
        response = _login(official, "segretario.centro", ip=OFFICIAL_IP)
        assert response.status_code == 302
        assert "_auth_user_id" in official.session


def test_one_client_trying_thirty_usernames_is_stopped_whatever_its_headers_say(db):
    attacker = Client()
    answered = []
    with freeze_time(START) as frozen:
        for n in range(30):
            response = _login(attacker, f"funzionario{n}", "Password1!", forwarded=f"10.9.{n}.{n}")
            answered.append(response.status_code)
            frozen.tick(2)
    assert answered.count(200) == settings.LOGIN_CLIENT_FAILURE_LIMIT
    assert answered[settings.LOGIN_CLIENT_FAILURE_LIMIT :] == [429] * (30 - settings.LOGIN_CLIENT_FAILURE_LIMIT)
    assert "Troppi tentativi di accesso non riusciti" in response.content.decode()


def test_delays_grow_after_each_further_failure_and_the_right_password_then_works(circolo_secretary):
    client = Client()
    base = settings.LOGIN_BACKOFF_BASE_SECONDS
    with freeze_time(START) as frozen:
        for _ in range(settings.LOGIN_FAILURE_LIMIT):
            assert _login(client, "segretario.centro", "wrong").status_code == 200
        waits = []
        for _ in range(3):
            waited = 0
            while _login(client, "segretario.centro", "wrong").status_code == 429:
                frozen.tick(1)
                waited += 1
            waits.append(waited)
        assert waits == [base, 2 * base, 4 * base]
        assert _login(client, "segretario.centro").status_code == 429  # still waiting
        frozen.tick(8 * base)
        assert _login(client, "segretario.centro").status_code == 302


def test_delays_stop_growing_at_the_cap(circolo_secretary):
    client = Client()
    cap = settings.LOGIN_LOCKOUT_SECONDS
    with freeze_time(START) as frozen:
        for _ in range(40):  # each attempt comes once the previous delay is over, so all count
            assert _login(client, "segretario.centro", "wrong").status_code == 200
            frozen.tick(cap)
        frozen.tick(-cap)  # back to the moment of the 40th failure
        assert _login(client, "segretario.centro").status_code == 429
        frozen.tick(cap - 1)
        assert _login(client, "segretario.centro").status_code == 429
        frozen.tick(1)
        assert _login(client, "segretario.centro").status_code == 302
