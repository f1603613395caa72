"""The receipts register for treasurers (rule F3): search by number or person, the PDF, a CSV export.

Scoped like every back-office page (convention 11): an official sees the receipts of money received
inside their territory; any other id answers 404. Every page, download and export is audited (G4).
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.utils import timezone
from django.utils.translation import gettext as _

from piazza.compliance.models import Receipt
from piazza.compliance.receipt_documents import receipt_filename, receipts_pdf
from piazza.compliance.receipts import method_name, search_receipts
from piazza.core.audit import record
from piazza.core.exports import export_response, export_view
from piazza.core.models import AuditKind
from piazza.core.personal_data import note_access, shows_personal_data
from piazza.territory.access import official_required
from piazza.territory.models import Role

RECEIPT_ROLES = {Role.TREASURY, Role.ADMINISTRATOR}
PAGE_SIZE = 100


def _scoped(request: HttpRequest) -> tuple[str, object]:
    query = request.GET.get("q", "").strip()[:60]
    qs = search_receipts(Receipt.objects.visible_to(request.user, RECEIPT_ROLES), query)
    return query, qs.select_related("entity", "territory", "cancels")


@official_required(roles=RECEIPT_ROLES)
@shows_personal_data("compliance.view_receipts")
def receipt_register(request: HttpRequest) -> HttpResponse:
    query, qs = _scoped(request)
    rows = list(qs[:PAGE_SIZE])  # type: ignore[index]
    note_access(ids=[r.pk for r in rows])
    return render(
        request,
        "compliance/receipts.html",
        {"receipts": rows, "query": query, "page_size": PAGE_SIZE, "more": len(rows) == PAGE_SIZE},
    )


@official_required(roles=RECEIPT_ROLES)
@shows_personal_data("compliance.view_receipt", audited_inline=True)
def receipt_pdf(request: HttpRequest, pk: int) -> HttpResponse:
    found = get_object_or_404(
        Receipt.objects.visible_to(request.user, RECEIPT_ROLES).select_related("entity", "territory", "cancels"),
        pk=pk,
    )
    record(
        "compliance.view_receipt",
        actor=request.user,
        obj=found,
        territory=found.territory,
        kind=AuditKind.VIEW,
        data={"number": found.display_number, "entity": found.entity_id},
    )
    response = HttpResponse(receipts_pdf([found]), content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="{receipt_filename(found)}"'
    response["Cache-Control"] = "private, no-store"
    return response


@official_required(roles=RECEIPT_ROLES)
@export_view("compliance.export_receipts")
def receipt_export(request: HttpRequest) -> HttpResponse:
    query, qs = _scoped(request)
    rows = (
        (
            r.entity.name,
            r.display_number,
            r.get_kind_display(),
            timezone.localtime(r.issued_at).strftime("%d/%m/%Y"),
            r.cancels.display_number if r.cancels else "",
            r.donor_name,
            r.donor_codice_fiscale,
            r.donor_address,
            f"{r.amount_cents / 100:.2f}".replace(".", ","),
            timezone.localtime(r.received_at).strftime("%d/%m/%Y"),
            method_name(r.method),
            _("sì") if r.traceable else _("no"),
            r.territory.name,
            r.purpose,
            r.reason,
        )
        for r in qs.order_by("entity__path", "year", "number").iterator(chunk_size=2000)  # type: ignore[attr-defined]
    )
    return export_response(
        "compliance.export_receipts",
        actor=request.user,
        file_format="csv",
        filename=f"ricevute-{timezone.localdate():%Y%m%d}",
        header=[
            _("Ente emittente"),
            _("Numero"),
            _("Tipo"),
            _("Emessa il"),
            _("Annulla la ricevuta"),
            _("Ricevuto da"),
            _("Codice fiscale"),
            _("Indirizzo"),
            _("Importo (€)"),
            _("Data del versamento"),
            _("Mezzo di pagamento"),
            _("Tracciabile"),
            _("Destinato a"),
            _("Causale"),
            _("Motivo"),
        ],
        rows=rows,
        data={"query": query},
        stale_reads=True,  # issued receipts as of a few minutes ago at most (issue 14)
    )
