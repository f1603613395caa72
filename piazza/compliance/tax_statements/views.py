"""Back office of the tax statements (rules F7, F8): the year's generation with its progress bar,
the statements in the official's scope, and the audited download of any of them."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from piazza.compliance.models import TaxStatement
from piazza.compliance.tax_statements import queries
from piazza.compliance.tax_statements.actions.generate import note_tax_statement_download
from piazza.compliance.tax_statements.actions.runs import (
    SEE_ROLES,
    START_ROLES,
    resume_tax_statements,
    start_tax_statements,
    years_open,
)
from piazza.compliance.tax_statements.pdf import filename, statement_pdf
from piazza.core.personal_data import shows_personal_data
from piazza.territory.access import official_required
from piazza.territory.models import Level, Territory
from piazza.territory.scoping import has_role_at


def _year(value: str | None) -> int | None:
    text = (value or "").strip()
    return int(text) if text.isdigit() and len(text) == 4 else None


@official_required(roles=SEE_ROLES)
@shows_personal_data("compliance.view_tax_statements")
def overview(request: HttpRequest) -> HttpResponse:
    year = _year(request.GET.get("anno"))
    search = str(request.GET.get("q", ""))[:100]
    national = Territory.objects.filter(level=Level.NATIONAL).first()
    can_start = national is not None and has_role_at(request.user, national, START_ROLES)
    this_year = timezone.localdate().year
    page = Paginator(queries.statements_visible(request.user, year=year, search=search), 50).get_page(
        request.GET.get("pagina")
    )
    return render(
        request,
        "compliance/tax_statements/overview.html",
        {
            "runs": list(queries.runs_visible(request.user)[:10]),
            "can_start": can_start,
            "start_years": years_open(this_year)[:2],
            "years": years_open(this_year),
            "year": year,
            "q": search,
            "page": page,
        },
    )


@require_POST
@official_required(roles=START_ROLES)
def start(request: HttpRequest) -> HttpResponse:
    year = _year(request.POST.get("year"))
    if year is None:
        messages.error(request, _("Scegli l'anno delle dichiarazioni da generare."))
        return redirect("compliance:tax_statements")
    try:
        run = start_tax_statements(actor=request.user, year=year)
    except (ValidationError, PermissionDenied) as exc:
        messages.error(request, " ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc))
        return redirect("compliance:tax_statements")
    return redirect("compliance:tax_run", pk=run.pk)


@official_required(roles=SEE_ROLES)
def run(request: HttpRequest, pk: int) -> HttpResponse:
    """A run's progress (htmx polls the fragment every two seconds), then its outcome."""
    found = get_object_or_404(queries.runs_visible(request.user).select_related("started_by"), pk=pk)
    can_resume = has_role_at(request.user, found.territory, START_ROLES) and found.status != "done"
    context = {"run": found, "can_resume": can_resume}
    template = (
        "compliance/tax_statements/_progress.html"
        if request.headers.get("HX-Request")
        else "compliance/tax_statements/run.html"
    )
    return render(request, template, context)


@require_POST
@official_required(roles=START_ROLES)
def resume(request: HttpRequest, pk: int) -> HttpResponse:
    found = get_object_or_404(queries.runs_visible(request.user), pk=pk)
    try:
        resume_tax_statements(actor=request.user, run=found)
    except (ValidationError, PermissionDenied) as exc:
        messages.error(request, " ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc))
    else:
        messages.success(request, _("Generazione ripresa: si riparte da dove si era fermata."))
    return redirect("compliance:tax_run", pk=found.pk)


@official_required(roles=SEE_ROLES)
@shows_personal_data("compliance.download_tax_statement", audited_inline=True)
def download(request: HttpRequest, pk: int) -> HttpResponse:
    """Any statement (any version) of the official's scope, as the donor gets it; audited (rule G4)."""
    statement = get_object_or_404(
        TaxStatement.objects.visible_to(request.user, SEE_ROLES).select_related("entity"), pk=pk
    )
    note_tax_statement_download(actor=request.user, statement=statement, by_donor=False)
    response = HttpResponse(statement_pdf(statement), content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{filename(statement)}"'
    return response
