"""Public campaign pages (thermometer, widget, share card, donation form) and the back office.

Public pages show only public campaigns; back-office pages read through `visible_to` and
answer 404 outside the official's subtree (convention 11).
"""

from __future__ import annotations

import io
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.clickjacking import xframe_options_exempt
from django.views.decorators.http import require_POST

from piazza.compliance.candidates import spending_cap_cents
from piazza.compliance.models import Candidacy
from piazza.compliance.receipt_documents import receipt_filename, receipts_pdf
from piazza.compliance.receipts import receipts_of_source
from piazza.compliance.rules import rules_on
from piazza.core.audit import record
from piazza.core.input_guard import ascii_int
from piazza.core.models import AuditKind
from piazza.core.money import format_eur
from piazza.core.personal_data import shows_personal_data
from piazza.core.prepared import prepared_read
from piazza.core.throttle import throttle_public_form
from piazza.funding import queries, recognition
from piazza.funding.actions import campaigns as campaigns_actions
from piazza.funding.actions import closing as closing_actions
from piazza.funding.actions import donations as donations_actions
from piazza.funding.actions import monthly as monthly_actions
from piazza.funding.actions import permissions as permissions_actions
from piazza.funding.actions import pools as pools_actions
from piazza.funding.actions import rounds as rounds_actions
from piazza.funding.forms import (
    BudgetLineForm,
    CampaignForm,
    DonationForm,
    FAQForm,
    FundraisingPageForm,
    ImageForm,
    LegalGiverDonationForm,
    OneClickForm,
    PoolForm,
    RejectForm,
    RoundExclusionForm,
    SplitForm,
    UpdateForm,
)
from piazza.funding.models import (
    Campaign,
    CampaignKind,
    CampaignStatus,
    DonationStatus,
    FundraisingPage,
    MatchingPool,
    ModerationStatus,
    PoolMode,
)
from piazza.funding.queries import round_standing
from piazza.funding.round_anomalies import round_clusters
from piazza.payments import devices
from piazza.payments.actions import devices as devices_payment_actions
from piazza.people.codice_fiscale import canonical_codice_fiscale
from piazza.territory.access import official_required
from piazza.territory.models import Territory

# --- public pages ---------------------------------------------------------------------------


def campaign_list(request: HttpRequest) -> HttpResponse:
    """Live campaigns; `?comune=Bologna` keeps those near that comune (its circoli and the levels above)."""
    wanted = request.GET.get("comune", "").strip()[:120]
    comuni = queries.comuni_named(wanted)
    if wanted and comuni:
        campaigns = queries.live_campaigns_near(comuni)
    else:
        campaigns = list(Campaign.objects.live().select_related("territory").order_by("deadline")[:60])
    return render(
        request,
        "funding/list.html",
        {"rows": [(c, queries.thermometer(c)) for c in campaigns], "wanted": wanted, "comuni": comuni},
    )


def home_campaigns() -> list[tuple[Campaign, queries.Thermometer]]:
    """Live campaigns for the public home page."""
    campaigns = list(Campaign.objects.live().select_related("territory").order_by("deadline")[:6])
    return [(c, queries.thermometer(c)) for c in campaigns]


@prepared_read(Campaign)
def _public_campaign_by_slug(slug: str) -> QuerySet[Campaign]:
    return Campaign.objects.public().select_related("territory", "candidacy").filter(slug=slug)[:1]


def _public_campaign(slug: str) -> Campaign:
    """Every public page and both donation POSTs start here: compiled once per process (ADR 0034)."""
    campaign = _public_campaign_by_slug.first(slug)
    if campaign is None:
        raise Http404("No Campaign matches the given query.")
    return campaign


def campaign_detail(request: HttpRequest, slug: str) -> HttpResponse:
    campaign = _public_campaign(slug)
    context = {
        "campaign": campaign,
        "thermo": queries.thermometer(campaign),
        "budget_lines": campaign.budget_lines.all(),
        "images": campaign.images.all(),
        "updates": campaign.updates.all()[:10],
        "faqs": campaign.faqs.all(),
        "leaderboard": queries.leaderboard(campaign),
        "teams": queries.team_leaderboard(campaign),
        "share_url": request.build_absolute_uri(campaign.get_absolute_url()),
        "card_url": request.build_absolute_uri(f"{campaign.get_absolute_url()}card.png"),
        "recognition": recognition.campaign_recognition(campaign),
        **donation_context(request, campaign),
    }
    return render(request, "funding/campaign.html", context)


