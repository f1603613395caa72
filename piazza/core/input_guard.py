"""Refuse requests carrying a NUL character (issue 10, finding 13).

PostgreSQL text cannot hold U+0000: a NUL reaching any filter (`?q=%00`), form field or path
segment made the query fail with a 500. No person types a NUL and no legitimate client sends
one, so the request is refused once, here, before any view runs, instead of stripping it in
every view that filters by a query parameter (a list that would be forgotten by the next
view). Django's form CharField already refuses NUL, but raw `request.GET` filters do not.
Only form bodies are inspected (urlencoded and multipart, which Django parses anyway for
CSRF); JSON bodies such as provider webhooks are left to their own parsers.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable

from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string
from django.utils.translation import gettext as _

NUL = "\x00"
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def _has_nul(items: Iterable[tuple[str, list[str]]]) -> bool:
    return any(NUL in key or any(NUL in value for value in values) for key, values in items)


def carries_nul(request: HttpRequest) -> bool:
    if NUL in request.path_info or _has_nul(request.GET.lists()):
        return True
    if request.method == "POST" and request.content_type in FORM_TYPES:
        return _has_nul(request.POST.lists())
    return False


class RefuseNulMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if carries_nul(request):
            return refusal(request)
        return self.get_response(request)


def refusal(request: HttpRequest) -> HttpResponse:
    message = _("La richiesta contiene un carattere non valido (il carattere nullo): toglilo e riprova.")
    if request.path_info.startswith("/api/"):
        body = json.dumps({"title": message, "status": 400})
        return HttpResponse(body, status=400, content_type="application/problem+json")
    return HttpResponse(render_to_string("400.html", {"message": message}, request=request), status=400)


_ASCII_INT = re.compile(r"[0-9]{1,18}")


def ascii_int(text: str | None) -> int | None:
    """An id or count typed in a query string or form: ASCII digits only, at most 18 of them
    (inside a bigint), else None. `str.isdigit()` accepts "²" and "٣", which `int()` refuses."""
    value = (text or "").strip()
    return int(value) if _ASCII_INT.fullmatch(value) else None
