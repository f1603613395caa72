"""Periodic work: which tasks run how often (settings.PERIODIC_TASKS), enqueued by `manage.py scheduler`.

The Tasks API has no periodic scheduling of its own. The scheduler only enqueues; workers
run. Each task's last enqueue time lives in a locked database row, so any number of
scheduler processes on any number of machines enqueue each task once per interval, and the
tasks themselves are idempotent (convention 13), so a late or doubled run is harmless.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.module_loading import import_string

from piazza.core.models import PeriodicRun


def periodic_tasks() -> dict[str, int]:
    """Dotted task path → interval in seconds."""
    return dict(getattr(settings, "PERIODIC_TASKS", {}))


def enqueue_due(now: dt.datetime | None = None) -> list[str]:
    """Enqueue every periodic task whose interval has passed; returns their names."""
    now = now or timezone.now()
    enqueued: list[str] = []
    for path, seconds in sorted(periodic_tasks().items()):
        with transaction.atomic():
            PeriodicRun.objects.get_or_create(name=path)
            run = PeriodicRun.objects.select_for_update().get(name=path)
            if run.last_enqueued_at and run.last_enqueued_at + dt.timedelta(seconds=seconds) > now:
                continue
            run.last_enqueued_at = now
            run.save(update_fields=["last_enqueued_at"])
            task: Any = import_string(path)
            transaction.on_commit(task.enqueue)
            enqueued.append(path)
    return enqueued
