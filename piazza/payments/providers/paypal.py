"""`paypal`: PayPal Orders v2 through its REST API, with `httpx`.

create the order (PayPal-Request-Id = our attempt's key) → the payer approves at PayPal
(redirect) → back at `/pagamenti/<token>/ritorno/` we capture (PayPal-Request-Id derived from
the attempt, so a second capture is a replay) → refunds on the capture. Webhooks are verified
by PayPal's own verify-webhook-signature API and only trigger a re-fetch of the order.

Our references: the order id is the payment's (and attempt's) provider reference. Capture,
refund and dispute notifications name a capture; it is resolved to its order through the
capture's `supplementary_data.related_ids.order_id`.

Amounts cross the boundary as PayPal's decimal strings (`str(money.amount)`), never floats.
Recurring off-session charges would need PayPal's vault (not enabled): PayPal is one-off only.
"""

from __future__ import annotations

import json
import threading
import time
from decimal import Decimal
from typing import TYPE_CHECKING, Any, ClassVar

import httpx
from django.conf import settings
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from piazza.core.money import Money
from piazza.payments.providers.base import (
    Capability,
    ChargeResult,
    InstrumentInfo,
    InvalidSignature,
    Outcome,
    PaymentProvider,
    ProviderError,
    ProviderTimeout,
    RefundResult,
    RemoteDispute,
    RemoteRefund,
    RemoteState,
    WebhookNotice,
)

if TYPE_CHECKING:
    from piazza.payments.models import Payment, PaymentAttempt, Refund

DECLINE_ISSUES = {
    "INSTRUMENT_DECLINED": "card_declined",
    "PAYER_ACTION_REQUIRED": "payer_action_required",
    "TRANSACTION_REFUSED": "card_declined",
}
IN_FLIGHT = ("started", "requires_action", "unknown")  # payments.models.IN_FLIGHT_ATTEMPT_STATES
CAPTURED = ("COMPLETED", "PARTIALLY_REFUNDED", "REFUNDED")  # the money arrived (refunds come after)
RELEVANT_PREFIXES = ("CHECKOUT.ORDER.", "PAYMENT.CAPTURE.", "CUSTOMER.DISPUTE.")
SIGNATURE_HEADERS = {
    "auth_algo": "PAYPAL-AUTH-ALGO",
    "cert_url": "PAYPAL-CERT-URL",
    "transmission_id": "PAYPAL-TRANSMISSION-ID",
    "transmission_sig": "PAYPAL-TRANSMISSION-SIG",
    "transmission_time": "PAYPAL-TRANSMISSION-TIME",
}


def money(value: dict[str, Any] | None, currency: str) -> Money:
    """PayPal's {"currency_code": "EUR", "value": "12.50"} as exact Money."""
    if not value:
        return Money.zero(currency)
    return Money.from_decimal(Decimal(str(value["value"])), str(value.get("currency_code", currency)))


def amount(m: Money) -> dict[str, str]:
    return {"currency_code": m.currency, "value": str(m.amount)}


def payer_instrument(order: dict[str, Any]) -> InstrumentInfo | None:
    """The PayPal account that approved an order (rule M24: one account, one instrument)."""
    payer = order.get("payer") or {}
    source = (order.get("payment_source") or {}).get("paypal") or {}
    payer_id = str(payer.get("payer_id") or source.get("account_id") or "")
    return InstrumentInfo(fingerprint=f"paypal:{payer_id}", kind="paypal") if payer_id else None


class PayPalError(ProviderError):
    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(f"paypal: HTTP {status}: {body.get('name', '')} {body.get('message', '')}")
        self.status, self.body = status, body

    @property
    def issue(self) -> str:
        details = self.body.get("details") or [{}]
        return str(details[0].get("issue", self.body.get("name", "")))


