"""The browser side of one-click payments (convention 16): a saved method is usable only by a
browser that saved it with an explicit opt-in.

When the payer ticks "Ricorda la mia carta", the page that submits records a *claim* for the
payment in this browser's session; when that payment succeeds and has saved a method, the
claim becomes a device token (`actions.remember_device`) kept in an httponly, SameSite=Lax
cookie (secure in production). Only the token's hash is stored; "Non sei tu?" revokes it on
the server. Nothing here looks at an email address or a person id.
"""

from __future__ import annotations

import re

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from piazza.payments import queries
from piazza.payments.actions import devices as devices_actions
from piazza.payments.models import MethodDevice, Payment

DEVICE_COOKIE = "piazza_dispositivo"
DEVICE_COOKIE_AGE = 180 * 24 * 3600
CLAIMS_KEY = "payments.device_claims"

_BROWSERS = (
    ("Edg/", "Edge"),
    ("OPR/", "Opera"),
    ("Firefox/", "Firefox"),
    ("Chrome/", "Chrome"),
    ("Chromium/", "Chromium"),
    ("Safari/", "Safari"),
)
_SYSTEMS = (
    ("Android", "Android"),
    ("iPhone", "iPhone"),
    ("iPad", "iPad"),
    ("Windows", "Windows"),
    ("Mac OS X", "macOS"),
    ("Linux", "Linux"),
)


def device_label(user_agent: str) -> str:
    """ "Firefox · Windows": enough for a donor to recognise a device in a list, nothing more."""
    browser = next((name for marker, name in _BROWSERS if marker in user_agent), "")
    system = next((name for marker, name in _SYSTEMS if marker in user_agent), "")
    label = " · ".join(part for part in (browser, system) if part)
    return label or re.sub(r"[^\w .,/()-]", "", user_agent)[:60]


def claim_device(request: HttpRequest, payment: Payment) -> None:
    """The payer ticked "Ricorda la mia carta" in this browser for this payment."""
    claims = [str(t) for t in request.session.get(CLAIMS_KEY, [])][-10:]
    if payment.token not in claims:
        request.session[CLAIMS_KEY] = [*claims, payment.token]


def issue_device(request: HttpRequest, payment: Payment | None) -> str | None:
    """Turn this browser's claim into a device token once the payment that saved the card is
    booked: the raw token for `set_device_cookie`, or None (and then no page may say that this
    device can give in one click)."""
    if payment is None:
        return None
    claims = [str(t) for t in request.session.get(CLAIMS_KEY, [])]
    if payment.token not in claims or payment.is_open:
        return None  # not opted in here, or still being paid (the claim waits for the next visit)
    request.session[CLAIMS_KEY] = [t for t in claims if t != payment.token]
    return devices_actions.remember_device(
        actor=request.user, payment=payment, label=device_label(request.META.get("HTTP_USER_AGENT", ""))
    )


def set_device_cookie(response: HttpResponse, raw: str) -> None:
    response.set_cookie(
        DEVICE_COOKIE,
        raw,
        max_age=DEVICE_COOKIE_AGE,
        httponly=True,
        samesite="Lax",
        secure=bool(settings.SESSION_COOKIE_SECURE),
    )


def device_of(request: HttpRequest) -> MethodDevice | None:
    """The live device token this browser holds, if any (never by email, never by person)."""
    return queries.device_for_token(str(request.COOKIES.get(DEVICE_COOKIE, "")))


def forget_device(request: HttpRequest, response: HttpResponse) -> None:
    """ "Non sei tu?": revoke the token on the server and drop the cookie."""
    raw = str(request.COOKIES.get(DEVICE_COOKIE, ""))
    if raw:
        devices_actions.revoke_device(actor=request.user, raw=raw)
    response.delete_cookie(DEVICE_COOKIE, samesite="Lax")
