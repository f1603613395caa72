"""Issue 16, outgoing webhooks: a REAL local HTTP server in a thread receives the deliveries and
checks them with the receiver snippet of docs/api.md; the clock is driven explicitly (never sleep)."""

from __future__ import annotations

import datetime as dt
import json
import re
import socket
import threading
from collections.abc import Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from django.core import mail
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext, override_settings
from django.utils import timezone

from piazza.api.models import Permission
from piazza.api.webhooks import actions, addresses, delivery, tasks
from piazza.api.webhooks.emit import CACHE_KEY, note_none_active
from piazza.api.webhooks.models import DeliveryStatus, Event, WebhookDelivery, WebhookEvent, WebhookSubscription
from piazza.core.models import AuditEntry
from piazza.core.outbound import announce
from piazza.funding.actions.donations import donation_refunded
from piazza.funding.tests.conftest import build_live_campaign
from piazza.funding.tests.flows import give
from piazza.membership.actions.card import deliver_card
from piazza.membership.models import Delivery
from piazza.membership.tests.conftest import paid
from piazza.membership.tests.conftest import schedule as schedule  # the fee schedule fixture
from piazza.people.actions.person import create_person, update_person
from piazza.people.models import Person
from piazza.territory.models import Role, RoleAssignment
from piazza.territory.testing import make_official, verified_client

pytestmark = pytest.mark.django_db

DOCS = Path(__file__).resolve().parents[3] / "docs" / "api.md"
ALL_READ = [Permission.READ_PEOPLE, Permission.READ_DONATIONS, Permission.READ_MEMBERSHIPS]
# The events of people, donations and memberships (petitions and RSVPs have their own test).
CORE_EVENTS = [
    Event.PERSON_CREATED,
    Event.PERSON_UPDATED,
    Event.DONATION_SUCCEEDED,
    Event.DONATION_REFUNDED,
    Event.MEMBERSHIP_EFFECTIVE,
]


def docs_snippet() -> Any:
    """The exact receiver snippet of docs/api.md, run as a receiver would run it."""
    text = DOCS.read_text()
    code = re.search(r"<!-- webhook-receiver-snippet -->\n```python\n(.*?)```", text, re.S)
    assert code is not None, "docs/api.md lost its receiver snippet"
    namespace: dict[str, Any] = {}
    exec(compile(code.group(1), str(DOCS), "exec"), namespace)
    return namespace["verify_piazza_webhook"]


