"""Issue 14, ADR 0036: a task whose RQ worker dies mid-way is run again, once, by another worker."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import django_rq
import pytest
import redis
from django.conf import settings
from django.test import override_settings
from rq import Queue
from rq import Worker as RQWorker
from rq.job import Job, JobStatus

from piazza.core import tasks_recovery
from piazza.core.tasks_recovery import MAX_RERUNS, RERUNS, requeue_abandoned, worker_is_dead

pytestmark = pytest.mark.redis

ROOT = Path(settings.BASE_DIR)


@pytest.fixture
def queue() -> Iterator[Queue]:
    """A queue of this test's own on the test Redis, emptied afterwards."""
    q = Queue(f"test-recovery-{uuid.uuid4().hex[:8]}", connection=django_rq.get_connection("default"))
    yield q
    q.empty()
    q.connection.delete(q.started_job_registry.key)


def _taken_by(queue: Queue, worker: RQWorker) -> Job:
    """A job as RQ leaves it once `worker` has taken it: out of the queue, started, one execution."""
    job = queue.enqueue("piazza.core.tasks.worker_heartbeat", "recovery")
    queue.remove(job)
    worker.prepare_execution(job)
    job.set_status(JobStatus.STARTED)
    return job


def _gone(queue: Queue) -> RQWorker:
    """A worker that took a job and stopped beating: its key in Redis has expired."""
    worker = RQWorker([queue], connection=queue.connection, name=f"gone-{uuid.uuid4().hex[:8]}")
    worker.register_birth()
    return worker


def test_the_job_of_a_worker_without_heartbeat_goes_back_to_the_head_of_its_queue(queue):
    waiting = queue.enqueue("piazza.core.tasks.worker_heartbeat", "waiting")
    gone = _gone(queue)
    job = _taken_by(queue, gone)
    queue.connection.delete(gone.key)  # no heartbeat for its TTL

    assert requeue_abandoned(queue) == [job.id]

    assert queue.job_ids == [job.id, waiting.id]  # before the work that was waiting
    assert queue.started_job_registry.get_job_ids(cleanup=False) == []
    job.refresh()
    assert job.get_status() == JobStatus.QUEUED
    assert job.meta[RERUNS] == 1
    assert requeue_abandoned(queue) == []  # put back once, not once per look


def test_the_job_of_a_live_worker_is_left_alone(queue):
    alive = RQWorker([queue], connection=queue.connection, name=f"alive-{uuid.uuid4().hex[:8]}")
    alive.register_birth()  # this process, on this host, heartbeat key present
    try:
        job = _taken_by(queue, alive)
        assert requeue_abandoned(queue) == []
        assert job.get_status(refresh=True) == JobStatus.STARTED
        assert queue.job_ids == []
    finally:
        alive.register_death()


def test_a_worker_whose_process_is_gone_on_this_host_is_dead_at_once(queue):
    worker = RQWorker([queue], connection=queue.connection, name=f"killed-{uuid.uuid4().hex[:8]}")
    worker.register_birth()
    try:
        assert not worker_is_dead(queue.connection, worker.name)
        finished = subprocess.Popen([sys.executable, "-c", "pass"])
        finished.wait()
        queue.connection.hset(worker.key, "pid", finished.pid)  # its key still there, its process not
        assert worker_is_dead(queue.connection, worker.name)
        queue.connection.hset(worker.key, "hostname", "another-host")  # elsewhere: only the heartbeat tells
        assert not worker_is_dead(queue.connection, worker.name)
    finally:
        worker.register_death()


def test_a_job_that_keeps_killing_its_worker_is_left_to_fail(queue):
    gone = _gone(queue)
    job = _taken_by(queue, gone)
    queue.connection.delete(gone.key)
    job.meta[RERUNS] = MAX_RERUNS
    job.save_meta()

    assert requeue_abandoned(queue) == []
    assert queue.job_ids == []


@pytest.mark.django_db(transaction=True)
@override_settings(TASKS={"default": {"BACKEND": "django_tasks_rq.RQBackend", "QUEUES": ["default"]}})
def test_a_job_whose_worker_is_killed_mid_way_is_completed_exactly_once_by_the_next_worker():
    """Real processes: worker 1 takes the job, which blocks; worker 1 gets SIGKILL (its process group,
    as a container's end or an OOM kill would); worker 2 starts, puts the job back and runs it; the
    job's effect happens once and its first work horse did not survive its worker."""
    from piazza.core.tests.recovery_tasks import wait_for_go

    # A connection of its own whose socket waits longer than the blocking reads' own deadlines.
    connection = redis.Redis.from_url(str(settings.REDIS_URL), socket_timeout=200)
    key = f"test-recovery-{uuid.uuid4().hex}"
    env = {**os.environ, "PIAZZA_TASKS_BACKEND": "rq", "REDIS_URL": str(settings.REDIS_URL)}

    def worker(*extra: str) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sys.executable, "manage.py", "worker", *extra],
            cwd=ROOT,
            env=env,
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    default = django_rq.get_queue("default")
    default.empty()  # what earlier runs left on the test Redis would run first
    connection.delete(default.started_job_registry.key)
    result = wait_for_go.enqueue(key)
    first = worker()
    try:
        started = connection.blpop([f"{key}:started"], timeout=180)  # a blocking read with a deadline
        assert started is not None, "worker 1 did not start the job"
        first_horse = int(started[1])
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(timeout=30)
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
            first.wait()
    job = Job.fetch(result.id, connection=connection)
    assert job.get_status() == JobStatus.STARTED  # as RQ leaves it: abandoned in the started registry

    second = worker("--burst")
    try:
        again = connection.blpop([f"{key}:started"], timeout=180)
        assert again is not None, "worker 2 did not run the job again"
        connection.rpush(f"{key}:go", 1)
        assert second.wait(timeout=180) == 0
    finally:
        if second.poll() is None:
            os.killpg(second.pid, signal.SIGKILL)
            second.wait()

    job.refresh()
    assert job.get_status() == JobStatus.FINISHED
    assert job.meta[RERUNS] == 1
    assert connection.get(f"{key}:runs") == b"2"
    assert connection.get(f"{key}:effects") == b"1"  # exactly once
    assert not tasks_recovery._process_alive(first_horse)  # the first horse died with its worker
    assert result.id not in django_rq.get_queue("default").started_job_registry.get_job_ids(cleanup=False)
    connection.delete(*(f"{key}:{suffix}" for suffix in ("runs", "effects", "started", "go")))
