"""Views of the volunteers app: the organiser's pages (scoped, 404 outside), the public sign-up
page (by an unguessable address) and the caller's page (name, phone and script only, rule G1)."""

from __future__ import annotations

import uuid
from functools import wraps
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Count
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from piazza.core.exports import export_response, export_view
from piazza.core.markdown import render_markdown
from piazza.core.middleware import client_ip
from piazza.core.personal_data import note_access, shows_personal_data
from piazza.core.throttle import HitLimiter
from piazza.membership import charts
from piazza.people.forms import territories_in_scope
from piazza.people.models import Person, Segment
from piazza.people.queries import visible_people
from piazza.people.space_session import current_person
from piazza.territory.access import official_required
from piazza.territory.models import Territory
from piazza.territory.scoping import scope_paths
from piazza.volunteers import actions, queries
from piazza.volunteers.forms import CallListForm, OpportunityForm, OutcomeForm, ShiftForm, SignupForm
from piazza.volunteers.models import (
    ORGANISER_ROLES,
    Attendance,
    CallContact,
    CallList,
    Opportunity,
    OpportunityKind,
    Outcome,
    Shift,
    ShiftSignup,
)


def _errors_to_form(form: Any, exc: ValidationError) -> None:
    if hasattr(exc, "error_dict"):
        for field, errors in exc.message_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, exc.messages)


def _territories(user: Any) -> Any:
    return territories_in_scope(scope_paths(user, ORGANISER_ROLES))


# --- Organiser ------------------------------------------------------------------------------------


@official_required(roles=ORGANISER_ROLES)
def manage(request: HttpRequest) -> HttpResponse:
    """Opportunities and call lists of the official's territories: titles and counts, no person."""
    opportunities = (
        Opportunity.objects.visible_to(request.user, ORGANISER_ROLES)
        .select_related("territory")
        .annotate(shift_count=Count("shifts", distinct=True))[:100]
    )
    call_lists = CallList.objects.visible_to(request.user, ORGANISER_ROLES).select_related("territory")[:100]
    return render(request, "volunteers/manage.html", {"opportunities": opportunities, "call_lists": call_lists})


@official_required(roles=ORGANISER_ROLES)
@require_http_methods(["GET", "POST"])
def opportunity_create(request: HttpRequest) -> HttpResponse:
    form = OpportunityForm(request.POST or None, territories=_territories(request.user))
    if request.method == "POST" and form.is_valid():
        try:
            opportunity = actions.create_opportunity(actor=request.user, **form.cleaned_data)
        except ValidationError as exc:
            _errors_to_form(form, exc)
        else:
            messages.success(request, _("Attività creata: aggiungi i turni."))
            return redirect("volunteers:opportunity", pk=opportunity.pk)
    return render(request, "volunteers/opportunity_form.html", {"form": form}, status=400 if form.errors else 200)


@official_required(roles=ORGANISER_ROLES)
@shows_personal_data("volunteers.view_opportunity")
def opportunity_detail(request: HttpRequest, pk: int) -> HttpResponse:
    opportunity = get_object_or_404(Opportunity.objects.visible_to(request.user, ORGANISER_ROLES), pk=pk)
    shifts = list(opportunity.shifts.all())
    signups = (
        ShiftSignup.objects.filter(shift__opportunity=opportunity)
        .select_related("person", "shift")
        .order_by("shift__starts_at", "signed_at")
    )
    by_shift: dict[int, list[ShiftSignup]] = {}
    for signup in signups:
        by_shift.setdefault(signup.shift_id, []).append(signup)
    rows = [(shift, by_shift.get(shift.pk, [])) for shift in shifts]
    note_access(obj=opportunity, territory=opportunity.territory, ids=[s.person_id for s in signups])
    public_url = request.build_absolute_uri(
        redirect("volunteers:public", public_id=opportunity.public_id).url  # type: ignore[attr-defined]
    )
    return render(
        request,
        "volunteers/opportunity_detail.html",
        {
            "opportunity": opportunity,
            "rows": rows,
            "shift_form": ShiftForm(),
            "public_url": public_url,
            "now": timezone.now(),
        },
    )


