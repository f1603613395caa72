"""Create, update, dedupe, merge and consents through the actions (rules D1, D4, G2, G3, M11)."""

import pytest
from codicefiscale import codicefiscale as cflib
from django.core.exceptions import PermissionDenied, ValidationError

from piazza.core.models import AuditEntry
from piazza.people.actions import consent as consent_actions
from piazza.people.actions import duplicates as duplicates_actions
from piazza.people.actions import person as person_actions
from piazza.people.models import Consent, DuplicateCandidate, DuplicateStatus, Email, Person, Phone, TimelineEntry
from piazza.people.queries import RELATIONS, contact_permission, register_relation
from piazza.people.tests.conftest import MARIO_CF
from piazza.territory.models import Role
from piazza.territory.testing import make_official

pytestmark = pytest.mark.django_db


def test_create_normalises_and_assigns_territory(tree, circolo_secretary, mario_data):
    person = person_actions.create_person(actor=circolo_secretary, data=mario_data, circolo=tree.bologna_centro)
    assert person.territory == tree.bologna_centro
    assert person.codice_fiscale_canonical == MARIO_CF
    assert list(person.emails.values_list("value", "primary")) == [("mario.rossi@example.org", True)]
    assert list(person.phones.values_list("value", flat=True)) == ["+393331234567"]
    assert person.search_name == "rossi mario"
    assert person.timeline.filter(kind="created").exists()
    assert AuditEntry.objects.filter(action="people.create_person", object_id=str(person.pk)).exists()


def test_without_circolo_goes_to_the_federation_of_residence(tree, national_admin, mario_data):
    person = person_actions.create_person(actor=national_admin, data=mario_data)
    assert person.territory == tree.bologna  # Bologna has two circoli: federation scope
    modena = person_actions.create_person(
        actor=None, data={"first_name": "Anna", "last_name": "Verdi", "residence_comune": "Modena"}
    )
    assert modena.territory == tree.modena_nord  # the only territorial circolo of Modena


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("residence_comune", "Atlantide", "non è nell'elenco ISTAT"),
        ("emails", ["mario@@example"], "non è valido"),
        ("phones", ["12"], "telefono"),
        ("birth_date", "31/02/1985", "non è leggibile"),
        ("codice_fiscale", MARIO_CF[:15] + ("Z" if MARIO_CF[15] != "Z" else "Y"), "lettera di controllo"),
    ],
)
def test_bad_input_is_refused_with_a_field_message_and_nothing_written(
    tree, national_admin, mario_data, field, value, expected
):
    mario_data[field] = value
    with pytest.raises(ValidationError) as info:
        person_actions.create_person(actor=national_admin, data=mario_data)
    assert expected in " ".join(info.value.message_dict[field])
    assert not Person.objects.exists() and not Email.objects.exists()
    assert AuditEntry.objects.filter(action="people.create_person", kind="denied").exists()


def test_code_inconsistent_with_the_record(tree, national_admin, mario_data):
    mario_data["birth_date"] = "12/03/1986"
    with pytest.raises(ValidationError) as info:
        person_actions.create_person(actor=national_admin, data=mario_data)
    assert (
        "La data di nascita nel codice è 12/03/1985, la scheda dice 12/03/1986."
        in info.value.message_dict["codice_fiscale"]
    )


def test_same_code_in_omocodia_form_is_refused_on_create_and_found_by_find_or_create(tree, national_admin, mario_data):
    first = person_actions.create_person(actor=national_admin, data=mario_data)
    variant = cflib.decode(MARIO_CF)["omocodes"][5]
    assert variant != MARIO_CF
    with pytest.raises(ValidationError, match="Esiste già"):
        person_actions.create_person(actor=national_admin, data={**mario_data, "codice_fiscale": variant, "emails": []})
    found = person_actions.find_or_create_person(
        actor=None,
        first_name="Mario",
        last_name="Rossi",
        codice_fiscale=variant,
        email="nuova@example.org",
        source="donation",
    )
    assert found.pk == first.pk and not found.was_created
    # Issue 10, convention 16: a public flow (actor None) never writes to the person it matched…
    assert set(first.emails.values_list("value", flat=True)) == {"mario.rossi@example.org"}
    assert Person.objects.count() == 1
    # …an official in scope does (the desk), and so does a flow whose person proved the address.
    person_actions.find_or_create_person(
        actor=national_admin, first_name="Mario", last_name="Rossi", codice_fiscale=variant, email="nuova@example.org"
    )
    assert set(first.emails.values_list("value", flat=True)) == {"mario.rossi@example.org", "nuova@example.org"}


