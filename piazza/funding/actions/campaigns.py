"""Campaigns: creation, editing, approval, launch, content."""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Iterable
from typing import Any

from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.text import slugify
from django.utils.translation import gettext as _

from piazza.core.audit import record
from piazza.core.errors import refuse
from piazza.core.money import Money
from piazza.core.tasks import enqueue_on_commit
from piazza.funding.content import ImageRefused, render_markdown, resize_image
from piazza.funding.models import (
    COUNTER_SLOTS,
    FAQ,
    BudgetLine,
    Campaign,
    CampaignCounter,
    CampaignImage,
    CampaignKind,
    CampaignStatus,
    CampaignUpdate,
    FundingModel,
    SplitShare,
    TeamMember,
    TeamRole,
)
from piazza.territory.models import Territory
from piazza.territory.scoping import has_role_at

from .donations import gift_accounts
from .permissions import (
    CAMPAIGN_ROLES,
    CONTENT_EDITABLE,
    EDITABLE,
    _require_manage,
    approver_level,
    can_approve,
    is_author,
)


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
        refuse(
            action,
            _("L'obiettivo deve essere maggiore di zero."),
            actor=actor,
            territory=territory,
            code="goal",
            field="goal",
        )
    if minimum is not None and goal is not None and minimum > goal:
        refuse(
            action,
            _("Il minimo da raggiungere non può superare l'obiettivo."),
            actor=actor,
            territory=territory,
            code="minimum",
            field="minimum",
        )
    if fields.get("funding_model") == FundingModel.ALL_OR_NOTHING and goal is not None and minimum is None:
        fields["minimum_cents"] = goal
    if deadline is not None and deadline <= timezone.now():
        refuse(
            action,
            _("La scadenza deve essere nel futuro."),
            actor=actor,
            territory=territory,
            code="deadline",
            field="deadline",
        )
    kind = fields.get("kind")
    candidacy = fields.get("candidacy")
    if kind == CampaignKind.CANDIDATE and candidacy is None:
        refuse(
            action,
            _("Una raccolta per una candidatura deve indicare la candidatura e il suo mandatario."),
            actor=actor,
            territory=territory,
            code="candidacy",
            field="candidacy",
        )
    if (
        candidacy is not None
        and not candidacy.territory.path.startswith(territory.path)
        and not territory.path.startswith(candidacy.territory.path)
    ):
        refuse(
            action,
            _("La candidatura appartiene a un altro territorio."),
            actor=actor,
            territory=territory,
            code="candidacy_territory",
            field="candidacy",
        )


def create_campaign(
    *,
    actor: Any,
    territory: Territory,
    title: str,
    summary: str,
    goal_cents: int,
    deadline: dt.datetime,
    kind: str = CampaignKind.PROJECT,
    funding_model: str = FundingModel.KEEP_IT_ALL,
    minimum_cents: int | None = None,
    story_markdown: str = "",
    candidacy: Any = None,
    presets_cents: list[int] | None = None,
    min_gift_cents: int = 200,
    allow_monthly: bool = True,
    title_en: str = "",
    summary_en: str = "",
) -> Campaign:
    action = "funding.create_campaign"
    if not has_role_at(actor, territory, CAMPAIGN_ROLES):
        refuse(
            action,
            _("Non hai un ruolo su %(t)s per aprire una raccolta.") % {"t": territory},
            actor=actor,
            territory=territory,
            code="out_of_scope",
            permission=True,
        )
    fields: dict[str, Any] = {
        "goal_cents": goal_cents,
        "minimum_cents": minimum_cents,
        "deadline": deadline,
        "kind": kind,
        "candidacy": candidacy,
        "funding_model": funding_model,
    }
    _validate_fields(action, actor, territory, fields)
    with transaction.atomic():
        campaign = Campaign.objects.create(
            territory=territory,
            title=title.strip(),
            summary=summary.strip(),
            slug=_unique_slug(title),
            title_en=title_en.strip(),
            summary_en=summary_en.strip(),
            goal_cents=goal_cents,
            minimum_cents=fields["minimum_cents"],
            deadline=deadline,
            kind=kind,
            funding_model=funding_model,
            story_markdown=story_markdown,
            story_html=render_markdown(story_markdown),
            candidacy=candidacy,
            presets_cents=presets_cents or [],
            min_gift_cents=min_gift_cents,
            allow_monthly=allow_monthly,
            created_by=actor,
        )
        TeamMember.objects.create(campaign=campaign, user=actor, role=TeamRole.OFFICIAL)
        if candidacy is not None and candidacy.mandatario_user_id:
            TeamMember.objects.get_or_create(
                campaign=campaign, user_id=candidacy.mandatario_user_id, defaults={"role": TeamRole.MANDATARIO}
            )
        record(
            action,
            actor=actor,
            obj=campaign,
            territory=territory,
            data={"title": campaign.title, "goal_cents": goal_cents, "kind": kind, "model": funding_model},
        )
    return campaign


