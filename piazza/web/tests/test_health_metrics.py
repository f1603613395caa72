"""Probes and metrics for the deployment (issue 14): what a balancer and Prometheus see."""

from __future__ import annotations

import copy
import json
import logging

import pytest
from django.conf import settings
from django.test import Client, override_settings
from django.utils.module_loading import import_string

from piazza.payments.models import Payment, State, WebhookEvent, WebhookStatus
from piazza.web import health

pytestmark = pytest.mark.django_db


@override_settings(ALLOWED_HOSTS=["piazza.example"], SECURE_SSL_REDIRECT=True)
def test_probes_answer_a_balancer_by_ip_over_plain_http():
    """No HTTPS redirect and no 400 for an unknown Host: the balancer probes the worker's address."""
    client = Client(HTTP_HOST="10.0.0.7:8000")
    live = client.get("/healthz")
    assert live.status_code == 200
    assert live.json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"]["database"] == "ok"
    assert ready.json()["checks"]["migrations"] == "ok"
    assert ready["Cache-Control"] == "no-store"


def test_readiness_fails_when_the_database_is_unreachable(monkeypatch, caplog):
    def broken() -> None:
        raise OSError("connection refused")

    monkeypatch.setitem(health.READINESS_CHECKS, "database", broken)
    with caplog.at_level(logging.WARNING):
        response = Client().get("/readyz")
    assert response.status_code == 503
    body = json.loads(response.content)
    assert body["status"] == "unavailable"
    assert body["checks"]["database"] == "failing"
    # Liveness does not depend on any service: the process is alive, do not restart it.
    assert Client().get("/healthz").status_code == 200


def test_readiness_fails_while_migrations_are_pending(monkeypatch):
    monkeypatch.setattr(health, "_migrations_applied", False)

    class Pending:
        def __init__(self, connection):
            self.loader = type("L", (), {"graph": type("G", (), {"leaf_nodes": lambda self: []})()})()

        def migration_plan(self, targets):
            return [("people", "9999_future")]

    monkeypatch.setattr(health, "MigrationExecutor", Pending)
    assert Client().get("/readyz").json()["checks"]["migrations"] == "failing"


def test_metrics_are_refused_to_strangers_and_served_to_the_token_holder(tree):
    with override_settings(METRICS_TOKEN="s3cret-token-for-prometheus"):
        assert Client(REMOTE_ADDR="203.0.113.9").get("/metrics").status_code == 404
        assert Client().get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 404
        ok = Client(REMOTE_ADDR="203.0.113.9").get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-token-for-prometheus")
    assert ok.status_code == 200
    assert ok["Content-Type"].startswith("text/plain")
    # No token configured: only the machine itself may scrape.
    assert Client(REMOTE_ADDR="203.0.113.9").get("/metrics").status_code == 404
    assert Client(REMOTE_ADDR="127.0.0.1").get("/metrics").status_code == 200


def _sample(text: str, name: str) -> float:
    """The value of one sample line, e.g. `piazza_payments{state="created"} 1.0`."""
    values = [line.rsplit(" ", 1)[1] for line in text.splitlines() if line.startswith(name + " ")]
    assert values, f"{name} not in metrics"
    return float(values[0])


def test_metrics_count_payments_by_state_failed_webhooks_and_request_latency(tree):
    Payment.objects.create(
        creation_key="metrics:1", provider="sandbox", amount_cents=1000, currency="EUR", description="x"
    )
    Payment.objects.create(
        creation_key="metrics:2",
        provider="sandbox",
        amount_cents=2000,
        currency="EUR",
        description="y",
        state=State.SUCCEEDED,
    )
    WebhookEvent.objects.create(provider="sandbox", event_id="e1", payload="{}", status=WebhookStatus.FAILED)
    WebhookEvent.objects.create(provider="sandbox", event_id="e2", payload="{}", status=WebhookStatus.PROCESSED)
    client = Client(REMOTE_ADDR="127.0.0.1")
    client.get("/")  # one timed request on a named route
    text = client.get("/metrics").content.decode()
    assert _sample(text, 'piazza_payments{state="created"}') == 1
    assert _sample(text, 'piazza_payments{state="succeeded"}') == 1
    assert _sample(text, 'piazza_payments{state="refunded"}') == 0
    assert _sample(text, "piazza_webhooks_failed") == 1
    assert _sample(text, "piazza_task_queue_depth") == 0  # tests run tasks inline
    assert 'piazza_http_request_duration_seconds_count{method="GET",route="web:home",status="2xx"}' in text
    # Raw paths never become labels (tokens, ids): only route names.
    assert "/il-mio-spazio/" not in text


def test_json_logs_are_one_object_per_line():
    """The formatter LOG_FORMAT=json installs, built from the settings themselves."""
    config = copy.deepcopy(dict(settings.LOGGING["formatters"]["json"]))  # type: ignore[index]
    formatter = import_string(config.pop("()"))(**config)
    record = logging.LogRecord("piazza.payments", logging.WARNING, __file__, 1, "webhook %s failed", ("e1",), None)
    line = json.loads(formatter.format(record))
    assert line["level"] == "WARNING"
    assert line["logger"] == "piazza.payments"
    assert line["message"] == "webhook e1 failed"
    assert "time" in line
