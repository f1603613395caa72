"""A task for the recovery test (test_tasks_recovery.py): it tells the test it has started, then
waits for the test's go, each through a Redis list (blocking reads with a deadline, no sleeps)."""

from __future__ import annotations

import os

import redis
from django.conf import settings
from django_tasks import task


@task()
def wait_for_go(key: str) -> str:
    """Counts its runs, says it started (with its process id), waits for the go, counts its effect."""
    connection = redis.Redis.from_url(str(settings.REDIS_URL), socket_timeout=200)
    connection.incr(f"{key}:runs")
    connection.rpush(f"{key}:started", os.getpid())
    if connection.blpop([f"{key}:go"], timeout=180) is None:
        raise TimeoutError("no go from the test within 180 s")
    connection.incr(f"{key}:effects")
    return key
