"""Issue 11, item 14, through the wizard's pages: a codice fiscale that disagrees with the birth
date keeps the row, flagged, and the queue resolves it (rule D1); the report names duplicate
rows; an identical file needs a confirmation; email errors are in our Italian words."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from piazza.core.models import AuditEntry, AuditKind
from piazza.people.actions import person as person_actions
from piazza.people.codice_fiscale import make_codice_fiscale
from piazza.people.models import (
    BatchStatus,
    CodeDateReview,
    ImportBatch,
    ImportRow,
    Person,
    ReviewStatus,
    RowStatus,
    TimelineEntry,
)
from piazza.people.tests.conftest import MARIO_CF
from piazza.territory.models import Role
from piazza.territory.testing import make_official, verified_client

pytestmark = pytest.mark.django_db

HEADER = "Cognome;Nome;Codice Fiscale;Data di nascita;Comune;E-mail"
LUCIA_CF = make_codice_fiscale(
    first_name="Lucia", last_name="Bianchi", sex="F", birth_date=dt.date(1990, 12, 31), belfiore="A944"
)


def _csv(*rows: str) -> bytes:
    return ("\r\n".join([HEADER, *rows]) + "\r\n").encode("utf-8")


def import_through_wizard(client, territory, content, capture, *, name="iscritti.csv", confirm=False, target=None):
    """Upload → columns (as guessed) → target → preview → run (tasks inline) → the report page."""
    response = client.post(
        "/persone/importa/",
        {"file": SimpleUploadedFile(name, content, content_type="text/csv"), "territory": territory.pk},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    batch = ImportBatch.objects.latest("id")
    mapping = {f"col_{k}": v for k, v in batch.mapping.items()}
    response = client.post(f"/persone/importa/{batch.pk}/colonne/", mapping)
    assert response.status_code == 302 and response["Location"].endswith("/destinazione/")
    response = client.post(f"/persone/importa/{batch.pk}/destinazione/", target or {"target": ""})
    assert response.status_code == 302, response.content.decode()[:3000]
    with capture(execute=True):
        response = client.post(f"/persone/importa/{batch.pk}/anteprima/", {"confirm_repeat": "on"} if confirm else {})
    batch.refresh_from_db()
    return batch, response


@pytest.fixture
def secretary_client(circolo_secretary):
    return verified_client(circolo_secretary)


def test_d1_code_disagreeing_with_birth_date_is_kept_flagged_and_fixed_from_the_code(
    tree, circolo_secretary, secretary_client, django_capture_on_commit_callbacks
):
    # Mario's code says 12/03/1985; the file says 13/03/1985 (a typo in the date).
    content = _csv(f"Rossi;Mario;{MARIO_CF};13/03/1985;Bologna;mario@example.org")
    batch, _response = import_through_wizard(
        secretary_client, tree.bologna_centro, content, django_capture_on_commit_callbacks
    )
    assert batch.status == BatchStatus.DONE
    person = Person.objects.get(codice_fiscale_canonical=MARIO_CF)
    assert person.birth_date == dt.date(1985, 3, 13)  # kept as written, not rejected
    review = CodeDateReview.objects.get(person=person)
    assert (review.code_birth_date, review.record_birth_date, review.status) == (
        dt.date(1985, 3, 12),
        dt.date(1985, 3, 13),
        ReviewStatus.OPEN,
    )

    report = secretary_client.get(f"/persone/importa/{batch.pk}/rapporto/").content.decode()
    assert "Il codice fiscale dice nato/a il 12/03/1985, il file dice 13/03/1985" in report
    preview = secretary_client.get(f"/persone/importa/{batch.pk}/anteprima/").content.decode()
    assert "la riga sarà tenuta e messa tra i codici fiscali da verificare" in preview
    assert "La data di nascita nel codice" not in preview  # no longer an error that rejects

    queue = secretary_client.get("/persone/codici-da-verificare/").content.decode()
    assert "Rossi Mario" in queue and "12/03/1985" in queue and "13/03/1985" in queue
    response = secretary_client.post(
        f"/persone/codici-da-verificare/{review.pk}/",
        {"resolution": "code_right", "note": "verificato sulla tessera sanitaria"},
    )
    assert response.status_code == 302
    person.refresh_from_db()
    review.refresh_from_db()
    assert person.birth_date == dt.date(1985, 3, 12)
    assert review.status == ReviewStatus.CODE_RIGHT and review.resolved_by == circolo_secretary
    entry = AuditEntry.objects.get(action="people.resolve_code_date")
    assert entry.data["before"] == "1985-03-13" and entry.data["after"] == "1985-03-12"
    assert TimelineEntry.objects.filter(person=person, summary__contains="corretta dal codice").exists()
    queue = secretary_client.get("/persone/codici-da-verificare/").content.decode()
    assert "Nessun codice fiscale da verificare" in queue


def test_d1_date_right_keeps_the_date_and_marks_the_code(
    tree, circolo_secretary, secretary_client, django_capture_on_commit_callbacks
):
    import_through_wizard(
        secretary_client,
        tree.bologna_centro,
        _csv(f"Rossi;Mario;{MARIO_CF};13/03/1985;Bologna;"),
        django_capture_on_commit_callbacks,
    )
    review = CodeDateReview.objects.get()
    secretary_client.post(f"/persone/codici-da-verificare/{review.pk}/", {"resolution": "date_right"})
    review.refresh_from_db()
    assert review.status == ReviewStatus.DATE_RIGHT and review.code_to_check
    assert review.person.birth_date == dt.date(1985, 3, 13)
    closed = secretary_client.get("/persone/codici-da-verificare/?chiuse=1").content.decode()
    assert "Data giusta: codice da verificare" in closed


def test_d1_edited_is_refused_while_code_and_date_still_disagree(
    tree, circolo_secretary, secretary_client, django_capture_on_commit_callbacks
):
    import_through_wizard(
        secretary_client,
        tree.bologna_centro,
        _csv(f"Rossi;Mario;{MARIO_CF};13/03/1985;Bologna;"),
        django_capture_on_commit_callbacks,
    )
    review = CodeDateReview.objects.get()
    response = secretary_client.post(
        f"/persone/codici-da-verificare/{review.pk}/", {"resolution": "edited"}, follow=True
    )
    assert "non coincidono ancora" in response.content.decode()
    review.refresh_from_db()
    assert review.status == ReviewStatus.OPEN
    # No choice at all: a specific message, nothing changed.
    response = secretary_client.post(f"/persone/codici-da-verificare/{review.pk}/", {}, follow=True)
    assert "Scegli una delle tre soluzioni" in response.content.decode()
    # After fixing the record by hand the same choice closes it.
    Person.objects.filter(pk=review.person_id).update(birth_date=dt.date(1985, 3, 12))
    secretary_client.post(f"/persone/codici-da-verificare/{review.pk}/", {"resolution": "edited"})
    review.refresh_from_db()
    assert review.status == ReviewStatus.EDITED


def test_the_queue_is_scoped(tree, circolo_secretary, secretary_client, django_capture_on_commit_callbacks):
    import_through_wizard(
        secretary_client,
        tree.bologna_centro,
        _csv(f"Rossi;Mario;{MARIO_CF};13/03/1985;Bologna;"),
        django_capture_on_commit_callbacks,
    )
    review = CodeDateReview.objects.get()
    other = verified_client(make_official("segretario.navile", tree.bologna_navile, [Role.ORGANISATION]))
    assert "Rossi" not in other.get("/persone/codici-da-verificare/").content.decode()
    assert other.post(f"/persone/codici-da-verificare/{review.pk}/", {"resolution": "code_right"}).status_code == 404
    review.refresh_from_db()
    assert review.status == ReviewStatus.OPEN


def test_other_disagreements_are_still_rejected(tree, secretary_client, django_capture_on_commit_callbacks):
    # The code is Mario Rossi's; the row says Lucia: a name mismatch is not a typo in a date.
    batch, _r = import_through_wizard(
        secretary_client,
        tree.bologna_centro,
        _csv(f"Bianchi;Lucia;{MARIO_CF};12/03/1985;Bologna;"),
        django_capture_on_commit_callbacks,
    )
    row = ImportRow.objects.get(batch=batch)
    assert row.status == RowStatus.REJECTED and "cognome nel codice fiscale" in row.errors[0]
    assert not CodeDateReview.objects.exists()


def test_report_lists_duplicate_rows_in_words(
    tree, circolo_secretary, secretary_client, django_capture_on_commit_callbacks
):
    person_actions.create_person(
        actor=None,
        circolo=tree.bologna_centro,
        data={"first_name": "Carmela", "last_name": "Esposito", "emails": ["carmela@example.org"]},
    )
    content = _csv(
        f"Bianchi;Lucia;{LUCIA_CF};31/12/1990;Bologna;lucia@example.org",
        "Esposito;Carmela;;;Bologna;carmela@example.org",
        f"Bianchi;Lucia;{LUCIA_CF};31/12/1990;Bologna;lucia@example.org",
    )
    batch, _r = import_through_wizard(
        secretary_client, tree.bologna_centro, content, django_capture_on_commit_callbacks
    )
    report = secretary_client.get(f"/persone/importa/{batch.pk}/rapporto/").content.decode()
    existing = Person.objects.get(last_name="Esposito")
    assert f"Già registrata: Esposito Carmela (scheda n. {existing.pk})." in report
    assert "Stessa persona della riga 2 del file (Bianchi Lucia)" in report
    rows = {r.number: r for r in ImportRow.objects.filter(batch=batch)}
    assert rows[4].match_note.startswith("Stessa persona della riga 2")
    assert Person.objects.filter(last_name="Bianchi").count() == 1


def test_reuploading_an_identical_file_warns_and_needs_a_confirmation(
    tree, circolo_secretary, secretary_client, django_capture_on_commit_callbacks
):
    circolo_secretary.first_name, circolo_secretary.last_name = "Marco", "Neri"
    circolo_secretary.save()
    content = _csv(f"Bianchi;Lucia;{LUCIA_CF};31/12/1990;Bologna;lucia@example.org")
    first, _r = import_through_wizard(
        secretary_client, tree.bologna_centro, content, django_capture_on_commit_callbacks
    )
    assert first.repeat_of is None
    response = secretary_client.post(
        "/persone/importa/",
        {
            "file": SimpleUploadedFile("copia.csv", content, content_type="text/csv"),
            "territory": tree.bologna_centro.pk,
        },
    )
    second = ImportBatch.objects.latest("id")
    assert second.repeat_of == first
    columns = secretary_client.get(response["Location"]).content.decode()
    assert "Questo file è già stato importato il 10/06/2026 alle 10:00 da Marco Neri" in columns
    secretary_client.post(f"/persone/importa/{second.pk}/colonne/", {f"col_{k}": v for k, v in second.mapping.items()})
    secretary_client.post(f"/persone/importa/{second.pk}/destinazione/", {"target": ""})
    preview = secretary_client.get(f"/persone/importa/{second.pk}/anteprima/").content.decode()
    assert "già stato importato" in preview and "Sì, importa di nuovo questo file" in preview
    # Without the confirmation nothing runs.
    response = secretary_client.post(f"/persone/importa/{second.pk}/anteprima/", {})
    assert response.status_code == 200 and "spunta la conferma" in response.content.decode()
    second.refresh_from_db()
    assert second.status == BatchStatus.MAPPED
    assert AuditEntry.objects.filter(action="people.run_import", kind=AuditKind.DENIED).exists()
    with django_capture_on_commit_callbacks(execute=True):
        response = secretary_client.post(f"/persone/importa/{second.pk}/anteprima/", {"confirm_repeat": "on"})
    second.refresh_from_db()
    assert second.status == BatchStatus.DONE and second.repeat_confirmed
    assert Person.objects.filter(last_name="Bianchi").count() == 1  # matched, not created twice


def test_a_different_official_out_of_scope_is_not_told_about_the_earlier_upload(
    tree, circolo_secretary, secretary_client, django_capture_on_commit_callbacks
):
    content = _csv(f"Bianchi;Lucia;{LUCIA_CF};31/12/1990;Bologna;lucia@example.org")
    import_through_wizard(secretary_client, tree.bologna_centro, content, django_capture_on_commit_callbacks)
    other = verified_client(make_official("segretario.navile", tree.bologna_navile, [Role.ORGANISATION]))
    other.post(
        "/persone/importa/",
        {"file": SimpleUploadedFile("x.csv", content, content_type="text/csv"), "territory": tree.bologna_navile.pk},
    )
    assert ImportBatch.objects.latest("id").repeat_of is None


@pytest.mark.parametrize(
    ("typed", "words"),
    [
        ("mario.example.org", "manca la chiocciola @"),
        ("@example.org", "manca il nome prima della @"),
        ("mario@", "manca il dominio dopo la @"),
        ("mario@@example.org", "contiene più di una @"),
        ("mario..rossi@example.org", "contiene due punti di seguito"),
        ("mario@example", "il dominio dopo la @ è incompleto"),
        ("ma rio@example.org", "contiene spazi o caratteri non ammessi"),
    ],
)
def test_email_errors_are_in_our_italian_words(
    tree, secretary_client, django_capture_on_commit_callbacks, typed, words
):
    batch, _r = import_through_wizard(
        secretary_client,
        tree.bologna_centro,
        _csv(f"Bianchi;Lucia;;31/12/1990;Bologna;{typed}"),
        django_capture_on_commit_callbacks,
    )
    report = secretary_client.get(f"/persone/importa/{batch.pk}/rapporto/").content.decode()
    assert words in report
    row = ImportRow.objects.get(batch=batch)
    assert row.status == RowStatus.REJECTED
    for english in ("@-sign", "must", "period", "invalid characters", "domain"):
        assert english not in row.errors[0]
