"""Matching pools and fundraising pages."""

from __future__ import annotations

import secrets
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify
from django.utils.translation import gettext as _

from piazza.core.audit import record
from piazza.core.errors import refuse, refusing
from piazza.core.money import Money
from piazza.funding.models import (
    Campaign,
    CampaignStatus,
    FundraisingPage,
    FundraisingTeam,
    MatchingPool,
    ModerationStatus,
)
from piazza.ledger.accounts import get_account
from piazza.ledger.actions import post_transaction
from piazza.ledger.models import Cause
from piazza.people.actions.person import find_or_create_person
from piazza.people.models import Source
from piazza.territory.models import Role, Territory
from piazza.territory.scoping import has_role_at

from ._pool_funds import _pool_account
from .permissions import _require_manage

# --- Matching pools -------------------------------------------------------------------------

POOL_ROLES = {Role.TREASURY, Role.ADMINISTRATOR}


def open_pool(
    *,
    actor: Any,
    territory: Territory,
    name: str,
    budget_cents: int,
    eligible_root: Territory | None = None,
    **rules: Any,
) -> MatchingPool:
    """A territory commits part of its funds to match gifts; the budget moves to the pool account."""
    action = "funding.open_pool"
    if not has_role_at(actor, territory, POOL_ROLES):
        refuse(
            action,
            _("Apre un fondo di co-finanziamento solo la tesoreria di %(t)s.") % {"t": territory},
            actor=actor,
            territory=territory,
            code="out_of_scope",
            permission=True,
        )
    root = eligible_root or territory
    if not root.path.startswith(territory.path):
        refuse(
            action,
            _("Un fondo può co-finanziare solo raccolte del proprio territorio."),
            actor=actor,
            territory=territory,
            code="eligible_root",
            field="eligible_root",
        )
    if budget_cents <= 0:
        refuse(
            action,
            _("Il budget deve essere maggiore di zero."),
            actor=actor,
            territory=territory,
            code="budget",
            field="budget",
        )
    with transaction.atomic():
        pool = MatchingPool.objects.create(
            territory=territory,
            name=name.strip(),
            budget_cents=budget_cents,
            eligible_root=root,
            created_by=actor,
            **rules,
        )
        money = Money(budget_cents, pool.currency)
        post_transaction(
            actor=actor,
            cause=Cause.TRANSFER,
            memo=f"Fondo di co-finanziamento: {pool.name}"[:255],
            entries=[(get_account("territory", territory=territory), money), (_pool_account(pool), -money)],
            idempotency_key=f"pool:{pool.pk}:open",
            about=pool,
            audit=False,
        )
        record(
            action,
            actor=actor,
            obj=pool,
            territory=territory,
            data={"budget_cents": budget_cents, "rules": {k: str(v) for k, v in rules.items()}},
        )
    return pool


# --- Peer-to-peer pages ---------------------------------------------------------------------


def create_fundraising_page(
    *,
    campaign: Campaign,
    first_name: str,
    last_name: str,
    email: str,
    display_name: str,
    title: str,
    story: str,
    goal_cents: int,
    team_name: str = "",
) -> FundraisingPage:
    """A supporter's page for a live campaign; it stays hidden until the team approves it."""
    action = "funding.create_fundraising_page"
    if campaign.status != CampaignStatus.LIVE:
        refuse(
            action,
            _("Si può creare una pagina solo per una raccolta attiva."),
            actor=None,
            territory=campaign.territory,
            code="closed",
        )
    with refusing(action, None, campaign.territory), transaction.atomic():  # the people app may refuse
        person = find_or_create_person(
            actor=None,
            source=Source.DONATION,
            data={"first_name": first_name, "last_name": last_name, "emails": [email]},
            circolo=None,
        )
        team = None
        if team_name.strip():
            team, _new = FundraisingTeam.objects.get_or_create(
                campaign=campaign, slug=slugify(team_name)[:80] or "squadra", defaults={"name": team_name.strip()}
            )
        base = slugify(f"{display_name}-{campaign.slug}")[:70] or "pagina"
        page = FundraisingPage.objects.create(
            campaign=campaign,
            team=team,
            person=person,
            slug=f"{base}-{secrets.token_hex(3)}",
            display_name=display_name.strip(),
            title=title.strip(),
            story=story.strip(),
            goal_cents=goal_cents,
            manage_token=secrets.token_urlsafe(32),
        )
        record(action, actor=None, obj=page, territory=campaign.territory, data={"title": page.title})
    return page


def moderate_page(*, actor: Any, page: FundraisingPage, approve: bool, reason: str = "") -> FundraisingPage:
    action = "funding.moderate_page"
    _require_manage(action, actor, page.campaign)
    if not approve and len(reason.strip()) < 5:
        refuse(
            action,
            _("Scrivi perché la pagina non può essere pubblicata."),
            actor=actor,
            territory=page.campaign.territory,
            code="reason",
            field="reason",
        )
    with transaction.atomic():
        page.status = ModerationStatus.APPROVED if approve else ModerationStatus.REJECTED
        page.rejection_reason = "" if approve else reason.strip()[:250]
        page.moderated_by = actor
        page.moderated_at = timezone.now()
        page.save(update_fields=["status", "rejection_reason", "moderated_by", "moderated_at"])
        record(
            action,
            actor=actor,
            obj=page,
            territory=page.campaign.territory,
            data={"approved": approve, "reason": page.rejection_reason},
        )
    return page
