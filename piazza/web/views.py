"""Public home, login with throttling, two-factor set-up and verification, the scoped dashboard."""

from __future__ import annotations

import datetime as dt
import io
from typing import Any

import qrcode
import qrcode.image.svg
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db import transaction
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse_lazy
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy
from django_otp import devices_for_user, match_token
from django_otp import login as otp_login
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from piazza.core.audit import record
from piazza.core.middleware import client_ip
from piazza.core.models import AuditEntry, AuditKind
from piazza.core.ratelimit import BackoffLimiter
from piazza.core.throttle import HitLimiter
from piazza.funding.queries import public_totals
from piazza.territory import actions as territory_actions
from piazza.territory.access import official_required
from piazza.territory.models import MANAGER_ROLES, Level, Role, Territory
from piazza.territory.scoping import is_official, scope_paths
from piazza.web.activity import area_choices
from piazza.web.forms import OTPCodeForm
from piazza.web.sections import dashboard_sections

# Per (username, client): a stranger elsewhere cannot lock an official out (issue 10, finding 12).
login_limiter = BackoffLimiter(
    "login",
    free=settings.LOGIN_FAILURE_LIMIT,
    base_seconds=settings.LOGIN_BACKOFF_BASE_SECONDS,
    cap_seconds=settings.LOGIN_LOCKOUT_SECONDS,
    memory_seconds=settings.LOGIN_FAILURE_MEMORY_SECONDS,
)
# Per client across usernames: one address trying many accounts (credential stuffing) is stopped.
login_client_limiter = BackoffLimiter(
    "login-client",
    free=settings.LOGIN_CLIENT_FAILURE_LIMIT,
    base_seconds=settings.LOGIN_CLIENT_BACKOFF_BASE_SECONDS,
    cap_seconds=settings.LOGIN_LOCKOUT_SECONDS,
    memory_seconds=settings.LOGIN_FAILURE_MEMORY_SECONDS,
)


def home(request: HttpRequest) -> HttpResponse:
    return render(request, "web/home.html", {"totals": public_totals()})


def transparency(request: HttpRequest) -> HttpResponse:
    """What is public today: every public campaign's money, from the same counters as its thermometer."""
    return render(request, "web/transparency.html", {"totals": public_totals()})


def _lockout_message(until: float) -> str:
    when = timezone.localtime(dt.datetime.fromtimestamp(until, tz=dt.UTC))
    return _(
        "Troppi tentativi di accesso non riusciti: per sicurezza puoi riprovare da qui alle "
        "%(time)s. Se hai dimenticato la password, usa «Password dimenticata?» qui sotto: ti "
        "mandiamo un link per sceglierne una nuova."
    ) % {"time": when.strftime("%H:%M:%S")}


class LoginView(auth_views.LoginView):
    """Django's login with growing delays per (username, client) and per client (rule G4).

    The client is `client_ip`, which believes X-Forwarded-For only from our own proxies.
    Nothing counts per username alone, so failures from elsewhere never lock the owner out.
    """

    template_name = "web/login.html"
    redirect_authenticated_user = True

    def _client(self) -> str:
        return client_ip(self.request)

    def _pair(self) -> str:
        username = str(self.request.POST.get("username", "")).strip().lower()[:150]
        return f"{username}\n{self._client()}"

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        waits = [
            until
            for until in (login_limiter.locked_until(self._pair()), login_client_limiter.locked_until(self._client()))
            if until
        ]
        if waits:
            form = self.get_form()
            form.errors.clear()
            form.add_error(None, _lockout_message(max(waits)))
            return self.render_to_response(self.get_context_data(form=form), status=429)
        return super().post(request, *args, **kwargs)

    def form_invalid(self, form: Any) -> HttpResponse:
        login_limiter.fail(self._pair())
        login_client_limiter.fail(self._client())
        with transaction.atomic():
            record(
                "auth.login_failed",
                actor=None,
                kind=AuditKind.DENIED,
                data={"username": str(self.request.POST.get("username", ""))[:150]},
            )
        return super().form_invalid(form)

    def form_valid(self, form: Any) -> HttpResponse:
        # The client's count across usernames stays: logging into one's own account between
        # guesses must not wipe the record of guessing at others.
        login_limiter.reset(self._pair())
        response = super().form_valid(form)
        with transaction.atomic():
            record("auth.login", actor=form.get_user(), kind=AuditKind.AUTH)
        return response

    def get_success_url(self) -> str:
        url = self.get_redirect_url()
        if url:
            return url
        user = self.request.user
        return _url("web:dashboard") if is_official(user) else _url("web:home")


def _url(name: str) -> str:
    from django.urls import reverse

    return reverse(name)


def _safe_next(request: HttpRequest) -> str:
    target = request.GET.get("next") or request.POST.get("next") or ""
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return target
    return _url("web:dashboard")


def _qr_svg(text: str) -> str:
    image = qrcode.make(text, image_factory=qrcode.image.svg.SvgPathImage, box_size=8)
    buffer = io.BytesIO()
    image.save(buffer)
    return buffer.getvalue().decode()


