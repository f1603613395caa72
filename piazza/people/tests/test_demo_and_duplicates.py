"""The demo seeder (valid, consistent codes; top-up; deliberate duplicates found by the full pass),
`scan_duplicates` itself, and re-import idempotency for rows known only by name and birth date."""

import datetime as dt
import io

import pytest

from piazza.core.models import AuditEntry
from piazza.people import demo
from piazza.people.actions import duplicates as duplicates_actions
from piazza.people.actions import person as person_actions
from piazza.people.codice_fiscale import consistency_problems, validate_codice_fiscale
from piazza.people.models import DuplicateCandidate, Person, Source
from piazza.people.tests.test_import_export import _run

pytestmark = pytest.mark.django_db


def test_demo_people_have_valid_codes_consistent_with_the_record(tree):
    out = io.StringIO()
    demo.seed(people=120, stdout=out)
    people = Person.objects.filter(source=Source.DEMO).select_related("birth_comune")
    assert people.count() == 120
    with_code = [p for p in people if p.codice_fiscale]
    assert len(with_code) > 80
    inconsistent = 0
    for person in with_code:
        result = validate_codice_fiscale(person.codice_fiscale)
        assert result.is_valid, (person.codice_fiscale, result.errors)
        assert result.canonical == person.codice_fiscale_canonical
        problems = consistency_problems(
            result,
            first_name=person.first_name,
            last_name=person.last_name,
            sex=person.sex,
            birth_date=person.birth_date,
            birth_belfiore=person.birth_comune.belfiore if person.birth_comune else "",
        )
        inconsistent += bool(problems)
    # Only the deliberate duplicates typed with a slip disagree with their code.
    assert inconsistent <= 10
    assert all(p.timeline.filter(kind="created").exists() for p in people[:10])
    assert AuditEntry.objects.filter(action="people.seed_demo").count() == 1
    demo.seed(people=120, stdout=out)  # topped up already: nothing added
    assert Person.objects.filter(source=Source.DEMO).count() == 120


def test_deliberate_duplicates_are_found_by_the_full_pass(tree):
    demo.generate_people(2000, seed=3)
    assert DuplicateCandidate.objects.count() == 0
    found = duplicates_actions.scan_duplicates(actor=None)
    assert found >= 20  # 2.5% deliberate duplicates, most carrying a matching signal
    reasons = {r for c in DuplicateCandidate.objects.all() for r in c.reasons}
    assert any("codice fiscale" in r for r in reasons) and any("nome simile" in r for r in reasons)
    assert duplicates_actions.scan_duplicates(actor=None) == 0  # a second pass queues nothing new


def test_scan_duplicates_pairs_each_kind_of_evidence(tree, mario_data):
    mario = person_actions.create_person(actor=None, data=mario_data, circolo=tree.bologna_centro)
    same_email = person_actions.create_person(
        actor=None, data={"first_name": "Anna", "last_name": "Neri", "emails": ["mario.rossi@example.org"]}
    )
    typo = person_actions.create_person(
        actor=None,
        data={"first_name": "Mario", "last_name": "Rosi", "birth_date": "12/03/1985", "residence_comune": "037006"},
    )
    stranger = person_actions.create_person(
        actor=None, data={"first_name": "Lucia", "last_name": "Bianchi", "birth_date": "12/03/1985"}
    )
    DuplicateCandidate.objects.all().delete()
    assert duplicates_actions.scan_duplicates(actor=None) == 2
    pairs: dict[tuple[int, ...], DuplicateCandidate] = {
        (c.person_a_id, c.person_b_id): c for c in DuplicateCandidate.objects.all()
    }
    email_pair = pairs[tuple(sorted((mario.pk, same_email.pk)))]
    assert email_pair.reasons == ["stessa email"]
    typo_pair = pairs[tuple(sorted((mario.pk, typo.pk)))]
    assert "stesso comune" in typo_pair.reasons and typo_pair.score >= 60
    assert not any(stranger.pk in pair for pair in pairs)
    entry = AuditEntry.objects.get(action="people.scan_duplicates")
    assert entry.data == {"pairs": 2, "new": 2}


def test_rows_with_only_name_and_birth_date_are_not_created_twice(
    tree, circolo_secretary, django_capture_on_commit_callbacks
):
    content = "Cognome;Nome;Data di nascita\nFerri;Giulia;04/07/1992\nFerri;Giulia;04/07/1992\nConti;Paolo;\n"
    with django_capture_on_commit_callbacks(execute=True):
        first = _run(circolo_secretary, tree.bologna_centro, content.encode())
    assert first.summary == {"created": 2, "unchanged": 1}  # the second line is the first's person
    with django_capture_on_commit_callbacks(execute=True):
        again = _run(circolo_secretary, tree.bologna_centro, content.encode())
    assert again.summary == {"unchanged": 3}
    assert Person.objects.filter(last_name="Ferri").get().birth_date == dt.date(1992, 7, 4)
    chunk = AuditEntry.objects.filter(action="people.import_chunk").order_by("id").first()
    assert chunk is not None and len(chunk.data["created"]) == 2


def test_demo_duplicate_of_a_code_already_in_omocodia_form():
    """Seeding 500,000 people once crashed here: a duplicate of a duplicate whose code already
    ended in an omocodia letter."""
    import random

    from piazza.people.demo import _duplicate

    code = "RSSMRA85C12A94QX"  # position 15 already substituted (4 → Q)
    original = [1, "Mario", "Rossi", None, "M", None, None, "", code, "", "", "", "", None]
    for seed in range(40):  # every kind of duplicate, with and without the omocodia branch
        row, _contacts = _duplicate(list(original), {}, random.Random(seed), 2)
        assert row[0] == 2 and (row[8] in ("", code) or row[8][:14] == code[:14])


