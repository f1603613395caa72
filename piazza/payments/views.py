"""Payer-facing pages: the payment page, the provider return, the payer's own page (opened only
by a one-time link emailed to the address, convention 16), one-click cancel of a recurring gift,
and provider webhooks. All work without JavaScript."""

from __future__ import annotations

from typing import Any

from csp.decorators import csp_update
from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db import transaction
from django.db.models import Sum
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from piazza.core.audit import record
from piazza.core.middleware import client_ip
from piazza.core.models import AuditKind
from piazza.core.personal_data import shows_personal_data
from piazza.core.prepared import prepared_read
from piazza.core.ratelimit import FailureLimiter
from piazza.payments import devices, links, methods, queries, webhooks
from piazza.payments.actions import devices as devices_actions
from piazza.payments.actions import lifecycle as lifecycle_actions
from piazza.payments.actions import methods as methods_actions
from piazza.payments.actions import recurring as recurring_actions
from piazza.payments.forms import MethodForm, PayerLinkForm, pay_form_class
from piazza.payments.messages import decline_message
from piazza.payments.models import (
    IN_FLIGHT_ATTEMPT_STATES,
    AttemptState,
    DuplicateState,
    Payment,
    PaymentAttempt,
    PaymentMethodSetting,
    RecurringSchedule,
    ScheduleState,
    State,
)
from piazza.payments.providers.base import PaymentProvider, ProviderError
from piazza.payments.providers.registry import all_providers, get_provider
from piazza.payments.providers.stripe import BROWSER_CSP
from piazza.territory.access import official_required


def _provider_or_404(identifier: str, *, available: bool = True) -> PaymentProvider:
    """A provider that does not exist here (the sandbox in production) is a page that does not."""
    try:
        provider = get_provider(identifier)
    except LookupError:
        raise Http404 from None
    if available and not provider.is_available():
        raise Http404
    return provider


def _return_url(request: HttpRequest, payment: Payment) -> str:
    return request.build_absolute_uri(reverse("payments:return", args=[payment.token]))


def _finished(request: HttpRequest, payment: Payment) -> HttpResponse:
    target = payment.return_url
    if payment.is_booked and target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return HttpResponseRedirect(target)
    return redirect("payments:done", token=payment.token)


def _after_attempt(
    request: HttpRequest, payment: Payment, attempt: PaymentAttempt, client_key: str
) -> HttpResponse | str:
    """Where the payer goes once `actions.pay` answered: a response, or the error to show.
    `actions.pay` leaves `payment` as committed: no refresh."""
    if payment.is_booked:
        return _finished(request, payment)
    another = attempt.client_key != client_key
    if another and attempt.state in IN_FLIGHT_ATTEMPT_STATES:
        # Another tab or an earlier submit is paying: never a second charge.
        messages.info(
            request,
            _(
                "Il pagamento è già in corso (forse in un'altra finestra): attendi "
                "l'esito, non ti addebitiamo nulla due volte."
            ),
        )
    if attempt.state == AttemptState.REQUIRES_ACTION and attempt.action_url:
        return HttpResponseRedirect(attempt.action_url)
    if attempt.state in (AttemptState.STARTED, AttemptState.UNKNOWN):
        return redirect("payments:done", token=payment.token)
    return str(decline_message(attempt.failure_code or payment.failure_code))


@prepared_read(Payment)
def _payment_by_token(token: str) -> Any:
    """The payment page's payment with its territory (compiled once, ADR 0043)."""
    return Payment.objects.select_related("territory").filter(token=token)[:1]


