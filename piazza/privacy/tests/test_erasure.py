"""Rule G5 (issue 12): erasure through the official's page and the person's own request, its
idempotency and audit, recognising an erased person at the import, the desk and a merge, the
legal holds' release and the retention schedule."""

from __future__ import annotations

import datetime as dt
import json
from io import StringIO
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from piazza.core.models import AuditEntry
from piazza.people.actions import duplicates as duplicates_people_actions
from piazza.people.actions import imports as imports_people_actions
from piazza.people.actions import person as person_people_actions
from piazza.people.models import BatchStatus, ImportRow, Person, RowStatus
from piazza.privacy.erasure import erase_person, release_expired_holds
from piazza.privacy.erasure_views import self_service_url
from piazza.privacy.models import DataRequest, LegalHold, RequestKind, RequestStatus
from piazza.privacy.retention import retention_report
from piazza.territory.models import Role
from piazza.territory.testing import make_official, verified_client

pytestmark = pytest.mark.django_db

CF = "RSSMRA85C12A944X"


@pytest.fixture
def official(tree: Any) -> Any:
    return make_official("segreteria.bo", tree.bologna, [Role.ORGANISATION, Role.MEMBERSHIP])


def _bologna() -> Any:
    from piazza.territory.models import Comune

    return Comune.objects.get(istat_code="037006")


def _mario(official: Any, **extra: Any) -> Person:
    from piazza.people.codice_fiscale import make_codice_fiscale
    from piazza.territory.models import Comune

    bologna = Comune.objects.get(istat_code="037006")
    code = make_codice_fiscale(
        first_name="Mario", last_name="Rossi", sex="M", birth_date=dt.date(1985, 3, 12), belfiore=bologna.belfiore
    )
    data = {
        "first_name": "Mario",
        "last_name": "Rossi",
        "codice_fiscale": code,
        "birth_date": dt.date(1985, 3, 12),
        "sex": "M",
        "residence_comune": bologna,
        "emails": ["mario@example.org"],
        "phones": ["333 1234567"],
        **extra,
    }
    return person_people_actions.create_person(actor=official, data=data)


def _erase_by_page(official: Any, person: Person, word: str = "CANCELLA") -> Any:
    return verified_client(official).post(reverse("privacy:erase", args=[person.pk]), {"confirm": word})


def test_g5_the_official_must_type_the_word_and_nothing_is_erased_otherwise(official: Any) -> None:
    mario = _mario(official)
    response = _erase_by_page(official, mario, word="ok")
    assert response.status_code == 400
    assert "CANCELLA" in response.content.decode()
    mario.refresh_from_db()
    assert mario.erased_at is None and mario.first_name == "Mario"


def test_g5_an_official_of_another_territory_gets_no_page_and_erases_nothing(tree: Any, official: Any) -> None:
    mario = _mario(official)
    other = make_official("segreteria.mo", tree.modena, [Role.ORGANISATION, Role.MEMBERSHIP])
    assert verified_client(other).get(reverse("privacy:erase", args=[mario.pk])).status_code == 404
    assert _erase_by_page(other, mario).status_code == 404
    mario.refresh_from_db()
    assert mario.erased_at is None


def test_g5_erasure_is_idempotent_and_audited_with_a_pseudonym_only(official: Any) -> None:
    mario = _mario(official, notes="Vicino di casa della segretaria")
    assert _erase_by_page(official, mario).status_code == 302
    entry = AuditEntry.objects.get(action="privacy.erase_person")
    text = json.dumps(entry.data)
    assert entry.data["ref"].startswith("E-") and "Mario" not in text and "mario@" not in text
    assert "Rossi" not in text and "333" not in text
    mario.refresh_from_db()
    assert (mario.first_name, mario.last_name, mario.codice_fiscale, mario.notes) == ("Persona", "cancellata", "", "")
    assert not mario.emails.exists() and not mario.phones.exists()
    again = erase_person(actor=official, person=mario, reason="request")
    assert again.already and AuditEntry.objects.filter(action="privacy.erase_person").count() == 1
    # The erased person is gone from every list (erased_at is filtered everywhere).
    assert not Person.objects.active().filter(pk=mario.pk).exists()


