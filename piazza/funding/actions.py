"""Every write of the funding app (convention 1).

Campaigns: create, edit, the approval workflow, budget lines, images, updates, FAQ, splits,
team. Donations: submission, payment outcomes, matching, refunds, settlement (further down).

Workflow: draft → submitted → approved (by an official of the level above) or rejected with
a reason (back to editable) → live → ended → settled.
"""

from __future__ import annotations

import datetime as dt
import random
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.db.models import F, Max
from django.urls import reverse
from django.utils import timezone
from django.utils.text import slugify
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from piazza.compliance.rules import (
    ATTESTATION_VERSION,
    admit_contribution,
    annual_total_cents,
    check_annual_cap,
    lock_contributor,
    may_accept,
    missing_attestations,
    rules_on,
)
from piazza.core.audit import record
from piazza.core.errors import refuse, refusing
from piazza.core.i18n import deferred
from piazza.core.models import AuditEntry, AuditKind
from piazza.core.money import Money, format_eur
from piazza.core.tasks import enqueue_on_commit
from piazza.funding.content import ImageRefused, render_markdown, resize_image
from piazza.funding.matching import PoolRules, PoolState, match_for_gift, preview_matches, top_up_for_campaign
from piazza.funding.models import (
    COUNTER_SLOTS,
    FAQ,
    SMALL_GIFT_CENTS,
    BudgetLine,
    Campaign,
    CampaignCounter,
    CampaignImage,
    CampaignKind,
    CampaignOutcome,
    CampaignStatus,
    CampaignUpdate,
    Donation,
    DonationStatus,
    Frequency,
    FundingModel,
    FundraisingPage,
    FundraisingTeam,
    MatchingPool,
    MatchStatus,
    ModerationStatus,
    PoolMatch,
    PoolMode,
    SplitShare,
    TeamMember,
    TeamRole,
    UpdateSubscription,
)
from piazza.funding.queries import forget_thermometer
from piazza.funding.tasks import tell_donor_over_limit
from piazza.ledger.accounts import get_account
from piazza.ledger.actions import post_transaction, reverse_transaction
from piazza.ledger.models import Account, Cause, LedgerTransaction
from piazza.payments import actions as payments
from piazza.payments.actions import charge_saved_method
from piazza.payments.providers.registry import get_provider
from piazza.people.actions import add_timeline_entry, find_or_create_person
from piazza.people.codice_fiscale import canonical_codice_fiscale
from piazza.people.models import Person, Source
from piazza.territory.models import Comune, Role, Territory
from piazza.territory.scoping import has_role_at, scope_paths

# Officials who may run a campaign of their territory (besides its team).
CAMPAIGN_ROLES = {Role.ORGANISATION, Role.TREASURY, Role.COMMUNICATION, Role.ADMINISTRATOR}
# Officials who may approve a campaign of the level below.
APPROVER_ROLES = {Role.ORGANISATION, Role.TREASURY, Role.ADMINISTRATOR}
EDITABLE = {CampaignStatus.DRAFT, CampaignStatus.REJECTED}
CONTENT_EDITABLE = {CampaignStatus.DRAFT, CampaignStatus.REJECTED, CampaignStatus.SUBMITTED,
                    CampaignStatus.APPROVED, CampaignStatus.LIVE}


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
AUTHORING_ACTIONS = ("funding.create_campaign", "funding.update_campaign", "funding.submit_campaign",
                     "funding.add_budget_line", "funding.add_faq", "funding.add_image", "funding.set_splits",
                     "funding.add_team_member")


def is_author(user: Any, campaign: Campaign) -> bool:
    """Whoever created, edited or submitted the campaign, or sits on its team."""
    pk = getattr(user, "pk", None)
    if pk is None:
        return False
    if campaign.created_by_id == pk or campaign.team.filter(user_id=pk).exists():
        return True
    return AuditEntry.objects.filter(object_type=Campaign._meta.label_lower, object_id=str(campaign.pk),
                                     actor_id=pk, kind=AuditKind.WRITE, action__in=AUTHORING_ACTIONS).exists()


def _require_manage(action: str, actor: Any, campaign: Campaign) -> None:
    if not can_manage(actor, campaign):
        refuse(action, _("Non fai parte della squadra di questa raccolta né hai un ruolo su %(t)s.")
               % {"t": campaign.territory}, actor=actor, territory=campaign.territory,
               code="out_of_scope", permission=True)


def _unique_slug(title: str) -> str:
    base = slugify(title)[:60] or "raccolta"
    slug = base
    while Campaign.objects.filter(slug=slug).exists():
        slug = f"{base}-{secrets.token_hex(2)}"
    return slug


def _validate_fields(action: str, actor: Any, territory: Territory, fields: dict[str, Any]) -> None:
    goal = fields.get("goal_cents")
    minimum = fields.get("minimum_cents")
    deadline = fields.get("deadline")
    if goal is not None and goal <= 0:
        refuse(action, _("L'obiettivo deve essere maggiore di zero."), actor=actor, territory=territory,
               code="goal", field="goal")
    if minimum is not None and goal is not None and minimum > goal:
        refuse(action, _("Il minimo da raggiungere non può superare l'obiettivo."), actor=actor,
               territory=territory, code="minimum", field="minimum")
    if fields.get("funding_model") == FundingModel.ALL_OR_NOTHING and goal is not None and minimum is None:
        fields["minimum_cents"] = goal
    if deadline is not None and deadline <= timezone.now():
        refuse(action, _("La scadenza deve essere nel futuro."), actor=actor, territory=territory,
               code="deadline", field="deadline")
    kind = fields.get("kind")
    candidacy = fields.get("candidacy")
    if kind == CampaignKind.CANDIDATE and candidacy is None:
        refuse(action, _("Una raccolta per una candidatura deve indicare la candidatura e il suo mandatario."),
               actor=actor, territory=territory, code="candidacy", field="candidacy")
    if candidacy is not None and not candidacy.territory.path.startswith(territory.path) \
            and not territory.path.startswith(candidacy.territory.path):
        refuse(action, _("La candidatura appartiene a un altro territorio."), actor=actor, territory=territory,
               code="candidacy_territory", field="candidacy")


def create_campaign(*, actor: Any, territory: Territory, title: str, summary: str, goal_cents: int,
                    deadline: dt.datetime, kind: str = CampaignKind.PROJECT,
                    funding_model: str = FundingModel.KEEP_IT_ALL, minimum_cents: int | None = None,
                    story_markdown: str = "", candidacy: Any = None, presets_cents: list[int] | None = None,
                    min_gift_cents: int = 200, allow_monthly: bool = True, title_en: str = "",
                    summary_en: str = "") -> Campaign:
    action = "funding.create_campaign"
    if not has_role_at(actor, territory, CAMPAIGN_ROLES):
        refuse(action, _("Non hai un ruolo su %(t)s per aprire una raccolta.") % {"t": territory},
               actor=actor, territory=territory, code="out_of_scope", permission=True)
    fields: dict[str, Any] = {"goal_cents": goal_cents, "minimum_cents": minimum_cents, "deadline": deadline,
                              "kind": kind, "candidacy": candidacy, "funding_model": funding_model}
    _validate_fields(action, actor, territory, fields)
    with transaction.atomic():
        campaign = Campaign.objects.create(
            territory=territory, title=title.strip(), summary=summary.strip(), slug=_unique_slug(title),
            title_en=title_en.strip(), summary_en=summary_en.strip(),
            goal_cents=goal_cents, minimum_cents=fields["minimum_cents"], deadline=deadline, kind=kind,
            funding_model=funding_model, story_markdown=story_markdown, story_html=render_markdown(story_markdown),
            candidacy=candidacy, presets_cents=presets_cents or [], min_gift_cents=min_gift_cents,
            allow_monthly=allow_monthly, created_by=actor,
        )
        TeamMember.objects.create(campaign=campaign, user=actor, role=TeamRole.OFFICIAL)
        if candidacy is not None and candidacy.mandatario_user_id:
            TeamMember.objects.get_or_create(campaign=campaign, user_id=candidacy.mandatario_user_id,
                                             defaults={"role": TeamRole.MANDATARIO})
        record(action, actor=actor, obj=campaign, territory=territory,
               data={"title": campaign.title, "goal_cents": goal_cents, "kind": kind, "model": funding_model})
    return campaign


