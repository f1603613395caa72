"""Il mio spazio: the door (an email → always the same answer), the emailed link (a button: mail
scanners that pre-open links spend nothing), the person's page, and its one-click actions.
All work without JavaScript. The person acts as themselves (actor None in the audit, the
person as object): an official signed in the same browser does not lend them their roles."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from csp.decorators import csp_update
from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods, require_POST

from piazza.community import actions, digest, passkeys, queries, session
from piazza.community.forms import EmailChangeForm, PasskeyNameForm, PhoneForm, RectificationForm, SignInForm
from piazza.community.models import ChallengePurpose
from piazza.compliance.models import Candidacy, TaxStatement
from piazza.compliance.receipt_documents import receipt_filename, receipts_pdf
from piazza.compliance.receipts import receipts_of_person
from piazza.compliance.tax_statements.actions.generate import note_tax_statement_download
from piazza.compliance.tax_statements.pdf import filename as tax_statement_filename
from piazza.compliance.tax_statements.pdf import statement_pdf
from piazza.compliance.tax_statements.queries import statements_of
from piazza.core.input_guard import ascii_int
from piazza.core.middleware import client_ip
from piazza.core.throttle import HitLimiter
from piazza.funding.actions import recognition as recognition_funding
from piazza.funding.models import Campaign
from piazza.payments.messages import decline_message
from piazza.payments.models import MethodChange, MethodChangeState
from piazza.payments.providers.base import Outcome
from piazza.payments.providers.registry import get_provider
from piazza.payments.providers.stripe import BROWSER_CSP
from piazza.people.models import Person
from piazza.people.notices import check_shown, current_version
from piazza.territory.models import Territory

LINK_SENT = gettext_lazy(
    "Se l'indirizzo è registrato, ti abbiamo appena scritto un link per entrare: aprilo entro "
    "%(minutes)d minuti da questo dispositivo. Se non arriva, controlla lo spam o chiedine un altro più tardi."
)


def _limiters() -> tuple[HitLimiter, HitLimiter]:
    window = int(settings.COMMUNITY_LINKS_WINDOW_SECONDS)
    return (
        HitLimiter("space-link-address", int(settings.COMMUNITY_LINKS_PER_ADDRESS), window),
        HitLimiter("space-link-client", int(settings.COMMUNITY_LINKS_PER_CLIENT), window),
    )


def _door(
    request: HttpRequest,
    *,
    form: SignInForm | None = None,
    sent: bool = False,
    error: str = "",
    info: str = "",
    status: int = 200,
) -> HttpResponse:
    return render(
        request,
        "community/door.html",
        {
            "form": form or SignInForm(),
            "sent": sent,
            "error": error,
            "info": info,
            "sent_message": str(LINK_SENT) % {"minutes": settings.COMMUNITY_LINK_MINUTES},
        },
        status=status,
    )


@require_http_methods(["GET", "POST"])
def door(request: HttpRequest) -> HttpResponse:
    """POST: a link to the address typed, if it is on a record; the answer is the same either way,
    and the same again over the limits (then no email leaves)."""
    if request.method == "POST":
        form = SignInForm(request.POST)
        if not form.is_valid():
            return _door(request, form=form, status=400)
        email = form.cleaned_data["email"].strip().lower()
        by_address, by_client = _limiters()
        over = by_address.over(email)
        over = by_client.over(client_ip(request) or "unknown") or over
        if not over:
            actions.request_sign_in_link(actor=None, email=email)
        return _door(request, sent=True)
    person, _expired = session.current_person(request)
    if person is not None:
        return redirect("community:home")
    return _door(request)


@require_http_methods(["GET", "POST"])
def access(request: HttpRequest, token: str) -> HttpResponse:
    if request.method != "POST":
        return render(request, "community/access.html", {})
    try:
        person = actions.open_sign_in_link(actor=None, raw=token)
    except ValidationError as exc:
        return _door(request, error=" ".join(exc.messages), status=403)
    session.sign_in(request, person)
    pending = request.session.pop(PENDING_FOLLOW, None)
    if pending:  # "Segui" pressed before signing in, in this browser
        return _follow_and_return(request, person, _follow_target(pending))
    return redirect("community:home")


View = Callable[..., HttpResponse]

# --- Following ---------------------------------------------------------------------------------

PENDING_FOLLOW = "community_pending_follow"


Target = Campaign | Territory | Candidacy


def _follow_target(data: Any) -> Target | None:
    """The public campaign, open territory or candidate (one with a public campaign) a follow
    request names (ids only, never trusted further)."""
    campaign_id = ascii_int(str(data.get("campaign") or ""))
    territory_id = ascii_int(str(data.get("territory") or ""))
    candidacy_id = ascii_int(str(data.get("candidacy") or ""))
    if campaign_id is not None:
        return Campaign.objects.filter(pk=campaign_id, status__in=actions.FOLLOWABLE_CAMPAIGN_STATUSES).first()
    if territory_id is not None:
        return Territory.objects.filter(pk=territory_id, closed_at__isnull=True).first()
    if candidacy_id is not None:
        public = Campaign.objects.filter(candidacy_id=candidacy_id, status__in=actions.FOLLOWABLE_CAMPAIGN_STATUSES)
        return Candidacy.objects.filter(pk=candidacy_id, pk__in=public.values("candidacy_id")).first()
    return None


def _pending(target: Target) -> dict[str, int]:
    if isinstance(target, Campaign):
        return {"campaign": target.pk}
    if isinstance(target, Candidacy):
        return {"candidacy": target.pk}
    return {"territory": target.pk}


def _label(target: Target) -> str:
    if isinstance(target, Campaign):
        return target.title
    if isinstance(target, Candidacy):
        return target.candidate_name
    return target.name


def _follow_and_return(request: HttpRequest, person: Person, target: Target | None) -> HttpResponse:
    if target is None:
        raise Http404
    if isinstance(target, Candidacy):
        actions.follow(person=person, candidacy=target)
        messages.success(
            request,
            _("Segui %(name)s: le nuove raccolte e iniziative della candidatura arrivano nel tuo riepilogo.")
            % {"name": target.candidate_name},
        )
        return redirect("community:home")
    if isinstance(target, Campaign):
        actions.follow(person=person, campaign=target)
        messages.success(
            request, _("Segui «%(title)s»: ti scriveremo quando pubblica un aggiornamento.") % {"title": target.title}
        )
        return redirect("funding:campaign", slug=target.slug)
    actions.follow(person=person, territory=target)
    messages.success(
        request,
        _("Segui %(name)s: le sue nuove raccolte, i suoi eventi e le sue petizioni arrivano nel tuo riepilogo.")
        % {"name": target.name},
    )
    return redirect("community:home")


@require_POST
def follow(request: HttpRequest) -> HttpResponse:
    """ "Segui" on a campaign page. Signed in: done at once. Otherwise the door, and the follow is
    done when the sign-in link is opened in this browser (an email proves nothing until then)."""
    target = _follow_target(request.POST)
    if target is None:
        raise Http404
    person, _expired = session.current_person(request)
    if person is None:
        request.session[PENDING_FOLLOW] = _pending(target)
        label = _label(target)
        return _door(
            request,
            info=_(
                "Per seguire «%(label)s» accedi a Il mio spazio: ti mandiamo un link. Aprilo da questo "
                "browser e la seguirai subito."
            )
            % {"label": label},
        )
    return _follow_and_return(request, person, target)


def person_required(view: Callable[..., HttpResponse]) -> View:
    """The signed-in person is passed to the view; otherwise back to the door, saying why."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        person, expired = session.current_person(request)
        if person is None:
            message = (
                _(
                    "Per sicurezza sei uscito da Il mio spazio dopo un po' di inattività: chiedi un nuovo "
                    "link per rientrare."
                )
                if expired
                else ""
            )
            if request.method == "POST":  # nothing was done: say so, never a redirect that looks like success
                return _door(
                    request,
                    error=message or _("Per farlo entra prima in Il mio spazio: chiedi il link qui sotto."),
                    status=403,
                )
            if message:
                messages.info(request, message)
            return redirect("community:door")
        return view(request, person, *args, **kwargs)

    return wrapper


