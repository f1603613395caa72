"""Account kinds: a registry, so higher apps add their own without a migration.

Sign convention of the whole ledger: an entry's `amount_cents` is positive for a debit and
negative for a credit; every transaction sums to zero. A kind's `normal` side says which sign
means "has money" when a balance is shown to people: funds held for a territory, campaign or
mandatario are credit-normal (a donation credits them), money receivable from a provider is
debit-normal.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

Normal = Literal["debit", "credit"]


@dataclass(frozen=True)
class AccountKind:
    code: str
    label: str | Promise
    normal: Normal
    description: str | Promise = ""


KINDS: dict[str, AccountKind] = {}


def register_kind(code: str, label: str | Promise, normal: Normal, description: str | Promise = "") -> AccountKind:
    """Register (idempotently) an account kind; higher apps call this from AppConfig.ready()."""
    if normal not in ("debit", "credit"):
        raise ValueError(f"normal must be 'debit' or 'credit', got {normal!r}")
    if len(code) > 40 or not code.replace("_", "").isalnum():
        raise ValueError(f"kind code must be a short identifier, got {code!r}")
    existing = KINDS.get(code)
    kind = AccountKind(code, label, normal, description)
    if existing is not None and existing.normal != normal:
        raise ValueError(f"account kind {code!r} is already registered as {existing.normal}-normal")
    KINDS[code] = kind
    return kind


# Words for the `key` that separates accounts of one kind (`gifts`, `sepa_dd`…): account names
# are read by treasurers, so the key's code never reaches them.
KEY_LABELS: dict[str, str | Promise] = {}


def register_key_label(key: str, label: str | Promise) -> None:
    """Higher apps name their account keys from AppConfig.ready(), as they register kinds."""
    KEY_LABELS[key] = label


def key_label(key: str) -> str:
    """`gifts:12` → the label of `gifts`; an unregistered key is shown as it is (an IBAN, a name)."""
    label = KEY_LABELS.get(key.split(":", 1)[0])
    return str(label) if label is not None else key


def get_kind(code: str) -> AccountKind:
    try:
        return KINDS[code]
    except KeyError:
        raise LookupError(
            f"unknown ledger account kind {code!r}; register it with piazza.ledger.kinds.register_kind()"
        ) from None


TERRITORY = register_kind(
    "territory",
    _("Fondi del territorio"),
    "credit",
    _("Denaro di un livello del partito (nazionale, regione, federazione, circolo)."),
)
CAMPAIGN = register_kind("campaign", _("Raccolta fondi"), "credit", _("Fondi raccolti per una campagna."))
MANDATARIO = register_kind(
    "mandatario",
    _("Mandatario elettorale"),
    "credit",
    _("Fondi di un candidato, sull'unico conto del suo mandatario."),
)
MATCHFUNDING_POOL = register_kind(
    "matchfunding_pool",
    _("Fondo di raddoppio"),
    "credit",
    _("Fondi impegnati per raddoppiare le donazioni."),
)
PROVIDER_CLEARING = register_kind(
    "provider_clearing",
    _("Da incassare dal circuito di pagamento"),
    "debit",
    _("Denaro che il circuito (Stripe, PayPal…) deve versare sul conto del partito."),
)
PROVIDER_FEES = register_kind(
    "provider_fees",
    _("Commissioni dei circuiti di pagamento"),
    "debit",
    _("Costi trattenuti dai circuiti di pagamento."),
)
DISPUTES = register_kind(
    "disputes",
    _("Contestazioni e storni"),
    "debit",
    _("Costi delle contestazioni perse (commissioni di chargeback)."),
)
PAYOUTS_IN_TRANSIT = register_kind(
    "payouts_in_transit",
    _("Versamenti in transito"),
    "debit",
    _("Versamenti dal circuito alla banca, partiti ma non ancora visti in estratto conto."),
)
BANK = register_kind("bank", _("Conto bancario"), "debit", _("Un conto corrente del partito."))
ADJUSTMENTS = register_kind(
    "adjustments",
    _("Rettifiche"),
    "debit",
    _("Contropartita di rettifiche manuali approvate dalla tesoreria."),
)