EDIT_FIELDS = {"title", "summary", "title_en", "summary_en", "story_markdown", "goal_cents", "minimum_cents",
               "deadline", "kind", "funding_model", "candidacy", "presets_cents", "min_gift_cents", "allow_monthly"}
STORY_FIELDS = {"title", "summary", "title_en", "summary_en", "story_markdown"}


def update_campaign(*, actor: Any, campaign: Campaign, **changes: Any) -> Campaign:
    """Everything is editable before approval; after it, only the words (money terms are frozen)."""
    action = "funding.update_campaign"
    _require_manage(action, actor, campaign)
    unknown = set(changes) - EDIT_FIELDS
    if unknown:
        raise TypeError(f"not editable: {sorted(unknown)}")
    if campaign.status not in EDITABLE and set(changes) - STORY_FIELDS:
        refuse(action, _("Dopo l'invio all'approvazione obiettivo, scadenza e modello di raccolta non si "
                         "possono più cambiare."), actor=actor, territory=campaign.territory, code="frozen")
    if campaign.status not in CONTENT_EDITABLE:
        refuse(action, _("La raccolta è conclusa: non si può più modificare."), actor=actor,
               territory=campaign.territory, code="closed")
    merged = {f: changes.get(f, getattr(campaign, f)) for f in ("goal_cents", "minimum_cents", "kind",
                                                              "candidacy", "funding_model")}
    merged["deadline"] = changes.get("deadline")
    _validate_fields(action, actor, campaign.territory, merged)
    if "minimum_cents" not in changes and merged["minimum_cents"] != campaign.minimum_cents:
        changes["minimum_cents"] = merged["minimum_cents"]
    with transaction.atomic():
        before = {f: str(getattr(campaign, f)) for f in changes}
        for field, value in changes.items():
            setattr(campaign, field, value)
        if "story_markdown" in changes:
            campaign.story_html = render_markdown(campaign.story_markdown)
        campaign.save()
        record(action, actor=actor, obj=campaign, territory=campaign.territory,
               data={"before": before, "after": {f: str(v) for f, v in changes.items()}})
    return campaign


def submit_campaign(*, actor: Any, campaign: Campaign) -> Campaign:
    action = "funding.submit_campaign"
    _require_manage(action, actor, campaign)
    if campaign.status not in EDITABLE:
        refuse(action, _("Solo una bozza o una raccolta respinta può essere inviata all'approvazione."),
               actor=actor, territory=campaign.territory, code="wrong_status")
    problems = []
    if not campaign.story_markdown.strip():
        problems.append(_("manca il racconto"))
    if not campaign.budget_lines.exists():
        problems.append(_("manca almeno una voce di spesa"))
    if campaign.deadline <= timezone.now():
        problems.append(_("la scadenza è già passata"))
    splits = list(campaign.splits.values_list("percent", flat=True))
    if splits and sum(splits) != 100:
        problems.append(_("le quote di ripartizione non sommano a 100%"))
    if problems:
        refuse(action, _("Prima di inviarla completa la raccolta: %(p)s.") % {"p": "; ".join(problems)},
               actor=actor, territory=campaign.territory, code="incomplete")
    with transaction.atomic():
        campaign.status = CampaignStatus.SUBMITTED
        campaign.submitted_at = timezone.now()
        campaign.rejection_reason = ""
        campaign.save(update_fields=["status", "submitted_at", "rejection_reason"])
        record(action, actor=actor, obj=campaign, territory=campaign.territory)
    return campaign


def approve_campaign(*, actor: Any, campaign: Campaign) -> Campaign:
    action = "funding.approve_campaign"
    if is_author(actor, campaign):
        refuse(action, _("Hai preparato, modificato o inviato questa raccolta: non può approvarla chi l'ha scritta. "
                         "Deve approvarla un'altra persona con un ruolo di organizzazione o tesoreria su %(t)s.")
               % {"t": approver_level(campaign)}, actor=actor, territory=campaign.territory,
               code="own_campaign", permission=True)
    if not can_approve(actor, campaign):
        refuse(action, _("Approva chi ha un ruolo di organizzazione o tesoreria al livello superiore (%(t)s).")
               % {"t": approver_level(campaign)}, actor=actor, territory=campaign.territory,
               code="not_approver", permission=True)
    if campaign.status != CampaignStatus.SUBMITTED:
        refuse(action, _("Si approva solo una raccolta inviata all'approvazione."), actor=actor,
               territory=campaign.territory, code="wrong_status")
    with transaction.atomic():
        campaign.status = CampaignStatus.APPROVED
        campaign.decided_by = actor
        campaign.decided_at = timezone.now()
        campaign.save(update_fields=["status", "decided_by", "decided_at"])
        record(action, actor=actor, obj=campaign, territory=campaign.territory)
    return campaign


def reject_campaign(*, actor: Any, campaign: Campaign, reason: str) -> Campaign:
    action = "funding.reject_campaign"
    if not can_approve(actor, campaign):
        refuse(action, _("Respinge chi ha un ruolo di organizzazione o tesoreria al livello superiore (%(t)s).")
               % {"t": approver_level(campaign)}, actor=actor, territory=campaign.territory,
               code="not_approver", permission=True)
    if campaign.status != CampaignStatus.SUBMITTED:
        refuse(action, _("Si respinge solo una raccolta inviata all'approvazione."), actor=actor,
               territory=campaign.territory, code="wrong_status")
    if len(reason.strip()) < 10:
        refuse(action, _("Scrivi il motivo del rifiuto (almeno 10 caratteri): la squadra deve sapere cosa "
                         "correggere."), actor=actor, territory=campaign.territory, code="reason", field="reason")
    with transaction.atomic():
        campaign.status = CampaignStatus.REJECTED
        campaign.rejection_reason = reason.strip()
        campaign.decided_by = actor
        campaign.decided_at = timezone.now()
        campaign.save(update_fields=["status", "rejection_reason", "decided_by", "decided_at"])
        record(action, actor=actor, obj=campaign, territory=campaign.territory, data={"reason": reason.strip()})
    return campaign


def launch_campaign(*, actor: Any, campaign: Campaign) -> Campaign:
    """Approved → live: the page opens to gifts and the counter slots are created."""
    action = "funding.launch_campaign"
    _require_manage(action, actor, campaign)
    if campaign.status != CampaignStatus.APPROVED:
        refuse(action, _("Si può pubblicare solo una raccolta approvata."), actor=actor,
               territory=campaign.territory, code="wrong_status")
    if campaign.deadline <= timezone.now():
        refuse(action, _("La scadenza è già passata: chiedi una nuova approvazione con un'altra data."),
               actor=actor, territory=campaign.territory, code="deadline")
    with transaction.atomic():
        campaign.status = CampaignStatus.LIVE
        campaign.launched_at = timezone.now()
        campaign.save(update_fields=["status", "launched_at"])
        CampaignCounter.objects.bulk_create(
            [CampaignCounter(campaign=campaign, slot=i) for i in range(COUNTER_SLOTS)], ignore_conflicts=True)
        gift_accounts(campaign, Money(100, campaign.currency))  # open the ledger accounts now, not on the first gift
        record(action, actor=actor, obj=campaign, territory=campaign.territory)
    return campaign


