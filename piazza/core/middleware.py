from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from piazza.core.context import Origin, reset_origin, set_origin


def client_ip(request: HttpRequest) -> str:
    """The proxy is trusted to set X-Forwarded-For only in production deployments behind it."""
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if forwarded:
        return forwarded.split(",")[0].strip()
    return str(request.META.get("REMOTE_ADDR", ""))


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
