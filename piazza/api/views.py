"""Back office: an official creates, sees and revokes the API keys of their territory (issue 16)."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from piazza.api import actions
from piazza.api.forms import ApiKeyForm
from piazza.api.models import ApiKey
from piazza.territory.access import official_required
from piazza.territory.models import Territory
from piazza.territory.scoping import scope_paths


def _territories(user: Any) -> Any:
    condition = Q(pk__in=[])
    for path in scope_paths(user):
        condition |= Q(path__startswith=path)
    return Territory.objects.filter(condition, closed_at__isnull=True).order_by("path")


@official_required()
def keys(request: HttpRequest) -> HttpResponse:
    form = ApiKeyForm(request.POST or None, territories=_territories(request.user))
    token = None
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            _key, token = actions.create_api_key(
                actor=request.user,
                territory=data["territory"],
                name=data["name"],
                permissions=data["permissions"],
                expires_on=data["expires_on"],
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            form = ApiKeyForm(territories=_territories(request.user))
    listed = ApiKey.objects.visible_to(request.user).select_related("territory", "owner").order_by("-created_at")
    return render(
        request,
        "api/keys.html",
        {"form": form, "token": token, "keys": listed},
        status=400 if form.errors else 200,
    )


@require_POST
@official_required()
def revoke(request: HttpRequest, key_id: int) -> HttpResponse:
    key = get_object_or_404(ApiKey.objects.visible_to(request.user), pk=key_id)
    actions.revoke_api_key(actor=request.user, key=key)
    messages.success(request, _("Chiave «%(name)s» revocata: non funziona più.") % {"name": key.name})
    return redirect("api:keys")
