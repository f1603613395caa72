"""Links that need no login: the payer's page and one-click cancel of a recurring gift.

Higher apps (receipts in compliance, donation emails in funding) put these links in every
email they send about a payment. The payer page opens only through a one-time link emailed
to the address (`payer_access_url`, convention 16): an email address typed anywhere proves
nothing, so no link derived from an address alone opens it any more.
"""

from __future__ import annotations

from django.conf import settings
from django.core import signing
from django.urls import reverse

CANCEL_SALT = "piazza.payments.cancel-schedule"


def _absolute(path: str) -> str:
    return f"{settings.SITE_URL.rstrip('/')}{path}"


def payer_request_url() -> str:
    """The payer page's door: whoever opens it is asked for their address and gets a link there."""
    return _absolute(reverse("payments:payer_page"))


def payer_access_url(raw_token: str) -> str:
    """The one-time link emailed to the payer (short-lived, single use)."""
    return _absolute(reverse("payments:payer_access", args=[raw_token]))


def device_access_url(raw_token: str) -> str:
    """The one-time link emailed to a donor to use their saved card from a new browser."""
    return _absolute(reverse("payments:device_access", args=[raw_token]))


def cancel_token(schedule_token: str) -> str:
    return signing.dumps(schedule_token, salt=CANCEL_SALT)


def schedule_from_cancel_token(token: str) -> str | None:
    """The schedule's own random token; cancel links never expire (they are in old receipts)."""
    try:
        return str(signing.loads(token, salt=CANCEL_SALT))
    except signing.BadSignature:
        return None


def cancel_schedule_url(schedule_token: str) -> str:
    return _absolute(reverse("payments:cancel_schedule", args=[cancel_token(schedule_token)]))


def payment_page_url(payment_token: str) -> str:
    return _absolute(reverse("payments:pay", args=[payment_token]))