def test_find_or_create_by_email_and_similar_name(tree, mario_data):
    first = person_actions.create_person(actor=None, data=mario_data)
    again = person_actions.find_or_create_person(
        actor=None, first_name="mario", last_name="rossi", email="MARIO.ROSSI@example.org"
    )
    assert again.pk == first.pk
    other = person_actions.find_or_create_person(
        actor=None, first_name="Giulia", last_name="Rossi", email="mario.rossi@example.org"
    )
    assert other.was_created
    candidate = DuplicateCandidate.objects.get()
    assert {candidate.person_a_id, candidate.person_b_id} == {first.pk, other.pk}
    assert any("stessa email" in r for r in candidate.reasons)


def test_fuzzy_duplicate_goes_to_review_queue(tree, mario_data):
    first = person_actions.create_person(actor=None, data=mario_data)
    typo = person_actions.create_person(
        actor=None,
        data={"first_name": "Mario", "last_name": "Rosi", "birth_date": "12/03/1985", "residence_comune": "Bologna"},
    )
    candidate = DuplicateCandidate.objects.get()
    assert (candidate.person_a_id, candidate.person_b_id) == (first.pk, typo.pk)
    assert any("stessa data di nascita" in r for r in candidate.reasons)
    assert any("stesso comune" in r for r in candidate.reasons)


def test_merge_keeps_everything_and_redirects(tree, national_admin, mario_data):
    survivor = person_actions.create_person(actor=national_admin, data=mario_data)
    old = person_actions.create_person(
        actor=national_admin,
        data={
            "first_name": "Mario",
            "last_name": "Rosi",
            "birth_date": "12/03/1985",
            "residence_comune": "Bologna",
            "emails": ["mario.rossi@example.org", "mr@example.org"],
            "phones": ["+41 44 668 18 00"],
            "tags": ["volontario"],
            "notes": "Conosciuto alla festa",
        },
    )
    consent_actions.record_consent(
        actor=national_admin, person=old, purpose="newsletter", channel="web", text_version="2024-1", evidence="form 42"
    )
    person_actions.add_timeline_entry(old, kind="donation", summary="Donazione 10 €", actor=None)
    merged_into = duplicates_actions.merge_people(actor=national_admin, survivor=survivor, merged=old)
    old.refresh_from_db()
    assert old.merged_into_id == survivor.pk
    assert set(Email.objects.filter(person=survivor).values_list("value", flat=True)) == {
        "mario.rossi@example.org",
        "mr@example.org",
    }
    assert Email.objects.filter(person=survivor, primary=True).count() == 1
    assert Phone.objects.filter(person=survivor).count() == 2
    assert Consent.objects.filter(person=survivor, purpose="newsletter").exists()
    assert list(survivor.tags.values_list("name", flat=True)) == ["volontario"]
    assert "festa" in merged_into.notes
    kinds = list(TimelineEntry.objects.filter(person=survivor).values_list("kind", flat=True))
    assert kinds.count("created") == 2 and "donation" in kinds and "merged" in kinds
    merge_entry = TimelineEntry.objects.get(person=survivor, kind="merged")
    assert merge_entry.data["merged_id"] == old.pk and merge_entry.data["merged_record"]["last_name"] == "Rosi"
    assert DuplicateCandidate.objects.get().status == DuplicateStatus.MERGED
    assert AuditEntry.objects.filter(action="people.merge_people", actor=national_admin).exists()
    # Later events for the old id land on the survivor.
    entry = person_actions.add_timeline_entry(old, kind="membership", summary="Tessera", actor=None)
    assert entry.person_id == survivor.pk
    with pytest.raises(ValidationError):
        duplicates_actions.merge_people(actor=national_admin, survivor=survivor, merged=old)


