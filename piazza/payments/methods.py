"""Which ways to pay one payment offers its payer (issue 11 item 1): reads only.

A *method* is what the payer chooses (card, PayPal, bank transfer, SEPA direct debit); the
*provider* is the rail that carries it (a card goes through Stripe where it is configured,
else through the sandbox outside production). A method is offered for a payment when:

1. the payable allows it (`PayableHandler.payment_methods`; default card, PayPal and bank
   transfer; membership fees add SEPA direct debit, whose mandate flow exists for yearly fees);
2. its provider is configured for the payment's territory (`is_available_for`: keys for
   Stripe and PayPal, a party bank account of the territory or an ancestor for the bank rails);
3. the territory has not turned it off (`PaymentMethodSetting`, nearest ancestor decides).

Recurring payments (a monthly gift, a yearly debit) keep the rail they were created with: a
saved method has to be one that can be charged again, so there is nothing to choose.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from piazza.payments.models import IN_FLIGHT_ATTEMPT_STATES, PaymentMethodSetting
from piazza.payments.payables import handler_for
from piazza.payments.providers.base import Capability, InstrumentInfo, PaymentProvider
from piazza.payments.providers.registry import get_provider

if TYPE_CHECKING:
    from piazza.payments.models import Payment
    from piazza.territory.models import Territory


@dataclass(frozen=True)
class Method:
    kind: str
    label: str | Promise
    help: str | Promise
    providers: tuple[str, ...]  # in order of preference


METHODS: tuple[Method, ...] = (
    Method(
        "card",
        _("Carta di credito o di debito"),
        _("Visa, Mastercard e le altre carte: l'esito è immediato."),
        ("stripe", "sandbox"),
    ),
    Method("paypal", _("PayPal"), _("Ti portiamo sul sito di PayPal per confermare, poi torni qui."), ("paypal",)),
    Method(
        "bank_transfer",
        _("Bonifico bancario"),
        _(
            "Ti diamo IBAN, riferimento e un codice QR da inquadrare con l'app della tua banca. Il pagamento "
            "risulta quando il bonifico arriva sul nostro conto (di solito uno o due giorni lavorativi)."
        ),
        ("bank_transfer",),
    ),
    Method(
        "sepa_dd",
        _("Addebito diretto SEPA"),
        _(
            "Autorizzi l'addebito sul tuo conto con un mandato SEPA (ti serve l'IBAN); l'addebito avviene dopo "
            "qualche giorno lavorativo."
        ),
        ("sepa_dd",),
    ),
)
BY_KIND = {m.kind: m for m in METHODS}
DEFAULT_KINDS = frozenset({"card", "paypal", "bank_transfer"})


@dataclass(frozen=True)
class Offered:
    kind: str
    label: str | Promise
    help: str | Promise
    provider: str
    note: str = ""  # a rule of the payable the payer should know before choosing (M24)


def method_kind(provider: str) -> str:
    """The method a provider carries ("sandbox" and "stripe" → "card")."""
    return next((m.kind for m in METHODS if provider in m.providers), provider)


def territory_settings(territory: Territory | None) -> dict[str, bool]:
    """provider → offered, from the nearest territory (own or ancestor) that says so. One query."""
    if territory is None:
        return {}
    ids = [int(part) for part in territory.path.strip("/").split("/") if part]
    depth = {territory_id: position for position, territory_id in enumerate(ids)}
    found: dict[str, tuple[int, bool]] = {}
    for row in PaymentMethodSetting.objects.filter(territory_id__in=ids).values("territory_id", "provider", "enabled"):
        position = depth[row["territory_id"]]
        if row["provider"] not in found or position > found[row["provider"]][0]:
            found[row["provider"]] = (position, row["enabled"])
    return {provider: enabled for provider, (_position, enabled) in found.items()}


def _usable(identifier: str, payment: Payment, switches: dict[str, bool]) -> PaymentProvider | None:
    try:
        provider = get_provider(identifier)
    except LookupError:
        return None
    if not switches.get(identifier, True) or not provider.has(Capability.ONE_OFF):
        return None
    return provider if provider.is_available_for(payment.territory, payment.currency) else None


def offered_methods(payment: Payment, payable: Any = None) -> list[Offered]:
    """The methods this payment's payer may choose from, in display order (none if recurring)."""
    if payment.schedule_id is not None or payment.save_method:
        return []
    handler = handler_for(payment.payable_label)
    if handler is not None and payable is None:
        payable = payment.payable
    allowed = (handler.payment_methods(payment, payable) if handler is not None else None) or DEFAULT_KINDS
    switches = territory_settings(payment.territory)
    offered = []
    for method in METHODS:
        if method.kind not in allowed:
            continue
        provider = next((p for p in method.providers if _usable(p, payment, switches) is not None), None)
        if provider is None:
            continue
        note = handler.method_note(payment, payable, method.kind) if handler is not None else ""
        offered.append(Offered(method.kind, method.label, method.help, provider, note))
    return offered


def may_change(payment: Payment) -> bool:
    """Open, and no charge in flight: choosing another method cannot leave one running."""
    return payment.is_open and not payment.attempts.filter(state__in=IN_FLIGHT_ATTEMPT_STATES).exists()


def offers_choice(payment: Payment) -> bool:
    """The flow asked for the method step (`metadata["method_step"]`) and there is a choice."""
    return (
        bool((payment.metadata or {}).get("method_step")) and may_change(payment) and len(offered_methods(payment)) > 1
    )


def instrument_metadata(instrument: InstrumentInfo) -> dict[str, Any]:
    """What a payment keeps of the instrument that paid it (read by payables, e.g. M24)."""
    return {
        "instrument_fingerprint": instrument.fingerprint,
        "prepaid": instrument.prepaid,
        "funding": instrument.funding,
        "instrument_kind": instrument.kind,
    }