@require_http_methods(["GET", "POST"])
def pay(request: HttpRequest, token: str) -> HttpResponse:
    payment = _payment_by_token.first(token)
    if payment is None:
        raise Http404("no such payment")
    if payment.is_booked or payment.state == State.CANCELED:
        return _finished(request, payment)
    if (
        request.method == "GET"
        and not payment.metadata.get("method_chosen")
        and bool(payment.metadata.get("method_step"))
        and methods.offers_choice(payment)
    ):
        return redirect("payments:choose_method", token=payment.token)  # issue 11: the method step first
    provider = _provider_or_404(payment.provider)
    form_class = pay_form_class(provider.checkout_form())
    error = ""
    if request.method == "POST":
        form = form_class(request.POST)
        if form.is_valid():
            data = {k: v for k, v in form.cleaned_data.items() if k != "idempotency_key"}
            key = form.cleaned_data["idempotency_key"]
            try:
                attempt = lifecycle_actions.pay(
                    actor=request.user,
                    payment=payment,
                    client_key=key,
                    data=data,
                    return_url=_return_url(request, payment),
                )
            except ValidationError as exc:
                error = " ".join(exc.messages)
            else:
                outcome = _after_attempt(request, payment, attempt, key)
                if isinstance(outcome, HttpResponse):
                    return outcome
                error = outcome
                form = form_class()  # a fresh key: the retry is a new attempt
    else:
        form = form_class()
        if payment.state == State.FAILED:
            error = payment.failure_message
    return render(
        request,
        "payments/pay.html",
        {
            "payment": payment,
            "provider": provider,
            "form": form,
            "error": error,
            # Asked only when the page is shown: a card accepted redirects without it (issue 14:
            # the in-flight check, the payable, the method settings and bank accounts, 4 reads).
            "change_method": bool(payment.metadata.get("method_step")) and methods.offers_choice(payment),
        },
        status=200,
    )


@require_http_methods(["GET", "POST"])
def choose_method(request: HttpRequest, token: str) -> HttpResponse:
    """The method step (issue 11 item 1): card, PayPal, bank transfer or SEPA direct debit, only
    those configured for the payment's territory and allowed for what is paid. A method with
    nothing to type on our page (transfer, PayPal, Stripe's own card page) starts at once."""
    payment = get_object_or_404(Payment.objects.select_related("territory"), token=token)
    if not payment.is_open:
        return _finished(request, payment)
    offered = methods.offered_methods(payment) if methods.may_change(payment) else []
    if len(offered) < 2:
        return redirect("payments:pay", token=payment.token)
    choices = [(m.kind, str(m.label)) for m in offered]
    current = payment.metadata.get("method_chosen") or methods.method_kind(payment.provider)
    form = MethodForm(
        request.POST or None,
        methods=choices,
        initial={"method": current if payment.metadata.get("method_chosen") else None},
    )
    error = ""
    if request.method == "POST" and form.is_valid():
        key = form.cleaned_data["idempotency_key"]
        try:
            payment = methods_actions.choose_method(
                actor=request.user, payment=payment, method=form.cleaned_data["method"]
            )
            provider = _provider_or_404(payment.provider)
            if provider.checkout_form() is not None:  # a card or a mandate to fill in on our page
                return redirect("payments:pay", token=payment.token)
            attempt = lifecycle_actions.pay(
                actor=request.user, payment=payment, client_key=key, data={}, return_url=_return_url(request, payment)
            )
        except ValidationError as exc:
            error = " ".join(exc.messages)
        else:
            outcome = _after_attempt(request, payment, attempt, key)
            if isinstance(outcome, HttpResponse):
                return outcome
            error = outcome
        form = MethodForm(methods=choices, initial={"method": form.cleaned_data["method"]})
    return render(
        request,
        "payments/pay_method.html",
        {
            "payment": payment,
            "form": form,
            "offered": offered,
            "error": error,
            "checked": form["method"].value(),
        },
        status=400 if form.is_bound and form.errors else 200,
    )


def provider_return(request: HttpRequest, token: str) -> HttpResponse:
    """The payer is back from the provider's page: ask the provider (never trust the query string)."""
    payment = get_object_or_404(Payment, token=token)
    attempt = payment.attempts.order_by("-number").first()
    if attempt is not None and payment.is_open:
        provider = _provider_or_404(payment.provider, available=False)
        try:
            if attempt.state in IN_FLIGHT_ATTEMPT_STATES:
                # Before the capture: the payable's rules on the approving account (M24).
                methods_actions.check_approved_instrument(actor=request.user, payment=payment, attempt=attempt)
        except ValidationError:
            return redirect("payments:pay", token=payment.token)  # the page shows why
        except ProviderError:
            return redirect("payments:done", token=payment.token)
        try:
            result = provider.complete_return(payment, attempt, {k: str(v) for k, v in request.GET.items()})
        except ProviderError:
            return redirect("payments:done", token=payment.token)
        payment = lifecycle_actions.apply_charge_result(
            actor=request.user, payment=payment, attempt=attempt, result=result, source="return"
        )
    if payment.is_booked:
        return _finished(request, payment)
    if payment.state == State.FAILED:
        return redirect("payments:pay", token=payment.token)
    return redirect("payments:done", token=payment.token)


