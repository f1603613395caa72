"""Thin, idempotent tasks of the donor register (convention 13)."""

from __future__ import annotations

from django.utils import timezone
from django_tasks import task

from piazza.compliance.register.actions import refresh_register


@task()
def refresh_registers() -> str:
    """Periodic (settings.PERIODIC_TASKS, daily): every register of this year and the last, so a
    late refund or an in-kind contribution recorded afterwards reaches the board (rule F1)."""
    year = timezone.localdate().year
    done = [refresh_register(actor=None, year=y) for y in (year - 1, year)]
    return ", ".join(f"{y}: {r.entries}" for y, r in zip((year - 1, year), done, strict=True))
