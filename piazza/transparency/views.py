"""Public pages of the transparency portal: no login, no personal data (rule G1), GET only."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib.messages.storage.cookie import CookieStorage
from django.core.cache import cache
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.middleware.csrf import get_token
from django.shortcuts import get_object_or_404, render
from django.template.loader import render_to_string
from django.utils import formats
from django.utils.safestring import mark_safe
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_safe

from piazza.compliance.models import Candidacy
from piazza.core.exports import CONTENT_TYPES
from piazza.core.money import format_eur
from piazza.territory.models import Level, Territory
from piazza.transparency import charts, opendata
from piazza.transparency.queries import (
    CACHE_PREFIX,
    POSITION_KEY,
    Report,
    Scope,
    Table,
    ledger_position,
    published_years,
    report_url,
    scope_of_candidacy,
    scope_of_territory,
)
from piazza.transparency.reports import has_mandatario_account, report

# Columns holding codes: in the files, not in the page (the label beside them says it in words).
# How long a page's snapshot is kept: it is replaced when the ledger moves, not when this expires.
SNAPSHOT_SECONDS = 7 * 24 * 3600
# Where a published page carries the visitor's CSRF token (the language form of the frame).
CSRF_PLACEHOLDER = "piazza-transparency-csrf-placeholder"

CODE_COLUMNS = {
    "source",
    "category",
    "item",
    "expense_id",
    "month",
    "territory_id",
    "campaign_id",
    "url",
    "register_url",
}


def _year(year: int) -> int:
    if year not in published_years():
        raise Http404(_("Non ci sono conti pubblicati per quell'anno."))
    return year


def _cell(table: Table, row: dict[str, Any], name: str) -> dict[str, Any]:
    value = row.get(name)
    column = table.column(name)
    if value is None:
        return {"text": "—", "numeric": column.type != "string"}
    if name.endswith("_cents"):
        return {"text": format_eur(int(value)), "numeric": True}
    if name.endswith("_percent"):
        return {"text": f"{value}%", "numeric": True}
    if column.type in ("integer", "number"):
        return {"text": formats.number_format(value, use_l10n=True), "numeric": True}
    return {"text": str(value), "numeric": False}


def _link(report_: Report, table: Table, row: dict[str, Any]) -> str:
    if table.name == "donors_by_territory" and row.get("territory_id"):
        scope = Scope("territory", int(row["territory_id"]), "", "", "")
        return report_url(scope, report_.year)
    if table.name == "campaigns":
        return str(row.get("url") or "")
    return ""


def display(report_: Report, table: Table) -> dict[str, Any]:
    """A table as the template shows it: words and formatted figures, the files beside it."""
    columns = [c for c in table.columns if c.name not in CODE_COLUMNS]
    rows = []
    for row in table.rows:
        cells = [_cell(table, row, c.name) for c in columns]
        cells[0]["href"] = _link(report_, table, row)
        if row.get("register_url"):
            cells[0]["register"] = row["register_url"]
        rows.append(cells)
    return {
        "name": table.name,
        "title": table.title,
        "headers": [c.title for c in columns],
        "rows": rows,
        "note": table.note,
        "withheld": table.withheld,
        "csv": opendata.file_url(report_, table.name, "csv"),
        "json": opendata.file_url(report_, table.name, "json"),
    }


def _charts(report_: Report) -> dict[str, Any]:
    months = report_.table("donors_by_month")
    places = report_.table("donors_by_territory")
    out: dict[str, Any] = {
        "months": charts.bars(
            [(str(r["label"]), int(r["donors"])) for r in months.rows],
            _("Donatori per mese, %(y)s") % {"y": report_.year},
            limit=13,
        )
        if months.rows
        else None,
        "places": charts.bars(
            [(str(r["label"]), int(r["donors"])) for r in places.rows],
            _("Donatori per territorio, %(y)s") % {"y": report_.year},
            limit=30,
        )
        if places.rows
        else None,
        "map": None,
    }
    if report_.scope.level == Level.NATIONAL:
        codes = dict(Territory.objects.filter(level=Level.REGION).values_list("pk", "code"))
        values = {
            codes[int(r["territory_id"])]: (str(r["label"]), r["donors_per_1000"])
            for r in places.rows
            if r.get("territory_id") and int(r["territory_id"]) in codes
        }
        for pk, name in report_.children:
            code = codes.get(pk)
            if code and code not in values:
                values[code] = (name, None)
        out["map"] = charts.regions_map(values, _("Donatori ogni 1.000 residenti, regione per regione"))
    return out


def _stateless(request: HttpRequest) -> bool:
    """A visitor with no session, no pending message and no query string: the page's frame is
    the same for all of them but for the CSRF token, so the whole page can be published."""
    return not (
        request.GET
        or request.COOKIES.get(settings.SESSION_COOKIE_NAME)
        or request.COOKIES.get(CookieStorage.cookie_name)
    )


def _whole_page(request: HttpRequest, title: str, body: str) -> str:
    context = {"page_title": title, "body": mark_safe(body), "csrf_token": CSRF_PLACEHOLDER}
    return render_to_string("transparency/page.html", context, request)


def _snapshot(request: HttpRequest, build: Callable[[], tuple[str, str]]) -> HttpResponse:
    """A portal page from its published snapshot (issue 13: fast under load, and "a published
    figure equals the ledger at its publication time").

    A snapshot is the page's body rendered from one report, stored per address and language with
    the ledger position it was computed at; the body states that moment ("dati al …"). For a
    visitor without session or messages (`_stateless`: the public's case) it also holds the whole
    page, the CSRF token of the language form left as a placeholder filled per request.

    A request reads the ledger position (cached, read again every `refresh_seconds()`) and the
    snapshot in one cache round trip, and no database. When the ledger has moved on, one request
    (the one that takes the snapshot's lock) computes the new snapshot while the others keep
    serving the previous one, whose page says how old its figures are: no stampede.
    """
    key = f"{CACHE_PREFIX}:page:{request.path}:{get_language() or 'it'}"
    found = cache.get_many([POSITION_KEY, key])
    position = ledger_position(found=found.get(POSITION_KEY))
    snap: Any = found.get(key)
    valid = isinstance(snap, tuple) and len(snap) == 4
    if not (valid and snap[0] >= position) and (not valid or cache.add(f"{key}:lock:{position}", 1, 120)):
        title, body = build()
        snap = (position, title, body, _whole_page(request, title, body) if _stateless(request) else "")
        cache.set(key, snap, SNAPSHOT_SECONDS)
    assert isinstance(snap, tuple)
    _position, title, body, page = snap
    if _stateless(request):
        if not page:
            page = _whole_page(request, title, body)
            cache.set(key, (_position, title, body, page), SNAPSHOT_SECONDS)
        return HttpResponse(page.replace(CSRF_PLACEHOLDER, get_token(request)))
    return render(request, "transparency/page.html", {"page_title": title, "body": mark_safe(body)})


def _report_page(request: HttpRequest, report_: Report, ancestors: list[tuple[int, str]]) -> tuple[str, str]:
    title = _("I conti di %(name)s nel %(year)s") % {"name": report_.scope.name, "year": report_.year}
    return title, render_to_string("transparency/_report_body.html", _context(report_, ancestors), request)


def _context(report_: Report, ancestors: list[tuple[int, str]]) -> dict[str, Any]:
    return {
        "report": report_,
        "scope": report_.scope,
        "years": published_years(),
        "ancestors": ancestors,
        "tables": {name: display(report_, table) for name, table in report_.tables.items()},
        "charts": _charts(report_),
        "package": opendata.package_url(report_),
        "summary": report_.summary,
    }


def _ancestors(territory: Territory) -> list[tuple[int, str]]:
    return [(int(t.pk), t.name) for t in territory.ancestors() if t.pk != territory.pk]


@require_safe
def index(request: HttpRequest) -> HttpResponse:
    """The portal's door: the whole party this year, the map, the regions, every year."""

    def build() -> tuple[str, str]:
        national = Territory.objects.filter(level=Level.NATIONAL).first()
        if national is None:
            raise Http404(_("Il partito non ha ancora una struttura."))
        year = published_years()[0]
        report_ = report(scope_of_territory(national), year)
        context = {
            "report": report_,
            "scope": report_.scope,
            "years": published_years(),
            "summary": report_.summary,
            "charts": _charts(report_),
            "places": display(report_, report_.table("donors_by_territory")),
        }
        return _("I conti del partito"), render_to_string("transparency/_index_body.html", context, request)

    return _snapshot(request, build)


@require_safe
def territory_report(request: HttpRequest, territory_id: int, year: int) -> HttpResponse:
    def build() -> tuple[str, str]:
        territory = get_object_or_404(Territory, pk=territory_id)
        return _report_page(request, report(scope_of_territory(territory), _year(year)), _ancestors(territory))

    return _snapshot(request, build)


def _candidacy_scope(candidacy_id: int) -> tuple[Scope, Territory]:
    """A candidacy is public here once its mandatario holds an account (rule F10)."""
    candidacy = get_object_or_404(Candidacy.objects.select_related("territory"), pk=candidacy_id)
    if not has_mandatario_account(candidacy):
        raise Http404(_("Questa candidatura non ha un conto del mandatario."))
    return scope_of_candidacy(candidacy), candidacy.territory


@require_safe
def candidacy_report(request: HttpRequest, candidacy_id: int, year: int) -> HttpResponse:
    def build() -> tuple[str, str]:
        scope, territory = _candidacy_scope(candidacy_id)
        ancestors = [*_ancestors(territory), (int(territory.pk), territory.name)]
        return _report_page(request, report(scope, _year(year)), ancestors)

    return _snapshot(request, build)


def _file(report_: Report, table: str, fmt: str) -> HttpResponse:
    if table not in opendata.TABLES or fmt not in ("csv", "json"):
        raise Http404(_("Questa tabella non esiste: i file disponibili sono elencati nella pagina dei conti."))
    data = report_.tables[table]
    name = f"piazza-{report_.scope.kind}-{report_.scope.pk}-{report_.year}-{table}.{fmt}"
    if fmt == "csv":
        response = HttpResponse(opendata.table_csv(data), content_type=CONTENT_TYPES["csv"])
    else:
        response = HttpResponse(opendata.table_json(report_, data), content_type="application/json")
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    response["Access-Control-Allow-Origin"] = "*"  # open data: any site may read it
    response["X-Content-Type-Options"] = "nosniff"
    return response


def _published_file(request: HttpRequest, build: Callable[[], HttpResponse]) -> HttpResponse:
    """An open-data file from its snapshot, as `_snapshot` serves pages: its bytes and headers per
    address (and host: the data package names absolute addresses) and ledger position."""
    key = f"{CACHE_PREFIX}:file:{request.get_host()}{request.path}:{get_language() or 'it'}"
    found = cache.get_many([POSITION_KEY, key])
    position = ledger_position(found=found.get(POSITION_KEY))
    snap: Any = found.get(key)
    valid = isinstance(snap, tuple) and len(snap) == 4
    if valid and (snap[0] >= position or not cache.add(f"{key}:lock:{position}", 1, 120)):
        _position, content, content_type, headers = snap
        response = HttpResponse(content, content_type=content_type)
        for name, value in headers.items():
            response[name] = value
        return response
    response = build()
    headers = {k: v for k, v in response.items() if k != "Content-Type"}
    cache.set(key, (position, response.content, response["Content-Type"], headers), SNAPSHOT_SECONDS)
    return response


@require_safe
def territory_file(request: HttpRequest, territory_id: int, year: int, table: str, fmt: str) -> HttpResponse:
    def build() -> HttpResponse:
        territory = get_object_or_404(Territory, pk=territory_id)
        return _file(report(scope_of_territory(territory), _year(year)), table, fmt)

    return _published_file(request, build)


@require_safe
def candidacy_file(request: HttpRequest, candidacy_id: int, year: int, table: str, fmt: str) -> HttpResponse:
    def build() -> HttpResponse:
        scope, _territory = _candidacy_scope(candidacy_id)
        return _file(report(scope, _year(year)), table, fmt)

    return _published_file(request, build)


def _package(request: HttpRequest, report_: Report) -> JsonResponse:
    response = JsonResponse(opendata.datapackage(report_, request.build_absolute_uri("/")[:-1]))
    response["Access-Control-Allow-Origin"] = "*"
    return response


@require_safe
def territory_package(request: HttpRequest, territory_id: int, year: int) -> HttpResponse:
    def build() -> HttpResponse:
        territory = get_object_or_404(Territory, pk=territory_id)
        return _package(request, report(scope_of_territory(territory), _year(year)))

    return _published_file(request, build)


@require_safe
def candidacy_package(request: HttpRequest, candidacy_id: int, year: int) -> HttpResponse:
    def build() -> HttpResponse:
        scope, _territory = _candidacy_scope(candidacy_id)
        return _package(request, report(scope, _year(year)))

    return _published_file(request, build)