@official_required(roles=ORGANISER_ROLES)
@require_POST
def shift_add(request: HttpRequest, pk: int) -> HttpResponse:
    opportunity = get_object_or_404(Opportunity.objects.visible_to(request.user, ORGANISER_ROLES), pk=pk)
    form = ShiftForm(request.POST)
    if form.is_valid():
        try:
            actions.add_shift(actor=request.user, opportunity=opportunity, **form.cleaned_data)
        except ValidationError as exc:
            _errors_to_form(form, exc)
        else:
            messages.success(request, _("Turno aggiunto."))
            return redirect("volunteers:opportunity", pk=opportunity.pk)
    return render(request, "volunteers/shift_form.html", {"opportunity": opportunity, "form": form}, status=400)


@official_required(roles=ORGANISER_ROLES)
@require_POST
def attendance(request: HttpRequest, pk: int) -> HttpResponse:
    signup = get_object_or_404(
        ShiftSignup.objects.visible_to(request.user, ORGANISER_ROLES).select_related("shift__opportunity"), pk=pk
    )
    value = request.POST.get("attendance")
    if value not in (Attendance.ATTENDED, Attendance.NO_SHOW):
        messages.error(request, _("Scegli «Presente» o «Assente»."))
    else:
        try:
            actions.mark_attendance(actor=request.user, signup=signup, attended=value == Attendance.ATTENDED)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
    return redirect("volunteers:opportunity", pk=signup.shift.opportunity_id)


@official_required(roles=ORGANISER_ROLES)
@export_view("volunteers.export_signups")
def export_signups(request: HttpRequest, pk: int) -> HttpResponse:
    opportunity = get_object_or_404(Opportunity.objects.visible_to(request.user, ORGANISER_ROLES), pk=pk)
    signups = (
        ShiftSignup.objects.filter(shift__opportunity=opportunity)
        .select_related("person", "shift")
        .order_by("shift__starts_at", "signed_at")
    )
    rows = (
        [
            timezone.localtime(s.shift.starts_at).strftime("%d/%m/%Y %H:%M"),
            s.person.first_name,
            s.person.last_name,
            actions.primary_phone(s.person),
            s.get_attendance_display(),
        ]
        for s in signups
    )
    return export_response(
        "volunteers.export_signups",
        actor=request.user,
        file_format="csv",
        filename=f"turni-{opportunity.pk}",
        header=[_("Turno"), _("Nome"), _("Cognome"), _("Cellulare"), _("Presenza")],
        rows=rows,
        obj=opportunity,
        territory=opportunity.territory,
    )


# --- Public sign-up -------------------------------------------------------------------------------


def _open_shifts(opportunity: Opportunity) -> Any:
    return (
        Shift.objects.filter(opportunity=opportunity, starts_at__gt=timezone.now())
        .annotate(taken=Count("signups"))
        .order_by("starts_at")
    )


def _signup_limiter() -> HitLimiter:
    return HitLimiter(
        "volunteer-signup-ip",
        int(settings.PUBLIC_FORM_THROTTLE_PER_IP),
        int(settings.PUBLIC_FORM_THROTTLE_WINDOW_SECONDS),
    )


@require_http_methods(["GET", "POST"])
def public(request: HttpRequest, public_id: uuid.UUID) -> HttpResponse:
    opportunity = get_object_or_404(Opportunity.objects.select_related("territory"), public_id=public_id)
    shifts = _open_shifts(opportunity)
    form = SignupForm(request.POST or None, shifts=shifts)
    status = 200
    if request.method == "POST":
        if _signup_limiter().over(client_ip(request)):
            form.is_valid()
            form.add_error(None, _("Troppe iscrizioni da questa connessione: riprova tra qualche minuto."))
            status = 429
        elif form.is_valid():
            data = actions.SignupData(
                first_name=form.cleaned_data["first_name"],
                last_name=form.cleaned_data["last_name"],
                email=form.cleaned_data["email"],
                phone=form.cleaned_data["phone"],
                consents_to_contact=form.cleaned_data["consents_to_contact"],
                notice=form.cleaned_data.get("notice_version"),
            )
            try:
                signup = actions.sign_up_for_shift(actor=None, shift=form.cleaned_data["shift"], data=data)
            except ValidationError as exc:
                _errors_to_form(form, exc)
            else:
                request.session["volunteers_signed"] = signup.shift_id
                return redirect("volunteers:public_thanks", public_id=opportunity.public_id)
        if form.errors and status == 200:
            status = 400
    return render(
        request, "volunteers/public.html", {"opportunity": opportunity, "form": form, "shifts": shifts}, status=status
    )


