"""Passkeys in Il mio spazio (issue 12, docs/adr/0018): a person signed in by link adds one, then
signs in with it into the same space session. The browser's answers are real WebAuthn answers
made by a software authenticator (`testing_passkeys`), verified by py_webauthn end to end."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.test import Client, override_settings
from django.urls import reverse

from piazza.community import actions, passkeys
from piazza.community.models import Passkey, PasskeyChallenge
from piazza.community.personal_data import export
from piazza.community.session import SESSION_KEY
from piazza.community.testing_passkeys import SoftAuthenticator
from piazza.community.tests.conftest import sign_in
from piazza.core.models import AuditEntry, AuditKind
from piazza.people.actions import duplicates as duplicates_people_actions
from piazza.people.models import Email, Person
from piazza.privacy.erasure import erase_person

pytestmark = [pytest.mark.django_db]

ANNA = "anna.verdi@example.org"
RP = passkeys.RelyingParty(id="testserver", origins=["http://testserver"], name="Il mio spazio")


@pytest.fixture
def anna(tree: Any) -> Person:
    person = Person.objects.create(first_name="Anna", last_name="Verdi", territory=tree.bologna_centro)
    Email.objects.create(person=person, value=ANNA, primary=True)
    return person


@pytest.fixture
def signed_in(anna: Person, django_capture_on_commit_callbacks: Any) -> Client:
    client = Client()
    sign_in(client, ANNA, django_capture_on_commit_callbacks)
    return client


def _post_json(client: Client, name: str, body: dict[str, Any]) -> Any:
    return client.post(reverse(name), data=json.dumps(body), content_type="application/json")


def add_passkey(client: Client, authenticator: SoftAuthenticator, name: str = "Telefono") -> Any:
    options = client.post(reverse("community:passkey_register_options"))
    assert options.status_code == 200, options.content
    credential = authenticator.create(options.json())
    return _post_json(client, "community:passkey_register", {"name": name, "credential": credential})


def passkey_sign_in(client: Client, authenticator: SoftAuthenticator, **how: Any) -> Any:
    options = client.post(reverse("community:passkey_sign_in_options"))
    assert options.status_code == 200, options.content
    return _post_json(client, "community:passkey_sign_in", {"credential": authenticator.get(options.json(), **how)})


def refusals(code: str) -> int:
    return AuditEntry.objects.filter(kind=AuditKind.DENIED, data__code=code).count()


def test_a_person_adds_a_passkey_signs_out_and_signs_in_with_it(signed_in: Client, anna: Person) -> None:
    home = signed_in.get(reverse("community:home")).content.decode()
    assert "Accedi più in fretta con una passkey" in home and reverse("community:passkeys") in home
    page = signed_in.get(reverse("community:passkeys")).content.decode()
    assert "Non hai ancora aggiunto nessuna passkey" in page and "Nome della passkey" in page

    options = signed_in.post(reverse("community:passkey_register_options")).json()
    assert options["rp"]["id"] == "testserver"
    assert options["authenticatorSelection"]["residentKey"] == "required"
    assert options["authenticatorSelection"]["userVerification"] == "required"
    assert str(anna.pk) not in options["user"]["id"]  # the handle is a keyed hash, not the record's id
    authenticator = SoftAuthenticator()
    credential = authenticator.create(options)
    added = _post_json(signed_in, "community:passkey_register", {"name": "Telefono", "credential": credential})
    assert added.status_code == 200 and added.json() == {"redirect": reverse("community:passkeys")}
    passkey = Passkey.objects.get()
    assert (passkey.person, passkey.name, passkey.sign_count, passkey.last_used_at) == (anna, "Telefono", 0, None)
    assert AuditEntry.objects.get(action="community.add_passkey").object_id == str(anna.pk)
    page = signed_in.get(reverse("community:passkeys")).content.decode()
    assert "Passkey aggiunta" in page and "Telefono" in page and "mai usata per entrare" in page

    signed_in.post(reverse("community:sign_out"))
    assert signed_in.get(reverse("community:home"))["Location"] == reverse("community:door")

    before = signed_in.session.session_key
    entered = passkey_sign_in(signed_in, authenticator)
    assert entered.status_code == 200 and entered.json() == {"redirect": reverse("community:home")}
    assert signed_in.session[SESSION_KEY]["id"] == anna.pk  # the same space session as the link's
    assert signed_in.session.session_key != before
    assert "Ciao Anna" in signed_in.get(reverse("community:home")).content.decode()
    passkey.refresh_from_db()
    assert passkey.sign_count == 1 and passkey.last_used_at is not None
    entry = AuditEntry.objects.filter(action="community.sign_in", kind=AuditKind.AUTH).latest("pk")
    assert entry.object_id == str(anna.pk) and entry.data["passkey"] == passkey.pk
    assert "ultimo uso il" in signed_in.get(reverse("community:passkeys")).content.decode()


def test_the_door_offers_a_passkey_beside_the_email_link(client: Client) -> None:
    door = client.get(reverse("community:door")).content.decode()
    assert "Accedi con una passkey" in door and "Mandami il link" in door
    assert 'autocomplete="email webauthn"' in door  # conditional UI: passkeys offered in the field
    assert "community/passkeys.js" in door and "<script>" not in door  # no inline script (CSP)


def test_the_sign_in_options_name_no_credential(client: Client, signed_in: Client) -> None:
    """Discoverable credentials: the options never tell whether someone has a passkey."""
    assert add_passkey(signed_in, SoftAuthenticator()).status_code == 200
    options = client.post(reverse("community:passkey_sign_in_options")).json()
    assert options.get("allowCredentials", []) == [] and options["userVerification"] == "required"


def test_a_replayed_answer_is_refused(signed_in: Client, anna: Person) -> None:
    authenticator = SoftAuthenticator()
    add_passkey(signed_in, authenticator)
    client = Client()
    options = client.post(reverse("community:passkey_sign_in_options")).json()
    answer = {"credential": authenticator.get(options)}
    assert _post_json(client, "community:passkey_sign_in", answer).status_code == 200
    other = Client()
    for replay in (client, other):  # the same session (challenge gone) and a stranger's
        replay.post(reverse("community:sign_out"))
        refused = _post_json(replay, "community:passkey_sign_in", answer)
        assert refused.status_code == 403 and "scaduta o è già stata usata" in refused.json()["error"]
        assert SESSION_KEY not in replay.session


def test_a_challenge_is_spent_once_even_by_the_action_itself(signed_in: Client) -> None:
    """Two requests racing with one session both hold the challenge: the conditional UPDATE lets one win."""
    authenticator = SoftAuthenticator()
    add_passkey(signed_in, authenticator)
    options, challenge = actions.start_passkey_sign_in(actor=None, rp=RP)
    answer = authenticator.get(json.loads(options))
    assert actions.sign_in_with_passkey(actor=None, rp=RP, challenge=challenge, credential=answer)
    with pytest.raises(ValidationError) as refused:
        actions.sign_in_with_passkey(actor=None, rp=RP, challenge=challenge, credential=answer)
    assert refused.value.code == "no_challenge"
    assert PasskeyChallenge.objects.get(challenge_hash=passkeys.challenge_digest(challenge)).used_at is not None


def test_an_answer_made_for_another_origin_or_site_is_refused(signed_in: Client, anna: Person) -> None:
    authenticator = SoftAuthenticator()
    add_passkey(signed_in, authenticator)
    client = Client()
    refused = passkey_sign_in(client, authenticator, origin="https://piazza.example.evil")
    assert refused.status_code == 403 and "Non siamo riusciti a verificare la passkey" in refused.json()["error"]
    refused = passkey_sign_in(client, authenticator, rp_id="example.evil")
    assert refused.status_code == 403
    assert SESSION_KEY not in client.session and refusals("invalid") == 2
    assert Passkey.objects.get().last_used_at is None


def test_a_registration_from_another_origin_is_refused(signed_in: Client) -> None:
    options = signed_in.post(reverse("community:passkey_register_options")).json()
    credential = SoftAuthenticator().create(options, origin="https://piazza.example.evil")
    refused = _post_json(signed_in, "community:passkey_register", {"name": "Telefono", "credential": credential})
    assert refused.status_code == 400 and "non ha confermato la passkey" in refused.json()["error"]
    assert not Passkey.objects.exists()


def test_user_verification_is_required(signed_in: Client) -> None:
    authenticator = SoftAuthenticator(user_verified=False)
    assert add_passkey(signed_in, authenticator).status_code == 400
    assert not Passkey.objects.exists()
    authenticator.user_verified = True
    assert add_passkey(signed_in, authenticator).status_code == 200
    authenticator.user_verified = False  # a key that signs without asking for the fingerprint or PIN
    assert passkey_sign_in(Client(), authenticator).status_code == 403


def test_a_counter_going_back_means_a_cloned_key_and_is_refused(signed_in: Client) -> None:
    authenticator = SoftAuthenticator()
    add_passkey(signed_in, authenticator)
    assert passkey_sign_in(Client(), authenticator).status_code == 200
    refused = passkey_sign_in(Client(), authenticator, count=False)  # the copy still says 1
    assert refused.status_code == 403 and "copiata su un altro dispositivo" in refused.json()["error"]
    assert refusals("clone_suspected") == 1


def test_a_removed_passkey_no_longer_opens_the_space(signed_in: Client, anna: Person) -> None:
    authenticator = SoftAuthenticator()
    add_passkey(signed_in, authenticator, name="Vecchio telefono")
    passkey = Passkey.objects.get()
    page = signed_in.post(reverse("community:passkey_remove", args=[passkey.pk]), follow=True).content.decode()
    assert "Passkey rimossa" in page and "Vecchio telefono" not in page
    assert not Passkey.objects.exists()
    entry = AuditEntry.objects.get(action="community.remove_passkey")
    assert entry.object_id == str(anna.pk) and entry.data["passkey"] == passkey.pk
    client = Client()
    refused = passkey_sign_in(client, authenticator)
    assert refused.status_code == 403 and "non è registrata" in refused.json()["error"]
    assert SESSION_KEY not in client.session


def test_nobody_removes_someone_elses_passkey(
    signed_in: Client, tree: Any, django_capture_on_commit_callbacks: Any
) -> None:
    add_passkey(signed_in, SoftAuthenticator())
    passkey = Passkey.objects.get()
    mario = Person.objects.create(first_name="Mario", last_name="Bianchi", territory=tree.bologna_centro)
    Email.objects.create(person=mario, value="mario@example.org", primary=True)
    other = Client()
    sign_in(other, "mario@example.org", django_capture_on_commit_callbacks)
    page = other.post(reverse("community:passkey_remove", args=[passkey.pk]), follow=True).content.decode()
    assert "non risulta tra le tue" in page
    assert Passkey.objects.filter(pk=passkey.pk).exists() and refusals("not_owner") == 1
    anonymous = Client().post(reverse("community:passkey_remove", args=[passkey.pk]))
    assert anonymous.status_code == 403 and Passkey.objects.filter(pk=passkey.pk).exists()


def test_adding_needs_a_signed_in_person_and_a_name(signed_in: Client) -> None:
    assert Client().post(reverse("community:passkey_register_options")).status_code == 403
    options = signed_in.post(reverse("community:passkey_register_options")).json()
    credential = SoftAuthenticator().create(options)
    refused = _post_json(signed_in, "community:passkey_register", {"name": "  ", "credential": credential})
    assert refused.status_code == 400 and "Dai un nome alla passkey" in refused.json()["error"]
    refused = _post_json(signed_in, "community:passkey_register", {"name": "x" * 61, "credential": credential})
    assert refused.status_code == 400 and "al massimo 60 caratteri" in refused.json()["error"]
    garbled = signed_in.post(reverse("community:passkey_register"), data="{", content_type="application/json")
    assert garbled.status_code == 400 and "non è arrivata intera" in garbled.json()["error"]
    assert not Passkey.objects.exists()


def test_a_registration_challenge_belongs_to_its_session(
    signed_in: Client, tree: Any, django_capture_on_commit_callbacks: Any
) -> None:
    """A challenge handed to Anna's browser is worth nothing in Mario's session."""
    options = signed_in.post(reverse("community:passkey_register_options")).json()
    mario = Person.objects.create(first_name="Mario", last_name="Bianchi", territory=tree.bologna_centro)
    Email.objects.create(person=mario, value="mario@example.org", primary=True)
    other = Client()
    sign_in(other, "mario@example.org", django_capture_on_commit_callbacks)
    credential = SoftAuthenticator().create(options)
    refused = _post_json(other, "community:passkey_register", {"name": "Telefono", "credential": credential})
    assert refused.status_code == 400 and "scaduta o è già stata usata" in refused.json()["error"]
    assert not Passkey.objects.exists()


def test_a_challenge_expires(signed_in: Client, clock: Any) -> None:
    authenticator = SoftAuthenticator()
    add_passkey(signed_in, authenticator)
    client = Client()
    options = client.post(reverse("community:passkey_sign_in_options")).json()
    clock.tick(301)
    refused = _post_json(client, "community:passkey_sign_in", {"credential": authenticator.get(options)})
    assert refused.status_code == 403 and SESSION_KEY not in client.session


def test_a_person_may_not_pile_up_passkeys(signed_in: Client) -> None:
    with override_settings(COMMUNITY_PASSKEY_MAX_PER_PERSON=1):
        assert add_passkey(signed_in, SoftAuthenticator()).status_code == 200
        refused = signed_in.post(reverse("community:passkey_register_options"))
        assert refused.status_code == 400 and "rimuovine una" in refused.json()["error"]


@override_settings(COMMUNITY_PASSKEY_ATTEMPTS_PER_CLIENT=2, COMMUNITY_PASSKEY_CHALLENGES_PER_CLIENT=3)
def test_passkey_sign_in_is_rate_limited_per_client(signed_in: Client) -> None:
    authenticator = SoftAuthenticator()
    add_passkey(signed_in, authenticator)
    client = Client()
    assert passkey_sign_in(client, authenticator, origin="https://evil.example").status_code == 403
    assert passkey_sign_in(client, authenticator, origin="https://evil.example").status_code == 403
    options = client.post(reverse("community:passkey_sign_in_options"))
    over = _post_json(client, "community:passkey_sign_in", {"credential": authenticator.get(options.json())})
    assert over.status_code == 429 and "Troppi tentativi" in over.json()["error"]
    assert SESSION_KEY not in client.session
    assert client.post(reverse("community:passkey_sign_in_options")).status_code == 429


def test_a_merge_moves_the_passkeys_to_the_surviving_record(
    signed_in: Client, anna: Person, tree: Any, national_admin: Any
) -> None:
    authenticator = SoftAuthenticator()
    add_passkey(signed_in, authenticator)
    survivor = Person.objects.create(first_name="Anna", last_name="Verdi", territory=tree.bologna_centro)
    duplicates_people_actions.merge_people(actor=national_admin, survivor=survivor, merged=anna)
    assert Passkey.objects.get().person == survivor
    client = Client()
    assert passkey_sign_in(client, authenticator).status_code == 200
    assert client.session[SESSION_KEY]["id"] == survivor.pk  # the live record, never the merged one


def test_erasure_deletes_the_passkeys(signed_in: Client, anna: Person) -> None:
    authenticator = SoftAuthenticator()
    add_passkey(signed_in, authenticator)
    erase_person(actor=None, person=anna, reason="richiesta della persona")
    assert not Passkey.objects.exists()
    client = Client()
    assert passkey_sign_in(client, authenticator).status_code == 403
    assert SESSION_KEY not in client.session


def test_the_passkeys_are_in_the_persons_data_export(signed_in: Client, anna: Person) -> None:
    add_passkey(signed_in, SoftAuthenticator(), name="Computer di casa")
    rows = export(anna)["community.passkey"]
    assert [r["name"] for r in rows] == ["Computer di casa"] and "public_key" not in rows[0]
