from __future__ import annotations

import ipaddress
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from piazza.core.context import Origin, reset_origin, set_origin


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def client_ip(request: HttpRequest) -> str:
    """The client's address, as far as our own proxies vouch for it (issue 10, finding 12).

    Anyone can send an X-Forwarded-For header; only the values our proxies append on the
    right can be believed. With TRUSTED_PROXY_COUNT = 0 (the default) the header is ignored
    and the peer address is used; with N proxies in front, the Nth value from the right is
    the address the outermost proxy saw. A malformed value falls back to the peer address.
    """
    peer = str(request.META.get("REMOTE_ADDR", ""))
    proxies = int(getattr(settings, "TRUSTED_PROXY_COUNT", 0))
    if proxies <= 0:
        return peer
    values = [v.strip() for v in str(request.META.get("HTTP_X_FORWARDED_FOR", "")).split(",")]
    values = [v for v in values if v]
    if not values:
        return peer
    # Fewer values than proxies: every value was written by one of ours; take the outermost.
    candidate = values[-proxies] if len(values) >= proxies else values[0]
    return candidate if _is_ip(candidate) else peer


class RequestContextMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        channel = "admin" if request.path.startswith("/admin/") else "web"
        if request.path.startswith("/api/"):
            channel = "api"
        token = set_origin(
            Origin(
                ip=client_ip(request),
                user_agent=request.META.get("HTTP_USER_AGENT", "")[:300],
                channel=channel,
            )
        )
        try:
            return self.get_response(request)
        finally:
            reset_origin(token)