def public_thanks(request: HttpRequest, public_id: uuid.UUID) -> HttpResponse:
    opportunity = get_object_or_404(Opportunity, public_id=public_id)
    shift = Shift.objects.filter(pk=int(request.session.get("volunteers_signed") or 0), opportunity=opportunity).first()
    return render(request, "volunteers/thanks.html", {"opportunity": opportunity, "shift": shift})


# --- Call lists -----------------------------------------------------------------------------------


@official_required(roles=ORGANISER_ROLES)
@require_http_methods(["GET", "POST"])
def call_list_create(request: HttpRequest) -> HttpResponse:
    segments = Segment.objects.visible_to(request.user, ORGANISER_ROLES)
    shifts = (
        Shift.objects.visible_to(request.user, ORGANISER_ROLES)
        .filter(opportunity__kind=OpportunityKind.PHONE_BANK, ends_at__gt=timezone.now())
        .select_related("opportunity")
    )
    form = CallListForm(request.POST or None, territories=_territories(request.user), segments=segments, shifts=shifts)
    if request.method == "POST" and form.is_valid():
        try:
            call_list = actions.create_call_list(actor=request.user, **form.cleaned_data)
        except ValidationError as exc:
            _errors_to_form(form, exc)
        else:
            return redirect("volunteers:call_list", pk=call_list.pk)
    return render(request, "volunteers/call_list_form.html", {"form": form}, status=400 if form.errors else 200)


@official_required(roles=ORGANISER_ROLES)
def call_list_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """Progress and outcomes in numbers, the script: no person on this page."""
    call_list = get_object_or_404(CallList.objects.visible_to(request.user, ORGANISER_ROLES), pk=pk)
    counts = queries.outcome_counts(call_list)
    return render(
        request,
        "volunteers/call_list_detail.html",
        {
            "call_list": call_list,
            "progress": queries.progress(call_list),
            "outcomes": [(label, counts.get(value, 0)) for value, label in Outcome.choices],
            "script_html": mark_safe(render_markdown(call_list.script)),  # nh3-sanitised
        },
    )


@official_required(roles=ORGANISER_ROLES)
@require_POST
def call_take(request: HttpRequest, pk: int) -> HttpResponse:
    call_list = get_object_or_404(CallList.objects.visible_to(request.user, ORGANISER_ROLES), pk=pk)
    contact = actions.take_next_contact(actor=request.user, call_list=call_list)
    if contact is None:
        messages.info(request, _("Non c'è nessun altro da chiamare in questa lista."))
        return redirect("volunteers:call_list", pk=call_list.pk)
    return redirect("volunteers:call", pk=contact.pk)


def _my_contact(request: HttpRequest, pk: int) -> CallContact:
    contact = get_object_or_404(
        CallContact.objects.visible_to(request.user, ORGANISER_ROLES).select_related("call_list__territory", "person"),
        pk=pk,
    )
    if contact.claimed_by_id != request.user.pk or contact.done:
        raise Http404
    return contact


@official_required(roles=ORGANISER_ROLES)
@shows_personal_data("volunteers.view_call")
def call(request: HttpRequest, pk: int) -> HttpResponse:
    """The caller sees the name, the phone number and the script, nothing else (rule G1)."""
    contact = _my_contact(request, pk)
    note_access(obj=contact, territory=contact.call_list.territory, ids=[contact.person_id])
    return render(request, "volunteers/call.html", _call_context(contact, OutcomeForm()))


def _call_context(contact: CallContact, form: OutcomeForm) -> dict[str, Any]:
    return {
        "contact": contact,
        "name": f"{contact.person.first_name} {contact.person.last_name}",
        "phone": actions.primary_phone(contact.person),
        "script_html": mark_safe(render_markdown(contact.call_list.script)),  # nh3-sanitised
        "progress": queries.progress(contact.call_list),
        "form": form,
    }


@official_required(roles=ORGANISER_ROLES)
@require_POST
def call_outcome(request: HttpRequest, pk: int) -> HttpResponse:
    contact = _my_contact(request, pk)
    form = OutcomeForm(request.POST)
    if form.is_valid():
        try:
            actions.record_outcome(actor=request.user, contact=contact, outcome=form.cleaned_data["outcome"])
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
            return redirect("volunteers:call_list", pk=contact.call_list_id)
        messages.success(request, _("Esito registrato."))
        return redirect("volunteers:call_list", pk=contact.call_list_id)
    return render(request, "volunteers/call.html", _call_context(contact, form), status=400)


