"""Test-wide set-up: test settings, a frozen clock, isolated caches (per process, and a Redis database per
xdist worker: piazza/core/testing_isolation.py), PostgreSQL-only skips."""

from __future__ import annotations

import inspect
import os
from collections.abc import Iterator
from typing import Any

import pytest
from freezegun import freeze_time

from piazza.core import testing_clock, testing_isolation

testing_isolation.isolate_settings()

pytest_plugins = ["piazza.territory.testing", "piazza.web.testing_browser", "piazza.ledger.testing"]


def pytest_report_header(config: pytest.Config) -> str:
    if testing_clock.REAL:
        return f"piazza: real clock ({testing_clock.ENV_VAR}=real); only tests marked clock are frozen"
    source = (
        f"{testing_clock.ENV_VAR}={os.environ[testing_clock.ENV_VAR]}"
        if os.environ.get(testing_clock.ENV_VAR)
        else "default"
    )
    return f"piazza: clock frozen at {testing_clock.describe()} ({source}) unless a test says otherwise"


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix: None) -> None:
    """`PIAZZA_TEST_DB_FILE`: on SQLite, a test database in that file instead of in memory, so that
    `--reuse-db` can keep it between runs (the date sweep runs the same modules once per day); each
    xdist worker has its own file."""
    path = os.environ.get("PIAZZA_TEST_DB_FILE")
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if path and worker:
        path = f"{path}_{worker}"
    if path:
        from django.db import connections

        settings_dict = connections["default"].settings_dict
        if settings_dict["ENGINE"] == "django.db.backends.sqlite3":
            settings_dict.setdefault("TEST", {})["NAME"] = path


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

    from piazza.api.webhooks.emit import note_none_active

    note_none_active()  # a test starts with no webhook subscription: the cache says so, as in steady state
    yield
    if hasattr(cache, "delete_pattern"):
        cache.delete_pattern("*")
    else:
        cache.clear()


@pytest.fixture(autouse=True)
def _forget_shown_notice_versions() -> object:
    """The notice versions kept per process (ADR 0048) never outlive the test that wrote the rows."""
    from piazza.people.notices import forget_shown_versions

    yield
    forget_shown_versions()


@pytest.fixture(autouse=True)
def _forget_ledger_accounts() -> object:
    """The ledger's per-process account cache never outlives the test that committed the rows."""
    from piazza.ledger.accounts import forget_accounts

    yield
    forget_accounts()


@pytest.fixture(autouse=True)
def _default_language() -> object:
    """Each test starts in Italian, whatever language the previous test activated."""
    from django.conf import settings
    from django.utils import translation

    translation.activate(settings.LANGUAGE_CODE)
    yield
    translation.activate(settings.LANGUAGE_CODE)


# Modules that keep the real clock while the suite's is frozen (freezegun leaves their attributes alone
# and answers calls made from their frames with the real time). Added to freezegun's own list, which
# already has threading, queue and multiprocessing (so thread joins and worker pools time out for real).
# Everything that keeps a timeout with time.monotonic() belongs here: on a frozen clock a timeout never
# expires, and a stuck server would hang the suite instead of failing it.
CLOCK_IGNORE: list[str] = [
    "_pytest.timing",  # pytest's durations (--durations, junit): real seconds, not 0.00s or 56 years
    "psycopg",  # connect and wait timeouts of the PostgreSQL driver
    "redis",  # socket timeouts, retry back-off and health checks of redis-py (cache, locks, RQ)
    "playwright",  # the browser driver's own waits; its asyncio loop is kept real by real_asyncio
]
# Not ignored on purpose: Django, django-otp, signing, sessions and the Stripe SDK (webhook signatures
# carry a timestamp the fake server makes with the frozen clock and the SDK checks against it), and the
# RQ worker (its jobs run our code, which must see the frozen day). The whole suite, browser tests on a
# live server, concurrency tests on PostgreSQL and the RQ round trip included, passes on this clock;
# no test needed `real_clock` (cookies carry Max-Age, which browsers prefer to the frozen Expires).


class _Patch:
    """freezegun's patching, done once for the session: starting a freeze rewrites every loaded module
    (about 25 ms with ~2,000 modules), a freeze nested in a running one costs nothing. A test on the
    real clock stops it; the next frozen test starts it again."""

    freezer: Any = None

    @classmethod
    def on(cls) -> None:
        if cls.freezer is None:
            # real_asyncio: asyncio event loops (Playwright's) keep real monotonic time.
            cls.freezer = freeze_time(testing_clock.FROZEN_AT, ignore=list(CLOCK_IGNORE), real_asyncio=True)
            cls.freezer.start()

    @classmethod
    def off(cls) -> None:
        if cls.freezer is not None:
            cls.freezer.stop()
            cls.freezer = None


def pytest_sessionfinish(session: pytest.Session) -> None:
    _Patch.off()


@pytest.fixture(autouse=True)
def clock(request: pytest.FixtureRequest) -> Iterator[Any]:
    """Every test runs with the clock frozen at `testing_clock.FROZEN_AT` (see that module).

    `@pytest.mark.clock("2027-03-26 09:00")` freezes at another local time, `@pytest.mark.clock(tick=True)`
    lets the clock move from the frozen instant, `@pytest.mark.real_clock` leaves it alone. The fixture's
    value is freezegun's factory (`clock.move_to(...)`, `clock.tick(seconds)`), None on the real clock.
    """
    marker = request.node.get_closest_marker("clock")
    at, tick = testing_clock.FROZEN_AT, False
    real = request.node.get_closest_marker("real_clock") is not None
    if testing_clock.REAL and marker is None:
        # PIAZZA_TEST_TODAY=real: a test that moves the clock gets one that starts now and runs.
        real = real or "clock" not in inspect.signature(request.function).parameters
        tick = True
    if real:
        _Patch.off()
        yield None
        return
    if marker is not None:
        if marker.args:
            at = testing_clock.parse_local(marker.args[0])
        tick = bool(marker.kwargs.get("tick", False))
    _Patch.on()
    with freeze_time(at, tick=tick, ignore=list(CLOCK_IGNORE)) as factory:
        yield factory
