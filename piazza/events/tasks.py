"""Periodic work of the events app (settings.PERIODIC_TASKS)."""

from __future__ import annotations

from django_tasks import task

from piazza.events import actions


@task()
def send_reminders() -> int:
    """Hourly: tomorrow's attendees get their reminder once (idempotent, claimed per row)."""
    return actions.send_due_reminders()
