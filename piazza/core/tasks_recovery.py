"""A task whose RQ worker died mid-way is run again (issue 14, ADR 0036).

RQ leaves the job of a killed worker in the queue's StartedJobRegistry; its own clean-up (every
10 minutes, once the worker's heartbeat has lapsed) moves it to the failed registry, where nobody
runs it again: a receipt never sent, an import half done. Here a job whose worker is dead goes
back to the head of its queue instead, at most `MAX_RERUNS` times (a job that kills its worker
every time, say by exhausting memory, ends failed as before).

A worker is dead when its key in Redis has expired (no heartbeat for its TTL, whatever host it
ran on) or, on this host, when its process is gone. The second test is immediate and safe only
because our worker's work horse dies with it (`Worker.main_work_horse`): RQ puts the horse in a
process group of its own, so without that a killed worker's horse would go on running the job
while the job ran again elsewhere.

Re-running is safe because every task is idempotent (convention 13; ADR 0036 lists the guard of
each main task). Run by the worker at start and at each maintenance (every minute), and by
`manage.py scheduler` every 30 seconds.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import socket
from pathlib import Path
from typing import Any

from rq import Queue
from rq import Worker as RQWorker
from rq.exceptions import NoSuchJobError
from rq.executions import Execution
from rq.job import Job, JobStatus

logger = logging.getLogger("piazza.tasks")

MAX_RERUNS = 3
RERUNS = "piazza_reruns"  # job.meta key: how many times the job was put back after its worker died
MAINTENANCE_SECONDS = 60
_PR_SET_PDEATHSIG = 1


def requeue_abandoned(queue: Queue) -> list[str]:
    """Put back at the head of `queue` every started job whose worker is dead; returns their ids."""
    connection = queue.connection
    registry = queue.started_job_registry
    requeued = []
    for job_id, execution_id in registry.get_job_and_execution_ids(cleanup=False):
        execution = Execution(id=execution_id, job_id=job_id, connection=connection)
        try:
            execution.refresh()
            worker_name = execution.worker_name
        except ValueError:  # the execution's own key expired with its heartbeat
            worker_name = ""
        if worker_name and not worker_is_dead(connection, worker_name):
            continue
        # One recoverer per execution, whoever else (another worker, the scheduler) looks at it.
        if not connection.set(f"piazza:rq:rerun:{execution.composite_key}", 1, nx=True, ex=24 * 3600):
            continue
        try:
            job = Job.fetch(job_id, connection=connection)
        except NoSuchJobError:  # deleted meanwhile: only its registry entry is left
            registry.remove_execution(execution)
            continue
        if job.get_status(refresh=False) != JobStatus.STARTED:
            continue  # finished or failed after all: RQ's own clean-up drops the entry
        reruns = int(job.meta.get(RERUNS, 0))
        if reruns >= MAX_RERUNS:
            logger.error("job %s (%s) killed its worker %s times: left to fail", job.id, job.func_name, reruns)
            continue
        job.meta[RERUNS] = reruns + 1
        job.started_at = None
        with connection.pipeline() as pipeline:
            pipeline.multi()  # one transaction: out of the started registry and back in the queue
            registry.remove_execution(execution, pipeline=pipeline)
            pipeline.delete(execution.key)
            queue.enqueue_job(job, pipeline=pipeline, at_front=True)
            pipeline.execute()
        logger.warning(
            "job %s (%s) put back in queue %s: its worker %s died (rerun %s)",
            job.id,
            job.func_name,
            queue.name,
            worker_name or "(unknown)",
            reruns + 1,
        )
        requeued.append(job.id)
    return requeued


def worker_is_dead(connection: Any, worker_name: str) -> bool:
    """No heartbeat any more (its key expired), or on this host its process is gone."""
    key = RQWorker.redis_worker_namespace_prefix + worker_name
    hostname, pid = connection.hmget(key, ["hostname", "pid"])
    if hostname is None and pid is None and not connection.exists(key):
        return True
    if hostname is None or pid is None or _text(hostname) != socket.gethostname():
        return False
    return not _process_alive(int(pid))


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a killed child its parent has not reaped yet is a zombie: dead all the same
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state not in ("Z", "X")


def requeue_abandoned_everywhere() -> list[str]:
    """`requeue_abandoned` on every queue of settings.RQ_QUEUES (the scheduler's step)."""
    import django_rq  # noqa: PLC0415 - only when RQ is the backend
    from django.conf import settings  # noqa: PLC0415

    requeued = []
    for name in settings.RQ_QUEUES:
        requeued += requeue_abandoned(django_rq.get_queue(name))
    return requeued


class Worker(RQWorker):
    """RQ's forking worker, with the two things re-running needs: its work horse dies with it, and
    its maintenance (every minute, also when idle) first puts back the jobs of dead workers."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("maintenance_interval", MAINTENANCE_SECONDS)
        super().__init__(*args, **kwargs)

    @property
    def dequeue_timeout(self) -> int:
        # An idle worker waits on the queue at most this long, so its maintenance stays on time.
        return int(min(super().dequeue_timeout, self.maintenance_interval))

    def clean_registries(self) -> None:
        for queue in self.queues:
            try:
                requeue_abandoned(queue)
            except Exception:  # the recovery must never take the worker down with it
                logger.exception("putting back the jobs of dead workers failed on queue %s", queue.name)
        super().clean_registries()

    def main_work_horse(self, job: Any, queue: Any) -> None:
        _die_with_parent(self.pid)
        super().main_work_horse(job, queue)


def _die_with_parent(parent: int | None) -> None:
    """Linux: the kernel kills this process when its parent dies (prctl PR_SET_PDEATHSIG)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: a killed worker's horse may outlive it
        return
    if parent is not None and os.getppid() != parent:  # the parent died before the prctl
        os._exit(1)
