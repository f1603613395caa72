"""Issue 10, finding 9, swept: every export of the platform escapes spreadsheet formulas and
writes its audit entry (convention 17, rule G4).

The export views are found in the URLconf by the mark of the one writer (`@export_view`); each
needs a recipe here that plants a hostile value where that export reads it (a person named
`=1+HYPERLINK(...)`, a rejected import row, a roll entry), downloads the file as an official
would, and checks that the value arrives escaped, that no cell of the file starts with a formula
trigger, and that an EXPORT entry with the row count was written. A new export fails
`test_every_export_view_has_a_recipe` until it gets one.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Callable
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone
from openpyxl import load_workbook

from piazza.compliance import actions as compliance_actions
from piazza.compliance.candidate_books import ensure_categories
from piazza.compliance.models import ExpenseCategory
from piazza.compliance.register import actions as register_actions
from piazza.compliance.tests import journey as candidate_journey
from piazza.core.exports import EXPORT_MARK, FORMULA_TRIGGERS
from piazza.core.models import AuditEntry, AuditKind
from piazza.core.money import Money
from piazza.events import actions as events_actions
from piazza.membership.actions import card as card_membership_actions
from piazza.membership.actions import roll as roll_membership_actions
from piazza.membership.models import Delivery
from piazza.membership.tests.conftest import YEAR, paid, schedule  # noqa: F401 (the fixture)
from piazza.people.actions import imports as imports_people_actions
from piazza.people.actions import person as person_people_actions
from piazza.people.models import BatchStatus, Person
from piazza.privacy import breaches
from piazza.territory.models import Role
from piazza.territory.testing import make_official, verified_client

pytestmark = pytest.mark.django_db

HOSTILE = '=1+HYPERLINK("http://evil.example/","x")'
HOSTILE_DIGIT = "=2+5"  # the old `_safe` skipped a value whose second character is a digit
HOSTILE_PLAIN = "@SUM(A1:A9)"


def _export_views() -> dict[str, str]:
    found: dict[str, str] = {}

    def walk(resolver: URLResolver, namespace: str = "") -> None:
        for entry in resolver.url_patterns:
            if isinstance(entry, URLResolver):
                walk(entry, entry.namespace or namespace)
            elif isinstance(entry, URLPattern) and getattr(entry.callback, EXPORT_MARK, None):
                found[f"{namespace}:{entry.name}"] = getattr(entry.callback, EXPORT_MARK)

    walk(get_resolver())
    return found


def _people_export(tree: Any, file_format: str) -> Any:
    person = person_people_actions.create_person(
        actor=None, data={"first_name": "Mario", "last_name": "Rossi"}, circolo=tree.bologna_centro
    )
    Person.objects.filter(pk=person.pk).update(last_name=HOSTILE, first_name=HOSTILE_DIGIT)
    official = make_official("export.people", tree.bologna_centro, [Role.ORGANISATION])
    return verified_client(official).post(
        reverse("people:export"), {"purpose": "Verifica della sicurezza delle esportazioni", "file_format": file_format}
    )


def _rejected_rows(tree: Any, django_capture_on_commit_callbacks: Any) -> Any:
    official = make_official("export.import", tree.bologna_centro, [Role.ORGANISATION])
    # No comma or quote in the planted cells: the importer sniffs the delimiter of a CSV, and
    # refuses a formula cell in an XLSX (it asks for "Incolla valori").
    content = (
        "Cognome;Nome;Codice Fiscale;Data di nascita;Comune;E-mail;Cellulare\r\n"
        "Rossi;Mario;;12/03/1985;Bologna;mario@example.org;\r\n"
        f"{HOSTILE_PLAIN};{HOSTILE_DIGIT};;31/12/1990;Bologna;non-una-email@@;+39 333 1234567\r\n"
    ).encode()
    with django_capture_on_commit_callbacks(execute=True):
        batch = imports_people_actions.start_import(
            actor=official, territory=tree.bologna_centro, file_name="iscritti.csv", content=content
        )
        imports_people_actions.set_import_mapping(actor=official, batch=batch, mapping=batch.mapping)
        imports_people_actions.run_import(actor=official, batch=batch)
    batch.refresh_from_db()
    if batch.status != BatchStatus.DONE:
        imports_people_actions.process_import_batch(actor=official, batch_id=batch.pk)
    return verified_client(official).get(reverse("people:import_rejected", args=[batch.pk]))


def _roll(tree: Any) -> Any:
    secretary = make_official("export.roll", tree.bologna_centro, [Role.ORGANISATION, Role.MEMBERSHIP])
    at = dt.datetime(YEAR, 3, 20, tzinfo=dt.UTC)
    membership = paid(tree)
    card_membership_actions.deliver_card(
        actor=secretary, membership=membership, delivery=Delivery.CIRCOLO, now=at - dt.timedelta(days=1)
    )
    congress = roll_membership_actions.create_congress(
        actor=secretary, territory=tree.bologna_centro, name="Congresso", cut_off=at, membership_years=[YEAR]
    )
    Person.objects.filter(pk=membership.person_id).update(last_name=HOSTILE, first_name=HOSTILE_DIGIT)
    roll = roll_membership_actions.compute_roll(actor=secretary, congress=congress, circolo=tree.bologna_centro)
    assert roll.entries.get().last_name == HOSTILE  # the roll copies the names (append-only rows)
    return verified_client(secretary).get(reverse("membership:roll_export", args=[roll.pk, "csv"]))


def _expense_category() -> ExpenseCategory:
    ensure_categories()  # a transactional test may have flushed the rows the migration seeded
    return ExpenseCategory.objects.get(code="altre")


def _candidate_report(tree: Any) -> Any:
    official = make_official("export.candidacy", tree.bologna, [Role.ORGANISATION, Role.TREASURY])
    found = candidate_journey.candidacy(tree, official)
    compliance_actions.book_candidate_expense(
        actor=official,
        candidacy=found,
        supplier=HOSTILE,
        description=HOSTILE_DIGIT,
        amount=Money(10_000),
        incurred_on=dt.date(2026, 6, 1),
        idempotency_key="export-sweep",
        category=_expense_category(),  # rule F11: categorised, with its receipt
        receipt=SimpleUploadedFile("ricevuta.pdf", b"%PDF-1.4\n%%EOF\n", content_type="application/pdf"),
    )
    return verified_client(official).get(reverse("compliance:report", args=[found.pk]))


def _register(tree: Any) -> Any:
    """Rule F5: a donor above the threshold (a service in kind) published, then the CSV of the version."""
    membership = paid(tree)
    Person.objects.filter(pk=membership.person_id).update(last_name=HOSTILE, first_name=HOSTILE_DIGIT)
    treasurer = make_official("export.register", tree.national, [Role.TREASURY])
    register_actions.record_in_kind(
        actor=treasurer,
        person=Person.objects.get(pk=membership.person_id),
        territory=tree.national,
        description="Sala per l'assemblea",
        value_cents=60_000,
        received_on=dt.date(YEAR, 3, 1),
        evidence=SimpleUploadedFile("fattura.pdf", b"%PDF-1.4\n%%EOF\n"),
        publication_accepted=True,
    )
    publication = register_actions.publish_register(actor=treasurer, entity=tree.national, year=YEAR)
    return verified_client(treasurer).get(reverse("compliance:register_csv", args=[publication.pk]))


def _breach_register(tree: Any) -> Any:
    officer = make_official("export.privacy", tree.national, [Role.PRIVACY_OFFICER])
    breaches.record_breach(
        actor=officer,
        facts=breaches.BreachFacts(
            discovered_at=timezone.now() - dt.timedelta(hours=5),
            nature=HOSTILE,
            data_categories=HOSTILE_DIGIT,
            people_count=3,
            records_count=3,
            consequences="Nessuna",
            measures="Password cambiate",
        ),
    )
    return verified_client(officer).get(reverse("privacy:breach_export"))


def _petition_signatures(tree: Any) -> Any:
    """Issue 15: the signatures delivered to a petition's target, a signer's name hostile."""
    from piazza.petitions import actions as petitions_actions
    from piazza.petitions.models import Signature
    from piazza.territory.models import Comune

    official = make_official("export.petitions", tree.bologna, [Role.COMMUNICATION])
    petition = petitions_actions.create_petition(
        actor=official, territory=tree.bologna, title="Petizione", text="Testo", target="Sindaco"
    )
    data = petitions_actions.SignatureInput(
        first_name="Mario",
        last_name="Rossi",
        email="mario.rossi@example.org",
        comune=Comune.objects.get(name="Bologna"),
        postal_code="40121",
    )
    petitions_actions.sign_petition(actor=None, petition=petition, data=data)
    Signature.objects.update(last_name=HOSTILE, first_name=HOSTILE_DIGIT)
    return verified_client(official).get(reverse("petitions:signatures_csv", args=[petition.pk]))


Recipe = Callable[..., tuple[Any, list[str]]]


def _receipts(tree: Any) -> Any:
    """Rule F3: a receipt (rows are only ever inserted) whose donor data are hostile."""
    from django.utils import timezone

    from piazza.compliance.models import Receipt

    Receipt.objects.create(
        entity=tree.bologna,
        territory=tree.bologna_centro,
        year=2026,
        number=1,
        display_number="2026/000001",
        source="funding.donation",
        source_id=1,
        donor_name=HOSTILE,
        donor_address=HOSTILE_DIGIT,
        amount_cents=1_000,
        received_at=timezone.now(),
        method="card",
        traceable=True,
    )
    official = make_official("export.receipts", tree.bologna, [Role.TREASURY])
    return verified_client(official).get(reverse("compliance:receipts_export"))


def _volunteers(tree: Any) -> Any:
    """Issue 15: the sign-ups of an opportunity, a volunteer's name hostile."""
    import datetime as dt

    from piazza.volunteers.models import Opportunity, Shift, ShiftSignup

    opportunity = Opportunity.objects.create(territory=tree.bologna_centro, kind="gazebo", title="Gazebo", place="Via")
    start = timezone.now() + dt.timedelta(days=1)
    shift = Shift.objects.create(
        opportunity=opportunity,
        starts_at=start,
        ends_at=start + dt.timedelta(hours=2),
        capacity=3,
    )
    person = Person.objects.create(first_name=HOSTILE, last_name=HOSTILE_DIGIT, territory=tree.bologna_centro)
    ShiftSignup.objects.create(shift=shift, person=person)
    official = make_official("export.volunteers", tree.bologna_centro, [Role.ORGANISATION])
    return verified_client(official).get(reverse("volunteers:export", args=[opportunity.pk]))


