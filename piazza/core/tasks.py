"""Task helpers (convention 13): tasks take ids and are enqueued only after the commit."""

from __future__ import annotations

from typing import Any

from django.db import transaction


def enqueue_on_commit(task: Any, *args: Any, **kwargs: Any) -> None:
    """Enqueue a django-tasks task once the surrounding transaction commits."""
    transaction.on_commit(lambda: task.enqueue(*args, **kwargs))