EDIT_FIELDS = {
    "title",
    "summary",
    "title_en",
    "summary_en",
    "story_markdown",
    "goal_cents",
    "minimum_cents",
    "deadline",
    "kind",
    "funding_model",
    "candidacy",
    "presets_cents",
    "min_gift_cents",
    "allow_monthly",
}


STORY_FIELDS = {"title", "summary", "title_en", "summary_en", "story_markdown"}


def update_campaign(*, actor: Any, campaign: Campaign, **changes: Any) -> Campaign:
    """Everything is editable before approval; after it, only the words (money terms are frozen)."""
    action = "funding.update_campaign"
    _require_manage(action, actor, campaign)
    unknown = set(changes) - EDIT_FIELDS
    if unknown:
        raise TypeError(f"not editable: {sorted(unknown)}")
    if campaign.status not in EDITABLE and set(changes) - STORY_FIELDS:
        refuse(
            action,
            _("Dopo l'invio all'approvazione obiettivo, scadenza e modello di raccolta non si possono più cambiare."),
            actor=actor,
            territory=campaign.territory,
            code="frozen",
        )
    if campaign.status not in CONTENT_EDITABLE:
        refuse(
            action,
            _("La raccolta è conclusa: non si può più modificare."),
            actor=actor,
            territory=campaign.territory,
            code="closed",
        )
    merged = {
        f: changes.get(f, getattr(campaign, f))
        for f in ("goal_cents", "minimum_cents", "kind", "candidacy", "funding_model")
    }
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
        record(
            action,
            actor=actor,
            obj=campaign,
            territory=campaign.territory,
            data={"before": before, "after": {f: str(v) for f, v in changes.items()}},
        )
    return campaign


def submit_campaign(*, actor: Any, campaign: Campaign) -> Campaign:
    action = "funding.submit_campaign"
    _require_manage(action, actor, campaign)
    if campaign.status not in EDITABLE:
        refuse(
            action,
            _("Solo una bozza o una raccolta respinta può essere inviata all'approvazione."),
            actor=actor,
            territory=campaign.territory,
            code="wrong_status",
        )
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
        refuse(
            action,
            _("Prima di inviarla completa la raccolta: %(p)s.") % {"p": "; ".join(problems)},
            actor=actor,
            territory=campaign.territory,
            code="incomplete",
        )
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
        refuse(
            action,
            _(
                "Hai preparato, modificato o inviato questa raccolta: non può approvarla chi l'ha scritta. "
                "Deve approvarla un'altra persona con un ruolo di organizzazione o tesoreria su %(t)s."
            )
            % {"t": approver_level(campaign)},
            actor=actor,
            territory=campaign.territory,
            code="own_campaign",
            permission=True,
        )
    if not can_approve(actor, campaign):
        refuse(
            action,
            _("Approva chi ha un ruolo di organizzazione o tesoreria al livello superiore (%(t)s).")
            % {"t": approver_level(campaign)},
            actor=actor,
            territory=campaign.territory,
            code="not_approver",
            permission=True,
        )
    if campaign.status != CampaignStatus.SUBMITTED:
        refuse(
            action,
            _("Si approva solo una raccolta inviata all'approvazione."),
            actor=actor,
            territory=campaign.territory,
            code="wrong_status",
        )
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
        refuse(
            action,
            _("Respinge chi ha un ruolo di organizzazione o tesoreria al livello superiore (%(t)s).")
            % {"t": approver_level(campaign)},
            actor=actor,
            territory=campaign.territory,
            code="not_approver",
            permission=True,
        )
    if campaign.status != CampaignStatus.SUBMITTED:
        refuse(
            action,
            _("Si respinge solo una raccolta inviata all'approvazione."),
            actor=actor,
            territory=campaign.territory,
            code="wrong_status",
        )
    if len(reason.strip()) < 10:
        refuse(
            action,
            _("Scrivi il motivo del rifiuto (almeno 10 caratteri): la squadra deve sapere cosa correggere."),
            actor=actor,
            territory=campaign.territory,
            code="reason",
            field="reason",
        )
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
        refuse(
            action,
            _("Si può pubblicare solo una raccolta approvata."),
            actor=actor,
            territory=campaign.territory,
            code="wrong_status",
        )
    if campaign.deadline <= timezone.now():
        refuse(
            action,
            _("La scadenza è già passata: chiedi una nuova approvazione con un'altra data."),
            actor=actor,
            territory=campaign.territory,
            code="deadline",
        )
    with transaction.atomic():
        campaign.status = CampaignStatus.LIVE
        campaign.launched_at = timezone.now()
        campaign.save(update_fields=["status", "launched_at"])
        CampaignCounter.objects.bulk_create(
            [CampaignCounter(campaign=campaign, slot=i) for i in range(COUNTER_SLOTS)], ignore_conflicts=True
        )
        gift_accounts(campaign, Money(100, campaign.currency))  # open the ledger accounts now, not on the first gift
        record(action, actor=actor, obj=campaign, territory=campaign.territory)
    return campaign