def add_budget_line(*, actor: Any, campaign: Campaign, label: str, amount_cents: int) -> BudgetLine:
    action = "funding.add_budget_line"
    _require_manage(action, actor, campaign)
    if campaign.status not in EDITABLE:
        refuse(action, _("Le voci di spesa si cambiano solo prima dell'approvazione."), actor=actor,
               territory=campaign.territory, code="frozen")
    with transaction.atomic():
        position = (campaign.budget_lines.aggregate(m=Max("position"))["m"] or 0) + 1
        line = BudgetLine.objects.create(campaign=campaign, label=label.strip(), amount_cents=amount_cents,
                                         position=position)
        record(action, actor=actor, obj=campaign, territory=campaign.territory,
               data={"label": line.label, "amount_cents": amount_cents})
    return line


def add_faq(*, actor: Any, campaign: Campaign, question: str, answer: str) -> FAQ:
    action = "funding.add_faq"
    _require_manage(action, actor, campaign)
    with transaction.atomic():
        position = (campaign.faqs.aggregate(m=Max("position"))["m"] or 0) + 1
        faq = FAQ.objects.create(campaign=campaign, question=question.strip(), answer=answer.strip(),
                                 position=position)
        record(action, actor=actor, obj=campaign, territory=campaign.territory, data={"question": faq.question})
    return faq


def add_image(*, actor: Any, campaign: Campaign, upload: UploadedFile, alt_text: str) -> CampaignImage:
    action = "funding.add_image"
    _require_manage(action, actor, campaign)
    if not alt_text.strip():
        refuse(action, _("Descrivi l'immagine per chi non la vede (testo alternativo obbligatorio)."),
               actor=actor, territory=campaign.territory, code="alt_required", field="alt_text")
    try:
        content, width, height = resize_image(upload)
    except ImageRefused as exc:
        refuse(action, str(exc), actor=actor, territory=campaign.territory, code="bad_image", field="image")
        raise  # refuse() always raises; this keeps type checkers informed
    with transaction.atomic():
        position = (campaign.images.aggregate(m=Max("position"))["m"] or 0) + 1
        image = CampaignImage(campaign=campaign, alt_text=alt_text.strip(), width=width, height=height,
                              position=position)
        image.image.save(f"{campaign.slug}-{position}.jpg", content, save=False)
        image.save()
        record(action, actor=actor, obj=campaign, territory=campaign.territory, data={"alt_text": image.alt_text})
    return image


def set_splits(*, actor: Any, campaign: Campaign, shares: Iterable[tuple[Territory, int]]) -> list[SplitShare]:
    """Configured shares of every gift (e.g. circolo 70%, federation 30%), summing to 100."""
    action = "funding.set_splits"
    _require_manage(action, actor, campaign)
    shares = list(shares)
    if campaign.status not in EDITABLE:
        refuse(action, _("La ripartizione si decide prima dell'approvazione."), actor=actor,
               territory=campaign.territory, code="frozen")
    if campaign.kind == CampaignKind.CANDIDATE and shares:
        refuse(action, _("I fondi di una candidatura vanno solo al mandatario: niente ripartizioni."),
               actor=actor, territory=campaign.territory, code="candidate_split")
    if shares and sum(p for _t, p in shares) != 100:
        refuse(action, _("Le quote devono sommare a 100%% (ora: %(n)s%%).") % {"n": sum(p for _t, p in shares)},
               actor=actor, territory=campaign.territory, code="split_sum", field="splits")
    with transaction.atomic():
        campaign.splits.all().delete()
        rows = SplitShare.objects.bulk_create(
            [SplitShare(campaign=campaign, recipient=t, percent=p) for t, p in shares])
        record(action, actor=actor, obj=campaign, territory=campaign.territory,
               data={"shares": [[t.pk, p] for t, p in shares]})
    return rows


def add_team_member(*, actor: Any, campaign: Campaign, user: Any, role: str) -> TeamMember:
    action = "funding.add_team_member"
    _require_manage(action, actor, campaign)
    if role in {TeamRole.STAFF, TeamRole.CANDIDATE, TeamRole.MANDATARIO} and campaign.kind != CampaignKind.CANDIDATE:
        refuse(action, _("Staff, candidato e mandatario fanno parte solo delle raccolte per una candidatura."),
               actor=actor, territory=campaign.territory, code="role", field="role")
    with transaction.atomic():
        member, _created = TeamMember.objects.update_or_create(campaign=campaign, user=user, defaults={"role": role})
        record(action, actor=actor, obj=campaign, territory=campaign.territory,
               data={"user": user.get_username(), "role": role})
    return member


def post_update(*, actor: Any, campaign: Campaign, title: str, body_markdown: str) -> CampaignUpdate:
    """Post news on the page; donors who opted in get it by email after the commit."""
    action = "funding.post_update"
    _require_manage(action, actor, campaign)
    if not title.strip() or not body_markdown.strip():
        refuse(action, _("Un aggiornamento ha bisogno di un titolo e di un testo."), actor=actor,
               territory=campaign.territory, code="required", field="title")
    from piazza.funding import tasks

    with transaction.atomic():
        update = CampaignUpdate.objects.create(campaign=campaign, title=title.strip(), body_markdown=body_markdown,
                                               body_html=render_markdown(body_markdown), posted_by=actor)
        record(action, actor=actor, obj=campaign, territory=campaign.territory, data={"title": update.title})
        enqueue_on_commit(tasks.email_update, update.pk)
    return update


# --- Donations ------------------------------------------------------------------------------


@dataclass
class DonationInput:
    """What the donor typed, already cleaned by the form (or the API)."""

    amount_cents: int
    frequency: str
    first_name: str
    last_name: str
    codice_fiscale: str
    email: str
    address: str
    postal_code: str
    comune: Comune
    attestations: list[str]
    publication: str  # "accept" or "object" (rule F2)
    idempotency_key: str
    cover_fee: bool = False
    on_wall: bool = False
    message: str = ""
    updates: bool = False
    refcode: str = ""
    utm_source: str = ""
    utm_medium: str = ""
    utm_campaign: str = ""
    shown_match_cents: int | None = None
    page: FundraisingPage | None = None
    provider: str = ""  # "" = the card provider in force (`card_provider()`)
    return_url: str = ""  # "" = the donation's thank-you page
    remember_method: bool = False  # save the card for one-click gifts (never pre-selected)


@dataclass
class Submitted:
    donation: Donation
    replayed: bool
    next_url: str


def fee_cover_cents(campaign: Campaign, amount_cents: int) -> int:
    """The estimated processing cost a donor may add (per-campaign parameters)."""
    return (amount_cents * campaign.fee_cover_bps + 9_999) // 10_000 + campaign.fee_cover_fixed_cents


def _distinct_donors(campaign: Campaign) -> int:
    from piazza.funding.queries import unique_donors

    return unique_donors(campaign.pk)


def preview_match_cents(campaign: Campaign, amount_cents: int, person_id: int | None = None) -> int:
    """What the pools would add to this gift now ("your €10 becomes €20"); reads only."""
    return preview_matches_for(campaign, [amount_cents], person_id)[amount_cents]


def preview_matches_for(campaign: Campaign, amounts: Iterable[int], person_id: int | None = None) -> dict[int, int]:
    """The same for several amounts at once (the presets of the form): the pools are read once."""
    from piazza.funding.queries import pool_matched, pools_for

    amounts = list(amounts)
    pools = pools_for(campaign)
    if not pools:
        return dict.fromkeys(amounts, 0)
    donors = _distinct_donors(campaign)
    pairs = [(pool_rules(p), PoolState(
        remaining=p.remaining_cents,
        matched_for_donor=pool_matched(p, person_id=person_id) if person_id and p.cap_per_donor_cents else 0,
        matched_for_campaign=pool_matched(p, campaign_id=campaign.pk) if p.cap_per_campaign_cents else 0,
    )) for p in pools]
    return {amount: sum(preview_matches(pairs, amount, donors)) for amount in amounts}


