"""The segment builder: create, edit, delete a segment's filters with a live count, always inside
the viewer's scope (a segment filed in a wider node still counts only the viewer's people)."""

import pytest
from django.urls import reverse

from piazza.core.models import AuditEntry
from piazza.people.actions import person as person_actions
from piazza.people.actions import segments as segments_actions
from piazza.people.models import Segment
from piazza.territory.testing import verified_client

pytestmark = pytest.mark.django_db


@pytest.fixture
def people(tree):
    for first, last, circolo, tags in [
        ("Mario", "Rossi", tree.bologna_centro, ["volontario"]),
        ("Anna", "Neri", tree.bologna_centro, []),
        ("Luca", "Verdi", tree.modena_nord, ["volontario"]),
    ]:
        person_actions.create_person(
            actor=None, data={"first_name": first, "last_name": last, "tags": tags}, circolo=circolo
        )


def test_create_edit_and_delete_a_segment(tree, circolo_secretary, people):
    client = verified_client(circolo_secretary)
    page = client.get(reverse("people:segment_create")).content.decode()
    assert 'hx-get="/persone/segmenti/anteprima/"' in page and "<strong>2</strong> persone" in page
    # Live count: the volunteers of the circolo (Modena's volunteer is outside the scope).
    preview = client.get(reverse("people:segment_preview"), {"tags": "volontario"}).content.decode()
    assert "<strong>1</strong> persona" in preview
    response = client.post(
        reverse("people:segment_create"),
        {"name": "Volontari", "owner": tree.bologna_centro.pk, "tags": "volontario", "age_min": ""},
    )
    assert response.status_code == 302
    segment = Segment.objects.get()
    assert segment.definition == {"tags": ["volontario"]} and segment.territory == tree.bologna_centro
    edit_url = reverse("people:segment_edit", args=[segment.pk])
    form = client.get(edit_url).content.decode()
    assert 'value="Volontari"' in form and 'value="volontario"' in form and "<strong>1</strong> persona" in form
    client.post(edit_url, {"name": "Volontari e Neri", "owner": tree.bologna_centro.pk, "tags": "", "q": "neri"})
    segment.refresh_from_db()
    assert segment.name == "Volontari e Neri" and segment.definition == {"q": "neri"}
    assert client.get(reverse("people:segment_count", args=[segment.pk])).content == b"1"
    client.post(reverse("people:segment_delete", args=[segment.pk]))
    assert not Segment.objects.exists()
    assert AuditEntry.objects.filter(action="people.delete_segment").count() == 1


def test_bad_filters_are_explained_and_nothing_is_saved(tree, circolo_secretary, people):
    client = verified_client(circolo_secretary)
    preview = client.get(reverse("people:segment_preview"), {"age_min": "-3"}).content.decode()
    assert "Controlla i filtri" in preview
    response = client.post(
        reverse("people:segment_create"), {"name": "", "owner": tree.bologna_centro.pk, "age_min": "200"}
    )
    assert response.status_code == 200 and not Segment.objects.exists()
    body = response.content.decode()
    assert 'name="name"' in body and 'aria-invalid="true"' in body


def test_segments_of_other_territories_are_404(tree, circolo_secretary, people, national_admin):
    other = segments_actions.save_segment(actor=None, name="Modena", territory=tree.modena, definition={})
    client = verified_client(circolo_secretary)
    assert client.get(reverse("people:segment_edit", args=[other.pk])).status_code == 404
    assert client.post(reverse("people:segment_delete", args=[other.pk])).status_code == 404
    assert Segment.objects.filter(pk=other.pk).exists()
    # The national segment counted by a circolo official: only the circolo's people.
    national = segments_actions.save_segment(
        actor=None, name="Volontari ovunque", territory=tree.national, definition={"tags": ["volontario"]}
    )
    assert client.get(reverse("people:segment_count", args=[national.pk])).status_code == 404
    admin = verified_client(national_admin)
    assert admin.get(reverse("people:segment_count", args=[national.pk])).content == b"2"


