"""The outbox write: zero SQL statements when no active subscription wants the event.

The (event, territory path) pairs of the active subscriptions live in the shared cache without
expiry; every change to a subscription deletes the entry now and again after its commit, and the
next `emit` reloads it (one query). Only a match writes a `WebhookEvent` row, in the caller's
transaction; the worker dispatches it after the commit (and the periodic task picks up any row
whose task was lost).
"""

from __future__ import annotations

from collections.abc import Callable

from django.core.cache import cache
from django.db import transaction

from piazza.api.webhooks.models import WebhookEvent, WebhookSubscription
from piazza.core.tasks import enqueue_on_commit

CACHE_KEY = "webhooks:active:v1"


def active_pairs() -> list[tuple[str, str]]:
    """(event, path) of every active subscription, from the cache (loaded from the database on a miss)."""
    pairs = cache.get(CACHE_KEY)
    if pairs is None:
        rows = WebhookSubscription.objects.filter(paused_at__isnull=True).values_list("events", "territory__path")
        pairs = sorted({(event, path) for events, path in rows for event in events})
        cache.set(CACHE_KEY, pairs, timeout=None)
    return [(str(e), str(p)) for e, p in pairs]


def note_none_active() -> None:
    """Record that no subscription exists (a fresh database, e.g. each test's), sparing the first load."""
    cache.set(CACHE_KEY, [], timeout=None)


def forget_active() -> None:
    """A subscription changed: drop the cached set now and once more after the commit."""
    cache.delete(CACHE_KEY)
    transaction.on_commit(lambda: cache.delete(CACHE_KEY))


def emit(event: str, *, object_id: int, territory_path: Callable[[], str], person_id: int | None) -> None:
    """Listener of `piazza.core.outbound.announce` (registered in the api app's ready())."""
    paths = [path for wanted, path in active_pairs() if wanted == event]
    if not paths:
        return
    where = territory_path()
    if not any(where.startswith(path) for path in paths):
        return
    from piazza.api.webhooks import tasks  # noqa: PLC0415 (tasks → delivery → emit)

    row = WebhookEvent.objects.create(event=event, object_id=object_id, territory_path=where, person_id=person_id)
    enqueue_on_commit(tasks.dispatch_event, row.pk)
