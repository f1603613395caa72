"""Convention 16, issue 10 finding 2: the payer page (gifts, schedules with "Annulla", receipts)
opens only through a one-time, short-lived link emailed to the address — never for whoever
typed the address into a form, and never from a link derived from the address alone."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from urllib.parse import urlparse

import pytest
from django.core import mail, signing
from django.test import Client
from django.urls import reverse
from freezegun import freeze_time

from piazza.core.models import AuditEntry
from piazza.core.money import Money
from piazza.payments.actions import lifecycle as lifecycle_actions
from piazza.payments.actions import recurring as recurring_actions
from piazza.payments.models import PayerAccessLink, RecurringSchedule, ScheduleState

pytestmark = pytest.mark.usefixtures("check_ledger")
OK = "4242424242424242"
SAME_ANSWER = "Se a questo indirizzo corrispondono pagamenti, ti abbiamo scritto un link"
NOW = "2026-03-10 10:00:00+01:00"


@pytest.fixture
def victims_gift(tree, split_accounts, handler):
    """Marta's monthly gift, paid with her card: what a stranger must not see or cancel."""
    schedule, first = recurring_actions.create_recurring(
        actor=None,
        amount=Money(1900),
        allocations=[(split_accounts[0], Money(1500)), (split_accounts[1], Money(400))],
        provider="sandbox",
        description="Donazione mensile",
        creation_key="rec:marta",
        payable=tree.bologna_centro,
        payer_name="Marta Bianchi",
        payer_email="marta@example.org",
        territory=tree.bologna_centro,
    )
    lifecycle_actions.pay(actor=None, payment=first, client_key="first-marta", data={"card_number": OK}, return_url="/")
    schedule.refresh_from_db()
    assert schedule.state == ScheduleState.ACTIVE
    return schedule


def _attackers_payment(tree, split_accounts, email):
    payment = lifecycle_actions.create_payment(
        actor=None,
        amount=Money(200),
        allocations=[(split_accounts[0], Money(200))],
        provider="sandbox",
        description="Contributo",
        creation_key=f"attacker:{email}",
        payable=tree.bologna_centro,
        payer_name="Mario Intruso",
        payer_email=email,
        territory=tree.bologna_centro,
    )
    lifecycle_actions.pay(
        actor=None, payment=payment, client_key=f"attacker-{email}", data={"card_number": OK}, return_url="/"
    )
    payment.refresh_from_db()
    assert payment.is_booked
    return payment


