"""Rule G5 on the person's path: ask with an address, confirm by the emailed link, watch the
progress, download once by the second emailed link; the request, the production and the
download are in the audit log. Convention 16: the public answers reveal nothing."""

from __future__ import annotations

import datetime as dt
import io
import json
import re
import zipfile
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
from django.urls import reverse
from django.utils import timezone

from piazza.core.models import AuditEntry
from piazza.privacy.models import DataExport, DataRequest, ExportState, RequestChannel, RequestStatus, add_months
from piazza.privacy.tasks import expire_export_links
from piazza.privacy.tests.conftest import DONOR_EMAIL

pytestmark = pytest.mark.django_db

SAME_ANSWER = "Se questo indirizzo è tra quelli che conosciamo"


def _link(mail: Any) -> str:
    match = re.search(r"https?://\S+", mail.body)
    assert match, mail.body
    return urlparse(match.group(0)).path


def _ask_and_confirm(client: Any, mailoutbox: list[Any], capture: Any, email: str = DONOR_EMAIL) -> Any:
    with capture(execute=True):
        response = client.post(reverse("privacy:request_export"), {"email": email.upper()})
    assert response.status_code == 200 and SAME_ANSWER in response.content.decode()
    confirm = _link(mailoutbox[-1])
    assert client.get(confirm).status_code == 200  # a mail scanner's GET spends nothing
    assert not DataRequest.objects.exists()
    with capture(execute=True):
        return client.post(confirm)


def test_a_person_asks_confirms_and_downloads_their_data_once(
    client, subject, mailoutbox, django_capture_on_commit_callbacks, private_root
):
    response = _ask_and_confirm(client, mailoutbox, django_capture_on_commit_callbacks)
    assert response.status_code == 302 and response["Location"] == reverse("privacy:request_status")

    request = DataRequest.objects.get()
    assert (request.person_id, request.channel, request.email) == (subject.pk, RequestChannel.ONLINE, DONOR_EMAIL)
    assert request.due_on == add_months(timezone.localdate(), 1)  # GDPR art. 12(3)
    export = DataExport.objects.get(request=request)
    assert export.state == ExportState.READY  # produced by the task, run by the queue after the commit
    assert Path(private_root, export.json_file.name).exists() and Path(private_root, export.pdf_file.name).exists()

    page = client.get(reverse("privacy:request_status")).content.decode()
    assert "La copia è pronta" in page

    download_mail = mailoutbox[-1]
    assert download_mail.to == [DONOR_EMAIL]
    download = _link(download_mail)
    assert client.get(download).status_code == 200
    export.refresh_from_db()
    assert export.downloaded_at is None  # GET spends nothing either

    response = client.post(download)
    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    assert sorted(archive.namelist()) == ["i-miei-dati.json", "i-miei-dati.pdf"]
    document = json.loads(archive.read("i-miei-dati.json"))
    assert document["sections"]["people"]["people.person"][0]["codice_fiscale"] == subject.codice_fiscale
    assert archive.read("i-miei-dati.pdf").startswith(b"%PDF")

    export.refresh_from_db()
    request.refresh_from_db()
    assert export.state == ExportState.DOWNLOADED and request.status == RequestStatus.ANSWERED
    assert not export.json_file and not list(Path(private_root).rglob("*.json"))  # the copies are gone

    again = client.post(download)
    assert again.status_code == 410 and "già stato usato" in again.content.decode()

    actions = list(AuditEntry.objects.filter(action__startswith="privacy.").values_list("action", flat=True))
    for expected in (
        "privacy.request_address_link",
        "privacy.open_address_link",
        "privacy.request_export",
        "privacy.produce_export",
        "privacy.send_download_link",
        "privacy.download_export",
    ):
        assert expected in actions, expected


def test_an_unknown_address_gets_the_same_answer_and_no_email(
    client, subject, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("privacy:request_export"), {"email": "nessuno@example.org"})
    assert response.status_code == 200 and SAME_ANSWER in response.content.decode()
    assert mailoutbox == []
    assert AuditEntry.objects.filter(action="privacy.request_address_link", data__sent=False).exists()


def test_a_bad_address_gets_an_actionable_error_and_nothing_is_written(client, subject, mailoutbox):
    response = client.post(reverse("privacy:request_export"), {"email": "non-una-email"})
    assert response.status_code == 400 and "non è valido" in response.content.decode()
    assert not AuditEntry.objects.filter(action="privacy.request_address_link").exists()
    assert mailoutbox == []


def test_a_spent_confirmation_link_creates_nothing_more(
    client, subject, mailoutbox, django_capture_on_commit_callbacks
):
    _ask_and_confirm(client, mailoutbox, django_capture_on_commit_callbacks)
    confirm = _link(mailoutbox[0])
    response = client.post(confirm)
    assert response.status_code == 403 and "già stato usato" in response.content.decode()
    assert DataRequest.objects.count() == 1


def test_an_expired_download_link_is_refused_and_the_files_are_removed(
    client, subject, mailoutbox, django_capture_on_commit_callbacks, clock, settings, private_root
):
    _ask_and_confirm(client, mailoutbox, django_capture_on_commit_callbacks)
    download = _link(mailoutbox[-1])
    clock.tick(dt.timedelta(hours=settings.PRIVACY_EXPORT_LINK_HOURS, seconds=1))
    response = client.post(download)
    assert response.status_code == 410 and "scaduto" in response.content.decode()
    assert expire_export_links.call() == 1
    export = DataExport.objects.get()
    assert export.state == ExportState.EXPIRED and not list(Path(private_root).rglob("*.pdf"))
    # The request is not answered: it stays on the privacy officer's board.
    assert DataRequest.objects.get().status == RequestStatus.IN_PROGRESS


def test_a_fourth_link_for_one_address_within_the_hour_is_not_sent(
    client, subject, mailoutbox, django_capture_on_commit_callbacks
):
    for _ in range(4):
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(reverse("privacy:request_export"), {"email": DONOR_EMAIL})
        assert SAME_ANSWER in response.content.decode()
    assert len(mailoutbox) == 3


def test_a_failed_production_is_shown_on_the_request_page_and_recorded(
    client, subject, mailoutbox, django_capture_on_commit_callbacks, monkeypatch
):
    def broken(person: Any) -> Any:
        raise RuntimeError("a handler broke")

    monkeypatch.setattr("piazza.privacy.export.registry.collect", broken)
    # The queue records the task as failed; the person's confirmation itself went through.
    assert _ask_and_confirm(client, mailoutbox, django_capture_on_commit_callbacks).status_code == 302
    export = DataExport.objects.get()
    assert export.state == ExportState.FAILED and not export.json_file
    assert AuditEntry.objects.filter(action="privacy.produce_export_failed").exists()
    assert len(mailoutbox) == 1  # the confirmation link only: no download link for nothing
    page = client.get(reverse("privacy:request_status")).content.decode()
    assert "Non siamo riusciti a preparare la copia" in page


def test_the_request_page_refreshes_itself_while_the_copy_is_being_prepared(
    client, subject, mailoutbox, django_capture_on_commit_callbacks
):
    _ask_and_confirm(client, mailoutbox, django_capture_on_commit_callbacks)
    assert 'http-equiv="refresh"' not in client.get(reverse("privacy:request_status")).content.decode()
    DataExport.objects.update(state=ExportState.QUEUED)  # as seen while the worker has not yet run
    page = client.get(reverse("privacy:request_status")).content.decode()
    assert 'http-equiv="refresh"' in page and "Stiamo preparando la copia" in page
