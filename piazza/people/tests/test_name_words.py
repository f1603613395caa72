"""P5 name search through distinct name words (ADR 0038): PostgreSQL triggers keep `people_nameword`
(added on insert, single or bulk, and on rename; removed when the last active holder is renamed,
merged or erased, G5), search matches every typed word, and the advisory lock (38, 0) keeps a
concurrent import's word from being dropped by a rename."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from django.db import connection, connections, transaction

from piazza.people.actions import duplicates as duplicate_actions
from piazza.people.actions import person as person_actions
from piazza.people.models import NameWord, Person, Source
from piazza.people.queries import people_for
from piazza.people.validation import search_name
from piazza.privacy.erasure import erase_person
from piazza.territory.models import Role
from piazza.territory.testing import make_official

pytestmark = pytest.mark.postgres


def _words() -> set[str]:
    return set(NameWord.objects.values_list("word", flat=True))


def _create(tree: Any, first: str, last: str, territory: Any = None) -> Person:
    return person_actions.create_person(
        actor=None, data={"first_name": first, "last_name": last}, circolo=territory or tree.bologna_centro
    )


def _person(territory: Any, first: str, last: str) -> Person:
    return Person(
        first_name=first,
        last_name=last,
        search_name=search_name(first, last),
        territory=territory,
        source=Source.DEMO,
    )


def _names(user: Any, text: str) -> list[str]:
    return [str(p) for p in people_for(user, {"q": text})]


@pytest.mark.django_db
def test_words_are_added_on_a_single_and_a_bulk_insert(tree):
    _create(tree, "Mario", "Rossi")
    assert _words() == {"rossi", "mario"}
    Person.objects.bulk_create(
        [_person(tree.bologna_centro, "Anna Maria", "De Luca"), _person(tree.modena_nord, "Mario", "Bianchi")]
    )
    assert _words() == {"rossi", "mario", "de", "luca", "anna", "maria", "bianchi"}
    assert NameWord.objects.filter(word="mario").count() == 1


@pytest.mark.django_db
def test_a_rename_adds_the_new_words_and_drops_only_words_no_one_else_holds(tree):
    mario = _create(tree, "Mario", "Rossi")
    anna = _create(tree, "Anna", "Rossi")
    person_actions.update_person(actor=None, person=mario, data={"first_name": "Mario", "last_name": "Russo"})
    assert _words() == {"rossi", "russo", "mario", "anna"}  # Anna still holds "rossi"
    person_actions.update_person(actor=None, person=anna, data={"first_name": "Anna", "last_name": "Verdi"})
    assert _words() == {"russo", "mario", "anna", "verdi"}


@pytest.mark.django_db
def test_g5_an_erased_name_leaves_no_word_behind(tree):
    official = make_official("segreteria.bo", tree.bologna, [Role.ORGANISATION, Role.MEMBERSHIP])
    person = _create(tree, "Ermenegilda", "Scarpantibus")
    _create(tree, "Mario", "Rossi")
    erase_person(actor=official, person=person, reason="request")
    # Nor the placeholder "Persona cancellata": only active people's words are kept.
    assert _words() == {"rossi", "mario"}
    assert _names(official, "Scarpantibus Ermenegilda") == []


@pytest.mark.django_db
def test_a_merged_record_keeps_only_the_survivors_words(tree):
    survivor = _create(tree, "Mario", "Rossi")
    merged = _create(tree, "Marjo", "Rossi")
    duplicate_actions.merge_people(actor=None, survivor=survivor, merged=merged)
    assert _words() == {"rossi", "mario"}


@pytest.mark.django_db
def test_a_slipped_word_still_finds_the_person_nearest_first(tree, national_admin):
    for first, last in [("Mario", "Rossi"), ("Maria", "Rossini"), ("Marco", "Bianchi"), ("Anna", "Rossi")]:
        _create(tree, first, last)
    assert _names(national_admin, "Rossi Mraio")[0] == "Rossi Mario"
    assert _names(national_admin, "Rosis Mario")[0] == "Rossi Mario"
    assert "Bianchi Marco" not in _names(national_admin, "Rossi Mario")


@pytest.mark.django_db
def test_every_typed_word_must_be_near_a_word_of_the_name(tree, national_admin):
    """The behaviour change of ADR 0038: "Flaiano Adele" no longer lists every other Flaiano."""
    _create(tree, "Adele", "Flaiano")
    _create(tree, "Marco", "Flaiano")
    assert _names(national_admin, "Flaiano Adele") == ["Flaiano Adele"]
    assert sorted(_names(national_admin, "flaiano")) == ["Flaiano Adele", "Flaiano Marco"]


@pytest.mark.django_db
def test_one_typed_word_must_be_near_a_name_not_just_share_a_trigram(tree, national_admin):
    _create(tree, "Mario", "Rossi")
    assert _names(national_admin, "rosi") == ["Rossi Mario"]
    assert _names(national_admin, "rozzz") == []  # two trigrams in common with "rossi": noise alone
    assert _names(national_admin, "rozzz mario") == ["Rossi Mario"]


@pytest.mark.django_db
def test_name_search_stays_inside_the_scope(tree, circolo_secretary):
    Person.objects.bulk_create(
        [_person(tree.bologna_centro, "Mario", "Rossi"), _person(tree.modena_nord, "Mario", "Rossi")]
    )
    found = people_for(circolo_secretary, {"q": "rossi mario"})
    assert [p.territory_id for p in found] == [tree.bologna_centro.pk]


def _waiting_on_the_name_words_lock() -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND classid = 38 AND NOT granted"
            " AND database = (SELECT oid FROM pg_database WHERE datname = current_database()))"
        )
        return bool(cursor.fetchone()[0])


@pytest.mark.django_db(transaction=True)
def test_a_rename_cannot_drop_a_word_a_concurrent_insert_relies_on(tree, national_admin):
    """The race of ADR 0038: an import's transaction (held open) adds a "zorzi" while "zorzi" is
    already a word, so it writes none; a rename of the last other Zorzi then finds no active
    holder it can see. Without the advisory lock it drops the word and, once the import commits,
    the new Zorzi cannot be found; with it the rename waits for the import and keeps the word."""
    first = Person.objects.create(
        first_name="Ugo", last_name="Zorzi", search_name="zorzi ugo", territory=tree.bologna_centro
    )
    assert "zorzi" in _words()
    inserted, release = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def adder() -> None:
        try:
            with transaction.atomic():
                Person.objects.bulk_create([_person(tree.bologna_centro, "Ivo", "Zorzi")])
                inserted.set()
                release.wait(60)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    def remover() -> None:
        try:
            inserted.wait(60)
            with transaction.atomic():
                Person.objects.filter(pk=first.pk).update(last_name="Bianchi", search_name="bianchi ugo")
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=adder), threading.Thread(target=remover)]
    for thread in threads:
        thread.start()
    inserted.wait(60)
    # Let the rename run until it either commits (no lock) or waits for the import (the lock).
    for _attempt in range(600):
        if not threads[1].is_alive() or _waiting_on_the_name_words_lock():
            break
        time.sleep(0.05)
    release.set()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert "zorzi" in _words()
    assert _names(national_admin, "Zorzi Ivo") == ["Zorzi Ivo"]
