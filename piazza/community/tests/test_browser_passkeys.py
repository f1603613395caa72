"""Journey (issue 12, on a phone): Anna signs in by link, adds a passkey, signs out, signs in with
the passkey and removes it. Chromium's virtual authenticator (DevTools protocol) plays her phone:
a platform authenticator holding discoverable credentials, verifying her (fingerprint or PIN).

The live server answers on http://localhost:<port>: localhost is a secure context, so WebAuthn
runs over plain HTTP there, and the relying party id is the request's host, "localhost"."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlparse

import pytest
from django.core import mail
from playwright.sync_api import expect

from piazza.community.models import Passkey
from piazza.core.models import AuditEntry, AuditKind
from piazza.people.models import Email, Person
from piazza.web.testing_browser import assert_accessible

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ANNA = "anna.verdi@example.org"


NO_CONDITIONAL_UI = "PublicKeyCredential.isConditionalMediationAvailable = () => Promise.resolve(false);"


def _virtual_phone(page: Any) -> tuple[Any, str]:
    cdp = page.context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    added = cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
            }
        },
    )
    return cdp, added["authenticatorId"]


def _anna(tree: Any) -> Person:
    person = Person.objects.create(first_name="Anna", last_name="Verdi", territory=tree.bologna_centro)
    Email.objects.create(person=person, value=ANNA, primary=True)
    return person


def _sign_in_by_link(page: Any) -> None:
    page.goto("/il-mio-spazio/")
    page.get_by_label(re.compile("Il tuo indirizzo email")).fill(ANNA)
    page.get_by_role("button", name="Mandami il link").click()
    expect(page.get_by_role("status")).to_contain_text("Se l'indirizzo è registrato")
    found = re.search(r"http\S+/il-mio-spazio/accesso/\S+/", str(mail.outbox[-1].body))
    assert found
    page.goto(urlparse(found.group(0)).path)
    page.get_by_role("button", name="Entra in Il mio spazio").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Ciao Anna")


def test_person_adds_a_passkey_signs_in_with_it_and_removes_it(phone_page: Any, tree: Any, live_server: Any) -> None:
    assert urlparse(live_server.url).hostname == "localhost"
    person = _anna(tree)
    page = phone_page
    # As on a browser without conditional UI: Chromium's virtual authenticator would answer the
    # door's conditional request by itself (see the next test), and here the button is the path.
    page.add_init_script(NO_CONDITIONAL_UI)
    cdp, authenticator = _virtual_phone(page)

    page.goto("/il-mio-spazio/")
    assert page.viewport_size["width"] == 390
    expect(page.get_by_role("button", name="Accedi con una passkey")).to_be_visible()
    _sign_in_by_link(page)

    page.get_by_role("link", name="Aggiungi una passkey").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Accedi più in fretta con una passkey")
    assert_accessible(page)
    page.get_by_role("button", name="Aggiungi una passkey").click()  # no name yet: said, nothing asked of the phone
    expect(page.get_by_role("alert")).to_contain_text("Dai un nome alla passkey")
    assert_accessible(page)
    page.get_by_label("Nome della passkey").fill("Telefono di Anna")
    page.get_by_role("button", name="Aggiungi una passkey").click()
    expect(page.get_by_role("status")).to_contain_text("Passkey aggiunta")
    expect(page.locator("li.passkey")).to_contain_text("Telefono di Anna")
    expect(page.locator("li.passkey")).to_contain_text("mai usata per entrare")
    assert_accessible(page)
    credentials = cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator})["credentials"]
    assert len(credentials) == 1 and credentials[0]["isResidentCredential"]
    assert Passkey.objects.get().person == person

    page.get_by_role("link", name="← Torna a Il mio spazio").click()
    page.get_by_role("button", name="Esci da Il mio spazio").click()
    expect(page.get_by_role("status")).to_contain_text("Sei uscito da Il mio spazio")
    assert_accessible(page)

    page.get_by_role("button", name="Accedi con una passkey").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Ciao Anna")
    passkey = Passkey.objects.get()
    assert passkey.last_used_at is not None and passkey.sign_count >= 1
    assert AuditEntry.objects.filter(action="community.sign_in", kind=AuditKind.AUTH, data__passkey=passkey.pk).exists()

    page.get_by_role("link", name="La tua passkey (1)").click()
    expect(page.locator("li.passkey")).to_contain_text("ultimo uso il")
    page.get_by_role("button", name="Rimuovi la passkey Telefono di Anna").click()
    expect(page.get_by_role("status")).to_contain_text("Passkey rimossa")
    expect(page.get_by_text("Non hai ancora aggiunto nessuna passkey.")).to_be_visible()
    assert not Passkey.objects.exists()
    assert AuditEntry.objects.filter(action="community.remove_passkey").count() == 1

    # The phone still holds the key, but it no longer opens the space.
    page.get_by_role("link", name="← Torna a Il mio spazio").click()
    page.get_by_role("button", name="Esci da Il mio spazio").click()
    page.get_by_role("button", name="Accedi con una passkey").click()
    expect(page.get_by_role("alert")).to_contain_text("non è registrata da noi")
    assert_accessible(page)
    page.goto("/il-mio-spazio/")
    expect(page.get_by_role("button", name="Mandami il link")).to_be_visible()


def test_the_door_offers_the_phones_passkey_by_itself_where_the_browser_can(phone_page: Any, tree: Any) -> None:
    """Conditional UI: the door asks the browser for a passkey as it loads (mediation
    "conditional", offered in the email field); the virtual authenticator answers with its one
    credential, as a person picking it from the field's suggestions."""
    person = _anna(tree)
    page = phone_page
    _virtual_phone(page)
    _sign_in_by_link(page)
    page.get_by_role("link", name="Aggiungi una passkey").click()
    page.get_by_label("Nome della passkey").fill("Telefono")
    page.get_by_role("button", name="Aggiungi una passkey").click()
    expect(page.get_by_role("status")).to_contain_text("Passkey aggiunta")
    page.get_by_role("link", name="← Torna a Il mio spazio").click()
    page.get_by_role("button", name="Esci da Il mio spazio").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Ciao Anna")  # no click on the door
    assert Passkey.objects.get(person=person).last_used_at is not None
