"""Failure counters in the shared cache (Redis in production), so limits hold across processes."""

from __future__ import annotations

import hashlib
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


class BackoffLimiter:
    """Exponential back-off per key: `free` failures cost nothing, then each one doubles the wait.

    After the `free`-th failure the key waits `base` seconds, after the next one `2 × base`,
    then `4 × base`…, never more than `cap`. Attempts made while waiting are refused without
    counting, so the wait is what an attacker pays, not an ever-growing penalty for the owner.
    Failures are forgotten `memory` seconds after the last one. The count is an atomic cache
    increment, so parallel failures from many processes are all counted.
    """

    def __init__(self, namespace: str, *, free: int, base_seconds: int, cap_seconds: int, memory_seconds: int) -> None:
        self.namespace = namespace
        self.free = max(1, free)
        self.base = base_seconds
        self.cap = cap_seconds
        self.memory = max(memory_seconds, cap_seconds)

    def _keys(self, key: str) -> tuple[str, str]:
        digest = hashlib.sha256(key.encode()).hexdigest()[:32]  # any username fits a cache key
        prefix = f"backoff:{self.namespace}:{digest}"
        return f"{prefix}:count", f"{prefix}:last"

    def delay_after(self, failures: int) -> int:
        """Seconds to wait after the given number of failures (0 while still free)."""
        if failures < self.free:
            return 0
        return int(min(self.cap, self.base * 2 ** min(failures - self.free, 32)))

    def locked_until(self, key: str) -> float | None:
        count_key, last_key = self._keys(key)
        failures = cache.get(count_key) or 0
        last = cache.get(last_key)
        if last is None:
            return None
        until = float(last) + self.delay_after(int(failures))
        return until if until > time.time() else None

    def fail(self, key: str) -> None:
        count_key, last_key = self._keys(key)
        cache.add(count_key, 0, timeout=self.memory)
        try:
            cache.incr(count_key)
        except ValueError:  # expired between add and incr
            cache.set(count_key, 1, timeout=self.memory)
        cache.touch(count_key, timeout=self.memory)
        cache.set(last_key, time.time(), timeout=self.memory)

    def reset(self, key: str) -> None:
        cache.delete_many(list(self._keys(key)))
