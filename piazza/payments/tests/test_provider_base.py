"""The provider interface: start and fetch are required; capability methods refuse clearly."""

import pytest

from piazza.payments.providers.base import Outcome, PaymentProvider, ProviderError, RemoteState


def test_a_provider_without_start_and_fetch_cannot_be_built():
    class Incomplete(PaymentProvider):
        identifier = "incomplete"

    with pytest.raises(TypeError):
        Incomplete()  # type: ignore[abstract]


def test_a_capability_the_provider_lacks_is_refused_with_its_name():
    class OneOffOnly(PaymentProvider):
        identifier = "oneoff"

        def start(self, payment, attempt, data, return_url):  # type: ignore[no-untyped-def]
            raise AssertionError

        def fetch(self, payment, attempt=None):  # type: ignore[no-untyped-def]
            return RemoteState(outcome=Outcome.PENDING)

    provider = OneOffOnly()
    with pytest.raises(ProviderError, match="oneoff non gestisce rimborsi"):
        provider.refund(None, None)  # type: ignore[arg-type]
    with pytest.raises(ProviderError, match="non gestisce addebiti automatici"):
        provider.charge_saved(None, None, None)  # type: ignore[arg-type]