def done(request: HttpRequest, token: str) -> HttpResponse:
    payment = get_object_or_404(Payment, token=token)
    processing = payment.state in (State.CREATED, State.PENDING)
    return render(
        request,
        "payments/done.html",
        {
            "payment": payment,
            "processing": processing,
            "payer_link_form": PayerLinkForm(),
        },
    )


@require_http_methods(["GET", "POST"])
def sandbox_authenticate(request: HttpRequest, reference: str) -> HttpResponse:
    """The sandbox's simulated 3-D Secure page (a real provider hosts its own)."""
    from piazza.payments.models import SandboxCharge

    provider = _provider_or_404("sandbox")
    charge = get_object_or_404(SandboxCharge, reference=reference)
    attempt = get_object_or_404(PaymentAttempt, provider_reference=reference)
    if request.method == "POST":
        provider.authenticate(reference, approve=request.POST.get("decision") == "approve")  # type: ignore[attr-defined]
        return redirect("payments:return", token=attempt.payment.token)
    return render(request, "payments/sandbox_3ds.html", {"charge": charge, "payment": attempt.payment})


_STRIPE_CSP = csp_update(BROWSER_CSP)  # type: ignore[arg-type]


@_STRIPE_CSP  # type: ignore[arg-type]
def stripe_checkout(request: HttpRequest, token: str) -> HttpResponse:
    """Our page hosting Stripe's card field (ADR 0003): Stripe.js is allowed here and nowhere else.

    The card is confirmed in the browser; Stripe sends the payer back to our return URL, where
    the PaymentIntent is re-fetched before anything is applied.
    """
    payment = get_object_or_404(Payment, token=token, provider="stripe")
    if not payment.is_open:
        return _finished(request, payment)
    attempt = payment.attempts.exclude(provider_reference="").order_by("-number").first()
    provider = get_provider("stripe")
    if attempt is None or not provider.is_available():
        return redirect("payments:pay", token=payment.token)
    try:
        secret, status = provider.client_secret(attempt.provider_reference)  # type: ignore[attr-defined]
    except ProviderError:
        return redirect("payments:done", token=payment.token)
    if status in ("succeeded", "processing", "canceled", "requires_capture"):
        return redirect("payments:return", token=payment.token)
    return render(
        request,
        "payments/stripe_checkout.html",
        {
            "payment": payment,
            "client_secret": secret,
            "publishable_key": settings.STRIPE_PUBLISHABLE_KEY,
            "return_url": _return_url(request, payment),
        },
    )


@csrf_exempt
@require_POST
def webhook(request: HttpRequest, provider: str) -> HttpResponse:
    return webhooks.receive(provider, request)


# --- the payer's own page: reached only through a one-time link emailed to the address -------

PAYER_ACCESS_KEY = "payments.payer_access"
PAYER_SESSION_SECONDS = 3600
LINK_SENT = gettext_lazy(
    "Se a questo indirizzo corrispondono pagamenti, ti abbiamo scritto un link. Vale 30 "
    "minuti e si può usare una volta sola."
)
# Asking for links is cheap for an attacker and lands in someone's inbox: a few per address and
# per client an hour. Over the limit the answer is the same, and no email leaves.
_links_per_address = FailureLimiter("payer-link-address", limit=3, window_seconds=3600)
_links_per_client = FailureLimiter("payer-link-client", limit=20, window_seconds=3600)


def _payer_email(request: HttpRequest) -> str | None:
    """The address whose payments this browser may see (granted by an emailed link, for an hour)."""
    access = request.session.get(PAYER_ACCESS_KEY)
    if not isinstance(access, dict) or float(access.get("until", 0)) <= timezone.now().timestamp():
        return None
    return str(access.get("email", "")) or None


