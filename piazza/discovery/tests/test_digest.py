"""The followers' digest (issue 17): what followed territories and candidates launched last period,
within consents (G2, G3) and the daily limit, once per period, with a working stop link."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any
from urllib.parse import urlparse

import pytest
from django.conf import settings
from django.core import mail
from django.test import Client
from django.utils import timezone

from piazza.community import actions as community_actions
from piazza.community.models import DigestSent, DigestStop
from piazza.compliance.models import Candidacy
from piazza.core.periodic import enqueue_due
from piazza.discovery import digest
from piazza.discovery.tasks import send_digests
from piazza.discovery.tests.helpers import campaign, event, petition
from piazza.outreach.tests.conftest import make_person

pytestmark = pytest.mark.django_db


def last_week() -> dt.datetime:
    """Frozen clock: Wed 10 June 2026; this period began Mon 8 June, the last one on 1 June."""
    return timezone.now() - dt.timedelta(days=5)


@pytest.fixture
def follower(tree: Any) -> Any:
    person = make_person(tree.bologna_centro, "Lucia", "lucia@example.org", consent=True)
    community_actions.follow(person=person, territory=tree.bologna_centro)
    return person


def _digests_to(address: str) -> list[Any]:
    return [m for m in mail.outbox if m.to == [address]]


def test_period_start_is_weekly_by_default_and_a_parameter(settings: Any) -> None:
    assert digest.period_start(dt.date(2026, 6, 10)) == dt.date(2026, 6, 8)  # a Monday
    assert digest.period_start(dt.date(2026, 6, 14)) == dt.date(2026, 6, 8)
    assert digest.period_start(dt.date(2026, 6, 15)) == dt.date(2026, 6, 15)
    settings.COMMUNITY_DIGEST_DAYS = 1
    assert digest.period_start(dt.date(2026, 6, 10)) == dt.date(2026, 6, 10)


def test_the_periodic_task_is_registered_and_sends_the_digest_once_per_period(tree: Any, follower: Any) -> None:
    assert "piazza.discovery.tasks.send_digests" in settings.PERIODIC_TASKS
    campaign(tree.bologna_centro, "Tetto nuovo", launched=last_week())
    event(tree.bologna_centro, "Assemblea di giugno", created=last_week(), days=10)
    petition(tree.bologna, "Più autobus la sera", created=last_week())  # the federation is above: not followed
    campaign(tree.modena_nord, "Altrove", launched=last_week())
    campaign(tree.bologna_centro, "Già vista", launched=last_week() - dt.timedelta(days=7))  # the period before
    mail.outbox.clear()
    send_digests.enqueue()
    sent = _digests_to("lucia@example.org")
    assert len(sent) == 1
    body = sent[0].body
    assert "Tetto nuovo" in body and "Assemblea di giugno" in body
    assert "Più autobus" not in body and "Altrove" not in body and "Già vista" not in body
    assert "/il-mio-spazio/riepilogo/stop/" in body and sent[0].extra_headers["List-Unsubscribe"]
    assert DigestSent.objects.get(person=follower).items == 2
    send_digests.enqueue()  # the scheduler runs it hourly: nothing more this period
    assert digest.send_digests() == 0
    assert len(_digests_to("lucia@example.org")) == 1


def test_a_federation_follower_gets_what_its_circoli_launched(tree: Any) -> None:
    person = make_person(tree.bologna, "Marco", "marco@example.org", consent=True)
    community_actions.follow(person=person, territory=tree.bologna)
    petition(tree.bologna_navile, "Salviamo il parco", created=last_week())
    mail.outbox.clear()
    assert digest.send_digests() == 1
    assert "Salviamo il parco" in _digests_to("marco@example.org")[0].body


def test_no_digest_when_nothing_is_new(tree: Any, follower: Any) -> None:
    mail.outbox.clear()
    assert digest.send_digests() == 0
    assert not mail.outbox and not DigestSent.objects.exists()


def test_consents_decide_who_receives_it(tree: Any) -> None:
    """G2: neither consent nor membership → nothing; G3: a withdrawal wins even for a member."""
    stranger = make_person(tree.bologna_centro, "Ugo", "ugo@example.org")
    withdrawn = make_person(tree.bologna_centro, "Ada", "ada@example.org", member=True, consent=False)
    for person in (stranger, withdrawn):
        community_actions.follow(person=person, territory=tree.bologna_centro)
    campaign(tree.bologna_centro, "Tetto nuovo", launched=last_week())
    mail.outbox.clear()
    assert digest.send_digests() == 0
    assert not mail.outbox


def test_the_shared_daily_limit_holds_it_back(tree: Any, follower: Any, monkeypatch: Any) -> None:
    campaign(tree.bologna_centro, "Tetto nuovo", launched=last_week())
    monkeypatch.setattr(settings, "OUTREACH_MAX_PER_DAY", 0)  # as if today's broadcast had used the day
    assert digest.send_digests() == 0
    monkeypatch.setattr(settings, "OUTREACH_MAX_PER_DAY", 1)
    assert digest.send_digests() == 1


def test_the_shared_weekly_limit_holds_it_back_too(tree: Any, follower: Any, monkeypatch: Any) -> None:
    """One statement of the outreach rules (outreach.queries.classify): the weekly limit applies too."""
    campaign(tree.bologna_centro, "Tetto nuovo", launched=last_week())
    monkeypatch.setattr(settings, "OUTREACH_MAX_PER_WEEK", 0)
    assert digest.send_digests() == 0
    monkeypatch.setattr(settings, "OUTREACH_MAX_PER_WEEK", 3)
    assert digest.send_digests() == 1


def test_the_stop_link_stops_it_after_a_button_press(tree: Any, follower: Any) -> None:
    campaign(tree.bologna_centro, "Tetto nuovo", launched=last_week())
    mail.outbox.clear()
    digest.send_digests()
    link = re.search(r"http\S+/riepilogo/stop/\S+/", _digests_to("lucia@example.org")[0].body)
    assert link
    path = urlparse(link.group(0)).path
    client = Client()
    assert "Non mandarmi più il riepilogo" in client.get(path).content.decode()
    assert not DigestStop.objects.exists()  # a mail scanner opening the link changes nothing
    assert "Fatto" in client.post(path).content.decode()
    assert DigestStop.objects.filter(person=follower).exists()
    bad = client.get(path[:-3] + "xx/")
    assert bad.status_code == 404 and "Questo link non è valido" in bad.content.decode()
    DigestSent.objects.all().delete()
    mail.outbox.clear()
    assert digest.send_digests() == 0


def test_a_candidate_follower_gets_the_candidates_new_campaign(tree: Any) -> None:
    candidacy = Candidacy.objects.create(
        territory=tree.bologna, candidate_name="Elena Bianchi", election="Comunali di Bologna", constituency="Bologna"
    )
    person = make_person(tree.modena_nord, "Pia", "pia@example.org", consent=True)
    community_actions.follow(person=person, candidacy=candidacy)
    campaign(tree.bologna, "Elena sindaca", kind="candidate", candidacy=candidacy, launched=last_week())
    mail.outbox.clear()
    assert digest.send_digests() == 1
    assert "Elena sindaca" in _digests_to("pia@example.org")[0].body


def test_scheduler_enqueues_it(tree: Any, follower: Any) -> None:
    campaign(tree.bologna_centro, "Tetto nuovo", launched=last_week())
    mail.outbox.clear()
    assert "piazza.discovery.tasks.send_digests" in enqueue_due()
    # the task ran inline once the scheduler's transaction committed (tests run tasks immediately)
    assert DigestSent.objects.filter(person=follower).exists() or digest.send_digests() == 1
