"""`sandbox`: a simulated card processor for the demo and tests. Refused in production.

Test cards (any future expiry, any 3-digit CVC):

| number | result |
|---|---|
| 4242 4242 4242 4242 | success |
| 4000 0000 0000 0002 | declined by the bank (`card_declined`) |
| 4000 0000 0000 9995 | declined: insufficient funds (`insufficient_funds`) |
| 4000 0025 0000 3155 | requires authentication (a simulated 3-D Secure page) |
| 4000 0000 0000 0341 | succeeds now; later off-session charges of the saved card are declined |
| 4000 0000 0000 0077 | succeeds, but the answer is lost (timeout): reconciled later, never charged twice |
| 5105 1051 0510 5100 | a **prepaid** card: succeeds where prepaid cards are accepted (funding `prepaid`, rule M24) |
| 4000 0566 5566 5556 | a debit card: succeeds (funding `debit`) |

Every card reports a deterministic fingerprint (`sbfp_` + a hash of the number, the same
for the same number, like Stripe's card fingerprint) and its funding type (`credit` unless
listed above), so the M24 limits ("at most N memberships per card", "no prepaid cards")
hold on the sandbox exactly as on Stripe.

The processor keeps its own books (`SandboxCharge`, one row per idempotency key), so a
replayed request returns the first answer instead of charging again, exactly like a real
provider's idempotency keys.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import re
import secrets
from decimal import Decimal
from typing import TYPE_CHECKING, Any, ClassVar

from django import forms
from django.conf import settings
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from stdnum import luhn

from piazza.core.money import Money
from piazza.payments.providers.base import (
    Capability,
    ChargeResult,
    InstrumentInfo,
    InvalidSignature,
    MalformedEvent,
    Outcome,
    PaymentProvider,
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
    from piazza.payments.models import MethodChange, Payment, PaymentAttempt, Refund, SandboxCharge, SavedMethod

TEST_CARDS: dict[str, str] = {
    "4242424242424242": "succeeded",
    "4000000000000002": "card_declined",
    "4000000000009995": "insufficient_funds",
    "4000002500003155": "requires_action",
    "4000000000000341": "succeeded_then_decline",
    "4000000000000077": "timeout",
    "5105105105105100": "succeeded",
    "4000056655665556": "succeeded",
}
# Funding type of the test cards (rule M24); any other card is a credit card.
TEST_FUNDING: dict[str, str] = {"5105105105105100": "prepaid", "4000056655665556": "debit"}
FEE_PERCENT = Decimal("1.5")
FEE_FIXED_CENTS = 25


def sandbox_fee(amount: Money) -> Money:
    """Like a European card processor: 1.5% + 0,25 €."""
    return amount.percent(FEE_PERCENT) + Money(FEE_FIXED_CENTS, amount.currency)


def card_instrument(card: str) -> InstrumentInfo | None:
    """The sandbox's fingerprint and funding type of a card number (deterministic, rule M24)."""
    digits = "".join(ch for ch in card if ch.isdigit())
    if not digits:
        return None
    digest = hashlib.sha256(f"piazza-sandbox-card:{digits}".encode()).hexdigest()[:24]
    return InstrumentInfo(fingerprint=f"sandbox:sbfp_{digest}", funding=TEST_FUNDING.get(digits, "credit"))


def card_brand(digits: str) -> str:
    """The brand a card number's first digits name (enough for the test cards)."""
    return {"4": "Visa", "5": "Mastercard", "3": "American Express"}.get(digits[:1], "Carta")


def webhook_secret() -> str:
    return str(
        getattr(settings, "PAYMENTS_SANDBOX_WEBHOOK_SECRET", "")
        or hashlib.sha256(f"sandbox-webhook:{settings.SECRET_KEY}".encode()).hexdigest()
    )


def sign(body: bytes) -> str:
    return hmac.new(webhook_secret().encode(), body, hashlib.sha256).hexdigest()


