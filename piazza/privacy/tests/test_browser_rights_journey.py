"""Issue 12 "Done when", on a phone (390×844): a donor with a monthly gift and consents signs in
by the emailed link, downloads her data, withdraws a consent, cancels the monthly gift and asks
for erasure from Il mio spazio; the privacy officer (national role) executes it from the board.
Afterwards the erasure sweep (tests/test_erasure_sweep.py) finds nothing of hers outside the
legal holds, and the ledger balances (check_ledger). Rules G3, G5; every page passes axe."""

from __future__ import annotations

import io
import json
import re
import zipfile
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
from django.core import mail
from playwright.sync_api import expect

from piazza.core.models import AuditEntry
from piazza.funding.tests.conftest import build_live_campaign
from piazza.funding.tests.flows import give
from piazza.payments.models import RecurringSchedule, ScheduleState
from piazza.people.actions.consent import record_consent
from piazza.people.models import Channel, Consent, Person, Purpose
from piazza.privacy.erasure import declarations
from piazza.privacy.models import DataRequest, ExportState, LegalHold, RequestKind, RequestStatus
from piazza.privacy.tests.conftest import DONOR_EMAIL
from piazza.territory.models import Role
from piazza.territory.testing import make_official, verified_client
from piazza.web.testing_browser import assert_accessible
from tests.test_erasure_sweep import KEEP, LINK, _held, _leftovers

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("check_ledger")]
WAIT = 45_000


def _emailed_path(pattern: str) -> str:
    found = re.search(pattern, str(mail.outbox[-1].body))
    assert found and mail.outbox[-1].to == [DONOR_EMAIL], mail.outbox[-1].body
    return urlparse(found.group(0)).path


