"""Periodic privacy work (settings.PERIODIC_TASKS, convention 13: thin and idempotent)."""

from __future__ import annotations

import logging

from django.conf import settings
from django_tasks import task

from piazza.privacy import erasure, retention

logger = logging.getLogger("piazza.privacy")


@task()
def apply_retention() -> str:
    """Rule G5: the dry-run report always; erasure only when settings.PRIVACY_RETENTION_APPLY is on."""
    if not settings.PRIVACY_RETENTION_APPLY:
        report = retention.retention_report()
        logger.info("retention dry run: %s", report.as_dict() | {"contact_ids": []})
        return "dry-run"
    report = retention.apply_retention()
    return f"applied {len(report.contacts)}"


@task()
def release_expired_holds() -> str:
    """Erase the columns whose legal hold has ended."""
    return f"released {erasure.release_expired_holds()}"
