"""Absolute URLs of the privacy pages that emails link to."""

from __future__ import annotations

from django.conf import settings
from django.urls import reverse


def _absolute(path: str) -> str:
    return f"{settings.SITE_URL.rstrip('/')}{path}"


def address_link_url(raw_token: str) -> str:
    return _absolute(reverse("privacy:confirm_export", args=[raw_token]))


def download_url(raw_token: str) -> str:
    return _absolute(reverse("privacy:download_export", args=[raw_token]))