def _door(
    request: HttpRequest, *, form: PayerLinkForm | None = None, error: str = "", sent: bool = False, status: int = 200
) -> HttpResponse:
    return render(
        request,
        "payments/payer_door.html",
        {
            "form": form or PayerLinkForm(),
            "error": error,
            "sent": sent,
            "sent_message": LINK_SENT,
        },
        status=status,
    )


@require_http_methods(["GET", "POST"])
def payer_page(request: HttpRequest) -> HttpResponse:
    """GET: the payer's payments if an emailed link opened them in this browser, else the form.
    POST: email a one-time link to the address typed; the answer never says whether it has payments."""
    if request.method == "POST":
        form = PayerLinkForm(request.POST)
        if not form.is_valid():
            return _door(request, form=form, status=400)
        email = form.cleaned_data["email"].strip().lower()
        ip = client_ip(request)
        if _links_per_address.locked_until(email) is None and _links_per_client.locked_until(ip) is None:
            _links_per_address.fail(email)
            _links_per_client.fail(ip)
            devices_actions.request_payer_link(actor=request.user, email=email)
        return _door(request, sent=True)
    email = _payer_email(request)
    if email is None:
        return _door(request)
    payments = (
        Payment.objects.filter(payer_email__iexact=email)
        .exclude(state=State.CREATED)
        .annotate(refunded_cents=Sum("refunds__amount_cents", default=0))
        .order_by("-created_at")[:200]
    )
    schedules = list(RecurringSchedule.objects.filter(payer_email__iexact=email).order_by("-created_at"))
    for schedule in schedules:
        schedule.cancel_url = reverse("payments:cancel_schedule", args=[links.cancel_token(schedule.token)])  # type: ignore[attr-defined]
        schedule.resume_url = reverse("payments:payer_resume", args=[schedule.token])  # type: ignore[attr-defined]
    with transaction.atomic():
        record(
            "payments.payer_page",
            actor=request.user,
            kind=AuditKind.VIEW,
            data={"payments": [p.pk for p in payments], "schedules": [s.pk for s in schedules]},
        )
    return render(
        request,
        "payments/payer_page.html",
        {
            "email": email,
            "payments": payments,
            "schedules": schedules,
            "ScheduleState": ScheduleState,
        },
    )


@require_http_methods(["GET", "POST"])
def payer_access(request: HttpRequest, token: str) -> HttpResponse:
    """The emailed link. GET shows one button (mail scanners that pre-open links spend nothing);
    POST spends the link and lets this browser see the address's payments for an hour."""
    if request.method != "POST":
        return render(request, "payments/payer_access.html", {})
    try:
        email = devices_actions.open_payer_link(actor=request.user, raw=token)
    except ValidationError as exc:
        return _door(request, error=" ".join(exc.messages), status=403)
    request.session.cycle_key()
    request.session[PAYER_ACCESS_KEY] = {"email": email, "until": timezone.now().timestamp() + PAYER_SESSION_SECONDS}
    return redirect("payments:payer_page")


@require_POST
def payer_leave(request: HttpRequest) -> HttpResponse:
    request.session.pop(PAYER_ACCESS_KEY, None)
    return redirect("payments:payer_page")


def payer_page_by_address(request: HttpRequest, token: str) -> HttpResponse:
    """The old links made from the address alone (in emails sent before) open nothing any more."""
    return _door(
        request,
        error=_(
            "Per proteggere i tuoi dati, i tuoi pagamenti si aprono solo con un link che "
            "ti mandiamo via email e che vale una volta sola. Chiedilo qui sotto."
        ),
        status=403,
    )


