"""Who may manage, approve and author campaigns."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _

from piazza.core.errors import refuse
from piazza.core.models import AuditEntry, AuditKind
from piazza.funding.models import (
    Campaign,
    CampaignStatus,
)
from piazza.territory.models import Role, Territory
from piazza.territory.scoping import has_role_at, scope_paths

# Officials who may run a campaign of their territory (besides its team).
CAMPAIGN_ROLES = {Role.ORGANISATION, Role.TREASURY, Role.COMMUNICATION, Role.ADMINISTRATOR}


# Officials who may approve a campaign of the level below.
APPROVER_ROLES = {Role.ORGANISATION, Role.TREASURY, Role.ADMINISTRATOR}


EDITABLE = {CampaignStatus.DRAFT, CampaignStatus.REJECTED}


CONTENT_EDITABLE = {
    CampaignStatus.DRAFT,
    CampaignStatus.REJECTED,
    CampaignStatus.SUBMITTED,
    CampaignStatus.APPROVED,
    CampaignStatus.LIVE,
}


def can_manage(user: Any, campaign: Campaign) -> bool:
    """The campaign's team, or an official of its territory (or above) with a campaign role."""
    if user is None or not getattr(user, "is_authenticated", False):
        return False
    if has_role_at(user, campaign.territory, CAMPAIGN_ROLES):
        return True
    return campaign.team.filter(user=user).exists()


def approver_level(campaign: Campaign) -> Territory:
    """Rule of the issue: approval comes from the level above (national approves itself)."""
    return campaign.territory.parent or campaign.territory


def can_approve(user: Any, campaign: Campaign) -> bool:
    """An approver role strictly above the campaign's level (a national campaign: another national official)."""
    paths = scope_paths(user, APPROVER_ROLES)
    node = campaign.territory
    if node.parent is None:
        return node.path in paths and campaign.created_by_id != getattr(user, "pk", None)
    return any(node.path.startswith(p) and p != node.path for p in paths)


# Writes on a campaign that make their author one of its makers: a maker may not approve it (four eyes).
AUTHORING_ACTIONS = (
    "funding.create_campaign",
    "funding.update_campaign",
    "funding.submit_campaign",
    "funding.add_budget_line",
    "funding.add_faq",
    "funding.add_image",
    "funding.set_splits",
    "funding.add_team_member",
)


def is_author(user: Any, campaign: Campaign) -> bool:
    """Whoever created, edited or submitted the campaign, or sits on its team."""
    pk = getattr(user, "pk", None)
    if pk is None:
        return False
    if campaign.created_by_id == pk or campaign.team.filter(user_id=pk).exists():
        return True
    return AuditEntry.objects.filter(
        object_type=Campaign._meta.label_lower,
        object_id=str(campaign.pk),
        actor_id=pk,
        kind=AuditKind.WRITE,
        action__in=AUTHORING_ACTIONS,
    ).exists()


def _require_manage(action: str, actor: Any, campaign: Campaign) -> None:
    if not can_manage(actor, campaign):
        refuse(
            action,
            _("Non fai parte della squadra di questa raccolta né hai un ruolo su %(t)s.") % {"t": campaign.territory},
            actor=actor,
            territory=campaign.territory,
            code="out_of_scope",
            permission=True,
        )
