"""Reads that may be stale go to the streaming replica, each use saying how stale (issue 14).

No router sends reads there by itself: it would send every read to the replica, including the ones
that decide a write (a cap, a balance, a duplicate check), and a money path that read a balance
one second old could pay twice. A use that tolerates staleness asks explicitly:

    Donation.objects.using(stale_reads(max_lag_seconds=60)).aggregate(...)

and gets the replica only when one is configured (DATABASE_REPLICA_URL), reachable, and behind
the primary by at most that many seconds; otherwise the primary. The lag is measured on the
replica at most every LAG_CHECK_SECONDS per process.

A use whose reads are many queries deep (the portal's report, an export's rows) opens a block
instead, named after its family, whose tolerated lag is the setting `REPLICA_MAX_LAG[family]`:

    with reading_stale("portal") as stale:
        figures = compute(...)          # every queryset read without .using() -> stale.alias

`StaleReadsRouter` sends reads to the block's alias and nothing else: outside a block every read
goes to the primary, and writes always do, even of a row read from the replica. The block wraps
only pure reads; what decides a write (a scope check, a cap, an audit entry) stays outside it.
`stale.note_seconds` is the lag a page states ("Dati aggiornati a N secondi fa") when it is more
than NOTE_AFTER_SECONDS.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from time import monotonic
from typing import Any

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections

logger = logging.getLogger(__name__)

REPLICA_ALIAS = "replica"
LAG_CHECK_SECONDS = 5.0
NOTE_AFTER_SECONDS = 5.0
# The lag each family of stale reads tolerates, in seconds (setting REPLICA_MAX_LAG overrides).
DEFAULT_MAX_LAG = {"portal": 60, "reports": 120, "exports": 300, "segments": 30}

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


def max_lag(family: str) -> float:
    """The tolerated lag of a family of stale reads (setting REPLICA_MAX_LAG, per family)."""
    configured = {**DEFAULT_MAX_LAG, **getattr(settings, "REPLICA_MAX_LAG", {})}
    if family not in configured:
        raise ValueError(f"no tolerated lag for stale reads of {family!r}: add it to REPLICA_MAX_LAG")
    return float(configured[family])


@dataclass(frozen=True)
class Staleness:
    """Where a block's reads went and how old they may be."""

    family: str
    alias: str
    lag_seconds: float

    @property
    def note_seconds(self) -> int | None:
        """The age a page states: only when read from the replica and more than a few seconds old."""
        if self.alias == REPLICA_ALIAS and self.lag_seconds > NOTE_AFTER_SECONDS:
            return round(self.lag_seconds)
        return None


_reading: ContextVar[str | None] = ContextVar("piazza_stale_reads", default=None)


def staleness(family: str) -> Staleness:
    """Where reads of `family` may go now: the replica when its lag is within the family's tolerance."""
    alias = stale_reads(max_lag_seconds=max_lag(family))
    lag = (replica_lag_seconds() or 0.0) if alias == REPLICA_ALIAS else 0.0
    return Staleness(family, alias, lag)


@contextmanager
def reading(stale: Staleness) -> Iterator[Staleness]:
    """Inside the block, reads go to `stale.alias`."""
    token = _reading.set(stale.alias)
    try:
        yield stale
    finally:
        _reading.reset(token)


@contextmanager
def reading_stale(family: str) -> Iterator[Staleness]:
    """Inside the block, reads go to the replica when its lag is within the family's tolerance."""
    with reading(staleness(family)) as stale:
        yield stale


class StaleReadsRouter:
    """DATABASE_ROUTERS: reads inside a `reading_stale` block go to its alias; every write, even of
    a row read from the replica, goes to the primary."""

    def db_for_read(self, model: Any, **hints: Any) -> str | None:
        alias = _reading.get()
        return alias if alias == REPLICA_ALIAS else None

    def db_for_write(self, model: Any, **hints: Any) -> str | None:
        instance = hints.get("instance")
        if instance is not None and getattr(instance._state, "db", None) == REPLICA_ALIAS:
            return DEFAULT_DB_ALIAS
        return None

    def allow_relation(self, obj1: Any, obj2: Any, **hints: Any) -> bool | None:
        both = {obj1._state.db, obj2._state.db}
        return True if both <= {DEFAULT_DB_ALIAS, REPLICA_ALIAS} else None

    def allow_migrate(self, db: str, app_label: str, **hints: Any) -> bool | None:
        return False if db == REPLICA_ALIAS else None
