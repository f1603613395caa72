"""Test isolation between pytest-xdist workers and between tests that flush the database (ADR 0031).

pytest-django reads the settings before the root conftest is imported, so `isolate_settings` (called
there) changes them in place, before any cache or queue is opened, and sets the environment that every
subprocess a test starts (an RQ worker, a management command) reads:

- each process has its own cache key prefix, and each xdist worker its own Redis database, so that a
  worker's RQ queue, locks and rate limits are never another's;
- a transactional test (and every browser test on a live server) ends with a flush that empties every
  table, the rows the migrations seed included; `reseed` puts them back (see `SEEDING_MIGRATIONS`).
"""

from __future__ import annotations

import importlib
import os
import uuid
from typing import Any
from urllib.parse import urlsplit, urlunsplit

WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")


def worker_index() -> int | None:
    """0, 1, … in an xdist worker ("gw0", "gw1", …); None in a serial run."""
    return int(WORKER[2:]) if WORKER.startswith("gw") and WORKER[2:].isdigit() else None


def redis_url_for_worker(url: str, index: int | None) -> str:
    """The worker's own Redis database: the given one plus 1 + the worker's index (a serial run keeps it)."""
    if not url or index is None:
        return url
    parts = urlsplit(url)
    base = int(parts.path.strip("/") or 0)
    return urlunsplit(parts._replace(path=f"/{base + 1 + index}"))


def isolate_settings() -> None:
    """This process's cache key prefix and this worker's Redis database, in the settings and the environment."""
    from django.conf import settings

    os.environ.setdefault("PIAZZA_ENV", "test")
    prefix = f"piazza-test-{uuid.uuid4().hex[:8]}"
    os.environ["CACHE_KEY_PREFIX"] = prefix
    settings.CACHE_KEY_PREFIX = prefix
    settings.CACHES["default"]["KEY_PREFIX"] = prefix
    url = redis_url_for_worker(settings.REDIS_URL, worker_index())
    if url != settings.REDIS_URL:
        os.environ["REDIS_URL"] = settings.REDIS_URL = url
        settings.CACHES["default"]["LOCATION"] = url
        for queue in settings.RQ_QUEUES.values():
            queue["URL"] = url


# Data migrations whose rows the suite relies on, with the function that seeds them (idempotent).
SEEDING_MIGRATIONS: dict[tuple[str, str], str] = {
    ("people", "0010_privacy_notices"): "seed_notices",
    ("compliance", "0007_candidate_books_2x1000_legal_givers"): "seed_categories",
}
# Data migrations that leave no rows behind in a new database (they move or fix existing rows, or make
# functions and triggers, which a flush does not touch). A new data migration goes in one of the two;
# the append-only triggers that piazza.core.db installs need neither.
NON_SEEDING_MIGRATIONS: set[tuple[str, str]] = {
    ("bank", "0003_background_import_private_scans"),
    ("core", "0004_audit_chain"),
    ("core", "0006_audit_chain_head_function"),
    ("membership", "0006_scans_in_private_storage"),
    ("payments", "0005_one_attempt_in_flight_duplicate_charges"),
    ("people", "0002_trigram_search"),
    ("people", "0005_search_name_gist"),
    ("people", "0013_name_words"),  # its table holds the words of people, gone with them in a flush
    ("privacy", "0003_erasure_requests_on_board"),
}


def reseed(**_signal: Any) -> None:
    """After a flush: the migrations' seeded rows and the ISTAT tree, as a new test database has them."""
    from django.apps import apps

    from piazza.territory.loading import load_territory
    from piazza.territory.models import Comune

    for (app, name), function in SEEDING_MIGRATIONS.items():
        module = importlib.import_module(f"piazza.{app}.migrations.{name}")
        getattr(module, function)(apps, None)
    if not Comune.objects.exists():
        load_territory()


def reseed_after_every_flush() -> None:
    """Connected once the test database is ready; a flush sends post_migrate once per app, one is enough."""
    from django.apps import apps
    from django.db.models.signals import post_migrate

    post_migrate.connect(reseed, sender=apps.get_app_config("people"), dispatch_uid="piazza-test-reseed")