class Receiver:
    """A local HTTP server answering each POST with the next scripted status (then the last one)."""

    def __init__(self, statuses: list[int] | None = None) -> None:
        self.statuses = list(statuses or [200])
        self.received: list[tuple[dict[str, str], bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                receiver.received.append((dict(self.headers.items()), body))
                status = receiver.statuses.pop(0) if len(receiver.statuses) > 1 else receiver.statuses[0]
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def payloads(self) -> list[dict[str, Any]]:
        return [json.loads(body) for _headers, body in self.received]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()


# Names the tests resolve without a network (the machine has no DNS to the internet).
NAMES = {"crm.example.org": "93.184.215.14", "intranet.example.org": "10.0.0.5"}


@pytest.fixture(autouse=True)
def dns(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    real = socket.getaddrinfo
    names = dict(NAMES)  # a test may change where a name points: only for itself

    def resolve(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host in names:
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (names[host], 0))]
        return real(host, *args, **kwargs)

    monkeypatch.setattr(addresses.socket, "getaddrinfo", resolve)
    return names


@pytest.fixture
def owner(tree: Any) -> Any:
    return make_official(
        "webhook.centro",
        tree.bologna_centro,
        [Role.ORGANISATION, Role.MEMBERSHIP, Role.TREASURY],
        email="w@example.org",
    )


def subscribe(
    owner: Any, territory: Any, url: str, events: Sequence[str], permissions: Sequence[str]
) -> tuple[Any, str]:
    return actions.create_subscription(
        actor=owner, territory=territory, target_url=url, events=events, permissions=permissions
    )


def person_data(n: int, **extra: Any) -> dict[str, Any]:
    return {"first_name": "Anna", "last_name": f"Verdi{n}", "emails": [f"anna{n}@example.org"], **extra}


def run(capture: Any) -> None:
    """What the worker does after the commit, and what the periodic task does each minute."""
    with capture(execute=True):
        tasks.run_webhooks.call()


def test_each_event_reaches_the_receiver_once_in_order_and_signed(
    tree, schedule, owner, receiver, django_capture_on_commit_callbacks
):
    _subscription, secret = subscribe(owner, tree.bologna_centro, receiver.url, CORE_EVENTS, ALL_READ)
    with django_capture_on_commit_callbacks(execute=True):
        person = create_person(actor=owner, data=person_data(1), circolo=tree.bologna_centro)
    with django_capture_on_commit_callbacks(execute=True):
        update_person(actor=owner, person=person, data={"first_name": "Annalisa"})
    campaign = build_live_campaign(
        tree,
        make_official("tesoriere.wh", tree.bologna_centro, [Role.ORGANISATION, Role.TREASURY]),
        make_official("federazione.wh", tree.bologna, [Role.ORGANISATION, Role.TREASURY]),
    )
    with django_capture_on_commit_callbacks(execute=True):
        donation = give(campaign, 2500)
    with django_capture_on_commit_callbacks(execute=True):
        donation_refunded(donation.pk, reason="prova")
    membership = paid(tree)
    with django_capture_on_commit_callbacks(execute=True):
        deliver_card(actor=owner, membership=membership, delivery=Delivery.CIRCOLO)
    run(django_capture_on_commit_callbacks)

    verify = docs_snippet()
    now = timezone.now().timestamp()
    for headers, body in receiver.received:
        assert verify(headers, body, [secret], now=now)
        assert not verify(headers, body, ["whsec_wrong"], now=now)
        assert not verify(headers, body, [secret], now=now + 301)  # the 5-minute tolerance
    events = [(p["event"], p["data"]["identifiers"][0]) for p in receiver.payloads()]
    ids = [p["id"] for p in receiver.payloads()]
    assert len(ids) == len(set(ids)) == WebhookDelivery.objects.count()  # each once
    assert {e for e, _ident in events} == set(CORE_EVENTS)
    mine = [e for e, ident in events if ident == f"piazza:person-{person.pk}"]
    assert mine == ["person.created", "person.updated"]  # in order per object
    assert [e for e, ident in events if ident == f"piazza:donation-{donation.pk}"] == [
        "donation.succeeded",
        "donation.refunded",
    ]
    updated = next(p for p in receiver.payloads() if p["event"] == "person.updated")
    assert updated["data"]["given_name"] == "Annalisa"
    assert updated["data"]["_links"]["self"]["href"].startswith("http")
    assert set(updated) == {"event", "id", "created_date", "data"}
    assert all(d.status == DeliveryStatus.SUCCEEDED for d in WebhookDelivery.objects.all())
    run(django_capture_on_commit_callbacks)  # a later run sends nothing again
    assert len(receiver.received) == len(ids)


def test_a_delivery_waits_for_the_earlier_one_of_the_same_object(tree, owner, django_capture_on_commit_callbacks):
    server = Receiver([500, 200])
    try:
        subscribe(owner, tree.bologna_centro, server.url, [Event.PERSON_CREATED, Event.PERSON_UPDATED], ALL_READ)
        with django_capture_on_commit_callbacks(execute=True):
            person = create_person(actor=owner, data=person_data(2), circolo=tree.bologna_centro)
        with django_capture_on_commit_callbacks(execute=True):
            update_person(actor=owner, person=person, data={"first_name": "Bea"})
        assert [p["event"] for p in server.payloads()] == ["person.created"]  # failed; the update waits
        first, second = WebhookDelivery.objects.order_by("pk")
        assert delivery.send(second.pk) == "waiting"
        WebhookDelivery.objects.filter(pk=first.pk).update(next_attempt_at=timezone.now())
        run(django_capture_on_commit_callbacks)
        assert [p["event"] for p in server.payloads()] == ["person.created", "person.created", "person.updated"]
    finally:
        server.close()


def test_500_three_times_then_200_backs_off_as_designed(tree, owner, clock, django_capture_on_commit_callbacks):
    server = Receiver([500, 500, 500, 200])
    try:
        subscription, _secret = subscribe(owner, tree.bologna_centro, server.url, [Event.PERSON_CREATED], ALL_READ)
        start = timezone.now()
        with django_capture_on_commit_callbacks(execute=True):
            create_person(actor=owner, data=person_data(3), circolo=tree.bologna_centro)
        sent = WebhookDelivery.objects.get()
        for failures, minutes in ((1, 1), (2, 2), (3, 4)):
            sent.refresh_from_db()
            assert sent.attempts == failures and sent.status == DeliveryStatus.PENDING
            assert sent.next_attempt_at is not None
            wait = (sent.next_attempt_at - timezone.now()).total_seconds()
            assert minutes * 60 <= wait <= minutes * 60 * 1.1  # 1, 2, 4 minutes plus at most 10% jitter
            clock.move_to(sent.next_attempt_at - dt.timedelta(seconds=1))
            run(django_capture_on_commit_callbacks)  # not due yet: nothing sent
            assert len(server.received) == failures
            clock.move_to(sent.next_attempt_at)
            run(django_capture_on_commit_callbacks)
        sent.refresh_from_db()
        assert sent.status == DeliveryStatus.SUCCEEDED and sent.attempts == 4 and sent.last_status_code == 200
        assert [a.status_code for a in sent.attempt_log.all()] == [500, 500, 500, 200]
        assert len(server.received) == 4
        assert len({h["Piazza-Webhook-Id"] for h, _b in server.received}) == 1  # the same delivery each time
        assert timezone.now() - start < dt.timedelta(minutes=8)
        page = verified_client(owner).get(f"/api/chiavi/webhook/{subscription.pk}/")
        text = page.content.decode()
        assert page.status_code == 200
        assert "Persona n." in text and "Consegnata" in text and ">4<" in text
    finally:
        server.close()


def test_a_delivery_fails_after_a_day_of_retries(tree, owner, clock, django_capture_on_commit_callbacks):
    server = Receiver([503])
    try:
        subscribe(owner, tree.bologna_centro, server.url, [Event.PERSON_CREATED], ALL_READ)
        with django_capture_on_commit_callbacks(execute=True):
            create_person(actor=owner, data=person_data(4), circolo=tree.bologna_centro)
        sent = WebhookDelivery.objects.get()
        for _ in range(30):
            sent.refresh_from_db()
            if sent.status != DeliveryStatus.PENDING:
                break
            clock.move_to(sent.next_attempt_at)
            run(django_capture_on_commit_callbacks)
        assert sent.status == DeliveryStatus.FAILED
        last = sent.attempt_log.last()
        assert last is not None and last.at == sent.deadline_at  # a last try at the 24 hours
        assert sent.deadline_at - sent.created_at == dt.timedelta(hours=24)
        assert "errore" in sent.last_error and sent.last_status_code == 503
    finally:
        server.close()


def test_a_rolled_back_action_sends_nothing(tree, owner, receiver, django_capture_on_commit_callbacks):
    subscribe(owner, tree.bologna_centro, receiver.url, [Event.PERSON_CREATED], ALL_READ)
    with pytest.raises(RuntimeError), django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        create_person(actor=owner, data=person_data(5), circolo=tree.bologna_centro)
        raise RuntimeError("the action fails after the person was written")
    run(django_capture_on_commit_callbacks)
    assert WebhookEvent.objects.count() == 0 and receiver.received == []


def test_an_event_outside_the_territory_is_not_delivered(tree, owner, receiver, django_capture_on_commit_callbacks):
    subscribe(owner, tree.bologna_centro, receiver.url, [Event.PERSON_CREATED], ALL_READ)
    other = make_official("segretario.navile", tree.bologna_navile, [Role.ORGANISATION])
    with django_capture_on_commit_callbacks(execute=True):
        create_person(actor=other, data=person_data(6), circolo=tree.bologna_navile)
    run(django_capture_on_commit_callbacks)
    assert receiver.received == [] and WebhookDelivery.objects.count() == 0


def test_a_subscription_above_its_owners_role_sees_only_the_owners_part(
    tree, receiver, django_capture_on_commit_callbacks
):
    """Like a key: a federation-wide webhook of a circolo official gets nothing of another circolo."""
    federal = make_official("fed.wh", tree.bologna, [Role.ORGANISATION])
    subscription, _s = subscribe(federal, tree.bologna, receiver.url, [Event.PERSON_CREATED], [Permission.READ_PEOPLE])
    # the official's role moves down to one circolo: the webhook keeps its node but sees only that circolo
    RoleAssignment.objects.filter(user=federal).update(territory=tree.bologna_centro)
    with django_capture_on_commit_callbacks(execute=True):
        create_person(actor=federal, data=person_data(7), circolo=tree.bologna_centro)
        create_person(
            actor=make_official("n.wh", tree.bologna_navile), data=person_data(8), circolo=tree.bologna_navile
        )
    run(django_capture_on_commit_callbacks)
    names = [p["data"]["family_name"] for p in receiver.payloads()]
    assert names == ["Verdi7"]
    assert subscription.territory == tree.bologna


def test_without_people_read_a_person_is_only_a_link(tree, owner, receiver, django_capture_on_commit_callbacks):
    subscribe(owner, tree.bologna_centro, receiver.url, [Event.PERSON_CREATED], [])
    with django_capture_on_commit_callbacks(execute=True):
        person = create_person(actor=owner, data=person_data(9, phones=["3331234567"]), circolo=tree.bologna_centro)
    run(django_capture_on_commit_callbacks)
    ((_headers, body),) = receiver.received
    data = json.loads(body)["data"]
    assert data["identifiers"] == [f"piazza:person-{person.pk}"]
    assert set(data) == {"identifiers", "_links"}
    text = body.decode()
    assert "Verdi9" not in text and "anna9@example.org" not in text and "Anna" not in text and "333" not in text


def test_pause_after_n_failures_emails_the_owner_once_and_resume_and_redeliver_work(
    tree, owner, clock, django_capture_on_commit_callbacks
):
    server = Receiver([500])
    try:
        with override_settings(WEBHOOK_PAUSE_AFTER=3):
            subscription, _s = subscribe(owner, tree.bologna_centro, server.url, [Event.PERSON_CREATED], ALL_READ)
            with django_capture_on_commit_callbacks(execute=True):
                create_person(actor=owner, data=person_data(10), circolo=tree.bologna_centro)
            sent = WebhookDelivery.objects.get()
            for _ in range(5):
                sent.refresh_from_db()
                clock.move_to(sent.next_attempt_at)
                run(django_capture_on_commit_callbacks)
        subscription.refresh_from_db()
        assert subscription.paused_at is not None and subscription.paused_automatically
        assert len(server.received) == 3  # paused after the third failure: nothing more was sent
        assert len(mail.outbox) == 1
        message = mail.outbox[0]
        assert message.to == ["w@example.org"]
        assert "sospeso" in message.subject and "Riattiva" in message.body and server.url in message.body
        assert AuditEntry.objects.filter(action="api.webhook_paused").count() == 1

        client = verified_client(owner)
        page = client.get(f"/api/chiavi/webhook/{subscription.pk}/")
        assert "Sospeso automaticamente" in page.content.decode()
        server.statuses = [200]
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(f"/api/chiavi/webhook/{subscription.pk}/riattiva/")
        assert response.status_code == 302
        sent.refresh_from_db()
        assert sent.status == DeliveryStatus.SUCCEEDED and len(server.received) == 4
        assert AuditEntry.objects.filter(action="api.webhook_resumed").count() == 1

        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(f"/api/chiavi/webhook/{subscription.pk}/consegne/{sent.pk}/rinvia/")
        assert response.status_code == 302
        assert len(server.received) == 5
        again = WebhookDelivery.objects.get(redelivery_of=sent)
        assert again.status == DeliveryStatus.SUCCEEDED and again.uuid != sent.uuid
        assert json.loads(server.received[-1][1])["data"] == json.loads(sent.body)["data"]
        audit = AuditEntry.objects.get(action="api.redeliver_webhook")
        assert audit.actor == owner and audit.data["new_delivery"] == str(again.uuid)
        assert len(mail.outbox) == 1
    finally:
        server.close()


def test_rotation_signs_with_both_secrets_for_a_day_then_only_the_new(
    tree, owner, receiver, clock, django_capture_on_commit_callbacks
):
    verify = docs_snippet()
    subscription, old = subscribe(owner, tree.bologna_centro, receiver.url, [Event.PERSON_CREATED], ALL_READ)
    client = verified_client(owner)
    response = client.post(f"/api/chiavi/webhook/{subscription.pk}/nuovo-segreto/")
    new = response.context["secret"]
    assert new != old and new in response.content.decode()
    assert AuditEntry.objects.filter(action="api.rotate_webhook_secret").count() == 1
    with django_capture_on_commit_callbacks(execute=True):
        create_person(actor=owner, data=person_data(11), circolo=tree.bologna_centro)
    headers, body = receiver.received[-1]
    now = timezone.now().timestamp()
    assert headers["Piazza-Webhook-Signature"].count("v1=") == 2
    assert verify(headers, body, [old], now=now) and verify(headers, body, [new], now=now)
    clock.move_to(timezone.now() + dt.timedelta(hours=24, minutes=1))
    run(django_capture_on_commit_callbacks)  # forgets the previous secret
    with django_capture_on_commit_callbacks(execute=True):
        create_person(actor=owner, data=person_data(12), circolo=tree.bologna_centro)
    headers, body = receiver.received[-1]
    now = timezone.now().timestamp()
    assert headers["Piazza-Webhook-Signature"].count("v1=") == 1
    assert verify(headers, body, [new], now=now) and not verify(headers, body, [old], now=now)
    assert old not in client.get(f"/api/chiavi/webhook/{subscription.pk}/").content.decode()
    subscription.refresh_from_db()
    assert new not in subscription.secret_encrypted and old not in subscription.secret_encrypted


def test_no_subscription_costs_no_sql_statement(tree, owner, receiver):
    note_none_active()
    with CaptureQueriesContext(connection) as nothing:
        announce("person.created", object_id=1, territory_path=lambda: "impossible", person_id=None)
    assert len(nothing) == 0
    subscribe(owner, tree.bologna_centro, receiver.url, [Event.DONATION_SUCCEEDED], ALL_READ)
    announce("person.created", object_id=1, territory_path=lambda: tree.bologna_centro.path, person_id=None)
    with CaptureQueriesContext(connection) as other_event:  # the cache was reloaded once after the change
        announce("person.created", object_id=1, territory_path=lambda: tree.bologna_centro.path, person_id=None)
    assert len(other_event) == 0
    from django.core.cache import cache

    assert cache.get(CACHE_KEY) == [(Event.DONATION_SUCCEEDED.value, tree.bologna_centro.path)]


def test_an_erased_persons_pending_deliveries_are_purged(tree, owner, django_capture_on_commit_callbacks):
    from piazza.privacy.erasure import erase_person

    server = Receiver([500])
    try:
        subscribe(owner, tree.bologna_centro, server.url, [Event.PERSON_CREATED], ALL_READ)
        with django_capture_on_commit_callbacks(execute=True):
            person = create_person(actor=owner, data=person_data(13), circolo=tree.bologna_centro)
        assert WebhookDelivery.objects.filter(person=person, status=DeliveryStatus.PENDING).count() == 1
        erase_person(actor=None, person=Person.objects.get(pk=person.pk), reason="richiesta")
        assert WebhookDelivery.objects.count() == 0 and WebhookEvent.objects.count() == 0
    finally:
        server.close()


def test_retention_purges_old_deliveries(tree, owner, receiver, clock, django_capture_on_commit_callbacks):
    subscribe(owner, tree.bologna_centro, receiver.url, [Event.PERSON_CREATED], ALL_READ)
    with django_capture_on_commit_callbacks(execute=True):
        create_person(actor=owner, data=person_data(14), circolo=tree.bologna_centro)
    assert WebhookDelivery.objects.count() == 1
    with override_settings(WEBHOOK_DELIVERY_RETENTION_DAYS=30):
        clock.move_to(timezone.now() + dt.timedelta(days=29))
        run(django_capture_on_commit_callbacks)
        assert WebhookDelivery.objects.count() == 1
        clock.move_to(timezone.now() + dt.timedelta(days=2))
        run(django_capture_on_commit_callbacks)
    assert WebhookDelivery.objects.count() == 0 and WebhookEvent.objects.count() == 0


# --- back office -----------------------------------------------------------------------------------


def _form(client: Any, territory: Any, **over: Any) -> Any:
    data = {
        "target_url": "https://crm.example.org/hook",
        "territory": territory.pk,
        "events": [Event.PERSON_CREATED],
        "permissions": [Permission.READ_PEOPLE],
        **over,
    }
    return client.post("/api/chiavi/webhook/", data)


def test_an_official_creates_a_webhook_from_the_navigation_and_sees_the_secret_once(tree, owner):
    client = verified_client(owner)
    assert 'href="/api/chiavi/webhook/"' in client.get("/api/chiavi/").content.decode()  # next to the keys
    response = _form(client, tree.bologna_centro)
    assert response.status_code == 200
    secret = response.context["secret"]
    assert secret.startswith("whsec_") and secret in response.content.decode()
    subscription = WebhookSubscription.objects.get()
    assert secret not in subscription.secret_encrypted
    assert AuditEntry.objects.filter(action="api.create_webhook", object_id=str(subscription.pk)).exists()
    listing = client.get("/api/chiavi/webhook/").content.decode()
    assert "https://crm.example.org/hook" in listing and secret not in listing
    assert secret not in client.get(f"/api/chiavi/webhook/{subscription.pk}/").content.decode()


def test_the_navigation_links_the_webhooks(tree, owner):
    from piazza.web.sections import navigation

    assert any(name == "api:webhooks" for _label, name in navigation(owner))


@pytest.mark.parametrize(
    ("url", "allow_http", "message"),
    [
        ("non un indirizzo", True, "Scrivi un indirizzo completo che inizi con https://"),
        ("http://crm.example.org/hook", True, "http:// è ammesso solo verso questo computer"),
        ("http://127.0.0.1:9/hook", False, "L&#x27;indirizzo deve iniziare con https://"),
        ("ftp://crm.example.org/hook", True, "Scrivi un indirizzo completo"),
        ("https://intranet.example.org/hook", True, "porta a un indirizzo della rete interna (10.0.0.5)"),
        ("https://169.254.169.254/latest/meta-data", True, "porta a un indirizzo della rete interna"),
        ("https://[::1]:8000/hook", False, "porta a un indirizzo della rete interna"),
        ("https://nessuno.invalid/hook", True, "non corrisponde a nessun server"),
    ],
)
def test_bad_addresses_get_an_italian_error(tree, owner, url, allow_http, message):
    with override_settings(WEBHOOK_ALLOW_HTTP=allow_http):
        response = _form(verified_client(owner), tree.bologna_centro, target_url=url)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert WebhookSubscription.objects.count() == 0


def test_events_need_the_permission_that_reads_them(tree, owner):
    response = _form(verified_client(owner), tree.bologna_centro, events=[Event.DONATION_SUCCEEDED], permissions=[])
    assert response.status_code == 400
    assert "serve anche il permesso: Leggere le donazioni" in response.content.decode()
    assert WebhookSubscription.objects.count() == 0


def test_another_territorys_official_gets_404_and_sees_no_subscription(tree, owner, receiver):
    subscription, _s = subscribe(owner, tree.bologna_centro, receiver.url, [Event.PERSON_CREATED], ALL_READ)
    stranger = verified_client(make_official("navile.wh", tree.bologna_navile, [Role.ORGANISATION]))
    assert stranger.get(f"/api/chiavi/webhook/{subscription.pk}/").status_code == 404
    for action in ("nuovo-segreto", "sospendi", "riattiva", "elimina"):
        assert stranger.post(f"/api/chiavi/webhook/{subscription.pk}/{action}/").status_code == 404
    assert receiver.url not in stranger.get("/api/chiavi/webhook/").content.decode()
    assert WebhookSubscription.objects.filter(pk=subscription.pk, paused_at__isnull=True).exists()


def test_pause_and_delete_from_the_page_are_audited(tree, owner, receiver):
    subscription, _s = subscribe(owner, tree.bologna_centro, receiver.url, [Event.PERSON_CREATED], ALL_READ)
    client = verified_client(owner)
    assert client.post(f"/api/chiavi/webhook/{subscription.pk}/sospendi/").status_code == 302
    subscription.refresh_from_db()
    assert subscription.paused_at is not None and not subscription.paused_automatically
    assert client.post(f"/api/chiavi/webhook/{subscription.pk}/elimina/").status_code == 302
    assert not WebhookSubscription.objects.exists()
    actions_done = set(AuditEntry.objects.values_list("action", flat=True))
    assert {"api.create_webhook", "api.webhook_paused", "api.delete_webhook"} <= actions_done


def test_petition_signed_and_event_rsvp_reach_the_receiver(tree, receiver, clock, django_capture_on_commit_callbacks):
    from django.test import Client

    from piazza.events.actions import EventData, create_event, rsvp_to_event
    from piazza.people.actions.notices import ensure_default_notices
    from piazza.petitions.actions import create_petition
    from piazza.petitions.tests.flows import sign
    from piazza.territory.models import Comune

    ensure_default_notices()
    federation = make_official("org.bologna.wh", tree.bologna, [Role.ORGANISATION])
    both = [Event.PETITION_SIGNED, Event.EVENT_RSVP]
    _full, secret = subscribe(
        federation,
        tree.bologna,
        receiver.url,
        both,
        [Permission.READ_PETITIONS, Permission.READ_EVENTS, Permission.READ_PEOPLE],
    )
    bare_receiver = Receiver()
    try:
        bare = [Permission.READ_PETITIONS, Permission.READ_EVENTS]
        subscribe(federation, tree.bologna, bare_receiver.url, both, bare)
        petition = create_petition(
            actor=federation, territory=tree.bologna, title="Più piste ciclabili", text="Chiediamo…", target="Comune"
        )
        assert sign(Client(), petition, clock).status_code in (200, 302)
        event = create_event(
            actor=federation,
            territory=tree.bologna,
            data=EventData(
                title="Assemblea",
                description="Parliamone",
                starts_at=timezone.now() + dt.timedelta(days=2),
                ends_at=timezone.now() + dt.timedelta(days=2, hours=2),
                comune=Comune.objects.get(name="Bologna"),
                address="Via del Pratello 1",
                postal_code="40122",
                capacity=None,
            ),
        )
        with django_capture_on_commit_callbacks(execute=True):
            rsvp = rsvp_to_event(event=event, first_name="Carla", last_name="Neri", email="carla@example.org")
        run(django_capture_on_commit_callbacks)
        verify = docs_snippet()
        now = timezone.now().timestamp()
        assert all(verify(h, b, [secret], now=now) for h, b in receiver.received)
        payloads = {p["event"]: p["data"] for p in receiver.payloads()}
        assert set(payloads) == {"petition.signed", "event.rsvp"}
        assert payloads["event.rsvp"]["identifiers"] == [f"piazza:attendance-{rsvp.pk}"]
        assert payloads["event.rsvp"]["person"]["family_name"] == "Neri"
        assert payloads["petition.signed"]["person"]["email_addresses"]
        linked = {p["event"]: p["data"] for p in bare_receiver.payloads()}
        assert set(linked) == {"petition.signed", "event.rsvp"}
        assert all(data["person"] == {} for data in linked.values())
        assert b"carla@example.org" not in b"".join(body for _h, body in bare_receiver.received)
    finally:
        bare_receiver.close()


def test_a_persons_data_export_lists_the_deliveries_about_them(tree, owner, django_capture_on_commit_callbacks):
    from piazza.privacy.registry import collect

    server = Receiver([500])
    try:
        subscribe(owner, tree.bologna_centro, server.url, [Event.PERSON_CREATED], ALL_READ)
        with django_capture_on_commit_callbacks(execute=True):
            person = create_person(actor=owner, data=person_data(15), circolo=tree.bologna_centro)
        exported = collect(person)["api"]
        (row,) = exported["api.webhookdelivery"]
        assert "anna15@example.org" in row["body"]
        assert len(exported["api.webhookevent"]) == 1
    finally:
        server.close()


def test_a_name_that_turns_internal_is_not_delivered_to(tree, owner, dns, django_capture_on_commit_callbacks):
    """Server-side request forgery: the name is checked again before every delivery, so a receiver
    whose name later resolves inside the party's network gets nothing, and the log says why."""
    subscribe(owner, tree.bologna_centro, "https://crm.example.org/hook", [Event.PERSON_CREATED], ALL_READ)
    dns["crm.example.org"] = "127.0.0.1"
    with django_capture_on_commit_callbacks(execute=True):
        create_person(actor=owner, data=person_data(7), circolo=tree.bologna_centro)
    run(django_capture_on_commit_callbacks)
    sent = WebhookDelivery.objects.get()
    assert sent.status != DeliveryStatus.SUCCEEDED and sent.attempts == 1
    assert "rete interna (127.0.0.1)" in sent.last_error and sent.last_status_code is None
    with override_settings(WEBHOOK_ALLOW_PRIVATE_NETWORKS=True):
        assert addresses.address_problem("crm.example.org") is None


def test_a_delivery_connects_to_the_address_it_checked(tree, owner, monkeypatch, django_capture_on_commit_callbacks):
    """DNS rebinding gains nothing: the name is resolved once per delivery, checked, and the request
    goes to that address, the name kept in the Host header and for TLS (SNI and the certificate)."""
    import httpx

    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(204)

    monkeypatch.setattr(delivery, "_client", httpx.Client(transport=httpx.MockTransport(answer)))
    subscribe(owner, tree.bologna_centro, "https://crm.example.org:8443/hook", [Event.PERSON_CREATED], ALL_READ)
    with django_capture_on_commit_callbacks(execute=True):
        create_person(actor=owner, data=person_data(8), circolo=tree.bologna_centro)
    run(django_capture_on_commit_callbacks)
    (request,) = seen
    assert str(request.url) == "https://93.184.215.14:8443/hook"
    assert request.headers["Host"] == "crm.example.org:8443"
    assert request.extensions["sni_hostname"] == "crm.example.org"
    assert WebhookDelivery.objects.get().status == DeliveryStatus.SUCCEEDED
