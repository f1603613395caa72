"""The data rights reached from Il mio spazio (rule G5, issue 12): a copy of one's data and the
request to be erased, for the person signed in by the emailed link. The session is read through
piazza.people.space_session (community and privacy share a layer and may not import each other);
community only links here by URL name."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods, require_POST

from piazza.people.models import Person
from piazza.people.space_session import current_person
from piazza.privacy import requests as actions
from piazza.privacy.erasure import open_erasure_request, request_erasure
from piazza.privacy.views import SESSION_KEY

# What the law keeps after an erasure, in words (the kinds of settings.PRIVACY_LEGAL_HOLDS).
HOLD_WORDS = {
    "accounting": gettext_lazy(
        "le ricevute e le scritture contabili delle tue donazioni e quote, come impone il codice civile"
    ),
    "donor_register": gettext_lazy(
        "il registro dei contributi ricevuti dal partito, che la legge sulla trasparenza dei partiti vuole pubblico"
    ),
    "congress_roll": gettext_lazy("le anagrafi certificate dei congressi già svolti a cui eri iscritto"),
}


def _space_person(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """The signed-in person is passed to the view; otherwise nothing is done and the page says
    how to sign in (a POST never gets a redirect that looks like success)."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        person, _expired = current_person(request)
        if person is None:
            if request.method == "POST":
                return render(request, "privacy/space_signed_out.html", {}, status=403)
            return redirect("community:door")
        return view(request, person, *args, **kwargs)

    return wrapper


@require_POST
@_space_person
def space_export(request: HttpRequest, person: Person) -> HttpResponse:
    """Start the copy for the signed-in person and show its progress in this browser."""
    try:
        created = actions.request_own_export(actor=None, person=person)
    except ValidationError as exc:
        return render(request, "privacy/space_signed_out.html", {"error": " ".join(exc.messages)}, status=400)
    ids = [i for i in request.session.get(SESSION_KEY) or [] if isinstance(i, int)]
    request.session[SESSION_KEY] = [*[i for i in ids if i != created.pk], created.pk]
    return redirect("privacy:request_status")


def _holds() -> list[tuple[str, int]]:
    conf: dict[str, dict[str, Any]] = settings.PRIVACY_LEGAL_HOLDS
    return [(str(HOLD_WORDS[kind]), int(item["years"])) for kind, item in conf.items() if kind in HOLD_WORDS]


@require_http_methods(["GET", "POST"])
@_space_person
def space_erasure(request: HttpRequest, person: Person) -> HttpResponse:
    """GET: what is erased and what the law keeps, and one button; POST: the request goes to the
    privacy officer's board, due within the GDPR month."""
    done = open_erasure_request(person)
    if request.method == "POST" and done is None:
        done = request_erasure(person=person, via="space")
    return render(request, "privacy/space_erasure.html", {"done": done, "holds": _holds()})
