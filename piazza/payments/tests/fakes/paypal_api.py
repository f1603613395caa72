"""A local fake of PayPal's REST API (OAuth2 token, Orders v2, captures, refunds, disputes,
verify-webhook-signature), for tests: no network. Shapes follow PayPal's API reference:
decimal-string amounts, `links` with `payer-action`/`up`, 422 errors with `details[].issue`,
`PayPal-Request-Id` replays returning the first answer.

The payer's side is simulated with `approve(order_id)` (what they do on PayPal's page).
PayPal signs webhooks with a certificate; here the signature is an HMAC that only the fake's
verify-webhook-signature endpoint accepts, which is all our code relies on.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
import threading
import time
import zlib
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


def _value(cents: int) -> str:
    return str((Decimal(cents) / 100).quantize(Decimal("0.01")))


def _cents(value: str) -> int:
    return int(Decimal(value) * 100)


class Unprocessable(Exception):
    def __init__(self, issue: str, status: int = 422) -> None:
        super().__init__(issue)
        self.issue, self.status = issue, status


class _Server(ThreadingHTTPServer):
    request_queue_size = 128  # parallel tests open many connections at once
    daemon_threads = True


class FakePayPal:
    def __init__(self) -> None:
        self.client_id, self.client_secret = "fake-client-id", "fake-client-secret"
        self.webhook_id = "WH-FAKE-0001"
        self.signing_key = secrets.token_bytes(16)
        self.lock = threading.RLock()
        self.orders: dict[str, dict[str, Any]] = {}
        self.captures: dict[str, dict[str, Any]] = {}  # capture id → {order, capture}
        self.disputes: list[dict[str, Any]] = []
        self.approved: dict[str, str] = {}  # order id → "ok" | "declined"
        self.replays: dict[str, tuple[int, dict[str, Any]]] = {}
        self.slow: dict[str, float] = {}
        self.token = f"A21AA{secrets.token_hex(12)}"
        self.server = _Server(("127.0.0.1", 0), self._handler_class())
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> FakePayPal:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    # --- the payer's and PayPal's side, for tests ------------------------------------------
    def approve(self, order_id: str, *, declined: bool = False, payer_id: str = "PAYER1") -> None:
        with self.lock:
            self.approved[order_id] = "declined" if declined else "ok"
            self.orders[order_id]["status"] = "APPROVED"
            # Like PayPal: the approving account appears on the order (payer id, email).
            self.orders[order_id]["payer"] = {"payer_id": payer_id, "email_address": f"{payer_id.lower()}@example.org"}

    def slow_once(self, prefix: str, seconds: float) -> None:
        self.slow[prefix] = seconds

    @property
    def completed_captures(self) -> list[dict[str, Any]]:
        return [c["capture"] for c in self.captures.values()]

    def capture_of(self, order_id: str) -> dict[str, Any]:
        return self.orders[order_id]["purchase_units"][0]["payments"]["captures"][0]

    def dispute(self, order_id: str, *, status: str = "OPEN", outcome: str = "") -> dict[str, Any]:
        with self.lock:
            capture = self.capture_of(order_id)
            for d in self.disputes:
                if d["disputed_transactions"][0]["seller_transaction_id"] == capture["id"]:
                    d["status"] = status
                    if outcome:
                        d["dispute_outcome"] = {"outcome_code": outcome}
                    return d
            dispute = {
                "dispute_id": f"PP-D-{secrets.randbelow(10**6)}",
                "reason": "UNAUTHORISED",
                "status": status,
                "dispute_amount": dict(capture["amount"]),
                "create_time": "2026-01-01T00:00:00Z",
                "disputed_transactions": [{"seller_transaction_id": capture["id"]}],
            }
            if outcome:
                dispute["dispute_outcome"] = {"outcome_code": outcome}
            self.disputes.append(dispute)
            return dispute

    def dashboard_refund(self, order_id: str, cents: int) -> dict[str, Any]:
        with self.lock:
            return self._refund(
                self.capture_of(order_id)["id"], {"amount": {"value": _value(cents), "currency_code": "EUR"}}
            )

    def event(
        self, event_type: str, resource: dict[str, Any], *, event_id: str = "", bad_signature: bool = False
    ) -> tuple[bytes, dict[str, str]]:
        """A webhook delivery: (body, headers) as PayPal sends them."""
        event = {
            "id": event_id or f"WH-{secrets.token_hex(8).upper()}",
            "event_version": "1.0",
            "create_time": "2026-01-01T00:00:00Z",
            "resource_type": event_type.split(".")[1].lower(),
            "event_type": event_type,
            "summary": event_type,
            "resource": resource,
            "links": [],
        }
        transmission_id, transmission_time = secrets.token_hex(8), "2026-01-01T00:00:00Z"
        signature = self._sign(transmission_id, transmission_time, self.webhook_id, event)
        if bad_signature:
            signature = base64.b64encode(b"forged").decode()
        headers = {
            "HTTP_PAYPAL_AUTH_ALGO": "SHA256withRSA",
            "HTTP_PAYPAL_CERT_URL": f"{self.url}/certs/CERT-1",
            "HTTP_PAYPAL_TRANSMISSION_ID": transmission_id,
            "HTTP_PAYPAL_TRANSMISSION_SIG": signature,
            "HTTP_PAYPAL_TRANSMISSION_TIME": transmission_time,
        }
        return json.dumps(event).encode(), headers

    def _sign(self, transmission_id: str, at: str, webhook_id: str, event: dict[str, Any]) -> str:
        crc = zlib.crc32(json.dumps(event, sort_keys=True).encode())
        message = f"{transmission_id}|{at}|{webhook_id}|{crc}".encode()
        return base64.b64encode(hmac.new(self.signing_key, message, hashlib.sha256).digest()).decode()

    # --- the API --------------------------------------------------------------------------------
    def _links(self, order_id: str) -> list[dict[str, str]]:
        return [
            {"href": f"{self.url}/v2/checkout/orders/{order_id}", "rel": "self", "method": "GET"},
            {
                "href": f"https://www.sandbox.paypal.com/checkoutnow?token={order_id}",
                "rel": "payer-action",
                "method": "GET",
            },
        ]

    def _create(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        unit = body["purchase_units"][0]
        if Decimal(unit["amount"]["value"]) <= 0:
            raise Unprocessable("CANNOT_BE_ZERO_OR_NEGATIVE")
        order_id = secrets.token_hex(8).upper()
        order = {
            "id": order_id,
            "intent": body["intent"],
            "status": "PAYER_ACTION_REQUIRED",
            "purchase_units": [dict(unit, payments={})],
            "links": self._links(order_id),
            "create_time": "2026-01-01T00:00:00Z",
        }
        self.orders[order_id] = order
        return 200, order

    def _capture(self, order_id: str) -> tuple[int, dict[str, Any]]:
        order = self.orders.get(order_id)
        if order is None:
            raise Unprocessable("INVALID_RESOURCE_ID", 404)
        if order["status"] == "COMPLETED":
            raise Unprocessable("ORDER_ALREADY_CAPTURED")
        if order_id not in self.approved:
            raise Unprocessable("ORDER_NOT_APPROVED")
        if self.approved[order_id] == "declined":
            raise Unprocessable("INSTRUMENT_DECLINED")
        unit = order["purchase_units"][0]
        cents = _cents(unit["amount"]["value"])
        fee = cents * 34 // 1000 + 35
        capture_id = secrets.token_hex(8).upper()
        capture = {
            "id": capture_id,
            "status": "COMPLETED",
            "amount": dict(unit["amount"]),
            "final_capture": True,
            "custom_id": unit.get("custom_id"),
            "invoice_id": unit.get("invoice_id"),
            "seller_receivable_breakdown": {
                "gross_amount": dict(unit["amount"]),
                "paypal_fee": {"currency_code": "EUR", "value": _value(fee)},
                "net_amount": {"currency_code": "EUR", "value": _value(cents - fee)},
            },
            "supplementary_data": {"related_ids": {"order_id": order_id}},
            "links": [{"href": f"{self.url}/v2/payments/captures/{capture_id}", "rel": "self", "method": "GET"}],
        }
        unit["payments"] = {"captures": [capture]}
        order["status"] = "COMPLETED"
        self.captures[capture_id] = {"order": order_id, "capture": capture}
        return 201, order

    def _refund(self, capture_id: str, body: dict[str, Any]) -> dict[str, Any]:
        found = self.captures.get(capture_id)
        if found is None:
            raise Unprocessable("INVALID_RESOURCE_ID", 404)
        capture = found["capture"]
        payments = self.orders[found["order"]]["purchase_units"][0]["payments"]
        refunded = sum(_cents(r["amount"]["value"]) for r in payments.get("refunds", []))
        total = _cents(capture["amount"]["value"])
        cents = _cents(body["amount"]["value"]) if body.get("amount") else total - refunded
        if refunded + cents > total:
            raise Unprocessable("REFUND_AMOUNT_EXCEEDED")
        refund_id = secrets.token_hex(8).upper()
        refund = {
            "id": refund_id,
            "status": "COMPLETED",
            "amount": {"currency_code": "EUR", "value": _value(cents)},
            "custom_id": body.get("custom_id", ""),
            "invoice_id": body.get("invoice_id", ""),
            "links": [
                {"href": f"{self.url}/v2/payments/refunds/{refund_id}", "rel": "self", "method": "GET"},
                {"href": f"{self.url}/v2/payments/captures/{capture_id}", "rel": "up", "method": "GET"},
            ],
        }
        payments.setdefault("refunds", []).append(refund)
        capture["status"] = "REFUNDED" if refunded + cents == total else "PARTIALLY_REFUNDED"
        return refund

    def handle(
        self, method: str, path: str, query: dict[str, list[str]], body: dict[str, Any], headers: Any
    ) -> tuple[int, dict[str, Any]]:
        if path == "/v1/oauth2/token":
            expected = base64.b64encode(f"{self.client_id}:{self.client_secret}".encode()).decode()
            if headers.get("Authorization") != f"Basic {expected}":
                return 401, {"error": "invalid_client", "error_description": "Client Authentication failed"}
            return 200, {
                "scope": "https://uri.paypal.com/services/payments/payment",
                "access_token": self.token,
                "token_type": "Bearer",
                "app_id": "APP-FAKE",
                "expires_in": 32400,
                "nonce": "n",
            }
        if headers.get("Authorization") != f"Bearer {self.token}":
            return 401, {"name": "AUTHENTICATION_FAILURE", "message": "Authentication failed"}
        try:
            if method == "POST" and path == "/v2/checkout/orders":
                return self._create(body)
            m = re.fullmatch(r"/v2/checkout/orders/(\w+)(/capture)?", path)
            if m and method == "POST" and m[2]:
                return self._capture(m[1])
            if m and method == "GET":
                if m[1] not in self.orders:
                    raise Unprocessable("INVALID_RESOURCE_ID", 404)
                return 200, self.orders[m[1]]
            m = re.fullmatch(r"/v2/payments/captures/(\w+)(/refund)?", path)
            if m and method == "POST" and m[2]:
                return 201, self._refund(m[1], body)
            if m and method == "GET":
                if m[1] not in self.captures:
                    raise Unprocessable("INVALID_RESOURCE_ID", 404)
                return 200, self.captures[m[1]]["capture"]
            if method == "GET" and path == "/v1/customer/disputes":
                wanted = query.get("disputed_transaction_id", [""])[0]
                items = [d for d in self.disputes if d["disputed_transactions"][0]["seller_transaction_id"] == wanted]
                return 200, {"items": items, "links": []}
            if method == "POST" and path == "/v1/notifications/verify-webhook-signature":
                expected = self._sign(
                    body["transmission_id"], body["transmission_time"], body["webhook_id"], body["webhook_event"]
                )
                ok = hmac.compare_digest(expected, body["transmission_sig"]) and body["webhook_id"] == self.webhook_id
                return 200, {"verification_status": "SUCCESS" if ok else "FAILURE"}
        except Unprocessable as exc:
            name = "RESOURCE_NOT_FOUND" if exc.status == 404 else "UNPROCESSABLE_ENTITY"
            return exc.status, {
                "name": name,
                "details": [{"issue": exc.issue, "description": exc.issue}],
                "message": "The requested action could not be performed.",
                "debug_id": secrets.token_hex(6),
            }
        return 404, {"name": "RESOURCE_NOT_FOUND", "message": path}

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _answer(self, method: str) -> None:
                url = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                body: dict[str, Any] = {}
                if raw and "json" in self.headers.get("Content-Type", ""):
                    body = json.loads(raw)
                request_id = self.headers.get("PayPal-Request-Id", "")
                with fake.lock:
                    if method == "POST" and request_id and request_id in fake.replays:
                        status, answer = fake.replays[request_id]
                    else:
                        status, answer = fake.handle(method, url.path, parse_qs(url.query), body, self.headers)
                        if method == "POST" and request_id and status < 500:
                            fake.replays[request_id] = (status, answer)
                for prefix, seconds in list(fake.slow.items()):
                    if url.path.startswith(prefix):
                        del fake.slow[prefix]
                        time.sleep(seconds)
                data = json.dumps(answer).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def do_GET(self) -> None:
                self._answer("GET")

            def do_POST(self) -> None:
                self._answer("POST")

        return Handler
