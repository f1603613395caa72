"""Rule G5 (issue 12): what the retention schedule erases is on the privacy officer's board like any
request — a person's own open erasure request is answered by it, otherwise one is recorded with the
origin "calendario di conservazione" and closed with the outcome — and the dry run lists them first."""

from __future__ import annotations

import datetime as dt
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from piazza.core.models import AuditEntry
from piazza.people.models import Person
from piazza.privacy.models import DataRequest, RequestChannel, RequestKind, RequestStatus, due_date
from piazza.privacy.retention import apply_retention, retention_report
from piazza.privacy.tests.test_erasure import _mario
from piazza.territory.models import Role
from piazza.territory.testing import make_official, verified_client

pytestmark = pytest.mark.django_db


@pytest.fixture
def official(tree: Any) -> Any:
    return make_official("segreteria.bo", tree.bologna, [Role.ORGANISATION, Role.MEMBERSHIP])


@pytest.fixture
def officer(tree: Any) -> Any:
    return make_official("garante.interno", tree.national, [Role.PRIVACY_OFFICER])


def _inactive(person: Person) -> Person:
    long_ago = timezone.now() - dt.timedelta(days=365 * 4)
    Person.objects.filter(pk=person.pk).update(updated_at=long_ago)
    person.timeline.update(at=long_ago)
    return person


@pytest.fixture
def contacts(official: Any) -> tuple[Person, Person, DataRequest]:
    """Mario never asked anything; Anna asked for erasure on paper and is still waiting."""
    mario = _inactive(_mario(official))
    anna = _inactive(
        _mario(official, first_name="Anna", last_name="Bianchi", codice_fiscale="", emails=["anna@example.org"])
    )
    today = timezone.localdate()
    asked = DataRequest.objects.create(
        kind=RequestKind.ERASURE,
        channel=RequestChannel.PAPER,
        person=anna,
        territory=anna.territory,
        received_on=today,
        due_on=due_date(today),
    )
    return mario, anna, asked


def test_the_dry_run_lists_the_requests_first_and_writes_nothing(contacts: Any, officer: Any) -> None:
    mario, anna, asked = contacts
    report = retention_report()
    assert [(e.person_id, e.request_id) for e in report.erasures] == [(mario.pk, None), (anna.pk, asked.pk)]
    out = StringIO()
    call_command("privacy_retention", "--dry-run", stdout=out)
    lines = out.getvalue().splitlines()
    assert lines[1] == "  richieste di cancellazione (calendario di conservazione): 2"
    assert f"scheda n. {mario.pk}" in lines[2] and "nuova richiesta sul registro" in lines[2]
    assert f"scheda n. {anna.pk}" in lines[3] and f"risponde alla richiesta n. {asked.pk}" in lines[3]
    assert "contatti inattivi da cancellare: 2" in lines[4]
    page = verified_client(officer).get(reverse("privacy:retention")).content.decode()
    assert page.index("nuova, origine: calendario di conservazione") < page.index("Righe di importazioni")
    assert f"evade la richiesta n. {asked.pk}" in page
    assert DataRequest.objects.count() == 1 and not Person.objects.filter(erased_at__isnull=False).exists()


def test_applying_records_and_closes_each_erasure_on_the_board(contacts: Any, officer: Any) -> None:
    mario, anna, asked = contacts
    apply_retention()
    mario.refresh_from_db()
    anna.refresh_from_db()
    assert mario.erased_at is not None and anna.erased_at is not None

    recorded = DataRequest.objects.get(person=mario)
    assert (recorded.kind, recorded.channel, recorded.status) == (
        RequestKind.ERASURE,
        RequestChannel.RETENTION,
        RequestStatus.ANSWERED,
    )
    assert recorded.closed_at is not None and recorded.received_on == timezone.localdate()
    assert recorded.notes.startswith("Cancellata dal calendario di conservazione: nessuna iscrizione")
    assert "Mario" not in recorded.notes and "E-" in recorded.notes  # the outcome names no one
    # Anna's own request is the one answered: no second request for her.
    asked.refresh_from_db()
    assert asked.status == RequestStatus.ANSWERED and asked.channel == RequestChannel.PAPER
    assert DataRequest.objects.filter(person=anna).count() == 1
    assert asked.notes.startswith("Cancellata dal calendario di conservazione")
    answered = AuditEntry.objects.filter(action="privacy.answer_erasure_request")
    assert {e.object_id for e in answered} == {str(recorded.pk), str(asked.pk)}
    assert AuditEntry.objects.filter(action="privacy.record_retention_request", object_id=str(recorded.pk)).exists()
    assert AuditEntry.objects.filter(action="privacy.retention_erasure").count() == 2

    board = verified_client(officer).get(reverse("privacy:board")).content.decode()
    row = board[board.index(f'id="answered-{recorded.pk}"') :].split("</tr>")[0]
    assert "Calendario di conservazione" in row and "Cancellata dal calendario di conservazione" in row

    # Applying again finds nobody: nothing more on the board.
    assert apply_retention().erasures == []
    assert DataRequest.objects.count() == 2