# --- Ladder of engagement -------------------------------------------------------------------------


@official_required(roles=ORGANISER_ROLES)
def ladder(request: HttpRequest) -> HttpResponse:
    """How many people of a territory stand on each rung: counts only, no person."""
    territories = _territories(request.user)
    territory: Territory | None = None
    raw = request.GET.get("territory", "")
    if raw:
        territory = territories.filter(pk=int(raw) if raw.isdigit() else 0).first()
        if territory is None:
            raise Http404
    people = visible_people(request.user)
    if territory is not None:
        people = people.filter(territory__path__startswith=territory.path)
    rows = queries.ladder(people)
    return render(
        request,
        "volunteers/ladder.html",
        {
            "territories": territories,
            "territory": territory,
            "rows": rows,
            "chart": charts.bars(rows, _("Scala dell'impegno")),
        },
    )


# --- Volunteer callers (issue 15): signed in to Il mio spazio by the emailed link -----------------


def volunteer_required(view: Any) -> Any:
    """The person signed in to Il mio spazio is passed to the view; otherwise to the door (GET) or
    a 403 that says so (POST: nothing was done). No back-office account is needed to call."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        person, _expired = current_person(request)
        if person is None:
            if request.method == "POST":
                return render(
                    request,
                    "volunteers/caller_signed_out.html",
                    {"door": reverse("community:door")},
                    status=403,
                )
            messages.info(request, _("Per telefonare entra in Il mio spazio: chiedi il link qui sotto."))
            return redirect("community:door")
        return view(request, person, *args, **kwargs)

    return wrapper


@volunteer_required
def my_calls(request: HttpRequest, person: Person) -> HttpResponse:
    """The volunteer's phone-bank shifts with a call list: when they may call, and the button."""
    now = timezone.now()
    rows = [
        {"call_list": call_list, "shift": shift, "open": shift.starts_at <= now < shift.ends_at}
        for call_list, shift in actions.volunteer_call_lists(person, now=now)
    ]
    return render(request, "volunteers/my_calls.html", {"rows": rows})


@volunteer_required
@require_POST
def volunteer_take(request: HttpRequest, person: Person, pk: int) -> HttpResponse:
    call_list = CallList.objects.filter(pk=pk).select_related("territory").first()
    if call_list is None or actions.calling_signup(person, call_list) is None:
        raise Http404
    contact = actions.volunteer_take_next_contact(volunteer=person, call_list=call_list)
    if contact is None:
        messages.info(request, _("Non c'è nessun altro da chiamare in questa lista: grazie del tuo turno!"))
        return redirect("volunteers:my_calls")
    return redirect("volunteers:volunteer_call", pk=contact.pk)


def _volunteer_contact(person: Person, pk: int) -> CallContact:
    contact = actions.volunteer_contact(person, pk)
    if contact is None:
        raise Http404
    return contact


def _volunteer_call_context(contact: CallContact, form: OutcomeForm) -> dict[str, Any]:
    return {**_call_context(contact, form), "volunteer": True}


@volunteer_required
def volunteer_call(request: HttpRequest, person: Person, pk: int) -> HttpResponse:
    """One contact at a time: the name, the phone number and the script, nothing else (rule G1);
    each view audited with the volunteer who saw it (rule G4)."""
    contact = _volunteer_contact(person, pk)
    actions.note_volunteer_view(volunteer=person, contact=contact)
    return render(request, "volunteers/call.html", _volunteer_call_context(contact, OutcomeForm()))


@volunteer_required
@require_POST
def volunteer_outcome(request: HttpRequest, person: Person, pk: int) -> HttpResponse:
    contact = _volunteer_contact(person, pk)
    form = OutcomeForm(request.POST)
    if form.is_valid():
        try:
            actions.volunteer_record_outcome(volunteer=person, contact=contact, outcome=form.cleaned_data["outcome"])
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
            return redirect("volunteers:my_calls")
        messages.success(request, _("Esito registrato."))
        return redirect("volunteers:my_calls")
    return render(request, "volunteers/call.html", _volunteer_call_context(contact, form), status=400)
