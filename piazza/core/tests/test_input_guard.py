"""A NUL character anywhere in the query string, a form body or the path is refused with 400
before any view runs: PostgreSQL cannot hold U+0000 and answered 500 (issue 10, finding 13)."""

import pytest
from django.urls import reverse

from piazza.territory.models import Role
from piazza.territory.testing import make_official, verified_client

pytestmark = pytest.mark.django_db

FILTERS = [
    ("payments:treasury_payments", "q"),
    ("bank:mandates", "q"),
    ("web:audit_log", "action"),
]


@pytest.fixture
def treasurer(tree):
    return make_official("tesoriere.nazionale", tree.national, [Role.TREASURY, Role.ADMINISTRATOR], is_staff=True)


@pytest.mark.parametrize(("route", "param"), FILTERS)
def test_nul_in_a_query_filter_is_refused_with_400(tree, treasurer, route, param):
    client = verified_client(treasurer)
    url = reverse(route)
    assert client.get(url, {param: "rossi"}).status_code == 200
    response = client.get(f"{url}?{param}=ros%00si")
    assert response.status_code == 400
    assert "carattere non valido" in response.content.decode()
    assert client.get(f"{url}?x%00=1").status_code == 400  # in a key too


def test_nul_in_a_form_body_or_the_path_is_refused(client, tree):
    response = client.post(reverse("web:home"), {"q": "a\x00b"})
    assert response.status_code == 400
    assert client.get("/raccolte/a%00b/").status_code == 400


def test_api_gets_a_problem_document(client, tree):
    response = client.get("/api/v1/?q=%00")
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    assert "carattere non valido" in response.json()["title"]


def test_json_bodies_are_left_to_their_parsers(client, tree):
    # Webhooks read request.body themselves; the guard must not consume or judge it.
    response = client.post(
        reverse("payments:webhook", args=["nessuno"]), data=b'{"a": "\\u0000"}', content_type="application/json"
    )
    assert response.status_code == 404
