"""Issue 16: events and attendances, petitions and signatures, messages — read within the key's
scope (convention 11, 404 outside), refused without the permission (403), every read of personal
data audited (rule G4), and the record helpers going through the public pages' actions (the form's
validation with nothing half-written, the dedupe, the waiting list, consents G3, the emails)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.core import mail
from django.test import Client, TestCase
from django.utils import timezone

from piazza.api.models import Permission
from piazza.core.models import AuditEntry, AuditKind
from piazza.events.actions import EventData, create_event
from piazza.events.models import Rsvp, RsvpStatus
from piazza.outreach.models import Broadcast, BroadcastStatus, Delivery, DeliveryStatus
from piazza.people.actions.notices import ensure_default_notices
from piazza.people.models import Consent, Person, Purpose, Segment
from piazza.people.notices import current_version
from piazza.petitions import actions as petition_actions
from piazza.petitions.models import QuestionKind, Signature
from piazza.petitions.queries import counter_drift, signature_count
from piazza.territory.models import Comune, Role
from piazza.territory.testing import make_official, verified_client

from .conftest import make_person, osdi

pytestmark = pytest.mark.django_db

# The frozen clock says Wednesday 10 June 2026, 10:00 in Rome: the event is on Friday 12 June.
START = timezone.make_aware(dt.datetime(2026, 6, 12, 18, 0))
EVERYTHING = [
    Permission.READ_EVENTS,
    Permission.WRITE_EVENTS,
    Permission.READ_PETITIONS,
    Permission.WRITE_PETITIONS,
    Permission.READ_MESSAGES,
]


@pytest.fixture
def federation_official(tree: Any) -> Any:
    """Organisation and communication at the Bologna federation: organises events, petitions, broadcasts."""
    return make_official("federazione.bologna", tree.bologna, [Role.ORGANISATION, Role.COMMUNICATION])


@pytest.fixture
def modena_official(tree: Any) -> Any:
    return make_official("federazione.modena", tree.modena, [Role.ORGANISATION, Role.COMMUNICATION])


@pytest.fixture
def event(tree: Any, federation_official: Any) -> Any:
    return create_event(
        actor=federation_official,
        territory=tree.bologna,
        data=EventData(
            title="Festa de l'Unità",
            description="Musica e **dibattiti**.",
            starts_at=START,
            ends_at=START + dt.timedelta(hours=3),
            comune=Comune.objects.get(name="Bologna"),
            address="Via del Pratello 1",
            postal_code="40122",
            capacity=1,
        ),
    )


@pytest.fixture
def petition(tree: Any, federation_official: Any) -> Any:
    return petition_actions.create_petition(
        actor=federation_official,
        territory=tree.bologna,
        title="Più autobus notturni a Bologna",
        text="Chiediamo al Comune più corse notturne nei quartieri.",
        target="Sindaco di Bologna",
        goal=500,
    )


def _post(token: str, path: str, body: dict[str, Any]) -> Any:
    with TestCase.captureOnCommitCallbacks(execute=True):
        return Client().post(f"/api/v1{path}", body, content_type="application/json", HTTP_OSDI_API_TOKEN=token)


def _person(given: str = "Giulia", family: str = "Bianchi", email: str = "giulia@example.org", **extra: Any) -> Any:
    return {
        "given_name": given,
        "family_name": family,
        "email_addresses": [{"address": email}] if email else [],
        "postal_addresses": [{"postal_code": extra.pop("cap", "40121"), "locality": extra.pop("comune", "Bologna")}],
        **extra,
    }


def _ids(body: dict[str, Any], key: str) -> list[str]:
    return [i for item in body["_embedded"][key] for i in item["identifiers"]]


def _api_reads(path: str) -> list[AuditEntry]:
    entries = AuditEntry.objects.filter(action="api.read", kind=AuditKind.VIEW)
    return [e for e in entries if e.data["path"] == path and e.data["method"] == "GET"]


# --- events and attendances ----------------------------------------------------------------------


def test_events_and_attendances_are_read_within_the_keys_scope(
    tree, federation_official, modena_official, make_key, event
):
    ensure_default_notices()
    _, token = make_key(federation_official, tree.bologna, EVERYTHING)
    recorded = _post(token, f"/events/{event.pk}/attendances", {"person": _person()})
    assert recorded.status_code == 200, recorded.content
    rsvp = Rsvp.objects.get()
    events = osdi(Client(), token, "/events").json()
    assert _ids(events, "osdi:events") == [f"piazza:event-{event.pk}"]
    shown = events["_embedded"]["osdi:events"][0]
    assert shown["title"] == "Festa de l'Unità" and shown["total_accepted"] == 1
    assert shown["location"]["locality"] == "Bologna" and shown["status"] == "confirmed"
    attendances = osdi(Client(), token, f"/events/{event.pk}/attendances").json()
    assert _ids(attendances, "osdi:attendances") == [f"piazza:attendance-{rsvp.pk}"]
    one = osdi(Client(), token, f"/events/piazza:event-{event.pk}/attendances/piazza:attendance-{rsvp.pk}").json()
    assert one["person"]["given_name"] == "Giulia" and one["status"] == "accepted"
    assert "piazza:person" not in str(one), "never a link to the person the attendee was matched to"
    # Rule G4: the attendees read are named in the audit entry of each read.
    listed = _api_reads(f"/api/v1/events/{event.pk}/attendances")
    assert len(listed) == 1 and listed[0].data["objects"] == [f"piazza:attendance-{rsvp.pk}"]
    assert _api_reads(f"/api/v1/events/piazza:event-{event.pk}/attendances/piazza:attendance-{rsvp.pk}")

    # Another federation's key, and a circolo's key under Bologna: nothing, by any route.
    _, modena = make_key(modena_official, tree.modena, EVERYTHING)
    circolo_owner = make_official("centro.org", tree.bologna_centro, [Role.ORGANISATION, Role.COMMUNICATION])
    _, centro = make_key(circolo_owner, tree.bologna_centro, EVERYTHING)
    for other in (modena, centro):
        assert osdi(Client(), other, "/events").json()["total_records"] == 0
        for path in (
            f"/events/{event.pk}",
            f"/events/{event.pk}/attendances",
            f"/events/{event.pk}/attendances/{rsvp.pk}",
        ):
            assert osdi(Client(), other, path).status_code == 404, path
        before = Rsvp.objects.count()
        posted = _post(other, f"/events/{event.pk}/attendances", {"person": _person(email="x@example.org")})
        assert posted.status_code == 404 and Rsvp.objects.count() == before


def test_events_need_their_permissions(tree, federation_official, make_key, event):
    _, token = make_key(federation_official, tree.bologna, [Permission.READ_PEOPLE])
    for path in ("/events", f"/events/{event.pk}", f"/events/{event.pk}/attendances"):
        response = osdi(Client(), token, path)
        assert response.status_code == 403 and "permesso" in response.json()["error"]
    posted = _post(token, f"/events/{event.pk}/attendances", {"person": _person()})
    assert posted.status_code == 403 and not Rsvp.objects.exists() and not Person.objects.exists()
    # The entry point links only what the key may read.
    assert "osdi:events" not in osdi(Client(), token, "/").json()["_links"]
    _, reader = make_key(federation_official, tree.bologna, [Permission.READ_EVENTS])
    assert "osdi:events" in osdi(Client(), reader, "/").json()["_links"]


def test_record_attendance_goes_through_the_rsvp_of_the_public_page(tree, federation_official, make_key, event):
    """Consent G3 with the notice shown, confirmation email, waiting list when full, and the same
    address again answered with its place, not a second RSVP."""
    ensure_default_notices()
    _, token = make_key(federation_official, tree.bologna, [Permission.WRITE_EVENTS])
    first = _post(
        token,
        f"/events/{event.pk}/attendances",
        {"person": _person(), "piazza:consents": {"political_communication": True}},
    )
    assert first.status_code == 200, first.content
    rsvp = Rsvp.objects.get()
    assert first.json()["identifiers"] == [f"piazza:attendance-{rsvp.pk}"] and rsvp.status == RsvpStatus.CONFIRMED
    assert rsvp.notice_version == current_version("event") and rsvp.political_consent
    person = Person.objects.get(last_name="Bianchi")
    assert rsvp.person == person and person.source == "event"
    assert Consent.objects.get(person=person, purpose=Purpose.POLITICAL_COMMUNICATION).granted
    assert [m.to for m in mail.outbox] == [["giulia@example.org"]]

    again = _post(token, f"/events/{event.pk}/attendances", {"person": _person(given="Altro")})
    assert again.status_code == 200 and again.json()["identifiers"] == first.json()["identifiers"]
    assert Rsvp.objects.count() == 1

    waiting = _post(token, f"/events/{event.pk}/attendances", {"person": _person("Marco", "Neri", "m@example.org")})
    assert waiting.status_code == 200
    assert waiting.json()["status"] == "tentative" and waiting.json()["piazza:status"] == RsvpStatus.WAITING
    # The key's use is audited like a page view (G4), the attendance named.
    assert AuditEntry.objects.filter(action="api.read", data__method="POST").count() == 3


def test_record_attendance_refuses_bad_input_with_the_forms_words_and_writes_nothing(
    tree, federation_official, make_key, event
):
    ensure_default_notices()
    _, token = make_key(federation_official, tree.bologna, [Permission.WRITE_EVENTS])
    cases = [
        ({"person": _person(email="")}, "person.email_addresses"),
        ({"person": _person(email="non-una-email")}, "email"),
        ({"person": _person(comune="Atlantide")}, "Non troviamo il comune «Atlantide»"),
        ({"person": _person(cap="4012")}, "5 cifre"),
        ({"person": _person(), "piazza:consents": {"newsletter": True}}, "newsletter"),
        ({"person": {"given_name": "Solo"}}, "family_name"),
    ]
    people, rsvps, consents = Person.objects.count(), Rsvp.objects.count(), Consent.objects.count()
    for body, words in cases:
        response = _post(token, f"/events/{event.pk}/attendances", body)
        assert response.status_code == 422, (body, response.content)
        text = response.json()["error"] + " ".join(response.json()["detail"])
        assert words in text, (words, text)
    assert (Person.objects.count(), Rsvp.objects.count(), Consent.objects.count()) == (people, rsvps, consents)
    assert not mail.outbox


def test_record_attendance_on_a_cancelled_event_is_refused(tree, federation_official, make_key, event):
    from piazza.events.actions import cancel_event

    cancel_event(actor=federation_official, event=event, notice="Pioggia: rinviata.")
    _, token = make_key(federation_official, tree.bologna, [Permission.WRITE_EVENTS])
    response = _post(token, f"/events/{event.pk}/attendances", {"person": _person()})
    assert response.status_code == 422 and "annullato" in " ".join(response.json()["detail"])
    assert not Rsvp.objects.exists()


# --- petitions and signatures --------------------------------------------------------------------


def test_record_signature_goes_through_sign_petition_and_a_replay_does_not_double(
    tree, federation_official, make_key, petition
):
    ensure_default_notices()
    _, token = make_key(federation_official, tree.bologna, [Permission.WRITE_PETITIONS, Permission.READ_PETITIONS])
    body = {
        "person": _person(phone_numbers=[{"number": "333 1234567"}]),
        "piazza:consents": {"political_communication": True, "newsletter": False},
    }
    first = _post(token, f"/petitions/{petition.pk}/signatures", body)
    assert first.status_code == 200, first.content
    signature = Signature.objects.get()
    assert first.json()["identifiers"] == [f"piazza:signature-{signature.pk}"]
    assert signature.consents == [Purpose.POLITICAL_COMMUNICATION]
    assert signature.notice_version == current_version("petition")
    # The task after commit: matched into people (new person, consent recorded), confirmation email.
    assert signature.person is not None and signature.person.last_name == "Bianchi"
    assert Consent.objects.get(person=signature.person, purpose=Purpose.POLITICAL_COMMUNICATION).granted
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["giulia@example.org"]
    assert signature_count(petition.pk) == 1

    replay = _post(token, f"/petitions/{petition.pk}/signatures", body)
    assert replay.status_code == 200 and replay.json()["identifiers"] == first.json()["identifiers"]
    assert Signature.objects.count() == 1 and signature_count(petition.pk) == 1 and not counter_drift()
    assert len(mail.outbox) == 1

    shown = osdi(Client(), token, f"/petitions/{petition.pk}").json()
    assert shown["total_signatures"] == 1 and shown["target"] == [{"name": "Sindaco di Bologna"}]
    listed = osdi(Client(), token, f"/petitions/{petition.pk}/signatures").json()
    assert _ids(listed, "osdi:signatures") == [f"piazza:signature-{signature.pk}"]
    assert listed["_embedded"]["osdi:signatures"][0]["person"]["phone_numbers"][0]["number"] == "+393331234567"
    assert "piazza:person" not in str(listed)
    reads = _api_reads(f"/api/v1/petitions/{petition.pk}/signatures")
    assert len(reads) == 1 and reads[0].data["objects"] == [f"piazza:signature-{signature.pk}"]
    assert osdi(Client(), token, f"/petitions/{petition.pk}/signatures/{signature.pk}").status_code == 200
    assert _api_reads(f"/api/v1/petitions/{petition.pk}/signatures/{signature.pk}")


def test_record_signature_refuses_bad_input_and_writes_nothing(tree, federation_official, make_key, petition):
    ensure_default_notices()
    petition_actions.add_question(
        actor=federation_official, petition=petition, label="Quartiere?", kind=QuestionKind.TEXT, required=True
    )
    question = petition.questions.get()
    _, token = make_key(federation_official, tree.bologna, [Permission.WRITE_PETITIONS])
    answered = {f"{question.pk}": "Navile"}
    cases = [
        ({"person": _person(), "piazza:answers": {}}, "Rispondi a questa domanda"),
        ({"person": _person(cap="401"), "piazza:answers": answered}, "Il CAP ha 5 cifre"),
        ({"person": _person(comune="Atlantide"), "piazza:answers": answered}, "Atlantide"),
        ({"person": _person(email=""), "piazza:answers": answered}, "person.email_addresses"),
        ({"person": _person(), "piazza:answers": {**answered, "999999": "x"}}, "999999"),
        ({"person": _person(), "piazza:answers": answered, "piazza:consents": {"profiling": True}}, "profiling"),
    ]
    for body, words in cases:
        response = _post(token, f"/petitions/{petition.pk}/signatures", body)
        assert response.status_code == 422, (body, response.content)
        assert words in response.json()["error"] + " ".join(response.json()["detail"]), response.json()
    assert not Signature.objects.exists() and signature_count(petition.pk) == 0 and not Person.objects.exists()
    petition_actions.set_petition_open(actor=federation_official, petition=petition, is_open=False)
    closed = _post(token, f"/petitions/{petition.pk}/signatures", {"person": _person(), "piazza:answers": answered})
    assert closed.status_code == 422 and "chiusa" in " ".join(closed.json()["detail"])
    assert not Signature.objects.exists()


def test_petitions_are_read_within_the_keys_scope_and_need_their_permissions(
    tree, federation_official, modena_official, make_key, petition
):
    ensure_default_notices()
    _, token = make_key(federation_official, tree.bologna, [Permission.WRITE_PETITIONS, Permission.READ_PETITIONS])
    assert _post(token, f"/petitions/{petition.pk}/signatures", {"person": _person()}).status_code == 200
    signature = Signature.objects.get()
    assert _ids(osdi(Client(), token, "/petitions").json(), "osdi:petitions") == [f"piazza:petition-{petition.pk}"]
    _, modena = make_key(modena_official, tree.modena, [Permission.WRITE_PETITIONS, Permission.READ_PETITIONS])
    assert osdi(Client(), modena, "/petitions").json()["total_records"] == 0
    for path in (
        f"/petitions/{petition.pk}",
        f"/petitions/{petition.pk}/signatures",
        f"/petitions/{petition.pk}/signatures/{signature.pk}",
    ):
        assert osdi(Client(), modena, path).status_code == 404
    other = _post(modena, f"/petitions/{petition.pk}/signatures", {"person": _person(email="z@example.org")})
    assert other.status_code == 404 and Signature.objects.count() == 1
    _, reader = make_key(federation_official, tree.bologna, [Permission.READ_PETITIONS])
    refused = _post(reader, f"/petitions/{petition.pk}/signatures", {"person": _person(email="w@example.org")})
    assert refused.status_code == 403 and Signature.objects.count() == 1
    _, writer = make_key(federation_official, tree.bologna, [Permission.WRITE_PETITIONS])
    assert osdi(Client(), writer, f"/petitions/{petition.pk}/signatures").status_code == 403


# --- messages ------------------------------------------------------------------------------------


def test_messages_show_their_counts_never_their_recipients(tree, federation_official, modena_official, make_key):
    segment = Segment.objects.create(name="Tutti", territory=tree.bologna, definition={})
    broadcast = Broadcast.objects.create(
        territory=tree.bologna,
        segment=segment,
        subject="Festa de l'Unità",
        body="Vi aspettiamo!",
        status=BroadcastStatus.SENT,
        started_at=timezone.now(),
        finished_at=timezone.now(),
    )
    for i, status in enumerate([DeliveryStatus.SENT, DeliveryStatus.DELIVERED, DeliveryStatus.BOUNCED]):
        person = make_person(tree.bologna_centro, "Persona", f"N{i}", f"persona{i}@example.org")
        Delivery.objects.create(broadcast=broadcast, person=person, email=f"persona{i}@example.org", status=status)
    _, token = make_key(federation_official, tree.bologna, [Permission.READ_MESSAGES])
    listed = osdi(Client(), token, "/messages")
    assert _ids(listed.json(), "osdi:messages") == [f"piazza:message-{broadcast.pk}"]
    one = osdi(Client(), token, f"/messages/piazza:message-{broadcast.pk}").json()
    assert one["statistics"] == {"queued": 0, "sent": 3, "delivered": 1, "bounced": 1, "failed": 0, "unsubscribed": 0}
    assert one["total_targeted"] == 3 and one["status"] == "sent" and one["subject"] == "Festa de l'Unità"
    for response in (listed.content, osdi(Client(), token, f"/messages/{broadcast.pk}").content):
        assert b"example.org" not in response and b"piazza:person" not in response
    _, modena = make_key(modena_official, tree.modena, [Permission.READ_MESSAGES])
    assert osdi(Client(), modena, "/messages").json()["total_records"] == 0
    assert osdi(Client(), modena, f"/messages/{broadcast.pk}").status_code == 404
    _, other = make_key(federation_official, tree.bologna, [Permission.READ_EVENTS])
    assert osdi(Client(), other, "/messages").status_code == 403


# --- the person signup helper's answer for someone the key may not read ---------------------------


def test_signup_helper_answers_a_match_outside_the_read_scope_exactly_as_a_new_unreadable_person(tree, make_key):
    """Convention 16: a write-only key (a website's form) learns nothing from the answer — matching
    a person of another territory reads the same as creating a new one it may not read, byte for
    byte (no identifier, no name, no date of the existing record)."""
    ensure_default_notices()
    elsewhere = make_person(tree.modena_nord, "Carla", "Verdi", "carla@example.org")
    Person.objects.filter(pk=elsewhere.pk).update(created_at=timezone.now() - dt.timedelta(days=400))
    owner = make_official("centro.tesseramento", tree.bologna_centro, [Role.MEMBERSHIP])
    _, token = make_key(owner, tree.bologna_centro, [Permission.WRITE_PEOPLE])

    def signup(given: str, family: str, email: str) -> Any:
        body = {"person": {"given_name": given, "family_name": family, "email_addresses": [{"address": email}]}}
        return _post(token, "/people/person_signup_helper", body)

    matched = signup("Carla", "Verdi", "carla@example.org")
    created = signup("Dario", "Neri", "dario@example.org")
    assert matched.status_code == created.status_code == 200
    assert Person.objects.filter(last_name="Neri", territory=tree.bologna_centro).exists()
    assert Person.objects.filter(last_name="Verdi").count() == 1
    assert matched.content == created.content
    assert b"Verdi" not in matched.content and b"Neri" not in created.content


def test_odd_identifiers_and_nul_characters_get_an_answer_not_a_server_error(tree, federation_official, make_key):
    """Found by the schemathesis run: '³' is a digit to Python but not to int(), and a refusal quoting
    a NUL character could not be written to PostgreSQL's JSON audit data."""
    ensure_default_notices()
    owner = make_official("centro.tutto", tree.bologna_centro, [Role.ORGANISATION, Role.MEMBERSHIP])
    _, token = make_key(owner, tree.bologna_centro, [Permission.READ_EVENTS, Permission.WRITE_PEOPLE])
    assert osdi(Client(), token, "/events/³").status_code == 404
    assert osdi(Client(), token, "/events/piazza:event-²/attendances").status_code == 404
    body = {"person": {"given_name": "Ada", "family_name": "Nul"}, "piazza:consents": {"a\x00b": True}}
    response = _post(token, "/people/person_signup_helper", body)
    assert response.status_code == 422 and "carattere nullo" in response.json()["detail"][0]
    # Should one reach an audit entry all the same, it is kept as U+FFFD.
    from piazza.core.audit import record

    assert record("api.test", actor=None, data={"reason": "a\x00b"}).data == {"reason": "a\ufffdb"}
    for typed in (
        {"email_addresses": [{"address": "a\x00@x.org"}]},
        {"postal_addresses": [{"locality": "Bo\x00logna"}]},
    ):
        body = {"person": {"given_name": "Ada", "family_name": "Nul", **typed}}
        refused = _post(token, "/people/person_signup_helper", body)
        assert refused.status_code == 422 and "carattere nullo" in " ".join(refused.json()["detail"])
    assert not Person.objects.filter(last_name="Nul").exists()


def test_the_keys_page_offers_the_new_permissions_in_italian_and_says_expired(tree, federation_official, clock):
    client = verified_client(federation_official)
    page = client.get("/api/chiavi/").content.decode()
    for words in (
        "Leggere gli eventi e chi partecipa",
        "Iscrivere persone agli eventi (modulo esterno)",
        "Leggere le petizioni e le firme",
        "Raccogliere firme alle petizioni (modulo esterno)",
        "Leggere le comunicazioni email inviate e i loro numeri",
    ):
        assert words in page, words
    response = client.post(
        "/api/chiavi/",
        {
            "name": "Sito della festa",
            "territory": tree.bologna.pk,
            "permissions": [Permission.READ_EVENTS, Permission.WRITE_EVENTS, Permission.WRITE_PETITIONS],
            "expires_on": (timezone.localdate() + dt.timedelta(days=3)).isoformat(),
        },
    )
    token = response.context["token"]
    links = osdi(Client(), token, "/").json()["_links"]
    assert "osdi:events" in links and "osdi:petitions" not in links and "osdi:people" not in links
    clock.move_to(timezone.now() + dt.timedelta(days=5))
    assert "Scaduta" in verified_client(federation_official, Client()).get("/api/chiavi/").content.decode()