def pool_rules(pool: MatchingPool) -> PoolRules:
    return PoolRules(
        ratio_num=pool.ratio_num, ratio_den=pool.ratio_den, cap_per_donation=pool.cap_per_donation_cents,
        cap_per_donor=pool.cap_per_donor_cents, cap_per_campaign=pool.cap_per_campaign_cents,
        small_gift_max=pool.small_gift_max_cents, min_distinct_donors=pool.min_distinct_donors,
        mode=pool.mode, top_up_threshold_pct=pool.top_up_threshold_pct, exclusive=pool.exclusive)


def _refuse_gift(message: Any, *, campaign: Campaign, code: str, field: str | None = None) -> None:
    refuse("funding.submit_donation", message, actor=None, territory=campaign.territory, code=code, field=field)


# Issue 10, rule G1: what a named person gave this year is theirs to know. When only the
# donor's history (not the amount typed) makes a gift exceed a limit, the form says so without
# figures and the details go to the address on record of the person with that codice fiscale.
OVER_LIMIT_MESSAGES = {
    "annual_cap": _("Questa donazione supera il limite annuale consentito per una persona: ti abbiamo scritto "
                    "all'indirizzo registrato con l'importo che puoi ancora donare."),
    "publication_objection": _("Con questa donazione l'importo donato nell'anno supererebbe la soglia oltre la "
                               "quale la legge chiede la pubblicazione del nome: accetta la pubblicazione, oppure "
                               "leggi il messaggio che ti abbiamo scritto all'indirizzo registrato con l'importo "
                               "che puoi ancora donare senza."),
}


def _refuse_over_limit(campaign: Campaign, known: Person | None, total_cents: int, *, code: str, alone: bool,
                       message: Any) -> None:
    """Refuse a gift over the F6 cap or the F2 threshold, revealing nothing about anyone.

    `alone`: the typed amount would pass by itself, so the donor's history decided. Then the
    answer has no figures and the person on record is told by email (a task, after the refusal's
    audit entry); otherwise `message` speaks of the typed amount only."""
    if alone and known is not None:
        enqueue_on_commit(tell_donor_over_limit, int(known.pk), int(campaign.pk), total_cents, code)
        message = OVER_LIMIT_MESSAGES[code]
    field = "publication" if code == "publication_objection" else "custom_amount"
    _refuse_gift(message, campaign=campaign, code=code, field=field)


def gift_accounts(campaign: Campaign, amount: Money) -> list[tuple[Account, Money]]:
    """Where a gift is booked: the campaign's share accounts (splits), or the mandatario (F10)."""
    if campaign.kind == CampaignKind.CANDIDATE:
        assert campaign.candidacy is not None
        account = get_account("mandatario", owner=campaign.candidacy, territory=campaign.territory,
                              key=f"campaign:{campaign.pk}")
        return [(account, amount)]
    splits = list(campaign.splits.select_related("recipient"))
    if not splits:
        return [(get_account("campaign", owner=campaign, territory=campaign.territory, key="gifts"), amount)]
    shares = amount.allocate([s.percent for s in splits])
    return [(get_account("campaign", owner=campaign, territory=s.recipient, key=f"gifts:{s.recipient_id}"), share)
            for s, share in zip(splits, shares, strict=True) if share.cents]


def submit_donation(*, actor: Any, campaign: Campaign, data: DonationInput) -> Submitted:
    """Check every rule, then record a pending donation and start its payment.

    Refusals (closed campaign, minimum, F4 attestations, F6 cap, F2 objection, a pool that
    ran out since the page was shown) happen before anything is written; a replayed
    Idempotency-Key returns the first donation and never charges twice (convention 6).
    Reads first, then one transaction (P4). F6/F2 are checked again when the money arrives
    (`donation_succeeded`), under a per-donor lock, so simultaneous gifts cannot beat the cap.
    """
    replayed = _replayed_submission(campaign, data.idempotency_key)
    if replayed is not None:
        return replayed
    if not campaign.is_open_for_gifts():
        _refuse_gift(_("Questa raccolta è chiusa e non accetta più donazioni."), campaign=campaign, code="closed")
    if data.amount_cents < campaign.min_gift_cents:
        _refuse_gift(_("La donazione minima per questa raccolta è %(min)s.")
                     % {"min": format_eur(campaign.min_gift_cents)},
                     campaign=campaign, code="below_minimum", field="custom_amount")
    if data.frequency == Frequency.MONTHLY and not campaign.allow_monthly:
        _refuse_gift(_("Questa raccolta accetta solo donazioni una tantum."), campaign=campaign, code="monthly",
                     field="frequency")
    missing = missing_attestations(data.attestations)
    if missing:  # rule F4
        _refuse_gift(_("Per legge puoi donare solo dopo aver confermato tutte le dichiarazioni: mancano %(n)d "
                       "conferme.") % {"n": len(missing)}, campaign=campaign, code="attestations",
                     field=f"attest_{missing[0]}")
    fee = fee_cover_cents(campaign, data.amount_cents) if data.cover_fee else 0
    total = data.amount_cents + fee
    rules = rules_on()
    canonical = canonical_codice_fiscale(data.codice_fiscale)
    known = Person.objects.filter(codice_fiscale_canonical=canonical, merged_into__isnull=True).first()
    year = timezone.localdate().year
    already = annual_total_cents(int(known.pk), year, campaign.territory.path, rules) if known else 0
    if not check_annual_cap(already, total, rules).allowed:  # rule F6 (scope per F14)
        _refuse_over_limit(campaign, known, total, code="annual_cap", alone=check_annual_cap(0, total, rules).allowed,
                           message=_("Per legge una persona può donare al partito al massimo %(cap)s in un anno: "
                                     "scegli un importo più basso.") % {"cap": format_eur(rules.annual_cap_cents)})
    objects = data.publication == "object"
    if not may_accept(already + total, objects, rules):  # rule F2
        _refuse_over_limit(campaign, known, total, code="publication_objection",
                           alone=may_accept(total, objects, rules),
                           message=_("Con questa donazione superi %(t)s nell'anno: per legge il tuo nome sarà "
                                     "pubblicato e il partito non può accettare denaro da chi si oppone. Scegli un "
                                     "importo più basso o accetta la pubblicazione.")
                           % {"t": format_eur(rules.publication_threshold_cents)})
    if data.shown_match_cents:
        now_match = preview_match_cents(campaign, data.amount_cents, int(known.pk) if known else None)
        if now_match < data.shown_match_cents:
            _refuse_gift(_("Nel frattempo il fondo di co-finanziamento si è esaurito: la tua donazione ora vale "
                           "%(now)s invece di %(shown)s. Non ti abbiamo addebitato nulla: conferma di nuovo se vuoi "
                           "donare lo stesso.") % {"now": format_eur(data.amount_cents + now_match),
                                                   "shown": format_eur(data.amount_cents + data.shown_match_cents)},
                         campaign=campaign, code="pool_exhausted")
    try:
        # create_payment may refuse inside the block: audited after its rollback (issue 11, item 23).
        with refusing("funding.submit_donation", actor, campaign.territory), transaction.atomic():
            donation, payment = _record_donation(actor, campaign, data, fee, known)
    except IntegrityError:
        # A simultaneous submit with the same Idempotency-Key (a double click, a reload) won
        # the unique key between our read above and this insert: answer with its donation.
        replayed = _replayed_submission(campaign, data.idempotency_key)
        if replayed is None:
            raise
        return replayed
    return Submitted(donation, False, reverse("payments:pay", args=[payment.token]))


def _replayed_submission(campaign: Campaign, idempotency_key: str) -> Submitted | None:
    """The first donation sent with this Idempotency-Key, as a replay (convention 6); None if none."""
    existing = Donation.objects.filter(idempotency_key=idempotency_key).select_related("campaign").first()
    if existing is None:
        return None
    if existing.campaign_id != campaign.pk:
        _refuse_gift(_("Questo modulo è già stato usato per un'altra raccolta: ricarica la pagina."),
                     campaign=campaign, code="replay_other_campaign")
    return Submitted(existing, True, _payment_url(existing))


