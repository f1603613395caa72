"""Signing a petition or a sign-up form: dedupe into people (convention 16), one signature per person,
consents with the notice version (rules G2, G3), spam defences and the per-client limit."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client, override_settings
from django.urls import reverse

from piazza.core.models import AuditEntry
from piazza.people.actions.person import create_person
from piazza.people.models import Consent, NoticeAcceptance, Person, Purpose, TimelineEntry
from piazza.people.notices import current_version
from piazza.petitions import actions, matching, queries
from piazza.petitions.models import Petition, PetitionKind, QuestionKind, Signature
from piazza.petitions.tests.flows import form_data, sign

pytestmark = pytest.mark.django_db


def test_a_signature_creates_the_person_with_consent_notice_and_timeline(petition, clock):
    response = sign(Client(), petition, clock, consent_political="on")
    assert response.status_code == 302
    assert response["Location"] == reverse("petitions:thanks", args=[petition.slug])
    signature = Signature.objects.get()
    person = signature.person
    assert person is not None, "the task enqueued on commit matched the signer"
    assert person.residence_comune is not None and person.residence_comune.name == "Bologna"
    assert (person.first_name, person.last_name) == ("Giulia", "Bianchi")
    assert person.source == "petition"
    # Rule G3: the purpose ticked, with the version of the petition notice that was shown.
    notice = current_version("petition")
    assert notice is not None
    consent = Consent.objects.get(person=person)
    assert consent.purpose == Purpose.POLITICAL_COMMUNICATION and consent.granted
    assert consent.text_version == notice.code
    assert NoticeAcceptance.objects.get(person=person).version == notice
    assert signature.notice_version == notice and signature.consents == [Purpose.POLITICAL_COMMUNICATION]
    assert TimelineEntry.objects.filter(person=person, kind=matching.TIMELINE_KIND).count() == 1
    assert queries.signature_count(petition.pk) == 1
    assert AuditEntry.objects.filter(action="petitions.sign_petition").count() == 1


def test_no_consent_ticked_records_none(petition, clock):
    sign(Client(), petition, clock)
    assert Consent.objects.count() == 0
    assert Signature.objects.get().consents == []


def test_dedupe_attaches_to_the_existing_person_without_writing_their_record(petition, clock, tree):
    """Convention 16: a typed email proves nobody. The signature joins the existing person (one per
    petition), but their contacts and consents stay as they were; the ticked consent waits on the
    signature with its notice version."""
    existing = create_person(
        actor=None,
        data={"first_name": "Giulia", "last_name": "Bianchi", "emails": ["giulia.bianchi@example.org"]},
        circolo=tree.bologna_centro,
    )
    sign(Client(), petition, clock, phone="+39 333 123 4567", consent_newsletter="on")
    signature = Signature.objects.get()
    assert signature.person_id == existing.pk
    assert Person.objects.count() == 1
    existing.refresh_from_db()
    assert not existing.phones.exists()
    assert Consent.objects.filter(person=existing).count() == 0
    assert signature.consents == [Purpose.NEWSLETTER] and signature.phone == "+393331234567"
    # The notice acceptance is kept with the signature, not attached to the matched person.
    acceptance = NoticeAcceptance.objects.get()
    assert acceptance.person is None and acceptance.source_id == signature.pk
    assert TimelineEntry.objects.filter(person=existing, kind=matching.TIMELINE_KIND).count() == 1


def test_a_second_signature_is_already_signed_and_no_new_row(petition, clock):
    client = Client()
    sign(client, petition, clock)
    response = sign(client, petition, clock, first_name="giulia")
    assert response.status_code == 302 and response["Location"].endswith("?gia=1")
    assert Signature.objects.count() == 1
    assert queries.signature_count(petition.pk) == 1
    page = client.get(response["Location"])
    assert "Hai già firmato" in page.content.decode()


def test_the_database_refuses_a_duplicate_row(petition, clock):
    sign(Client(), petition, clock)
    from django.db import IntegrityError, transaction

    with pytest.raises(IntegrityError), transaction.atomic():
        Signature.objects.create(
            petition=petition, person=None, first_name="X", last_name="Y", email="giulia.bianchi@example.org"
        )


def test_the_honeypot_refuses_with_a_message_and_saves_nothing(petition, clock):
    response = sign(Client(), petition, clock, website="http://spam.example")
    assert response.status_code == 400
    assert "sembra automatico" in response.content.decode()
    assert (Signature.objects.count(), Person.objects.count(), queries.signature_count(petition.pk)) == (0, 0, 0)


def test_a_too_fast_submission_is_refused_with_a_message_and_saves_nothing(petition, clock):
    response = sign(Client(), petition, clock, wait=1)
    assert response.status_code == 400
    assert "troppo in fretta" in response.content.decode()
    assert (Signature.objects.count(), Person.objects.count()) == (0, 0)


def test_a_forged_start_time_is_refused(petition, clock):
    response = sign(Client(), petition, clock, started="eyJ0IjoxfQ:forged:sig")
    assert response.status_code == 400 and "sembra automatico" in response.content.decode()
    assert Signature.objects.count() == 0


def test_a_start_time_of_another_petition_is_refused(petition, clock, comms, tree):
    other = actions.create_petition(actor=comms, territory=tree.bologna, title="Altro", text="Testo", target="X")
    data = form_data(other)
    response = sign(Client(), petition, clock, started=data["started"])
    assert response.status_code == 400 and Signature.objects.count() == 0


@override_settings(PETITION_THROTTLE_PER_IP=3)
def test_the_per_client_limit_answers_429_and_saves_nothing(petition, clock):
    client = Client()
    for n in range(3):
        assert sign(client, petition, clock, email=f"persona{n}@example.org", last_name=f"Rossi{n}").status_code == 302
    response = sign(client, petition, clock, email="quarta@example.org", last_name="Verdi")
    assert response.status_code == 429
    assert "Troppe firme" in response.content.decode()
    assert Signature.objects.count() == 3


def test_bad_input_is_said_at_its_field(petition, clock):
    response = sign(Client(), petition, clock, postal_code="401", comune="Atlantide", email="non-una-email")
    body = response.content.decode()
    assert response.status_code == 400
    assert "Il CAP ha 5 cifre" in body and "Non troviamo il comune «Atlantide»" in body
    assert Signature.objects.count() == 0


def test_a_closed_petition_takes_no_signature(petition, clock, comms):
    actions.set_petition_open(actor=comms, petition=petition, is_open=False)
    response = sign(Client(), petition, clock)
    assert response.status_code == 400 and "chiusa" in response.content.decode()
    assert Signature.objects.count() == 0


def test_the_action_refuses_a_closed_petition(petition, comms, tree):
    from django.core.exceptions import ValidationError

    from piazza.territory.models import Comune

    actions.set_petition_open(actor=comms, petition=petition, is_open=False)
    data = actions.SignatureInput(
        first_name="A",
        last_name="B",
        email="a@example.org",
        comune=Comune.objects.get(name="Bologna"),
        postal_code="40121",
    )
    with pytest.raises(ValidationError):
        actions.sign_petition(actor=None, petition=petition, data=data)
    assert Signature.objects.count() == 0


@pytest.fixture
def signup(tree: Any, comms: Any) -> Petition:
    form = actions.create_petition(
        actor=comms,
        territory=tree.bologna,
        kind=PetitionKind.FORM,
        title="Volontari per la festa",
        text="Dacci una mano.",
    )
    actions.add_question(
        actor=comms,
        petition=form,
        label="Che turno preferisci?",
        kind=QuestionKind.CHOICE,
        choices=["Mattina", "Sera"],
        required=True,
    )
    actions.add_question(actor=comms, petition=form, label="Hai la patente?", kind=QuestionKind.YES_NO)
    actions.add_question(actor=comms, petition=form, label="Note", kind=QuestionKind.TEXT)
    return form


def test_custom_questions_store_the_answers(signup, clock):
    q_choice, q_yes, q_text = signup.questions.all()
    response = sign(
        Client(),
        signup,
        clock,
        **{f"q_{q_choice.pk}": "Sera", f"q_{q_yes.pk}": "yes", f"q_{q_text.pk}": "Porto il gazebo"},
    )
    assert response.status_code == 302
    assert Signature.objects.get().answers == {
        str(q_choice.pk): "Sera",
        str(q_yes.pk): "yes",
        str(q_text.pk): "Porto il gazebo",
    }
    # A sign-up form records the signup notice, not the petition's.
    shown = Signature.objects.get().notice_version
    assert shown is not None and shown.notice.key == "signup"


def test_custom_questions_are_validated(signup, clock):
    q_choice, q_yes, q_text = signup.questions.all()
    response = sign(Client(), signup, clock, **{f"q_{q_yes.pk}": "forse", f"q_{q_text.pk}": "x" * 301})
    body = response.content.decode()
    assert response.status_code == 400
    assert "Rispondi a questa domanda." in body  # the required choice
    assert "Rispondi sì o no." in body
    assert "al massimo 300 caratteri" in body
    response = sign(Client(), signup, clock, **{f"q_{q_choice.pk}": "Notte"})
    assert "Scegli una delle opzioni proposte." in response.content.decode()
    assert Signature.objects.count() == 0


def test_a_choice_question_needs_two_distinct_options(signup, comms):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError, match="almeno due opzioni"):
        actions.add_question(actor=comms, petition=signup, label="Giorno?", kind=QuestionKind.CHOICE, choices=["Sab"])
    with pytest.raises(ValidationError, match="uguali"):
        actions.add_question(
            actor=comms, petition=signup, label="Giorno?", kind=QuestionKind.CHOICE, choices=["Sab", "Sab"]
        )
    assert signup.questions.count() == 3


def test_thank_you_page_asks_for_the_next_step(petition, clock):
    response = Client().get(reverse("petitions:thanks", args=[petition.slug]))
    body = response.content.decode()
    assert "il prossimo passo" in body and "wa.me" in body and petition.get_absolute_url() in body


def test_public_page_is_linked_from_the_public_navigation(petition):
    client = Client()
    index = client.get(reverse("web:home"))
    assert reverse("petitions:index") in index.content.decode()
    listing = client.get(reverse("petitions:index"))
    assert petition.get_absolute_url() in listing.content.decode()
    page = client.get(petition.get_absolute_url())
    assert page.status_code == 200 and "Più autobus notturni" in page.content.decode()
    assert 'data-testid="count">0<' in page.content.decode()


def test_counter_equals_signatures(petition, clock):
    for n in range(5):
        sign(Client(), petition, clock, email=f"p{n}@example.org", last_name=f"Cognome{n}", first_name=f"Nome{n}")
    assert queries.signature_count(petition.pk) == 5 == Signature.objects.filter(petition=petition).count()
    assert queries.counter_drift() == {}
    # The check sees a counter that drifted.
    petition.counters.filter(slot=0).update(signatures=99)
    assert petition.pk in queries.counter_drift()
