"""Task helpers (convention 13): tasks take ids and are enqueued only after the commit."""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction
from django_tasks import task

from piazza.core.audit import record
from piazza.core.auditchain import last_verified_head, remember_head, verify_chain
from piazza.core.models import AuditKind

logger = logging.getLogger("piazza.audit")


def enqueue_on_commit(task: Any, *args: Any, **kwargs: Any) -> None:
    """Enqueue a django-tasks task once the surrounding transaction commits."""
    transaction.on_commit(lambda: task.enqueue(*args, **kwargs))


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
