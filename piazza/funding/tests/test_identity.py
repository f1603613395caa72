"""Convention 16, issue 10 findings 1 and 3: a saved card is usable only by the browser that
saved it with "Ricorda la mia carta" ticked (a device token), never by whoever types the donor's
email into the donation form; the thank-you page promises one-click giving only when it set
that token."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from urllib.parse import urlparse

import pytest
from django.contrib.messages import get_messages
from django.core import mail
from django.test import Client
from django.urls import reverse
from freezegun import freeze_time

from piazza.funding.forms import sign_campaign
from piazza.funding.models import Donation, DonationStatus
from piazza.funding.tests.flows import codice_fiscale_for, donate_through_pages
from piazza.payments.devices import DEVICE_COOKIE
from piazza.payments.models import MethodDevice, SandboxCharge

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("check_ledger")]
PROMISE = "potrai donare in un clic da questo dispositivo"
OLD_COOKIE = "piazza_donatore"


def _one_click(client, campaign, amount="1000"):
    return client.post(
        reverse("funding:donate_one_click", args=[campaign.slug]),
        {"campaign_token": sign_campaign(campaign), "idempotency_key": uuid.uuid4().hex, "amount": amount},
    )


def _victim_with_a_saved_card(campaign):
    """Giulia gives €25 and ticks "Ricorda la mia carta" in her own browser."""
    victim = Client(HTTP_USER_AGENT="Mozilla/5.0 (X11; Linux x86_64) Gecko/20100101 Firefox/128.0")
    thanks = donate_through_pages(victim, campaign, remember_method="on")
    victim.get(thanks["Location"])
    assert MethodDevice.objects.count() == 1
    return victim


def test_a_stranger_with_the_victims_email_cannot_charge_the_saved_card(live_campaign):
    """The attack of finding 1, end to end: €2 with his own name and codice fiscale but the
    victim's email, then the thank-you page, the campaign page and a POST to dona-in-un-clic."""
    _victim_with_a_saved_card(live_campaign)
    charges = SandboxCharge.objects.count()
    first, last, code = codice_fiscale_for(7)
    attacker = Client()
    thanks = donate_through_pages(
        attacker,
        live_campaign,
        preset=None,
        custom_amount="2",
        first_name=first,
        last_name=last,
        codice_fiscale=code,
        email="giulia@example.org",
    )
    page = attacker.get(thanks["Location"])
    assert page.status_code == 200 and "Grazie" in page.content.decode()
    assert OLD_COOKIE not in page.cookies and DEVICE_COOKIE not in page.cookies
    assert PROMISE not in page.content.decode()
    campaign_page = attacker.get(live_campaign.get_absolute_url()).content.decode()
    assert "Bentornato" not in campaign_page and "4242" not in campaign_page

    response = _one_click(attacker, live_campaign)
    assert response.status_code == 302
    assert SandboxCharge.objects.count() == charges + 1  # the attacker's own €2 only
    assert not Donation.objects.filter(amount_cents=1000).exists()
    assert "carta ricordata" in " ".join(str(m) for m in get_messages(response.wsgi_request))


def test_a_stranger_who_ticks_remember_gets_only_his_own_card(live_campaign):
    """Same email, his own card saved: one click in his browser charges his card, never hers."""
    _victim_with_a_saved_card(live_campaign)
    first, last, code = codice_fiscale_for(8)
    attacker = Client()
    thanks = donate_through_pages(
        attacker,
        live_campaign,
        first_name=first,
        last_name=last,
        codice_fiscale=code,
        email="giulia@example.org",
        remember_method="on",
    )
    attacker.get(thanks["Location"])
    assert f"Bentornato/a, {first}!" in attacker.get(live_campaign.get_absolute_url()).content.decode()
    _one_click(attacker, live_campaign)
    gift = Donation.objects.get(amount_cents=1000)
    assert gift.first_name == first and gift.codice_fiscale == code
    victims, attackers = MethodDevice.objects.order_by("pk")
    assert victims.last_used_at is None and attackers.last_used_at is not None
    assert victims.method_id != attackers.method_id


