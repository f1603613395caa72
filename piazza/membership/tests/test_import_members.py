"""Issue 11, item 13, through the import wizard's pages: the circolo's spreadsheet imported as
members of year Y, each row through the desk's own actions (M2 age, M10 circolo, M14 fields,
M13 states, the fee schedule; cash only where allowed, references for traceable payments), each
outcome in the report in words; a row whose code disagrees with its birth date waits for the
review queue (D1) and is registered when resolved."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from piazza.core.models import AuditEntry, AuditKind
from piazza.ledger.models import LedgerTransaction
from piazza.membership.models import Membership, Status
from piazza.membership.tests.conftest import YEAR
from piazza.people.codice_fiscale import make_codice_fiscale
from piazza.people.models import CodeDateReview, ImportBatch, ImportRow, Person, TargetOutcome
from piazza.people.tests.test_import_review import import_through_wizard
from piazza.territory.models import Role
from piazza.territory.testing import make_official, verified_client

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("schedule", "check_ledger")]

HEADER = "Cognome;Nome;Sesso;Codice fiscale;Data di nascita;Comune di nascita;Indirizzo;CAP;Comune;Email"


def _cf(first: str, last: str, sex: str, born: dt.date) -> str:
    return make_codice_fiscale(first_name=first, last_name=last, sex=sex, birth_date=born, belfiore="A944")


ANNA = _cf("Anna", "Verdi", "F", dt.date(1970, 5, 4))
LUCA = _cf("Luca", "Neri", "M", dt.date(1988, 1, 20))
TEEN = _cf("Sara", "Gallo", "F", dt.date(YEAR - 14, 2, 2))
PAOLO = _cf("Paolo", "Conti", "M", dt.date(1960, 7, 7))


def _file() -> bytes:
    rows = [
        HEADER,
        f"Verdi;Anna;F;{ANNA};04/05/1970;Bologna;Via Indipendenza 3;40121;Bologna;anna@example.org",
        # M14: no residence address.
        f"Neri;Luca;M;{LUCA};20/01/1988;Bologna;;;Bologna;luca@example.org",
        # M2: too young (the minimum age is the federation's parameter).
        f"Gallo;Sara;F;{TEEN};02/02/{YEAR - 14};Bologna;Via Irnerio 1;40126;Bologna;",
        # No codice fiscale: a person, not a member.
        "Russo;Elena;F;;01/01/1975;Bologna;Via Zamboni 1;40126;Bologna;",
    ]
    return ("\r\n".join(rows) + "\r\n").encode("utf-8")


def _members(
    circolo, *, paid: str = "no", method: str = "", reference: str = "", declarations: bool = True, year: int = YEAR
) -> dict[str, object]:
    data: dict[str, object] = {
        "target": "membership",
        "membership-year": year,
        "membership-circolo": circolo.pk,
        "membership-paid": paid,
        "membership-method": method,
        "membership-reference": reference,
    }
    if declarations:
        data["membership-declarations"] = "on"
    return data


@pytest.fixture
def desk(secretary):
    return verified_client(secretary)


def test_import_as_members_of_year_y_unpaid_each_outcome_in_words(
    tree, secretary, desk, django_capture_on_commit_callbacks
):
    page = desk.get(f"/persone/importa/{_staged(desk, tree).pk}/destinazione/").content.decode()
    assert "Solo persone" in page and "Iscritti di un anno (tesseramento)" in page
    assert tree.bologna_centro.name in page and tree.modena_nord.name not in page  # circoli in scope only

    batch, _r = import_through_wizard(
        desk,
        tree.bologna_centro,
        _file(),
        django_capture_on_commit_callbacks,
        name="tesserati.csv",
        confirm=True,
        target=_members(tree.bologna_centro),
    )
    assert batch.target == "membership" and batch.target_options["year"] == YEAR
    anna = Membership.objects.get(person__codice_fiscale=ANNA)
    assert (anna.year, anna.circolo, anna.status, anna.channel) == (
        YEAR,
        tree.bologna_centro,
        Status.APPLIED,
        "circolo",
    )
    assert Membership.objects.count() == 1
    assert Person.objects.count() == 4  # every row is at least a person

    rows = {r.number: r for r in ImportRow.objects.filter(batch=batch)}
    assert rows[2].target_outcome == TargetOutcome.DONE and "quota di 20,00 € da versare" in rows[2].target_note
    assert rows[3].target_outcome == TargetOutcome.REFUSED and "indirizzo di residenza" in rows[3].target_note
    assert rows[4].target_outcome == TargetOutcome.REFUSED and "almeno" in rows[4].target_note
    assert rows[5].target_outcome == TargetOutcome.REFUSED and "codice fiscale è obbligatorio" in rows[5].target_note

    report = desk.get(f"/persone/importa/{batch.pk}/rapporto/").content.decode()
    assert f"Iscritti del {YEAR} al circolo {tree.bologna_centro.name}, quota da versare" in report
    assert "Iscrizioni registrate: <strong>1</strong>" in report
    assert "Iscrizioni non registrate: <strong>3</strong>" in report
    assert "Indica l&#x27;indirizzo di residenza o di domicilio." in report
    assert "M14" not in report and "not_eligible" not in report


def _upload() -> SimpleUploadedFile:
    return SimpleUploadedFile("t.csv", _file(), content_type="text/csv")


def _staged(client, tree):
    client.post("/persone/importa/", {"file": _upload(), "territory": tree.bologna_centro.pk})
    batch = ImportBatch.objects.latest("id")
    client.post(f"/persone/importa/{batch.pk}/colonne/", {f"col_{k}": v for k, v in batch.mapping.items()})
    return batch


def test_fee_paid_by_pos_books_the_ledger_and_assigns_cards(tree, secretary, desk, django_capture_on_commit_callbacks):
    batch, _r = import_through_wizard(
        desk,
        tree.bologna_centro,
        _file(),
        django_capture_on_commit_callbacks,
        confirm=True,
        target=_members(tree.bologna_centro, paid="yes", method="pos", reference="Distinta POS 12"),
    )
    anna = Membership.objects.get(person__codice_fiscale=ANNA)
    assert anna.status == Status.PAID and anna.card_number and anna.payment_reference == "Distinta POS 12"
    assert LedgerTransaction.objects.exists()
    row = ImportRow.objects.get(batch=batch, number=2)
    assert f"tessera n. {anna.card_number}" in row.target_note


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"paid": "yes", "method": "cash"}, "non ammette le quote in contanti"),
        ({"paid": "yes", "method": "pos"}, "indica il riferimento"),
        ({"paid": "yes"}, "Indica come è stata incassata la quota"),
        ({"declarations": False}, "Conferma che il circolo conserva i moduli firmati"),
        ({"year": YEAR + 1}, f"Il tesseramento {YEAR + 1} non è ancora aperto"),
    ],
)
def test_target_options_refused_before_anything_is_written(tree, secretary, desk, options, message):
    batch = _staged(desk, tree)
    response = desk.post(f"/persone/importa/{batch.pk}/destinazione/", _members(tree.bologna_centro, **options))
    assert response.status_code == 200
    assert message in response.content.decode()
    batch.refresh_from_db()
    assert batch.target == "" and batch.status == "mapped"
    assert AuditEntry.objects.filter(action="membership.import_target", kind=AuditKind.DENIED).exists()
    assert not Membership.objects.exists() and not Person.objects.exists()


def test_a_circolo_outside_the_scope_cannot_be_chosen(tree, secretary, desk):
    batch = _staged(desk, tree)
    response = desk.post(f"/persone/importa/{batch.pk}/destinazione/", _members(tree.modena_nord))
    assert response.status_code == 200 and "non compare tra quelle disponibili" in response.content.decode()
    batch.refresh_from_db()
    assert batch.target == ""


def test_a_sibling_circolo_cannot_be_forged(tree):
    navile = verified_client(make_official("segretario.navile", tree.bologna_navile, [Role.MEMBERSHIP]))
    navile.post("/persone/importa/", {"file": _upload(), "territory": tree.bologna_navile.pk})
    batch = ImportBatch.objects.latest("id")
    navile.post(f"/persone/importa/{batch.pk}/colonne/", {f"col_{k}": v for k, v in batch.mapping.items()})
    response = navile.post(f"/persone/importa/{batch.pk}/destinazione/", _members(tree.bologna_centro))
    assert "non compare tra quelle disponibili" in response.content.decode()
    batch.refresh_from_db()
    assert batch.target == "" and not Membership.objects.exists()


def test_d1_flagged_row_waits_and_is_registered_when_the_code_is_confirmed(
    tree, secretary, desk, django_capture_on_commit_callbacks
):
    # Paolo's code says 07/07/1960; the spreadsheet says 17/07/1960.
    content = (f"{HEADER}\r\nConti;Paolo;M;{PAOLO};17/07/1960;Bologna;Via Ugo Bassi 2;40121;Bologna;\r\n").encode()
    batch, _r = import_through_wizard(
        desk,
        tree.bologna_centro,
        content,
        django_capture_on_commit_callbacks,
        confirm=True,
        target=_members(tree.bologna_centro),
    )
    row = ImportRow.objects.get(batch=batch)
    assert row.target_outcome == TargetOutcome.HELD and not Membership.objects.exists()
    review = CodeDateReview.objects.get()
    desk.post(f"/persone/codici-da-verificare/{review.pk}/", {"resolution": "code_right"})
    row.refresh_from_db()
    membership = Membership.objects.get()
    assert membership.person.birth_date == dt.date(1960, 7, 7) and membership.year == YEAR
    assert row.target_outcome == TargetOutcome.DONE and "registrata" in row.target_note
    report = desk.get(f"/persone/importa/{batch.pk}/rapporto/").content.decode()
    assert "Registrata" in report


def test_a_resolver_without_membership_role_on_the_circolo_does_not_register(
    tree, secretary, desk, django_capture_on_commit_callbacks
):
    content = (f"{HEADER}\r\nConti;Paolo;M;{PAOLO};17/07/1960;Bologna;Via Ugo Bassi 2;40121;Bologna;\r\n").encode()
    batch, _r = import_through_wizard(
        desk,
        tree.bologna_centro,
        content,
        django_capture_on_commit_callbacks,
        confirm=True,
        target=_members(tree.bologna_centro),
    )
    review = CodeDateReview.objects.get()
    Person.objects.filter(pk=review.person_id).update(territory=tree.bologna_navile)  # moved since
    navile = verified_client(make_official("segretario.navile", tree.bologna_navile, [Role.ORGANISATION]))
    navile.post(f"/persone/codici-da-verificare/{review.pk}/", {"resolution": "code_right"})
    row = ImportRow.objects.get(batch=batch)
    assert row.target_outcome == TargetOutcome.REFUSED
    assert f"Non hai un ruolo di tesseramento su {tree.bologna_centro}" in row.target_note
    assert not Membership.objects.exists()
