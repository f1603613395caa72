"""Stale reads go to the replica only when it is close enough (issue 14, read replica)."""

from __future__ import annotations

import pytest
from django.db import DatabaseError, connection

from piazza.core import replica

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _forget_measures():
    replica._measured.clear()
    yield
    replica._measured.clear()


def test_without_a_replica_every_read_goes_to_the_primary():
    assert "replica" not in replica.settings.DATABASES
    assert replica.replica_lag_seconds() is None
    assert replica.stale_reads(max_lag_seconds=3600) == "default"


def test_the_replica_serves_only_uses_that_tolerate_its_lag(monkeypatch):
    monkeypatch.setattr(replica, "replica_lag_seconds", lambda: 12.0)
    assert replica.stale_reads(max_lag_seconds=60) == "replica"
    assert replica.stale_reads(max_lag_seconds=10) == "default"


def test_an_unreachable_replica_falls_back_to_the_primary(monkeypatch, settings):
    settings.DATABASES = {**settings.DATABASES, "replica": {**settings.DATABASES["default"], "TEST": {}}}

    class Broken:
        def cursor(self):
            raise DatabaseError("could not connect to server")

    monkeypatch.setattr(replica, "connections", {"replica": Broken()})
    assert replica.replica_lag_seconds() is None
    assert replica.stale_reads(max_lag_seconds=3600) == "default"


@pytest.mark.postgres
def test_a_primary_is_not_taken_for_a_replica(monkeypatch, settings):
    """The lag query on a server that is not in recovery answers "not a replica"."""
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: pg_is_in_recovery()")
    settings.DATABASES = {**settings.DATABASES, "replica": {**settings.DATABASES["default"], "TEST": {}}}
    monkeypatch.setattr(replica, "connections", {"replica": connection})
    assert replica.replica_lag_seconds() is None
    assert replica.stale_reads(max_lag_seconds=3600) == "default"


def test_the_lag_is_measured_at_most_every_few_seconds(monkeypatch, settings):
    settings.DATABASES = {**settings.DATABASES, "replica": {**settings.DATABASES["default"], "TEST": {}}}
    calls = []

    class Standby:
        def cursor(self):
            calls.append(1)

            class Cursor:
                def __enter__(self):
                    return self

                def __exit__(self, *exc):
                    return False

                def execute(self, sql):
                    pass

                def fetchone(self):
                    return (3.0,)

            return Cursor()

    monkeypatch.setattr(replica, "connections", {"replica": Standby()})
    ticks = iter([100.0, 101.0, 106.0])
    monkeypatch.setattr(replica, "monotonic", lambda: next(ticks))
    assert replica.replica_lag_seconds() == 3.0
    assert replica.replica_lag_seconds() == 3.0
    assert replica.replica_lag_seconds() == 3.0
    assert len(calls) == 2  # measured at 100 and again at 106, cached at 101
