"""Every write to the territorial tree and to officials' roles (convention 1)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import transaction
from django.db.models import F, Value
from django.db.models.functions import Concat, Substr
from django.utils import timezone
from django.utils.translation import gettext as _
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from piazza.core.audit import Actor, acting_user, record
from piazza.core.errors import refuse
from piazza.territory.models import (
    KINDS_BY_LEVEL,
    LEVEL_ORDER,
    MANAGER_ROLES,
    Comune,
    Kind,
    Level,
    Role,
    RoleAssignment,
    Territory,
)
from piazza.territory.scoping import forget_scope, has_role_at, scope_paths


def child_level(parent: Territory) -> Level | None:
    """The level directly below `parent`, or None under a circolo."""
    index = LEVEL_ORDER.index(Level(parent.level))
    return LEVEL_ORDER[index + 1] if index + 1 < len(LEVEL_ORDER) else None


def _resolve_comuni(codes: Iterable[str], *, actor: Actor, action: str) -> list[Comune]:
    codes = [c.strip() for c in codes if c and c.strip()]
    found = {c.istat_code: c for c in Comune.objects.filter(istat_code__in=codes)}
    unknown = [c for c in codes if c not in found]
    if unknown:
        refuse(
            action,
            _("Codice ISTAT di comune sconosciuto: %(codes)s. Controlla il codice a 6 cifre nell'elenco ISTAT.")
            % {"codes": ", ".join(unknown)},
            actor=actor,
            code="unknown_comune",
            field="comuni",
        )
    return [found[c] for c in codes]


def _check_area(federation: Territory, comuni: list[Comune], *, actor: Actor, action: str) -> None:
    """A territorial circolo covers only comuni of its own federation."""
    outside = [c for c in comuni if c.federation_id != federation.pk]
    if outside:
        refuse(
            action,
            _(
                "%(comuni)s non appartiene alla %(federation)s: un circolo può coprire solo "
                "comuni della propria federazione."
            )
            % {"comuni": ", ".join(str(c) for c in outside), "federation": federation.name},
            actor=actor,
            territory=federation,
            code="comune_outside_federation",
            field="comuni",
        )


def create_territory(
    *,
    actor: Actor,
    parent: Territory,
    name: str,
    kind: str,
    comuni_codes: Iterable[str] = (),
    code: str = "",
) -> Territory:
    """Create a node below `parent`; the actor must manage `parent`'s subtree."""
    action = "territory.create"
    if not has_role_at(actor, parent, MANAGER_ROLES):
        refuse(
            action,
            _("Non hai un ruolo di organizzazione su %(node)s.") % {"node": parent},
            actor=actor,
            territory=parent,
            code="out_of_scope",
            permission=True,
        )
    if not parent.is_open:
        refuse(
            action,
            _("%(node)s è chiuso: non si possono aggiungere nodi.") % {"node": parent},
            actor=actor,
            territory=parent,
            code="closed_parent",
        )
    level = child_level(parent)
    if level is None or kind not in KINDS_BY_LEVEL[level]:
        refuse(
            action,
            _("Sotto %(parent)s (%(level)s) non si può creare un nodo di tipo «%(kind)s».")
            % {"parent": parent, "level": parent.get_level_display(), "kind": kind},
            actor=actor,
            territory=parent,
            code="wrong_level",
            field="kind",
        )
    name = name.strip()
    if not name:
        refuse(action, _("Il nome è obbligatorio."), actor=actor, territory=parent, code="required", field="name")
    if Territory.objects.filter(parent=parent, name__iexact=name).exists():
        refuse(
            action,
            _("Esiste già «%(name)s» sotto %(parent)s.") % {"name": name, "parent": parent},
            actor=actor,
            territory=parent,
            code="duplicate_name",
            field="name",
        )
    comuni = _resolve_comuni(comuni_codes, actor=actor, action=action)
    if comuni and kind != Kind.TERRITORIAL:
        refuse(
            action,
            _("Solo un circolo territoriale copre dei comuni."),
            actor=actor,
            territory=parent,
            code="area_not_territorial",
            field="comuni",
        )
    if comuni:
        _check_area(parent, comuni, actor=actor, action=action)
    with transaction.atomic():
        assert level is not None
        node = Territory(level=level, kind=kind, name=name, parent=parent, code=code)
        node.save()
        if comuni:
            node.comuni.set(comuni)
        record(
            action,
            actor=actor,
            obj=node,
            territory=node,
            data={"name": name, "kind": kind, "comuni": [c.istat_code for c in comuni]},
        )
    return node


