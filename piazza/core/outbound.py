"""Domain events announced to apps above (the API's outgoing webhooks, issue 16).

Lower apps cannot import the API (layers point down), so an action announces what happened here,
inside its own transaction; a listener (`piazza.api.webhooks.emit`) writes its outbox row in that
same transaction or, when nobody subscribes, does nothing at all (no SQL). `territory_path` is a
callable so that the path is only looked up when somebody listens for the event.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol


class Listener(Protocol):
    def __call__(
        self, event: str, *, object_id: int, territory_path: Callable[[], str], person_id: int | None
    ) -> None: ...


_listeners: list[Listener] = []


def listen(listener: Listener) -> None:
    """Registered once at start-up (an AppConfig.ready)."""
    if listener not in _listeners:
        _listeners.append(listener)


def announce(event: str, *, object_id: int, territory_path: Callable[[], str], person_id: int | None = None) -> None:
    """Call inside the transaction of the action: what a listener writes commits or rolls back with it."""
    for listener in _listeners:
        listener(event, object_id=object_id, territory_path=territory_path, person_id=person_id)
