"""Hit counters for public forms, in the shared cache (Redis in production) so that limits hold
across processes and machines (ARCHITECTURE "Scaling out": no in-process counters).

Public forms that take a codice fiscale (join, Albo, donation) answer whether a named person is
known only through what they do next; without a limit the same form becomes an oracle tried
thousands of times (issue 10, rule G1). Each attempt counts once per client IP and once per
codice fiscale; over either limit the form answers HTTP 429 before reading anything else.

Fixed windows: the count lives under a key that names the window it belongs to, so it expires
by itself and the first hit of a window is an atomic `add`, the next ones an atomic `incr`.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string
from django.utils.translation import gettext as _

from piazza.core.middleware import client_ip


@dataclass(frozen=True)
class HitLimiter:
    """At most `limit` hits per key in each window of `window_seconds`."""

    namespace: str
    limit: int
    window_seconds: int

    def _key(self, key: str, window: int) -> str:
        # The key may be a codice fiscale: it is never stored in clear, even in the cache.
        digest = hashlib.sha256(f"{self.namespace}:{key}".encode()).hexdigest()[:32]
        return f"throttle:{self.namespace}:{window}:{digest}"

    def _window(self) -> tuple[int, int]:
        now = time.time()
        window = int(now // self.window_seconds)
        expires = int((window + 1) * self.window_seconds - now) + 1
        return window, expires

    def hit(self, key: str) -> int:
        """Count one hit; return the count in the current window (this hit included)."""
        window, expires = self._window()
        cache_key = self._key(key, window)
        if cache.add(cache_key, 1, timeout=expires):
            return 1
        try:
            return int(cache.incr(cache_key))
        except ValueError:  # expired between add and incr
            cache.add(cache_key, 1, timeout=expires)
            return 1

    def over(self, key: str) -> bool:
        """Count one hit; True when it goes beyond the limit."""
        return self.hit(key) > self.limit

    def count(self, key: str) -> int:
        window, _expires = self._window()
        return int(cache.get(self._key(key, window)) or 0)


def public_form_limiters() -> tuple[HitLimiter, HitLimiter]:
    """The two limits of public forms taking a codice fiscale (settings, configurable)."""
    window = int(settings.PUBLIC_FORM_THROTTLE_WINDOW_SECONDS)
    return (
        HitLimiter("public-form-ip", int(settings.PUBLIC_FORM_THROTTLE_PER_IP), window),
        HitLimiter("public-form-code", int(settings.PUBLIC_FORM_THROTTLE_PER_CODE), window),
    )


def throttle_public_form(request: HttpRequest, codice_fiscale: str) -> HttpResponse | None:
    """Count this submission per client IP and per codice fiscale (pass it canonical, so that
    omocodia variants count as one); over either limit, the 429 answer to return at once,
    before anything is read or written. Both counters move on every attempt."""
    by_ip, by_code = public_form_limiters()
    over = by_ip.over(client_ip(request) or "unknown")
    code = codice_fiscale.strip().upper()
    if code:
        over = by_code.over(code) or over
    if not over:
        return None
    minutes = max(1, (by_ip.window_seconds + 59) // 60)
    message = _(
        "Troppi tentativi in poco tempo da questa connessione o con questo codice fiscale. Per proteggere "
        "i dati delle persone abbiamo sospeso l'invio: riprova tra %(minutes)d minuti. Niente di quanto hai "
        "scritto è stato registrato."
    ) % {"minutes": minutes}
    body = render_to_string("throttled.html", {"message": message}, request=request)
    response = HttpResponse(body, status=429)
    response["Retry-After"] = str(by_ip.window_seconds)
    return response
