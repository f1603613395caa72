"""Finding 12 (issue 10): X-Forwarded-For is trusted only from the configured number of proxies."""

from __future__ import annotations

import pytest
from django.test import RequestFactory, override_settings

from piazza.core.middleware import client_ip

FORGED = "6.6.6.6"


def _request(forwarded: str | None, remote: str = "10.0.0.1"):
    request = RequestFactory().get("/", REMOTE_ADDR=remote)
    if forwarded is not None:
        request.META["HTTP_X_FORWARDED_FOR"] = forwarded
    return request


def test_forged_forwarded_for_is_ignored_by_default():
    assert client_ip(_request(FORGED, remote="198.51.100.7")) == "198.51.100.7"


@override_settings(TRUSTED_PROXY_COUNT=1)
def test_one_proxy_the_rightmost_value_is_the_client():
    # The client forged the first value; our proxy appended the address it really saw.
    assert client_ip(_request(f"{FORGED}, 203.0.113.9")) == "203.0.113.9"
    assert client_ip(_request("203.0.113.9")) == "203.0.113.9"


@override_settings(TRUSTED_PROXY_COUNT=2)
def test_two_proxies_the_second_from_the_right():
    # client → CDN (appends client) → load balancer (appends CDN) → app
    assert client_ip(_request(f"{FORGED}, 203.0.113.9, 192.0.2.50")) == "203.0.113.9"


@override_settings(TRUSTED_PROXY_COUNT=1)
@pytest.mark.parametrize("header", ["", "   ", "not-an-ip", f"{FORGED}, garbage"])
def test_missing_or_malformed_forwarded_value_falls_back_to_the_peer(header):
    assert client_ip(_request(header, remote="10.0.0.1")) == "10.0.0.1"


@override_settings(TRUSTED_PROXY_COUNT=3)
def test_fewer_values_than_proxies_takes_the_leftmost_one_a_proxy_wrote():
    assert client_ip(_request("203.0.113.9, 192.0.2.50")) == "203.0.113.9"