def thermometer_partial(request: HttpRequest, slug: str) -> HttpResponse:
    """The fragment htmx polls every few seconds; cheap (cached counters)."""
    campaign = _public_campaign(slug)
    return render(request, "funding/_thermometer.html", {"campaign": campaign, "thermo": queries.thermometer(campaign)})


@xframe_options_exempt
def widget(request: HttpRequest, slug: str) -> HttpResponse:
    """Embeddable donate widget for other sites: the only page that may be framed anywhere."""
    campaign = _public_campaign(slug)
    response = render(request, "funding/widget.html", {"campaign": campaign, "thermo": queries.thermometer(campaign)})
    response._csp_replace = {"frame-ancestors": ["*"]}  # type: ignore[attr-defined]
    return response


def share_card(request: HttpRequest, slug: str) -> HttpResponse:
    """OpenGraph image (1200×630 PNG) drawn with Pillow: title, territory, progress bar."""
    from PIL import Image, ImageDraw, ImageFont

    campaign = _public_campaign(slug)
    thermo = queries.thermometer(campaign)
    image = Image.new("RGB", (1200, 630), "#0b5d3b")
    draw = ImageDraw.Draw(image)
    big: Any
    small: Any
    try:
        big = ImageFont.truetype("DejaVuSans-Bold.ttf", 60)
        small = ImageFont.truetype("DejaVuSans.ttf", 36)
    except OSError:
        big = small = ImageFont.load_default()
    draw.text((60, 60), campaign.territory.name, fill="#d7f0e2", font=small)
    words, lines, line = campaign.title.split(), [], ""
    for word in words:
        if len(line) + len(word) > 30:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    lines.append(line)
    for i, text in enumerate(lines[:3]):
        draw.text((60, 140 + i * 75), text, fill="#ffffff", font=big)
    draw.rectangle((60, 470, 1140, 510), fill="#0a4a2f")
    draw.rectangle((60, 470, 60 + 1080 * thermo.percent // 100, 510), fill="#ffffff")

    draw.text(
        (60, 530), f"{format_eur(thermo.total_cents)} / {format_eur(campaign.goal_cents)}", fill="#ffffff", font=small
    )
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    response = HttpResponse(buffer.getvalue(), content_type="image/png")
    response["Cache-Control"] = "public, max-age=300"
    return response


def fundraising_page(request: HttpRequest, slug: str) -> HttpResponse:
    page = get_object_or_404(
        FundraisingPage.objects.select_related("campaign", "team"), slug=slug, status=ModerationStatus.APPROVED
    )
    campaign = page.campaign
    context = {
        "page": page,
        "campaign": campaign,
        "raised": queries.page_raised(page),
        "thermo": queries.thermometer(campaign),
        **donation_context(request, campaign, page=page),
    }
    return render(request, "funding/fundraising_page.html", context)


def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    from piazza.funding.models import UpdateSubscription

    sub = get_object_or_404(UpdateSubscription, token=token)
    if request.method == "POST":
        monthly_actions.unsubscribe_updates(subscription=sub)
        messages.success(request, _("Non riceverai più aggiornamenti di questa raccolta."))
        return redirect(sub.campaign.get_absolute_url())
    return render(request, "funding/unsubscribe.html", {"sub": sub})


# --- back office ----------------------------------------------------------------------------

MANAGE = permissions_actions.CAMPAIGN_ROLES


def _managed(request: HttpRequest, pk: int) -> Campaign:
    campaign = Campaign.objects.visible_to(request.user).select_related("territory", "candidacy").filter(pk=pk).first()
    if campaign is None and getattr(request.user, "is_authenticated", False):
        user: Any = request.user
        campaign = Campaign.objects.filter(pk=pk, team__user=user).select_related("territory").first()
    if campaign is None:
        raise Http404
    return campaign


@official_required(roles=MANAGE)
def manage_list(request: HttpRequest) -> HttpResponse:
    campaigns = Campaign.objects.visible_to(request.user, MANAGE).select_related("territory").order_by("-created_at")
    territories = Territory.objects.visible_to(request.user, MANAGE).open().order_by("path")[:300]
    return render(
        request,
        "funding/manage_list.html",
        {"campaigns": campaigns[:200], "pending": queries.awaiting_approval(request.user), "territories": territories},
    )


@official_required(roles=MANAGE)
def manage_create(request: HttpRequest) -> HttpResponse:
    territory = get_object_or_404(
        Territory.objects.visible_to(request.user, MANAGE),
        pk=request.GET.get("territory") or request.POST.get("territory") or 0,
    )
    # Rule F10: the candidacies this campaign may collect for — in the official's scope, or registered at a
    # level above the campaign's territory (a municipal candidacy of the federation, for one of its circoli).
    ancestors = [territory.path[: i + 1] for i, char in enumerate(territory.path) if char == "/"]
    candidacies = (
        Candidacy.objects.visible_to(request.user, MANAGE) | Candidacy.objects.filter(territory__path__in=ancestors)
    ).distinct()
    initial: dict[str, Any] = {}
    chosen = candidacies.filter(pk=request.GET.get("candidacy") or 0).first() if request.method == "GET" else None
    if chosen is not None:  # opened from the candidacy's page: pre-filled and linked
        initial = {
            "candidacy": chosen.pk,
            "kind": CampaignKind.CANDIDATE,
            "title": _("%(name)s per %(election)s") % {"name": chosen.candidate_name, "election": chosen.election},
            "summary": _("Sostieni la campagna di %(name)s: le donazioni vanno sul conto del mandatario.")
            % {"name": chosen.candidate_name},
        }
        if chosen.election_day:
            initial["deadline"] = f"{chosen.election_day:%Y-%m-%d}T23:00"  # the datetime-local input's format
    form = CampaignForm(request.POST or None, candidacies=candidacies, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            campaign = campaigns_actions.create_campaign(
                actor=request.user, territory=territory, **form.action_kwargs()
            )
        except ValidationError as exc:
            _attach(form, exc)
        else:
            messages.success(request, _("Bozza creata: aggiungi le voci di spesa e inviala all'approvazione."))
            return redirect("funding:manage", campaign.pk)
    return render(request, "funding/manage_form.html", {"form": form, "territory": territory})


def _attach(form: Any, exc: ValidationError) -> None:
    if hasattr(exc, "error_dict"):
        for field, errors in exc.error_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, exc)


@official_required()
@shows_personal_data("funding.view_campaign")
def manage_detail(request: HttpRequest, pk: int) -> HttpResponse:
    campaign = _managed(request, pk)
    cap = None
    if campaign.candidacy_id:
        assert campaign.candidacy is not None
        cap = spending_cap_cents(campaign.candidacy)
    context = {
        "campaign": campaign,
        "thermo": queries.thermometer(campaign, fresh=True),
        "figures": queries.small_donor_figures(campaign),
        "sources": queries.money_by_source(campaign),
        "can_manage": permissions_actions.can_manage(request.user, campaign),
        "can_decide": permissions_actions.can_approve(request.user, campaign),
        "is_author": permissions_actions.is_author(request.user, campaign),
        "spending_cap_cents": cap,
        "pages_pending": campaign.pages.filter(status=ModerationStatus.PENDING),
        "budget_form": BudgetLineForm(),
        "faq_form": FAQForm(),
        "image_form": ImageForm(),
        "update_form": UpdateForm(),
        "reject_form": RejectForm(),
        "split_form": SplitForm(),
    }
    return render(request, "funding/manage_detail.html", context)


@official_required()
@shows_personal_data("funding.view_donors", audited_inline=True)
def manage_donors(request: HttpRequest, pk: int) -> HttpResponse:
    """Donor list of one campaign: personal data, so the view is logged (rule G4)."""
    campaign = _managed(request, pk)
    donations = campaign.donations.filter(status__in=[DonationStatus.SUCCEEDED, DonationStatus.REFUNDED]).order_by(
        "-succeeded_at"
    )[:500]
    with transaction.atomic():
        record(
            "funding.view_donors",
            actor=request.user,
            obj=campaign,
            territory=campaign.territory,
            kind=AuditKind.VIEW,
            data={"rows": len(donations)},
        )
    return render(request, "funding/manage_donors.html", {"campaign": campaign, "donations": donations})


def _post_action(request: HttpRequest, campaign: Campaign, run: Any, success: str) -> HttpResponse:
    try:
        run()
    except ValidationError as exc:
        for message in exc.messages:
            messages.error(request, message)
    except PermissionDenied as exc:
        messages.error(request, str(exc) or _("Non hai i permessi per questa operazione."))
    else:
        messages.success(request, success)
    return redirect("funding:manage", campaign.pk)


@require_POST
@official_required()
def manage_action(request: HttpRequest, pk: int, verb: str) -> HttpResponse:
    """One POST endpoint per workflow verb; each calls exactly one action."""
    campaign = _managed(request, pk)
    user = request.user
    post = request.POST
    if verb == "submit":
        return _post_action(
            request,
            campaign,
            lambda: campaigns_actions.submit_campaign(actor=user, campaign=campaign),
            _("Inviata all'approvazione del livello superiore."),
        )
    if verb == "approve":
        return _post_action(
            request,
            campaign,
            lambda: campaigns_actions.approve_campaign(actor=user, campaign=campaign),
            _("Raccolta approvata."),
        )
    if verb == "reject":
        return _post_action(
            request,
            campaign,
            lambda: campaigns_actions.reject_campaign(actor=user, campaign=campaign, reason=post.get("reason", "")),
            _("Raccolta respinta con motivazione."),
        )
    if verb == "launch":
        return _post_action(
            request,
            campaign,
            lambda: campaigns_actions.launch_campaign(actor=user, campaign=campaign),
            _("La raccolta è pubblica e accetta donazioni."),
        )
    if verb == "end":
        return _post_action(
            request,
            campaign,
            lambda: closing_actions.end_campaign(actor=user, campaign=campaign),
            _("Raccolta conclusa."),
        )
    if verb == "budget":
        form = BudgetLineForm(post)
        if not form.is_valid():
            messages.error(request, " ".join(str(e) for errs in form.errors.values() for e in errs))
            return redirect("funding:manage", campaign.pk)
        return _post_action(
            request,
            campaign,
            lambda: campaigns_actions.add_budget_line(
                actor=user,
                campaign=campaign,
                label=form.cleaned_data["label"],
                amount_cents=form.cleaned_data["amount"].cents,
            ),
            _("Voce di spesa aggiunta."),
        )
    if verb == "faq":
        faq = FAQForm(post)
        if not faq.is_valid():
            messages.error(request, _("Scrivi domanda e risposta."))
            return redirect("funding:manage", campaign.pk)
        return _post_action(
            request,
            campaign,
            lambda: campaigns_actions.add_faq(actor=user, campaign=campaign, **faq.cleaned_data),
            _("Domanda aggiunta."),
        )
    if verb == "image":
        image = ImageForm(post, request.FILES)
        if not image.is_valid():
            messages.error(request, " ".join(str(e) for errs in image.errors.values() for e in errs))
            return redirect("funding:manage", campaign.pk)
        return _post_action(
            request,
            campaign,
            lambda: campaigns_actions.add_image(
                actor=user,
                campaign=campaign,
                upload=image.cleaned_data["image"],
                alt_text=image.cleaned_data["alt_text"],
            ),
            _("Immagine aggiunta e ridimensionata."),
        )
    if verb == "update":
        upd = UpdateForm(post)
        if not upd.is_valid():
            messages.error(request, _("Un aggiornamento ha bisogno di un titolo e di un testo."))
            return redirect("funding:manage", campaign.pk)
        return _post_action(
            request,
            campaign,
            lambda: campaigns_actions.post_update(actor=user, campaign=campaign, **upd.cleaned_data),
            _("Aggiornamento pubblicato; i donatori iscritti lo ricevono per email."),
        )
    if verb == "splits":
        return _post_action(
            request,
            campaign,
            lambda: campaigns_actions.set_splits(
                actor=user, campaign=campaign, shares=_parse_shares(user, post.get("shares", ""))
            ),
            _("Ripartizione salvata."),
        )
    if verb in {"page_approve", "page_reject"}:
        page = get_object_or_404(FundraisingPage, pk=post.get("page"), campaign=campaign)
        return _post_action(
            request,
            campaign,
            lambda: pools_actions.moderate_page(
                actor=user, page=page, approve=verb == "page_approve", reason=post.get("reason", "")
            ),
            _("Pagina moderata."),
        )
    raise Http404


def _parse_shares(user: Any, text: str) -> list[tuple[Territory, int]]:
    shares = []
    for line in text.splitlines():
        if not line.strip():
            continue
        name, _sep, percent = line.rpartition(",")
        territory = Territory.objects.visible_to(user).filter(name__iexact=name.strip()).first()
        share = ascii_int(percent)
        if territory is None or share is None:
            raise ValidationError(
                _("Riga non valida: «%(line)s». Scrivi «nome della struttura, percentuale».") % {"line": line.strip()}
            )
        shares.append((territory, share))
    return shares


@official_required()
def manage_public_preview(request: HttpRequest, pk: int) -> HttpResponse:
    campaign = _managed(request, pk)
    if campaign.status in {CampaignStatus.LIVE, CampaignStatus.ENDED, CampaignStatus.SETTLED}:
        return redirect(campaign.get_absolute_url())
    return render(
        request,
        "funding/campaign.html",
        {
            "campaign": campaign,
            "thermo": queries.thermometer(campaign),
            "budget_lines": campaign.budget_lines.all(),
            "images": campaign.images.all(),
            "faqs": campaign.faqs.all(),
            "updates": campaign.updates.all(),
            "preview": True,
        },
    )


# --- donating -------------------------------------------------------------------------------

ATTRIBUTION = ("refcode", "utm_source", "utm_medium", "utm_campaign")


def donation_context(
    request: HttpRequest, campaign: Campaign, *, page: FundraisingPage | None = None, form: DonationForm | None = None
) -> dict[str, Any]:
    """The donation form and what a gift becomes with the pools; empty when the campaign is closed."""
    if not campaign.is_open_for_gifts():
        return {"form": None}
    if form is None:
        initial = {k: request.GET.get(k, "")[:60] for k in ATTRIBUTION}
        if page is not None:
            initial["page"] = page.slug
        form = DonationForm(campaign=campaign, initial=initial)
    matches = donations_actions.preview_matches_for(campaign, campaign.presets)
    examples = [(cents, cents + match, match) for cents, match in matches.items() if match][:2]
    if not form.is_bound:
        form.initial["shown_matches"] = ",".join(f"{c}:{m}" for c, m in matches.items() if m)
    offer = queries.one_click_offer(devices.device_of(request))
    return {
        "form": form,
        "match_examples": examples,
        "publication_threshold": rules_on().publication_threshold_cents,
        "one_click": offer,
        "one_click_form": OneClickForm(campaign=campaign) if offer else None,
    }


# A returning donor is recognised only by the device token of a browser where they ticked
# "Ricorda la mia carta" (payments.devices, convention 16): never by login plus an email, never
# by a person id in a cookie. The cookie of the old design is dropped wherever it is seen.
LEGACY_DONOR_COOKIE = "piazza_donatore"


@require_POST
def donate_one_click(request: HttpRequest, slug: str) -> HttpResponse:
    """A browser holding a device token gives with that card: one click, no form to fill."""
    campaign = _public_campaign(slug)
    device = devices.device_of(request)
    offer = queries.one_click_offer(device)
    if device is None or offer is None:
        messages.error(request, _("Questo dispositivo non ha una carta ricordata: usa il modulo."))
        return redirect(f"{campaign.get_absolute_url()}#dona")
    form = OneClickForm(request.POST, campaign=campaign)
    if not form.is_valid():
        for errors in form.errors.values():
            for error in errors:
                messages.error(request, str(error))
        return redirect(f"{campaign.get_absolute_url()}#dona")
    try:
        result = donations_actions.give_again(
            actor=request.user,
            campaign=campaign,
            previous=offer.donation,
            method=offer.method,
            amount_cents=form.cleaned_data["amount"],
            idempotency_key=form.cleaned_data["idempotency_key"],
        )
    except ValidationError as exc:
        for message in exc.messages:
            messages.error(request, message)
        return redirect(f"{campaign.get_absolute_url()}#dona")
    devices_payment_actions.touch_device(actor=request.user, device=device)
    return redirect(result.next_url)


@require_POST
def forget_donor(request: HttpRequest) -> HttpResponse:
    """ "Non sei tu?": the device token is revoked on the server and this browser forgets it."""
    target = str(request.POST.get("next", ""))
    response = redirect(target if target.startswith("/") and not target.startswith("//") else "/")
    devices.forget_device(request, response)
    response.delete_cookie(LEGACY_DONOR_COOKIE)
    return response


def _input_from(form: DonationForm, request: HttpRequest) -> donations_actions.DonationInput:
    d = form.cleaned_data
    page = None
    if d.get("page"):
        page = FundraisingPage.objects.filter(
            slug=d["page"], campaign=form.campaign, status=ModerationStatus.APPROVED
        ).first()
    return donations_actions.DonationInput(
        amount_cents=d["amount_cents"],
        frequency=d["frequency"],
        first_name=d["first_name"],
        last_name=d["last_name"],
        codice_fiscale=d["codice_fiscale"],
        email=d["email"],
        address=d["address"],
        postal_code=d["postal_code"],
        comune=d["comune"],
        attestations=form.attestations_given(),
        publication=d["publication"],
        idempotency_key=d["idempotency_key"],
        cover_fee=d["cover_fee"],
        on_wall=d["on_wall"],
        message=d["message"],
        updates=d["updates"],
        refcode=d.get("refcode", ""),
        utm_source=d.get("utm_source", ""),
        utm_medium=d.get("utm_medium", ""),
        utm_campaign=d.get("utm_campaign", ""),
        shown_match_cents=form.shown_match_for(d["amount_cents"]),
        page=page,
        remember_method=bool(d.get("remember_method")),
        notice=d.get("notice_version"),
    )


def donate(request: HttpRequest, slug: str) -> HttpResponse:
    """GET: the form alone (no JavaScript needed). POST: check everything, then go to pay."""
    campaign = _public_campaign(slug)
    if request.method != "POST":
        return render(request, "funding/donate.html", {"campaign": campaign, **donation_context(request, campaign)})
    # Issue 10, rule G1: the form takes a codice fiscale; per client and per code, a limit.
    throttled = throttle_public_form(request, canonical_codice_fiscale(request.POST.get("codice_fiscale", "")))
    if throttled is not None:
        return throttled
    form = DonationForm(request.POST, campaign=campaign)
    if not campaign.is_open_for_gifts():
        form.is_valid()
        form.add_error(None, _("Questa raccolta è chiusa e non accetta più donazioni."))
        return render(request, "funding/donate.html", {"campaign": campaign, "form": form, "closed": True}, status=409)
    if form.is_valid():
        try:
            result = donations_actions.submit_donation(
                actor=request.user, campaign=campaign, data=_input_from(form, request)
            )
        except ValidationError as exc:
            _attach(form, exc)
        else:
            if result.replayed:
                messages.info(request, _("Questa donazione era già stata inviata: non ti addebitiamo nulla due volte."))
            elif form.cleaned_data.get("remember_method") and result.donation.payment is not None:
                devices.claim_device(request, result.donation.payment)  # the opt-in, in this browser only
            return redirect(result.next_url)
    context = {"campaign": campaign, **donation_context(request, campaign, form=form)}
    return render(request, "funding/donate.html", context, status=400)


def donate_legal_person(request: HttpRequest, slug: str) -> HttpResponse:
    """Rule F13: «Dono a nome di un'azienda o associazione» — the legal representative gives on
    the entity's behalf, with the board resolution and the entity's attestations. Compliance
    judges them (`compliance.companies`); a refusal names the reason and nothing is written."""
    campaign = _public_campaign(slug)
    if not campaign.is_open_for_gifts():
        return render(request, "funding/donate_legal_person.html", {"campaign": campaign, "form": None}, status=409)
    if request.method != "POST":
        form = LegalGiverDonationForm(campaign=campaign)
        context = {"campaign": campaign, **donation_context(request, campaign, form=form), "one_click": None}
        return render(request, "funding/donate_legal_person.html", context)
    throttled = throttle_public_form(request, canonical_codice_fiscale(request.POST.get("codice_fiscale", "")))
    if throttled is not None:
        return throttled
    form = LegalGiverDonationForm(request.POST, request.FILES, campaign=campaign)
    if form.is_valid():
        data = _input_from(form, request)
        data.legal_giver = form.legal_giver()
        try:
            result = donations_actions.submit_donation(actor=request.user, campaign=campaign, data=data)
        except ValidationError as exc:
            _attach(form, exc)
        else:
            if result.replayed:
                messages.info(request, _("Questa donazione era già stata inviata: non ti addebitiamo nulla due volte."))
            return redirect(result.next_url)
    context = {"campaign": campaign, **donation_context(request, campaign, form=form), "one_click": None}
    return render(request, "funding/donate_legal_person.html", context, status=400)


def donation_status(request: HttpRequest, token: str) -> HttpResponse:
    """The donor's page: the thank-you page after paying and the link in the receipt email.

    Outcome ("your €10 became €20"), thermometer, share buttons, one-click cancel of a monthly
    gift. Only in the browser that ticked "Ricorda la mia carta" for this gift, once its payment
    has saved the card, does it set the device token for one-click gifts (and say so).
    """
    from urllib.parse import quote

    from piazza.funding.models import Donation, DonationStatus, Frequency

    donation = get_object_or_404(Donation.objects.select_related("campaign__territory", "payment"), manage_token=token)
    if request.method == "POST" and request.POST.get("cancel") and donation.frequency == Frequency.MONTHLY:
        monthly_actions.cancel_monthly(donation=donation, reason="donor request")
        messages.success(request, _("La donazione mensile è stata annullata: non ci saranno altri addebiti."))
        return redirect("funding:donation", token)
    campaign = donation.campaign
    payment = donation.payment
    share_url = request.build_absolute_uri(campaign.get_absolute_url())
    text = quote(_("Ho appena donato a «%(t)s». Dai una mano anche tu:") % {"t": campaign.title})
    link = quote(share_url)
    shares = [
        ("WhatsApp", f"https://wa.me/?text={text}%20{link}"),
        ("Telegram", f"https://t.me/share/url?url={link}&text={text}"),
        ("Facebook", f"https://www.facebook.com/sharer/sharer.php?u={link}"),
        ("Email", f"mailto:?subject={quote(campaign.title)}&body={text}%20{link}"),
    ]
    device_token = devices.issue_device(request, payment) if donation.status == DonationStatus.SUCCEEDED else None
    response = render(
        request,
        "funding/donation_status.html",
        {
            "donation": donation,
            "campaign": campaign,
            "thermo": queries.thermometer(campaign, fresh=True),
            "payment": payment,
            "share_url": share_url,
            "shares": shares,
            "one_click_saved": device_token is not None,
            "receipts": _donation_receipts(donation),
        },
    )
    if device_token is not None:
        devices.set_device_cookie(response, device_token)
    if LEGACY_DONOR_COOKIE in request.COOKIES:
        response.delete_cookie(LEGACY_DONOR_COOKIE)
    return response


def _donation_receipts(donation: Any) -> list[Any]:
    """Rule F3: the receipts and cancellations of this gift and, for the first month of a monthly
    gift (whose link the emails carry), of its later months."""
    from piazza.funding.models import Donation

    ids = [donation.pk, *Donation.objects.filter(parent=donation).values_list("pk", flat=True)]
    return list(receipts_of_source("funding.donation", ids).order_by("issued_at", "id"))


def donation_receipt(request: HttpRequest, token: str, pk: int) -> HttpResponse:
    """The donor downloads a receipt of their gift with the link they hold (the thank-you page, the
    email): the random token proves the gift is theirs; any other receipt id answers 404."""
    from piazza.funding.models import Donation

    donation = get_object_or_404(Donation, manage_token=token)
    receipt = next((r for r in _donation_receipts(donation) if r.pk == pk), None)
    if receipt is None:
        raise Http404
    response = HttpResponse(receipts_pdf([receipt]), content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="{receipt_filename(receipt)}"'
    response["Cache-Control"] = "private, no-store"
    return response


def page_create(request: HttpRequest, slug: str) -> HttpResponse:
    campaign = _public_campaign(slug)
    form = FundraisingPageForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        d = form.cleaned_data
        try:
            pools_actions.create_fundraising_page(
                campaign=campaign,
                first_name=d["first_name"],
                last_name=d["last_name"],
                email=d["email"],
                display_name=d["display_name"],
                title=d["title"],
                story=d["story"],
                goal_cents=d["goal"].cents,
                team_name=d["team"],
            )
        except ValidationError as exc:
            _attach(form, exc)
        else:
            messages.success(request, _("Grazie! La tua pagina sarà pubblicata dopo la verifica della squadra."))
            return redirect(campaign.get_absolute_url())
    return render(request, "funding/page_form.html", {"campaign": campaign, "form": form})


@official_required(roles=pools_actions.POOL_ROLES)
def pools(request: HttpRequest) -> HttpResponse:
    territories = Territory.objects.visible_to(request.user, pools_actions.POOL_ROLES).open().order_by("path")[:300]
    form = PoolForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        territory = get_object_or_404(
            territories.model.objects.visible_to(request.user, pools_actions.POOL_ROLES),
            pk=request.POST.get("territory") or 0,
        )
        d = form.cleaned_data

        def cents(key: str) -> int | None:
            return d[key].cents if d.get(key) else None

        try:
            pools_actions.open_pool(
                actor=request.user,
                territory=territory,
                name=d["name"],
                budget_cents=d["budget"].cents,
                ratio_num=d["ratio_num"],
                ratio_den=d["ratio_den"],
                cap_per_donation_cents=cents("cap_per_donation"),
                cap_per_donor_cents=cents("cap_per_donor"),
                cap_per_campaign_cents=cents("cap_per_campaign"),
                small_gift_max_cents=cents("small_gift_max"),
                min_distinct_donors=d["min_distinct_donors"],
                eligible_kinds=d["eligible_kinds"],
                mode=d["mode"],
                top_up_threshold_pct=d["top_up_threshold_pct"],
                priority=d["priority"],
                exclusive=d["exclusive"],
                closes_at=form.closes_at(),
                quadratic_variant=d["quadratic_variant"],
                donor_ceiling_cents=cents("donor_ceiling"),
            )
        except ValidationError as exc:
            _attach(form, exc)
        else:
            messages.success(request, _("Fondo aperto: il budget è stato impegnato in contabilità."))
            return redirect("funding:pools")
    rows = MatchingPool.objects.visible_to(request.user, pools_actions.POOL_ROLES).select_related("territory")
    return render(request, "funding/pools.html", {"pools": rows, "form": form, "territories": territories})


@official_required(roles=pools_actions.POOL_ROLES)
def pool_round(request: HttpRequest, pk: int) -> HttpResponse:
    """A quadratic round: each campaign's donors and match (an estimate until the close), and the close."""
    pool = get_object_or_404(
        MatchingPool.objects.visible_to(request.user, pools_actions.POOL_ROLES).select_related(
            "territory", "eligible_root"
        ),
        pk=pk,
        mode=PoolMode.QUADRATIC,
    )
    if request.method == "POST":
        try:
            rounds_actions.close_quadratic_round(actor=request.user, pool=pool)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, _("Round chiuso: il fondo è stato ripartito tra le raccolte."))
        return redirect("funding:pool_round", pk=pool.pk)
    lines = round_standing(pool)
    top = max((line.match_cents for line in lines), default=0)
    due = pool.closes_at is not None and timezone.now() >= pool.closes_at
    return render(
        request,
        "funding/pool_round.html",
        {
            "pool": pool,
            "lines": lines,
            "top": top,
            "closable": pool.round_closed_at is None and due,
            # Issue 17: suspicious clusters and the exclusions, while the round is open.
            "clusters": round_clusters(pool),
            "exclusion_form": RoundExclusionForm(),
            "exclusions": pool.exclusions.select_related("created_by").order_by("-created_at", "-pk")[:200],
        },
    )
