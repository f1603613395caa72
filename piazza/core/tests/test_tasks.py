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
