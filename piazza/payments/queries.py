"""Reads of payments for the treasury: the dashboard glance and the scoped lists."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Q, QuerySet
from django.utils.translation import gettext as _

from piazza.payments.models import (
    DuplicateCharge,
    MethodDevice,
    Payment,
    RecurringSchedule,
    ScheduleState,
    State,
    WebhookEvent,
    WebhookStatus,
    token_digest,
)
from piazza.territory.models import Role, Territory
from piazza.territory.scoping import has_role_at, scope_paths

TREASURY = {Role.TREASURY}


def sees_everything(user: Any) -> bool:
    """National treasury: the only officials who see webhooks (they name no territory)."""
    national = Territory.objects.filter(parent__isnull=True).first()
    return national is not None and has_role_at(user, national, TREASURY)


def treasury_payments(user: Any, *, state: str = "", provider: str = "", q: str = "") -> QuerySet[Payment]:
    payments = Payment.objects.visible_to(user, TREASURY).select_related("territory")
    if state:
        payments = payments.filter(state=state)
    if provider:
        payments = payments.filter(provider=provider)
    if q:
        term = q.strip()
        match = Q(payer_name__icontains=term) | Q(payer_email__iexact=term) | Q(description__icontains=term)
        if term.isdigit():
            match |= Q(pk=int(term))
        payments = payments.filter(match)
    return payments.order_by("-created_at", "-id")


def treasury_duplicates(user: Any) -> QuerySet[DuplicateCharge]:
    """Second charges of paid payments in the treasurer's scope (issue 10, finding 7), newest first."""
    return (
        DuplicateCharge.objects.filter(payment__in=Payment.objects.visible_to(user, TREASURY))
        .select_related("payment")
        .order_by("-created_at", "-id")
    )


def treasury_territories(user: Any) -> QuerySet[Territory]:
    """Where a treasurer decides the payment methods: their own territories and the ones just below."""
    paths = scope_paths(user, TREASURY)
    if not paths:
        return Territory.objects.none()
    return Territory.objects.filter(Q(path__in=paths) | Q(parent__path__in=paths), closed_at__isnull=True).order_by(
        "path"
    )


def treasury_schedules(user: Any) -> QuerySet[RecurringSchedule]:
    """Paused first (they need a decision), then active, then canceled."""
    from django.db.models import Case, IntegerField, Value, When

    order = Case(
        When(state=ScheduleState.PAUSED, then=Value(0)),
        When(state=ScheduleState.ACTIVE, then=Value(1)),
        default=Value(2),
        output_field=IntegerField(),
    )
    return (
        RecurringSchedule.objects.visible_to(user, TREASURY)
        .select_related("territory", "saved_method")
        .annotate(rank=order)
        .order_by("rank", "next_charge_on", "-id")
    )


def dashboard_section(user: Any) -> tuple[str, dict[str, Any]] | None:
    """The treasurer's glance: payments stuck or failed, unmatched webhooks, paused schedules."""
    if not scope_paths(user, TREASURY):
        return None
    counts = Payment.objects.visible_to(user, TREASURY).aggregate(
        pending=Count("id", filter=Q(state=State.PENDING)),
        failed=Count("id", filter=Q(state=State.FAILED)),
        disputed=Count("id", filter=Q(state=State.DISPUTED)),
    )
    unmatched = None
    if sees_everything(user):
        unmatched = WebhookEvent.objects.filter(status__in=[WebhookStatus.UNMATCHED, WebhookStatus.FAILED]).count()
    return "payments/_dashboard.html", {
        **counts,
        "paused": RecurringSchedule.objects.visible_to(user, TREASURY).filter(state=ScheduleState.PAUSED).count(),
        "unmatched": unmatched,
        "admin_link": bool(getattr(user, "is_staff", False)) and unmatched is not None,
        "title": _("Pagamenti"),
    }


def device_for_token(raw: str) -> MethodDevice | None:
    """The live device of a browser's token, with its method; never a revoked one (convention 16)."""
    if not raw or len(raw) > 200:
        return None
    return (
        MethodDevice.objects.select_related("method", "method__payer")
        .filter(token_hash=token_digest(raw), revoked_at__isnull=True)
        .first()
    )


def payer_has_payments(email: str) -> bool:
    return (
        Payment.objects.filter(payer_email__iexact=email).exclude(state=State.CREATED).exists()
        or RecurringSchedule.objects.filter(payer_email__iexact=email).exists()
    )
