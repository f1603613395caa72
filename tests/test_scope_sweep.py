"""Convention 11, swept: an official of one circolo opens every back-office URL of the platform
with the ids of other territories' objects, and never gets a page.

The URL list is read from the resolver, so a new view is covered the day it is added.
"""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from piazza.territory.models import Kind, Level, Role, Territory
from piazza.territory.testing import make_official, verified_client

pytestmark = pytest.mark.django_db

ALLOWED_GET = {302, 400, 403, 404, 405}
ALLOWED_POST = {400, 403, 404, 405}  # a redirect after a POST would mean the action ran


def _patterns(resolver: URLResolver, prefix: str = "") -> list[tuple[str, URLPattern]]:
    found = []
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            found += _patterns(entry, prefix + str(entry.pattern))
        else:
            found.append((prefix + str(entry.pattern), entry))
    return found


def _int_only(route: str, pattern: URLPattern) -> list[str] | None:
    converters = getattr(pattern.pattern, "converters", {})
    if not converters or route.startswith(("admin/", "i18n/")):
        return None
    if any(type(c).__name__ != "IntConverter" for c in converters.values()):
        return None  # signed tokens and slugs are not guessable ids
    return list(converters)


def _candidate_ids(exclude: set[int]) -> list[int]:
    """A few real ids of every piazza model (PostgreSQL sequences do not restart per test)."""
    from django.apps import apps

    ids: set[int] = set()
    for model in apps.get_models():
        if model.__module__.startswith("piazza.") and model._meta.pk.get_internal_type() in {
            "AutoField",
            "BigAutoField",
        }:
            ids.update(model._default_manager.order_by("-pk").values_list("pk", flat=True)[:3])
    return sorted(ids - exclude)


def _url(route: str, kwargs: dict[str, int]) -> str:
    path = route
    for name, value in kwargs.items():
        path = path.replace(f"<int:{name}>", str(value))
    return "/" + path.lstrip("^").rstrip("$")


# The routes are swept in this many parts, each a test of its own, so that the suite's workers share them.
SHARDS = 4


def _int_routes() -> list[tuple[str, list[str]]]:
    routes = []
    for route, pattern in _patterns(get_resolver()):
        names = _int_only(route, pattern)
        if names is not None:
            routes.append((route, names))
    return sorted(routes)


def test_the_sweep_covers_the_back_office():
    """Every part has routes to sweep, and together they are many (a broken resolver walk finds none)."""
    routes = _int_routes()
    assert len(routes) > 60, len(routes)
    assert all(routes[shard::SHARDS] for shard in range(SHARDS))


@pytest.mark.parametrize("shard", range(SHARDS))
def test_no_back_office_url_opens_another_territorys_object(tree, shard):
    call_command("seed_demo", people=40, stdout=StringIO())
    lonely = Territory(parent=tree.milano, level=Level.CIRCOLO, kind=Kind.THEMATIC, name="Circolo sweep")
    lonely.save()
    official = make_official("sweep", lonely, list(Role.values))
    client = verified_client(official)
    anonymous = Client()
    # The same URLs opened by a national administrator prove the ids hit real objects.
    national = verified_client(make_official("sweep.nazionale", tree.national, list(Role.values)))
    reachable: set[str] = set()

    candidates = _candidate_ids({lonely.pk})
    checked, leaks = 0, []
    for route, names in _int_routes()[shard::SHARDS]:
        for candidate in candidates:
            url = _url(route, dict.fromkeys(names, candidate))
            if candidate == candidates[0] and anonymous.get(url).status_code == 200:
                break  # a public page: nothing personal or financial is behind it
            status = client.get(url).status_code
            posted = client.post(url, {}).status_code
            checked += 1
            if posted not in ALLOWED_POST:
                leaks.append(f"POST {url} → {posted}")
            if route not in reachable and national.get(url).status_code == 200:
                reachable.add(route)
            if status not in ALLOWED_GET:
                leaks.append(f"GET {url} → {status}")
    assert checked > 100 // SHARDS, "the sweep found too few back-office URLs to be meaningful"
    assert leaks == []
    assert len(reachable) >= 10 // SHARDS, sorted(reachable)
