"""Public petition pages (phone-first), the embeddable version, and the officials' pages."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.clickjacking import xframe_options_exempt
from django.views.decorators.csrf import csrf_exempt

from piazza.core.exports import export_response, export_view
from piazza.core.middleware import client_ip
from piazza.core.personal_data import shows_personal_data
from piazza.core.throttle import HitLimiter
from piazza.funding.models import Campaign, CampaignStatus
from piazza.petitions import actions, documents, queries
from piazza.petitions.forms import PetitionForm, QuestionForm, SignatureForm
from piazza.petitions.models import Petition
from piazza.territory.access import official_required
from piazza.territory.models import Territory
from piazza.territory.scoping import scope_paths

MANAGE = actions.MANAGE_ROLES


def _limiter() -> HitLimiter:
    return HitLimiter(
        "petition-ip", int(settings.PETITION_THROTTLE_PER_IP), int(settings.PETITION_THROTTLE_WINDOW_SECONDS)
    )


def _throttled(request: HttpRequest) -> HttpResponse | None:
    """Per-client limit on signatures (core.throttle): over it, a 429 before anything is read."""
    limiter = _limiter()
    if not limiter.over(client_ip(request) or "unknown"):
        return None
    minutes = max(1, (limiter.window_seconds + 59) // 60)
    message = _(
        "Troppe firme in poco tempo da questa connessione. Riprova tra %(minutes)d minuti: "
        "niente di quanto hai scritto è stato registrato."
    ) % {"minutes": minutes}
    response = render(request, "throttled.html", {"message": message}, status=429)
    response["Retry-After"] = str(limiter.window_seconds)
    return response


def _public(slug: str) -> Petition:
    return queries.public_petition(slug)[0]


def _sign(request: HttpRequest, slug: str, *, embed: bool) -> HttpResponse:
    template = "petitions/embed.html" if embed else "petitions/public.html"
    petition, questions = queries.public_petition(slug)
    form = SignatureForm(request.POST or None, petition=petition, questions=questions)
    status = 200
    if request.method == "POST":
        if (limited := _throttled(request)) is not None:
            return limited
        if form.is_valid():
            try:
                outcome = actions.sign_petition(
                    actor=None,
                    petition=petition,
                    data=actions.SignatureInput(
                        first_name=form.cleaned_data["first_name"],
                        last_name=form.cleaned_data["last_name"],
                        email=form.cleaned_data["email"],
                        comune=form.cleaned_data["comune"],
                        postal_code=form.cleaned_data["postal_code"],
                        phone=form.cleaned_data["phone"],
                        answers=form.answers(),
                        purposes=form.purposes(),
                        notice=form.cleaned_data.get("notice_version"),
                    ),
                )
            except ValidationError as exc:
                form.add_error(None, exc)
            else:
                target = reverse("petitions:thanks_embed" if embed else "petitions:thanks", args=[petition.slug])
                return redirect(f"{target}?gia=1" if not outcome.created else target)
        status = 400
    context = {"petition": petition, "form": form, "progress": queries.progress(petition), "embed": embed}
    return render(request, template, context, status=status)


def index(request: HttpRequest) -> HttpResponse:
    """The open petitions and sign-up forms, from the public navigation."""
    petitions = list(Petition.objects.filter(is_open=True).select_related("territory")[:50])
    return render(request, "petitions/index.html", {"rows": [(p, queries.progress(p)) for p in petitions]})


def public(request: HttpRequest, slug: str) -> HttpResponse:
    """The petition's public page: text, counter, progress bar and the signature form."""
    return _sign(request, slug, embed=False)


@csrf_exempt  # framed by other sites, where the CSRF cookie is not sent; guarded by the signed fill time
@xframe_options_exempt
def embed(request: HttpRequest, slug: str) -> HttpResponse:
    """The embeddable version (an iframe): the only petition page any site may frame."""
    response = _sign(request, slug, embed=True)
    response._csp_replace = {"frame-ancestors": ["*"], "form-action": ["'self'"]}  # type: ignore[attr-defined]
    return response


def _thanks(request: HttpRequest, slug: str, *, embed: bool) -> HttpResponse:
    petition = _public(slug)
    campaign: Campaign | None = petition.campaign
    context: dict[str, Any] = {
        "petition": petition,
        "already": request.GET.get("gia") == "1",
        "progress": queries.progress(petition),
        "share_url": request.build_absolute_uri(petition.get_absolute_url()),
        "campaign": campaign if campaign is not None and campaign.status == CampaignStatus.LIVE else None,
        "embed": embed,
    }
    return render(request, "petitions/thanks.html", context)


def thanks(request: HttpRequest, slug: str) -> HttpResponse:
    """After signing: the next step (share, give to the related campaign)."""
    return _thanks(request, slug, embed=False)