def _candidates_of(tree, mario_data):
    """Mario and one person for each probe of the on-write check, plus two who must not count."""
    from django.utils import timezone

    mario = person_actions.create_person(
        actor=None,
        data={**mario_data, "emails": ["mario@example.org", "casa.rossi@example.org"], "phones": ["333 123 4567"]},
        circolo=tree.bologna_centro,
    )
    Email = mario.emails.model
    # The primary e-mail created last: the reasons still name it first (the model ordering).
    Email.objects.filter(person=mario).update(primary=False)
    Email.objects.filter(person=mario, value="casa.rossi@example.org").update(primary=True)
    people = {
        "code": person_actions.create_person(
            actor=None,
            data={"first_name": "Mario", "last_name": "Rossi", "codice_fiscale": mario_data["codice_fiscale"]},
            allow_duplicate_code=True,
        ),
        "name": person_actions.create_person(
            actor=None, data={"first_name": "Mario", "last_name": "Rosi", "birth_date": "12/03/1985"}
        ),
        "emails": person_actions.create_person(
            actor=None,
            data={
                "first_name": "Anna",
                "last_name": "Rossi",
                "emails": ["mario@example.org", "casa.rossi@example.org"],
            },
        ),
        "phone": person_actions.create_person(
            actor=None, data={"first_name": "Mario", "last_name": "Rossi", "phones": ["333 123 4567"]}
        ),
    }
    same_date = person_actions.create_person(
        actor=None, data={"first_name": "Giulia", "last_name": "Verdi", "birth_date": "12/03/1985"}
    )
    erased = person_actions.create_person(
        actor=None, data={"first_name": "Mario", "last_name": "Rossi", "emails": ["mario@example.org"]}
    )
    Person.objects.filter(pk=erased.pk).update(erased_at=timezone.now())
    return mario, people, same_date


def test_the_on_write_check_reads_its_candidates_in_one_unordered_statement(tree, mario_data):
    """P7 (issue 14): the candidates of a saved person (same code, e-mail, phone, same birth date
    with a similar name) and the person's own e-mails and phones come in ONE statement, unsorted;
    the answer is the one of the chunk matcher (`fetch_pool`, ADR 0039) on `Probe.of(person)`."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from piazza.people import dedupe

    mario, people, _same_date = _candidates_of(tree, mario_data)
    mario = Person.objects.get(pk=mario.pk)
    with CaptureQueriesContext(connection) as captured:
        matches = dedupe.find_matches_of(mario)
    statements = [q["sql"] for q in captured.captured_queries]
    assert len(statements) == 1, statements  # PostgreSQL and SQLite alike
    assert "ORDER BY" not in statements[0]
    assert {m.person_id for m in matches} == {p.pk for p in people.values()}
    probe = dedupe.Probe.of(mario)
    expected = dedupe.match(probe, dedupe.fetch_pool([probe], exclude_id=mario.pk), exclude_id=mario.pk)
    assert [vars(m) for m in matches] == [vars(m) for m in expected]
    shared = next(m for m in matches if m.person_id == people["emails"].pk)
    assert shared.reasons == ["stessa email casa.rossi@example.org", "stessa email mario@example.org"]
    code = next(m for m in matches if m.person_id == people["code"].pk)
    assert code.strong


def test_a_new_record_is_checked_in_one_statement(tree, mario_data):
    """P7: `find_matches` of typed data (find-or-create, the scope guard) is one statement too."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from piazza.people import dedupe

    _mario, people, _same_date = _candidates_of(tree, mario_data)
    probe = dedupe.Probe(
        first_name="Mario",
        last_name="Rossi",
        birth_date=dt.date(1985, 3, 12),
        codice_fiscale_canonical=Person.objects.get(pk=people["code"].pk).codice_fiscale_canonical,
        emails=["casa.rossi@example.org"],
        phones=["+393331234567"],
    )
    with CaptureQueriesContext(connection) as captured:
        matches = dedupe.find_matches(probe)
    assert len(captured) == 1, [q["sql"] for q in captured.captured_queries]
    assert {m.person_id for m in matches} == {p.pk for p in people.values()} | {_mario.pk}


def test_the_on_write_check_of_a_person_without_duplicates_is_one_statement(tree, mario_data):
    """P7 pin: `check_duplicates` of a person nobody resembles reads once and writes nothing; each
    new pair adds get-or-create's four (read, savepoint, insert, release)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    alone = person_actions.create_person(actor=None, data=mario_data, circolo=tree.bologna_centro)
    alone = Person.objects.get(pk=alone.pk)
    with CaptureQueriesContext(connection) as captured:
        assert person_actions.check_duplicates(alone) == []
    assert len(captured) == 1, [q["sql"] for q in captured.captured_queries]
    twin = person_actions.create_person(
        actor=None, data={"first_name": "Mario", "last_name": "Rosi", "birth_date": "12/03/1985"}
    )
    DuplicateCandidate.objects.all().delete()
    with CaptureQueriesContext(connection) as captured:
        queued = person_actions.check_duplicates(alone)
    assert [(c.person_a_id, c.person_b_id) for c in queued] == [(alone.pk, twin.pk)]
    assert len(captured) == 5, [q["sql"] for q in captured.captured_queries]


def test_the_on_write_check_skips_erased_and_unlike_same_date_people(tree, mario_data):
    """The single statement keeps `Person.objects.active()` and the name filter of the same date."""
    from piazza.people import dedupe

    mario, people, same_date = _candidates_of(tree, mario_data)
    found = {m.person_id for m in dedupe.find_matches_of(Person.objects.get(pk=mario.pk))}
    assert same_date.pk not in found and mario.pk not in found
    assert found == {p.pk for p in people.values()}