def card_provider() -> str:
    """The card provider in force: Stripe when configured, else the sandbox (never in production)."""
    for preferred in ("stripe", "sandbox"):
        try:
            if get_provider(preferred).is_available():
                return preferred
        except LookupError:
            continue
    return "sandbox"


def _record_donation(actor: Any, campaign: Campaign, data: DonationInput, fee: int,
                     known: Person | None) -> tuple[Donation, Any]:
    """The pending donation and its payment (monthly: a recurring schedule and its first payment)."""
    donation = Donation.objects.create(
        campaign=campaign, page=data.page, person=known,
        user=actor if getattr(actor, "is_authenticated", False) else None,
        amount_cents=data.amount_cents, fee_cover_cents=fee, currency=campaign.currency, frequency=data.frequency,
        first_name=data.first_name, last_name=data.last_name, codice_fiscale=data.codice_fiscale,
        email=data.email, address=data.address, postal_code=data.postal_code, comune=data.comune,
        attestations=sorted(data.attestations), attestation_version=ATTESTATION_VERSION,
        publication_acknowledged=data.publication == "accept", on_wall=data.on_wall, message=data.message,
        refcode=data.refcode, utm_source=data.utm_source, utm_medium=data.utm_medium,
        utm_campaign=data.utm_campaign, idempotency_key=data.idempotency_key,
        manage_token=secrets.token_urlsafe(32))
    if data.updates:
        UpdateSubscription.objects.get_or_create(campaign=campaign, email=data.email.lower(),
                                                 defaults={"token": secrets.token_urlsafe(32)})
    allocations = gift_accounts(campaign, Money(data.amount_cents, campaign.currency))
    if fee:
        allocations.append((get_account("territory", territory=campaign.territory), Money(fee, campaign.currency)))
    common: dict[str, Any] = {
        "actor": None, "amount": Money(data.amount_cents + fee, campaign.currency), "allocations": allocations,
        "provider": data.provider or card_provider(), "description": f"Donazione: {campaign.title}"[:200],
        "creation_key": f"donation:{donation.pk}", "payable": donation, "payer": known,
        "payer_name": f"{data.first_name} {data.last_name}", "payer_email": data.email,
        "territory": campaign.territory, "return_url": data.return_url or donation_status_url(donation)}
    if data.frequency == Frequency.MONTHLY:
        _schedule, payment = payments.create_recurring(interval="monthly", **common)
    else:
        # No rail imposed (`provider` empty) and no card to save: the donor chooses how to pay on
        # the payment page (issue 11 item 1).
        payment = payments.create_payment(save_method=data.remember_method, **common, metadata={
            "client_key": data.idempotency_key, "method_step": not data.provider and not data.remember_method})
    donation.payment_id = payment.pk
    donation.save(update_fields=["payment_id"])
    record("funding.submit_donation", actor=actor, obj=donation, territory=campaign.territory,
           data={"amount_cents": data.amount_cents, "fee_cover_cents": fee, "frequency": data.frequency,
                 "refcode": data.refcode, "attestations": ATTESTATION_VERSION, "payment": payment.pk})
    return donation, payment


def give_again(*, actor: Any, campaign: Campaign, previous: Donation, method: Any, amount_cents: int,
               idempotency_key: str) -> Submitted:
    """One-click gift from a browser holding a device token for `method` (convention 16).

    The donor details and the F4 attestations are those of `previous`, the gift whose payment
    saved the card in that browser, confirmed by the click (the button says so); if the
    attestation texts changed since, the full form is needed. Every rule of `submit_donation`
    applies; then the saved card is charged at once.
    """
    if (previous.status != DonationStatus.SUCCEEDED or previous.payment is None
            or previous.payment.saved_method_id != method.pk):
        raise ValueError("give_again: the previous gift did not save this method")
    if previous.attestation_version != ATTESTATION_VERSION:
        _refuse_gift(_("Le dichiarazioni richieste dalla legge sono cambiate dalla tua ultima donazione: usa il "
                       "modulo completo qui sotto."), campaign=campaign, code="one_click_attestations")
        raise AssertionError  # unreachable: refuse() raises
    data = DonationInput(
        amount_cents=amount_cents, frequency=Frequency.ONE_OFF, first_name=previous.first_name,
        last_name=previous.last_name, codice_fiscale=previous.codice_fiscale, email=previous.email,
        address=previous.address, postal_code=previous.postal_code, comune=previous.comune,
        attestations=list(previous.attestations),
        publication="accept" if previous.publication_acknowledged else "object",
        idempotency_key=idempotency_key, on_wall=previous.on_wall, provider=method.provider, refcode="one_click")
    submitted = submit_donation(actor=actor, campaign=campaign, data=data)
    payment = submitted.donation.payment
    if submitted.replayed or payment is None:
        return submitted

    charge_saved_method(actor=None, payment=payment, method=method, client_key=f"oneclick:{idempotency_key}")
    payment.refresh_from_db()
    submitted.donation.refresh_from_db()
    next_url = donation_status_url(submitted.donation) if payment.is_booked else submitted.next_url
    return Submitted(submitted.donation, False, next_url)


def _payment_url(donation: Donation) -> str:
    """Where a replayed submission goes: the same payment page (it forwards once paid)."""
    payment = donation.payment
    return reverse("payments:pay", args=[payment.token]) if payment is not None else donation_status_url(donation)


def donation_status_url(donation: Donation) -> str:
    return reverse("funding:donation", args=[donation.manage_token])


def _bump_counter(campaign_id: int, *, gifts: int = 0, count: int = 0, small: int = 0, matched: int = 0) -> None:
    """Add to one random slot: an atomic `+ x`, never read-decide-write (convention 9)."""
    CampaignCounter.objects.filter(campaign_id=campaign_id, slot=random.randrange(COUNTER_SLOTS)).update(
        gifts_cents=F("gifts_cents") + gifts, gifts_count=F("gifts_count") + count,
        small_gifts_cents=F("small_gifts_cents") + small, matched_cents=F("matched_cents") + matched)


def _small(amount_cents: int) -> int:
    return amount_cents if amount_cents <= SMALL_GIFT_CENTS else 0


def _pool_account(pool: MatchingPool) -> Account:
    return get_account("matchfunding_pool", owner=pool, territory=pool.territory)


def _match_account(campaign: Campaign, key: str) -> Account:
    return get_account("campaign", owner=campaign, territory=campaign.territory, key=key)


def _reserve(pool: MatchingPool, campaign: Campaign, amount: int, *, donation: Donation | None) -> PoolMatch:
    """Book a reservation: the pool row is locked by the caller, the constraint is the last guard."""
    match = PoolMatch.objects.create(pool=pool, campaign=campaign, donation=donation, amount_cents=amount,
                                     person_id_for_cap=donation.person_id if donation else None)
    MatchingPool.objects.filter(pk=pool.pk).update(reserved_cents=F("reserved_cents") + amount)
    money = Money(amount, pool.currency)
    post_transaction(actor=None, cause=Cause.TRANSFER, memo=f"Co-finanziamento prenotato: {pool.name}"[:255],
                     entries=[(_pool_account(pool), money), (_match_account(campaign, "match_reserved"), -money)],
                     idempotency_key=f"match:{match.pk}:reserve", about=match, audit=False)
    return match


