"""gunicorn settings for the container and for a plain server (docs/deploy.md).

Two workers per core (PERFORMANCE.md measures with that); the metrics directory is emptied at
start and a dead worker's files are marked, so /metrics sums only live workers' histograms.
After each request `post_request` keeps a worker's memory flat (ADR 0044): the objects loaded by
the first request are frozen out of the cyclic collector, and every `GC_COLLECT_EVERY` requests
a full collection frees the request cycles that would otherwise wait for a rare one.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import shutil
from pathlib import Path
from typing import Any

from prometheus_client import multiprocess

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("GUNICORN_WORKERS", 2 * multiprocessing.cpu_count()))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = 20
max_requests = 5000  # recycles a worker now and then; with jitter so they do not all restart at once
max_requests_jitter = 500
accesslog = "-"
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")


# ADR 0044: a request leaves reference cycles (a form and its bound fields, a request and its
# lazy user...) that outlive the young generations' collections, so they wait for a full one,
# which CPython runs only when the old generation has grown by a quarter: with the app's ~300,000
# long-lived objects, rarely. Meanwhile they spread over the allocator's arenas and the worker's
# resident memory crept by 8-10 MB an hour in the soak, while what it still reached did not
# grow. Frozen, the app's objects are skipped by every later collection, which then costs a few
# ms instead of 150 ms of CPU; 0 turns both off.
GC_COLLECT_EVERY = int(os.environ.get("GC_COLLECT_EVERY", "100"))
_served = 0


def post_request(worker: Any, req: Any, environ: Any, resp: Any) -> None:
    global _served
    _served += 1
    if GC_COLLECT_EVERY <= 0:
        return
    if _served == 1:  # the app is loaded (and its first page rendered): freeze what it holds
        gc.collect()
        gc.freeze()
    elif _served % GC_COLLECT_EVERY == 0:
        gc.collect()


def on_starting(server: Any) -> None:
    metrics_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if metrics_dir:
        shutil.rmtree(metrics_dir, ignore_errors=True)
        Path(metrics_dir).mkdir(parents=True, exist_ok=True)


def child_exit(server: Any, worker: Any) -> None:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.mark_process_dead(worker.pid)
