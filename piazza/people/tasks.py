"""Background work of the people app (convention 13: thin, take ids, safe to retry)."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django_tasks import task


@task()
def process_import(batch_id: int, actor_id: int | None = None) -> None:
    """Run an import batch; re-running skips the rows already done."""
    from piazza.people.actions.imports import process_import_batch

    actor = get_user_model().objects.filter(pk=actor_id).first() if actor_id else None
    process_import_batch(actor=actor, batch_id=batch_id)


@task()
def find_all_duplicates() -> None:
    """The full duplicate pass (P7), e.g. nightly."""
    from piazza.people.actions.duplicates import scan_duplicates

    scan_duplicates(actor=None)