def test_unticked_remember_sets_no_cookie_and_promises_nothing(live_campaign):
    """Finding 3: with "Ricorda la mia carta" unticked, no token, no cookie, no promise."""
    client = Client()
    thanks = donate_through_pages(client, live_campaign)
    page = client.get(thanks["Location"])
    assert Donation.objects.get().status == DonationStatus.SUCCEEDED
    assert PROMISE not in page.content.decode()
    assert OLD_COOKIE not in page.cookies and DEVICE_COOKIE not in page.cookies
    assert not MethodDevice.objects.exists()
    assert "Bentornato" not in client.get(live_campaign.get_absolute_url()).content.decode()


def test_a_card_saved_for_a_monthly_gift_is_no_one_click_promise(live_campaign):
    """Finding 3 as seen: a monthly gift saves the card (for its own schedule), then a one-off
    gift with the box unticked: neither thank-you page may promise one-click giving."""
    client = Client()
    monthly = client.get(donate_through_pages(client, live_campaign, frequency="monthly")["Location"])
    one_off = client.get(donate_through_pages(client, live_campaign)["Location"])
    for page in (monthly, one_off):
        assert PROMISE not in page.content.decode()
        assert OLD_COOKIE not in page.cookies and DEVICE_COOKIE not in page.cookies
    assert "Bentornato" not in client.get(live_campaign.get_absolute_url()).content.decode()


def test_the_donor_who_ticked_remember_gives_in_one_click_from_that_browser_only(live_campaign, settings):
    settings.SESSION_COOKIE_SECURE = True  # as in production
    donor = Client(HTTP_USER_AGENT="Mozilla/5.0 (X11; Linux x86_64) Gecko/20100101 Firefox/128.0")
    thanks = donate_through_pages(donor, live_campaign, remember_method="on")
    receipt_link = Client().get(thanks["Location"])  # the link of the receipt email, opened elsewhere first
    assert DEVICE_COOKIE not in receipt_link.cookies and PROMISE not in receipt_link.content.decode()
    page = donor.get(thanks["Location"])
    assert PROMISE in page.content.decode()
    cookie = page.cookies[DEVICE_COOKIE]
    assert cookie["httponly"] and cookie["samesite"] == "Lax" and cookie["secure"]
    device = MethodDevice.objects.get()
    assert device.token_hash != cookie.value and cookie.value not in device.token_hash
    assert device.label == "Firefox · Linux" and device.revoked_at is None
    again = donor.get(thanks["Location"])  # a reload issues nothing more
    assert DEVICE_COOKIE not in again.cookies and PROMISE not in again.content.decode()
    assert MethodDevice.objects.count() == 1

    assert "Bentornato/a, Giulia!" in donor.get(live_campaign.get_absolute_url()).content.decode()
    response = _one_click(donor, live_campaign)
    gift = Donation.objects.get(amount_cents=1000)
    assert response["Location"] == reverse("funding:donation", args=[gift.manage_token])
    assert gift.status == DonationStatus.SUCCEEDED and gift.email == "giulia@example.org"
    device.refresh_from_db()
    assert device.last_used_at is not None


def test_not_me_revokes_the_token_on_the_server(live_campaign):
    donor = _victim_with_a_saved_card(live_campaign)
    stolen = donor.cookies[DEVICE_COOKIE].value  # a copy of the cookie, taken before "Non sei tu?"
    donor.post(reverse("funding:forget_donor"), {"next": live_campaign.get_absolute_url()})
    assert MethodDevice.objects.get().revoked_at is not None
    assert "Bentornato" not in donor.get(live_campaign.get_absolute_url()).content.decode()
    thief = Client()
    thief.cookies[DEVICE_COOKIE] = stolen
    assert "Bentornato" not in thief.get(live_campaign.get_absolute_url()).content.decode()
    _one_click(thief, live_campaign)
    assert SandboxCharge.objects.count() == 1 and Donation.objects.count() == 1


# --- the alternative proof: a one-time link emailed to the address the card belongs to ---------


