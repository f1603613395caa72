"""Erasure pages (rule G5, issue 12): the official's erasure for a request, the person's own
request by the link emailed to them, and the retention report for the privacy officer."""

from __future__ import annotations

from django.contrib import messages
from django.core import signing
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _

from piazza.core.audit import record
from piazza.core.models import AuditKind
from piazza.core.personal_data import note_access, shows_personal_data
from piazza.people.models import Person
from piazza.privacy.erasure import (
    CONFIRM_WORD,
    ERASE_ROLES,
    erase_person,
    may_erase,
    open_erasure_request,
    request_erasure,
)
from piazza.privacy.retention import retention_report
from piazza.territory.access import official_required
from piazza.territory.models import Role, Territory
from piazza.territory.scoping import has_role_at

SELF_SERVICE_SALT = "privacy.request_erasure"
SELF_SERVICE_MAX_AGE = 7 * 24 * 3600


def self_service_url(person: Person) -> str:
    """The link the person's own space (or an email to their verified address) offers: it names
    the person by a signed, expiring token, so typing an address proves nothing (convention 16)."""
    token = signing.TimestampSigner(salt=SELF_SERVICE_SALT).sign(str(person.pk))
    return reverse("privacy:request_erasure", args=[token])


@official_required(roles=ERASE_ROLES)
@shows_personal_data("privacy.erase_person_view")
def erase(request: HttpRequest, pk: int) -> HttpResponse:
    person = get_object_or_404(Person.objects.select_related("territory"), pk=pk, merged_into=None)
    if not may_erase(request.user, person):
        raise Http404
    note_access(obj=person, territory=person.territory)
    open_request = open_erasure_request(person)
    error = ""
    if request.method == "POST" and not person.erased_at:
        if request.POST.get("confirm", "").strip().upper() != CONFIRM_WORD:
            error = _("Per confermare scrivi %(word)s nella casella: la cancellazione non si può annullare.") % {
                "word": CONFIRM_WORD
            }
        else:
            try:
                done = erase_person(actor=request.user, person=person, reason="request", request=open_request)
            except (ValidationError, PermissionDenied) as exc:
                error = " ".join(getattr(exc, "messages", [str(exc)]))
            else:
                messages.success(
                    request,
                    _("Dati cancellati. Conservati per obbligo di legge: %(n)d gruppi di dati.")
                    % {"n": len(done.holds)},
                )
                return redirect("privacy:erase", pk=person.pk)
    return render(
        request,
        "privacy/erase.html",
        {
            "person": person,
            "open_request": open_request,
            "confirm_word": CONFIRM_WORD,
            "error": error,
        },
        status=400 if error else 200,
    )


def request_erasure_view(request: HttpRequest, token: str) -> HttpResponse:
    """The person's own request, reached by the signed link; it goes to the privacy officer."""
    try:
        pk = signing.TimestampSigner(salt=SELF_SERVICE_SALT).unsign(token, max_age=SELF_SERVICE_MAX_AGE)
    except signing.BadSignature:
        return render(request, "privacy/request_erasure.html", {"invalid": True}, status=400)
    person = Person.objects.filter(pk=int(pk), merged_into=None, erased_at=None).first()
    if person is None:
        return render(request, "privacy/request_erasure.html", {"invalid": True}, status=400)
    done = None
    if request.method == "POST":
        done = request_erasure(person=person, via="self")
    return render(request, "privacy/request_erasure.html", {"done": done})


@official_required(roles=[Role.ADMINISTRATOR, Role.PRIVACY_OFFICER])
def retention(request: HttpRequest) -> HttpResponse:
    """The dry-run report for the national privacy officer: counts and record numbers only."""
    national = Territory.objects.filter(parent=None).first()
    if national is None or not has_role_at(request.user, national, [Role.ADMINISTRATOR, Role.PRIVACY_OFFICER]):
        raise Http404
    report = retention_report()
    record("privacy.retention_report", actor=request.user, kind=AuditKind.VIEW, data={"contacts": len(report.contacts)})
    return render(request, "privacy/retention.html", {"report": report.as_dict()})