def _reserve_matches(donation: Donation) -> int:
    """Per-gift pools, then top-up pools, in their order; each pool row locked (id order: no deadlock).

    Returns the cents reserved; the caller adds them to the counters in its single bump, after
    these locks (always pools, then one counter slot: no lock-order cycle between donations).
    """
    from piazza.funding.queries import pool_matched, pools_for, unique_donors

    campaign = donation.campaign
    candidates = pools_for(campaign)
    if not candidates:
        return 0
    locked = {p.pk: p for p in MatchingPool.objects.select_for_update().filter(
        pk__in=[p.pk for p in candidates]).order_by("pk")}
    donors = unique_donors(campaign.pk)
    total = 0
    stopped = False
    for candidate in candidates:
        pool = locked[candidate.pk]
        rules = pool_rules(pool)
        if pool.mode != PoolMode.PER_GIFT or stopped:
            continue
        state = PoolState(
            remaining=pool.remaining_cents,
            matched_for_donor=pool_matched(pool, person_id=donation.person_id) if pool.cap_per_donor_cents else 0,
            matched_for_campaign=pool_matched(pool, campaign_id=campaign.pk) if pool.cap_per_campaign_cents else 0)
        amount = match_for_gift(rules, state, donation.amount_cents, donors)
        if amount:
            _reserve(pool, campaign, amount, donation=donation)
            total += amount
            if pool.exclusive:
                stopped = True
    if total:
        Donation.objects.filter(pk=donation.pk).update(matched_cents=F("matched_cents") + total)
    from piazza.funding.queries import counter_totals

    # The counters do not include this gift and its matches yet (bumped once by the caller).
    raised = sum(counter_totals(campaign.pk)[k] for k in ("gifts", "matched")) + donation.amount_cents + total
    topped = 0
    for candidate in candidates:
        pool = locked[candidate.pk]
        if pool.mode != PoolMode.TOP_UP or PoolMatch.objects.filter(pool=pool, campaign=campaign,
                                                                     donation__isnull=True).exists():
            continue
        pool.refresh_from_db(fields=["reserved_cents", "settled_cents"])
        state = PoolState(remaining=pool.remaining_cents,
                          matched_for_campaign=pool_matched(pool, campaign_id=campaign.pk))
        amount = top_up_for_campaign(pool_rules(pool), state, raised, campaign.goal_cents, donors)
        if amount:
            _reserve(pool, campaign, amount, donation=None)
            raised += amount
            topped += amount
    return total + topped


def _release(match: PoolMatch, reason: str) -> None:
    original = LedgerTransaction.objects.get(idempotency_key=f"match:{match.pk}:reserve")
    reverse_transaction(actor=None, original=original, memo=f"Co-finanziamento liberato: {reason}"[:255],
                        idempotency_key=f"match:{match.pk}:release", audit=False)
    MatchingPool.objects.filter(pk=match.pool_id).update(reserved_cents=F("reserved_cents") - match.amount_cents)
    PoolMatch.objects.filter(pk=match.pk).update(status=MatchStatus.RELEASED, closed_at=timezone.now())


REFUSAL_REASONS = {
    "annual_cap": _("Superato il tetto annuo per donatore previsto dalla legge: l'importo ti è stato restituito."),
    "publication_objection": _("Con questa donazione avresti superato la soglia di pubblicazione, alla quale ti "
                               "sei opposto/a: l'importo ti è stato restituito."),
    "campaign_failed": _("La raccolta non ha raggiunto il minimo (tutto o niente): l'importo ti è stato restituito."),
}


def donation_succeeded(donation_id: int, *, payment_id: int | None = None) -> Donation:
    """Payable handler: the money arrived. Idempotent: a second call changes nothing.

    Rules F6 and F2 are judged again here, with the donor's row locked (compliance
    `admit_contribution`): of two gifts succeeding together, the one that would exceed the cap
    is refused and refunded, never counted. A late gift to a failed all-or-nothing campaign too.
    """
    with transaction.atomic():
        donation = (Donation.objects.select_for_update(of=("self",))
            .select_related("campaign__territory").get(pk=donation_id))
        if donation.status in (DonationStatus.SUCCEEDED, DonationStatus.REFUSED, DonationStatus.REFUNDED):
            return donation
        campaign = donation.campaign
        lock_contributor(canonical_codice_fiscale(donation.codice_fiscale))
        if donation.person_id is None:
            donation.person = _donor_person(donation)
            donation.save(update_fields=["person"])
        assert donation.person_id is not None
        admission = admit_contribution(donation.person_id, donation.total_cents, campaign.territory.path,
                                       objects_to_publication=not donation.publication_acknowledged)
        refusal = "campaign_failed" if campaign.outcome == CampaignOutcome.FAILED else admission.code
        if refusal:
            return _refuse_received(donation, refusal, payment_id)
        donation.status = DonationStatus.SUCCEEDED
        donation.succeeded_at = timezone.now()
        donation.failure_reason = ""
        donation.save(update_fields=["status", "succeeded_at", "failure_reason"])
        matched = _reserve_matches(donation)
        # One counter slot per transaction, taken after the pool locks (no lock-order cycle).
        _bump_counter(donation.campaign_id, gifts=donation.amount_cents, count=1,
                      small=_small(donation.amount_cents), matched=matched)
        add_timeline_entry(donation.person, kind="donation", actor=None,  # type: ignore[arg-type]
                           summary=deferred(gettext_noop("Donazione di %(amount)s a «%(campaign)s»"),
                                            amount=format_eur(donation.amount_cents), campaign=campaign.title),
                           data={"donation": donation.pk, "campaign": donation.campaign_id})
        record("funding.donation_succeeded", actor=None, obj=donation, territory=campaign.territory,
               data={"amount_cents": donation.amount_cents, "payment": payment_id})
        from piazza.funding import tasks

        enqueue_on_commit(tasks.send_receipt, donation.pk)
        transaction.on_commit(lambda: forget_thermometer(donation.campaign_id))
    return donation


def _donor_person(donation: Donation) -> Person:
    """The donor in the people database, found (same codice fiscale, email…) or created."""
    return find_or_create_person(actor=None, source=Source.DONATION, data={
        "first_name": donation.first_name, "last_name": donation.last_name,
        "codice_fiscale": donation.codice_fiscale, "emails": [donation.email],
        "residence_street": donation.address, "residence_cap": donation.postal_code,
        "residence_comune": donation.comune})


def _refuse_received(donation: Donation, code: str, payment_id: int | None) -> Donation:
    """Paid but not acceptable: never counted, refunded after the commit (outside any transaction)."""
    from piazza.funding import tasks

    donation.status = DonationStatus.REFUSED
    donation.failure_reason = str(REFUSAL_REASONS[code])[:250]
    donation.save(update_fields=["status", "failure_reason"])
    record("funding.donation_refused", actor=None, obj=donation, territory=donation.campaign.territory,
           data={"code": code, "amount_cents": donation.total_cents, "payment": payment_id})
    enqueue_on_commit(tasks.refund_refused, donation.pk)
    return donation


def instalment_succeeded(*, parent_id: int, payment_id: int) -> Donation:
    """A later month of a monthly gift was charged: its own donation row (idempotent per payment)."""
    with transaction.atomic():
        parent = Donation.objects.get(pk=parent_id)
        child = Donation.objects.filter(payment_id=payment_id).first()
        if child is None:
            child = Donation.objects.create(
                campaign_id=parent.campaign_id, page_id=parent.page_id, person_id=parent.person_id,
                # The month's gift is what this payment took, less the fee cover chosen at the start
                # (the donor may have changed the amount since: `change_monthly_amount`).
                user_id=parent.user_id, amount_cents=_instalment_gift_cents(parent, payment_id),
                fee_cover_cents=parent.fee_cover_cents,
                currency=parent.currency, frequency=Frequency.MONTHLY, parent=parent,
                first_name=parent.first_name, last_name=parent.last_name, codice_fiscale=parent.codice_fiscale,
                email=parent.email, address=parent.address, postal_code=parent.postal_code,
                comune_id=parent.comune_id, attestations=parent.attestations,
                attestation_version=parent.attestation_version,
                publication_acknowledged=parent.publication_acknowledged, on_wall=parent.on_wall,
                refcode=parent.refcode, utm_source=parent.utm_source, utm_medium=parent.utm_medium,
                utm_campaign=parent.utm_campaign, idempotency_key=f"instalment:{payment_id}",
                manage_token=secrets.token_urlsafe(32), payment_id=payment_id)
        return donation_succeeded(child.pk, payment_id=payment_id)


