"""Treasurer pages of the bank rails: every one scoped (`visible_to`, 404 outside), every view of
personal data audited, every write through an action."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from piazza.core.audit import record
from piazza.core.files import private_file_response
from piazza.core.models import AuditKind
from piazza.core.personal_data import shows_personal_data
from piazza.ledger.accounts import get_account
from piazza.ledger.models import Account
from piazza.ledger.queries import balance
from piazza.ledger.queries import statement as ledger_statement
from piazza.payments.bank import forms, queries
from piazza.payments.bank.actions import accounts as accounts_actions
from piazza.payments.bank.actions import collections as collections_actions
from piazza.payments.bank.actions import mandates as mandates_actions
from piazza.payments.bank.actions import matching as matching_actions
from piazza.payments.bank.actions import payouts as payouts_actions
from piazza.payments.bank.actions import statements as statements_actions
from piazza.payments.bank.epc_qr import TransferRequest, epc_qr_svg
from piazza.payments.bank.models import (
    BankAccount,
    Collection,
    CollectionBatch,
    ExpectedTransfer,
    ImportStatus,
    LineStatus,
    Mandate,
    Payee,
    Payout,
    PayoutBatch,
    PayoutStatus,
    StatementImport,
    StatementLine,
)
from piazza.payments.bank.references import format_reference
from piazza.territory.access import official_required
from piazza.territory.models import Role, Territory

TREASURY = {Role.TREASURY}
treasury_required = official_required(roles=TREASURY)


def _apply_errors(form: Any, error: ValidationError) -> None:
    if hasattr(error, "error_dict"):
        for field, errors in error.error_dict.items():
            for item in errors:
                form.add_error(field if field in form.fields else None, item)
    else:
        for message in error.messages:
            form.add_error(None, message)


def _territories(request: HttpRequest) -> Any:
    return Territory.objects.visible_to(request.user, TREASURY).open()


def _xml_download(content: bytes, filename: str) -> HttpResponse:
    response = HttpResponse(content, content_type="application/xml")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@treasury_required
def overview(request: HttpRequest) -> HttpResponse:
    section = queries.dashboard_section(request.user)
    return render(
        request,
        "bank/overview.html",
        {
            "bank_section": section[1] if section else None,
            "in_overview": True,
            "imports": StatementImport.objects.visible_to(request.user, TREASURY).select_related("account")[:10],
        },
    )


@treasury_required
def account_new(request: HttpRequest) -> HttpResponse:
    form = forms.BankAccountForm(request.POST or None, territories=_territories(request))
    if request.method == "POST" and form.is_valid():
        try:
            account = accounts_actions.register_bank_account(actor=request.user, **form.cleaned_data)
        except ValidationError as error:
            _apply_errors(form, error)
        else:
            messages.success(request, _("Conto %(a)s registrato.") % {"a": account})
            return redirect("bank:overview")
    return render(request, "bank/form.html", {"form": form, "title": _("Registra un conto bancario")})


@treasury_required
@shows_personal_data("bank.view_ledger_account")
def ledger_account(request: HttpRequest, pk: int) -> HttpResponse:
    """Per-account statement of ledger entries (any account in scope: bank, funds, campaigns)."""
    account = get_object_or_404(Account.objects.visible_to(request.user, TREASURY), pk=pk)
    page = Paginator(ledger_statement(account), 50).get_page(request.GET.get("page"))
    return render(request, "bank/ledger_account.html", {"account": account, "balance": balance(account), "page": page})


@treasury_required
def payee_new(request: HttpRequest) -> HttpResponse:
    form = forms.PayeeForm(request.POST or None, territories=_territories(request))
    if request.method == "POST" and form.is_valid():
        try:
            accounts_actions.register_payee(actor=request.user, **form.cleaned_data)
        except ValidationError as error:
            _apply_errors(form, error)
        else:
            messages.success(request, _("Beneficiario registrato."))
            return redirect("bank:payouts")
    return render(request, "bank/form.html", {"form": form, "title": _("Registra un beneficiario")})


# --- mandates -------------------------------------------------------------------------------


@treasury_required
@shows_personal_data("bank.view_mandates", audited_inline=True)
def mandates(request: HttpRequest) -> HttpResponse:
    rows = Mandate.objects.visible_to(request.user, TREASURY).select_related("creditor")
    q = request.GET.get("q", "").strip()
    if q:
        rows = rows.filter(debtor_name__icontains=q) | rows.filter(reference__icontains=q)
    page = Paginator(rows, 50).get_page(request.GET.get("page"))
    record("bank.view_mandates", actor=request.user, kind=AuditKind.VIEW, data={"q": q, "ids": [m.pk for m in page]})
    return render(request, "bank/mandates.html", {"page": page, "q": q})


@treasury_required
def mandate_new(request: HttpRequest) -> HttpResponse:
    creditors = BankAccount.objects.visible_to(request.user, TREASURY).exclude(creditor_id="")
    form = forms.MandateForm(request.POST or None, request.FILES or None, creditors=creditors)
    if request.method == "POST" and form.is_valid():
        try:
            mandate = mandates_actions.sign_mandate(actor=request.user, **form.cleaned_data)
        except ValidationError as error:
            _apply_errors(form, error)
        else:
            messages.success(request, _("Mandato %(ref)s registrato.") % {"ref": mandate.reference})
            return redirect("bank:mandate", pk=mandate.pk)
    return render(request, "bank/form.html", {"form": form, "title": _("Nuovo mandato SEPA"), "multipart": True})


@treasury_required
@shows_personal_data("bank.view_mandate", audited_inline=True)
def mandate_detail(request: HttpRequest, pk: int) -> HttpResponse:
    mandate = get_object_or_404(Mandate.objects.visible_to(request.user, TREASURY), pk=pk)
    amend = forms.AmendMandateForm(request.POST if request.POST.get("do") == "amend" else None)
    debit = forms.OneOffDebitForm(request.POST if request.POST.get("do") == "debit" else None)
    revoke = forms.ReasonForm(request.POST if request.POST.get("do") == "revoke" else None)
    if request.method == "POST":
        try:
            if request.POST.get("do") == "amend" and amend.is_valid():
                mandates_actions.amend_mandate(actor=request.user, mandate=mandate, **amend.cleaned_data)
                messages.success(
                    request, _("Mandato modificato: il riferimento resta %(r)s.") % {"r": mandate.reference}
                )
                return redirect("bank:mandate", pk=pk)
            if request.POST.get("do") == "revoke" and revoke.is_valid():
                mandates_actions.revoke_mandate(
                    actor=request.user, mandate=mandate, reason=revoke.cleaned_data["reason"]
                )
                messages.success(request, _("Mandato revocato."))
                return redirect("bank:mandate", pk=pk)
            if request.POST.get("do") == "debit" and debit.is_valid():
                data = debit.cleaned_data
                funds = get_account("territory", territory=mandate.territory)
                collections_actions.schedule_collection(
                    actor=request.user,
                    mandate=mandate,
                    amount=data["amount"],
                    due_date=data["due_date"],
                    description=data["description"],
                    credit_account=funds,
                    creation_key=f"oneoff:{mandate.pk}:{data['due_date']}:{data['amount'].cents}",
                    recurring=False,
                )
                messages.success(request, _("Addebito programmato e avviso inviato al debitore."))
                return redirect("bank:mandate", pk=pk)
        except ValidationError as error:
            target = {"amend": amend, "revoke": revoke, "debit": debit}[request.POST["do"]]
            _apply_errors(target, error)
    record("bank.view_mandate", actor=request.user, obj=mandate, territory=mandate.territory, kind=AuditKind.VIEW)
    return render(
        request,
        "bank/mandate.html",
        {
            "mandate": mandate,
            "amend": amend,
            "revoke": revoke,
            "debit": debit,
            "collections": mandate.collections.order_by("-due_date")[:50],
            "amendments": mandate.amendments.all()[:20],
        },
    )


@treasury_required
@shows_personal_data("bank.view_mandate_scan", audited_inline=True)
def mandate_scan(request: HttpRequest, pk: int) -> HttpResponse:
    """The signed paper form, from private storage: only to treasurers in scope, every view logged."""
    mandate = get_object_or_404(Mandate.objects.visible_to(request.user, TREASURY).exclude(paper_scan=""), pk=pk)
    record(
        "bank.view_mandate_scan",
        actor=request.user,
        obj=mandate,
        territory=mandate.territory,
        kind=AuditKind.VIEW,
        data={"file": mandate.paper_scan.name},
    )
    return private_file_response(mandate.paper_scan, f"mandato-{mandate.reference}", inline=True)


# --- collection batches ---------------------------------------------------------------------


@treasury_required
def batches(request: HttpRequest) -> HttpResponse:
    creditors = BankAccount.objects.visible_to(request.user, TREASURY).exclude(creditor_id="")
    form = forms.BatchForm(request.POST or None, creditors=creditors)
    if request.method == "POST" and form.is_valid():
        try:
            batch = collections_actions.prepare_batch(actor=request.user, **form.cleaned_data)
        except ValidationError as error:
            _apply_errors(form, error)
        else:
            return redirect("bank:batch", pk=batch.pk)
    rows = CollectionBatch.objects.visible_to(request.user, TREASURY).select_related("creditor")[:100]
    return render(request, "bank/batches.html", {"form": form, "batches": rows})


@treasury_required
@shows_personal_data("bank.view_batch", audited_inline=True)
def batch_detail(request: HttpRequest, pk: int) -> HttpResponse:
    batch = get_object_or_404(CollectionBatch.objects.visible_to(request.user, TREASURY), pk=pk)
    collections = batch.collections.select_related("mandate").order_by("id")
    total = sum(c.amount_cents for c in collections)
    record("bank.view_batch", actor=request.user, obj=batch, territory=batch.territory, kind=AuditKind.VIEW)
    return render(request, "bank/batch.html", {"batch": batch, "collections": collections, "total": total})


@treasury_required
@require_POST
@shows_personal_data("bank.export_batch", audited_inline=True)
def batch_export(request: HttpRequest, pk: int) -> HttpResponse:
    batch = get_object_or_404(CollectionBatch.objects.visible_to(request.user, TREASURY), pk=pk)
    try:
        xml = collections_actions.export_batch(actor=request.user, batch=batch)
    except ValidationError as error:
        for message in error.messages:
            messages.error(request, message)
        return redirect("bank:batch", pk=pk)
    return _xml_download(xml, f"{batch.message_id}.xml")


# --- statements and matching ----------------------------------------------------------------


@treasury_required
def statement_import(request: HttpRequest) -> HttpResponse:
    """Upload: the file is checked at once (errors on the field), its lines are stored and
    matched by the worker while the treasurer watches the progress page."""
    form = forms.StatementUploadForm(request.POST or None, request.FILES or None)
    territories = list(_territories(request).order_by("depth")[:1])
    if request.method == "POST" and form.is_valid() and territories:
        upload = form.cleaned_data["file"]
        try:
            imports = statements_actions.import_statement(
                actor=request.user, territory=territories[0], filename=upload.name, data=upload.read(), background=True
            )
        except ValidationError as error:
            _apply_errors(form, error)
        else:
            return redirect("bank:import_progress", upload_id=imports[0].upload_id)
    return render(request, "bank/import.html", {"form": form})


@treasury_required
def import_progress(request: HttpRequest, upload_id: str) -> HttpResponse:
    """Progress of one upload (htmx polls the fragment every second), then what it did."""
    imports = list(
        StatementImport.objects.visible_to(request.user, TREASURY)
        .filter(upload_id=upload_id)
        .select_related("account")
        .order_by("id")
    )
    if not imports:
        raise Http404
    finished = all(i.finished for i in imports)
    queued = sum(i.waiting_lines for i in imports) if finished else 0
    context = {
        "imports": imports,
        "finished": finished,
        "upload_id": upload_id,
        "queued": queued,
        "new": sum(i.new_lines for i in imports),
        "duplicates": sum(i.duplicate_lines for i in imports),
        "failed": [i for i in imports if i.status == ImportStatus.FAILED],
        "warnings": [w for i in imports for w in i.warnings] if finished else [],
    }
    template = "bank/_import_progress.html" if request.headers.get("HX-Request") else "bank/import_progress.html"
    return render(request, template, context)


@treasury_required
@shows_personal_data("bank.view_lines", audited_inline=True)
def lines(request: HttpRequest) -> HttpResponse:
    status = request.GET.get("status", LineStatus.QUEUED)
    rows = StatementLine.objects.visible_to(request.user, TREASURY).select_related("account")
    if status in LineStatus.values:
        rows = rows.filter(status=status)
    q = request.GET.get("q", "").strip()
    if q:
        rows = (
            rows.filter(counterparty_name__icontains=q)
            | rows.filter(remittance__icontains=q)
            | rows.filter(creditor_reference__icontains=q.replace(" ", "").upper())
        )
    page = Paginator(rows.order_by("-booking_date", "id"), 50).get_page(request.GET.get("page"))
    record(
        "bank.view_lines",
        actor=request.user,
        kind=AuditKind.VIEW,
        data={"status": status, "q": q, "ids": [x.pk for x in page]},
    )
    return render(request, "bank/lines.html", {"page": page, "status": status, "q": q, "statuses": LineStatus.choices})


@treasury_required
@shows_personal_data("bank.view_line", audited_inline=True)
def line_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """A statement line; if queued, the search to match it by hand: an incoming line to an expected
    transfer, an outgoing one to the collected debit it returns or to the payout it executes."""
    line = get_object_or_404(StatementLine.objects.visible_to(request.user, TREASURY).select_related("account"), pk=pk)
    search = forms.LineSearchForm(request.GET or None)
    reject = forms.ReasonForm(request.POST if request.POST.get("do") == "reject" else None)
    do = request.POST.get("do")
    if request.method == "POST":
        try:
            if do == "match":
                transfer = get_object_or_404(
                    ExpectedTransfer.objects.visible_to(request.user, TREASURY), pk=request.POST.get("transfer")
                )
                matching_actions.match_line(
                    actor=request.user, line=line, transfer=transfer, difference=request.POST.get("difference", "")
                )
                messages.success(request, _("Movimento abbinato a %(ref)s e registrato.") % {"ref": transfer.reference})
                return redirect("bank:lines")
            if do == "match_return":
                collection = get_object_or_404(
                    Collection.objects.visible_to(request.user, TREASURY), pk=request.POST.get("collection")
                )
                matching_actions.match_return(actor=request.user, line=line, collection=collection)
                messages.success(
                    request, _("Storno dell'addebito %(e2e)s registrato.") % {"e2e": collection.end_to_end_id}
                )
                return redirect("bank:lines")
            if do == "match_payout":
                payout = get_object_or_404(
                    Payout.objects.visible_to(request.user, TREASURY), pk=request.POST.get("payout")
                )
                matching_actions.match_payout(actor=request.user, line=line, payout=payout)
                messages.success(request, _("Versamento %(e2e)s confermato.") % {"e2e": payout.end_to_end_id})
                return redirect("bank:lines")
            if do == "reject" and reject.is_valid():
                matching_actions.reject_line(actor=request.user, line=line, reason=reject.cleaned_data["reason"])
                messages.success(request, _("Movimento scartato."))
                return redirect("bank:lines")
        except ValidationError as error:
            if do == "reject":
                _apply_errors(reject, error)
            else:
                for message in error.messages:
                    messages.error(request, message)
    q, amount = "", None
    if search.is_valid():
        q, amount = search.cleaned_data.get("q") or "", search.cleaned_data.get("amount")
    context: dict[str, Any] = {"line": line, "search": search, "reject": reject}
    if line.status == LineStatus.QUEUED and line.direction == "credit":
        context["candidates"] = queries.candidate_transfers(request.user, line, q, amount)
    elif line.status == LineStatus.QUEUED:
        context["collections"] = queries.candidate_collections(request.user, line, q, amount)
        context["payouts"] = queries.candidate_payouts(request.user, line, q, amount)
    record("bank.view_line", actor=request.user, obj=line, territory=line.territory, kind=AuditKind.VIEW)
    return render(request, "bank/line.html", context)


@treasury_required
@shows_personal_data("bank.view_transfers", audited_inline=True)
def transfers(request: HttpRequest) -> HttpResponse:
    rows = ExpectedTransfer.objects.visible_to(request.user, TREASURY).select_related("account")
    page = Paginator(rows, 50).get_page(request.GET.get("page"))
    record("bank.view_transfers", actor=request.user, kind=AuditKind.VIEW, data={"ids": [t.pk for t in page]})
    return render(request, "bank/transfers.html", {"page": page})


@treasury_required
@shows_personal_data("bank.view_transfer", audited_inline=True)
def transfer_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """What the payer needs: beneficiary, IBAN, amount, RF reference and the EPC QR code."""
    transfer = get_object_or_404(
        ExpectedTransfer.objects.visible_to(request.user, TREASURY).select_related("account"), pk=pk
    )
    qr = epc_qr_svg(
        TransferRequest(
            beneficiary=transfer.account.name,
            iban=transfer.account.iban,
            amount_cents=transfer.outstanding_cents or None,
            reference=transfer.reference,
            bic=transfer.account.bic,
        )
    )
    record("bank.view_transfer", actor=request.user, obj=transfer, territory=transfer.territory, kind=AuditKind.VIEW)
    return render(
        request,
        "bank/transfer.html",
        {"transfer": transfer, "qr": qr, "reference": format_reference(transfer.reference)},
    )


# --- payouts --------------------------------------------------------------------------------


@treasury_required
@shows_personal_data("bank.view_payouts")
def payouts(request: HttpRequest) -> HttpResponse:
    bank_accounts = BankAccount.objects.visible_to(request.user, TREASURY)
    form = forms.PayoutForm(
        request.POST if request.POST.get("do") == "request" else None,
        bank_accounts=bank_accounts,
        sources=queries.ledger_sources(request.user),
        payees=Payee.objects.visible_to(request.user, TREASURY),
    )
    export = forms.ExportPayoutsForm(
        request.POST if request.POST.get("do") == "export" else None, creditors=bank_accounts
    )
    if request.method == "POST":
        try:
            if request.POST.get("do") == "request" and form.is_valid():
                payouts_actions.request_payout(actor=request.user, **form.cleaned_data)
                messages.success(request, _("Versamento richiesto: ora deve approvarlo un altro tesoriere."))
                return redirect("bank:payouts")
            if request.POST.get("do") == "export" and export.is_valid():
                batch = payouts_actions.export_payouts(actor=request.user, **export.cleaned_data)
                messages.success(request, _("Distinta %(m)s pronta.") % {"m": batch.message_id})
                return redirect("bank:payouts")
        except ValidationError as error:
            _apply_errors(form if request.POST.get("do") == "request" else export, error)
    rows = Payout.objects.visible_to(request.user, TREASURY).select_related("payee", "requested_by", "approved_by")
    return render(
        request,
        "bank/payouts.html",
        {
            "form": form,
            "export": export,
            "payouts": rows[:100],
            "batches": PayoutBatch.objects.visible_to(request.user, TREASURY)[:20],
            "requested": PayoutStatus.REQUESTED,
        },
    )


@treasury_required
@require_POST
def payout_decide(request: HttpRequest, pk: int) -> HttpResponse:
    payout = get_object_or_404(Payout.objects.visible_to(request.user, TREASURY), pk=pk)
    try:
        if request.POST.get("do") == "approve":
            payouts_actions.approve_payout(actor=request.user, payout=payout)
            messages.success(request, _("Versamento approvato."))
        else:
            payouts_actions.reject_payout(actor=request.user, payout=payout, reason=request.POST.get("reason", ""))
            messages.success(request, _("Versamento respinto."))
    except ValidationError as error:
        for message in error.messages:
            messages.error(request, message)
    return redirect("bank:payouts")


@treasury_required
@shows_personal_data("bank.download_payouts", audited_inline=True)
def payout_batch_download(request: HttpRequest, pk: int) -> HttpResponse:
    batch = get_object_or_404(PayoutBatch.objects.visible_to(request.user, TREASURY), pk=pk)
    record(
        "bank.download_payouts",
        actor=request.user,
        obj=batch,
        territory=batch.territory,
        kind=AuditKind.EXPORT,
        data={"sha256": batch.xml_sha256},
    )
    return _xml_download(bytes(batch.xml), f"{batch.message_id}.xml")


# --- payer page (no login: the payment's unguessable token is the key) -----------------------


def pay_by_transfer(request: HttpRequest, token: str) -> HttpResponse:
    """Bank-transfer instructions for a payment of the `bank_transfer` provider."""
    from piazza.payments.models import Payment

    payment = get_object_or_404(Payment, token=token, provider="bank_transfer")
    transfer = get_object_or_404(ExpectedTransfer.objects.select_related("account"), payment=payment)
    qr = epc_qr_svg(
        TransferRequest(
            beneficiary=transfer.account.name,
            iban=transfer.account.iban,
            amount_cents=transfer.outstanding_cents or None,
            reference=transfer.reference,
            bic=transfer.account.bic,
        )
    )
    return render(
        request,
        "bank/pay_by_transfer.html",
        {"payment": payment, "transfer": transfer, "qr": qr, "reference": format_reference(transfer.reference)},
    )