@login_required
def otp_setup(request: HttpRequest) -> HttpResponse:
    """First login of an official: scan a QR code, confirm one code, print backup codes."""
    user: Any = request.user
    if any(True for _d in devices_for_user(user, confirmed=True)):
        return redirect(f"{_url('web:otp_verify')}?next={_safe_next(request)}")
    device = TOTPDevice.objects.filter(user=user, confirmed=False).first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name=_("App di autenticazione"), confirmed=False)
    form = OTPCodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        throttled = _throttled_message(device)  # checked before the attempt counts as one
        if not throttled and device.verify_token(form.cleaned_data["code"]):
            with transaction.atomic():
                device.confirmed = True
                device.save(update_fields=["confirmed"])
                codes = territory_actions.issue_backup_codes(actor=user, user=user)
                record("auth.otp_setup", actor=user, kind=AuditKind.AUTH)
            otp_login(request, device)
            return render(request, "web/otp_backup_codes.html", {"codes": codes, "next": _safe_next(request)})
        form.add_error(
            "code",
            throttled
            or _(
                "Il codice non corrisponde. Controlla di aver inquadrato il QR più recente e che "
                "l'ora del telefono sia corretta, poi inserisci il codice che vedi adesso."
            ),
        )
    context = {
        "form": form,
        "qr_svg": _qr_svg(device.config_url),
        "secret": _base32(device.bin_key),
        "next": _safe_next(request),
    }
    return render(request, "web/otp_setup.html", context)


def _throttled_message(device: Any) -> str | None:
    """django-otp slows down guessing after each wrong code; say so instead of 'wrong code'."""
    allowed, _details = device.verify_is_allowed()
    if allowed:
        return None
    return _(
        "Dopo un codice sbagliato bisogna attendere qualche secondo: aspetta e inserisci il "
        "codice che l'app mostra in quel momento."
    )


def _base32(key: bytes) -> str:
    import base64

    return base64.b32encode(key).decode().rstrip("=")


@login_required
def otp_verify(request: HttpRequest) -> HttpResponse:
    user: Any = request.user
    if not any(True for _d in devices_for_user(user, confirmed=True)):
        return redirect(f"{_url('web:otp_setup')}?next={_safe_next(request)}")
    form = OTPCodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        throttled = next((m for d in devices_for_user(user, confirmed=True) if (m := _throttled_message(d))), None)
        device = match_token(user, form.cleaned_data["code"])  # skips throttled devices
        if device is not None:
            otp_login(request, device)
            with transaction.atomic():
                record("auth.otp_verified", actor=user, kind=AuditKind.AUTH)
                if isinstance(device, StaticDevice):  # a recovery code: each use is on record
                    record(
                        "auth.backup_code_used",
                        actor=user,
                        kind=AuditKind.AUTH,
                        data={"left": device.token_set.count()},
                    )
                    messages.warning(
                        request,
                        _(
                            "Sei entrato con un codice di riserva: te ne restano %(left)d. Se hai perso il telefono, "
                            "chiedi a un amministratore di azzerare la verifica in due passaggi, poi attivala di nuovo."
                        )
                        % {"left": device.token_set.count()},
                    )
            return redirect(_safe_next(request))
        with transaction.atomic():
            record("auth.otp_failed", actor=user, kind=AuditKind.DENIED)
        form.add_error(
            "code",
            throttled
            or _(
                "Codice non valido o scaduto. Inserisci le 6 cifre che l'app mostra adesso "
                "(cambiano ogni 30 secondi) oppure uno dei codici di riserva stampati."
            ),
        )
    return render(request, "web/otp_verify.html", {"form": form, "next": _safe_next(request)})


LEVEL_PLURALS = {
    Level.NATIONAL: _lazy("Livello nazionale"),
    Level.REGION: _lazy("Unioni regionali"),
    Level.FEDERATION: _lazy("Federazioni"),
    Level.CIRCOLO: _lazy("Circoli"),
}


def _grouped(entries: Any, limit: int) -> list[dict[str, Any]]:
    """Consecutive entries of the same person and action read as one line ("× 40")."""
    lines: list[dict[str, Any]] = []
    for entry in entries:
        if lines and lines[-1]["actor"] == entry.actor_label and lines[-1]["action"] == entry.action:
            lines[-1]["count"] += 1
            continue
        if len(lines) == limit:
            break
        lines.append({"at": entry.at, "actor": entry.actor_label, "action": entry.action, "count": 1})
    return lines


