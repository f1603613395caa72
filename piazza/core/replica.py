"""Reads that may be stale go to the streaming replica, each use saying how stale (issue 14).

There is no automatic router: a router would send every read to the replica, including the ones
that decide a write (a cap, a balance, a duplicate check), and a money path that read a balance
one second old could pay twice. A use that tolerates staleness asks explicitly:

    Donation.objects.using(stale_reads(max_lag_seconds=60)).aggregate(...)

and gets the replica only when one is configured (DATABASE_REPLICA_URL), reachable, and behind
the primary by at most that many seconds; otherwise the primary. The lag is measured on the
replica at most every LAG_CHECK_SECONDS per process.
"""

from __future__ import annotations

import logging
from time import monotonic

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections

logger = logging.getLogger(__name__)

REPLICA_ALIAS = "replica"
LAG_CHECK_SECONDS = 5.0

# The standby is caught up when it has replayed all it received; otherwise its lag is the age of
# the last transaction it replayed. A primary (not in recovery) answers NULL: not a replica.
LAG_SQL = """
SELECT CASE
    WHEN NOT pg_is_in_recovery() THEN NULL
    WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0
    ELSE EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp())
END
"""

_measured: dict[str, tuple[float, float | None]] = {}


def replica_lag_seconds() -> float | None:
    """Seconds the replica is behind, or None when it is absent, unreachable or not a standby."""
    if REPLICA_ALIAS not in settings.DATABASES:
        return None
    if settings.DATABASES[REPLICA_ALIAS].get("TEST", {}).get("MIRROR"):
        return 0.0  # tests: the "replica" is the default database itself
    now = monotonic()
    cached = _measured.get(REPLICA_ALIAS)
    if cached and now - cached[0] < LAG_CHECK_SECONDS:
        return cached[1]
    try:
        with connections[REPLICA_ALIAS].cursor() as cursor:
            cursor.execute(LAG_SQL)
            row = cursor.fetchone()
        lag = None if row is None or row[0] is None else float(row[0])
    except DatabaseError as exc:
        logger.warning("replica unreachable, reading from the primary: %s", exc)
        lag = None
    _measured[REPLICA_ALIAS] = (now, lag)
    return lag


def stale_reads(max_lag_seconds: float) -> str:
    """The database alias for a read that may be up to `max_lag_seconds` old."""
    lag = replica_lag_seconds()
    if lag is None or lag > max_lag_seconds:
        return DEFAULT_DB_ALIAS
    return REPLICA_ALIAS
