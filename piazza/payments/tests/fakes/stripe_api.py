"""A local fake of the parts of Stripe's HTTP API that piazza uses, for tests (no network).

Shapes follow Stripe's API reference (PaymentIntent, Charge, BalanceTransaction, Refund,
Dispute, Customer, list and search results, card errors, Idempotency-Key replays, webhook
signatures `t=…,v1=HMAC-SHA256(secret, "t.payload")`). The real `stripe` SDK talks to it.

Test payment methods, as Stripe documents them: `pm_card_visa` succeeds,
`pm_card_chargeDeclined` is declined, `pm_card_chargeDeclinedInsufficientFunds` has
insufficient funds, `pm_card_chargeCustomerFail` attaches but later charges are declined.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

DECLINES = {
    "pm_card_chargeDeclined": ("card_declined", "generic_decline", "Your card was declined."),
    "pm_card_chargeDeclinedInsufficientFunds": (
        "card_declined",
        "insufficient_funds",
        "Your card has insufficient funds.",
    ),
    "pm_card_chargeDeclinedExpiredCard": ("expired_card", "expired_card", "Your card has expired."),
}
FEE_PERCENT_TENTHS = 15  # 1.5 %
FEE_FIXED = 25


def unflatten(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """`metadata[a]=1&expand[0]=x` → {"metadata": {"a": "1"}, "expand": ["x"]} (Stripe's encoding)."""
    result: dict[str, Any] = {}
    for key, value in pairs:
        parts = re.findall(r"[^\[\]]+", key)
        node: Any = result
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            nxt_is_index = not last and parts[i + 1].isdigit()
            if isinstance(node, list):
                index = int(part)
                while len(node) <= index:
                    node.append(None)
                if last:
                    node[index] = value
                else:
                    if node[index] is None:
                        node[index] = [] if nxt_is_index else {}
                    node = node[index]
            else:
                if last:
                    node[part] = value
                else:
                    node = node.setdefault(part, [] if nxt_is_index else {})
    return result


# Funding type of the test payment methods (Stripe's own names); the rest are credit cards.
FUNDING = {
    "pm_card_mastercard_prepaid": ("mastercard", "5100", "prepaid"),
    "pm_card_visa_debit": ("visa", "5556", "debit"),
}


def _card_details(method: str) -> dict[str, Any]:
    """Like Stripe: brand, last4, funding, and a fingerprint that is the same for the same card."""
    brand, last4, funding = FUNDING.get(method, ("visa", "4242", "credit"))
    fingerprint = hashlib.sha256(f"fake-stripe:{method or 'pm_card_visa'}".encode()).hexdigest()[:16]
    return {"brand": brand, "last4": last4, "funding": funding, "fingerprint": fingerprint}


class StripeError(Exception):
    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(body)
        self.status, self.body = status, body


class _Server(ThreadingHTTPServer):
    request_queue_size = 128  # parallel tests open many connections at once
    daemon_threads = True


class FakeStripe:
    """The fake's books and its server. Start with `with FakeStripe() as fake:`."""

    def __init__(self, webhook_secret: str = "whsec_test_fake") -> None:
        self.webhook_secret = webhook_secret
        self.lock = threading.RLock()
        self.customers: dict[str, dict[str, Any]] = {}
        self.intents: dict[str, dict[str, Any]] = {}
        self.charges: dict[str, dict[str, Any]] = {}
        self.refunds: dict[str, dict[str, Any]] = {}
        self.disputes: dict[str, dict[str, Any]] = {}
        self.attached: dict[str, str] = {}  # payment method → customer
        self.setup_intents: dict[str, dict[str, Any]] = {}
        self.detached: set[str] = set()  # payment methods detached from their customer
        self.idempotent: dict[str, tuple[int, dict[str, Any]]] = {}
        self.requests: list[tuple[str, str]] = []
        self.slow: dict[str, float] = {}  # path prefix → seconds to sleep *after* acting (once)
        self.server = _Server(("127.0.0.1", 0), self._handler_class())
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> FakeStripe:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    # --- what tests look at ------------------------------------------------------------
    @property
    def succeeded_charges(self) -> list[dict[str, Any]]:
        return [c for c in self.charges.values() if c["status"] == "succeeded"]

    def slow_once(self, prefix: str, seconds: float) -> None:
        """The next request under `prefix` is applied, but the answer comes too late (a timeout)."""
        self.slow[prefix] = seconds

    # --- the bank side, for tests --------------------------------------------------------
    def confirm(self, intent_id: str, payment_method: str) -> dict[str, Any]:
        """What Stripe.js does on our page: confirm the PaymentIntent with the payer's card."""
        with self.lock:
            try:
                return self._confirm(self.intents[intent_id], payment_method, off_session=False)
            except StripeError:
                return self.intents[intent_id]

    def confirm_setup(self, setup_id: str, payment_method: str) -> dict[str, Any]:
        """What Stripe.js `confirmSetup` does: check the card and attach it to the customer."""
        with self.lock:
            setup = self.setup_intents[setup_id]
            decline = DECLINES.get(payment_method)
            if decline:
                code, decline_code, message = decline
                setup["status"] = "requires_payment_method"
                setup["last_setup_error"] = {
                    "type": "card_error",
                    "code": code,
                    "decline_code": decline_code,
                    "message": message,
                }
                return setup
            setup.update(status="succeeded", payment_method=payment_method, last_setup_error=None)
            if setup.get("customer"):
                self.attached[payment_method] = setup["customer"]
                self.detached.discard(payment_method)
            return setup

    def dispute(
        self, intent_id: str, status: str = "needs_response", fee: int = 1500, amount: int | None = None
    ) -> dict[str, Any]:
        """Open a dispute on the intent's charge, or move an existing one to `status`."""
        with self.lock:
            intent = self.intents[intent_id]
            charge = self.charges[intent["latest_charge"]]
            for d in self.disputes.values():
                if d["charge"] == charge["id"]:
                    d["status"] = status
                    return d
            dispute = {
                "id": f"dp_{secrets.token_hex(8)}",
                "object": "dispute",
                "amount": amount or charge["amount"],
                "charge": charge["id"],
                "payment_intent": intent_id,
                "currency": charge["currency"],
                "status": status,
                "reason": "fraudulent",
                "created": int(time.time()),
                "livemode": False,
                "balance_transactions": [self._bt(-(amount or charge["amount"]), fee, charge["currency"])],
                "metadata": {},
            }
            self.disputes[dispute["id"]] = dispute
            charge["disputed"] = True
            return dispute

    def dashboard_refund(self, intent_id: str, amount: int) -> dict[str, Any]:
        """A refund made in Stripe's dashboard, not through piazza (no metadata)."""
        with self.lock:
            return self._refund({"payment_intent": intent_id, "amount": str(amount)})

    def event(
        self,
        event_type: str,
        obj: dict[str, Any],
        *,
        event_id: str = "",
        livemode: bool = False,
        secret: str | None = None,
        timestamp: int | None = None,
    ) -> tuple[bytes, str]:
        """A webhook delivery: (body, Stripe-Signature header), signed like Stripe signs."""
        body = json.dumps(
            {
                "id": event_id or f"evt_{secrets.token_hex(8)}",
                "object": "event",
                "api_version": "2025-01-27.acacia",
                "created": int(time.time()),
                "livemode": livemode,
                "type": event_type,
                "data": {"object": obj},
                "pending_webhooks": 1,
                "request": {"id": None, "idempotency_key": None},
            }
        ).encode()
        stamp = timestamp or int(time.time())
        signed = hmac.new(
            (secret or self.webhook_secret).encode(), f"{stamp}.".encode() + body, hashlib.sha256
        ).hexdigest()
        return body, f"t={stamp},v1={signed}"

    # --- the API ---------------------------------------------------------------------------
    @staticmethod
    def _bt(amount: int, fee: int, currency: str) -> dict[str, Any]:
        return {
            "id": f"txn_{secrets.token_hex(8)}",
            "object": "balance_transaction",
            "amount": amount,
            "fee": fee,
            "net": amount - fee,
            "currency": currency,
            "status": "available",
        }

    def _customer(self, params: dict[str, Any]) -> dict[str, Any]:
        customer = {
            "id": f"cus_{secrets.token_hex(7)}",
            "object": "customer",
            "email": params.get("email"),
            "name": params.get("name"),
            "metadata": params.get("metadata", {}),
            "livemode": False,
        }
        self.customers[customer["id"]] = customer
        return customer

    def _create_intent(self, params: dict[str, Any]) -> dict[str, Any]:
        amount = int(params["amount"])
        if amount < 50:
            raise StripeError(
                400,
                {
                    "error": {
                        "type": "invalid_request_error",
                        "code": "amount_too_small",
                        "param": "amount",
                        "message": "Amount must be at least €0.50 eur",
                    }
                },
            )
        intent_id = f"pi_{secrets.token_hex(12)}"
        intent = {
            "id": intent_id,
            "object": "payment_intent",
            "amount": amount,
            "amount_received": 0,
            "currency": params["currency"],
            "status": "requires_payment_method",
            "client_secret": f"{intent_id}_secret_{secrets.token_hex(8)}",
            "customer": params.get("customer"),
            "description": params.get("description"),
            "metadata": params.get("metadata", {}),
            "payment_method": params.get("payment_method"),
            "setup_future_usage": params.get("setup_future_usage"),
            "latest_charge": None,
            "last_payment_error": None,
            "livemode": False,
            "created": int(time.time()),
            "capture_method": params.get("capture_method", "automatic"),
            "confirmation_method": "automatic",
        }
        self.intents[intent_id] = intent
        if params.get("confirm") in ("true", True):
            self._confirm(
                intent, str(params.get("payment_method", "")), off_session=params.get("off_session") in ("true", True)
            )
        return intent

    def _create_setup(self, params: dict[str, Any]) -> dict[str, Any]:
        setup_id = f"seti_{secrets.token_hex(12)}"
        setup = {
            "id": setup_id,
            "object": "setup_intent",
            "status": "requires_payment_method",
            "client_secret": f"{setup_id}_secret_{secrets.token_hex(8)}",
            "customer": params.get("customer"),
            "usage": params.get("usage", "off_session"),
            "payment_method": None,
            "payment_method_types": params.get("payment_method_types", ["card"]),
            "metadata": params.get("metadata", {}),
            "last_setup_error": None,
            "livemode": False,
            "created": int(time.time()),
        }
        self.setup_intents[setup_id] = setup
        return setup

    @staticmethod
    def _payment_method(method: str, customer: str | None) -> dict[str, Any]:
        return {
            "id": method,
            "object": "payment_method",
            "type": "card",
            "customer": customer,
            "card": _card_details(method),
        }

    def _detach(self, method: str) -> dict[str, Any]:
        if method not in self.attached:
            raise StripeError(
                400,
                {
                    "error": {
                        "type": "invalid_request_error",
                        "code": "payment_method_unexpected_state",
                        "message": (
                            "The payment method you provided is not attached to a customer so detachment is impossible."
                        ),
                    }
                },
            )
        del self.attached[method]
        self.detached.add(method)
        return self._payment_method(method, None)

    def _confirm(self, intent: dict[str, Any], method: str, *, off_session: bool) -> dict[str, Any]:
        if intent["status"] not in ("requires_payment_method", "requires_confirmation"):
            raise StripeError(
                400,
                {
                    "error": {
                        "type": "invalid_request_error",
                        "code": "payment_intent_unexpected_state",
                        "message": f"This PaymentIntent's status is {intent['status']}.",
                    }
                },
            )
        if method in self.detached:  # Stripe refuses a detached card outright (no charge made)
            raise StripeError(
                400,
                {
                    "error": {
                        "type": "invalid_request_error",
                        "code": "resource_missing",
                        "message": f"The payment method {method} is not attached to customer {intent['customer']}.",
                    }
                },
            )
        intent["payment_method"] = method
        decline = DECLINES.get(method)
        if off_session and method == "pm_card_chargeCustomerFail":
            decline = ("card_declined", "generic_decline", "Your card was declined.")
        charge_id = f"ch_{secrets.token_hex(12)}"
        fee = intent["amount"] * FEE_PERCENT_TENTHS // 1000 + FEE_FIXED
        charge = {
            "id": charge_id,
            "object": "charge",
            "amount": intent["amount"],
            "amount_refunded": 0,
            "currency": intent["currency"],
            "payment_intent": intent["id"],
            "payment_method": method,
            "payment_method_details": {"type": "card", "card": _card_details(method)},
            "status": "failed" if decline else "succeeded",
            "paid": not decline,
            "refunded": False,
            "disputed": False,
            "balance_transaction": None if decline else self._bt(intent["amount"], fee, intent["currency"]),
            "failure_code": decline[0] if decline else None,
            "metadata": intent["metadata"],
            "livemode": False,
        }
        self.charges[charge_id] = charge
        intent["latest_charge"] = charge_id
        if decline:
            code, decline_code, message = decline
            intent["status"] = "requires_payment_method"
            intent["last_payment_error"] = {
                "type": "card_error",
                "code": code,
                "decline_code": decline_code,
                "message": message,
                "charge": charge_id,
            }
            raise StripeError(
                402,
                {
                    "error": {
                        "type": "card_error",
                        "code": code,
                        "decline_code": decline_code,
                        "message": message,
                        "charge": charge_id,
                        "payment_intent": dict(intent),
                    }
                },
            )
        intent["last_payment_error"] = None
        if intent.get("capture_method") == "manual":  # authorised only: captured (or cancelled) later
            intent["status"] = "requires_capture"
            intent["amount_capturable"] = intent["amount"]
            charge["captured"], charge["balance_transaction"] = False, None
            return intent
        intent["status"] = "succeeded"
        intent["amount_received"] = intent["amount"]
        if intent.get("setup_future_usage") and intent.get("customer"):
            self.attached[method] = intent["customer"]
        return intent

    def _capture(self, intent: dict[str, Any]) -> dict[str, Any]:
        if intent["status"] != "requires_capture":
            raise StripeError(
                400,
                {
                    "error": {
                        "type": "invalid_request_error",
                        "code": "payment_intent_unexpected_state",
                        "message": f"This PaymentIntent's status is {intent['status']}.",
                    }
                },
            )
        charge = self.charges[intent["latest_charge"]]
        fee = intent["amount"] * FEE_PERCENT_TENTHS // 1000 + FEE_FIXED
        charge["captured"], charge["balance_transaction"] = True, self._bt(intent["amount"], fee, intent["currency"])
        intent["status"], intent["amount_received"], intent["amount_capturable"] = "succeeded", intent["amount"], 0
        return intent

    def _cancel(self, intent: dict[str, Any]) -> dict[str, Any]:
        if intent["status"] in ("succeeded", "canceled"):
            raise StripeError(
                400,
                {
                    "error": {
                        "type": "invalid_request_error",
                        "code": "payment_intent_unexpected_state",
                        "message": f"This PaymentIntent's status is {intent['status']}.",
                    }
                },
            )
        intent["status"], intent["amount_capturable"] = "canceled", 0
        return intent

    def _refund(self, params: dict[str, Any]) -> dict[str, Any]:
        intent = self.intents.get(str(params.get("payment_intent")))
        if intent is None or intent["status"] != "succeeded":
            raise StripeError(
                400,
                {
                    "error": {
                        "type": "invalid_request_error",
                        "code": "resource_missing",
                        "message": "No such payment_intent",
                    }
                },
            )
        charge = self.charges[intent["latest_charge"]]
        amount = int(params.get("amount") or charge["amount"] - charge["amount_refunded"])
        if charge["amount_refunded"] + amount > charge["amount"]:
            raise StripeError(
                400,
                {
                    "error": {
                        "type": "invalid_request_error",
                        "code": "amount_too_large",
                        "message": "Refund amount is greater than unrefunded amount",
                    }
                },
            )
        refund = {
            "id": f"re_{secrets.token_hex(12)}",
            "object": "refund",
            "amount": amount,
            "charge": charge["id"],
            "payment_intent": intent["id"],
            "currency": charge["currency"],
            "status": "succeeded",
            "metadata": params.get("metadata", {}),
            "created": int(time.time()),
        }
        self.refunds[refund["id"]] = refund
        charge["amount_refunded"] += amount
        charge["refunded"] = charge["amount_refunded"] == charge["amount"]
        return refund

    def _expand(self, intent: dict[str, Any], expand: list[str]) -> dict[str, Any]:
        out = dict(intent)
        if "latest_charge" in " ".join(expand) and intent["latest_charge"]:
            out["latest_charge"] = dict(self.charges[intent["latest_charge"]])
        return out

    @staticmethod
    def _list(url: str, data: list[dict[str, Any]], obj: str = "list") -> dict[str, Any]:
        page = {"object": obj, "data": data, "has_more": False, "url": url}
        if obj == "search_result":
            page["next_page"] = None
        return page

    def handle(self, method: str, path: str, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        with self.lock:
            self.requests.append((method, path))
            m = re.fullmatch(r"/v1/payment_intents/(pi_\w+)(/confirm|/capture|/cancel)?", path)
            try:
                if method == "POST" and path == "/v1/customers":
                    return 200, self._customer(params)
                if method == "POST" and path == "/v1/payment_intents":
                    return 200, self._create_intent(params)
                if method == "GET" and path == "/v1/payment_intents":
                    created = params.get("created") or {}
                    gte, lt = int(created.get("gte", 0)), int(created.get("lt", 2**62))
                    hits = [i for i in self.intents.values() if gte <= int(i["created"]) < lt]
                    return 200, self._list(path, sorted(hits, key=lambda i: -int(i["created"])))
                if method == "GET" and path == "/v1/payment_intents/search":
                    found = re.fullmatch(r"metadata\['(\w+)'\]:'([^']*)'", str(params.get("query", "")))
                    if not found:
                        raise StripeError(
                            400, {"error": {"type": "invalid_request_error", "message": "unsupported query"}}
                        )
                    hits = [i for i in self.intents.values() if i["metadata"].get(found[1]) == found[2]]
                    return 200, self._list(path, hits, "search_result")
                if m and method == "GET":
                    intent = self.intents.get(m[1])
                    if intent is None:
                        raise StripeError(
                            404,
                            {
                                "error": {
                                    "type": "invalid_request_error",
                                    "code": "resource_missing",
                                    "message": f"No such payment_intent: '{m[1]}'",
                                }
                            },
                        )
                    return 200, self._expand(intent, list(params.get("expand", [])))
                if m and method == "POST" and m[2] in ("/capture", "/cancel"):
                    return 200, (self._capture if m[2] == "/capture" else self._cancel)(self.intents[m[1]])
                if m and method == "POST" and m[2]:
                    return 200, self._confirm(
                        self.intents[m[1]],
                        str(params.get("payment_method", "")),
                        off_session=params.get("off_session") == "true",
                    )
                if method == "POST" and path == "/v1/setup_intents":
                    return 200, self._create_setup(params)
                si = re.fullmatch(r"/v1/setup_intents/(seti_\w+)", path)
                if si and method == "GET" and si[1] in self.setup_intents:
                    setup = dict(self.setup_intents[si[1]])
                    if "payment_method" in list(params.get("expand", [])) and setup["payment_method"]:
                        setup["payment_method"] = self._payment_method(setup["payment_method"], setup["customer"])
                    return 200, setup
                pm = re.fullmatch(r"/v1/payment_methods/(pm_\w+)/detach", path)
                if pm and method == "POST":
                    return 200, self._detach(pm[1])
                if method == "POST" and path == "/v1/refunds":
                    return 200, self._refund(params)
                if method == "GET" and path == "/v1/refunds":
                    pi = params.get("payment_intent")
                    return 200, self._list(path, [r for r in self.refunds.values() if r["payment_intent"] == pi])
                if method == "GET" and path == "/v1/disputes":
                    pi = params.get("payment_intent")
                    return 200, self._list(path, [d for d in self.disputes.values() if d["payment_intent"] == pi])
            except StripeError as exc:
                return exc.status, exc.body
            return 404, {"error": {"type": "invalid_request_error", "message": f"Unrecognized request URL ({path})"}}

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

            def _answer(self, method: str) -> None:
                url = urlsplit(self.path)
                if not self.headers.get("Authorization", "").startswith("Bearer sk_"):
                    self._send(401, {"error": {"type": "invalid_request_error", "message": "Invalid API Key"}})
                    return
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode() if length else ""
                params = unflatten(parse_qsl(url.query if method == "GET" else raw, keep_blank_values=True))
                key = self.headers.get("Idempotency-Key", "")
                if method == "POST" and key:
                    with fake.lock:
                        if key in fake.idempotent:
                            status, body = fake.idempotent[key]
                            self._send(status, body, replayed=True)
                            return
                        status, body = fake.handle(method, url.path, params)
                        fake.idempotent[key] = (status, body)
                else:
                    status, body = fake.handle(method, url.path, params)
                for prefix, seconds in list(fake.slow.items()):
                    if url.path.startswith(prefix):
                        del fake.slow[prefix]
                        time.sleep(seconds)
                self._send(status, body)

            def _send(self, status: int, body: dict[str, Any], replayed: bool = False) -> None:
                data = json.dumps(body).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.send_header("Request-Id", f"req_{secrets.token_hex(7)}")
                    if replayed:
                        self.send_header("Idempotent-Replayed", "true")
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def do_GET(self) -> None:
                self._answer("GET")

            def do_POST(self) -> None:
                self._answer("POST")

        return Handler


@contextmanager
def running() -> Iterator[FakeStripe]:
    with FakeStripe() as fake:
        yield fake