@require_http_methods(["GET", "POST"])
def cancel_schedule(request: HttpRequest, token: str) -> HttpResponse:
    """One click from the email: the link opens this page whose single button cancels.

    Cancelling on GET alone would let mail scanners that pre-open links cancel gifts by mistake.
    """
    schedule_token = links.schedule_from_cancel_token(token)
    if schedule_token is None:
        return render(request, "payments/link_expired.html", status=403)
    schedule = get_object_or_404(RecurringSchedule, token=schedule_token)
    context: dict[str, Any] = {"schedule": schedule, "done": False}
    if request.method == "POST" and schedule.state != ScheduleState.CANCELED:
        schedule = recurring_actions.cancel_schedule(actor=request.user, schedule=schedule, via="email_link")
        context.update(schedule=schedule, done=True)
    elif schedule.state == ScheduleState.CANCELED:
        context["done"] = True
    context["payer_url"] = reverse("payments:payer_page")
    return render(request, "payments/cancel_schedule.html", context)


# --- a saved card on a new browser: the donor proves control of the address -------------------

DEVICE_LINK_SENT = gettext_lazy(
    "Se a questo indirizzo corrisponde una carta salvata, ti abbiamo scritto un link: "
    "aprilo da questo dispositivo entro 30 minuti."
)


def _local_path(value: str) -> str:
    return value if value.startswith("/") and url_has_allowed_host_and_scheme(value, allowed_hosts=set()) else "/"


@require_POST
def device_link_request(request: HttpRequest) -> HttpResponse:
    """Email a one-time link adding this browser to the card saved by the address typed; the
    answer is the same whether or not the address has one."""
    target = _local_path(str(request.POST.get("next", ""))[:200])
    form = PayerLinkForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Scrivi un indirizzo email valido."))
        return redirect(target)
    email = form.cleaned_data["email"].strip().lower()
    ip = client_ip(request)
    if _links_per_address.locked_until(email) is None and _links_per_client.locked_until(ip) is None:
        _links_per_address.fail(email)
        _links_per_client.fail(ip)
        devices_actions.request_device_link(actor=request.user, email=email, next_path=target)
    messages.info(request, DEVICE_LINK_SENT)
    return redirect(target)


@require_http_methods(["GET", "POST"])
def device_access(request: HttpRequest, token: str) -> HttpResponse:
    """The emailed link: GET shows one button (mail scanners spend nothing); POST spends the
    link and gives this browser a device token for the donor's saved card."""
    if request.method != "POST":
        return render(request, "payments/device_access.html", {})
    try:
        raw, next_path = devices_actions.open_device_link(
            actor=request.user, raw=token, label=devices.device_label(request.META.get("HTTP_USER_AGENT", ""))
        )
    except ValidationError as exc:
        return render(request, "payments/device_access.html", {"error": " ".join(exc.messages)}, status=403)
    messages.success(request, _("Fatto: da questo dispositivo puoi donare in un clic con la tua carta salvata."))
    response = redirect(_local_path(next_path))
    devices.set_device_cookie(response, raw)
    return response


# --- payer: resume a paused recurring gift from their page -----------------------------------


@require_POST
def payer_resume(request: HttpRequest, schedule_token: str) -> HttpResponse:
    email = _payer_email(request)
    if email is None:
        return _door(request, error=_("La sessione è scaduta: chiedi un nuovo link ai tuoi pagamenti."), status=403)
    schedule = get_object_or_404(RecurringSchedule, token=schedule_token, payer_email__iexact=email)
    try:
        recurring_actions.resume_schedule(actor=request.user, schedule=schedule, via="payer_link")
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, _("Donazione ricorrente ripresa: il prossimo addebito è previsto a breve."))
    return redirect("payments:payer_page")


# --- treasury: scoped lists (404 outside the territory), every view of personal data audited ---

treasury_required = official_required(roles=queries.TREASURY)


@treasury_required
@shows_personal_data("payments.treasury_list", audited_inline=True)
def treasury_payments(request: HttpRequest) -> HttpResponse:
    state = request.GET.get("stato", "")
    provider = request.GET.get("circuito", "")
    q = request.GET.get("q", "")[:100]
    payments = queries.treasury_payments(
        request.user, state=state if state in State.values else "", provider=provider, q=q
    )
    page = Paginator(payments, 50).get_page(request.GET.get("pagina"))
    duplicates = list(queries.treasury_duplicates(request.user)[:50])
    with transaction.atomic():
        record(
            "payments.treasury_list",
            actor=request.user,
            kind=AuditKind.VIEW,
            data={
                "state": state,
                "provider": provider,
                "q": q,
                "page": page.number,
                "payments": [p.pk for p in page.object_list],
                "duplicates": [d.payment_id for d in duplicates],
            },
        )
    return render(
        request,
        "payments/treasury_payments.html",
        {
            "page": page,
            "states": State.choices,
            "state": state,
            "provider": provider,
            "q": q,
            "providers": sorted({(p.identifier, str(p.verbose_name or p.identifier)) for p in all_providers()}),
            "duplicates": duplicates,
            "DuplicateState": DuplicateState,
        },
    )


