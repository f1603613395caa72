"""Where the streaming replica is used (issue 14, "Read replica"): the transparency portal, segment
counts, exports and the treasurer's rendiconto read from it within their tolerated lag
(REPLICA_MAX_LAG), say how old their figures are, and fall back to the primary beyond it; money
paths (the donation form, the payment, the caps) never read from it.

The replica here is a TEST MIRROR: a second connection, alias "replica", to the test database, so
`CaptureQueriesContext(connections["replica"])` shows exactly which statements went to it. A
second connection sees only committed rows, hence `transaction=True`.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.db import DEFAULT_DB_ALIAS
from django.db.models import Max
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from piazza.core import replica
from piazza.core.models import AuditEntry
from piazza.core.testing_replica import mirror_fixture  # noqa: F401  (the fixture `mirror`)
from piazza.funding.tests.flows import donate_through_pages, give
from piazza.ledger.models import LedgerTransaction
from piazza.people.actions import person as person_actions
from piazza.people.actions import segments as segments_actions
from piazza.people.models import Person
from piazza.territory.testing import verified_client
from piazza.transparency.queries import scope_of_territory
from piazza.transparency.reports import compute_report
from piazza.transparency.tests.helpers import campaign_at

pytestmark = pytest.mark.django_db(transaction=True)

YEAR = 2026  # the suite's frozen clock


def lag(monkeypatch: Any, seconds: float) -> None:
    monkeypatch.setattr(replica, "replica_lag_seconds", lambda: seconds)


def tables(captured: CaptureQueriesContext) -> str:
    return " ".join(q["sql"] for q in captured.captured_queries)


@pytest.fixture
def people(tree: Any) -> None:
    for first, last, tags in [("Mario", "Rossi", ["volontario"]), ("Anna", "Neri", [])]:
        person_actions.create_person(
            actor=None, data={"first_name": first, "last_name": last, "tags": tags}, circolo=tree.bologna_centro
        )


# --- the portal ------------------------------------------------------------------------------------


def test_the_portal_reads_its_figures_from_the_replica_and_dates_them(tree, mirror, monkeypatch, client):
    campaign = campaign_at(tree.bologna_centro)
    for n in range(1, 4):
        give(campaign, 2_500, n=n)
    lag(monkeypatch, 20.0)  # within REPLICA_MAX_LAG["portal"] (60)
    with CaptureQueriesContext(mirror) as on_replica:
        report = compute_report(scope_of_territory(tree.bologna), YEAR)
    assert "ledger_entry" in tables(on_replica)
    if mirror.vendor == "postgresql":  # one snapshot, taken on the replica
        assert "REPEATABLE READ" in tables(on_replica)
    assert report.summary["income_cents"] == 7_500  # the committed gifts, read on the replica
    # Its figures are those of 20 seconds ago, and the page says "Dati al" that moment.
    assert report.computed_at == timezone.now() - dt.timedelta(seconds=20)
    page = client.get(reverse("transparency:territory", args=[tree.bologna.pk, YEAR]))
    assert page.status_code == 200 and 'data-testid="as-of"' in page.content.decode()


def test_the_portal_reads_the_primary_when_the_replica_is_too_far_behind(tree, mirror, monkeypatch, settings):
    settings.REPLICA_MAX_LAG = {**settings.REPLICA_MAX_LAG, "portal": 60}
    lag(monkeypatch, 61.0)
    with CaptureQueriesContext(mirror) as on_replica:
        report = compute_report(scope_of_territory(tree.bologna), YEAR)
    assert on_replica.captured_queries == []
    assert report.computed_at == timezone.now()


def test_the_portal_reads_the_primary_when_the_replica_has_not_reached_the_pages_position(tree, mirror, monkeypatch):
    """A page is published at a ledger position (read on the primary): a replica that has not
    replayed it yet would file older figures under it, so the primary computes them."""
    campaign = campaign_at(tree.bologna_centro)
    give(campaign, 2_500, n=1)
    lag(monkeypatch, 20.0)
    position = int(LedgerTransaction.objects.aggregate(m=Max("id"))["m"])
    with CaptureQueriesContext(mirror) as on_replica:
        report = compute_report(scope_of_territory(tree.bologna), YEAR, position + 1)
    assert "ledger_entry" not in tables(on_replica)  # only the replica's position was read there
    assert report.computed_at == timezone.now() and report.ledger_position == position + 1
    with CaptureQueriesContext(mirror) as on_replica:
        compute_report(scope_of_territory(tree.bologna), YEAR, position)
    assert "ledger_entry" in tables(on_replica)


# --- segment counts ----------------------------------------------------------------------------------


def test_segment_counts_come_from_the_replica_and_say_how_old_they_are(
    tree, circolo_secretary, people, mirror, monkeypatch
):
    segments_actions.save_segment(
        actor=circolo_secretary, name="Volontari", territory=tree.bologna_centro, definition={"tags": ["volontario"]}
    )
    client = verified_client(circolo_secretary)
    lag(monkeypatch, 20.0)  # within REPLICA_MAX_LAG["segments"] (30), above the few seconds a page keeps quiet about
    with CaptureQueriesContext(mirror) as on_replica:
        listing = client.get(reverse("people:segments")).content.decode()
        preview = client.get(reverse("people:segment_preview"), {"tags": "volontario"}).content.decode()
    assert "people_person" in tables(on_replica) and "COUNT(" in tables(on_replica)
    assert "Dati aggiornati a 20 secondi fa." in listing and "Dati aggiornati a 20 secondi fa." in preview
    assert "<strong>1</strong> persona" in preview
    # The viewer's scope is read on the primary: a revoked role must not linger for 30 seconds.
    assert "territory_roleassignment" not in tables(on_replica)

    lag(monkeypatch, 2.0)  # close enough to say nothing
    assert "Dati aggiornati" not in client.get(reverse("people:segments")).content.decode()


def test_segment_counts_read_the_primary_beyond_their_tolerance(tree, circolo_secretary, people, mirror, monkeypatch):
    client = verified_client(circolo_secretary)
    lag(monkeypatch, 31.0)  # REPLICA_MAX_LAG["segments"] is 30
    with CaptureQueriesContext(mirror) as on_replica:
        preview = client.get(reverse("people:segment_preview"), {"tags": "volontario"}).content.decode()
    assert on_replica.captured_queries == []
    assert "<strong>1</strong> persona" in preview and "Dati aggiornati" not in preview


# --- exports ----------------------------------------------------------------------------------------


def test_the_people_export_reads_its_rows_on_the_replica_and_audits_on_the_primary(
    tree, circolo_secretary, people, mirror, monkeypatch
):
    client = verified_client(circolo_secretary)
    lag(monkeypatch, 100.0)  # within REPLICA_MAX_LAG["exports"] (300)
    assert "Dati aggiornati a 100 secondi fa." in client.get(reverse("people:export")).content.decode()
    with CaptureQueriesContext(mirror) as on_replica:
        response = client.post(
            reverse("people:export"), {"purpose": "Telefonate ai volontari del circolo", "file_format": "csv"}
        )
    assert response.status_code == 200
    content = response.content.decode("utf-8-sig")
    assert "Rossi" in content and "Neri" in content
    assert "people_person" in tables(on_replica)
    assert not any(q["sql"].lstrip().upper().startswith(("INSERT", "UPDATE")) for q in on_replica.captured_queries)
    entry = AuditEntry.objects.get(action="people.export_people")
    assert entry.data["rows"] == 2 and entry.data["replica_lag_seconds"] == 100


def test_the_people_export_reads_the_primary_beyond_its_tolerance(tree, circolo_secretary, people, mirror, monkeypatch):
    client = verified_client(circolo_secretary)
    lag(monkeypatch, 301.0)
    with CaptureQueriesContext(mirror) as on_replica:
        response = client.post(
            reverse("people:export"), {"purpose": "Telefonate ai volontari del circolo", "file_format": "csv"}
        )
    assert response.status_code == 200 and on_replica.captured_queries == []
    assert "replica_lag_seconds" not in AuditEntry.objects.get(action="people.export_people").data


# --- money paths -------------------------------------------------------------------------------------


def test_a_donation_and_its_payment_never_read_from_the_replica(tree, mirror, monkeypatch, client):
    """Rules F1/F2 (caps), the duplicate checks, the charge and the booking read the primary only,
    even with a replica that is fully caught up."""
    campaign = campaign_at(tree.bologna_centro)
    lag(monkeypatch, 0.0)
    with CaptureQueriesContext(mirror) as on_replica:
        paid = donate_through_pages(client, campaign)
        give(campaign, 5_000, n=2)
    assert paid.status_code == 302
    assert on_replica.captured_queries == []


def test_a_row_read_on_the_replica_is_written_to_the_primary(tree, people, mirror, monkeypatch):
    lag(monkeypatch, 0.0)
    with replica.reading_stale("segments") as stale:
        person = Person.objects.get(last_name="Rossi")
    assert stale.alias == replica.REPLICA_ALIAS and person._state.db == replica.REPLICA_ALIAS
    person.first_name = "Marco"
    with CaptureQueriesContext(mirror) as on_replica:
        person.save(update_fields=["first_name"])
    assert on_replica.captured_queries == []
    assert Person.objects.get(pk=person.pk).first_name == "Marco"


def test_without_a_replica_every_block_reads_the_primary(tree, people):
    with replica.reading_stale("portal") as stale:
        assert Person.objects.count() == 2
    assert stale.alias == DEFAULT_DB_ALIAS and stale.note_seconds is None


def test_a_family_without_a_tolerated_lag_is_refused():
    with pytest.raises(ValueError, match="REPLICA_MAX_LAG"), replica.reading_stale("payments"):
        pass
