"""P5 name search (through name words on PostgreSQL, ADR 0038): nearest names first, a capped
count ("oltre 1.000"), a fixed number of queries per list page whatever the size, and nothing
outside the scope."""

import pytest
from django.urls import reverse

from piazza.people import queries
from piazza.people.actions import person as person_actions
from piazza.people.models import Person, Source
from piazza.people.queries import CappedPaginator, people_for
from piazza.people.validation import search_name
from piazza.territory.testing import verified_client

pytestmark = pytest.mark.django_db


def _bulk_people(territory, n, last_name="Rossi"):
    people = [
        Person(first_name=f"Nome{i:04d}", last_name=last_name, territory=territory, source=Source.DEMO)
        for i in range(n)
    ]
    for p in people:
        p.search_name = search_name(p.first_name, p.last_name)
    Person.objects.bulk_create(people)


def test_count_is_capped_above_the_limit(tree, national_admin, monkeypatch):
    monkeypatch.setattr(CappedPaginator, "cap", 30)
    _bulk_people(tree.bologna_centro, 31)
    paginator = CappedPaginator(people_for(national_admin, {"q": "rossi"}), 10)
    assert paginator.capped and paginator.count == 31
    _bulk_people(tree.modena_nord, 5, last_name="Verdi")
    exact = CappedPaginator(people_for(national_admin, {"q": "verdi"}), 10)
    assert not exact.capped and exact.count == 5


def test_list_page_says_more_than_the_cap(tree, circolo_secretary, monkeypatch):
    monkeypatch.setattr(CappedPaginator, "cap", 30)
    _bulk_people(tree.bologna_centro, 31)
    page = verified_client(circolo_secretary).get(reverse("people:list"), {"q": "rossi"}).content.decode()
    assert "oltre 30 persone trovate" in page and "Pagina 1 di" not in page


def test_list_page_query_count_does_not_grow_with_the_results(tree, circolo_secretary, django_assert_max_num_queries):
    client = verified_client(circolo_secretary)
    _bulk_people(tree.bologna_centro, 3)
    client.get(reverse("people:list"), {"q": "rossi"})  # warm-up: session, 2FA device, caches
    # Session, user, device, the scope paths (read by each scoped queryset), the territory
    # choices, the capped count, the page (its ids, then its rows), the audit entry (rule G4): a
    # fixed number, whatever the number of results.
    # 16 before the audit chain; +1: the audit chain (ADR 0014). The page reads its ids, then its
    # rows (ADR 0035): still within 17.
    with django_assert_max_num_queries(17) as few:
        client.get(reverse("people:list"), {"q": "rossi"})
    _bulk_people(tree.bologna_centro, 120)
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = client.get(reverse("people:list"), {"q": "rossi"})
    assert response.content.decode().count("/persone/") >= 50


def test_name_search_stays_inside_the_scope(tree, circolo_secretary):
    _bulk_people(tree.bologna_centro, 2)
    _bulk_people(tree.modena_nord, 2)
    found = people_for(circolo_secretary, {"q": "rossi"})
    assert found.count() == 2 and {p.territory_id for p in found} == {tree.bologna_centro.pk}


@pytest.mark.postgres
def test_nearest_names_come_first_and_unrelated_ones_not_at_all(tree, national_admin):
    for first, last in [("Mario", "Rossi"), ("Maria", "Rossini"), ("Mario", "Rosi"), ("Anna", "Bianchi")]:
        person_actions.create_person(
            actor=None, data={"first_name": first, "last_name": last}, circolo=tree.bologna_centro
        )
    names = [str(p) for p in people_for(national_admin, {"q": "Rossi Mario"})]
    assert names[0] == "Rossi Mario" and "Bianchi Anna" not in names
    assert [str(p) for p in people_for(national_admin, {"q": "rosi maro"})][:1] in (["Rosi Mario"], ["Rossi Mario"])
    assert "Rossini Maria" in [str(p) for p in people_for(national_admin, {"q": "rossini"})]


@pytest.mark.postgres
def test_name_search_reads_the_name_words_then_the_people_through_their_indexes(tree, national_admin):
    """ADR 0038: the nearest words from the GiST index of `people_nameword` (once per typed word),
    then the people holding them from the GIN index of their words."""
    from django.db import connection

    _bulk_people(tree.bologna_centro, 200)
    for text in ("rossi nome0042", "nome0042"):
        qs = queries.search(Person.objects.all(), text)[:50]
        with connection.cursor() as cursor:
            # A tiny table: forbid the scans to ask whether the indexes can serve.
            cursor.execute("SET LOCAL enable_seqscan = off")
            sql, params = qs.query.sql_with_params()
            cursor.execute("EXPLAIN " + sql, params)
            plan = "\n".join(row[0] for row in cursor.fetchall())
        assert "Index Scan using nameword_word_gist" in plan and "person_search_words" in plan, plan
        assert plan.count("InitPlan") == len(text.split()), plan
        assert str(next(iter(people_for(national_admin, {"q": text})))) == "Rossi Nome0042"


def test_sqlite_fallback_matches_every_word(tree, national_admin, settings):
    _bulk_people(tree.bologna_centro, 3)
    if queries.connection.vendor == "postgresql":
        pytest.skip("the fallback is for SQLite")
    assert [str(p) for p in people_for(national_admin, {"q": "rossi nome0001"})] == ["Rossi Nome0001"]


def test_a_page_keeps_the_list_order_and_its_related_rows(tree, national_admin, django_assert_num_queries):
    """P5: a page reads its ids first, then those rows: same rows, same order as slicing the list."""
    _bulk_people(tree.bologna_centro, 25)
    _bulk_people(tree.modena_nord, 5, last_name="Rosi")
    people = people_for(national_admin, {"q": "rossi"}).select_related("territory")
    expected = list(people[10:20])
    page = CappedPaginator(people, 10).get_page(2)
    assert [p.pk for p in page] == [p.pk for p in expected]
    with django_assert_num_queries(0):
        assert {p.territory.name for p in page} == {p.territory.name for p in expected}