def test_g5_an_import_flags_an_erased_person_instead_of_recreating_them(
    tree: Any, official: Any, django_capture_on_commit_callbacks: Any
) -> None:
    mario = _mario(official)
    erase_person(actor=official, person=mario, reason="request")
    content = b"Cognome;Nome;E-mail\r\nRossi;Mario;MARIO@example.org\r\nVerdi;Anna;anna@example.org\r\n"
    with django_capture_on_commit_callbacks(execute=True):
        batch = imports_people_actions.start_import(
            actor=official, territory=tree.bologna, file_name="elenco.csv", content=content
        )
        imports_people_actions.set_import_mapping(actor=official, batch=batch, mapping=batch.mapping)
        imports_people_actions.run_import(actor=official, batch=batch)
    batch.refresh_from_db()
    assert batch.status == BatchStatus.DONE
    row = ImportRow.objects.get(batch=batch, number=2)
    assert row.status == RowStatus.ERASED and row.person is None
    assert "cancellazione" in row.errors[0]
    assert Person.objects.filter(last_name="Rossi").count() == 0  # not re-created
    assert Person.objects.filter(last_name="Verdi").count() == 1
    # The official sees the row in the import report.
    page = verified_client(official).get(reverse("people:import_report", args=[batch.pk]))
    assert "Persona che ha chiesto la cancellazione" in page.content.decode()


def test_g5_the_desk_is_stopped_and_a_public_form_starts_a_fresh_record(official: Any) -> None:
    mario = _mario(official)
    code = mario.codice_fiscale
    erase_person(actor=official, person=mario, reason="request")
    with pytest.raises(ValidationError) as refused:
        person_people_actions.find_or_create_person(
            actor=official, first_name="Mario", last_name="Rossi", codice_fiscale=code
        )
    assert "cancellazione" in " ".join(refused.value.messages)
    # A public form (the visitor's own new, explicit act): a new record, nothing of the old one.
    fresh = person_people_actions.find_or_create_person(
        actor=None, first_name="Mario", last_name="Rossi", email="mario@example.org"
    )
    assert fresh.was_created and fresh.pk != mario.pk
    mario.refresh_from_db()
    assert mario.first_name == "Persona" and not mario.emails.exists()


def test_g5_merging_into_or_from_an_erased_record_is_refused(official: Any) -> None:
    mario = _mario(official)
    anna = person_people_actions.create_person(
        actor=official,
        data={
            "first_name": "Anna",
            "last_name": "Verdi",
            "emails": ["anna@example.org"],
            "residence_comune": _bologna(),
        },
    )
    erase_person(actor=official, person=mario, reason="request")
    mario.refresh_from_db()
    for survivor, merged in ((mario, anna), (anna, mario)):
        with pytest.raises(ValidationError):
            duplicates_people_actions.merge_people(actor=official, survivor=survivor, merged=merged)
    mario.refresh_from_db()
    assert mario.first_name == "Persona" and not mario.emails.exists() and mario.merged_into_id is None
    assert anna.emails.count() == 1


def test_g5_the_person_asks_by_their_link_and_the_official_executes(official: Any, client: Any) -> None:
    mario = _mario(official)
    url = self_service_url(mario)
    assert client.get(url).status_code == 200
    assert client.post(url).status_code == 200
    assert client.post(url).status_code == 200  # a second click: still one request
    request = DataRequest.objects.get(person=mario, kind=RequestKind.ERASURE)  # on the board, one month to answer
    assert request.status == RequestStatus.RECEIVED and request.channel == "online"
    assert request.due_on == dt.date(2026, 7, 10)
    assert client.get(url[:-3] + "xx/").status_code == 400  # a forged link
    page = verified_client(official).get(reverse("privacy:erase", args=[mario.pk]))
    assert "ha chiesto la cancellazione" in page.content.decode()
    _erase_by_page(official, mario)
    request.refresh_from_db()
    assert request.status == RequestStatus.ANSWERED and request.closed_at is not None
    answered = AuditEntry.objects.get(action="privacy.answer_erasure_request")
    assert answered.actor_id == official.pk and answered.object_id == str(request.pk)
    assert client.get(url).status_code == 400  # the link of an erased person opens nothing


