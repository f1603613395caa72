"""The test fixture `mirror` (import `mirror_fixture` to use it): a "replica" alias configured as
a TEST MIRROR of the test database, with its own connection, so that
`CaptureQueriesContext(connections["replica"])` shows what went to the replica (issue 14). Its
tests need `django_db(transaction=True)`: a second connection sees only committed rows."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.core.cache import cache
from django.db import DEFAULT_DB_ALIAS, connections

from piazza.core import replica


@pytest.fixture(name="mirror")
def mirror_fixture(settings: Any) -> Iterator[Any]:
    """A "replica" alias: its own connection to the test database, configured as a TEST MIRROR.
    Made here rather than at the suite's start, so that the other tests run without a replica
    (the default) and this connection counts as one made by the test (Django allows it)."""
    default = connections[DEFAULT_DB_ALIAS]
    config = {**default.settings_dict, "TEST": {**default.settings_dict.get("TEST", {}), "MIRROR": "default"}}
    settings.DATABASES = {**settings.DATABASES, replica.REPLICA_ALIAS: config}
    connections[replica.REPLICA_ALIAS] = default.__class__(config, alias=replica.REPLICA_ALIAS)
    replica._measured.clear()
    cache.clear()
    yield connections[replica.REPLICA_ALIAS]
    connections[replica.REPLICA_ALIAS].close()
    del connections[replica.REPLICA_ALIAS]
    replica._measured.clear()
    cache.clear()
