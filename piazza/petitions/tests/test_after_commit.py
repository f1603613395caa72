"""Issue 15, a viral petition must not fall over: the request writes the signature and a counter
slot only; the dedupe into people, consents (rule G3), notice acceptance, timeline, audit and the
confirmation email run in `tasks.process_signature`, enqueued on commit and idempotent."""

from __future__ import annotations

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse

from piazza.core.models import AuditEntry
from piazza.people.models import Consent, NoticeAcceptance, Person, TimelineEntry
from piazza.petitions import actions, matching, queries, tasks
from piazza.petitions.models import Signature
from piazza.petitions.tests.flows import form_data, sign

pytestmark = pytest.mark.django_db


def _post(client, petition, clock, data, django_capture_on_commit_callbacks, *, run_tasks=True):
    with django_capture_on_commit_callbacks(execute=run_tasks) as callbacks:
        response = client.post(reverse("petitions:public", args=[petition.slug]), data)
    return response, callbacks


def _state():
    return (
        Person.objects.count(),
        Consent.objects.count(),
        NoticeAcceptance.objects.count(),
        TimelineEntry.objects.filter(kind=matching.TIMELINE_KIND).count(),
        AuditEntry.objects.filter(action="petitions.sign_petition").count(),
        len(mail.outbox),
    )


def test_the_request_writes_the_signature_and_the_counter_only(petition, clock, django_capture_on_commit_callbacks):
    data = form_data(petition, consent_political="on")
    clock.tick(10)
    response, callbacks = _post(Client(), petition, clock, data, django_capture_on_commit_callbacks, run_tasks=False)
    assert response.status_code == 302
    signature = Signature.objects.get()
    # Counted at once, matched later: nobody in people yet, one task waiting.
    assert queries.signature_count(petition.pk) == 1
    assert signature.person_id is None and signature.consents == ["political_communication"]
    assert signature.notice_version is not None
    assert _state() == (0, 0, 0, 0, 0, 0)
    assert len(callbacks) == 1


def test_the_task_matches_the_signer_and_sends_one_confirmation(petition, clock):
    sign(Client(), petition, clock, consent_political="on")
    signature = Signature.objects.get()
    assert signature.person is not None and signature.person.first_name == "Giulia"
    assert _state() == (1, 1, 1, 1, 1, 1)
    message = mail.outbox[0]
    assert message.to == ["giulia.bianchi@example.org"]
    assert petition.title in message.subject and petition.get_absolute_url() in message.body


def test_running_the_task_twice_changes_nothing(petition, clock):
    sign(Client(), petition, clock, consent_newsletter="on")
    signature = Signature.objects.get()
    before = (_state(), signature.person_id)
    assert tasks.process_signature.call(signature.pk) is False
    assert matching.process_signature(signature.pk) is False
    signature.refresh_from_db()
    assert (_state(), signature.person_id) == before
    assert queries.signature_count(petition.pk) == 1


def test_a_double_submitted_form_signs_once(petition, clock, django_capture_on_commit_callbacks):
    """The same form sent twice (a double tap, a resend after a slow answer): one row, one count,
    one task, and the second answer says it was already signed."""
    data = form_data(petition)
    clock.tick(10)
    client = Client()
    first, first_tasks = _post(client, petition, clock, data, django_capture_on_commit_callbacks)
    second, second_tasks = _post(client, petition, clock, data, django_capture_on_commit_callbacks)
    assert first["Location"] == reverse("petitions:thanks", args=[petition.slug])
    assert second.status_code == 302 and second["Location"].endswith("?gia=1")
    assert (len(first_tasks), len(second_tasks)) == (1, 0)
    assert Signature.objects.count() == 1 == queries.signature_count(petition.pk)
    assert _state() == (1, 0, 1, 1, 1, 1)


def test_the_same_email_typed_differently_signs_once(petition, clock):
    sign(Client(), petition, clock)
    response = sign(Client(), petition, clock, email="  Giulia.Bianchi@Example.org ")
    assert response["Location"].endswith("?gia=1")
    assert Signature.objects.count() == 1 == queries.signature_count(petition.pk)


def test_the_signature_request_stays_within_its_query_budget(
    petition, clock, django_assert_max_num_queries, django_capture_on_commit_callbacks
):
    """The request's SQL (sessions, throttle in the cache, form checks, insert, counter slot);
    a regression that moves the dedupe back into the request breaks this."""
    data = form_data(petition)
    clock.tick(10)
    with django_assert_max_num_queries(10):
        response, _ = _post(Client(), petition, clock, data, django_capture_on_commit_callbacks, run_tasks=False)
    assert response.status_code == 302


def test_closing_or_a_new_question_shows_at_once_despite_the_cached_page(petition, clock, comms):
    """The public petition is cached a minute (queries.public_petition); its actions forget it."""
    client = Client()
    assert client.get(petition.get_absolute_url()).status_code == 200  # now cached
    actions.add_question(actor=comms, petition=petition, label="Quartiere?", kind="text", required=True)
    assert "Quartiere?" in client.get(petition.get_absolute_url()).content.decode()
    actions.set_petition_open(actor=comms, petition=petition, is_open=False)
    response = sign(client, petition, clock, **{f"q_{petition.questions.get().pk}": "Navile"})
    assert response.status_code == 400 and Signature.objects.count() == 0


def test_a_signature_whose_task_was_lost_is_matched_by_the_periodic_sweep(
    petition, clock, django_capture_on_commit_callbacks
):
    data = form_data(petition, consent_political="on")
    clock.tick(10)
    _post(Client(), petition, clock, data, django_capture_on_commit_callbacks, run_tasks=False)  # the task lost
    assert tasks.match_pending_signatures.call() == 0  # too recent: its own task may still come
    clock.tick(6 * 60)
    assert tasks.match_pending_signatures.call() == 1
    assert Signature.objects.get().person is not None and _state() == (1, 1, 1, 1, 1, 1)
    assert tasks.match_pending_signatures.call() == 0
