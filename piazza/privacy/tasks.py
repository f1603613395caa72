"""Thin, idempotent tasks (convention 13): they take ids and call an action."""

from __future__ import annotations

from django_tasks import task

from piazza.privacy.production import expire_download_links, produce_export


@task()
def produce_data_export(export_id: int) -> str:
    """Produce an access/portability export in the background (rule G5)."""
    return produce_export(export_id=export_id)


@task()
def expire_export_links() -> int:
    """Periodic (settings.PERIODIC_TASKS): unused exports past their link's expiry lose their files."""
    return expire_download_links()