class SandboxCardForm(forms.Form):
    card_number = forms.CharField(
        label=_("Numero della carta"),
        max_length=23,
        widget=forms.TextInput(attrs={"autocomplete": "cc-number", "inputmode": "numeric"}),
    )
    expiry = forms.RegexField(
        label=_("Scadenza (MM/AA)"),
        regex=r"^\s*(0[1-9]|1[0-2])\s*/\s*\d{2}\s*$",
        error_messages={"invalid": _("Scrivi la scadenza come MM/AA, per esempio 08/29.")},
        widget=forms.TextInput(attrs={"autocomplete": "cc-exp", "inputmode": "numeric", "placeholder": "MM/AA"}),
    )
    cvc = forms.RegexField(
        label=_("Codice di sicurezza (CVC)"),
        regex=r"^\d{3,4}$",
        error_messages={"invalid": _("Il CVC sono le 3 cifre sul retro della carta.")},
        widget=forms.TextInput(attrs={"autocomplete": "cc-csc", "inputmode": "numeric"}),
    )

    def clean_card_number(self) -> str:
        digits = "".join(ch for ch in self.cleaned_data["card_number"] if ch.isdigit())
        if len(digits) < 12 or not luhn.is_valid(digits):
            raise forms.ValidationError(_("Il numero della carta non è valido. Controlla le cifre e riprova."))
        return digits


def _charge_state(charge: SandboxCharge) -> RemoteState:
    currency = charge.currency
    outcome = {
        "succeeded": Outcome.SUCCEEDED,
        "requires_action": Outcome.REQUIRES_ACTION,
    }.get(charge.outcome, Outcome.FAILED)
    refunds = [
        RemoteRefund(
            reference=r["id"], amount=Money(r["amount"], currency), status=r["status"], our_id=str(r.get("our_id", ""))
        )
        for r in charge.refunds
    ]
    disputes = [
        RemoteDispute(
            reference=d["id"],
            amount=Money(d["amount"], currency),
            fee=Money(d["fee"], currency),
            status=d["status"],
            reason=d.get("reason", ""),
        )
        for d in charge.disputes
    ]
    instrument = None
    if outcome == Outcome.SUCCEEDED and charge.fingerprint:
        instrument = InstrumentInfo(fingerprint=charge.fingerprint, funding=charge.funding)
    return RemoteState(
        outcome=outcome,
        reference=charge.reference,
        instrument=instrument,
        fee=sandbox_fee(Money(charge.amount_cents, currency)) if outcome == Outcome.SUCCEEDED else None,
        failure_code="" if outcome in (Outcome.SUCCEEDED, Outcome.REQUIRES_ACTION) else charge.outcome,
        refunds=refunds,
        disputes=disputes,
        saved_method=SavedMethodInfo(charge.method_reference, label=f"Carta di prova •••• {charge.card_last4}")
        if charge.method_reference and outcome == Outcome.SUCCEEDED
        else None,
    )


