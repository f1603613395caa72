"""Periodic work of discovery (settings.PERIODIC_TASKS)."""

from __future__ import annotations

from django_tasks import task

from piazza.discovery import digest


@task()
def send_digests() -> int:
    """Hourly: the followers' digests due in this period (at most one per person per period)."""
    return digest.send_digests()
