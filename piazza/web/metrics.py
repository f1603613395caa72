"""Prometheus metrics (issue 14, deployment): request latency, queue depth, payments, webhooks.

`prometheus_client` (ADR 0024) rather than hand-written exposition. Latency is a histogram per
route name, never per raw path (a path holds tokens and ids: unbounded labels, and personal
identifiers in a monitoring system). The state gauges are read from the database at scrape
time, so every worker reports the same truth and nothing needs to be kept in step. Under
gunicorn set PROMETHEUS_MULTIPROC_DIR (an empty directory per start) so the workers' histograms
are summed. Nothing here carries personal data; still the page answers only a bearer of
METRICS_TOKEN or, with no token set, a loopback peer.
"""

from __future__ import annotations

import hmac
import os
import time
from collections.abc import Callable, Iterator

import django_rq
from django.conf import settings
from django.db.models import Count
from django.http import HttpRequest, HttpResponse, HttpResponseNotFound
from django_tasks.base import TaskResultStatus
from django_tasks_db.models import DBTaskResult
from prometheus_client import REGISTRY, CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from piazza.payments.models import Payment, State, WebhookEvent, WebhookStatus
from piazza.web.health import LIVENESS_PATH, READINESS_PATH

METRICS_PATH = "/metrics"
LOOPBACK = {"127.0.0.1", "::1"}

REQUEST_LATENCY = Histogram(
    "piazza_http_request_duration_seconds",
    "Time to answer a request, by route and status class",
    ["method", "route", "status"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0, 2.5, 5.0, 10.0),
)


def queue_depth() -> int:
    """Tasks waiting to run on the configured backend (0 when tasks run inline)."""
    backend = str(settings.TASKS["default"]["BACKEND"])
    if backend.startswith("django_tasks_rq"):
        queues = settings.TASKS["default"].get("QUEUES", ["default"])
        return sum(int(django_rq.get_queue(name).count) for name in queues)
    if backend.startswith("django_tasks_db"):
        return DBTaskResult.objects.filter(status=TaskResultStatus.READY).count()
    return 0


class StateCollector(Collector):
    """Gauges read at scrape time from the database and the queue."""

    def collect(self) -> Iterator[Metric]:
        payments = GaugeMetricFamily("piazza_payments", "Payments by state", labels=["state"])
        counts = dict(Payment.objects.values_list("state").annotate(n=Count("pk")).order_by())
        for state in State.values:
            payments.add_metric([state], counts.get(state, 0))
        yield payments
        yield GaugeMetricFamily(
            "piazza_webhooks_failed",
            "Provider notifications that failed to apply (retried by the worker)",
            value=WebhookEvent.objects.filter(status=WebhookStatus.FAILED).count(),
        )
        yield GaugeMetricFamily("piazza_task_queue_depth", "Background tasks waiting to run", value=queue_depth())


def _allowed(request: HttpRequest) -> bool:
    token = getattr(settings, "METRICS_TOKEN", "")
    if token:
        sent = str(request.META.get("HTTP_AUTHORIZATION", ""))
        return hmac.compare_digest(sent.encode(), f"Bearer {token}".encode())
    return str(request.META.get("REMOTE_ADDR", "")) in LOOPBACK


def exposition() -> bytes:
    state = CollectorRegistry()
    state.register(StateCollector())
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        workers = CollectorRegistry()
        MultiProcessCollector(workers)
        return generate_latest(workers) + generate_latest(state)
    return generate_latest(REGISTRY) + generate_latest(state)


class MetricsMiddleware:
    """Times every request but the probes, and serves /metrics to the monitoring system."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path == METRICS_PATH:
            if not _allowed(request):
                return HttpResponseNotFound()
            return HttpResponse(exposition(), content_type="text/plain; version=0.0.4; charset=utf-8")
        if request.path in (LIVENESS_PATH, READINESS_PATH):
            return self.get_response(request)
        started = time.perf_counter()
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        route = match.view_name if match is not None and match.view_name else "unmatched"
        REQUEST_LATENCY.labels(request.method or "", route, f"{response.status_code // 100}xx").observe(
            time.perf_counter() - started
        )
        return response