class SandboxProvider(PaymentProvider):
    identifier = "sandbox"
    verbose_name = _("Carta di prova (sandbox)")
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
    allowed_in_production = False

    def is_available(self) -> bool:
        return not getattr(settings, "PRODUCTION", False)

    def _refuse_in_production(self) -> None:
        if not self.is_available():
            raise RuntimeError("the sandbox provider is refused when PIAZZA_ENV=production")

    def checkout_form(self) -> type[forms.Form]:
        return SandboxCardForm

    # --- the simulated processor's books -----------------------------------------------
    def _record(
        self, key: str, payment: Payment, card: str, outcome: str, save: bool, *, report_card: bool = True
    ) -> tuple[SandboxCharge, bool]:
        from piazza.payments.models import SandboxCharge

        method = (
            f"sbpm_{card[-4:]}_{secrets.token_hex(6)}"
            if save and outcome in ("succeeded", "timeout", "succeeded_then_decline", "requires_action")
            else ""
        )
        if outcome == "succeeded_then_decline":
            method = method.replace("sbpm_", "sbpm_declinelater_")
        instrument = card_instrument(card) if report_card else None
        charge = SandboxCharge(
            idempotency_key=key,
            reference=f"sbch_{secrets.token_hex(10)}",
            amount_cents=payment.amount_cents,
            currency=payment.currency,
            card_last4=card[-4:],
            fingerprint=instrument.fingerprint if instrument else "",
            funding=instrument.funding if instrument else "",
            outcome="succeeded" if outcome in ("timeout", "succeeded_then_decline") else outcome,
            method_reference=method,
        )
        # Insert first, as a processor does: the unique key answers a replay (issue 14: no read
        # before, no BEGIN/COMMIT around a single autocommit INSERT). Inside a caller's
        # transaction a savepoint keeps a duplicate from breaking it.
        try:
            if transaction.get_connection().in_atomic_block:
                with transaction.atomic():
                    charge.save(force_insert=True)
            else:
                charge.save(force_insert=True)
        except IntegrityError:
            return SandboxCharge.objects.get(idempotency_key=key), False
        return charge, True

    def _result(self, charge: SandboxCharge) -> ChargeResult:
        state = _charge_state(charge)
        action_url = ""
        if state.outcome == Outcome.REQUIRES_ACTION:
            action_url = reverse("payments:sandbox_authenticate", args=[charge.reference])
        return ChargeResult(
            outcome=state.outcome,
            reference=charge.reference,
            fee=state.fee,
            failure_code=state.failure_code,
            action_url=action_url,
            saved_method=state.saved_method,
            instrument=state.instrument,
        )

    def preview_instrument(self, data: dict[str, Any]) -> InstrumentInfo | None:
        """The card typed on our page: known before the charge, so M24 refuses before money moves."""
        return card_instrument(str(data.get("card_number", "")))

    def start(self, payment: Payment, attempt: PaymentAttempt, data: dict[str, Any], return_url: str) -> ChargeResult:
        self._refuse_in_production()
        card = str(data.get("card_number", ""))
        outcome = TEST_CARDS.get(card, "card_declined")
        charge, created = self._record(attempt.provider_key, payment, card, outcome, payment.save_method)
        if created and outcome == "timeout":
            raise ProviderTimeout("sandbox: simulated timeout after the charge was made")
        return self._result(charge)

    def authenticate(self, reference: str, approve: bool) -> None:
        """The simulated 3-D Secure page's answer."""
        from piazza.payments.models import SandboxCharge

        SandboxCharge.objects.filter(reference=reference, outcome="requires_action").update(
            outcome="succeeded" if approve else "authentication_failed"
        )

    def fetch(self, payment: Payment, attempt: PaymentAttempt | None = None) -> RemoteState:
        self._refuse_in_production()
        from piazza.payments.models import SandboxCharge

        charge = None
        if payment.provider_reference:
            charge = SandboxCharge.objects.filter(reference=payment.provider_reference).first()
        if charge is None:
            keys = [a.provider_key for a in payment.attempts.order_by("-number")]
            charge = (
                SandboxCharge.objects.filter(idempotency_key__in=keys, outcome="succeeded").first()
                or SandboxCharge.objects.filter(idempotency_key__in=keys).order_by("-created_at").first()
            )
        if charge is None:
            return RemoteState(outcome=Outcome.PENDING)
        return _charge_state(charge)

    def charge_saved(self, payment: Payment, attempt: PaymentAttempt, method: SavedMethod) -> ChargeResult:
        self._refuse_in_production()
        ref = method.method_reference  # "sbpm_<last4>_<hex>" or "sbpm_declinelater_<last4>_<hex>"
        last4 = ref.split("_")[-2] if ref.count("_") >= 2 else "0000"
        outcome = {"0002": "card_declined", "9995": "insufficient_funds"}.get(last4, "succeeded")
        if "declinelater" in ref:
            outcome = "card_declined"
        charge, _created = self._record(
            attempt.provider_key, payment, f"000000000000{last4}", outcome, False, report_card=False
        )  # only the last 4 digits are known here
        return self._result(charge)

    # --- changing a schedule's card (CHANGE_METHOD) ---------------------------------------
    def start_setup(self, change: MethodChange, customer_reference: str) -> SetupResult:
        """The card is typed on our page (`setup_form`): the setup waits for it."""
        self._refuse_in_production()
        digest = hashlib.sha256(f"sandbox-setup:{change.provider_key}".encode()).hexdigest()[:20]
        return SetupResult(outcome=Outcome.REQUIRES_ACTION, reference=f"sbsi_{digest}")

    def setup_form(self) -> type[forms.Form]:
        return SandboxCardForm

    def confirm_setup(self, change: MethodChange, data: dict[str, Any]) -> SetupResult:
        """Like a bank checking a card at setup: the declining test cards are refused now; the
        others are saved (`…0341` saves, then declines its later charges, as at checkout)."""
        self._refuse_in_production()
        card = "".join(ch for ch in str(data.get("card_number", "")) if ch.isdigit())
        outcome = TEST_CARDS.get(card, "card_declined")
        if outcome in ("card_declined", "insufficient_funds"):
            return SetupResult(outcome=Outcome.FAILED, reference=change.provider_reference, failure_code=outcome)
        prefix = "sbpm_declinelater_" if outcome == "succeeded_then_decline" else "sbpm_"
        method = SavedMethodInfo(
            method_reference=f"{prefix}{card[-4:]}_{secrets.token_hex(6)}",
            label=f"{card_brand(card)} •••• {card[-4:]}",
        )
        return SetupResult(outcome=Outcome.SUCCEEDED, reference=change.provider_reference, saved_method=method)

    def fetch_setup(self, change: MethodChange) -> SetupResult:
        """Nothing happens at the simulated bank without our form: the setup still waits."""
        self._refuse_in_production()
        return SetupResult(outcome=Outcome.REQUIRES_ACTION, reference=change.provider_reference)

    def forget_method(self, method: SavedMethod) -> None:
        """The simulated processor keeps no cards: forgetting is our row's `forgotten_at` alone."""
        self._refuse_in_production()

    def refund(self, payment: Payment, refund: Refund) -> RefundResult:
        self._refuse_in_production()
        return self._refund(payment.provider_reference, refund.amount_cents, refund.idempotency_key, refund.pk)

    def _refund(self, reference: str, amount_cents: int, key: str, our_id: Any = "") -> RefundResult:
        from piazza.payments.models import SandboxCharge

        with transaction.atomic():
            charge = SandboxCharge.objects.select_for_update().filter(reference=reference).first()
            if charge is None or charge.outcome != "succeeded":
                return RefundResult(reference="", status="failed", failure_code="no_such_charge")
            for existing in charge.refunds:
                if existing["key"] == key:
                    return RefundResult(reference=existing["id"], status=existing["status"])
            if charge.refunded_cents + amount_cents > charge.amount_cents:
                return RefundResult(reference="", status="failed", failure_code="amount_too_large")
            entry = {
                "id": f"sbre_{secrets.token_hex(8)}",
                "amount": amount_cents,
                "key": key,
                "our_id": our_id,
                "status": "succeeded",
            }
            charge.refunds = [*charge.refunds, entry]
            charge.refunded_cents += amount_cents
            charge.save(update_fields=["refunds", "refunded_cents"])
        return RefundResult(reference=entry["id"], status="succeeded")

    # --- one charge, and the processor's list (reconciliation, duplicates) -----------------
    def fetch_charge(self, payment: Payment, reference: str) -> RemoteState:
        self._refuse_in_production()
        from piazza.payments.models import SandboxCharge

        charge = SandboxCharge.objects.filter(reference=reference).first()
        return _charge_state(charge) if charge is not None else RemoteState(outcome=Outcome.PENDING)

    def refund_charge(self, payment: Payment, reference: str, amount: Money, key: str) -> RefundResult:
        self._refuse_in_production()
        return self._refund(reference, amount.cents, key)

    def successful_charges(self, since: dt.datetime, until: dt.datetime) -> list[RemoteCharge]:
        self._refuse_in_production()
        from piazza.payments.models import SandboxCharge

        out = []
        for charge in SandboxCharge.objects.filter(
            outcome="succeeded", created_at__gte=since, created_at__lt=until
        ).order_by("pk"):
            ours = re.fullmatch(r"piazza-payment-(\d+)-attempt-\d+", charge.idempotency_key)
            out.append(
                RemoteCharge(
                    reference=charge.reference,
                    amount=Money(charge.amount_cents, charge.currency),
                    created=charge.created_at,
                    payment_id=ours[1] if ours else "",
                    refunded=Money(charge.refunded_cents, charge.currency),
                )
            )
        return out

    # --- things that happen at the "bank" side, for tests and the demo ---------------------
    def simulate_dispute(
        self, reference: str, *, status: str = "open", fee_cents: int = 1500, dispute_id: str = ""
    ) -> str:
        from piazza.payments.models import SandboxCharge

        with transaction.atomic():
            charge = SandboxCharge.objects.select_for_update().get(reference=reference)
            disputes = list(charge.disputes)
            for d in disputes:
                if d["id"] == dispute_id:
                    d["status"] = status
                    break
            else:
                dispute_id = dispute_id or f"sbdp_{secrets.token_hex(8)}"
                disputes.append(
                    {
                        "id": dispute_id,
                        "amount": charge.amount_cents - charge.refunded_cents,
                        "fee": fee_cents,
                        "status": status,
                        "reason": "fraudulent",
                    }
                )
            charge.disputes = disputes
            charge.save(update_fields=["disputes"])
        return dispute_id

    def simulate_refund(self, reference: str, amount_cents: int) -> str:
        """A refund made from the processor's dashboard, not through piazza."""
        from piazza.payments.models import SandboxCharge

        with transaction.atomic():
            charge = SandboxCharge.objects.select_for_update().get(reference=reference)
            entry = {"id": f"sbre_{secrets.token_hex(8)}", "amount": amount_cents, "key": "", "status": "succeeded"}
            charge.refunds = [*charge.refunds, entry]
            charge.refunded_cents += amount_cents
            charge.save(update_fields=["refunds", "refunded_cents"])
        return str(entry["id"])

    @staticmethod
    def webhook_body(event_type: str, reference: str, event_id: str = "", payment_id: str = "") -> tuple[bytes, str]:
        """A signed notification as the simulated processor would send it: (body, signature)."""
        body = json.dumps(
            {
                "id": event_id or f"sbevt_{secrets.token_hex(8)}",
                "type": event_type,
                "data": {"reference": reference, "payment_id": payment_id},
            }
        ).encode()
        return body, sign(body)

    def verify_webhook(self, request: HttpRequest) -> WebhookNotice:
        self._refuse_in_production()
        signature = request.headers.get("Sandbox-Signature", "")
        if not signature or not hmac.compare_digest(signature, sign(request.body)):
            raise InvalidSignature("sandbox: signature does not match")
        try:
            event = json.loads(request.body)
        except ValueError as exc:
            raise MalformedEvent(f"sandbox: the body is not JSON ({exc})") from exc
        if not isinstance(event, dict) or not isinstance(event.get("data"), dict):
            raise MalformedEvent("sandbox: the event and its data must be JSON objects")
        data = event["data"]
        event_id = _field(event, "id", 200, required=True)
        event_type = _field(event, "type", 100, required=True)
        return WebhookNotice(
            event_id=event_id,
            event_type=event_type,
            payment_reference=_field(data, "reference", 120),
            payment_id=_field(data, "payment_id", 64),
            relevant=event_type.split(".")[0] in {"charge", "refund", "dispute"},
        )


def _field(obj: dict[str, Any], key: str, max_length: int, *, required: bool = False) -> str:
    """One identifier of a notification: a string (or an integer id) that fits its column."""
    value = obj.get(key, "")
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise MalformedEvent(f"sandbox: {key!r} must be a string, got {type(value).__name__}")
    text = str(value)
    if required and not text:
        raise MalformedEvent(f"sandbox: {key!r} is missing")
    if len(text) > max_length:
        raise MalformedEvent(f"sandbox: {key!r} is {len(text)} characters, at most {max_length} are accepted")
    if not text.isprintable():
        raise MalformedEvent(f"sandbox: {key!r} contains control characters")
    return text