def _rights_links() -> list[dict[str, str]]:
    """Rule G5: the data rights, served by privacy (same layer: linked by URL name only, never imported)."""
    return [{"url": reverse("privacy:space_erasure"), "label": _("Chiedi la cancellazione dei tuoi dati")}]


@person_required
def home(request: HttpRequest, person: Person) -> HttpResponse:
    _owner, sharing = queries.owner_of_email(person.primary_email.value if person.primary_email else "")
    space = queries.space_of(person, shared_address=sharing > 1)
    actions.note_view(actor=None, person=person)
    return render(
        request,
        "community/home.html",
        {
            "space": space,
            "email_form": EmailChangeForm(),
            "phone_form": PhoneForm(initial={"phone": space.phone}),
            "rectification_form": RectificationForm(),
            "rights_links": _rights_links(),
            "rights_export_url": reverse("privacy:space_export"),
            "receipts": list(receipts_of_person(person)[:RECEIPTS_SHOWN]),
            "notice": current_version("space"),
            "tax_statements": statements_of(person),
            "digest_days": settings.COMMUNITY_DIGEST_DAYS,
        },
    )


RECEIPTS_SHOWN = 100


@person_required
def receipt(request: HttpRequest, person: Person, pk: int) -> HttpResponse:
    """Rule F3: the signed-in person downloads one of their receipts; anyone else's answers 404."""
    found = receipts_of_person(person).select_related("territory").filter(pk=pk).first()
    if found is None:
        raise Http404
    response = HttpResponse(receipts_pdf([found]), content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="{receipt_filename(found)}"'
    response["Cache-Control"] = "private, no-store"
    return response


@person_required
def tax_statement(request: HttpRequest, person: Person, pk: int) -> HttpResponse:
    """Rules F7/F8: the person's own statement (any version) as PDF; anyone else's is a 404."""
    statement = get_object_or_404(TaxStatement.objects.select_related("entity"), pk=pk, person=person)
    note_tax_statement_download(actor=None, statement=statement, by_donor=True)
    response = HttpResponse(statement_pdf(statement), content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{tax_statement_filename(statement)}"'
    return response


@require_POST
def sign_out(request: HttpRequest) -> HttpResponse:
    person, _expired = session.current_person(request)
    if person is not None:
        actions.sign_out(actor=None, person=person)
    session.sign_out(request)
    messages.info(request, _("Sei uscito da Il mio spazio."))
    return redirect("community:door")


def _done(request: HttpRequest, call: Callable[[], Any], success: str) -> HttpResponse:
    try:
        call()
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    except PermissionDenied as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, success)
    return redirect("community:home")


@require_POST
@person_required
def consent(request: HttpRequest, person: Person, purpose: str) -> HttpResponse:
    give = request.POST.get("give") == "1"
    if give:  # the version of the space's notice shown next to the button (GDPR art. 13); a withdrawal needs none
        try:
            notice = check_shown("space", request.POST.get("notice_version"))
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
            return redirect("community:home")
    return _done(
        request,
        lambda: actions.set_consent(
            actor=None, person=person, purpose=purpose, give=give, notice=notice if give else None
        ),
        _("Fatto: consenso dato.") if give else _("Fatto: consenso revocato."),
    )


@require_POST
@person_required
def cancel_schedule(request: HttpRequest, person: Person, pk: int) -> HttpResponse:
    return _done(
        request,
        lambda: actions.cancel_schedule(actor=None, person=person, schedule_id=pk),
        _("Donazione mensile annullata: non ci saranno altri addebiti."),
    )


@require_POST
@person_required
def resume_schedule(request: HttpRequest, person: Person, pk: int) -> HttpResponse:
    return _done(
        request,
        lambda: actions.resume_schedule(actor=None, person=person, schedule_id=pk),
        _("Donazione mensile ripresa: il prossimo addebito è previsto a breve."),
    )


@require_POST
@person_required
def change_amount(request: HttpRequest, person: Person, pk: int) -> HttpResponse:
    amount = str(request.POST.get("amount", ""))[:30]
    return _done(
        request,
        lambda: actions.change_monthly_amount(actor=None, person=person, schedule_id=pk, amount_text=amount),
        _("Importo cambiato: vale dal prossimo addebito."),
    )


# --- "Cambia carta": the card of a recurring gift (issue 12) ---------------------------------


@require_POST
@person_required
def change_card(request: HttpRequest, person: Person, pk: int) -> HttpResponse:
    """Open a card setup at the gift's provider, then the page where the new card is given."""
    try:
        change = actions.start_card_change(actor=None, person=person, schedule_id=pk)
    except (ValidationError, PermissionDenied) as exc:
        messages.error(request, " ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc))
        return redirect("community:home")
    return redirect("community:card_change", token=change.token)


def _own_change(person: Person, token: str) -> MethodChange:
    change = actions.own_card_change(person, token)
    if change is None:
        raise Http404
    return change


def _card_failed(request: HttpRequest, change: MethodChange) -> HttpResponse:
    old = change.schedule.saved_method
    messages.error(
        request,
        _("La carta non è stata cambiata: %(why)s Resta la carta di prima%(card)s.")
        % {"why": decline_message(change.failure_code), "card": f" ({old.label})" if old and old.label else ""},
    )
    return redirect("community:home")


def _card_changed(request: HttpRequest, change: MethodChange) -> HttpResponse:
    new = change.new_method
    messages.success(
        request,
        _("Carta cambiata: dal prossimo addebito useremo %(card)s.")
        % {"card": new.label if new is not None and new.label else _("la nuova carta")},
    )
    return redirect("community:home")


def _card_outcome(request: HttpRequest, change: MethodChange) -> HttpResponse | None:
    if change.state == MethodChangeState.SUCCEEDED:
        return _card_changed(request, change)
    if change.state == MethodChangeState.FAILED:
        return _card_failed(request, change)
    return None


@require_http_methods(["GET", "POST"])
@person_required
def card_change(request: HttpRequest, person: Person, token: str) -> HttpResponse:
    """The page of a card change whose card form is ours (the sandbox); a provider whose card goes
    straight to it from the browser (Stripe) has its own page, with its script allowed there only."""
    change = _own_change(person, token)
    done = _card_outcome(request, change)
    if done is not None:
        return done
    form_class = get_provider(change.provider).setup_form()
    if form_class is None:
        return redirect("community:card_change_provider", token=change.token)
    form = form_class(request.POST or None)
    if request.method == "POST":
        if not form.is_valid():
            return render(request, "community/change_card.html", {"change": change, "form": form}, status=400)
        try:
            change = actions.confirm_card_change(actor=None, person=person, change=change, data=form.cleaned_data)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
            return redirect("community:home")
        return _card_outcome(request, change) or redirect("community:home")
    return render(request, "community/change_card.html", {"change": change, "form": form})


@csp_update(BROWSER_CSP)  # type: ignore[arg-type]
@person_required
def card_change_provider(request: HttpRequest, person: Person, token: str) -> HttpResponse:
    """Stripe's card field on our page (ADR 0011): `confirmSetup`, then back to our return URL."""
    change = _own_change(person, token)
    done = _card_outcome(request, change)
    if done is not None:
        return done
    if get_provider(change.provider).setup_form() is not None:
        return redirect("community:card_change", token=change.token)
    change, result = actions.card_change_returned(actor=None, person=person, change=change, final=False)
    done = _card_outcome(request, change)
    if done is not None:
        return done
    if not result.client_secret:
        messages.error(request, _("Il circuito della carta non ha risposto: riprova tra qualche minuto."))
        return redirect("community:home")
    return render(
        request,
        "community/change_card.html",
        {
            "change": change,
            "client_secret": result.client_secret,
            "publishable_key": settings.STRIPE_PUBLISHABLE_KEY,
            "return_url": request.build_absolute_uri(reverse("community:card_change_return", args=[change.token])),
        },
    )


@person_required
def card_change_return(request: HttpRequest, person: Person, token: str) -> HttpResponse:
    """Back from the provider's confirmation: the setup is re-fetched and applied (or refused)."""
    change = _own_change(person, token)
    change, result = actions.card_change_returned(actor=None, person=person, change=change, final=True)
    done = _card_outcome(request, change)
    if done is not None:
        return done
    if result.outcome == Outcome.PENDING and result.failure_code:
        messages.error(request, _("Il circuito della carta non ha risposto: riprova tra qualche minuto."))
    else:
        messages.info(request, _("La carta non è stata cambiata: resta quella di prima."))
    return redirect("community:home")


@require_POST
@person_required
def revoke_device(request: HttpRequest, person: Person, pk: int) -> HttpResponse:
    return _done(
        request,
        lambda: actions.revoke_device(actor=None, person=person, device_id=pk),
        _("Fatto: quel dispositivo non può più usare la carta salvata."),
    )


@require_POST
@person_required
def change_email(request: HttpRequest, person: Person) -> HttpResponse:
    address = str(request.POST.get("email", ""))[:254]
    return _done(
        request,
        lambda: actions.request_email_change(actor=None, person=person, email=str(address)),
        _(
            "Ti abbiamo scritto al nuovo indirizzo: apri il link entro %(minutes)d minuti per confermarlo. "
            "Fino ad allora resta quello di prima."
        )
        % {"minutes": settings.COMMUNITY_LINK_MINUTES},
    )


@require_http_methods(["GET", "POST"])
def confirm_email(request: HttpRequest, token: str) -> HttpResponse:
    if request.method != "POST":
        return render(request, "community/confirm_email.html", {})
    try:
        actions.confirm_email_change(actor=None, raw=token)
    except ValidationError as exc:
        return render(request, "community/confirm_email.html", {"error": " ".join(exc.messages)}, status=403)
    return render(request, "community/confirm_email.html", {"done": True})


@require_POST
@person_required
def change_phone(request: HttpRequest, person: Person) -> HttpResponse:
    phone = str(request.POST.get("phone", ""))[:40]
    return _done(
        request,
        lambda: actions.change_phone(actor=None, person=person, phone=phone),
        _("Numero di telefono aggiornato."),
    )


@require_POST
@person_required
def rectification(request: HttpRequest, person: Person) -> HttpResponse:
    form = RectificationForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Controlla i dati scritti: qualcuno è troppo lungo."))
        return redirect("community:home")
    changes = {k: v for k, v in form.cleaned_data.items() if k != "note"}
    return _done(
        request,
        lambda: actions.request_rectification(
            actor=None, person=person, changes=changes, note=form.cleaned_data["note"]
        ),
        _("Richiesta inviata al tuo circolo: controllerà i dati e li correggerà. Nel frattempo non cambia niente."),
    )


# --- Passkeys (docs/dev/passkeys.md): JSON for the page's script, plain forms for the rest ---------


def _json_refusal(exc: ValidationError | PermissionDenied, status: int = 400) -> JsonResponse:
    text = " ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
    return JsonResponse({"error": text}, status=status)


def _bad_request() -> JsonResponse:
    return JsonResponse({"error": _("La richiesta non è arrivata intera: ricarica la pagina e riprova.")}, status=400)


def _passkey_limiters() -> tuple[HitLimiter, HitLimiter]:
    window = int(settings.COMMUNITY_LINKS_WINDOW_SECONDS)
    return (
        HitLimiter("space-passkey-attempt", int(settings.COMMUNITY_PASSKEY_ATTEMPTS_PER_CLIENT), window),
        HitLimiter("space-passkey-challenge", int(settings.COMMUNITY_PASSKEY_CHALLENGES_PER_CLIENT), window),
    )


def _too_many() -> JsonResponse:
    response = JsonResponse(
        {
            "error": _(
                "Troppi tentativi di accesso con una passkey da questa connessione: riprova più tardi, oppure "
                "chiedi il link via email."
            )
        },
        status=429,
    )
    response["Retry-After"] = str(settings.COMMUNITY_LINKS_WINDOW_SECONDS)
    return response


@person_required
def passkeys_page(request: HttpRequest, person: Person) -> HttpResponse:
    """The person's passkeys (name, added, last used), each removable, and the form to add one."""
    return render(
        request,
        "community/passkeys.html",
        {"passkeys": queries.person_passkeys(person), "form": PasskeyNameForm()},
    )


@require_POST
@person_required
def passkey_register_options(request: HttpRequest, person: Person) -> HttpResponse:
    try:
        options, challenge = actions.start_passkey_registration(
            actor=None, person=person, rp=passkeys.relying_party(request)
        )
    except ValidationError as exc:
        return _json_refusal(exc)
    passkeys.keep_challenge(request, ChallengePurpose.REGISTER, challenge, person)
    return HttpResponse(options, content_type="application/json")


@require_POST
@person_required
def passkey_register(request: HttpRequest, person: Person) -> HttpResponse:
    data = passkeys.read_json(request)
    if data is None:
        return _bad_request()
    challenge = passkeys.take_challenge(request, ChallengePurpose.REGISTER, person)
    try:
        actions.register_passkey(
            actor=None,
            person=person,
            rp=passkeys.relying_party(request),
            challenge=challenge,
            credential=data.get("credential"),
            name=str(data.get("name") or "")[:200],
        )
    except ValidationError as exc:
        return _json_refusal(exc)
    messages.success(
        request, _("Passkey aggiunta: la prossima volta puoi entrare con quella, senza aspettare l'email.")
    )
    return JsonResponse({"redirect": reverse("community:passkeys")})


@require_POST
@person_required
def passkey_remove(request: HttpRequest, person: Person, pk: int) -> HttpResponse:
    try:
        actions.remove_passkey(actor=None, person=person, passkey_id=pk)
    except (ValidationError, PermissionDenied) as exc:
        messages.error(request, " ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc))
    else:
        messages.success(request, _("Passkey rimossa: non apre più Il mio spazio."))
    return redirect("community:passkeys")


@require_POST
def passkey_sign_in_options(request: HttpRequest) -> HttpResponse:
    _attempts, challenges = _passkey_limiters()
    if challenges.over(client_ip(request) or "unknown"):
        return _too_many()
    options, challenge = actions.start_passkey_sign_in(actor=None, rp=passkeys.relying_party(request))
    passkeys.keep_challenge(request, ChallengePurpose.AUTHENTICATE, challenge)
    return HttpResponse(options, content_type="application/json")


@require_POST
def passkey_sign_in(request: HttpRequest) -> HttpResponse:
    """A passkey opens the same space session as an emailed link (`session.sign_in`)."""
    attempts, _challenges = _passkey_limiters()
    if attempts.over(client_ip(request) or "unknown"):
        passkeys.take_challenge(request, ChallengePurpose.AUTHENTICATE)
        return _too_many()
    data = passkeys.read_json(request)
    challenge = passkeys.take_challenge(request, ChallengePurpose.AUTHENTICATE)
    if data is None:
        return _bad_request()
    try:
        person = actions.sign_in_with_passkey(
            actor=None, rp=passkeys.relying_party(request), challenge=challenge, credential=data.get("credential")
        )
    except ValidationError as exc:
        return _json_refusal(exc, status=403)
    session.sign_in(request, person)
    return JsonResponse({"redirect": reverse("community:home")})


@require_POST
@person_required
def unfollow(request: HttpRequest, person: Person, pk: int) -> HttpResponse:
    return _done(request, lambda: actions.unfollow(person=person, follow_id=pk), _("Non segui più questa voce."))


# --- Digest and recognition (issue 17) -----------------------------------------------------------


@require_POST
@person_required
def digest_switch(request: HttpRequest, person: Person) -> HttpResponse:
    receive = request.POST.get("receive") == "1"
    digest.set_digest(person=person, receive=receive)
    messages.success(
        request,
        _("Riceverai di nuovo il riepilogo.") if receive else _("Non ti manderemo più il riepilogo."),
    )
    return redirect(f"{reverse('community:home')}#following")


@require_http_methods(["GET", "POST"])
def digest_stop(request: HttpRequest, token: str) -> HttpResponse:
    """The link at the foot of each digest: GET shows a button, POST stops (no sign-in needed: the
    signed link is enough to stop mail, and says nothing about the person)."""
    person = digest.person_of_token(token)
    if person is None:
        return render(request, "community/digest_stop.html", {"invalid": True}, status=404)
    done = False
    if request.method == "POST":
        digest.set_digest(person=person, receive=False, via="digest_link")
        done = True
    return render(request, "community/digest_stop.html", {"done": done})


@require_POST
@person_required
def hide_recognition(request: HttpRequest, person: Person) -> HttpResponse:
    campaign_id = ascii_int(request.POST.get("campaign", ""))
    campaign = Campaign.objects.filter(pk=campaign_id).first() if campaign_id is not None else None
    if campaign is None:
        messages.error(request, _("Raccolta non trovata: ricarica la pagina e riprova."))
    else:
        recognition_funding.hide_name(person=person, campaign=campaign, via=actions.VIA)
        messages.success(
            request, _("Il tuo nome non compare più sulla pagina di «%(title)s».") % {"title": campaign.title}
        )
    return redirect(f"{reverse('community:home')}#recognition")