def test_consent_filter_counts_people_whose_latest_row_is_a_grant(tree, national_admin):
    """Rule G3: the current state of a purpose is its latest row (by time, then by id), whatever
    the rows of other purposes say; `with_consent` must agree with `current_consents`."""
    import datetime as dt

    from django.utils import timezone

    from piazza.people.models import Channel, Consent, Person, Purpose
    from piazza.people.queries import current_consents, segment_count

    day = timezone.now() - dt.timedelta(days=10)
    news, politics = Purpose.NEWSLETTER, Purpose.POLITICAL_COMMUNICATION
    histories = {
        "granted": [(news, True, 0)],
        "withdrawn later": [(news, True, 0), (news, False, 1)],
        "granted again": [(news, False, 0), (news, True, 1)],
        "same instant, withdrawal written last": [(news, True, 0), (news, False, 0)],
        "same instant, grant written last": [(news, False, 0), (news, True, 0)],
        "only another purpose": [(politics, True, 0)],
        "nothing": [],
    }
    expected = set()
    for name, rows in histories.items():
        person = Person.objects.create(first_name=name, last_name="Consensi", territory=tree.bologna_centro)
        for purpose, granted, days in rows:
            Consent.objects.create(
                person=person,
                purpose=purpose,
                granted=granted,
                at=day + dt.timedelta(days=days),
                channel=Channel.EMAIL,
                text_version="v1",
            )
        latest = current_consents(person).get(news)
        if latest is not None and latest.granted:
            expected.add(name)
    assert expected == {"granted", "granted again", "same instant, grant written last"}
    assert segment_count(national_admin, {"consent": news}) == len(expected)
    from piazza.people.queries import people_for

    found = set(people_for(national_admin, {"consent": news}).values_list("first_name", flat=True))
    assert found == expected


# --- capped counts (P5, ADR 0040) -------------------------------------------------------------------


def test_segment_pages_count_up_to_the_cap_and_say_more_than_it_above(tree, circolo_secretary, people, monkeypatch):
    """Exact up to SEGMENT_COUNT_CAP, "più di N" above it, on every page that shows a segment's count;
    the exact set is unchanged (a broadcast or an export takes all of it)."""
    from piazza.people import queries

    segment = segments_actions.save_segment(
        actor=circolo_secretary, name="Tutti", territory=tree.bologna_centro, definition={}
    )
    client = verified_client(circolo_secretary)
    monkeypatch.setattr(queries, "SEGMENT_COUNT_CAP", 1)
    preview = client.get(reverse("people:segment_preview")).content.decode()
    assert "<strong>più di 1</strong> persone" in preview and 'data-testid="segment-count-capped"' in preview
    exact = client.get(reverse("people:segment_preview"), {"tags": "volontario"}).content.decode()
    assert "<strong>1</strong> persona" in exact and "segment-count-capped" not in exact  # at the cap: exact
    assert "<strong>più di 1</strong>" in client.get(reverse("people:segment_edit", args=[segment.pk])).content.decode()
    assert "<td>più di 1</td>" in client.get(reverse("people:segments")).content.decode()
    assert client.get(reverse("people:segment_count", args=[segment.pk])).content.decode() == "più di 1"
    assert queries.people_for(circolo_secretary, {}).count() == 2
    monkeypatch.setattr(queries, "SEGMENT_COUNT_CAP", 2)
    assert client.get(reverse("people:segment_count", args=[segment.pk])).content == b"2"


def test_the_capped_count_is_one_statement_that_stops_after_cap_plus_one_rows(
    tree, circolo_secretary, people, monkeypatch
):
    """The count is `count(*) FROM (… LIMIT cap + 1)` with no ORDER BY (the model's ordering would
    sort every match before the limit). On PostgreSQL its plan's Limit node stops at cap + 1 rows."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from piazza.people import queries

    monkeypatch.setattr(queries, "SEGMENT_COUNT_CAP", 1)
    with CaptureQueriesContext(connection) as captured:
        counts, _stale = queries.segment_counts(circolo_secretary, [{}])
    assert counts == [queries.CappedCount(value=2, cap=1)] and counts[0].capped
    statements = [q["sql"] for q in captured.captured_queries if "people_person" in q["sql"]]
    assert len(statements) == 1, statements
    assert "COUNT(" in statements[0].upper() and "LIMIT 2" in statements[0] and "ORDER BY" not in statements[0]
    if connection.vendor != "postgresql":
        return
    sql, params = queries.people_for(circolo_secretary, {}).order_by().values("pk")[:2].query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) SELECT count(*) FROM ({sql}) AS s", params)
        plan = cursor.fetchone()[0]
    plan = plan[0]["Plan"] if isinstance(plan, list) else plan
    limit = plan["Plans"][0]
    assert plan["Node Type"] == "Aggregate" and limit["Node Type"] == "Limit" and limit["Actual Rows"] == 2


def test_the_count_is_shown_with_grouped_digits_in_each_language():
    from django.template.loader import render_to_string
    from django.utils import translation

    from piazza.people.queries import CappedCount

    shown = render_to_string("people/_segment_count.html", {"count": CappedCount(9876, 10_000)})
    assert "<strong>9.876</strong> persone nel segmento" in shown
    with translation.override("en"):
        shown = render_to_string("people/_segment_count.html", {"count": CappedCount(9876, 10_000)})
        assert "<strong>9,876</strong> people in the segment" in shown
        capped = render_to_string("people/_segment_count.html", {"count": CappedCount(10_001, 10_000)})
        assert "10,000" in capped and "9,876" not in capped