def test_g5_donor_downloads_withdraws_cancels_asks_erasure_and_the_officer_erases(
    phone_page: Any, live_server: Any, tree: Any
) -> None:
    owner = make_official("tesoriere.centro", tree.bologna_centro, [Role.ORGANISATION, Role.TREASURY])
    approver = make_official("federazione.bo", tree.bologna, [Role.ORGANISATION, Role.TREASURY])
    campaign = build_live_campaign(tree, owner, approver)
    give(campaign, 2500)
    give(campaign, 1000, frequency="monthly")
    person = Person.objects.filter(donations__isnull=False, emails__value=DONOR_EMAIL).distinct().get()
    for purpose in (Purpose.POLITICAL_COMMUNICATION, Purpose.NEWSLETTER):
        record_consent(
            actor=None,
            person=person,
            purpose=purpose,
            channel=Channel.PAPER,
            text_version="2025.1",
            evidence="modulo al gazebo",
        )
    keep = {
        (m._meta.label_lower, n)
        for m, fields in declarations()[0].items()
        for n, t in fields.items()
        if t in (KEEP, LINK)
    }
    assert _leftovers(keep, {}), "the sweep must see the donor's data before erasure"
    mail.outbox.clear()

    page = phone_page
    assert page.viewport_size == {"width": 390, "height": 844}
    page.goto("/il-mio-spazio/")
    assert_accessible(page)
    page.get_by_label(re.compile("Il tuo indirizzo email")).fill(DONOR_EMAIL)
    page.get_by_role("button", name="Mandami il link").click()
    expect(page.get_by_role("status")).to_contain_text("Se l'indirizzo è registrato")
    page.goto(_emailed_path(r"http\S+/il-mio-spazio/accesso/\S+/"))
    assert_accessible(page)
    page.get_by_role("button", name="Entra in Il mio spazio").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Ciao Giulia")
    assert_accessible(page)

    # The copy: no second round trip to prove the address, the link goes to the verified address.
    sent_before = len(mail.outbox)
    page.get_by_role("button", name="Chiedi una copia dei tuoi dati").click()
    expect(page.locator(".progress")).to_contain_text("La copia è pronta", timeout=WAIT)
    assert_accessible(page)
    assert len(mail.outbox) == sent_before + 1  # only the download link, no confirmation round trip
    export_request = DataRequest.objects.get(person=person, kind=RequestKind.EXPORT)
    assert export_request.email == DONOR_EMAIL and export_request.export.state == ExportState.READY
    page.goto(_emailed_path(r"http\S+/privacy/i-miei-dati/scarica/\S+/"))
    assert_accessible(page)
    with page.expect_download() as info:
        page.get_by_role("button", name="Scarica l'archivio").click()
    archive = zipfile.ZipFile(io.BytesIO(Path(info.value.path()).read_bytes()))
    document = json.loads(archive.read("i-miei-dati.json"))
    assert document["sections"]["people"]["people.person"][0]["first_name"] == "Giulia"
    export_request.refresh_from_db()
    assert export_request.status == RequestStatus.ANSWERED

    # G3: withdrawing is one click, as giving was; then the monthly gift ends.
    page.goto("/il-mio-spazio/")
    page.get_by_role("button", name="Revoca il consenso: Comunicazione politica").click()
    expect(page.get_by_role("status")).to_contain_text("consenso revocato")
    latest = (
        Consent.objects.filter(person=person, purpose=Purpose.POLITICAL_COMMUNICATION).order_by("-at", "-id").first()
    )
    assert latest is not None and not latest.granted
    page.get_by_role("button", name="Annulla la donazione ricorrente di 10,00 €").click()
    expect(page.get_by_role("status")).to_contain_text("Donazione mensile annullata")
    assert RecurringSchedule.objects.get().state == ScheduleState.CANCELED
    assert_accessible(page)

    # Erasure: what goes and what the law keeps, in words, then the request lands on the board.
    page.get_by_role("link", name="Chiedi la cancellazione dei tuoi dati").click()
    expect(page.get_by_role("heading", name="Cosa la legge ci obbliga a conservare")).to_be_visible()
    expect(page.locator("main")).to_contain_text("codice civile")
    assert_accessible(page)
    page.get_by_role("button", name="Chiedi la cancellazione dei miei dati").click()
    expect(page.locator("#erasure-requested")).to_contain_text(re.compile("entro il 10 luglio 2026", re.IGNORECASE))
    assert_accessible(page)
    erasure_request = DataRequest.objects.get(person=person, kind=RequestKind.ERASURE)
    assert erasure_request.status == RequestStatus.RECEIVED

    # The privacy officer (national) executes it from the board.
    officer = make_official("privacy.nazionale", tree.national, [Role.PRIVACY_OFFICER])
    page.context.clear_cookies()
    client = verified_client(officer)
    page.context.add_cookies(
        [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": live_server.url}]
    )
    page.goto("/privacy/gestione/richieste/")
    row = page.locator(f"#request-{erasure_request.pk}")
    expect(row).to_contain_text("Cancellazione", timeout=WAIT)
    assert_accessible(page)
    row.get_by_role("link", name=re.compile("Esegui la cancellazione")).click()
    expect(page.locator("#open-request")).to_contain_text("10/07/2026")
    assert_accessible(page)
    page.get_by_label(re.compile("per confermare")).fill("CANCELLA")
    page.get_by_role("button", name="Cancella i dati").click()
    expect(page.locator("main")).to_contain_text("I dati di questa persona sono stati cancellati", timeout=WAIT)
    assert_accessible(page)

    person.refresh_from_db()
    erasure_request.refresh_from_db()
    assert person.erased_at is not None and erasure_request.status == RequestStatus.ANSWERED
    assert AuditEntry.objects.filter(
        action="privacy.answer_erasure_request", actor=officer, object_id=str(erasure_request.pk)
    ).exists()
    assert {"accounting"} <= set(LegalHold.objects.values_list("kind", flat=True))
    left = _leftovers(keep, _held())
    assert not left, left
