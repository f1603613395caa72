"""Task helpers (convention 13): tasks take ids and are enqueued only after the commit."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django_tasks import task

from piazza.core.audit import record


def enqueue_on_commit(task: Any, *args: Any, **kwargs: Any) -> None:
    """Enqueue a django-tasks task once the surrounding transaction commits."""
    transaction.on_commit(lambda: task.enqueue(*args, **kwargs))


@task()
def worker_heartbeat(label: str) -> str:
    """Proves the queue round trip (web → queue → worker → database) for `check_worker`."""
    with transaction.atomic():
        record("system.worker_heartbeat", actor=None, data={"label": label})
    return label
