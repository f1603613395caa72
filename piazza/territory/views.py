"""Back-office pages to browse and manage the tree below the official's node."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from piazza.core.audit import record
from piazza.core.models import AuditKind
from piazza.territory import actions
from piazza.territory.access import official_required
from piazza.territory.forms import AreaForm, RoleForm, TerritoryForm
from piazza.territory.models import (
    KINDS_BY_LEVEL,
    MANAGER_ROLES,
    Kind,
    Level,
    Role,
    RoleAssignment,
    Territory,
)
from piazza.territory.scoping import has_role_at, path_in_scope, scope_paths


def _visible(request: HttpRequest, pk: int) -> Territory:
    """404, not 403, outside the scope: another circolo's existence is not disclosed."""
    return get_object_or_404(Territory.objects.visible_to(request.user), pk=pk)


def _apply_errors(form: Any, error: ValidationError) -> None:
    if hasattr(error, "error_dict"):
        for field, errs in error.error_dict.items():
            for err in errs:
                form.add_error(field if field in form.fields else None, err)
    else:
        for message in error.messages:
            form.add_error(None, message)


@official_required()
def detail(request: HttpRequest, pk: int) -> HttpResponse:
    node = _visible(request, pk)
    can_manage = has_role_at(request.user, node, MANAGER_ROLES)
    paths = scope_paths(request.user)
    roles = list(RoleAssignment.objects.active().filter(territory=node).select_related("user"))
    if roles:  # officials' names are personal data: the view is logged (rule G4)
        record(
            "territory.view_officials",
            actor=request.user,
            obj=node,
            territory=node,
            kind=AuditKind.VIEW,
            data={"officials": sorted({r.user_id for r in roles})},
        )
    context: dict[str, Any] = {
        "node": node,
        # Issue 11 item 18: higher levels outside the official's scope are named, not linked (a
        # link would answer 404).
        "ancestors": [(a, path_in_scope(a.path, paths)) for a in node.ancestors() if a.pk != node.pk],
        "children": node.children.order_by("closed_at", "name"),
        "comuni": node.comuni.order_by("name")
        if node.level == Level.CIRCOLO
        else node.comuni_served.order_by("name")[:400],
        "roles": roles,
        "can_manage": can_manage,
        "can_reset_2fa": has_role_at(request.user, node, {Role.ADMINISTRATOR}),
        "can_add_child": can_manage and node.level != Level.CIRCOLO and node.is_open,
    }
    return render(request, "territory/detail.html", context)


@official_required(roles=MANAGER_ROLES)
def create_child(request: HttpRequest, pk: int) -> HttpResponse:
    parent = _visible(request, pk)
    level = actions.child_level(parent)
    if level is None:
        return redirect("territory:detail", pk=parent.pk)
    kinds = sorted(KINDS_BY_LEVEL[level])
    form = TerritoryForm(
        request.POST or None, kinds=kinds, initial={"kind": Kind.TERRITORIAL if level == Level.CIRCOLO else kinds[0]}
    )
    if request.method == "POST" and form.is_valid():
        try:
            node = actions.create_territory(
                actor=request.user,
                parent=parent,
                name=form.cleaned_data["name"],
                kind=form.cleaned_data["kind"],
                comuni_codes=form.comuni_codes(),
            )
        except ValidationError as error:
            _apply_errors(form, error)
        else:
            messages.success(request, _("%(node)s creato.") % {"node": node})
            return redirect("territory:detail", pk=node.pk)
    return render(request, "territory/form.html", {"form": form, "parent": parent, "level": level.label})


@official_required(roles=MANAGER_ROLES)
def edit_area(request: HttpRequest, pk: int) -> HttpResponse:
    circolo = _visible(request, pk)
    initial = {"comuni": ", ".join(circolo.comuni.values_list("istat_code", flat=True))}
    form = AreaForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        codes = [c.strip() for c in form.cleaned_data["comuni"].split(",") if c.strip()]
        try:
            actions.set_circolo_area(actor=request.user, circolo=circolo, comuni_codes=codes)
        except ValidationError as error:
            _apply_errors(form, error)
        else:
            messages.success(request, _("Area del circolo aggiornata."))
            return redirect("territory:detail", pk=circolo.pk)
    return render(request, "territory/area_form.html", {"form": form, "node": circolo})


@official_required(roles=MANAGER_ROLES)
def close(request: HttpRequest, pk: int) -> HttpResponse:
    node = _visible(request, pk)
    if request.method == "POST":
        try:
            actions.close_territory(actor=request.user, territory=node)
        except ValidationError as error:
            for message in error.messages:
                messages.error(request, message)
        else:
            messages.success(request, _("%(node)s chiuso.") % {"node": node})
    return redirect("territory:detail", pk=node.pk)


@official_required(roles=MANAGER_ROLES)
def assign_role(request: HttpRequest, pk: int) -> HttpResponse:
    node = _visible(request, pk)
    form = RoleForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            actions.assign_role(
                actor=request.user, user=form.cleaned_data["username"], territory=node, role=form.cleaned_data["role"]
            )
        except ValidationError as error:
            _apply_errors(form, error)
        else:
            messages.success(request, _("Ruolo assegnato."))
            return redirect("territory:detail", pk=node.pk)
    return render(request, "territory/role_form.html", {"form": form, "node": node})


@require_POST
@official_required(roles={Role.ADMINISTRATOR})
def reset_second_factor(request: HttpRequest, pk: int, user_pk: int) -> HttpResponse:
    """Rule G4, issue 12: the official lost the phone with the authenticator. An administrator
    of their territory removes it; at the next login they enrol again (audited)."""
    node = _visible(request, pk)
    assignment = RoleAssignment.objects.active().select_related("user").filter(territory=node, user_id=user_pk).first()
    if assignment is None:
        raise Http404
    try:
        actions.reset_second_factor(actor=request.user, user=assignment.user)
    except PermissionDenied as denied:
        messages.error(request, str(denied))
    else:
        messages.success(
            request,
            _(
                "Verifica in due passaggi azzerata: al prossimo accesso %(name)s dovrà attivarla "
                "di nuovo con il telefono."
            )
            % {"name": assignment.user.get_full_name() or assignment.user.get_username()},
        )
    return redirect("territory:detail", pk=node.pk)
