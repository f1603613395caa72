"""The suite's isolation between xdist workers and after flushes (ADR 0031)."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.operations import RunPython

from piazza.compliance.models import ExpenseCategory
from piazza.core.testing_isolation import NON_SEEDING_MIGRATIONS, SEEDING_MIGRATIONS, redis_url_for_worker
from piazza.people.models import NoticeVersion
from piazza.territory.models import Comune


@pytest.mark.django_db(transaction=True)
def test_a_flush_gives_back_the_seeded_rows_and_the_territory() -> None:
    """A test after a transactional one (in any order, as xdist runs them) finds what a new database has."""
    before = (NoticeVersion.objects.count(), ExpenseCategory.objects.count(), Comune.objects.count())
    assert min(before) > 0
    call_command("flush", interactive=False, verbosity=0)
    after = (NoticeVersion.objects.count(), ExpenseCategory.objects.count(), Comune.objects.count())
    assert after == before


def test_every_data_migration_says_whether_it_seeds_rows() -> None:
    """A new RunPython migration that seeds rows must be listed in SEEDING_MIGRATIONS, or a flush loses them."""
    loader = MigrationLoader(None, ignore_no_migrations=True, load=False)
    loader.load_disk()
    with_code = {
        key
        for key, migration in loader.disk_migrations.items()
        if type(migration).__module__.startswith("piazza.")
        and any(
            isinstance(operation, RunPython) and operation.code.__module__ != "piazza.core.db"
            for operation in migration.operations
        )
    }
    assert with_code == set(SEEDING_MIGRATIONS) | NON_SEEDING_MIGRATIONS


def test_each_worker_has_its_own_redis_database() -> None:
    assert redis_url_for_worker("redis://127.0.0.1:6379/0", 0) == "redis://127.0.0.1:6379/1"
    assert redis_url_for_worker("redis://127.0.0.1:6379/0", 1) == "redis://127.0.0.1:6379/2"
    assert redis_url_for_worker("redis://127.0.0.1:6379/4", 1) == "redis://127.0.0.1:6379/6"
    assert redis_url_for_worker("redis://127.0.0.1:6379", 0) == "redis://127.0.0.1:6379/1"
    assert redis_url_for_worker("redis://127.0.0.1:6379/0", None) == "redis://127.0.0.1:6379/0"
    assert redis_url_for_worker("", 0) == ""


def test_this_process_has_its_own_cache_key_prefix() -> None:
    import os

    from django.core.cache import cache

    assert os.environ["CACHE_KEY_PREFIX"].startswith("piazza-test-")
    assert cache.make_key("k").startswith(os.environ["CACHE_KEY_PREFIX"])
