"""`stripe`: cards through PaymentIntents, saved cards on a Customer for off-session charges,
refunds, disputes and signed webhooks (ADR 0003 explains the checkout choice).

Flow on the payment page: "Paga" creates a PaymentIntent (idempotency key = our attempt's
`provider_key`) and sends the payer to our Stripe page, which confirms it with Stripe.js
(card data never reaches us); Stripe then returns the payer to `/pagamenti/<token>/ritorno/`
where the PaymentIntent is **re-fetched** — the query string is never trusted. Webhooks only
trigger the same re-fetch. Off-session charges of a saved card (recurring gifts) confirm
server-side with `off_session=True`.

Every call has a timeout; a call that times out raises `ProviderTimeout`, the payment stays
pending and `fetch()` finds the PaymentIntent later by searching our metadata (it never
creates or confirms anything, so reconciling never charges).
"""

from __future__ import annotations

import datetime as dt
import json
from typing import TYPE_CHECKING, Any, ClassVar

import stripe
from django.conf import settings
from django.http import HttpRequest
from django.urls import reverse
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
    RemoteCharge,
    RemoteDispute,
    RemoteRefund,
    RemoteState,
    SavedMethodInfo,
    SetupResult,
    WebhookNotice,
)

if TYPE_CHECKING:
    from piazza.payments.models import MethodChange, Payment, PaymentAttempt, Refund, SavedMethod

# Stripe decline codes → the codes of payments/messages.py.
DECLINE_CODES = {
    "insufficient_funds": "insufficient_funds",
    "expired_card": "expired_card",
    "incorrect_cvc": "incorrect_cvc",
    "invalid_cvc": "incorrect_cvc",
    "incorrect_number": "invalid_number",
    "invalid_number": "invalid_number",
    "authentication_required": "authentication_required",
    "payment_intent_authentication_failure": "authentication_failed",
    "processing_error": "processing_error",
}
# The sources our Stripe.js pages add to the CSP (ADR 0011): the checkout and the card change.
BROWSER_CSP: dict[str, list[str]] = {
    "script-src": ["https://js.stripe.com"],
    "frame-src": ["https://js.stripe.com", "https://hooks.stripe.com"],
    "connect-src": ["https://api.stripe.com"],
    "img-src": ["https://*.stripe.com"],
}
RELEVANT_PREFIXES = {"payment_intent", "charge", "refund"}
IN_FLIGHT = ("started", "requires_action", "unknown")  # payments.models.IN_FLIGHT_ATTEMPT_STATES


def _get(obj: Any, key: str, default: Any = None) -> Any:
    """Read a field of a StripeObject or a plain dict (expanded or not)."""
    if obj is None:
        return default
    try:
        value = obj[key]
    except (KeyError, TypeError):
        return default
    return default if value is None else value


def failure_code(error: Any) -> str:
    """Our message code for a Stripe error object (`last_payment_error` or a CardError's)."""
    decline = _get(error, "decline_code", "") or ""
    code = _get(error, "code", "") or ""
    return DECLINE_CODES.get(decline) or DECLINE_CODES.get(code) or "card_declined"


def _refund_status(status: str) -> str:
    return {"succeeded": "succeeded", "failed": "failed", "canceled": "failed"}.get(status, "pending")


def _dispute_status(status: str) -> str:
    return {"won": "won", "lost": "lost"}.get(status, "open")


