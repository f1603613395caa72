"""Liveness and readiness for load balancers and orchestrators (issue 14, deployment).

Answered by the first middleware, before host validation and the HTTPS redirect: a balancer
probes by IP over plain HTTP, and a probe must neither be redirected nor refused as a bad Host.
`/healthz` says only that the process answers (never touches a service, so a database outage
does not make every worker look dead and get restarted); `/readyz` says whether this worker can
serve traffic now: database reachable, migrations applied, Redis reachable when configured.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable

import redis
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations.executor import MigrationExecutor
from django.http import HttpRequest, HttpResponse

logger = logging.getLogger(__name__)

LIVENESS_PATH = "/healthz"
READINESS_PATH = "/readyz"

# Migrations do not change under a running process: once applied, never asked again.
_migrations_applied = False


def check_database() -> None:
    with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
        cursor.execute("SELECT 1")


def check_migrations() -> None:
    global _migrations_applied
    if _migrations_applied:
        return
    executor = MigrationExecutor(connections[DEFAULT_DB_ALIAS])
    pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
    if pending:
        raise RuntimeError(f"{len(pending)} migrations not applied")
    _migrations_applied = True


def check_redis() -> None:
    if not settings.REDIS_URL:
        return
    client = redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=1, socket_timeout=1)
    try:
        client.ping()
    finally:
        client.close()


READINESS_CHECKS: dict[str, Callable[[], None]] = {
    "database": check_database,
    "migrations": check_migrations,
    "redis": check_redis,
}


def readiness() -> tuple[bool, dict[str, str]]:
    results: dict[str, str] = {}
    for name, check in READINESS_CHECKS.items():
        try:
            check()
        except Exception as exc:  # a probe reports every failure, it never raises
            logger.warning("readiness check %s failed: %s", name, exc)
            results[name] = "failing"
        else:
            results[name] = "ok"
    return all(value == "ok" for value in results.values()), results


def _json(status: int, body: dict[str, object]) -> HttpResponse:
    response = HttpResponse(json.dumps(body), status=status, content_type="application/json")
    response["Cache-Control"] = "no-store"
    return response


class HealthCheckMiddleware:
    """First in MIDDLEWARE: answers the two probe paths and passes everything else on."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path == LIVENESS_PATH:
            return _json(200, {"status": "ok"})
        if request.path == READINESS_PATH:
            ready, checks = readiness()
            return _json(200 if ready else 503, {"status": "ok" if ready else "unavailable", "checks": checks})
        return self.get_response(request)
