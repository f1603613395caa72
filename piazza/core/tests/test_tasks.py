"""Background work through the Django Tasks API: database queue by default, RQ on Redis."""

import uuid

import pytest
from django.core.management import call_command
from django.test import override_settings

from piazza.core.models import AuditEntry
from piazza.core.tasks import worker_heartbeat

# Workers close database connections between jobs, as they must in production: the test
# commits for real instead of running inside a rolled-back transaction.
pytestmark = pytest.mark.django_db(transaction=True)


def _done(label):
    return AuditEntry.objects.filter(action="system.worker_heartbeat", data__label=label).exists()


@override_settings(TASKS={"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}})
def test_database_queue_task_runs_only_when_the_worker_runs():
    label = uuid.uuid4().hex
    worker_heartbeat.enqueue(label)
    assert not _done(label)
    call_command("worker", burst=True)
    assert _done(label)


@pytest.mark.redis
@override_settings(TASKS={"default": {"BACKEND": "django_tasks_rq.RQBackend", "QUEUES": ["default"]}})
def test_redis_queue_task_runs_through_an_rq_worker():
    label = uuid.uuid4().hex
    worker_heartbeat.enqueue(label)
    assert not _done(label)
    call_command(
        "rqworker", "default", burst=True, worker_class="rq.worker.SimpleWorker", job_class="django_tasks_rq.Job"
    )
    assert _done(label)


@override_settings(TASKS={"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}})
def test_the_database_queue_takes_a_task_inside_the_transaction_as_an_outbox():
    """Issue 14: the task row is written in the transaction it follows, so it commits with it or
    vanishes with it; no transaction of its own after the commit."""
    from django.db import transaction
    from django_tasks_db.models import DBTaskResult

    from piazza.core.tasks import enqueue_on_commit

    kept, lost = uuid.uuid4().hex, uuid.uuid4().hex
    with transaction.atomic():
        enqueue_on_commit(worker_heartbeat, kept)
        assert DBTaskResult.objects.filter(args_kwargs__args=[kept]).count() == 1  # already in it
    with pytest.raises(RuntimeError), transaction.atomic():
        enqueue_on_commit(worker_heartbeat, lost)
        raise RuntimeError("the work fails: its task must not be left queued")
    assert DBTaskResult.objects.filter(args_kwargs__args=[kept]).count() == 1
    assert not DBTaskResult.objects.filter(args_kwargs__args=[lost]).exists()
    call_command("worker", burst=True)
    assert _done(kept) and not _done(lost)


def test_an_inline_queue_runs_the_task_only_after_the_commit():
    from django.db import transaction

    from piazza.core.tasks import enqueue_on_commit

    label = uuid.uuid4().hex
    with transaction.atomic():
        enqueue_on_commit(worker_heartbeat, label)
        assert not _done(label)  # the test settings run tasks inline: not before the commit
    assert _done(label)