class StripeProvider(PaymentProvider):
    identifier = "stripe"
    verbose_name = _("Carta di credito o debito (Stripe)")
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {
            Capability.ONE_OFF,
            Capability.SAVED_METHOD,
            Capability.RECURRING,
            Capability.REFUND,
            Capability.PARTIAL_REFUND,
            Capability.CHARGE_LIST,
            Capability.CHANGE_METHOD,
        }
    )

    def is_available(self) -> bool:
        return bool(settings.STRIPE_SECRET_KEY and settings.STRIPE_PUBLISHABLE_KEY)

    @property
    def live(self) -> bool:
        return str(settings.STRIPE_SECRET_KEY).startswith(("sk_live_", "rk_live_"))

    def client(self) -> stripe.StripeClient:
        # No SDK retries: a timeout leaves the payment pending and reconciliation re-fetches.
        return stripe.StripeClient(
            settings.STRIPE_SECRET_KEY,
            base_addresses={"api": settings.STRIPE_API_BASE},
            max_network_retries=0,
            http_client=stripe.RequestsClient(timeout=float(settings.STRIPE_TIMEOUT_SECONDS)),
        )

    @staticmethod
    def _wrap(exc: stripe.StripeError) -> ProviderError:
        if isinstance(exc, stripe.APIConnectionError):
            return ProviderTimeout(f"stripe: no answer ({exc.user_message or exc})")
        return ProviderError(f"stripe: {type(exc).__name__}: {exc.user_message or exc}")

    # --- checkout ---------------------------------------------------------------------
    def _customer(self, client: stripe.StripeClient, payment: Payment) -> str:
        if payment.provider_customer:
            return payment.provider_customer
        customer = client.v1.customers.create(
            {
                "email": payment.payer_email or "",
                "name": payment.payer_name or "",
                "metadata": {"piazza_payment": str(payment.pk)},
            },
            {"idempotency_key": f"piazza-customer-payment-{payment.pk}"},
        )
        return str(customer.id)

    def start(self, payment: Payment, attempt: PaymentAttempt, data: dict[str, Any], return_url: str) -> ChargeResult:
        client = self.client()
        params: Any = {
            "amount": payment.amount_cents,
            "currency": payment.currency.lower(),
            "description": payment.description,
            "payment_method_types": ["card"],
            "metadata": {"piazza_payment": str(payment.pk), "piazza_attempt": attempt.provider_key},
        }
        if payment.payer_email:
            params["receipt_email"] = payment.payer_email
        if data.get("capture_after_check"):
            # The payable checks the card before money moves (M24): Stripe only authorises it;
            # `fetch` captures once `approved_instrument` passed the payable's rules.
            params["capture_method"] = "manual"
        customer = ""
        try:
            if payment.save_method:
                customer = self._customer(client, payment)
                params.update(customer=customer, setup_future_usage="off_session")
            intent = client.v1.payment_intents.create(params, {"idempotency_key": attempt.provider_key})
        except stripe.StripeError as exc:
            raise self._wrap(exc) from exc
        result = self._charge_result(intent, customer)
        if result.outcome == Outcome.REQUIRES_ACTION or result.outcome == Outcome.PENDING:
            result.outcome = Outcome.REQUIRES_ACTION
            result.action_url = reverse("payments:stripe_checkout", args=[payment.token])
        return result

    def client_secret(self, reference: str) -> tuple[str, str]:
        """(client secret, status) of a PaymentIntent, for our Stripe.js page."""
        try:
            intent = self.client().v1.payment_intents.retrieve(reference)
        except stripe.StripeError as exc:
            raise self._wrap(exc) from exc
        return str(intent.client_secret or ""), str(intent.status)

    def _charge_result(self, intent: Any, customer: str = "") -> ChargeResult:
        state = self._state(intent, refunds=[], disputes=[])
        return ChargeResult(
            outcome=state.outcome,
            reference=str(intent["id"]),
            fee=state.fee,
            failure_code=state.failure_code,
            saved_method=state.saved_method,
            customer_reference=customer or state.customer_reference,
            instrument=state.instrument,
        )

    # --- reconciliation ----------------------------------------------------------------
    def _state(self, intent: Any, refunds: list[RemoteRefund], disputes: list[RemoteDispute]) -> RemoteState:
        currency = str(intent["currency"]).upper()
        status = str(intent["status"])
        error = _get(intent, "last_payment_error")
        outcome = {
            "succeeded": Outcome.SUCCEEDED,
            "processing": Outcome.PENDING,
            "canceled": Outcome.CANCELED,
            "requires_action": Outcome.REQUIRES_ACTION,
            "requires_confirmation": Outcome.REQUIRES_ACTION,
            "requires_capture": Outcome.PENDING,
        }.get(status, Outcome.PENDING)
        code = ""
        if status == "requires_payment_method":
            # Never confirmed yet (pending) or confirmed and declined (failed, can retry).
            outcome = Outcome.FAILED if error else Outcome.PENDING
            code = failure_code(error) if error else ""
        charge = _get(intent, "latest_charge")
        fee = None
        label = ""
        instrument = None
        if charge is not None and not isinstance(charge, str):
            transaction = _get(charge, "balance_transaction")
            if transaction is not None and not isinstance(transaction, str):
                fee = Money(int(_get(transaction, "fee", 0)), currency)
            card = _get(_get(charge, "payment_method_details"), "card")
            if card is not None:
                label = f"{str(_get(card, 'brand', 'carta')).capitalize()} •••• {_get(card, 'last4', '')}"
                # Rule M24: Stripe's fingerprint is the same for the same card number (per
                # account); `funding` is "credit", "debit", "prepaid" or "unknown".
                instrument = self._card_instrument(intent)
        customer = _get(intent, "customer", "")
        customer = customer if isinstance(customer, str) else str(_get(customer, "id", ""))
        method = _get(intent, "payment_method", "")
        method = method if isinstance(method, str) else str(_get(method, "id", ""))
        saved = None
        if outcome == Outcome.SUCCEEDED and method and customer and _get(intent, "setup_future_usage"):
            saved = SavedMethodInfo(method_reference=method, customer_reference=customer, label=label)
        return RemoteState(
            outcome=outcome,
            reference=str(intent["id"]),
            fee=fee if outcome == Outcome.SUCCEEDED else None,
            failure_code=code,
            refunds=refunds,
            disputes=disputes,
            saved_method=saved,
            customer_reference=customer,
            instrument=instrument if outcome == Outcome.SUCCEEDED else None,
        )

    def _find_intent(self, client: stripe.StripeClient, payment: Payment) -> str:
        """Our PaymentIntent by metadata (after a timeout we may not know its id): the succeeded one first."""
        found = client.v1.payment_intents.search({"query": f"metadata['piazza_payment']:'{payment.pk}'", "limit": 20})
        intents = list(found.data)
        intents.sort(key=lambda i: (i["status"] == "succeeded", int(_get(i, "created", 0))), reverse=True)
        return str(intents[0]["id"]) if intents else ""

    def fetch(self, payment: Payment, attempt: PaymentAttempt | None = None) -> RemoteState:
        client = self.client()
        try:
            reference = payment.provider_reference or (attempt.provider_reference if attempt else "")
            if not reference:
                reference = self._find_intent(client, payment)
        except stripe.StripeError as exc:
            raise self._wrap(exc) from exc
        if not reference:
            return RemoteState(outcome=Outcome.PENDING)
        if (
            attempt is not None
            and attempt.provider_reference == reference
            and (attempt.failure_code == "instrument_refused")
        ):
            # We refused this card and cancelled its authorisation (M24): for the payment that is
            # a failed try, which the payer may follow with another card, not a cancelled payment.
            return RemoteState(outcome=Outcome.FAILED, reference=reference, failure_code="instrument_refused")
        # An authorised card (manual capture) is captured only for an attempt still in flight:
        # callers check the payable's rules first (`actions.check_approved_instrument`), and a
        # refused attempt is failed, so it is never captured.
        capture_key = (
            attempt.provider_key
            if (attempt is not None and attempt.provider_reference == reference and attempt.state in IN_FLIGHT)
            else ""
        )
        return self._fetch_reference(client, reference, capture_key)

    def fetch_charge(self, payment: Payment, reference: str) -> RemoteState:
        return self._fetch_reference(self.client(), reference)

    def approved_instrument(self, payment: Payment, attempt: PaymentAttempt) -> InstrumentInfo | None:
        """The card Stripe authorised (manual capture), before we capture it (rule M24)."""
        if not attempt.provider_reference:
            return None
        try:
            intent = self.client().v1.payment_intents.retrieve(
                attempt.provider_reference, {"expand": ["latest_charge"]}
            )
        except stripe.StripeError as exc:
            raise self._wrap(exc) from exc
        if str(intent["status"]) != "requires_capture":
            return None
        return self._card_instrument(intent)

    def release_approval(self, payment: Payment, attempt: PaymentAttempt) -> None:
        """Cancel the authorisation of a card the payable refused: the hold on the payer's card ends."""
        try:
            self.client().v1.payment_intents.cancel(
                attempt.provider_reference, {}, {"idempotency_key": f"{attempt.provider_key}-cancel"}
            )
        except stripe.StripeError as exc:
            raise self._wrap(exc) from exc

    @staticmethod
    def _card_instrument(intent: Any) -> InstrumentInfo | None:
        card = _get(_get(_get(intent, "latest_charge"), "payment_method_details"), "card")
        if card is None or not _get(card, "fingerprint"):
            return None
        return InstrumentInfo(fingerprint=f"stripe:{_get(card, 'fingerprint')}", funding=str(_get(card, "funding", "")))

    def _fetch_reference(self, client: stripe.StripeClient, reference: str, capture_key: str = "") -> RemoteState:
        try:
            intent = client.v1.payment_intents.retrieve(reference, {"expand": ["latest_charge.balance_transaction"]})
            if str(intent.status) == "requires_capture" and capture_key:
                client.v1.payment_intents.capture(reference, {}, {"idempotency_key": f"{capture_key}-capture"})
                intent = client.v1.payment_intents.retrieve(
                    reference, {"expand": ["latest_charge.balance_transaction"]}
                )
            currency = str(intent.currency).upper()
            refunds = (
                [
                    RemoteRefund(
                        reference=str(r.id),
                        amount=Money(int(r.amount), currency),
                        status=_refund_status(str(r.status)),
                        our_id=str(_get(_get(r, "metadata"), "piazza_refund", "")),
                    )
                    for r in client.v1.refunds.list({"payment_intent": reference, "limit": 100}).data
                ]
                if intent.status == "succeeded"
                else []
            )
            disputes = []
            if intent.status == "succeeded":
                for d in client.v1.disputes.list({"payment_intent": reference, "limit": 100}).data:
                    transactions = list(_get(d, "balance_transactions", []))
                    fee = int(_get(transactions[0], "fee", 0)) if transactions else 0
                    disputes.append(
                        RemoteDispute(
                            reference=str(d.id),
                            amount=Money(int(d.amount), currency),
                            fee=Money(fee, currency),
                            status=_dispute_status(str(d.status)),
                            reason=str(_get(d, "reason", "")),
                        )
                    )
        except stripe.StripeError as exc:
            raise self._wrap(exc) from exc
        return self._state(intent, refunds, disputes)

    # --- recurring -----------------------------------------------------------------------
    def charge_saved(self, payment: Payment, attempt: PaymentAttempt, method: SavedMethod) -> ChargeResult:
        params: Any = {
            "amount": payment.amount_cents,
            "currency": payment.currency.lower(),
            "description": payment.description,
            "customer": method.customer_reference,
            "payment_method": method.method_reference,
            "off_session": True,
            "confirm": True,
            "metadata": {"piazza_payment": str(payment.pk), "piazza_attempt": attempt.provider_key},
        }
        try:
            intent = self.client().v1.payment_intents.create(params, {"idempotency_key": attempt.provider_key})
        except stripe.CardError as exc:
            declined = _get(exc.error, "payment_intent")
            return ChargeResult(
                outcome=Outcome.FAILED, reference=str(_get(declined, "id", "")), failure_code=failure_code(exc.error)
            )
        except stripe.StripeError as exc:
            raise self._wrap(exc) from exc
        result = self._charge_result(intent, method.customer_reference)
        if result.outcome == Outcome.REQUIRES_ACTION:
            # Off-session the payer cannot authenticate: a failure they must fix on-session.
            return ChargeResult(
                outcome=Outcome.FAILED, reference=result.reference, failure_code="authentication_required"
            )
        if result.outcome == Outcome.SUCCEEDED and result.fee is None:
            # The create answer does not expand the balance transaction: re-fetch for the fee.
            try:
                state = self.fetch_intent(result.reference)
            except ProviderError:
                return result
            result.fee = state.fee
            result.instrument = result.instrument or state.instrument
        return result

    def fetch_intent(self, reference: str) -> RemoteState:
        try:
            intent = self.client().v1.payment_intents.retrieve(
                reference, {"expand": ["latest_charge.balance_transaction"]}
            )
        except stripe.StripeError as exc:
            raise self._wrap(exc) from exc
        return self._state(intent, [], [])

    # --- changing a schedule's card (CHANGE_METHOD): a SetupIntent confirmed by Stripe.js --
    def start_setup(self, change: MethodChange, customer_reference: str) -> SetupResult:
        """A SetupIntent for off-session use on the customer the schedule already charges (so the
        new card sits next to the old one until that is detached); the browser confirms it with
        `confirmSetup` (ADR 0011: the card never reaches us). Idempotent per `provider_key`."""
        client = self.client()
        schedule = change.schedule
        try:
            customer = customer_reference
            if not customer:
                created = client.v1.customers.create(
                    {
                        "email": schedule.payer_email or "",
                        "name": schedule.payer_name or "",
                        "metadata": {"piazza_schedule": str(schedule.pk)},
                    },
                    {"idempotency_key": f"piazza-customer-schedule-{schedule.pk}"},
                )
                customer = str(created.id)
            params: Any = {
                "customer": customer,
                "usage": "off_session",
                "payment_method_types": ["card"],
                "metadata": {"piazza_method_change": str(change.pk), "piazza_schedule": str(schedule.pk)},
            }
            intent = client.v1.setup_intents.create(params, {"idempotency_key": change.provider_key})
        except stripe.StripeError as exc:
            raise self._wrap(exc) from exc
        return self._setup_result(intent)

    def fetch_setup(self, change: MethodChange) -> SetupResult:
        """Re-fetch the SetupIntent (the return URL's query string is never trusted)."""
        try:
            intent = self.client().v1.setup_intents.retrieve(change.provider_reference, {"expand": ["payment_method"]})
        except stripe.StripeError as exc:
            raise self._wrap(exc) from exc
        return self._setup_result(intent)

    @staticmethod
    def _setup_result(intent: Any) -> SetupResult:
        status = str(intent["status"])
        reference = str(intent["id"])
        if status == "succeeded":
            method = _get(intent, "payment_method", "")
            method_id = method if isinstance(method, str) else str(_get(method, "id", ""))
            card = None if isinstance(method, str) else _get(method, "card")
            label = ""
            if card is not None:  # brand and last four digits: all the payer is ever shown
                label = f"{str(_get(card, 'brand', 'carta')).capitalize()} •••• {_get(card, 'last4', '')}"
            customer = _get(intent, "customer", "")
            customer = customer if isinstance(customer, str) else str(_get(customer, "id", ""))
            return SetupResult(
                outcome=Outcome.SUCCEEDED,
                reference=reference,
                saved_method=SavedMethodInfo(method_reference=method_id, customer_reference=customer, label=label),
            )
        error = _get(intent, "last_setup_error")
        if status == "canceled":
            return SetupResult(outcome=Outcome.FAILED, reference=reference, failure_code="canceled")
        if status == "requires_payment_method" and error:
            # Declined at setup: Stripe.js shows it in place and the payer may try another card.
            return SetupResult(
                outcome=Outcome.REQUIRES_ACTION,
                reference=reference,
                failure_code=failure_code(error),
                client_secret=str(_get(intent, "client_secret", "")),
            )
        return SetupResult(
            outcome=Outcome.REQUIRES_ACTION, reference=reference, client_secret=str(_get(intent, "client_secret", ""))
        )

    def forget_method(self, method: SavedMethod) -> None:
        """Detach the replaced card from the customer: Stripe refuses any later charge of it."""
        try:
            self.client().v1.payment_methods.detach(method.method_reference)
        except stripe.InvalidRequestError as exc:
            if _get(exc.error, "code") == "resource_missing" or "not attached" in str(exc):
                return  # already detached: forgetting twice is fine
            raise self._wrap(exc) from exc
        except stripe.StripeError as exc:
            raise self._wrap(exc) from exc

    # --- refunds -----------------------------------------------------------------------
    def refund(self, payment: Payment, refund: Refund) -> RefundResult:
        params: Any = {
            "payment_intent": payment.provider_reference,
            "amount": refund.amount_cents,
            "metadata": {"piazza_refund": str(refund.pk), "piazza_payment": str(payment.pk)},
        }
        try:
            remote = self.client().v1.refunds.create(params, {"idempotency_key": refund.idempotency_key})
        except stripe.InvalidRequestError as exc:
            return RefundResult(reference="", status="failed", failure_code=str(exc.code or "refund_refused"))
        except stripe.StripeError as exc:
            raise self._wrap(exc) from exc
        return RefundResult(reference=str(remote.id), status=_refund_status(str(remote.status)))

    def refund_charge(self, payment: Payment, reference: str, amount: Money, key: str) -> RefundResult:
        params: Any = {
            "payment_intent": reference,
            "amount": amount.cents,
            "metadata": {"piazza_duplicate": key, "piazza_payment": str(payment.pk)},
        }
        try:
            remote = self.client().v1.refunds.create(params, {"idempotency_key": key})
        except stripe.InvalidRequestError as exc:
            return RefundResult(reference="", status="failed", failure_code=str(exc.code or "refund_refused"))
        except stripe.StripeError as exc:
            raise self._wrap(exc) from exc
        return RefundResult(reference=str(remote.id), status=_refund_status(str(remote.status)))

    def successful_charges(self, since: dt.datetime, until: dt.datetime) -> list[RemoteCharge]:
        """Succeeded PaymentIntents created in [since, until), every page (Stripe's list API)."""
        out = []
        try:
            page = self.client().v1.payment_intents.list(
                {
                    "limit": 100,
                    "created": {"gte": int(since.timestamp()), "lt": int(until.timestamp())},
                }
            )
            for intent in page.auto_paging_iter():
                if str(intent["status"]) != "succeeded":
                    continue
                currency = str(intent["currency"]).upper()
                out.append(
                    RemoteCharge(
                        reference=str(intent["id"]),
                        amount=Money(int(_get(intent, "amount_received", 0)), currency),
                        created=dt.datetime.fromtimestamp(int(_get(intent, "created", 0)), tz=dt.UTC),
                        payment_id=str(_get(_get(intent, "metadata"), "piazza_payment", "")),
                    )
                )
        except stripe.StripeError as exc:
            raise self._wrap(exc) from exc
        return out

    # --- webhooks ------------------------------------------------------------------------
    def verify_webhook(self, request: HttpRequest) -> WebhookNotice:
        secret = str(settings.STRIPE_WEBHOOK_SECRET)
        if not secret:
            raise InvalidSignature("stripe: STRIPE_WEBHOOK_SECRET is not configured")
        try:
            stripe.Webhook.construct_event(request.body, request.headers.get("Stripe-Signature", ""), secret)
            event = json.loads(request.body)
        except (stripe.SignatureVerificationError, ValueError) as exc:
            raise InvalidSignature(f"stripe: {exc}") from exc
        if bool(event.get("livemode")) != self.live:
            raise InvalidSignature("stripe: event mode (live/test) differs from our key's")
        event_type = str(event.get("type", ""))
        obj = (event.get("data") or {}).get("object") or {}
        if event_type.startswith("payment_intent."):
            intent = str(obj.get("id", ""))
        else:
            intent = obj.get("payment_intent") or ""
            intent = intent if isinstance(intent, str) else str(intent.get("id", ""))
        metadata = obj.get("metadata") or {}
        return WebhookNotice(
            event_id=str(event.get("id", "")),
            event_type=event_type,
            payment_reference=intent,
            payment_id=str(metadata.get("piazza_payment", "")) if event_type.startswith("payment_intent.") else "",
            relevant=event_type.split(".")[0] in RELEVANT_PREFIXES and bool(intent),
        )
