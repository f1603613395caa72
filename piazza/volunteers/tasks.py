"""Periodic work of the volunteers app (settings.PERIODIC_TASKS); every task is idempotent."""

from __future__ import annotations

from django_tasks import task

from piazza.volunteers.actions import remind_due_signups


@task()
def send_shift_reminders() -> int:
    """Hourly: the sign-ups of tomorrow's shifts get one reminder each, however often it runs."""
    return remind_due_signups()
