"""Il mio spazio: the door (an email → always the same answer), the emailed link (a button: mail
scanners that pre-open links spend nothing), the person's page, and its one-click actions.
All work without JavaScript. The person acts as themselves (actor None in the audit, the
person as object): an official signed in the same browser does not lend them their roles."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods, require_POST

from piazza.community import actions, queries, session
from piazza.community.forms import EmailChangeForm, PhoneForm, RectificationForm, SignInForm
from piazza.compliance.models import TaxStatement
from piazza.compliance.tax_statements.actions.generate import note_tax_statement_download
from piazza.compliance.tax_statements.pdf import filename as tax_statement_filename
from piazza.compliance.tax_statements.pdf import statement_pdf
from piazza.compliance.tax_statements.queries import statements_of
from piazza.core.middleware import client_ip
from piazza.core.throttle import HitLimiter
from piazza.people.models import Person

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
    request: HttpRequest, *, form: SignInForm | None = None, sent: bool = False, error: str = "", status: int = 200
) -> HttpResponse:
    return render(
        request,
        "community/door.html",
        {
            "form": form or SignInForm(),
            "sent": sent,
            "error": error,
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
    return redirect("community:home")


View = Callable[..., HttpResponse]


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
            "tax_statements": statements_of(person),
        },
    )


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
    return _done(
        request,
        lambda: actions.set_consent(actor=None, person=person, purpose=purpose, give=give),
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