def set_circolo_area(*, actor: Actor, circolo: Territory, comuni_codes: Iterable[str]) -> Territory:
    action = "territory.set_area"
    if not has_role_at(actor, circolo, MANAGER_ROLES):
        refuse(
            action,
            _("Non hai un ruolo di organizzazione su %(node)s.") % {"node": circolo},
            actor=actor,
            territory=circolo,
            code="out_of_scope",
            permission=True,
        )
    if circolo.kind != Kind.TERRITORIAL:
        refuse(
            action,
            _("Solo un circolo territoriale copre dei comuni."),
            actor=actor,
            territory=circolo,
            code="area_not_territorial",
            field="comuni",
        )
    comuni = _resolve_comuni(comuni_codes, actor=actor, action=action)
    assert circolo.parent is not None
    _check_area(circolo.parent, comuni, actor=actor, action=action)
    with transaction.atomic():
        before = sorted(circolo.comuni.values_list("istat_code", flat=True))
        circolo.comuni.set(comuni)
        record(
            action,
            actor=actor,
            obj=circolo,
            territory=circolo,
            data={"before": before, "after": sorted(c.istat_code for c in comuni)},
        )
    return circolo


def close_territory(*, actor: Actor, territory: Territory) -> Territory:
    action = "territory.close"
    if territory.parent is None or not has_role_at(actor, territory.parent, MANAGER_ROLES):
        refuse(
            action,
            _("Solo chi organizza il livello superiore può chiudere %(node)s.") % {"node": territory},
            actor=actor,
            territory=territory,
            code="out_of_scope",
            permission=True,
        )
    if territory.children.filter(closed_at__isnull=True).exists():
        refuse(
            action,
            _("%(node)s ha ancora nodi aperti al suo interno: chiudili o spostali prima.") % {"node": territory},
            actor=actor,
            territory=territory,
            code="has_open_children",
        )
    with transaction.atomic():
        territory.closed_at = timezone.now()
        territory.save(update_fields=["closed_at"])
        record(action, actor=actor, obj=territory, territory=territory)
    return territory