class PayPalProvider(PaymentProvider):
    identifier = "paypal"
    verbose_name = _("PayPal")
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {
            Capability.ONE_OFF,
            Capability.REDIRECT,
            Capability.REFUND,
            Capability.PARTIAL_REFUND,
        }
    )

    def __init__(self) -> None:
        self._token = ("", 0.0, "")  # (access token, expires at, for which base URL)
        self._lock = threading.Lock()

    def is_available(self) -> bool:
        return bool(settings.PAYPAL_CLIENT_ID and settings.PAYPAL_CLIENT_SECRET)

    # --- HTTP -----------------------------------------------------------------------------
    def _client(self) -> httpx.Client:
        return httpx.Client(base_url=str(settings.PAYPAL_API_BASE), timeout=float(settings.PAYPAL_TIMEOUT_SECONDS))

    def _access_token(self, client: httpx.Client) -> str:
        base = str(settings.PAYPAL_API_BASE)
        with self._lock:
            token, expires, for_base = self._token
            if token and for_base == base and expires > time.monotonic() + 60:
                return token
            response = client.post(
                "/v1/oauth2/token",
                data={"grant_type": "client_credentials"},
                auth=(settings.PAYPAL_CLIENT_ID, settings.PAYPAL_CLIENT_SECRET),
            )
            if response.status_code != 200:
                raise PayPalError(response.status_code, self._json(response))
            body = response.json()
            self._token = (str(body["access_token"]), time.monotonic() + int(body.get("expires_in", 300)), base)
            return self._token[0]

    @staticmethod
    def _json(response: httpx.Response) -> dict[str, Any]:
        try:
            body = response.json()
        except ValueError:
            return {"message": response.text[:200]}
        return body if isinstance(body, dict) else {"items": body}

    def _call(self, method: str, path: str, *, request_id: str = "", **kwargs: Any) -> dict[str, Any]:
        try:
            with self._client() as client:
                headers = {"Authorization": f"Bearer {self._access_token(client)}", "Prefer": "return=representation"}
                if request_id:
                    headers["PayPal-Request-Id"] = request_id
                response = client.request(method, path, headers=headers, **kwargs)
        except httpx.TimeoutException as exc:
            raise ProviderTimeout(f"paypal: no answer in time ({exc})") from exc
        except httpx.HTTPError as exc:
            raise ProviderError(f"paypal: {exc}") from exc
        body = self._json(response)
        if response.status_code >= 400:
            raise PayPalError(response.status_code, body)
        return body

    # --- checkout -------------------------------------------------------------------------
    def start(self, payment: Payment, attempt: PaymentAttempt, data: dict[str, Any], return_url: str) -> ChargeResult:
        order = self._call(
            "POST",
            "/v2/checkout/orders",
            request_id=attempt.provider_key,
            json={
                "intent": "CAPTURE",
                "purchase_units": [
                    {
                        "reference_id": str(payment.pk),
                        "custom_id": str(payment.pk),
                        "invoice_id": attempt.provider_key,
                        "description": payment.description[:127],
                        "amount": amount(payment.amount),
                    }
                ],
                "payment_source": {
                    "paypal": {
                        "experience_context": {
                            "return_url": return_url,
                            "cancel_url": return_url,
                            "user_action": "PAY_NOW",
                            "shipping_preference": "NO_SHIPPING",
                            "locale": "it-IT",
                        }
                    }
                },
            },
        )
        approve = next(
            (link["href"] for link in order.get("links", []) if link.get("rel") in ("payer-action", "approve")), ""
        )
        return ChargeResult(outcome=Outcome.REQUIRES_ACTION, reference=str(order["id"]), action_url=approve)

    def _capture(self, order_id: str, key: str) -> None:
        try:
            self._call("POST", f"/v2/checkout/orders/{order_id}/capture", request_id=f"{key}-capture", json={})
        except PayPalError as exc:
            if exc.issue not in ("ORDER_ALREADY_CAPTURED", "ORDER_NOT_APPROVED", *DECLINE_ISSUES):
                raise

    def complete_return(self, payment: Payment, attempt: PaymentAttempt, params: dict[str, str]) -> ChargeResult:
        """Back from PayPal: capture (idempotent), then re-fetch: the query string is never trusted."""
        order_id = attempt.provider_reference
        if not order_id:
            return ChargeResult(outcome=Outcome.PENDING)
        declined = ""
        try:
            if attempt.state in IN_FLIGHT:  # never an attempt we refused before the capture (M24)
                self._call(
                    "POST",
                    f"/v2/checkout/orders/{order_id}/capture",
                    request_id=f"{attempt.provider_key}-capture",
                    json={},
                )
        except PayPalError as exc:
            if exc.issue in DECLINE_ISSUES:
                declined = DECLINE_ISSUES[exc.issue]
            elif exc.issue not in ("ORDER_ALREADY_CAPTURED", "ORDER_NOT_APPROVED"):
                raise
        state = self._order_state(payment, order_id, capture_key="")
        if declined and state.outcome != Outcome.SUCCEEDED:
            return ChargeResult(outcome=Outcome.FAILED, reference=order_id, failure_code=declined)
        if state.outcome == Outcome.PENDING and "token" in params and not params.get("PayerID"):
            # The payer pressed "cancel and return": they may choose another way to pay.
            return ChargeResult(outcome=Outcome.FAILED, reference=order_id, failure_code="canceled")
        return ChargeResult(
            outcome=state.outcome,
            reference=order_id,
            fee=state.fee,
            failure_code=state.failure_code,
            instrument=state.instrument,
        )

    def approved_instrument(self, payment: Payment, attempt: PaymentAttempt) -> InstrumentInfo | None:
        """The payer's PayPal account once they approved, before our capture moves the money."""
        if not attempt.provider_reference:
            return None
        order = self._call("GET", f"/v2/checkout/orders/{attempt.provider_reference}")
        return payer_instrument(order) if order.get("status") == "APPROVED" else None

    # --- reconciliation -------------------------------------------------------------------
    def _order_state(self, payment: Payment, order_id: str, capture_key: str) -> RemoteState:
        order = self._call("GET", f"/v2/checkout/orders/{order_id}")
        if order.get("status") == "APPROVED" and capture_key:
            # The payer approved but never came back: capturing completes what they authorised
            # (idempotent by the same request id as the return's capture).
            self._capture(order_id, capture_key)
            order = self._call("GET", f"/v2/checkout/orders/{order_id}")
        currency = payment.currency
        status = str(order.get("status", ""))
        unit = (order.get("purchase_units") or [{}])[0]
        payments = unit.get("payments") or {}
        captures = payments.get("captures") or []
        capture = next((c for c in captures if c.get("status") in CAPTURED), captures[0] if captures else None)
        if status == "VOIDED":
            return RemoteState(outcome=Outcome.CANCELED, reference=order_id)
        if capture is None:
            return RemoteState(outcome=Outcome.PENDING, reference=order_id)
        capture_status = str(capture.get("status", ""))
        if capture_status in ("DECLINED", "FAILED"):
            return RemoteState(outcome=Outcome.FAILED, reference=order_id, failure_code="card_declined")
        if capture_status not in CAPTURED:
            return RemoteState(outcome=Outcome.PENDING, reference=order_id)
        breakdown = capture.get("seller_receivable_breakdown") or {}
        fee = money(breakdown.get("paypal_fee"), currency)
        refunds = [
            RemoteRefund(
                reference=str(r["id"]),
                amount=money(r.get("amount"), currency),
                status={"COMPLETED": "succeeded", "FAILED": "failed", "CANCELLED": "failed"}.get(
                    str(r.get("status")), "pending"
                ),
                our_id=str(r.get("custom_id", "")),
            )
            for r in payments.get("refunds") or []
        ]
        disputes = self._disputes(str(capture["id"]), currency)
        return RemoteState(
            outcome=Outcome.SUCCEEDED,
            reference=order_id,
            fee=fee,
            refunds=refunds,
            disputes=disputes,
            instrument=payer_instrument(order),
        )

    def _disputes(self, capture_id: str, currency: str) -> list[RemoteDispute]:
        body = self._call("GET", "/v1/customer/disputes", params={"disputed_transaction_id": capture_id})
        disputes = []
        for item in body.get("items") or []:
            outcome = str((item.get("dispute_outcome") or {}).get("outcome_code", ""))
            status = "open"
            if item.get("status") == "RESOLVED":
                status = "won" if outcome == "RESOLVED_SELLER_FAVOUR" else "lost"
            disputes.append(
                RemoteDispute(
                    reference=str(item["dispute_id"]),
                    amount=money(item.get("dispute_amount"), currency),
                    fee=Money.zero(currency),
                    status=status,
                    reason=str(item.get("reason", "")),
                )
            )
        return disputes

    def fetch(self, payment: Payment, attempt: PaymentAttempt | None = None) -> RemoteState:
        order_id = payment.provider_reference or (attempt.provider_reference if attempt else "")
        if not order_id:
            # The order was never created or its id never reached us: the payer was never sent
            # to approve it, so nothing can have been charged.
            return RemoteState(outcome=Outcome.PENDING)
        # Only an attempt still in flight may be completed by capturing: one we refused before the
        # capture (rule M24, `approved_instrument`) is failed and its approval is never used.
        key = (
            attempt.provider_key
            if (attempt is not None and attempt.provider_reference == order_id and attempt.state in IN_FLIGHT)
            else ""
        )
        return self._order_state(payment, order_id, capture_key=key)

    def _capture_of(self, payment: Payment) -> str:
        order = self._call("GET", f"/v2/checkout/orders/{payment.provider_reference}")
        for unit in order.get("purchase_units") or []:
            for capture in (unit.get("payments") or {}).get("captures") or []:
                if capture.get("status") in CAPTURED:
                    return str(capture["id"])
        raise ProviderError(f"paypal: order {payment.provider_reference} has no completed capture")

    # --- refunds ----------------------------------------------------------------------------
    def refund(self, payment: Payment, refund: Refund) -> RefundResult:
        capture_id = self._capture_of(payment)
        try:
            body = self._call(
                "POST",
                f"/v2/payments/captures/{capture_id}/refund",
                request_id=refund.idempotency_key,
                json={
                    "amount": amount(refund.amount),
                    "custom_id": str(refund.pk),
                    "invoice_id": f"piazza-refund-{refund.pk}",
                },
            )
        except PayPalError as exc:
            if exc.status in (400, 422):
                return RefundResult(reference="", status="failed", failure_code=exc.issue or "refund_refused")
            raise
        status = {"COMPLETED": "succeeded", "FAILED": "failed", "CANCELLED": "failed"}.get(
            str(body.get("status")), "pending"
        )
        return RefundResult(reference=str(body["id"]), status=status)

    # --- webhooks ---------------------------------------------------------------------------
    def _order_of_capture(self, capture_id: str) -> str:
        capture = self._call("GET", f"/v2/payments/captures/{capture_id}")
        return str(((capture.get("supplementary_data") or {}).get("related_ids") or {}).get("order_id", ""))

    def verify_webhook(self, request: HttpRequest) -> WebhookNotice:
        headers = {field: request.headers.get(header, "") for field, header in SIGNATURE_HEADERS.items()}
        if not all(headers.values()) or not settings.PAYPAL_WEBHOOK_ID:
            raise InvalidSignature("paypal: signature headers missing or PAYPAL_WEBHOOK_ID not configured")
        try:
            event = json.loads(request.body)
        except ValueError as exc:
            raise InvalidSignature(f"paypal: body is not JSON ({exc})") from exc
        verdict = self._call(
            "POST",
            "/v1/notifications/verify-webhook-signature",
            json={
                **headers,
                "webhook_id": settings.PAYPAL_WEBHOOK_ID,
                "webhook_event": event,
            },
        )
        if verdict.get("verification_status") != "SUCCESS":
            raise InvalidSignature("paypal: verify-webhook-signature answered FAILURE")
        event_type = str(event.get("event_type", ""))
        resource = event.get("resource") or {}
        order_id, hint = "", ""
        if event_type.startswith("CHECKOUT.ORDER."):
            order_id = str(resource.get("id", ""))
        elif event_type.startswith("PAYMENT.CAPTURE."):
            related = (resource.get("supplementary_data") or {}).get("related_ids") or {}
            order_id = str(related.get("order_id", ""))
            if event_type == "PAYMENT.CAPTURE.REFUNDED" or not order_id:
                capture_link = next((link["href"] for link in resource.get("links", []) if link.get("rel") == "up"), "")
                capture_id = capture_link.rstrip("/").rsplit("/", 1)[-1] if capture_link else str(resource.get("id"))
                order_id = order_id or self._order_of_capture(capture_id)
            else:
                hint = str(resource.get("custom_id", ""))
        elif event_type.startswith("CUSTOMER.DISPUTE."):
            transactions = resource.get("disputed_transactions") or [{}]
            capture_id = str(transactions[0].get("seller_transaction_id", ""))
            order_id = self._order_of_capture(capture_id) if capture_id else ""
        return WebhookNotice(
            event_id=str(event.get("id", "")),
            event_type=event_type,
            payment_reference=order_id,
            payment_id=hint,
            relevant=event_type.startswith(RELEVANT_PREFIXES) and bool(order_id),
        )
