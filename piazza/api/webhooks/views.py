"""Back office: an official's webhooks, next to the API keys (issue 16). Scoped like the keys:
another territory's subscription answers 404."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from piazza.api.webhooks import actions
from piazza.api.webhooks.delivery import pause_after
from piazza.api.webhooks.forms import SubscriptionForm
from piazza.api.webhooks.models import WebhookDelivery, WebhookSubscription
from piazza.territory.access import official_required
from piazza.territory.models import Territory
from piazza.territory.scoping import scope_paths

LOG_LENGTH = 200


def _territories(user: Any) -> Any:
    condition = Q(pk__in=[])
    for path in scope_paths(user):
        condition |= Q(path__startswith=path)
    return Territory.objects.filter(condition, closed_at__isnull=True).order_by("path")


def _mine(request: HttpRequest, subscription_id: int) -> WebhookSubscription:
    return get_object_or_404(
        WebhookSubscription.objects.visible_to(request.user).select_related("territory", "owner"), pk=subscription_id
    )


@official_required()
def subscriptions(request: HttpRequest) -> HttpResponse:
    form = SubscriptionForm(request.POST or None, territories=_territories(request.user))
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            subscription, secret = actions.create_subscription(
                actor=request.user,
                territory=data["territory"],
                target_url=data["target_url"],
                events=data["events"],
                permissions=data["permissions"],
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            return render(request, "api/webhook_secret.html", {"subscription": subscription, "secret": secret})
    listed = WebhookSubscription.objects.visible_to(request.user).select_related("territory", "owner")
    return render(
        request,
        "api/webhooks.html",
        {"form": form, "subscriptions": listed},
        status=400 if form.errors else 200,
    )


@official_required()
def detail(request: HttpRequest, subscription_id: int) -> HttpResponse:
    subscription = _mine(request, subscription_id)
    deliveries = WebhookDelivery.objects.filter(subscription=subscription).order_by("-id")[:LOG_LENGTH]
    return render(
        request,
        "api/webhook_detail.html",
        {"subscription": subscription, "deliveries": deliveries, "pause_after": pause_after()},
    )


@require_POST
@official_required()
def rotate(request: HttpRequest, subscription_id: int) -> HttpResponse:
    subscription = _mine(request, subscription_id)
    secret = actions.rotate_secret(actor=request.user, subscription=subscription)
    return render(request, "api/webhook_secret.html", {"subscription": subscription, "secret": secret, "rotated": True})


@require_POST
@official_required()
def pause(request: HttpRequest, subscription_id: int) -> HttpResponse:
    actions.pause(actor=request.user, subscription=_mine(request, subscription_id))
    messages.success(request, _("Webhook sospeso: nessuna consegna finché non lo riattivi."))
    return redirect("api:webhook", subscription_id)


@require_POST
@official_required()
def resume(request: HttpRequest, subscription_id: int) -> HttpResponse:
    actions.resume(actor=request.user, subscription=_mine(request, subscription_id))
    messages.success(request, _("Webhook riattivato: le consegne in attesa ripartono ora."))
    return redirect("api:webhook", subscription_id)


@require_POST
@official_required()
def delete(request: HttpRequest, subscription_id: int) -> HttpResponse:
    subscription = _mine(request, subscription_id)
    actions.delete_subscription(actor=request.user, subscription=subscription)
    messages.success(
        request, _("Webhook eliminato: %(url)s non riceverà più nulla.") % {"url": subscription.target_url}
    )
    return redirect("api:webhooks")


@require_POST
@official_required()
def redeliver(request: HttpRequest, subscription_id: int, delivery_id: int) -> HttpResponse:
    subscription = _mine(request, subscription_id)
    delivery = get_object_or_404(WebhookDelivery, pk=delivery_id, subscription=subscription)
    actions.redeliver(actor=request.user, delivery=delivery)
    messages.success(request, _("Consegna rimessa in coda: la trovi in cima al registro."))
    return redirect("api:webhook", subscription_id)