def _instalment_gift_cents(parent: Donation, payment_id: int) -> int:
    from piazza.payments.models import Payment

    charged = Payment.objects.filter(pk=payment_id).values_list("amount_cents", flat=True).first()
    return int(charged) - parent.fee_cover_cents if charged else parent.amount_cents


def donation_failed(donation_id: int, *, reason: str = "") -> Donation:
    with transaction.atomic():
        donation = Donation.objects.select_for_update().get(pk=donation_id)
        if donation.status != DonationStatus.PENDING and donation.status != DonationStatus.FAILED:
            return donation
        donation.status = DonationStatus.FAILED
        donation.failure_reason = reason[:250]
        donation.save(update_fields=["status", "failure_reason"])
        record("funding.donation_failed", actor=None, obj=donation, data={"reason": reason[:250]})
    return donation


def donation_refunded(donation_id: int, *, reason: str = "") -> Donation:
    """Payable handler: the money went back. Counters go down, matches are released."""
    with transaction.atomic():
        donation = Donation.objects.select_for_update(of=("self",)).select_related("campaign").get(pk=donation_id)
        if donation.status == DonationStatus.REFUSED:  # never counted: nothing to take back
            donation.status = DonationStatus.REFUNDED
            donation.refunded_at = timezone.now()
            donation.save(update_fields=["status", "refunded_at"])
            record("funding.donation_refunded", actor=None, obj=donation, territory=donation.campaign.territory,
                   data={"reason": reason[:250], "refused": True})
            return donation
        if donation.status != DonationStatus.SUCCEEDED:
            return donation
        donation.status = DonationStatus.REFUNDED
        donation.refunded_at = timezone.now()
        donation.save(update_fields=["status", "refunded_at"])
        matches = list(PoolMatch.objects.filter(donation=donation, status=MatchStatus.RESERVED))
        pools = {p.pk: p for p in MatchingPool.objects.select_for_update().filter(
            pk__in=[m.pool_id for m in matches]).order_by("pk")}
        for match in matches:
            _release(match, f"rimborso della donazione {donation.pk}")
        _bump_counter(donation.campaign_id, gifts=-donation.amount_cents, count=-1,
                      small=-_small(donation.amount_cents), matched=-sum(m.amount_cents for m in matches))
        if matches:
            Donation.objects.filter(pk=donation.pk).update(matched_cents=0)
        record("funding.donation_refunded", actor=None, obj=donation, territory=donation.campaign.territory,
               data={"reason": reason[:250], "released_pools": sorted(pools)})
        transaction.on_commit(lambda: forget_thermometer(donation.campaign_id))
    return donation


def end_campaign(*, actor: Any, campaign: Campaign) -> Campaign:
    """Live → ended. All-or-nothing below its minimum: every gift refunded, matches released,
    monthly gifts stopped. Otherwise reserved matches are settled to the campaign. Then settled."""
    import logging

    from piazza.funding.queries import counter_totals

    action = "funding.end_campaign"
    if actor is not None:
        _require_manage(action, actor, campaign)
    campaign = Campaign.objects.select_related("territory").get(pk=campaign.pk)
    if campaign.status != CampaignStatus.LIVE:
        refuse(action, _("Si conclude solo una raccolta attiva."), actor=actor, territory=campaign.territory,
               code="wrong_status")
    with transaction.atomic():
        campaign = Campaign.objects.select_for_update(of=("self",)).select_related("territory").get(pk=campaign.pk)
        if campaign.status != CampaignStatus.LIVE:  # ended meanwhile by another run
            return campaign
        totals = counter_totals(campaign.pk)
        raised = totals["gifts"] + totals["matched"]
        failed = campaign.funding_model == FundingModel.ALL_OR_NOTHING and raised < campaign.threshold_cents
        campaign.status = CampaignStatus.ENDED
        campaign.ended_at = timezone.now()
        campaign.outcome = CampaignOutcome.FAILED if failed else CampaignOutcome.FUNDED
        campaign.save(update_fields=["status", "ended_at", "outcome"])
        record(action, actor=actor, obj=campaign, territory=campaign.territory,
               data={"raised_cents": raised, "outcome": campaign.outcome})
    for donation in campaign.donations.filter(frequency=Frequency.MONTHLY, parent__isnull=True,
                                              cancelled_at__isnull=True):
        cancel_monthly(donation=donation, actor=actor, reason="campaign ended")
    if failed:
        for donation in campaign.donations.filter(status=DonationStatus.SUCCEEDED).select_related("payment"):
            payment = donation.payment
            if payment is None:
                continue
            try:
                # The all-or-nothing rule refunds, not the official: a system action.
                payments.refund_payment(actor=None, payment=payment, reason="tutto o niente: minimo non raggiunto")
            except ValidationError as exc:  # disputed or already refunded: the treasury sees it on the page
                logging.getLogger(__name__).warning("campaign %s: refund of payment %s refused: %s",
                                                    campaign.pk, payment.pk, exc)
        for match in PoolMatch.objects.filter(campaign=campaign, status=MatchStatus.RESERVED, donation__isnull=True):
            with transaction.atomic():
                MatchingPool.objects.select_for_update().get(pk=match.pool_id)
                _release(match, "raccolta non finanziata")
                _bump_counter(campaign.pk, matched=-match.amount_cents)
    return settle_campaign(actor=actor, campaign=campaign)


def settle_campaign(*, actor: Any, campaign: Campaign) -> Campaign:
    """Ended → settled: reserved matches become the campaign's money (a funded campaign), or —
    for a failed one — settlement waits until every refund has gone through."""
    action = "funding.settle_campaign"
    with transaction.atomic():
        campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
        if campaign.status != CampaignStatus.ENDED:
            return campaign
        if campaign.outcome == CampaignOutcome.FAILED:
            if campaign.donations.filter(status__in=[DonationStatus.SUCCEEDED, DonationStatus.REFUSED]).exists():
                return campaign  # refunds still in flight; the refund handler calls us again
        else:
            matches = list(PoolMatch.objects.filter(campaign=campaign, status=MatchStatus.RESERVED))
            pools = {p.pk: p for p in MatchingPool.objects.select_for_update().filter(
                pk__in={m.pool_id for m in matches}).order_by("pk")}
            for match in matches:
                money = Money(match.amount_cents, pools[match.pool_id].currency)
                post_transaction(actor=actor, cause=Cause.TRANSFER, memo="Co-finanziamento versato",
                                 entries=[(_match_account(campaign, "match_reserved"), money),
                                          (_match_account(campaign, "matched"), -money)],
                                 idempotency_key=f"match:{match.pk}:settle", about=match, audit=False)
                MatchingPool.objects.filter(pk=match.pool_id).update(
                    reserved_cents=F("reserved_cents") - match.amount_cents,
                    settled_cents=F("settled_cents") + match.amount_cents)
                PoolMatch.objects.filter(pk=match.pk).update(status=MatchStatus.SETTLED, closed_at=timezone.now())
        campaign.status = CampaignStatus.SETTLED
        campaign.settled_at = timezone.now()
        campaign.save(update_fields=["status", "settled_at"])
        record(action, actor=actor, obj=campaign, territory=campaign.territory, data={"outcome": campaign.outcome})
    return campaign


def _schedule_of(donation: Donation) -> Any:
    payment = donation.payment
    return payment.schedule if payment is not None else None


