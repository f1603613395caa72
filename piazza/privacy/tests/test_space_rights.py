"""Rule G5 from Il mio spazio (issue 12): the signed-in person asks for a copy of their data
without a second email round trip (delivered to their verified address) and asks to be erased
after a page saying what goes and what the law keeps; the erasure request is a DataRequest on the
privacy officer's board with its one-month deadline, and executing it answers it (audited)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.urls import reverse

from piazza.community.tests.conftest import sign_in
from piazza.core.models import AuditEntry
from piazza.people.models import Email
from piazza.privacy.models import AddressLink, DataExport, DataRequest, ExportState, RequestKind, RequestStatus
from piazza.privacy.tests.conftest import DONOR_EMAIL
from piazza.territory.testing import verified_client

pytestmark = pytest.mark.django_db


@pytest.fixture
def signed_in(client: Any, subject: Any, django_capture_on_commit_callbacks: Any, mailoutbox: list[Any]) -> Any:
    sign_in(client, DONOR_EMAIL, django_capture_on_commit_callbacks)
    mailoutbox.clear()
    return client


def test_g5_the_space_offers_the_data_rights(signed_in: Any) -> None:
    html = signed_in.get(reverse("community:home")).content.decode()
    assert f'action="{reverse("privacy:space_export")}"' in html
    assert f'href="{reverse("privacy:space_erasure")}"' in html


def test_g5_a_copy_from_the_space_goes_to_the_verified_address_without_a_confirmation_link(
    signed_in: Any, subject: Any, mailoutbox: list[Any], django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        response = signed_in.post(reverse("privacy:space_export"))
    assert response.status_code == 302 and response["Location"] == reverse("privacy:request_status")
    request = DataRequest.objects.get(person=subject, kind=RequestKind.EXPORT)
    assert request.email == DONOR_EMAIL and request.channel == "online"
    assert DataExport.objects.get(request=request).state == ExportState.READY
    assert not AddressLink.objects.exists()  # no second round trip
    assert [m.to for m in mailoutbox] == [[DONOR_EMAIL]] and "/privacy/i-miei-dati/scarica/" in mailoutbox[0].body
    assert "La copia è pronta" in signed_in.get(reverse("privacy:request_status")).content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        signed_in.post(reverse("privacy:space_export"))  # a double click: the same request, no new email
    assert DataRequest.objects.filter(kind=RequestKind.EXPORT).count() == 1 and len(mailoutbox) == 1


def test_g5_without_a_verified_address_the_copy_is_refused_and_nothing_is_written(signed_in: Any, subject: Any) -> None:
    Email.objects.filter(person=subject).update(verified=False)
    response = signed_in.post(reverse("privacy:space_export"))
    assert response.status_code == 400 and "indirizzo email confermato" in response.content.decode()
    assert not DataRequest.objects.exists()


def test_g5_signed_out_nothing_is_done(client: Any, subject: Any) -> None:
    for name in ("privacy:space_export", "privacy:space_erasure"):
        response = client.post(reverse(name))
        assert response.status_code == 403 and "Non è stato fatto nulla" in response.content.decode()
    assert client.get(reverse("privacy:space_erasure"))["Location"] == reverse("community:door")
    assert not DataRequest.objects.exists()


def test_g5_erasure_asked_from_the_space_lands_on_the_board_and_the_officer_answers_it(
    signed_in: Any, subject: Any, privacy_officer: Any, settings: Any
) -> None:
    settings.PRIVACY_LEGAL_HOLDS = {
        **settings.PRIVACY_LEGAL_HOLDS,
        "accounting": {**settings.PRIVACY_LEGAL_HOLDS["accounting"], "years": 12},
    }
    page = signed_in.get(reverse("privacy:space_erasure")).content.decode()
    assert "Cosa la legge ci obbliga a conservare" in page and "codice civile: per 12 anni" in page
    assert "art. 2220" not in page and "F1" not in page  # words, not references or rule ids
    assert not DataRequest.objects.exists()  # the page alone asks nothing
    assert signed_in.post(reverse("privacy:space_erasure")).status_code == 200
    signed_in.post(reverse("privacy:space_erasure"))  # twice: still one request
    request = DataRequest.objects.get(person=subject, kind=RequestKind.ERASURE)
    assert (request.status, request.due_on, request.email) == (
        RequestStatus.RECEIVED,
        dt.date(2026, 7, 10),
        DONOR_EMAIL,
    )
    assert AuditEntry.objects.filter(action="privacy.request_erasure", object_id=str(request.pk)).count() == 1

    officer = verified_client(privacy_officer)
    board = officer.get(reverse("privacy:board")).content.decode()
    assert f'id="request-{request.pk}"' in board and reverse("privacy:erase", args=[subject.pk]) in board
    response = officer.post(reverse("privacy:erase", args=[subject.pk]), {"confirm": "cancella"})
    assert response.status_code == 302, response.content.decode()[:800]
    request.refresh_from_db()
    subject.refresh_from_db()
    assert subject.erased_at is not None and request.status == RequestStatus.ANSWERED
    assert AuditEntry.objects.get(action="privacy.answer_erasure_request").actor_id == privacy_officer.pk
    # The space is closed to the erased person.
    assert signed_in.get(reverse("privacy:space_erasure"))["Location"] == reverse("community:door")