@xframe_options_exempt
def thanks_embed(request: HttpRequest, slug: str) -> HttpResponse:
    response = _thanks(request, slug, embed=True)
    response._csp_replace = {"frame-ancestors": ["*"]}  # type: ignore[attr-defined]
    return response


# --- Officials -----------------------------------------------------------------------------------


def _managed(request: HttpRequest, pk: int) -> Petition:
    petition = Petition.objects.visible_to(request.user, roles=MANAGE).select_related("territory").filter(pk=pk).first()
    if petition is None:
        raise Http404
    return petition


@official_required(roles=MANAGE)
def manage_list(request: HttpRequest) -> HttpResponse:
    petitions = list(Petition.objects.visible_to(request.user, roles=MANAGE).select_related("territory")[:200])
    rows = [(p, queries.progress(p)) for p in petitions]
    return render(request, "petitions/manage_list.html", {"rows": rows})


def _territories(user: Any) -> Any:
    paths = scope_paths(user, MANAGE)
    query = Territory.objects.none()
    for path in paths:
        query = query | Territory.objects.filter(path__startswith=path)
    return query.order_by("path")


@official_required(roles=MANAGE)
def manage_create(request: HttpRequest) -> HttpResponse:
    campaigns = Campaign.objects.visible_to(request.user).order_by("-id")
    form = PetitionForm(request.POST or None, territories=_territories(request.user), campaigns=campaigns)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            petition = actions.create_petition(
                actor=request.user,
                territory=data["territory"],
                kind=data["kind"],
                title=data["title"],
                text=data["text"],
                target=data["target"],
                goal=data["goal"],
                campaign=data["campaign"],
                deliver_contacts=data["deliver_contacts"],
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, _("Pubblicata: ora puoi condividerla o incorporarla in un altro sito."))
            return redirect("petitions:manage_detail", pk=petition.pk)
    return render(request, "petitions/manage_create.html", {"form": form}, status=400 if form.errors else 200)


@official_required(roles=MANAGE)
def manage_detail(request: HttpRequest, pk: int) -> HttpResponse:
    petition = _managed(request, pk)
    question_form = QuestionForm(request.POST or None)
    if request.method == "POST":
        try:
            if "open" in request.POST:
                actions.set_petition_open(actor=request.user, petition=petition, is_open=request.POST["open"] == "1")
                return redirect("petitions:manage_detail", pk=pk)
            if question_form.is_valid():
                data = question_form.cleaned_data
                actions.add_question(
                    actor=request.user,
                    petition=petition,
                    label=data["label"],
                    kind=data["kind"],
                    choices=data["choices"].splitlines(),
                    required=data["required"],
                )
                messages.success(request, _("Domanda aggiunta."))
                return redirect("petitions:manage_detail", pk=pk)
        except ValidationError as exc:
            question_form.add_error(None, exc)
        except PermissionDenied:
            raise Http404 from None
    embed_url = request.build_absolute_uri(reverse("petitions:embed", args=[petition.slug]))
    snippet = (
        f'<iframe src="{embed_url}" title="{petition.title}" width="100%" height="720" '
        'style="border:0;max-width:480px" loading="lazy"></iframe>'
    )
    context = {
        "petition": petition,
        "progress": queries.progress(petition),
        "questions": petition.questions.all(),
        "question_form": question_form,
        "public_url": request.build_absolute_uri(petition.get_absolute_url()),
        "snippet": snippet,
    }
    return render(request, "petitions/manage_detail.html", context, status=400 if question_form.errors else 200)


@official_required(roles=MANAGE)
@export_view("petitions.deliver_signatures")
def signatures_csv(request: HttpRequest, pk: int) -> HttpResponse:
    """Delivery to the target (CSV): names and comuni, emails only when the petition's notice says so."""
    petition = _managed(request, pk)
    return export_response(
        "petitions.deliver_signatures",
        actor=request.user,
        file_format="csv",
        filename=f"firme-{petition.slug}",
        header=documents.header(petition),
        rows=documents.rows(petition),
        obj=petition,
        territory=petition.territory,
        data={"contacts": petition.deliver_contacts},
    )


@official_required(roles=MANAGE)
@shows_personal_data("petitions.deliver_signatures", audited_inline=True)
def signatures_pdf(request: HttpRequest, pk: int) -> HttpResponse:
    """Delivery to the target (PDF), audited as an export (rule G4)."""
    petition = _managed(request, pk)
    content, count = documents.signatures_pdf(petition)
    actions.note_delivery(actor=request.user, petition=petition, file_format="pdf", rows=count)
    response = HttpResponse(content, content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="firme-{petition.slug}.pdf"'
    response["X-Content-Type-Options"] = "nosniff"
    return response