def move_territory(*, actor: Actor, node: Territory, new_parent: Territory) -> Territory:
    """Move `node` and its whole subtree under `new_parent` (e.g. a circolo to another federation).

    Scope is the materialised path, so every path of the subtree is rewritten in the same
    transaction as the parent: the new federation's officials gain the node and the old ones
    lose it at once. The actor must manage both the old and the new parent; the new parent must
    sit at the level above the node, be open and not lie inside the node's own subtree; a
    territorial circolo may only move where its comuni belong (its area is redrawn first).
    """
    action = "territory.move"
    old_parent = node.parent
    if old_parent is None:
        refuse(action, _("Il livello nazionale non si sposta."), actor=actor, territory=node, code="root")
    assert old_parent is not None
    for side in (old_parent, new_parent):
        if not has_role_at(actor, side, MANAGER_ROLES):
            refuse(
                action,
                _("Per spostare %(node)s serve un ruolo di organizzazione su %(side)s.") % {"node": node, "side": side},
                actor=actor,
                territory=side,
                code="out_of_scope",
                permission=True,
            )
    if new_parent.pk == old_parent.pk:
        return node
    if new_parent.is_within(node):
        refuse(
            action,
            _("Non si può spostare %(node)s dentro sé stesso.") % {"node": node},
            actor=actor,
            territory=node,
            code="cycle",
            field="parent",
        )
    if child_level(new_parent) != node.level:
        refuse(
            action,
            _("%(node)s (%(level)s) non può stare sotto %(parent)s (%(plevel)s).")
            % {
                "node": node,
                "level": node.get_level_display(),
                "parent": new_parent,
                "plevel": new_parent.get_level_display(),
            },
            actor=actor,
            territory=new_parent,
            code="wrong_level",
            field="parent",
        )
    if not new_parent.is_open:
        refuse(
            action,
            _("%(node)s è chiuso: non si possono aggiungere nodi.") % {"node": new_parent},
            actor=actor,
            territory=new_parent,
            code="closed_parent",
            field="parent",
        )
    if Territory.objects.filter(parent=new_parent, name__iexact=node.name).exists():
        refuse(
            action,
            _("Esiste già «%(name)s» sotto %(parent)s.") % {"name": node.name, "parent": new_parent},
            actor=actor,
            territory=new_parent,
            code="duplicate_name",
            field="parent",
        )
    if node.level == Level.CIRCOLO and new_parent.level == Level.FEDERATION:
        _check_area(new_parent, list(node.comuni.all()), actor=actor, action=action)
    with transaction.atomic():
        locked = Territory.objects.select_for_update().get(pk=node.pk)
        old_prefix = locked.path
        new_prefix = f"{new_parent.path}{locked.pk}/"
        delta = new_prefix.count("/") - old_prefix.count("/")
        moved = Territory.objects.filter(path__startswith=old_prefix)
        count = moved.count()
        list(moved.select_for_update().values_list("pk", flat=True))
        moved.update(path=Concat(Value(new_prefix), Substr("path", len(old_prefix) + 1)), depth=F("depth") + delta)
        Territory.objects.filter(pk=locked.pk).update(parent=new_parent)
        node.refresh_from_db()
        record(
            action,
            actor=actor,
            obj=node,
            territory=node,
            data={
                "from_parent": old_parent.pk,
                "from_parent_name": old_parent.name,
                "to_parent": new_parent.pk,
                "to_parent_name": new_parent.name,
                "old_path": old_prefix,
                "new_path": new_prefix,
                "nodes_moved": count,
            },
        )
    forget_scope(actor)
    return node


def assign_role(*, actor: Actor, user: Any, territory: Territory, role: str) -> RoleAssignment:
    """Roles are given only within the assigner's own subtree; administrators make administrators."""
    action = "role.assign"
    if role not in Role.values:
        refuse(
            action,
            _("Ruolo sconosciuto: %(role)s.") % {"role": role},
            actor=actor,
            territory=territory,
            code="unknown_role",
            field="role",
        )
    if not has_role_at(actor, territory, MANAGER_ROLES):
        own = ", ".join(str(t) for t in Territory.objects.filter(path__in=scope_paths(actor, MANAGER_ROLES))) or _(
            "nessuno"
        )
        refuse(
            action,
            _("Non puoi assegnare ruoli su %(node)s: il tuo ambito è %(own)s.") % {"node": territory, "own": own},
            actor=actor,
            territory=territory,
            code="above_own_node",
            permission=True,
        )
    if role == Role.ADMINISTRATOR and not has_role_at(actor, territory, {Role.ADMINISTRATOR}):
        refuse(
            action,
            _("Solo un amministratore può nominare un altro amministratore."),
            actor=actor,
            territory=territory,
            code="admin_only",
            permission=True,
        )
    if role == Role.PRIVACY_OFFICER:
        # Rule G5: the privacy officer answers for the whole party (data-subject requests board);
        # G4: a separate privilege, named by an administrator.
        if territory.level != Level.NATIONAL:
            refuse(
                action,
                _("Il responsabile privacy si nomina solo a livello nazionale."),
                actor=actor,
                territory=territory,
                code="privacy_officer_national",
                field="role",
            )
        if not has_role_at(actor, territory, {Role.ADMINISTRATOR}):
            refuse(
                action,
                _("Solo un amministratore nazionale può nominare il responsabile privacy."),
                actor=actor,
                territory=territory,
                code="admin_only",
                permission=True,
            )
    existing = RoleAssignment.objects.active().filter(user=user, territory=territory, role=role)
    if existing.exists():
        return existing.get()
    with transaction.atomic():
        assignment = RoleAssignment.objects.create(
            user=user, territory=territory, role=role, granted_by=acting_user(actor)
        )
        if role == Role.ADMINISTRATOR and territory.level == Level.NATIONAL and not user.is_staff:
            user.is_staff = True  # Django admin is for national administrators only
            user.save(update_fields=["is_staff"])
        record(
            action, actor=actor, obj=assignment, territory=territory, data={"user": user.get_username(), "role": role}
        )
    forget_scope(user)
    return assignment


