"""Signed sandbox notifications with the wrong shape are refused with 400 and recorded with
their error; in production the sandbox is not routable at all (issue 10, finding 13)."""

import json

import pytest
from django.urls import reverse

from piazza.payments.models import WebhookEvent, WebhookStatus
from piazza.payments.providers.registry import all_providers, available_providers, get_provider
from piazza.payments.providers.sandbox import SandboxProvider, sign

pytestmark = pytest.mark.django_db


def post_signed(client, event):
    body = event if isinstance(event, bytes) else json.dumps(event).encode()
    return client.post(
        reverse("payments:webhook", args=["sandbox"]),
        body,
        content_type="application/json",
        HTTP_SANDBOX_SIGNATURE=sign(body),
    )


@pytest.mark.parametrize(
    ("event", "why"),
    [
        ({"id": "evt_1", "type": "charge.succeeded", "data": "sbch_x"}, "JSON objects"),
        ({"id": "evt_1", "type": "charge.succeeded", "data": ["sbch_x"]}, "JSON objects"),
        (["not", "an", "object"], "JSON objects"),
        ({"id": "e" * 500, "type": "charge.succeeded", "data": {"reference": "sbch_x"}}, "'id' is 500 characters"),
        ({"id": "evt_1", "type": "charge.succeeded", "data": {"reference": "r" * 500}}, "'reference' is 500"),
        ({"id": "evt_1", "type": "charge.succeeded", "data": {"payment_id": "9" * 500}}, "'payment_id' is 500"),
        ({"id": "evt_1", "type": "t" * 500, "data": {}}, "'type' is 500"),
        ({"id": {"nested": 1}, "type": "charge.succeeded", "data": {}}, "'id' must be a string"),
        ({"id": "evt\x00", "type": "charge.succeeded", "data": {}}, "control characters"),
        ({"type": "charge.succeeded", "data": {}}, "'id' is missing"),
        (b"\x00\xff not json", "not JSON"),
    ],
)
def test_signed_but_malformed_event_is_refused_and_recorded(client, event, why):
    response = post_signed(client, event)
    assert response.status_code == 400
    row = WebhookEvent.objects.get()
    assert row.event_id.startswith("malformed:")
    assert row.status == WebhookStatus.IGNORED
    assert not row.relevant
    assert why in row.error
    assert "\x00" not in row.payload
    assert post_signed(client, event).status_code == 400  # the same body again: still one row
    assert WebhookEvent.objects.count() == 1


def test_well_formed_event_still_stored_under_its_id(client):
    body, signature = SandboxProvider.webhook_body(
        "charge.succeeded", "sbch_nobody", event_id="evt_ok", payment_id="12"
    )
    response = client.post(
        reverse("payments:webhook", args=["sandbox"]),
        body,
        content_type="application/json",
        HTTP_SANDBOX_SIGNATURE=signature,
    )
    assert response.status_code == 200
    assert WebhookEvent.objects.get().event_id == "evt_ok"


def test_sandbox_is_not_routable_or_offered_in_production(client, settings):
    body, signature = SandboxProvider.webhook_body("charge.succeeded", "sbch_x", event_id="evt_prod")
    settings.PRODUCTION = True
    response = client.post(
        reverse("payments:webhook", args=["sandbox"]),
        body,
        content_type="application/json",
        HTTP_SANDBOX_SIGNATURE=signature,
    )
    assert response.status_code == 404
    assert not WebhookEvent.objects.exists()
    with pytest.raises(LookupError):
        get_provider("sandbox")
    assert "sandbox" not in {p.identifier for p in all_providers()}
    assert "sandbox" not in {p.identifier for p in available_providers()}
    settings.PRODUCTION = False
    assert get_provider("sandbox").identifier == "sandbox"


def test_sandbox_pages_are_not_found_in_production(client, settings):
    settings.PRODUCTION = True
    assert client.get(reverse("payments:sandbox_authenticate", args=["sbch_x"])).status_code == 404
