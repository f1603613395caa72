"""Periodic tasks: enqueued once per interval, whatever the number of schedulers."""

import datetime as dt

import pytest
from django.test import override_settings
from django.utils import timezone

from piazza.core.models import AuditEntry, PeriodicRun
from piazza.core.periodic import enqueue_due

pytestmark = pytest.mark.django_db(transaction=True)

HEARTBEAT = "piazza.core.tasks.worker_heartbeat"


@pytest.fixture
def heartbeat_every_minute():
    # the heartbeat needs a label argument: wrap it so the scheduler can call it bare
    with override_settings(PERIODIC_TASKS={"piazza.core.tests.test_periodic.periodic_heartbeat": 60}):
        yield


from django_tasks import task  # noqa: E402

from piazza.core.tasks import worker_heartbeat  # noqa: E402


@task()
def periodic_heartbeat() -> str:
    return worker_heartbeat.call("periodic")


def test_due_task_is_enqueued_once_per_interval(heartbeat_every_minute):
    start = timezone.now()
    assert enqueue_due(start) == ["piazza.core.tests.test_periodic.periodic_heartbeat"]
    assert enqueue_due(start + dt.timedelta(seconds=30)) == []  # a second scheduler, same minute
    assert enqueue_due(start + dt.timedelta(seconds=61)) == ["piazza.core.tests.test_periodic.periodic_heartbeat"]
    # the immediate backend ran both enqueues
    assert AuditEntry.objects.filter(action="system.worker_heartbeat", data__label="periodic").count() == 2
    assert PeriodicRun.objects.get().last_enqueued_at == start + dt.timedelta(seconds=61)


def test_every_configured_periodic_task_exists_and_takes_no_arguments():
    from django.conf import settings
    from django.utils.module_loading import import_string

    for path in settings.PERIODIC_TASKS:
        task_object = import_string(path)
        assert hasattr(task_object, "enqueue"), path