def revoke_role(*, actor: Actor, assignment: RoleAssignment) -> RoleAssignment:
    action = "role.revoke"
    if not has_role_at(actor, assignment.territory, MANAGER_ROLES):
        refuse(
            action,
            _("Non puoi revocare ruoli fuori dal tuo ambito."),
            actor=actor,
            territory=assignment.territory,
            code="out_of_scope",
            permission=True,
        )
    with transaction.atomic():
        assignment.revoked_at = timezone.now()
        assignment.save(update_fields=["revoked_at"])
        record(
            action,
            actor=actor,
            obj=assignment,
            territory=assignment.territory,
            data={"user": assignment.user.get_username(), "role": assignment.role},
        )
    forget_scope(assignment.user)
    return assignment


# --- officials' second factor (rule G4): recovery codes and an administrator's reset -----------

BACKUP_CODES = 10


def issue_backup_codes(*, actor: Any, user: Any) -> list[str]:
    """One-time recovery codes for when the phone with the authenticator is lost: a new set
    replaces the old one (shown once, at enrolment or from the official's own page)."""
    codes = [StaticToken.random_token() for _i in range(BACKUP_CODES)]
    with transaction.atomic():
        static, _created = StaticDevice.objects.get_or_create(user=user, name=_("Codici di riserva"))
        static.token_set.all().delete()
        StaticToken.objects.bulk_create([StaticToken(device=static, token=code) for code in codes])
        record("auth.backup_codes_issued", actor=actor, data={"user": user.get_username(), "count": len(codes)})
    return codes


def reset_second_factor(*, actor: Any, user: Any) -> int:
    """An administrator whose scope holds every role of `user` removes their authenticator and
    recovery codes: at the next login the official must enrol again (web.otp_setup). Sessions
    verified with the removed devices stop being verified. Returns how many devices were removed."""
    action = "auth.otp_reset"
    assignments = list(RoleAssignment.objects.active().filter(user=user).select_related("territory"))
    if actor is None or getattr(actor, "pk", None) == user.pk:
        refuse(
            action,
            _("Non puoi azzerare la tua verifica in due passaggi: chiedilo a un altro amministratore."),
            actor=actor,
            code="own_account",
            permission=True,
        )
    outside = [a.territory for a in assignments if not has_role_at(actor, a.territory, {Role.ADMINISTRATOR})]
    if not assignments or outside:
        refuse(
            action,
            _("Solo un amministratore del territorio di questa persona può azzerare la sua verifica in due passaggi."),
            actor=actor,
            territory=outside[0] if outside else None,
            code="out_of_scope",
            permission=True,
        )
    with transaction.atomic():
        removed = 0
        for model in (TOTPDevice, StaticDevice):
            removed += model.objects.filter(user=user).count()
            model.objects.filter(user=user).delete()
        record(
            action,
            actor=actor,
            obj=user,
            territory=assignments[0].territory,
            data={"user": user.get_username(), "devices_removed": removed},
        )
    return removed
