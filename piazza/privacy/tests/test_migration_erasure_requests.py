"""Migration privacy 0003: the stand-in ErasureRequest rows become DataRequest(kind="erasure") rows on
the board, open ones due a month after they were made, done ones answered (rule G5)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("privacy", "0002_erasure")]
AFTER = [("privacy", "0003_erasure_requests_on_board")]


@pytest.fixture
def back_to_the_latest_schema() -> Any:
    """Leaves the database at every app's latest migration: stopping at 0003 would leave the later
    privacy tables missing for the tests this process runs next (under xdist, any of them)."""
    yield
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())
    assert "privacy_databreach" in connection.introspection.table_names()  # privacy 0005 is back


@pytest.mark.usefixtures("back_to_the_latest_schema")
def test_g5_stand_in_erasure_requests_move_to_the_board(tree: Any) -> None:
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    old = executor.loader.project_state(BEFORE).apps
    Person = old.get_model("people", "Person")
    ErasureRequest = old.get_model("privacy", "ErasureRequest")
    mario = Person.objects.create(first_name="Mario", last_name="Rossi", territory_id=tree.bologna.pk)
    anna = Person.objects.create(first_name="Anna", last_name="Verdi", territory_id=tree.bologna.pk)
    asked = timezone.make_aware(dt.datetime(2026, 1, 31, 12, 0))
    ErasureRequest.objects.create(person=mario, person_ref="E-1", via="self", requested_at=asked)
    ErasureRequest.objects.create(
        person=anna,
        person_ref="E-2",
        via="official",
        status="done",
        requested_at=asked,
        done_at=asked + dt.timedelta(days=3),
    )

    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(AFTER)
    new = executor.loader.project_state(AFTER).apps
    DataRequest = new.get_model("privacy", "DataRequest")
    rows = {r.person_id: r for r in DataRequest.objects.all()}
    assert set(rows) == {mario.pk, anna.pk}
    assert (rows[mario.pk].kind, rows[mario.pk].status, rows[mario.pk].channel) == ("erasure", "received", "online")
    assert rows[mario.pk].received_on == dt.date(2026, 1, 31) and rows[mario.pk].due_on == dt.date(2026, 2, 28)
    assert rows[mario.pk].territory_id == tree.bologna.pk and rows[mario.pk].closed_at is None
    assert (rows[anna.pk].status, rows[anna.pk].channel) == ("answered", "paper") and rows[anna.pk].closed_at
    assert "privacy_erasurerequest" not in connection.introspection.table_names()