def _event_attendees(tree: Any) -> Any:
    """Issue 15: an attendee who typed a formula as their name (and one as their phone)."""
    from piazza.territory.models import Comune

    organiser = make_official("export.eventi", tree.bologna, [Role.COMMUNICATION])
    start = timezone.now() + dt.timedelta(days=3)
    event = events_actions.create_event(
        actor=organiser,
        territory=tree.bologna,
        data=events_actions.EventData(
            title="Festa",
            description="",
            starts_at=start,
            ends_at=start + dt.timedelta(hours=2),
            comune=Comune.objects.get(name="Bologna"),
        ),
    )
    rsvp = events_actions.rsvp_to_event(event=event, first_name="Anna", last_name="Rossi", email="a@example.org")
    type(rsvp).objects.filter(pk=rsvp.pk).update(first_name=HOSTILE, last_name=HOSTILE_DIGIT)
    return verified_client(organiser).get(reverse("events:export", args=[event.pk]))


RECIPES: dict[str, list[Recipe]] = {
    "people:export": [
        lambda tree, **_: (_people_export(tree, "csv"), [HOSTILE, HOSTILE_DIGIT]),
        lambda tree, **_: (_people_export(tree, "xlsx"), [HOSTILE, HOSTILE_DIGIT]),
    ],
    "people:import_rejected": [
        lambda tree, capture, **_: (_rejected_rows(tree, capture), [HOSTILE_PLAIN, HOSTILE_DIGIT])
    ],
    "membership:roll_export": [lambda tree, **_: (_roll(tree), [HOSTILE, HOSTILE_DIGIT])],
    "privacy:breach_export": [lambda tree, **_: (_breach_register(tree), [HOSTILE, HOSTILE_DIGIT])],
    "compliance:report": [lambda tree, **_: (_candidate_report(tree), [f"{HOSTILE} · {HOSTILE_DIGIT}"])],
    "compliance:register_csv": [lambda tree, **_: (_register(tree), [f"{HOSTILE_DIGIT} {HOSTILE}"])],
    "compliance:receipts_export": [lambda tree, **_: (_receipts(tree), [HOSTILE, HOSTILE_DIGIT])],
    "petitions:signatures_csv": [lambda tree, **_: (_petition_signatures(tree), [HOSTILE, HOSTILE_DIGIT])],
    "volunteers:export": [lambda tree, **_: (_volunteers(tree), [HOSTILE, HOSTILE_DIGIT])],
    "events:export": [lambda tree, **_: (_event_attendees(tree), [HOSTILE, HOSTILE_DIGIT])],
}


