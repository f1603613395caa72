"""Failure counters in the shared cache (Redis in production), so limits hold across processes."""

from __future__ import annotations

import time

from django.core.cache import cache


class FailureLimiter:
    """Counts failures per key in a window; locked once `limit` failures are reached."""

    def __init__(self, namespace: str, *, limit: int, window_seconds: int) -> None:
        self.namespace = namespace
        self.limit = limit
        self.window = window_seconds

    def _key(self, key: str) -> str:
        return f"ratelimit:{self.namespace}:{key}"

    def locked_until(self, key: str) -> float | None:
        state = cache.get(self._key(key))
        if state and state["count"] >= self.limit and state["until"] > time.time():
            return float(state["until"])
        return None

    def fail(self, key: str) -> None:
        now = time.time()
        state = cache.get(self._key(key))
        if not state or state["until"] <= now:
            state = {"count": 0, "until": now + self.window}
        state["count"] += 1
        cache.set(self._key(key), state, timeout=self.window)

    def reset(self, key: str) -> None:
        cache.delete(self._key(key))