def _ask_device_link(client, campaign, email, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("payments:device_link_request"), {"email": email, "next": campaign.get_absolute_url()}
        )
    assert response.status_code == 302 and response["Location"] == campaign.get_absolute_url()
    return " ".join(str(m) for m in get_messages(response.wsgi_request))


def _device_link(to):
    sent = [m for m in mail.outbox if m.to == [to] and "nuovo dispositivo" in m.subject]
    assert sent, f"no device link emailed to {to}"
    found = re.search(r"http\S+/carta-salvata/accesso/\S+/", str(sent[-1].body))
    assert found
    return urlparse(found.group(0)).path


def test_the_donor_adds_a_new_browser_through_a_link_emailed_to_her(live_campaign, django_capture_on_commit_callbacks):
    _victim_with_a_saved_card(live_campaign)
    phone = Client(HTTP_USER_AGENT="Mozilla/5.0 (iPhone; CPU iPhone OS 17_0) Safari/604.1")
    assert "Dona in un clic anche da qui" in phone.get(live_campaign.get_absolute_url()).content.decode()
    answer = _ask_device_link(phone, live_campaign, "giulia@example.org", django_capture_on_commit_callbacks)
    assert "ti abbiamo scritto un link" in answer
    link = _device_link("giulia@example.org")
    assert phone.get(link).status_code == 200 and MethodDevice.objects.count() == 1  # scanners spend nothing
    opened = phone.post(link)
    assert opened.status_code == 302 and opened["Location"] == live_campaign.get_absolute_url()
    assert DEVICE_COOKIE in opened.cookies and opened.cookies[DEVICE_COOKIE]["httponly"]
    added = MethodDevice.objects.order_by("pk").last()
    assert added is not None and added.link_id and added.payment_id is None and added.label == "Safari · iPhone"
    assert "Bentornato/a, Giulia!" in phone.get(live_campaign.get_absolute_url()).content.decode()
    _one_click(phone, live_campaign)
    assert Donation.objects.filter(amount_cents=1000, status=DonationStatus.SUCCEEDED).exists()

    replay = Client().post(link)  # the same link again: spent
    assert replay.status_code == 403 and "già stato usato" in replay.content.decode()
    assert DEVICE_COOKIE not in replay.cookies and MethodDevice.objects.count() == 2


def test_a_stranger_asking_for_the_link_gets_the_same_answer_and_nothing_else(
    live_campaign, django_capture_on_commit_callbacks
):
    _victim_with_a_saved_card(live_campaign)
    monthly_only = Client()
    donate_through_pages(monthly_only, live_campaign, frequency="monthly", email="mensile@example.org")
    mail.outbox.clear()
    answers = {
        _ask_device_link(Client(), live_campaign, email, django_capture_on_commit_callbacks)
        for email in ("giulia@example.org", "nessuno@example.org", "mensile@example.org")
    }
    assert len(answers) == 1
    stranger = Client()
    _ask_device_link(stranger, live_campaign, "giulia@example.org", django_capture_on_commit_callbacks)
    assert [m.to for m in mail.outbox] == [["giulia@example.org"]] * 2  # to the owner, only a card she remembered
    assert DEVICE_COOKIE not in stranger.cookies
    assert "Bentornato" not in stranger.get(live_campaign.get_absolute_url()).content.decode()
    _one_click(stranger, live_campaign)
    assert not Donation.objects.filter(amount_cents=1000).exists()


def test_an_expired_device_link_is_refused_with_a_clear_message(live_campaign, django_capture_on_commit_callbacks):
    _victim_with_a_saved_card(live_campaign)
    phone = Client()
    with freeze_time("2026-03-10 10:00:00+01:00") as frozen:
        _ask_device_link(phone, live_campaign, "giulia@example.org", django_capture_on_commit_callbacks)
        frozen.tick(timedelta(minutes=31))
        response = phone.post(_device_link("giulia@example.org"))
    assert response.status_code == 403 and "scaduto" in response.content.decode()
    assert DEVICE_COOKIE not in response.cookies and MethodDevice.objects.count() == 1
