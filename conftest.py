"""Test-wide set-up: test settings, an isolated cache namespace, PostgreSQL-only skips."""

from __future__ import annotations

import os
import uuid

os.environ.setdefault("PIAZZA_ENV", "test")
os.environ.setdefault("CACHE_KEY_PREFIX", f"piazza-test-{uuid.uuid4().hex[:8]}")

import pytest

pytest_plugins = ["piazza.territory.testing", "piazza.web.testing_browser", "piazza.ledger.testing"]


def pytest_runtest_setup(item: pytest.Item) -> None:
    from django.conf import settings

    if item.get_closest_marker("postgres"):
        engine = settings.DATABASES["default"]["ENGINE"]
        if "postgresql" not in engine:
            pytest.skip("needs PostgreSQL: set DATABASE_URL=postgres://… (SQLite in use)")
    if item.get_closest_marker("redis") and not settings.REDIS_URL:
        pytest.skip("needs Redis: set REDIS_URL=redis://127.0.0.1:6379/0")


@pytest.fixture(autouse=True)
def _isolated_cache() -> object:
    from django.core.cache import cache

    yield
    if hasattr(cache, "delete_pattern"):
        cache.delete_pattern("*")
    else:
        cache.clear()


@pytest.fixture(autouse=True)
def _default_language() -> object:
    """Each test starts in Italian, whatever language the previous test activated."""
    from django.conf import settings
    from django.utils import translation

    translation.activate(settings.LANGUAGE_CODE)
    yield
    translation.activate(settings.LANGUAGE_CODE)
