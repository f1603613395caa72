"""Broadcasts on the sending path, into a real local SMTP server (aiosmtpd): rules G2 and G3,
frequency limits, RFC 8058 one-click unsubscribe, bounces, scope."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.test import Client
from django.urls import reverse

from piazza.outreach import tasks
from piazza.outreach.actions import broadcasts as actions
from piazza.outreach.actions import delivery as delivery_actions
from piazza.outreach.models import Broadcast, BroadcastStatus, Delivery, DeliveryStatus, Suppression, SuppressionReason
from piazza.outreach.queries import audience_count
from piazza.outreach.render import unsubscribe_token
from piazza.outreach.tests.conftest import make_person
from piazza.people.models import Segment
from piazza.territory.models import Role
from piazza.territory.testing import make_official, verified_client

pytestmark = pytest.mark.django_db

BODY = "Ciao {{ nome }},\n\nil circolo **{{ circolo }}** ti aspetta. Hai donato {{ totale_donato }}."


def write(officer, tree, segment, **extra) -> Broadcast:
    return actions.save_broadcast(
        actor=officer, territory=tree.bologna, segment=segment, subject="Ciao {{ nome }}", body=BODY, **extra
    )


def send_now(officer, broadcast, capture) -> Broadcast:
    with capture(execute=True):
        actions.schedule_broadcast(actor=officer, broadcast=broadcast)
    broadcast.refresh_from_db()
    return broadcast


@pytest.fixture
def audience(tree):
    c = tree.bologna_centro
    return {
        "member": make_person(c, "Iscritta", "iscritta@example.org", member=True),
        "consenting": make_person(c, "Consenziente", "consenziente@example.org", consent=True),
        "stranger": make_person(c, "Estraneo", "estraneo@example.org"),
        "withdrawn_member": make_person(c, "Revocata", "revocata@example.org", member=True, consent=False),
        "no_email": make_person(c, "Senzaemail", None, member=True),
        "unsubscribed": make_person(c, "Disiscritto", "disiscritto@example.org", member=True),
        "bounced": make_person(c, "Rimbalzo", "rimbalzo@example.org", member=True),
        "elsewhere": make_person(tree.modena_nord, "Modenese", "modenese@example.org", member=True),
    }


def test_g2_g3_who_receives_and_why_not(tree, officer, segment, audience):
    Suppression.objects.create(reason=SuppressionReason.UNSUBSCRIBE, person=audience["unsubscribed"])
    Suppression.objects.create(reason=SuppressionReason.HARD_BOUNCE, email="rimbalzo@example.org")
    broadcast = write(officer, tree, segment)
    count = audience_count(broadcast)
    # Rule G2: the member without any consent receives; rule G3: the consenting contact receives.
    assert count.eligible == 2
    reasons = {code: n for code, _words, n in count.exclusions}
    assert reasons == {"no_email": 1, "hard_bounce": 1, "unsubscribed": 1, "withdrawn": 1, "no_consent": 1}
    words = " ".join(str(w) for _c, w, _n in count.exclusions)
    assert "revocato il consenso" in words and "non hanno dato il consenso" in words
    assert "no_consent" not in words  # users read words, never codes


def test_sending_path_g2_g3_into_the_smtp_server(
    tree, officer, segment, audience, smtp, django_capture_on_commit_callbacks
):
    Suppression.objects.create(reason=SuppressionReason.UNSUBSCRIBE, person=audience["unsubscribed"])
    broadcast = send_now(officer, write(officer, tree, segment), django_capture_on_commit_callbacks)
    delivered = sorted(r for a in smtp.arrived for r in a.recipients)
    # G2: member without consent receives; G3: consenting non-member receives; nobody else.
    assert delivered == ["consenziente@example.org", "iscritta@example.org", "rimbalzo@example.org"]
    assert not smtp.to("estraneo@example.org")  # non-member without consent (G2)
    assert not smtp.to("revocata@example.org")  # member who withdrew (G3)
    assert not smtp.to("disiscritto@example.org")  # unsubscribed: never
    assert not smtp.to("modenese@example.org")  # outside the sending federation
    message = smtp.to("iscritta@example.org")[0].message
    assert message["Subject"] == "Ciao Iscritta"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert re.fullmatch(r"<https?://[^>]+/comunicazioni/u/[^/>]+/>", message["List-Unsubscribe"].strip())
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert "Ciao Iscritta" in text and "Bologna Centro" in text and "0,00 €" in text
    assert "<strong>Circolo PD Bologna Centro</strong>" in html and "{{" not in html
    assert broadcast.audience_summary["eligible"] == 3
    assert Delivery.objects.filter(broadcast=broadcast, status=DeliveryStatus.SENT).count() == 3
    tasks.dispatch_due.call()
    broadcast.refresh_from_db()
    assert broadcast.status == BroadcastStatus.SENT


def test_a_chunk_sent_twice_sends_once(tree, officer, segment, audience, smtp, django_capture_on_commit_callbacks):
    broadcast = send_now(officer, write(officer, tree, segment), django_capture_on_commit_callbacks)
    first = len(smtp.arrived)
    people = list(Delivery.objects.filter(broadcast=broadcast).values_list("person_id", flat=True))
    from piazza.outreach.sending import send_chunk

    assert send_chunk.call(broadcast.pk, people) == 0
    delivery_actions.queue_deliveries(broadcast)  # queueing again creates no second row per person
    assert len(smtp.arrived) == first
    assert Delivery.objects.filter(broadcast=broadcast).count() == first


def test_frequency_limit_across_territories(tree, officer, segment, smtp, django_capture_on_commit_callbacks):
    person = make_person(tree.bologna_centro, "Frequente", "frequente@example.org", member=True)
    national = make_official("comunicazione.naz", tree.national, [Role.COMMUNICATION])
    national_segment = Segment.objects.create(name="Tutti", territory=tree.national, definition={})
    first = actions.save_broadcast(
        actor=national, territory=tree.national, segment=national_segment, subject="Uno", body="Uno"
    )
    send_now(national, first, django_capture_on_commit_callbacks)
    assert smtp.to("frequente@example.org")
    second = write(officer, tree, segment)
    count = audience_count(second)
    assert {c: n for c, _w, n in count.exclusions} == {"frequency": 1}
    send_now(officer, second, django_capture_on_commit_callbacks)
    assert len(smtp.to("frequente@example.org")) == 1
    assert not Delivery.objects.filter(broadcast=second, person=person).exists()


def test_one_click_unsubscribe_rfc8058(tree, officer, segment, audience, smtp, django_capture_on_commit_callbacks):
    broadcast = send_now(officer, write(officer, tree, segment), django_capture_on_commit_callbacks)
    member = audience["member"]
    url = smtp.to("iscritta@example.org")[0].message["List-Unsubscribe"].strip().strip("<>")
    path = url.split("://", 1)[1].split("/", 1)[1]
    client = Client(enforce_csrf_checks=True)
    # A GET (a mail scanner following the link) unsubscribes nobody: it shows a button.
    page = client.get("/" + path)
    assert page.status_code == 200 and "Disiscrivimi" in page.content.decode()
    assert not Suppression.objects.filter(person=member).exists()
    # The provider's one-click POST: no session, no CSRF token, no page.
    response = client.post(
        "/" + path, data="List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 200
    assert Suppression.objects.filter(person=member, reason=SuppressionReason.UNSUBSCRIBE).exists()
    assert Delivery.objects.get(broadcast=broadcast, person=member).unsubscribed_at is not None
    assert member.timeline.filter(kind="outreach.unsubscribe").exists()
    # Never again, member or not (G3).
    again = write(officer, tree, segment)
    assert "unsubscribed" in {c for c, _w, _n in audience_count(again).exclusions}


def test_a_forged_token_unsubscribes_nobody(tree, audience):
    token = unsubscribe_token(1, audience["member"].pk)
    forged = token[:-2] + ("aa" if not token.endswith("aa") else "bb")
    response = Client().post(reverse("outreach:unsubscribe", args=[forged]), data={"List-Unsubscribe": "One-Click"})
    assert response.status_code == 404
    assert not Suppression.objects.exists()


def test_permanent_refusal_stops_the_address_and_temporary_one_is_retried(
    tree, officer, segment, audience, smtp, clock, django_capture_on_commit_callbacks
):
    smtp.refuse("rimbalzo@example.org", "550 5.1.1 No such user")
    smtp.refuse("consenziente@example.org", "451 4.3.0 Try again later", times=1)
    broadcast = send_now(officer, write(officer, tree, segment), django_capture_on_commit_callbacks)
    bounced = Delivery.objects.get(broadcast=broadcast, email="rimbalzo@example.org")
    assert bounced.status == DeliveryStatus.BOUNCED
    assert Suppression.objects.filter(reason=SuppressionReason.HARD_BOUNCE, email="rimbalzo@example.org").exists()
    deferred = Delivery.objects.get(broadcast=broadcast, email="consenziente@example.org")
    assert deferred.status == DeliveryStatus.QUEUED and deferred.attempts == 1 and deferred.next_attempt_at
    tasks.dispatch_due.call()  # not due yet: backoff
    assert not smtp.to("consenziente@example.org")
    clock.tick(dt.timedelta(minutes=5).total_seconds())
    tasks.dispatch_due.call()
    deferred.refresh_from_db()
    assert deferred.status == DeliveryStatus.SENT and len(smtp.to("consenziente@example.org")) == 1
    # The stopped address is excluded from the next broadcast, with its reason.
    assert "hard_bounce" in {c for c, _w, _n in audience_count(write(officer, tree, segment)).exclusions}


def test_a_federation_officer_cannot_target_another_federations_segment(tree, officer, segment):
    modena_segment = Segment.objects.create(name="Modena", territory=tree.modena, definition={})
    with pytest.raises(PermissionDenied):
        actions.save_broadcast(actor=officer, territory=tree.bologna, segment=modena_segment, subject="x", body="x")
    with pytest.raises(PermissionDenied):
        actions.save_broadcast(actor=officer, territory=tree.modena, segment=segment, subject="x", body="x")
    modena_officer = make_official("comunicazione.mo", tree.modena, [Role.COMMUNICATION])
    theirs = actions.save_broadcast(
        actor=modena_officer, territory=tree.modena, segment=modena_segment, subject="x", body="x"
    )
    client = verified_client(officer)
    for name in ("outreach:detail", "outreach:edit"):
        assert client.get(reverse(name, args=[theirs.pk])).status_code == 404
    assert client.post(reverse("outreach:schedule", args=[theirs.pk])).status_code == 404
    form = client.post(
        reverse("outreach:create"),
        {"territory": tree.bologna.pk, "segment": modena_segment.pk, "subject": "x", "body": "x"},
    )
    assert (
        form.status_code == 200
        and not Broadcast.objects.filter(segment=modena_segment, territory=tree.bologna).exists()
    )


def test_unknown_merge_fields_are_refused_with_the_allowed_ones(tree, officer, segment):
    with pytest.raises(ValidationError) as refused:
        actions.save_broadcast(
            actor=officer, territory=tree.bologna, segment=segment, subject="x", body="Ciao {{ cognome }} {% load x %}"
        )
    message = " ".join(refused.value.messages)
    assert "cognome" in message and "{{ nome }}" in message
    assert not Broadcast.objects.exists()


def test_scheduling_in_the_past_is_refused(tree, officer, segment, clock):
    from django.utils import timezone

    broadcast = write(officer, tree, segment)
    with pytest.raises(ValidationError):
        actions.schedule_broadcast(actor=officer, broadcast=broadcast, send_at=timezone.now() - dt.timedelta(hours=1))
    broadcast.refresh_from_db()
    assert broadcast.status == BroadcastStatus.DRAFT


def test_scheduled_broadcast_leaves_at_its_time(
    tree, officer, segment, audience, smtp, clock, django_capture_on_commit_callbacks
):
    from django.utils import timezone

    broadcast = write(officer, tree, segment)
    actions.schedule_broadcast(actor=officer, broadcast=broadcast, send_at=timezone.now() + dt.timedelta(hours=2))
    tasks.dispatch_due.call()
    assert not smtp.arrived
    clock.tick(3 * 3600)
    with django_capture_on_commit_callbacks(execute=True):
        tasks.dispatch_due.call()
    # The members (G2) and the consenting contact (G3), once each.
    assert sorted(r for a in smtp.arrived for r in a.recipients) == [
        "consenziente@example.org",
        "disiscritto@example.org",
        "iscritta@example.org",
        "rimbalzo@example.org",
    ]


def test_test_send_goes_only_to_the_officer(tree, officer, segment, audience, smtp, django_capture_on_commit_callbacks):
    broadcast = write(officer, tree, segment)
    with django_capture_on_commit_callbacks(execute=True):
        actions.send_test(actor=officer, broadcast=broadcast, person=audience["member"])
    assert [a.recipients for a in smtp.arrived] == [["comunicazione@bologna.example.org"]]
    assert smtp.arrived[0].message["Subject"] == "[PROVA] Ciao Iscritta"


def test_ab_test_sends_samples_then_the_winner(tree, officer, segment, smtp, django_capture_on_commit_callbacks):
    for i in range(40):
        make_person(tree.bologna_centro, f"P{i}", f"p{i}@example.org", member=True)
    broadcast = write(officer, tree, segment, subject_b="Oggetto B", ab_sample_percent=25)
    broadcast = send_now(officer, broadcast, django_capture_on_commit_callbacks)
    assert broadcast.status == BroadcastStatus.TESTING
    sample = Delivery.objects.filter(broadcast=broadcast)
    assert 0 < sample.count() < 40 and set(sample.values_list("variant", flat=True)) <= {"a", "b"}
    subjects = {a.message["Subject"] for a in smtp.arrived}
    assert subjects <= {"Oggetto B"} | {f"Ciao P{i}" for i in range(40)}
    with django_capture_on_commit_callbacks(execute=True):
        actions.choose_winner(actor=officer, broadcast=broadcast, variant="b")
    assert Delivery.objects.filter(broadcast=broadcast).count() == 40
    assert len(smtp.arrived) == 40
    rest = Delivery.objects.filter(broadcast=broadcast).exclude(pk__in=sample.values("pk"))
    assert set(Delivery.objects.filter(broadcast=broadcast, variant="b").values_list("pk", flat=True)) >= set(
        rest.values_list("pk", flat=True)
    )


def test_provider_rate_limit_counts_groups_and_waits_for_the_next_second(monkeypatch, settings):
    """At most OUTREACH_RATE_PER_SECOND sends per one-second window for the whole provider (a
    parameter), whatever the group size the sender asks for; the clock is simulated."""
    from piazza.outreach import sending

    clock = {"now": 1_000_000.25}
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock["now"] += seconds

    monkeypatch.setattr(sending.time, "time", lambda: clock["now"])
    monkeypatch.setattr(sending.time, "sleep", sleep)
    limiter = sending.ProviderRateLimit("test-provider", per_second=5)
    limiter.acquire(3)
    limiter.acquire(2)
    assert slept == []  # 5 in the first second
    limiter.acquire(1)  # the sixth waits for the next window
    assert slept == [pytest.approx(0.75)]
    limiter.acquire(50)  # a group larger than the limit is clamped to it and waits once more
    assert len(slept) == 2 and int(clock["now"]) == 1_000_002


def test_frequency_limit_is_a_parameter_counted_across_circolo_federation_and_national(
    tree, officer, segment, smtp, django_capture_on_commit_callbacks, settings, clock
):
    """A person in a circolo, a federation and the national list: the daily and weekly limits
    (settings, not constants) count every broadcast of every territory, at queue time."""
    settings.OUTREACH_MAX_PER_DAY, settings.OUTREACH_MAX_PER_WEEK = 2, 3
    make_person(tree.bologna_centro, "Frequente", "frequente@example.org", member=True)
    senders = [
        (make_official("comunicazione.naz", tree.national, [Role.COMMUNICATION]), tree.national),
        (officer, tree.bologna),
        (make_official("comunicazione.centro", tree.bologna_centro, [Role.COMMUNICATION]), tree.bologna_centro),
    ]

    def send_from(official, territory, subject):
        seg = Segment.objects.create(name=f"Tutti {subject}", territory=territory, definition={})
        broadcast = actions.save_broadcast(actor=official, territory=territory, segment=seg, subject=subject, body="x")
        return send_now(official, broadcast, django_capture_on_commit_callbacks)

    send_from(*senders[0], "Nazionale")
    send_from(*senders[1], "Federazione")
    assert len(smtp.to("frequente@example.org")) == 2  # two a day allowed
    third = send_from(*senders[2], "Circolo")
    assert len(smtp.to("frequente@example.org")) == 2  # the third of the day is held back
    assert third.audience_summary.get("frequency") == 1
    clock.tick(dt.timedelta(days=1, minutes=1))
    send_from(*senders[2], "Circolo domani")
    assert len(smtp.to("frequente@example.org")) == 3
    clock.tick(dt.timedelta(days=1, minutes=1))
    assert send_from(*senders[1], "Ancora").audience_summary.get("frequency") == 1  # three a week
    assert len(smtp.to("frequente@example.org")) == 3