def _ask_link(client, email, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        return client.post(reverse("payments:payer_page"), {"email": email})


def _emailed_link(to):
    sent = [m for m in mail.outbox if m.to == [to] and "link ai tuoi pagamenti" in m.subject]
    assert sent, f"no link emailed to {to}"
    found = re.search(r"http\S+/i-miei-pagamenti/accesso/\S+/", str(sent[-1].body))
    assert found
    return urlparse(found.group(0)).path


def test_attackers_result_page_shows_no_payer_link_and_the_form_reveals_nothing(
    tree, split_accounts, victims_gift, django_capture_on_commit_callbacks
):
    """The attack: pay €2 with the victim's email, then follow the result page's payer link."""
    attacker = Client()
    payment = _attackers_payment(tree, split_accounts, "marta@example.org")
    done = attacker.get(reverse("payments:done", args=[payment.token])).content.decode()
    assert "i-miei-pagamenti/" in done  # the form posts there…
    assert not re.search(r"i-miei-pagamenti/[^\"/]+/", done)  # …but no link opens anybody's page
    assert "Ricevi via email il link ai tuoi pagamenti" in done

    mail.outbox.clear()
    answer = _ask_link(attacker, "marta@example.org", django_capture_on_commit_callbacks)
    nobody = _ask_link(attacker, "nessuno@example.org", django_capture_on_commit_callbacks)
    assert answer.status_code == nobody.status_code == 200
    assert SAME_ANSWER in answer.content.decode() and SAME_ANSWER in nobody.content.decode()
    assert [m.to for m in mail.outbox] == [["marta@example.org"]]  # the link went to Marta only
    page = attacker.get(reverse("payments:payer_page")).content.decode()
    assert "Donazione mensile" not in page and "Annulla" not in page and "19,00" not in page
    victims_gift.refresh_from_db()
    assert victims_gift.state == ScheduleState.ACTIVE


def test_the_old_link_made_from_the_address_alone_is_refused(victims_gift):
    """Links of the old design (a signed email) are refused, with the way forward."""
    old = signing.dumps("marta@example.org", salt="piazza.payments.payer-page", compress=True)
    response = Client().get(f"/pagamenti/i-miei-pagamenti/{old}/")
    body = response.content.decode()
    assert response.status_code == 403
    assert "Donazione mensile" not in body and "marta@example.org" not in body
    assert "Ricevi via email il link ai tuoi pagamenti" in body
    assert Client().post(f"/pagamenti/i-miei-pagamenti/{old}/riprendi/{victims_gift.token}/").status_code == 404


def test_the_emailed_link_opens_the_payer_page_once_and_only_once(victims_gift, django_capture_on_commit_callbacks):
    owner = Client()
    _ask_link(owner, "Marta@Example.org", django_capture_on_commit_callbacks)
    link = _emailed_link("marta@example.org")
    assert PayerAccessLink.objects.get().token_hash not in link  # only the hash is stored
    landing = owner.get(link)  # a mail scanner pre-opening the link spends nothing
    assert landing.status_code == 200 and "Apri i miei pagamenti" in landing.content.decode()
    opened = owner.post(link, follow=True)
    body = opened.content.decode()
    assert "Donazione mensile" in body and "19,00" in body and "Annulla" in body
    assert AuditEntry.objects.filter(action="payments.payer_page").exists()

    again = Client().post(link)  # the same link, a second time (another browser, or a thief)
    assert again.status_code == 403 and "già stato usato" in again.content.decode()
    assert "Donazione mensile" not in Client().get(reverse("payments:payer_page")).content.decode()

    # cancelling from the page still works: its "Annulla" is the schedule's cancel link
    cancel = re.search(r'href="(/pagamenti/ricorrenti/annulla/[^"]+)"', body)
    assert cancel
    owner.post(cancel.group(1))
    victims_gift.refresh_from_db()
    assert victims_gift.state == ScheduleState.CANCELED


def test_an_expired_link_is_refused_with_a_clear_message(victims_gift, django_capture_on_commit_callbacks):
    client = Client()
    with freeze_time(NOW):
        _ask_link(client, "marta@example.org", django_capture_on_commit_callbacks)
    link = _emailed_link("marta@example.org")
    with freeze_time(datetime.fromisoformat(NOW) + timedelta(minutes=31)):
        response = client.post(link)
    body = response.content.decode()
    assert response.status_code == 403
    assert "scaduto" in body and "chiedine uno nuovo" in body and "Donazione mensile" not in body
    assert PayerAccessLink.objects.get().used_at is None


def test_the_access_ends_with_the_session(victims_gift, django_capture_on_commit_callbacks):
    client = Client()
    with freeze_time(NOW) as frozen:
        _ask_link(client, "marta@example.org", django_capture_on_commit_callbacks)
        client.post(_emailed_link("marta@example.org"))
        assert "Donazione mensile" in client.get(reverse("payments:payer_page")).content.decode()
        frozen.tick(timedelta(hours=1, seconds=1))
        assert "Donazione mensile" not in client.get(reverse("payments:payer_page")).content.decode()


def test_asking_for_links_is_throttled_without_saying_so(victims_gift, django_capture_on_commit_callbacks):
    client = Client()
    for _ in range(5):
        response = _ask_link(client, "marta@example.org", django_capture_on_commit_callbacks)
        assert SAME_ANSWER in response.content.decode()
    assert len([m for m in mail.outbox if m.to == ["marta@example.org"]]) == 3


def test_a_bad_address_gets_a_clear_message(victims_gift):
    response = Client().post(reverse("payments:payer_page"), {"email": "non-una-email"})
    assert response.status_code == 400 and "email" in response.content.decode().lower()
    assert not PayerAccessLink.objects.exists()


def test_the_cancel_page_links_to_the_door_not_to_the_payers_page(victims_gift):
    from piazza.payments import links

    url = urlparse(links.cancel_schedule_url(victims_gift.token)).path
    body = Client().get(url).content.decode()
    assert 'href="/pagamenti/i-miei-pagamenti/"' in body
    assert RecurringSchedule.objects.get(pk=victims_gift.pk).state == ScheduleState.ACTIVE