@treasury_required
@shows_personal_data("payments.treasury_view", audited_inline=True)
def treasury_payment(request: HttpRequest, pk: int) -> HttpResponse:
    payment = get_object_or_404(
        Payment.objects.visible_to(request.user, queries.TREASURY).select_related("territory", "schedule"), pk=pk
    )
    with transaction.atomic():
        record(
            "payments.treasury_view", actor=request.user, obj=payment, territory=payment.territory, kind=AuditKind.VIEW
        )
    return render(
        request,
        "payments/treasury_payment.html",
        {
            "payment": payment,
            "events": payment.events.all(),
            "refunds": payment.refunds.all(),
            "disputes": payment.disputes.all(),
            "allocations": payment.allocations.select_related("account"),
            "duplicates": payment.duplicate_charges.all(),
            "DuplicateState": DuplicateState,
        },
    )


@treasury_required
@require_http_methods(["GET", "POST"])
def treasury_methods(request: HttpRequest) -> HttpResponse:
    """Issue 11 item 1: a treasurer chooses which payment methods the payers of a territory are offered.
    A choice holds for the territory and everything below it, unless a territory below decides otherwise."""
    territories = list(queries.treasury_territories(request.user))
    if not territories:
        raise Http404
    chosen = request.POST.get("territorio") or request.GET.get("territorio")
    territory = next((t for t in territories if str(t.pk) == chosen), territories[0])
    if request.method == "POST":
        try:
            methods_actions.set_territory_method(
                actor=request.user,
                territory=territory,
                provider=request.POST.get("provider", ""),
                enabled=request.POST.get("enabled") == "1",
            )
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
        else:
            messages.success(request, _("Fatto: la scelta vale per %(t)s e per i territori sotto.") % {"t": territory})
        return redirect(f"{reverse('payments:treasury_methods')}?territorio={territory.pk}")
    here = set(PaymentMethodSetting.objects.filter(territory=territory).values_list("provider", flat=True))
    switches = methods.territory_settings(territory)
    rows = [
        {
            "provider": provider.identifier,
            "label": methods.BY_KIND[kind].label
            if (kind := methods.method_kind(provider.identifier)) in methods.BY_KIND
            else provider.identifier,
            "name": getattr(provider, "verbose_name", provider.identifier),
            "offered": switches.get(provider.identifier, True),
            "set_here": provider.identifier in here,
            "configured": provider.is_available_for(territory, "EUR"),
        }
        for provider in all_providers()
    ]
    return render(
        request,
        "payments/treasury_methods.html",
        {"territories": territories, "territory": territory, "rows": rows},
    )


@treasury_required
@shows_personal_data("payments.treasury_schedules", audited_inline=True)
def treasury_schedules(request: HttpRequest) -> HttpResponse:
    page = Paginator(queries.treasury_schedules(request.user), 50).get_page(request.GET.get("pagina"))
    with transaction.atomic():
        record(
            "payments.treasury_schedules",
            actor=request.user,
            kind=AuditKind.VIEW,
            data={"page": page.number, "schedules": [s.pk for s in page.object_list]},
        )
    return render(request, "payments/treasury_schedules.html", {"page": page, "ScheduleState": ScheduleState})


@treasury_required
@require_POST
def treasury_resume(request: HttpRequest, pk: int) -> HttpResponse:
    schedule = get_object_or_404(RecurringSchedule.objects.visible_to(request.user, queries.TREASURY), pk=pk)
    try:
        recurring_actions.resume_schedule(actor=request.user, schedule=schedule, via="treasury")
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, _("Donazione ricorrente ripresa."))
    return redirect("payments:treasury_schedules")
