"""Signed links that need no login: the payer's page and one-click cancel of a recurring gift.

Higher apps (receipts in compliance, donation emails in funding) put these links in every
email they send about a payment.
"""

from __future__ import annotations

from django.conf import settings
from django.core import signing
from django.urls import reverse

PAYER_SALT = "piazza.payments.payer-page"
CANCEL_SALT = "piazza.payments.cancel-schedule"
PAYER_LINK_MAX_AGE = 90 * 24 * 3600


def _absolute(path: str) -> str:
    return f"{settings.SITE_URL.rstrip('/')}{path}"


def payer_token(email: str) -> str:
    return signing.dumps(email.strip().lower(), salt=PAYER_SALT, compress=True)


def payer_from_token(token: str) -> str | None:
    """The payer's email, or None when the link is forged or older than 90 days."""
    try:
        return str(signing.loads(token, salt=PAYER_SALT, max_age=PAYER_LINK_MAX_AGE))
    except signing.BadSignature:
        return None


def payer_page_url(email: str) -> str:
    return _absolute(reverse("payments:payer_page", args=[payer_token(email)]))


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