def _cells(response: Any) -> list[str]:
    body = response.content
    if response["Content-Type"].startswith("text/csv"):
        text = body.decode("utf-8-sig")
        return [cell for row in csv.reader(io.StringIO(text), delimiter=";") for cell in row]
    sheet = load_workbook(io.BytesIO(body)).active
    assert sheet is not None
    cells = []
    for row in sheet.iter_rows():
        for cell in row:
            assert cell.data_type != "f", f"a formula in {cell.coordinate}: {cell.value}"
            cells.append("" if cell.value is None else str(cell.value))
    return cells


def test_every_export_view_has_a_recipe():
    assert set(_export_views()) == set(RECIPES)


@pytest.mark.parametrize(("name", "recipe"), [(n, r) for n, rs in RECIPES.items() for r in rs])
def test_export_escapes_a_hostile_value_and_is_audited(
    name,
    recipe,
    tree,
    schedule,  # noqa: F811
    django_capture_on_commit_callbacks,
):
    action = _export_views()[name]
    response, planted = recipe(tree, capture=django_capture_on_commit_callbacks)
    assert response.status_code == 200 and "attachment" in response["Content-Disposition"]
    cells = _cells(response)
    for value in planted:
        assert "'" + value in cells
    assert [c for c in cells if c.startswith(FORMULA_TRIGGERS)] == []
    entry = AuditEntry.objects.filter(action=action, kind=AuditKind.EXPORT).latest("id")
    assert entry.data["rows"] >= 1 and entry.actor is not None