@official_required()
def dashboard(request: HttpRequest) -> HttpResponse:
    user: Any = request.user
    paths = scope_paths(user)
    roots = list(Territory.objects.filter(path__in=paths))
    counts = {
        row["level"]: row["n"]
        for row in Territory.objects.visible_to(user).open().values("level").annotate(n=Count("id"))
    }
    level_labels = [(LEVEL_PLURALS[level], counts.get(level.value, 0)) for level in Level]
    children = (
        Territory.objects.filter(parent__in=roots).open().order_by("name")
        if len(roots) == 1
        else Territory.objects.filter(pk__in=[r.pk for r in roots])
    )
    recent = _grouped(AuditEntry.objects.within_paths(paths).exclude(kind=AuditKind.VIEW)[:200], 12)
    context = {
        "roots": roots,
        "level_counts": level_labels,
        "children": children[:60],
        "children_total": children.count(),
        "recent": recent,
        "sections": dashboard_sections(user),
        "can_read_audit_log": bool(scope_paths(user, AUDIT_LOG_ROLES)),
        "roles": user.role_assignments.filter(revoked_at__isnull=True).select_related("territory"),
    }
    return render(request, "web/dashboard.html", context)


# A treasurer reads the money part of the log (issue 11 item 18: the dashboard's link answered 403).
MONEY_AREAS = ("ledger.", "payments.", "bank.", "funding.", "compliance.")
AUDIT_LOG_ROLES = {*MANAGER_ROLES, Role.TREASURY}


def _audit_entries(user: Any) -> Any:
    """Managers see every entry of their subtrees, treasurers the money entries of theirs; the
    national node also sees the entries attached to no territory."""
    manager_paths = scope_paths(user, MANAGER_ROLES)
    treasury_paths = scope_paths(user, {Role.TREASURY})
    money = Q()
    for prefix in MONEY_AREAS:
        money |= Q(action__startswith=prefix)
    if any(p.count("/") == 2 for p in manager_paths):
        return AuditEntry.objects.all()
    visible = AuditEntry.objects.within_paths(manager_paths)
    if any(p.count("/") == 2 for p in treasury_paths):
        return visible | AuditEntry.objects.filter(money)
    return visible | AuditEntry.objects.within_paths(treasury_paths).filter(money)


@official_required(roles=AUDIT_LOG_ROLES)
def audit_log(request: HttpRequest) -> HttpResponse:
    """The audit log of the official's subtree; read-only by construction."""
    user: Any = request.user
    entries = _audit_entries(user)
    kind = request.GET.get("kind", "")
    if kind in AuditKind.values:
        entries = entries.filter(kind=kind)
    action = request.GET.get("action", "").strip()
    if action:
        entries = entries.filter(action__startswith=action)
    page = Paginator(entries, 50).get_page(request.GET.get("page"))
    return render(
        request,
        "web/audit_log.html",
        {"page": page, "kinds": AuditKind.choices, "kind": kind, "action": action, "areas": area_choices()},
    )


def logout_view(request: HttpRequest) -> HttpResponse:
    from django.contrib.auth import logout

    if request.method == "POST":
        logout(request)
        messages.info(request, _("Sei uscito da piazza."))
    return redirect("web:home")


@official_required()
def backup_codes(request: HttpRequest) -> HttpResponse:
    """The official's own page for recovery codes: how many are left; a new set on request
    (the old ones stop working), shown once."""
    user: Any = request.user
    left = sum(d.token_set.count() for d in StaticDevice.objects.filter(user=user))
    if request.method == "POST":
        codes = territory_actions.issue_backup_codes(actor=user, user=user)
        return render(
            request, "web/otp_backup_codes.html", {"codes": codes, "next": _url("web:dashboard"), "regenerated": True}
        )
    return render(request, "web/otp_backup_codes_manage.html", {"left": left})


# --- "Password dimenticata?": Django's reset by emailed link; the second factor stays -------

reset_by_client = HitLimiter("password-reset-client", 10, 3600)
reset_by_address = HitLimiter("password-reset-address", 3, 3600)


class PasswordResetView(auth_views.PasswordResetView):
    """The same answer whatever the address; over the limits no email leaves. The link only sets
    a new password: the back office still asks for the second factor at the next login."""

    template_name = "web/password_reset_form.html"
    email_template_name = "web/email/password_reset.txt"
    subject_template_name = "web/email/password_reset_subject.txt"
    success_url = reverse_lazy("web:password_reset_done")

    def form_valid(self, form: Any) -> HttpResponse:
        address = str(form.cleaned_data["email"]).strip().lower()
        over = reset_by_address.over(address)
        over = reset_by_client.over(client_ip(self.request) or "unknown") or over
        with transaction.atomic():
            record("auth.password_reset_requested", actor=None, kind=AuditKind.AUTH, data={"throttled": over})
        if over:
            return redirect(self.get_success_url())
        return super().form_valid(form)


class PasswordResetDoneView(auth_views.PasswordResetDoneView):
    template_name = "web/password_reset_done.html"


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    template_name = "web/password_reset_confirm.html"
    success_url = reverse_lazy("web:password_reset_complete")
    post_reset_login = False  # a new password alone never opens the back office (rule G4)

    def form_valid(self, form: Any) -> HttpResponse:
        response = super().form_valid(form)
        with transaction.atomic():
            record("auth.password_reset", actor=form.user, kind=AuditKind.AUTH)
        return response


class PasswordResetCompleteView(auth_views.PasswordResetCompleteView):
    template_name = "web/password_reset_complete.html"
