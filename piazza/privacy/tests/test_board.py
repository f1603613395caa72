"""Rule G5 in the back office: an official records a request received on paper for a person in
their scope (audited, delivered to the person's own address); the national privacy officer's
board lists pending requests with their GDPR deadline, overdue ones highlighted; nobody else sees it."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse
from django.utils import timezone

from piazza.core.models import AuditEntry, AuditKind
from piazza.privacy.models import DataExport, DataRequest, ExportState, RequestChannel, RequestKind, RequestStatus
from piazza.privacy.tests.conftest import DONOR_EMAIL
from piazza.territory.actions import assign_role
from piazza.territory.models import Role
from piazza.territory.testing import make_official, verified_client

# The deadlines below are written as dates: the clock is pinned to the day they are counted from.
pytestmark = [pytest.mark.django_db, pytest.mark.clock("2026-06-10 10:00")]


def _paper(client: Any, person: Any, **data: Any) -> Any:
    values = {
        "kind": RequestKind.EXPORT,
        "received_on": "2026-06-01",
        "email": DONOR_EMAIL,
        "notes": "lettera raccomandata n. 12",
    }
    values.update(data)
    return client.post(reverse("privacy:paper_request", args=[person.pk]), values)


def test_an_official_records_a_paper_request_and_the_export_goes_to_the_persons_address(
    subject, bologna_official, mailoutbox, django_capture_on_commit_callbacks
):
    client = verified_client(bologna_official)
    page = client.get(reverse("privacy:paper_request", args=[subject.pk]))
    assert page.status_code == 200 and DONOR_EMAIL in page.content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        response = _paper(client, subject)
    assert response.status_code == 200, response.content.decode()
    assert "1 luglio 2026" in response.content.decode().lower(), response.content.decode()[-1500:]  # 1 June + 1 month
    request = DataRequest.objects.get()
    assert (request.channel, request.recorded_by, request.received_on, request.due_on) == (
        RequestChannel.PAPER,
        bologna_official,
        dt.date(2026, 6, 1),
        dt.date(2026, 7, 1),
    )
    assert DataExport.objects.get(request=request).state == ExportState.READY
    assert mailoutbox[-1].to == [DONOR_EMAIL]
    assert AuditEntry.objects.filter(
        action="privacy.record_paper_request", actor=bologna_official, object_id=str(request.pk)
    ).exists()
    assert AuditEntry.objects.filter(
        action="privacy.paper_request", kind=AuditKind.VIEW, actor=bologna_official
    ).exists()


def test_an_official_of_another_territory_cannot_open_or_record_it(subject, modena_official):
    client = verified_client(modena_official)
    assert client.get(reverse("privacy:paper_request", args=[subject.pk])).status_code == 404
    assert _paper(client, subject).status_code == 404
    assert not DataRequest.objects.exists()


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"email": ""}, "email", "Scegli uno degli indirizzi email della persona"),
        ({"received_on": "2026-06-11"}, "received_on", "non può essere nel futuro"),
        ({"received_on": "31/02/2026"}, "received_on", "Data non valida"),
        ({"kind": "ritocco"}, "kind", "Scegli"),
    ],
)
def test_bad_paper_requests_are_refused_with_a_reason_and_nothing_is_written(
    subject, bologna_official, mailoutbox, data, field, message
):
    response = _paper(verified_client(bologna_official), subject, **data)
    assert response.status_code == 400 and message in response.content.decode()
    assert not DataRequest.objects.exists() and not DataExport.objects.exists() and mailoutbox == []


def test_an_erasure_request_on_paper_waits_on_the_board(subject, bologna_official, privacy_officer):
    response = _paper(verified_client(bologna_official), subject, kind=RequestKind.ERASURE, email="")
    assert response.status_code == 200
    request = DataRequest.objects.get()
    assert request.kind == RequestKind.ERASURE and not DataExport.objects.exists()
    board = verified_client(privacy_officer).get(reverse("privacy:board")).content.decode()
    assert f'id="request-{request.pk}"' in board and "Cancellazione" in board


@pytest.mark.parametrize("who", ["circolo secretary", "regional administrator", "national treasurer"])
def test_only_the_privacy_officer_and_the_national_administrator_see_the_board(tree, subject, who):
    official = {
        "circolo secretary": lambda: make_official("s", tree.bologna_centro, [Role.ORGANISATION, Role.MEMBERSHIP]),
        "regional administrator": lambda: make_official("r", tree.emilia, [Role.ADMINISTRATOR]),
        "national treasurer": lambda: make_official("t", tree.national, [Role.TREASURY]),
    }[who]()
    assert verified_client(official).get(reverse("privacy:board")).status_code == 403


def test_the_board_lists_pending_requests_with_deadlines_and_highlights_the_overdue(
    tree, subject, bologna_official, privacy_officer
):
    _paper(verified_client(bologna_official), subject, kind=RequestKind.OBJECTION, email="", received_on="2026-04-20")
    _paper(
        verified_client(bologna_official), subject, kind=RequestKind.RECTIFICATION, email="", received_on="2026-06-09"
    )
    late, fresh = DataRequest.objects.order_by("received_on")
    assert late.due_on == dt.date(2026, 5, 20) and late.overdue and not fresh.overdue
    response = verified_client(privacy_officer).get(reverse("privacy:board"))
    page = response.content.decode()
    assert response.status_code == 200
    assert f'id="request-{late.pk}" class="overdue"' in page and f'id="request-{fresh.pk}">' in page
    assert "1 richiesta è scaduta" in page
    assert page.index(f"request-{late.pk}") < page.index(f"request-{fresh.pk}")  # the most urgent first
    assert AuditEntry.objects.filter(action="privacy.board", kind=AuditKind.VIEW, actor=privacy_officer).exists()
    national_admin = make_official("admin.naz", tree.national, [Role.ADMINISTRATOR])
    assert verified_client(national_admin).get(reverse("privacy:board")).status_code == 200


def test_the_privacy_officer_extends_a_deadline_once_with_a_reason(subject, bologna_official, privacy_officer):
    _paper(verified_client(bologna_official), subject, kind=RequestKind.RECTIFICATION, email="")
    request = DataRequest.objects.get()
    client = verified_client(privacy_officer)
    url = reverse("privacy:extend", args=[request.pk])
    client.post(url, {"reason": "poco"})
    request.refresh_from_db()
    assert not request.extended and request.due_on == dt.date(2026, 7, 1)
    client.post(url, {"reason": "Richiesta complessa: servono i registri cartacei del circolo"})
    request.refresh_from_db()
    assert request.extended and request.due_on == dt.date(2026, 9, 1)  # + 2 months, art. 12(3)
    client.post(url, {"reason": "Ancora una volta, per favore"})
    request.refresh_from_db()
    assert request.due_on == dt.date(2026, 9, 1)
    assert AuditEntry.objects.filter(action="privacy.extend_request", kind=AuditKind.DENIED).count() == 2


def test_a_secretary_cannot_extend_a_deadline(subject, bologna_official):
    _paper(verified_client(bologna_official), subject, kind=RequestKind.RECTIFICATION, email="")
    request = DataRequest.objects.get()
    response = verified_client(bologna_official).post(
        reverse("privacy:extend", args=[request.pk]), {"reason": "Richiesta complessa da verificare"}
    )
    assert response.status_code == 403
    request.refresh_from_db()
    assert not request.extended and request.status == RequestStatus.RECEIVED


def test_the_privacy_officer_is_named_only_at_national_level_by_an_administrator(tree):
    admin = make_official("admin.naz", tree.national, [Role.ADMINISTRATOR])
    organiser = make_official("org.naz", tree.national, [Role.ORGANISATION])
    dpo = make_official("dpo.futuro", tree.bologna, [Role.ORGANISATION])
    with pytest.raises(ValidationError, match="solo a livello nazionale"):
        assign_role(actor=admin, user=dpo, territory=tree.emilia, role=Role.PRIVACY_OFFICER)
    with pytest.raises(PermissionDenied):
        assign_role(actor=organiser, user=dpo, territory=tree.national, role=Role.PRIVACY_OFFICER)
    assignment = assign_role(actor=admin, user=dpo, territory=tree.national, role=Role.PRIVACY_OFFICER)
    assert assignment.role == Role.PRIVACY_OFFICER
    assert verified_client(dpo).get(reverse("privacy:board")).status_code == 200
    assert timezone.localdate() == dt.date(2026, 6, 10)  # the frozen Wednesday these dates assume


def test_the_dashboard_tells_the_privacy_officer_what_is_pending_and_overdue(
    subject, bologna_official, privacy_officer
):
    _paper(verified_client(bologna_official), subject, kind=RequestKind.OBJECTION, email="", received_on="2026-04-20")
    page = verified_client(privacy_officer).get(reverse("web:dashboard")).content.decode()
    assert reverse("privacy:board") in page and "1 richiesta da evadere" in page and "1 scaduta" in page
    other = verified_client(bologna_official).get(reverse("web:dashboard")).content.decode()
    assert reverse("privacy:board") not in other
