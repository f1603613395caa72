"""Task helpers (convention 13): tasks take ids and are enqueued only after the commit."""

from __future__ import annotations

import logging
from typing import Any

from django.db import DEFAULT_DB_ALIAS, router, transaction
from django_tasks import task

from piazza.core.audit import record
from piazza.core.auditchain import last_verified_head, remember_head, verify_chain
from piazza.core.models import AuditKind

logger = logging.getLogger("piazza.audit")


def enqueue_on_commit(task: Any, *args: Any, **kwargs: Any) -> None:
    """Enqueue a django-tasks task for when the surrounding transaction commits.

    A queue in another system (RQ on Redis, or inline) gets the task after the commit, so a
    worker never runs it on a rolled-back or not yet visible row. The database queue is written
    inside the transaction instead (a transactional outbox): its row commits with the work it
    follows, or vanishes with it, and workers cannot see it before; issue 14, one transaction
    less per gift (the receipt e-mail was an autocommit INSERT of its own)."""
    if transaction.get_connection().in_atomic_block and _queued_in_this_database(task):
        task.enqueue(*args, **kwargs)
    else:
        transaction.on_commit(lambda: task.enqueue(*args, **kwargs))


def _queued_in_this_database(task: Any) -> bool:
    backend = task.get_backend()
    if type(backend).__module__.split(".")[0] != "django_tasks_db":
        return False
    from django_tasks_db.models import DBTaskResult  # noqa: PLC0415 - a model: after the app registry

    return bool(router.db_for_write(DBTaskResult) == DEFAULT_DB_ALIAS)


@task()
def worker_heartbeat(label: str) -> str:
    """Proves the queue round trip (web → queue → worker → database) for `check_worker`."""
    with transaction.atomic():
        record("system.worker_heartbeat", actor=None, data={"label": label})
    return label


@task()
def verify_audit_chain() -> str:
    """Periodic (settings.PERIODIC_TASKS): walk the audit chain; a break is logged and recorded.

    The head of an intact chain is kept in the shared cache and in the log, so entries cut off
    the end are noticed at the next run; ship this log off the machine.
    """
    report = verify_chain(known_head=last_verified_head())
    if report.broken is None:
        remember_head(report)
        logger.info("audit chain intact: %s entries, head %s %s", report.checked, report.head_seq, report.head_digest)
        return f"ok {report.head_seq}"
    broken = report.broken
    logger.critical("audit chain broken: %s", broken.describe())
    with transaction.atomic():
        record(
            "audit.chain_broken",
            actor=None,
            kind=AuditKind.DENIED,
            data={
                "problem": str(broken.problem),
                "entry_id": broken.entry_id,
                "seq": broken.seq,
                "detail": broken.detail,
            },
        )
    return f"broken {broken.problem} {broken.entry_id}"
