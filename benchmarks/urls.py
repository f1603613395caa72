"""The benchmark's URLconf: the whole site plus the C_view ceiling view (PERFORMANCE.md).

Only `benchmarks.donations.application` (the gunicorn entry the donations benchmark starts in its own
server) sets `ROOT_URLCONF` to this module; the site's own URLconf (config/urls.py) has no benchmark URL, so
the ceiling view exists nowhere else (tests: piazza/funding/tests/test_pages.py)."""

from __future__ import annotations

from django.db import connection
from django.http import HttpRequest, HttpResponse
from django.urls import URLPattern, URLResolver, path
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from config.urls import urlpatterns as site_urlpatterns

CEILING_PATH = "raccolte/_benchmark/insert/"


@csrf_exempt
@require_POST
def benchmark_insert(request: HttpRequest) -> HttpResponse:
    """C_view: a bare view doing one INSERT, the ceiling the donation rate is compared with; the table is
    the benchmark's scratch table."""
    with connection.cursor() as cursor:
        cursor.execute("INSERT INTO bench_view_insert (at, note) VALUES (now(), %s)", ["ceiling"])
    return HttpResponse("ok", content_type="text/plain")


urlpatterns: list[URLPattern | URLResolver] = [
    path(CEILING_PATH, benchmark_insert, name="benchmark_insert"),
    *site_urlpatterns,
]