def test_update_records_old_and_new_values(tree, national_admin, mario_data):
    person = person_actions.create_person(actor=national_admin, data=mario_data)
    person_actions.update_person(
        actor=national_admin,
        person=person,
        data={"residence_street": "Via Rizzoli 2", "phones": ["3471112233"]},
        voting_circolo=tree.bologna_centro,
    )
    person.refresh_from_db()
    assert person.voting_circolo == tree.bologna_centro
    entry = person.timeline.get(kind="updated")
    assert entry.data["changes"]["residence_street"] == ["Via Indipendenza 1", "Via Rizzoli 2"]
    assert entry.data["changes"]["phones"] == [None, ["+393471112233"]]


def test_official_cannot_write_outside_scope(tree, mario_data):
    modena = make_official("modena", tree.modena, [Role.ORGANISATION])
    with pytest.raises(PermissionDenied):
        person_actions.create_person(actor=modena, data=mario_data)
    person = person_actions.create_person(actor=None, data=mario_data)
    with pytest.raises(PermissionDenied):
        person_actions.update_person(actor=modena, person=person, data={"notes": "x"})
    communication = make_official("comunicazione", tree.bologna, [Role.COMMUNICATION])
    with pytest.raises(PermissionDenied):
        person_actions.update_person(actor=communication, person=person, data={"notes": "x"})


def test_consents_and_contact_permission(tree, national_admin, mario_data):
    person = person_actions.create_person(actor=national_admin, data=mario_data)
    answer = contact_permission(person, "political_communication")
    assert not answer.allowed and "Nessun consenso" in answer.reason
    consent_actions.record_consent(
        actor=national_admin,
        person=person,
        purpose="political_communication",
        channel="paper",
        text_version="informativa-2024",
        evidence="modulo firmato",
    )
    answer = contact_permission(person, "political_communication", "email")
    assert answer.allowed and answer.channels == ["email"]
    consent_actions.withdraw_consent(
        actor=national_admin, person=person, purpose="political_communication", channel="email"
    )
    assert not contact_permission(person, "political_communication").allowed
    assert Consent.objects.filter(person=person).count() == 2  # history kept


def test_regular_contacts_need_no_consent_for_political_communication(tree, mario_data):
    """Rule G2: members and regular contacts; other purposes still need consent (G3)."""
    person = person_actions.create_person(actor=None, data=mario_data)
    register_relation("test_member", "Iscritto", lambda qs: qs.filter(tags__name="iscritto"), regular_contact=True)
    try:
        assert not contact_permission(person, "political_communication").allowed
        person_actions.set_tags(actor=None, person=person, names=["iscritto"])
        assert contact_permission(person, "political_communication").allowed
        assert not contact_permission(person, "newsletter").allowed
    finally:
        RELATIONS.pop("test_member")


def test_consent_needs_a_text_version(tree, national_admin, mario_data):
    person = person_actions.create_person(actor=national_admin, data=mario_data)
    with pytest.raises(ValidationError):
        consent_actions.record_consent(
            actor=national_admin, person=person, purpose="profiling", channel="web", text_version=" "
        )


def test_the_import_places_a_chunk_of_comuni_in_three_queries(tree, django_assert_max_num_queries):
    """Rules M10/M11 for many comuni at once (issue 14, P6): Modena has one circolo (there), Bologna
    two (the federation decides), Imola none (its federation), no comune (national) — the same
    answers as one person at a time, in three queries whatever the number of comuni."""
    from piazza.people.actions.scope import assign_territory, territories_for_comuni
    from piazza.territory.models import Comune

    comuni = list(Comune.objects.filter(istat_code__in=["036023", "037006", "037032"]).order_by("istat_code"))
    comuni += list(Comune.objects.filter(federation__isnull=False).exclude(pk__in=[c.pk for c in comuni])[:40])
    with django_assert_max_num_queries(3):
        placed = territories_for_comuni([*comuni, None])
    modena, bologna, imola = comuni[:3]
    assert placed[modena.pk] == tree.modena_nord
    assert placed[bologna.pk] == tree.bologna and placed[imola.pk] == tree.bologna
    assert placed[None] == tree.national
    for comune in comuni:
        assert placed[comune.pk] == assign_territory(residence_comune=comune, circolo=None)
