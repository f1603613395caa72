"""The worker's entry points for the tax statements (convention 13: ids in, an action called, safe to
retry). The plan task fans out one task per chunk; each chunk task queues one email batch."""

from __future__ import annotations

import logging

from django.contrib.auth import get_user_model
from django_tasks import task

from piazza.compliance.tax_statements.actions import generate
from piazza.core.tasks import enqueue_on_commit

logger = logging.getLogger("piazza.compliance")


def _actor(actor_id: int | None) -> object | None:
    return get_user_model().objects.filter(pk=actor_id).first() if actor_id else None


@task()
def plan_tax_statements(run_id: int, actor_id: int | None = None) -> int:
    chunk_ids = generate.plan_tax_statements(actor=_actor(actor_id), run_id=run_id)  # type: ignore[arg-type]
    for chunk_id in chunk_ids:
        enqueue_on_commit(generate_tax_statement_chunk, chunk_id)
    return len(chunk_ids)


@task()
def generate_tax_statement_chunk(chunk_id: int) -> int:
    try:
        statement_ids = generate.generate_tax_statement_chunk(actor=None, chunk_id=chunk_id)
    except Exception as exc:  # a chunk that fails is recorded on the run; the others go on
        logger.exception("tax statements: chunk %s failed", chunk_id)
        generate.fail_tax_statement_chunk(actor=None, chunk_id=chunk_id, error=f"{type(exc).__name__}: {exc}")
        return 0
    if statement_ids:
        enqueue_on_commit(email_tax_statements, statement_ids)
    return len(statement_ids)


@task()
def email_tax_statements(statement_ids: list[int]) -> int:
    return generate.email_tax_statements(actor=None, statement_ids=statement_ids)
