"""Thin, idempotent tasks (convention 13): they take ids and call an action."""

from __future__ import annotations

import logging

from django.conf import settings
from django_tasks import task

from piazza.privacy import erasure, retention
from piazza.privacy.production import expire_download_links, produce_export

logger = logging.getLogger("piazza.privacy")


@task()
def produce_data_export(export_id: int) -> str:
    """Produce an access/portability export in the background (rule G5)."""
    return produce_export(export_id=export_id)


@task()
def expire_export_links() -> int:
    """Periodic (settings.PERIODIC_TASKS): unused exports past their link's expiry lose their files."""
    return expire_download_links()


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