def cancel_monthly(*, donation: Donation, actor: Any = None, reason: str = "", via: str = "donation_page") -> Donation:
    """Stop a monthly gift (the donor's one-click button, or the campaign's end).

    The payments schedule is cancelled; payments then calls our handler, which marks the
    donation (`monthly_cancelled`) — the same path as the cancel link in the receipt email.
    """
    series = donation.parent or donation
    schedule = _schedule_of(series)
    if schedule is not None:
        payments.cancel_schedule(actor=actor, schedule=schedule, via=via, reason=reason)
    return monthly_cancelled(series.pk, actor=actor, reason=reason)


def change_monthly_amount(*, actor: Any, donation: Donation, amount_cents: int, via: str = "donation_page") -> Any:
    """The donor changes their monthly gift from the next charge on (issue 12).

    The campaign's minimum and the annual cap for the amount alone (F6) are checked here; F6 and
    F2 against the year's other gifts are judged at each charge (`donation_succeeded`), as for
    every month. The fee cover chosen at the start stays the same in cents. Returns the schedule."""
    from piazza.payments import actions as payments

    action = "funding.change_monthly_amount"
    series = donation.parent or donation
    campaign = series.campaign
    schedule = _schedule_of(series)
    if series.frequency != Frequency.MONTHLY or schedule is None or series.cancelled_at is not None:
        refuse(action, _("Questa donazione non è una donazione mensile attiva: l'importo non si può cambiare."),
               actor=actor, territory=campaign.territory, code="not_monthly")
    if not campaign.is_open_for_gifts():
        refuse(action, _("Questa raccolta è chiusa: l'importo non si può più cambiare."), actor=actor,
               territory=campaign.territory, code="closed")
    if amount_cents < campaign.min_gift_cents:
        refuse(action, _("La donazione minima per questa raccolta è %(min)s.") % {"min": format_eur(
            campaign.min_gift_cents)}, actor=actor, territory=campaign.territory, code="below_minimum",
               field="amount")
    total = amount_cents + series.fee_cover_cents
    rules = rules_on()
    if not check_annual_cap(0, total, rules).allowed:  # rule F6, the amount alone
        refuse(action, _("Per legge una persona può donare al partito al massimo %(cap)s in un anno: scegli un "
                         "importo più basso.") % {"cap": format_eur(rules.annual_cap_cents)},
               actor=actor, territory=campaign.territory, code="annual_cap", field="amount")
    allocations = gift_accounts(campaign, Money(amount_cents, campaign.currency))
    if series.fee_cover_cents:
        allocations.append((get_account("territory", territory=campaign.territory),
                            Money(series.fee_cover_cents, campaign.currency)))
    # Outside any transaction of ours: a refusal inside payments keeps its audit entry.
    changed = payments.change_schedule_amount(actor=actor, schedule=schedule, amount=Money(total, campaign.currency),
                                              allocations=allocations, via=via)
    with transaction.atomic():
        record(action, actor=actor, obj=series, territory=campaign.territory,
               data={"to_cents": amount_cents, "via": via})
    return changed


def monthly_cancelled(donation_id: int, *, actor: Any = None, reason: str = "") -> Donation:
    """Payable handler (`on_schedule_canceled`): no further months will be charged."""
    with transaction.atomic():
        donation = Donation.objects.select_for_update().get(pk=donation_id)
        if donation.cancelled_at is not None:
            return donation
        donation.cancelled_at = timezone.now()
        donation.save(update_fields=["cancelled_at"])
        record("funding.cancel_monthly", actor=actor, obj=donation, data={"reason": reason[:200]})
    return donation


def unsubscribe_updates(*, subscription: UpdateSubscription) -> UpdateSubscription:
    with transaction.atomic():
        if subscription.unsubscribed_at is None:
            subscription.unsubscribed_at = timezone.now()
            subscription.save(update_fields=["unsubscribed_at"])
            record("funding.unsubscribe_updates", actor=None, obj=subscription.campaign)
    return subscription


# --- Matching pools -------------------------------------------------------------------------

POOL_ROLES = {Role.TREASURY, Role.ADMINISTRATOR}


def open_pool(*, actor: Any, territory: Territory, name: str, budget_cents: int, eligible_root: Territory | None = None,
              **rules: Any) -> MatchingPool:
    """A territory commits part of its funds to match gifts; the budget moves to the pool account."""
    action = "funding.open_pool"
    if not has_role_at(actor, territory, POOL_ROLES):
        refuse(action, _("Apre un fondo di co-finanziamento solo la tesoreria di %(t)s.") % {"t": territory},
               actor=actor, territory=territory, code="out_of_scope", permission=True)
    root = eligible_root or territory
    if not root.path.startswith(territory.path):
        refuse(action, _("Un fondo può co-finanziare solo raccolte del proprio territorio."), actor=actor,
               territory=territory, code="eligible_root", field="eligible_root")
    if budget_cents <= 0:
        refuse(action, _("Il budget deve essere maggiore di zero."), actor=actor, territory=territory,
               code="budget", field="budget")
    with transaction.atomic():
        pool = MatchingPool.objects.create(territory=territory, name=name.strip(), budget_cents=budget_cents,
                                           eligible_root=root, created_by=actor, **rules)
        money = Money(budget_cents, pool.currency)
        post_transaction(actor=actor, cause=Cause.TRANSFER, memo=f"Fondo di co-finanziamento: {pool.name}"[:255],
                         entries=[(get_account("territory", territory=territory), money),
                                  (_pool_account(pool), -money)],
                         idempotency_key=f"pool:{pool.pk}:open", about=pool, audit=False)
        record(action, actor=actor, obj=pool, territory=territory,
               data={"budget_cents": budget_cents, "rules": {k: str(v) for k, v in rules.items()}})
    return pool


# --- Peer-to-peer pages ---------------------------------------------------------------------


def create_fundraising_page(*, campaign: Campaign, first_name: str, last_name: str, email: str, display_name: str,
                            title: str, story: str, goal_cents: int, team_name: str = "") -> FundraisingPage:
    """A supporter's page for a live campaign; it stays hidden until the team approves it."""
    action = "funding.create_fundraising_page"
    if campaign.status != CampaignStatus.LIVE:
        refuse(action, _("Si può creare una pagina solo per una raccolta attiva."), actor=None,
               territory=campaign.territory, code="closed")
    with refusing(action, None, campaign.territory), transaction.atomic():  # the people app may refuse
        person = find_or_create_person(actor=None, source=Source.DONATION, data={
            "first_name": first_name, "last_name": last_name, "emails": [email]}, circolo=None)
        team = None
        if team_name.strip():
            team, _new = FundraisingTeam.objects.get_or_create(
                campaign=campaign, slug=slugify(team_name)[:80] or "squadra", defaults={"name": team_name.strip()})
        base = slugify(f"{display_name}-{campaign.slug}")[:70] or "pagina"
        page = FundraisingPage.objects.create(
            campaign=campaign, team=team, person=person, slug=f"{base}-{secrets.token_hex(3)}",
            display_name=display_name.strip(), title=title.strip(), story=story.strip(), goal_cents=goal_cents,
            manage_token=secrets.token_urlsafe(32))
        record(action, actor=None, obj=page, territory=campaign.territory, data={"title": page.title})
    return page


def moderate_page(*, actor: Any, page: FundraisingPage, approve: bool, reason: str = "") -> FundraisingPage:
    action = "funding.moderate_page"
    _require_manage(action, actor, page.campaign)
    if not approve and len(reason.strip()) < 5:
        refuse(action, _("Scrivi perché la pagina non può essere pubblicata."), actor=actor,
               territory=page.campaign.territory, code="reason", field="reason")
    with transaction.atomic():
        page.status = ModerationStatus.APPROVED if approve else ModerationStatus.REJECTED
        page.rejection_reason = "" if approve else reason.strip()[:250]
        page.moderated_by = actor
        page.moderated_at = timezone.now()
        page.save(update_fields=["status", "rejection_reason", "moderated_by", "moderated_at"])
        record(action, actor=actor, obj=page, territory=page.campaign.territory,
               data={"approved": approve, "reason": page.rejection_reason})
    return page