def test_g5_a_hold_is_released_only_when_no_other_hold_covers_the_row(official: Any) -> None:
    mario = _mario(official)
    erase_person(actor=official, person=mario, reason="request")
    ref = "E-test"
    # Two holds on the same column of the same row, ending at different dates.
    Person.objects.filter(pk=mario.pk).update(notes="tenuto")
    LegalHold.objects.create(
        person_ref=ref,
        kind="accounting",
        model_label="people.person",
        object_ids=[mario.pk],
        fields=["notes"],
        why="prova",
        legal_basis="prova",
        until=dt.date(2027, 12, 31),
    )
    LegalHold.objects.create(
        person_ref=ref,
        kind="donor_register",
        model_label="people.person",
        object_ids=[mario.pk],
        fields=["notes"],
        why="prova",
        legal_basis="prova",
        until=dt.date(2030, 12, 31),
    )
    assert release_expired_holds(today=dt.date(2028, 1, 1)) == 1
    mario.refresh_from_db()
    assert mario.notes == "tenuto"
    assert release_expired_holds(today=dt.date(2031, 1, 1)) == 1
    mario.refresh_from_db()
    assert mario.notes == ""
    assert release_expired_holds(today=dt.date(2031, 1, 1)) == 0  # idempotent


def test_g5_retention_dry_run_reports_then_the_schedule_erases(official: Any, settings: Any) -> None:
    old = _mario(official)
    recent = person_people_actions.create_person(
        actor=official, data={"first_name": "Anna", "last_name": "Verdi", "residence_comune": _bologna()}
    )
    long_ago = timezone.now() - dt.timedelta(days=365 * 4)
    Person.objects.filter(pk=old.pk).update(updated_at=long_ago)
    old.timeline.update(at=long_ago)
    out = StringIO()
    call_command("privacy_retention", "--dry-run", stdout=out)
    assert "contatti inattivi da cancellare: 1" in out.getvalue()
    assert retention_report().contacts == [old.pk]
    old.refresh_from_db()
    assert old.erased_at is None  # a dry run erases nothing
    call_command("privacy_retention", stdout=StringIO())
    old.refresh_from_db()
    recent.refresh_from_db()
    assert old.erased_at is not None and old.first_name == "Persona"
    assert recent.erased_at is None
    assert "piazza.privacy.tasks.apply_retention" in settings.PERIODIC_TASKS


def test_g5_the_retention_report_page_is_for_the_national_administrator(tree: Any, official: Any) -> None:
    _mario(official)
    admin = make_official("privacy.naz", tree.national, [Role.ADMINISTRATOR])
    page = verified_client(admin).get(reverse("privacy:retention"))
    assert page.status_code == 200 and "Contatti senza iscrizioni" in page.content.decode()
    assert AuditEntry.objects.filter(action="privacy.retention_report").exists()
    assert verified_client(official).get(reverse("privacy:retention")).status_code in (403, 404)


def test_g5_the_periodic_task_only_reports_until_the_officer_turns_it_on(official: Any, settings: Any) -> None:
    from piazza.privacy.tasks import apply_retention

    old = _mario(official)
    Person.objects.filter(pk=old.pk).update(updated_at=timezone.now() - dt.timedelta(days=365 * 4))
    old.timeline.update(at=timezone.now() - dt.timedelta(days=365 * 4))
    settings.PRIVACY_RETENTION_APPLY = False
    assert apply_retention.call() == "dry-run"
    old.refresh_from_db()
    assert old.erased_at is None
    settings.PRIVACY_RETENTION_APPLY = True
    assert apply_retention.call() == "applied 1"
    old.refresh_from_db()
    assert old.erased_at is not None


def test_g5_the_people_form_brings_an_erased_person_back_only_with_a_new_consent(official: Any) -> None:
    mario = _mario(official)
    erase_person(actor=official, person=mario, reason="request")
    client = verified_client(official)
    data = {
        "first_name": "Mario",
        "last_name": "Rossi",
        "emails": "mario@example.org",
        "residence_comune": "Bologna",
        "citizenship": "italian",
    }
    page = client.post(reverse("people:create"), data)
    assert page.status_code == 200 and "chiesto la cancellazione" in page.content.decode()
    assert not Person.objects.filter(first_name="Mario").exists()
    page = client.post(reverse("people:create"), {**data, "new_consent_after_erasure": "on"})
    assert page.status_code == 302
    fresh = Person.objects.get(first_name="Mario")
    assert fresh.pk != mario.pk and fresh.emails.get().value == "mario@example.org"