def add_budget_line(*, actor: Any, campaign: Campaign, label: str, amount_cents: int) -> BudgetLine:
    action = "funding.add_budget_line"
    _require_manage(action, actor, campaign)
    if campaign.status not in EDITABLE:
        refuse(
            action,
            _("Le voci di spesa si cambiano solo prima dell'approvazione."),
            actor=actor,
            territory=campaign.territory,
            code="frozen",
        )
    with transaction.atomic():
        position = (campaign.budget_lines.aggregate(m=Max("position"))["m"] or 0) + 1
        line = BudgetLine.objects.create(
            campaign=campaign, label=label.strip(), amount_cents=amount_cents, position=position
        )
        record(
            action,
            actor=actor,
            obj=campaign,
            territory=campaign.territory,
            data={"label": line.label, "amount_cents": amount_cents},
        )
    return line


def add_faq(*, actor: Any, campaign: Campaign, question: str, answer: str) -> FAQ:
    action = "funding.add_faq"
    _require_manage(action, actor, campaign)
    with transaction.atomic():
        position = (campaign.faqs.aggregate(m=Max("position"))["m"] or 0) + 1
        faq = FAQ.objects.create(campaign=campaign, question=question.strip(), answer=answer.strip(), position=position)
        record(action, actor=actor, obj=campaign, territory=campaign.territory, data={"question": faq.question})
    return faq


def add_image(*, actor: Any, campaign: Campaign, upload: UploadedFile, alt_text: str) -> CampaignImage:
    action = "funding.add_image"
    _require_manage(action, actor, campaign)
    if not alt_text.strip():
        refuse(
            action,
            _("Descrivi l'immagine per chi non la vede (testo alternativo obbligatorio)."),
            actor=actor,
            territory=campaign.territory,
            code="alt_required",
            field="alt_text",
        )
    try:
        content, width, height = resize_image(upload)
    except ImageRefused as exc:
        refuse(action, str(exc), actor=actor, territory=campaign.territory, code="bad_image", field="image")
        raise  # refuse() always raises; this keeps type checkers informed
    with transaction.atomic():
        position = (campaign.images.aggregate(m=Max("position"))["m"] or 0) + 1
        image = CampaignImage(
            campaign=campaign, alt_text=alt_text.strip(), width=width, height=height, position=position
        )
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
        refuse(
            action,
            _("La ripartizione si decide prima dell'approvazione."),
            actor=actor,
            territory=campaign.territory,
            code="frozen",
        )
    if campaign.kind == CampaignKind.CANDIDATE and shares:
        refuse(
            action,
            _("I fondi di una candidatura vanno solo al mandatario: niente ripartizioni."),
            actor=actor,
            territory=campaign.territory,
            code="candidate_split",
        )
    if shares and sum(p for _t, p in shares) != 100:
        refuse(
            action,
            _("Le quote devono sommare a 100%% (ora: %(n)s%%).") % {"n": sum(p for _t, p in shares)},
            actor=actor,
            territory=campaign.territory,
            code="split_sum",
            field="splits",
        )
    with transaction.atomic():
        campaign.splits.all().delete()
        rows = SplitShare.objects.bulk_create(
            [SplitShare(campaign=campaign, recipient=t, percent=p) for t, p in shares]
        )
        record(
            action,
            actor=actor,
            obj=campaign,
            territory=campaign.territory,
            data={"shares": [[t.pk, p] for t, p in shares]},
        )
    return rows


def add_team_member(*, actor: Any, campaign: Campaign, user: Any, role: str) -> TeamMember:
    action = "funding.add_team_member"
    _require_manage(action, actor, campaign)
    if role in {TeamRole.STAFF, TeamRole.CANDIDATE, TeamRole.MANDATARIO} and campaign.kind != CampaignKind.CANDIDATE:
        refuse(
            action,
            _("Staff, candidato e mandatario fanno parte solo delle raccolte per una candidatura."),
            actor=actor,
            territory=campaign.territory,
            code="role",
            field="role",
        )
    with transaction.atomic():
        member, _created = TeamMember.objects.update_or_create(campaign=campaign, user=user, defaults={"role": role})
        record(
            action,
            actor=actor,
            obj=campaign,
            territory=campaign.territory,
            data={"user": user.get_username(), "role": role},
        )
    return member


def post_update(*, actor: Any, campaign: Campaign, title: str, body_markdown: str) -> CampaignUpdate:
    """Post news on the page; donors who opted in get it by email after the commit."""
    action = "funding.post_update"
    _require_manage(action, actor, campaign)
    if not title.strip() or not body_markdown.strip():
        refuse(
            action,
            _("Un aggiornamento ha bisogno di un titolo e di un testo."),
            actor=actor,
            territory=campaign.territory,
            code="required",
            field="title",
        )
    from piazza.funding import tasks

    with transaction.atomic():
        update = CampaignUpdate.objects.create(
            campaign=campaign,
            title=title.strip(),
            body_markdown=body_markdown,
            body_html=render_markdown(body_markdown),
            posted_by=actor,
        )
        record(action, actor=actor, obj=campaign, territory=campaign.territory, data={"title": update.title})
        enqueue_on_commit(tasks.email_update, update.pk)
    return update
