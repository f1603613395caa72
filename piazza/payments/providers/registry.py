"""Provider registry (convention 4): filled from settings.PAYMENT_PROVIDERS plus any app that
registers its own (the bank sub-app registers `sepa_dd` and `bank_transfer`)."""

from __future__ import annotations

from django.conf import settings
from django.utils.module_loading import import_string

from piazza.payments.providers.base import Capability, PaymentProvider

DEFAULT_PROVIDERS = [
    "piazza.payments.providers.sandbox.SandboxProvider",
]

_registry: dict[str, PaymentProvider] = {}
_loaded = False


def register(provider: PaymentProvider) -> PaymentProvider:
    """Register a provider instance under its `identifier` (replacing one of the same name)."""
    if not provider.identifier:
        raise ValueError("a payment provider needs an identifier")
    _registry[provider.identifier] = provider
    return provider


def _load() -> None:
    global _loaded
    if _loaded:
        return
    for dotted in getattr(settings, "PAYMENT_PROVIDERS", DEFAULT_PROVIDERS):
        cls = import_string(dotted)
        _registry.setdefault(cls.identifier, cls())
    _loaded = True


def _allowed_here(provider: PaymentProvider) -> bool:
    """A test double (sandbox) does not exist in production: not routable, not offered."""
    return provider.allowed_in_production or not getattr(settings, "PRODUCTION", False)


def get_provider(identifier: str) -> PaymentProvider:
    _load()
    provider = _registry.get(identifier)
    if provider is None or not _allowed_here(provider):
        raise LookupError(f"unknown payment provider {identifier!r}")
    return provider


def all_providers() -> list[PaymentProvider]:
    _load()
    return [p for p in _registry.values() if _allowed_here(p)]


def available_providers(capability: Capability | None = None) -> list[PaymentProvider]:
    """Providers usable now (configured, allowed here), optionally with a capability."""
    return [p for p in all_providers() if p.is_available() and (capability is None or p.has(capability))]
