"""Pages of the membership app: the public join flow and card, the Albo registration, the
circolo desk, rolls, the anomaly report and the charts. Views only call actions and queries."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.core import signing
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q, prefetch_related_objects
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from piazza.core.audit import audited_atomic, record
from piazza.core.exports import export_response, export_view
from piazza.core.files import private_file_response
from piazza.core.input_guard import ascii_int
from piazza.core.models import AuditKind
from piazza.core.personal_data import shows_personal_data
from piazza.core.throttle import throttle_public_form
from piazza.membership import charts, documents, queries
from piazza.membership.actions import _guards as guards_actions
from piazza.membership.actions import albo as albo_actions
from piazza.membership.actions import applicant as applicant_actions
from piazza.membership.actions import card as card_actions
from piazza.membership.actions import join as join_actions
from piazza.membership.actions import objection as objection_actions
from piazza.membership.actions import parameters as parameters_actions
from piazza.membership.actions import payment as payment_actions
from piazza.membership.actions import renewal as renewal_actions
from piazza.membership.actions import review as review_actions
from piazza.membership.actions import roll as roll_actions
from piazza.membership.actions import transfer as transfer_actions
from piazza.membership.cards import CARD_SALT, card_token
from piazza.membership.forms import (
    AlboElectionForm,
    AppealDecisionForm,
    AppealForm,
    BlockForm,
    ComuneForm,
    CongressForm,
    DeliverForm,
    DeskJoinForm,
    DeskPaymentForm,
    EligibilityForm,
    FeeScheduleForm,
    JoinForm,
    LiftForm,
    ObjectionDecisionForm,
    ObjectionForm,
    RenewalCampaignForm,
    RenewalForm,
    ReviewForm,
    RulesForm,
    SupporterForm,
    SurchargeForm,
    TransferDecisionForm,
    TransferRequestForm,
    VoteForm,
)
from piazza.membership.models import (
    LIVE_STATUSES,
    AlboElection,
    AnomalyFlag,
    Appeal,
    AppealInstance,
    CardBlock,
    Channel,
    Congress,
    ElectionRegistration,
    FeeSchedule,
    FlagStatus,
    Membership,
    MembershipRules,
    Objection,
    RegionalSurcharge,
    Roll,
    RollEntry,
    RollStatus,
    Status,
    Transfer,
    TransferStatus,
    rules_for,
)
from piazza.membership.payments import start_election_fee
from piazza.people.codice_fiscale import canonical_codice_fiscale
from piazza.people.models import Person
from piazza.people.validation import find_comune
from piazza.territory.access import official_required
from piazza.territory.models import OPEN_TO_ALL_KINDS, Comune, Level, Role, Territory
from piazza.territory.scoping import has_role_at, scope_paths

DESK_ROLES = {Role.MEMBERSHIP, Role.ORGANISATION, Role.ADMINISTRATOR, Role.TREASURY}


def _membership_from_token(token: str) -> Membership:
    try:
        pk = signing.loads(token, salt=CARD_SALT)
    except signing.BadSignature:
        raise Http404 from None
    return get_object_or_404(Membership.objects.select_related("person", "circolo"), pk=pk)


def _apply_errors(form: Any, error: ValidationError) -> None:
    if hasattr(error, "error_dict"):
        for field, errors in error.error_dict.items():
            target = field if field in form.fields else None
            if field == "birth_comune" and "birth_place" in form.fields:
                target = "birth_place"
            if field == "residence_comune" and "residence_comune" not in form.fields:
                target = None
            for err in errors:
                form.add_error(target, err)
    else:
        for message in error.messages:
            form.add_error(None, message)


def _place(value: str) -> tuple[Comune | None, str]:
    """A birth place: an Italian comune, or else a foreign country name."""
    try:
        return find_comune(value), ""
    except ValueError:
        return None, value.strip()


# --- Public: join online (M2, M4, M10–M15, M13) -----------------------------------------


def _throttled(request: HttpRequest) -> HttpResponse | None:
    """Public forms taking a codice fiscale: a limit per client and per code (issue 10, G1)."""
    return throttle_public_form(request, canonical_codice_fiscale(request.POST.get("codice_fiscale", "")))


def join(request: HttpRequest) -> HttpResponse:
    """Step 1 asks the residence comune (to suggest circoli); step 2 the application itself."""
    comune_text = request.GET.get("comune", "").strip()
    if not comune_text:
        return render(request, "membership/join_comune.html", {"form": ComuneForm()})
    comune: Comune | None = None
    if comune_text.lower() != "estero":
        try:
            comune = find_comune(comune_text)
        except ValueError as exc:
            comune_form = ComuneForm(request.GET)
            comune_form.is_valid()
            comune_form.add_error("comune", str(exc))
            return render(request, "membership/join_comune.html", {"form": comune_form})
    options = list(join_actions.circolo_options(comune))
    if comune is not None:
        local = [c for c in options if c.kind == "territorial"]
        federation = comune.federation
        others = [c for c in options if c.kind != "territorial" and federation and c.path.startswith(federation.path)]
        others += [c for c in options if c.kind != "territorial" and c not in others][:30]
        options = local + others
    choices = [(c.pk, f"{c.name} ({c.get_kind_display()})") for c in options]
    year = timezone.localdate().year
    form = JoinForm(
        request.POST or None, circoli=choices, initial={"circolo": choices[0][0] if len(choices) == 1 else None}
    )
    if request.method == "POST" and (throttled := _throttled(request)):
        return throttled
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        # The form only accepts one of `options`, already read (issue 14, P8: no second read).
        circolo = next(c for c in options if str(c.pk) == str(data["circolo"]))
        # Born where they live (the comune of step 1, already read): not looked up again (P8).
        same_place = comune is not None and data["birth_place"].strip().lower() == comune_text.lower()
        birth_comune, birth_country = (comune, "") if same_place else _place(data["birth_place"])
        join_data = applicant_actions.JoinData(
            first_name=data["first_name"],
            last_name=data["last_name"],
            sex=data["sex"],
            birth_date=data["birth_date"],
            birth_comune=birth_comune,
            birth_country=birth_country,
            codice_fiscale=data["codice_fiscale"],
            citizenship=data["citizenship"],
            has_residence_permit=data["has_residence_permit"],
            residence_street=data["residence_street"],
            residence_cap=data["residence_cap"],
            residence_comune=comune,
            email=data["email"],
            phone=data["phone"],
            member_of_other_party=data["member_of_other_party"] == "yes",
            declarations_accepted=data["declarations_accepted"],
            art9_authorised=data["art9_authorised"],
            notice=data.get("notice_version"),
        )
        try:
            membership = join_actions.apply_for_membership(
                actor=request.user, data=join_data, circolo=circolo, channel=Channel.ONLINE, year=year
            )
            from piazza.membership.payments import start_online_payment

            status_url = reverse("membership:status", args=[card_token(membership)])
            # The payment and the e-mailed link in one transaction with one audit write (ADR 0032);
            # the person's e-mails read once for both (issue 14, P8).
            prefetch_related_objects([membership.person], "emails")
            with audited_atomic():
                # Created just now by this request: no payment can hold its key yet (ADR 0042).
                start_online_payment(membership, actor=request.user, return_url=status_url, new_key=True)
                join_actions.send_application_link(
                    membership=membership, status_url=settings.SITE_URL.rstrip("/") + status_url
                )
        except ValidationError as error:
            if not _is_duplicate(error):
                _apply_errors(form, error)
            else:  # the same answer as a new application: the real person was told by email (G1)
                return redirect("membership:join_sent")
        else:
            return redirect("membership:join_sent")
    # The fee shown on the page; an accepted application is quoted by apply_for_membership itself.
    schedule = parameters_actions.schedule_for(year)
    quote = None
    if schedule is not None and options:
        quote = parameters_actions.quote_for(schedule, options[0], None, timezone.localdate())
    return render(
        request,
        "membership/join.html",
        {
            "form": form,
            "comune": comune,
            "comune_text": comune_text,
            "schedule": schedule,
            "quote": quote,
            "year": year,
        },
    )


def _is_duplicate(error: ValidationError) -> bool:
    errors = getattr(error, "error_dict", {}).get("codice_fiscale", [])
    return any(e.code == join_actions.PUBLIC_DUPLICATE_CODE for e in errors)


def join_sent(request: HttpRequest) -> HttpResponse:
    """After every accepted join form, whoever the code belongs to (issue 10, rule G1)."""
    return render(request, "membership/join_sent.html")


def status(request: HttpRequest, token: str) -> HttpResponse:
    """The applicant's page: state of the application, payment link, the card once paid."""
    membership = _membership_from_token(token)
    payment_url = ""
    if membership.status == Status.APPLIED:
        from piazza.payments.models import Payment

        payment = Payment.objects.filter(creation_key=f"membership:{membership.pk}").first()
        payment_url = reverse("payments:pay", args=[payment.token]) if payment else ""
    return render(request, "membership/status.html", {"m": membership, "token": token, "payment_url": payment_url})


def card(request: HttpRequest, token: str) -> HttpResponse:
    membership = _membership_from_token(token)
    if membership.status not in (Status.PAID, Status.EFFECTIVE):
        return redirect("membership:status", token=token)
    return render(request, "membership/card.html", {"m": membership, "token": token})


def card_pdf(request: HttpRequest, token: str) -> HttpResponse:
    membership = _membership_from_token(token)
    if membership.status not in (Status.PAID, Status.EFFECTIVE):
        raise Http404
    response = HttpResponse(documents.card_pdf(membership), content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="tessera-{membership.year}-{membership.card_number}.pdf"'
    return response


def renew(request: HttpRequest, token: str) -> HttpResponse:
    """One-click renewal from the reminder email: what may have changed is asked again (the
    residence permit, the address, the declarations), then the fee, once or yearly by SEPA."""
    found = renewal_actions.read_renewal_token(token)
    if found is None:
        raise Http404
    previous, year = found
    person = previous.person
    form = RenewalForm(
        request.POST or None,
        initial={
            "citizenship": person.citizenship,
            "residence_street": person.residence_street,
            "residence_cap": person.residence_cap,
        },
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        from piazza.membership.payments import sepa_available, start_online_payment, start_yearly_sepa

        try:
            membership = renewal_actions.renew_membership(
                actor=request.user,
                previous=previous,
                year=year,
                declarations_accepted=data["declarations_accepted"],
                art9_authorised=data["art9_authorised"],
                member_of_other_party=data["member_of_other_party"] == "yes",
                citizenship=data["citizenship"],
                has_residence_permit=data["has_residence_permit"],
                residence_street=data["residence_street"],
                residence_cap=data["residence_cap"],
            )
            return_url = reverse("membership:status", args=[card_token(membership)])
            if data["yearly_sepa"] and sepa_available():
                payment = start_yearly_sepa(membership, actor=request.user, return_url=return_url)
            else:
                payment = start_online_payment(membership, actor=request.user, return_url=return_url)
        except ValidationError as error:
            _apply_errors(form, error)
        else:
            return redirect("payments:pay", token=payment.token)
    from piazza.membership.payments import sepa_available

    if not sepa_available():
        form.fields.pop("yearly_sepa")
    return render(request, "membership/renew.html", {"previous": previous, "year": year, "form": form})


def albo(request: HttpRequest) -> HttpResponse:
    """Public registration in the Albo delle elettrici e degli elettori (M3, M21); with
    `?elezione=<id>`, for one election, whose fee non-members pay online (2023: €2)."""
    election = None
    if request.GET.get("elezione"):
        now = timezone.now()
        election = get_object_or_404(
            AlboElection, pk=ascii_int(request.GET["elezione"]) or 0, opens_at__lte=now, closes_at__gte=now
        )
    if request.method == "POST" and (throttled := _throttled(request)):
        return throttled
    form = SupporterForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        birth_comune, birth_country = _place(data["birth_place"])
        try:
            residence = find_comune(data["residence_comune"])
        except ValueError as exc:
            form.add_error("residence_comune", str(exc))
        else:
            try:
                supporter = albo_actions.register_supporter(
                    actor=request.user,
                    election=election,
                    data=albo_actions.SupporterData(
                        first_name=data["first_name"],
                        last_name=data["last_name"],
                        birth_date=data["birth_date"],
                        codice_fiscale=data["codice_fiscale"],
                        email=data["email"],
                        phone=data["phone"],
                        residence_street=data["residence_street"],
                        residence_comune=residence,
                        citizenship=data["citizenship"],
                        birth_comune=birth_comune,
                        birth_country=birth_country,
                        has_residence_permit=data["has_residence_permit"],
                        declares_support=data["declares_support"],
                        consents_to_contact=data["consents_to_contact"],
                        notice=data.get("notice_version"),
                    ),
                )
                if supporter is not None:  # a brand-new person: the next step goes to the address typed
                    _send_albo_continuation(request, supporter, election)
            except ValidationError as error:
                _apply_errors(form, error)
            else:
                # Issue 10, rule G1: one answer whoever the code belongs to (member, non-member on
                # file, nobody); the continuation is in the email.
                return redirect("membership:albo_sent")
    return render(request, "membership/albo.html", {"form": form, "election": election})


def _election_fee_payment(request: HttpRequest, supporter: Any, election: AlboElection | None) -> Any:
    """The payment of the election fee when one is due (non-members), else None."""
    registration = (
        ElectionRegistration.objects.filter(supporter=supporter, election=election).first()
        if election is not None
        else None
    )
    if registration is None or not registration.fee_cents or registration.paid_at is not None:
        return None
    return start_election_fee(registration, actor=request.user, return_url=reverse("membership:albo_done"))


def _send_albo_continuation(request: HttpRequest, supporter: Any, election: AlboElection | None) -> None:
    payment = _election_fee_payment(request, supporter, election)
    payment_url = (
        settings.SITE_URL.rstrip("/") + reverse("payments:pay", args=[payment.token]) if payment is not None else ""
    )
    albo_actions.send_albo_continuation(supporter=supporter, election=election, payment_url=payment_url)


def albo_sent(request: HttpRequest) -> HttpResponse:
    """After every accepted Albo form, whoever the code belongs to (issue 10, rule G1)."""
    return render(request, "membership/albo_sent.html")


def albo_confirm(request: HttpRequest, token: str) -> HttpResponse:
    """The link emailed to a person already on file: a button (a GET from a mail scanner writes
    nothing), then the registration; the election fee, when due, is paid next."""
    pending = albo_actions.read_albo_confirmation(token)
    if request.method != "POST" or pending is None:
        return render(request, "membership/albo_confirm.html", {"pending": pending}, status=200 if pending else 410)
    try:
        supporter = albo_actions.confirm_albo_registration(actor=request.user, token=token)
    except ValidationError as error:
        return render(request, "membership/albo_confirm.html", {"pending": None, "errors": error.messages}, status=410)
    payment = _election_fee_payment(request, supporter, pending.election)
    if payment is not None:
        return redirect("payments:pay", token=payment.token)
    return render(
        request, "membership/albo_done.html", {"name": supporter.person.first_name, "election": pending.election}
    )


def albo_done(request: HttpRequest) -> HttpResponse:
    """Where the payment page returns after the election fee."""
    return render(request, "membership/albo_done.html", {"name": "", "paid": True})


# --- Back office ---------------------------------------------------------------------------


def _circolo(request: HttpRequest, pk: int) -> Territory:
    """404 outside the official's scope (convention 11)."""
    return get_object_or_404(
        Territory.objects.visible_to(request.user, roles=DESK_ROLES | {Role.GUARANTEE}).filter(level=Level.CIRCOLO),
        pk=pk,
    )


@official_required(roles=DESK_ROLES | {Role.GUARANTEE})
def overview(request: HttpRequest) -> HttpResponse:
    """Charts scoped to the official: members by territory and year, renewals, age/sex, the map."""
    year = int(request.GET.get("anno") or timezone.localdate().year)
    qs = queries.scoped_memberships(request.user)
    paths = scope_paths(request.user, queries.STATS_ROLES)
    roots = list(Territory.objects.filter(path__in=paths))
    root = roots[0] if roots else None
    by_child = queries.members_by_child(qs, root, year) if root else []
    by_year = queries.members_by_year(qs)
    renewals = queries.renewal_rates(qs, year)
    ages = queries.age_sex(qs, year)
    by_code = queries.members_by_province(qs, year)
    sigle = dict(Comune.objects.values_list("province_code", "province_sigla").distinct())
    by_sigla = {sigle.get(code, code): n for code, n in by_code.items()}
    circoli = Territory.objects.visible_to(request.user, roles=DESK_ROLES).filter(level=Level.CIRCOLO)
    federations = Territory.objects.visible_to(request.user, roles=DESK_ROLES | {Role.GUARANTEE}).filter(
        level=Level.FEDERATION
    )
    return render(
        request,
        "membership/overview.html",
        {
            "year": year,
            "roots": roots,
            "by_child": by_child,
            "chart_children": charts.bars(by_child, _("Iscritti %(y)s per territorio") % {"y": year}),
            "by_year": by_year,
            "chart_years": charts.years(by_year, _("Iscritti per anno: nuovi e rinnovi")),
            "renewals": renewals,
            "chart_renewals": charts.rates(renewals, _("Tasso di rinnovo per circolo")),
            "ages": ages,
            "chart_ages": charts.pyramid(ages, _("Età e sesso degli iscritti")),
            "chart_map": charts.italy(by_sigla, _("Iscritti per provincia")),
            "by_sigla": sorted(by_sigla.items()),
            "circoli": circoli.order_by("name")[:200],
            "anomaly_index": queries.anomaly_index(federations.order_by("name")[:120], year),
            "congresses": Congress.objects.visible_to(request.user).order_by("-cut_off")[:20],
        },
    )


@official_required(roles=DESK_ROLES)
@shows_personal_data("membership.view_members", audited_inline=True)
def circolo_members(request: HttpRequest, pk: int) -> HttpResponse:
    circolo = _circolo(request, pk)
    year = int(request.GET.get("anno") or timezone.localdate().year)
    members = list(
        Membership.objects.filter(circolo=circolo, year=year)
        .select_related("person")
        .order_by("person__last_name", "person__first_name")
    )
    with transaction.atomic():
        record(
            "membership.view_members",
            actor=request.user,
            territory=circolo,
            kind=AuditKind.VIEW,
            data={"year": year, "count": len(members)},
        )
    return render(request, "membership/circolo.html", {"circolo": circolo, "year": year, "members": members})


@official_required(roles=DESK_ROLES)
def desk_register(request: HttpRequest, pk: int) -> HttpResponse:
    """The secretary registers a person who joins in person and records the fee: one step, one
    transaction (issue 11 item 11); only the methods the federation allows are offered."""
    circolo = _circolo(request, pk)
    comuni = list(circolo.comuni.all()[:1])
    methods = payment_actions.desk_methods(circolo)
    form = DeskJoinForm(
        request.POST or None,
        request.FILES or None,
        circoli=[(circolo.pk, circolo.name)],
        methods=methods,
        initial={"circolo": circolo.pk},
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        # Bad scans are refused before anything is written (the attempt is audited by the action).
        for name in ("paper_form", "signature_scan"):
            if data.get(name) and (problem := payment_actions.scan_problem(data[name])):
                form.add_error(name, problem)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        birth_comune, birth_country = _place(data["birth_place"])
        join_data = applicant_actions.JoinData(
            first_name=data["first_name"],
            last_name=data["last_name"],
            sex=data["sex"],
            birth_date=data["birth_date"],
            birth_comune=birth_comune,
            birth_country=birth_country,
            codice_fiscale=data["codice_fiscale"],
            citizenship=data["citizenship"],
            has_residence_permit=data["has_residence_permit"],
            residence_street=data["residence_street"],
            residence_cap=data["residence_cap"],
            residence_comune=comuni[0] if comuni else None,
            email=data["email"],
            phone=data["phone"],
            member_of_other_party=data["member_of_other_party"] == "yes",
            declarations_accepted=data["declarations_accepted"],
            art9_authorised=data["art9_authorised"],
            notice=data.get("notice_version"),
        )
        paper = payment_actions.DeskPaperForm(
            collected=data["paper_form_signed"],
            consents=list(data["consents"]),
            scan=data.get("paper_form"),
            signature_scan=data.get("signature_scan"),
        )
        try:
            membership = payment_actions.register_at_desk(
                actor=request.user,
                data=join_data,
                circolo=circolo,
                method=data["method"],
                reference=data["reference"],
                fingerprint=data["instrument"],
                payer_name=data["payer_name"],
                paper=paper,
            )
        except ValidationError as error:
            _apply_errors(form, error)
            form.add_error(None, _("Non è stato registrato nulla: né l'iscrizione né la quota. Correggi e riprova."))
        else:
            messages.success(request, _("Iscrizione registrata e quota incassata."))
            if applicant_actions.registered_email(membership.person):
                messages.info(request, _("La ricevuta è stata inviata per email all'iscritto; puoi anche stamparla."))
            else:
                messages.info(request, _("Senza email: stampa la ricevuta e consegnala all'iscritto."))
            return redirect("membership:membership", pk=membership.pk)
    return render(request, "membership/desk_register.html", {"form": form, "circolo": circolo, "methods": methods})


def _membership(request: HttpRequest, pk: int) -> Membership:
    return get_object_or_404(
        Membership.objects.visible_to(request.user, roles=DESK_ROLES | {Role.GUARANTEE}).select_related(
            "person", "circolo"
        ),
        pk=pk,
    )


def _transfer_destinations(membership: Membership) -> list[tuple[int, str]]:
    """Open circoli of the member's region, and those open to all (online, thematic, Punti PD)."""
    region = membership.circolo.ancestor_at(Level.REGION)
    qs = Territory.objects.filter(level=Level.CIRCOLO, closed_at__isnull=True).exclude(pk=membership.circolo_id)
    condition = Q(kind__in=list(OPEN_TO_ALL_KINDS))
    if region is not None:
        condition |= Q(path__startswith=region.path)
    return [(c.pk, c.name) for c in qs.filter(condition).order_by("name")[:400]]


@official_required(roles=DESK_ROLES | {Role.GUARANTEE})
@shows_personal_data("membership.view", audited_inline=True)
def membership_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """One membership: state, fee, card; the card block (M9), transfers (M23), objections and
    appeals with their deadlines (M18)."""
    membership = _membership(request, pk)
    with transaction.atomic():
        record("membership.view", actor=request.user, obj=membership, territory=membership.circolo, kind=AuditKind.VIEW)
    block = CardBlock.objects.filter(person_id=membership.person_id, lifted_at__isnull=True).first()
    objections = list(membership.objections.select_related("raised_by", "decided_by"))
    now = timezone.now()
    _annotate_appeals(objections, request.user)
    return render(
        request,
        "membership/membership.html",
        {
            "m": membership,
            "pay_form": DeskPaymentForm(methods=payment_actions.desk_methods(membership.circolo), auto_id="pay_%s"),
            "deliver_form": DeliverForm(auto_id="deliver_%s"),
            "token": card_token(membership),
            "card_block": block,
            "block_form": BlockForm(auto_id="block_%s"),
            "lift_form": LiftForm(auto_id="lift_%s"),
            "transfers": Transfer.objects.filter(membership=membership).select_related("from_circolo", "to_circolo"),
            "transfer_form": TransferRequestForm(circoli=_transfer_destinations(membership), auto_id="transfer_%s")
            if membership.status in LIVE_STATUSES
            else None,
            "objections": objections,
            "now": now,
            "objection_open": membership.objection_deadline is not None and now <= membership.objection_deadline,
            "objection_form": ObjectionForm(auto_id="objection_%s"),
            "decision_form": ObjectionDecisionForm(auto_id="decision_%s"),
            "appeal_form": AppealForm(auto_id="appeal_%s"),
            "appeal_decision_form": AppealDecisionForm(prefix=APPEAL_DECISION_PREFIX),
        },
    )


def _annotate_appeals(objections: list[Objection], user: Any) -> None:
    """Rule M18 on the page: each objection's appeals, the next instance open to appeal (and until
    when), the pending appeal, and whether this official sits on the commission that decides it."""
    for o in objections:
        appeals = list(o.appeals.select_related("commission"))
        last = appeals[-1] if appeals else None
        o.appeal_list = appeals  # type: ignore[attr-defined]
        o.pending_appeal = last if last is not None and last.decided_at is None else None  # type: ignore[attr-defined]
        o.final = bool(last and last.decided_at and last.is_last_instance)  # type: ignore[attr-defined]
        next_deadline: Any = None
        next_label: Any = ""
        if o.status != "open" and last is None:
            next_deadline, next_label = o.appeal_deadline, AppealInstance.REGIONAL.label
        elif last is not None and last.decided_at is not None and not last.is_last_instance:
            next_deadline, next_label = last.next_appeal_deadline, AppealInstance(last.instance + 1).label
        o.next_appeal_deadline = next_deadline  # type: ignore[attr-defined]
        o.next_instance_label = next_label  # type: ignore[attr-defined]
        for appeal in appeals:
            appeal.can_decide = (
                appeal.decided_at is None  # type: ignore[attr-defined]
                and objection_actions.is_commission_member(user, appeal.commission)
            )


def _done(request: HttpRequest, call: Any, success: str) -> Any:
    """Run an action for a screen: its refusal becomes a message, its success another."""
    try:
        result = call()
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return None
    messages.success(request, success)
    return result


@require_POST
@official_required(roles=DESK_ROLES)
def membership_block(request: HttpRequest, pk: int) -> HttpResponse:
    """Rule M9: block the card until a condition is met."""
    membership = _membership(request, pk)
    form = BlockForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Indica il motivo e la condizione per sbloccare la tessera."))
    else:
        _done(
            request,
            lambda: card_actions.block_card(
                actor=request.user,
                person=membership.person,
                territory=membership.circolo,
                reason=form.cleaned_data["reason"],
            ),
            _("Tessera bloccata: non sarà consegnata finché il blocco resta."),
        )
    return redirect("membership:membership", pk=pk)


@require_POST
@official_required(roles=DESK_ROLES)
def membership_unblock(request: HttpRequest, pk: int) -> HttpResponse:
    membership = _membership(request, pk)
    block = get_object_or_404(
        CardBlock.objects.visible_to(request.user, roles=DESK_ROLES),
        person_id=membership.person_id,
        lifted_at__isnull=True,
    )
    form = LiftForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Scrivi una nota che dica perché la tessera si sblocca."))
    else:
        _done(
            request,
            lambda: card_actions.lift_card_block(actor=request.user, block=block, note=form.cleaned_data["note"]),
            _("Blocco tolto."),
        )
    return redirect("membership:membership", pk=pk)


@require_POST
@official_required(roles=DESK_ROLES)
def transfer_request(request: HttpRequest, pk: int) -> HttpResponse:
    """Rule M23: ask the destination circolo to take the member."""
    membership = _membership(request, pk)
    form = TransferRequestForm(request.POST, circoli=_transfer_destinations(membership))
    if not form.is_valid():
        messages.error(request, _("Scegli il circolo di destinazione e scrivi il motivo."))
    else:
        destination = get_object_or_404(Territory, pk=form.cleaned_data["to_circolo"], level=Level.CIRCOLO)
        _done(
            request,
            lambda: transfer_actions.request_transfer(
                actor=request.user, membership=membership, to_circolo=destination, reason=form.cleaned_data["reason"]
            ),
            _("Richiesta inviata al %(c)s: decide il circolo di destinazione.") % {"c": destination.name},
        )
    return redirect("membership:membership", pk=pk)


@official_required(roles=DESK_ROLES)
@shows_personal_data("membership.view_transfers", audited_inline=True)
def transfers(request: HttpRequest) -> HttpResponse:
    """Transfers waiting for a circolo in the official's scope, with the M23 cap of each."""
    pending = list(
        Transfer.objects.visible_to(request.user, roles=DESK_ROLES)
        .filter(status=TransferStatus.REQUESTED)
        .select_related("membership__person", "from_circolo", "to_circolo")
        .order_by("requested_at")
    )
    rows = []
    for transfer in pending:
        outside, total = transfer_actions.out_of_area_share(transfer.to_circolo, transfer.membership.year, extra=1)
        cap = rules_for(transfer.to_circolo).out_of_area_cap_percent
        rows.append(
            {
                "t": transfer,
                "outside": outside,
                "total": total,
                "cap": cap,
                "over": outside * 100 > cap * total,
                "form": TransferDecisionForm(prefix=f"t{transfer.pk}"),
            }
        )
    decided = (
        Transfer.objects.visible_to(request.user, roles=DESK_ROLES)
        .exclude(status=TransferStatus.REQUESTED)
        .select_related("membership__person", "from_circolo", "to_circolo")
        .order_by("-decided_at")[:30]
    )
    with transaction.atomic():
        record("membership.view_transfers", actor=request.user, kind=AuditKind.VIEW, data={"pending": len(rows)})
    return render(request, "membership/transfers.html", {"rows": rows, "decided": decided})


@require_POST
@official_required(roles=DESK_ROLES)
def transfer_decide(request: HttpRequest, pk: int) -> HttpResponse:
    transfer = get_object_or_404(
        Transfer.objects.visible_to(request.user, roles=DESK_ROLES).select_related(
            "membership__person", "to_circolo", "from_circolo"
        ),
        pk=pk,
    )
    form = TransferDecisionForm(request.POST, prefix=f"t{transfer.pk}")
    if not form.is_valid():
        messages.error(request, _("Scegli se approvare o respingere il trasferimento."))
    else:
        approve = form.cleaned_data["decision"] == "approve"
        _done(
            request,
            lambda: transfer_actions.decide_transfer(
                actor=request.user, transfer=transfer, approve=approve, reason=form.cleaned_data["reason"]
            ),
            (
                _("Trasferimento approvato; il circolo di origine è avvisato.")
                if approve
                else _("Trasferimento respinto; il circolo di origine è avvisato.")
            ),
        )
    return redirect("membership:transfers")


def _objection(request: HttpRequest, pk: int) -> Objection:
    return get_object_or_404(
        Objection.objects.visible_to(request.user, roles=DESK_ROLES | {Role.GUARANTEE}).select_related(
            "membership__circolo"
        ),
        pk=pk,
    )


@require_POST
@official_required(roles=DESK_ROLES | {Role.GUARANTEE})
def objection_raise(request: HttpRequest, pk: int) -> HttpResponse:
    """Rule M18: contest a new membership within the window."""
    membership = _membership(request, pk)
    form = ObjectionForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Indica chi contesta e il motivo."))
    else:
        _done(
            request,
            lambda: objection_actions.raise_objection(
                actor=request.user,
                membership=membership,
                body=form.cleaned_data["body"],
                reason=form.cleaned_data["reason"],
            ),
            _("Contestazione registrata: decide la commissione di garanzia."),
        )
    return redirect("membership:membership", pk=pk)


@require_POST
@official_required(roles={Role.GUARANTEE, Role.ADMINISTRATOR})
def objection_decide(request: HttpRequest, pk: int) -> HttpResponse:
    objection = _objection(request, pk)
    form = ObjectionDecisionForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Una decisione va scelta e motivata."))
    else:
        _done(
            request,
            lambda: objection_actions.decide_objection(
                actor=request.user,
                objection=objection,
                uphold=form.cleaned_data["uphold"] == "yes",
                reason=form.cleaned_data["reason"],
            ),
            _("Decisione registrata: si apre il termine per il ricorso."),
        )
    return redirect("membership:membership", pk=objection.membership_id)


@require_POST
@official_required(roles=DESK_ROLES | {Role.GUARANTEE})
def objection_appeal(request: HttpRequest, pk: int, stage: str) -> HttpResponse:
    """Record an appeal (or counter-appeal) received within its window (M18)."""
    objection = _objection(request, pk)
    form = AppealForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Riporta i motivi del ricorso."))
    elif stage == "ricorso":
        _done(
            request,
            lambda: objection_actions.file_appeal(
                actor=request.user, objection=objection, reason=form.cleaned_data["reason"]
            ),
            _("Ricorso registrato."),
        )
    elif stage == "controricorso":
        _done(
            request,
            lambda: objection_actions.file_counter_appeal(
                actor=request.user, objection=objection, reason=form.cleaned_data["reason"]
            ),
            _("Controricorso registrato."),
        )
    else:
        raise Http404
    return redirect("membership:membership", pk=objection.membership_id)


APPEAL_ROLES = {Role.GUARANTEE, Role.ADMINISTRATOR}
APPEAL_DECISION_PREFIX = "appeal"  # the page has other "reason" fields: unique ids for the labels


@require_POST
@official_required(roles=APPEAL_ROLES)
def appeal_decide(request: HttpRequest, pk: int) -> HttpResponse:
    """Rule M18: the competent commission decides an appeal (the action checks who sits on it)."""
    appeal = get_object_or_404(
        Appeal.objects.visible_to(request.user, roles=APPEAL_ROLES).select_related(
            "objection__membership__circolo", "commission"
        ),
        pk=pk,
    )
    form = AppealDecisionForm(request.POST, prefix=APPEAL_DECISION_PREFIX)
    if not form.is_valid():
        messages.error(request, _("Scegli l'esito del ricorso e scrivi la motivazione."))
    else:
        _done(
            request,
            lambda: objection_actions.decide_appeal(
                actor=request.user,
                appeal=appeal,
                outcome=form.cleaned_data["outcome"],
                reason=form.cleaned_data["reason"],
            ),
            _("Decisione sul ricorso registrata: l'anagrafe è aggiornata."),
        )
    return redirect("membership:membership", pk=appeal.objection.membership_id)


@official_required(roles=APPEAL_ROLES)
@shows_personal_data("membership.view_appeals", audited_inline=True)
def appeals(request: HttpRequest) -> HttpResponse:
    """Rule M18: appeals waiting for a decision in the official's scope, the overdue ones first."""
    now = timezone.now()
    pending = list(queries.pending_appeals(request.user, roles=APPEAL_ROLES))
    with transaction.atomic():
        record(
            "membership.view_appeals",
            actor=request.user,
            kind=AuditKind.VIEW,
            data={"appeals": [a.pk for a in pending][:200]},
        )
    rows = [
        {
            "appeal": a,
            "overdue": a.decision_due < now,
            "can_decide": objection_actions.is_commission_member(request.user, a.commission),
        }
        for a in pending
    ]
    return render(
        request, "membership/appeals.html", {"rows": rows, "overdue": sum(1 for r in rows if r["overdue"]), "now": now}
    )


# --- Rules and fees (M5–M7, per-territory parameters), Albo elections, renewal campaigns -----


RULE_ROLES = {Role.MEMBERSHIP, Role.ORGANISATION, Role.ADMINISTRATOR}


@official_required(roles=RULE_ROLES | {Role.TREASURY})
def rules_and_fees(request: HttpRequest) -> HttpResponse:
    """Fee years (national), regional surcharges with the 10 January deadline and the caps (M6),
    the parameters of each territory the official runs, and Albo elections."""
    paths = scope_paths(request.user, RULE_ROLES | {Role.TREASURY})
    territories = list(Territory.objects.filter(path__in=paths).exclude(level=Level.CIRCOLO).order_by("depth"))
    year = timezone.localdate().year
    schedules = list(FeeSchedule.objects.order_by("-year")[:5])
    region_ids = [t.pk for t in territories if t.level == Level.REGION]
    surcharges = RegionalSurcharge.objects.filter(region_id__in=region_ids).select_related("schedule", "region")
    rule_rows = []
    for territory in territories:
        stored = MembershipRules.objects.filter(territory=territory).first()
        initial = {}
        if stored is not None:
            for name in parameters_actions.RULE_FIELDS:
                value = getattr(stored, name)
                if name in ("refuse_prepaid_cards", "cash_allowed"):
                    value = "" if value is None else ("yes" if value else "no")
                if name == "desk_methods":
                    value = [c for c in str(value or "").split(",") if c]
                initial[name] = value
        renewal_year = year + 1 if timezone.localdate().month >= 10 else year
        rule_rows.append(
            {
                "territory": territory,
                "form": RulesForm(initial=initial, prefix=f"t{territory.pk}"),
                # one form per territory, each with its own ids (issue 11 item 18)
                "campaign_form": RenewalCampaignForm(
                    initial={"year": renewal_year}, auto_id=f"renewal{territory.pk}_%s"
                ),
                "election_form": AlboElectionForm(auto_id=f"election{territory.pk}_%s"),
                "in_force": rules_for(territory),
            }
        )
    return render(
        request,
        "membership/rules.html",
        {
            "territories": territories,
            "schedules": schedules,
            "surcharges": surcharges,
            "rule_rows": rule_rows,
            "is_national": any(t.level == Level.NATIONAL for t in territories),
            "regions": [t for t in territories if t.level == Level.REGION],
            "schedule_form": FeeScheduleForm(initial={"year": year + 1}, auto_id="schedule_%s"),
            "surcharge_form": SurchargeForm(initial={"year": year + 1}, auto_id="surcharge_%s"),
            "election_form": AlboElectionForm(auto_id="election_%s"),
            "elections": AlboElection.objects.filter(territory__in=territories).order_by("-opens_at")[:20],
            "campaign_form": RenewalCampaignForm(
                initial={"year": year + 1 if timezone.localdate().month >= 10 else year}, auto_id="renewal_%s"
            ),
        },
    )


def _territory_in_scope(request: HttpRequest, pk: Any, roles: set[Any]) -> Territory:
    return get_object_or_404(Territory.objects.visible_to(request.user, roles=roles), pk=pk)


@require_POST
@official_required(roles=RULE_ROLES)
def fee_schedule_save(request: HttpRequest) -> HttpResponse:
    form = FeeScheduleForm(request.POST)
    national = Territory.objects.get(level=Level.NATIONAL)
    if not form.is_valid():
        messages.error(request, _("Controlla le quote: %(e)s") % {"e": form.errors.as_text()})
        return redirect("membership:rules")
    data = form.cleaned_data
    _done(
        request,
        lambda: parameters_actions.set_fee_schedule(
            actor=request.user,
            year=data["year"],
            national=national,
            base_fee_cents=data["base_fee"].cents,
            national_surcharge_cents=data["national_surcharge"].cents,
            regional_surcharge_cap_cents=data["regional_surcharge_cap"].cents,
            total_cap_cents=data["total_cap"].cents,
            regional_deadline=data["regional_deadline"],
            reduced_percent=data["reduced_percent"],
            opens_at=data["opens_at"],
            closes_at=data["closes_at"],
        ),
        _("Quote del %(y)s salvate.") % {"y": data["year"]},
    )
    return redirect("membership:rules")


@require_POST
@official_required(roles=RULE_ROLES | {Role.TREASURY})
def surcharge_save(request: HttpRequest, pk: int) -> HttpResponse:
    region = _territory_in_scope(request, pk, RULE_ROLES | {Role.TREASURY})
    form = SurchargeForm(request.POST, prefix=f"r{region.pk}")
    if not form.is_valid():
        messages.error(request, _("Controlla la maggiorazione: %(e)s") % {"e": form.errors.as_text()})
    else:
        _done(
            request,
            lambda: parameters_actions.set_regional_surcharge(
                actor=request.user,
                region=region,
                year=form.cleaned_data["year"],
                amount_cents=form.cleaned_data["amount"].cents,
            ),
            _("Maggiorazione regionale salvata."),
        )
    return redirect("membership:rules")


@require_POST
@official_required(roles=RULE_ROLES)
def rules_save(request: HttpRequest, pk: int) -> HttpResponse:
    territory = _territory_in_scope(request, pk, RULE_ROLES)
    form = RulesForm(request.POST, prefix=f"t{territory.pk}")
    if not form.is_valid():
        messages.error(request, _("Controlla i parametri: %(e)s") % {"e": form.errors.as_text()})
    else:
        _done(
            request,
            lambda: parameters_actions.set_membership_rules(
                actor=request.user, territory=territory, **form.rule_values()
            ),
            _("Regole di %(t)s salvate.") % {"t": territory.name},
        )
    return redirect("membership:rules")


@require_POST
@official_required(roles={Role.ORGANISATION, Role.ADMINISTRATOR})
def election_create(request: HttpRequest, pk: int) -> HttpResponse:
    territory = _territory_in_scope(request, pk, {Role.ORGANISATION, Role.ADMINISTRATOR})
    form = AlboElectionForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Controlla l'elezione: %(e)s") % {"e": form.errors.as_text()})
    else:
        data = form.cleaned_data
        election = _done(
            request,
            lambda: albo_actions.create_albo_election(
                actor=request.user,
                territory=territory,
                name=data["name"],
                fee_cents=data["fee"].cents,
                opens_at=data["opens_at"],
                closes_at=data["closes_at"],
            ),
            _("Elezione creata."),
        )
        if election is not None:
            messages.info(
                request,
                _("La pagina di registrazione è %(url)s")
                % {"url": request.build_absolute_uri(reverse("membership:albo") + f"?elezione={election.pk}")},
            )
    return redirect("membership:rules")


@require_POST
@official_required(roles=RULE_ROLES)
def renewal_campaign(request: HttpRequest, pk: int) -> HttpResponse:
    """Start the reminder emails to last year's members of a territory (idempotent)."""
    territory = _territory_in_scope(request, pk, RULE_ROLES)
    form = RenewalCampaignForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Indica l'anno da rinnovare."))
    else:
        sent = _done(
            request,
            lambda: renewal_actions.start_renewal_campaign(
                actor=request.user, territory=territory, year=form.cleaned_data["year"]
            ),
            _("Campagna di rinnovo avviata."),
        )
        if sent is not None:
            messages.info(
                request, _("%(n)s promemoria in invio (chi l'ha già ricevuto non lo riceve due volte).") % {"n": sent}
            )
    return redirect("membership:rules")


@require_POST
@official_required(roles=DESK_ROLES)
def membership_pay(request: HttpRequest, pk: int) -> HttpResponse:
    membership = _membership(request, pk)
    form = DeskPaymentForm(request.POST)
    if form.is_valid():
        try:
            payment_actions.record_payment_at_circolo(
                actor=request.user,
                membership=membership,
                method=form.cleaned_data["method"],
                reference=form.cleaned_data["reference"],
                fingerprint=form.cleaned_data["instrument"],
                payer_name=form.cleaned_data["payer_name"],
            )
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
        else:
            messages.success(request, _("Quota registrata."))
    return redirect("membership:membership", pk=pk)


SCANS = {"modulo": ("paper_form", "modulo-iscrizione"), "firma": ("signature_scan", "firma")}


@official_required(roles=DESK_ROLES | {Role.GUARANTEE})
@shows_personal_data("membership.view_scan", audited_inline=True)
def membership_scan(request: HttpRequest, pk: int, which: str) -> HttpResponse:
    """The digitised paper form or signature of a membership (M14), from the private store: only to
    officials who may open the membership, each view audited (rule G4)."""
    if which not in SCANS:
        raise Http404
    field, stem = SCANS[which]
    membership = _membership(request, pk)
    stored = getattr(membership, field)
    if not stored:
        raise Http404
    with transaction.atomic():
        record(
            "membership.view_scan",
            actor=request.user,
            obj=membership,
            territory=membership.circolo,
            kind=AuditKind.VIEW,
            data={"file": stored.name},
        )
    return private_file_response(stored, f"{stem}-{membership.pk}", inline=True)


@official_required(roles=DESK_ROLES)
@shows_personal_data("membership.export_receipt", audited_inline=True)
def cash_receipt(request: HttpRequest, pk: int) -> HttpResponse:
    """The printable receipt of a fee collected at the desk, whatever the method (PDF, audited as an
    export; issue 11 item 12)."""
    membership = _membership(request, pk)
    if not membership.cash_receipt_number:
        raise Http404
    with transaction.atomic():
        record(
            "membership.export_receipt",
            actor=request.user,
            obj=membership,
            territory=membership.circolo,
            kind=AuditKind.EXPORT,
            data={"receipts": [membership.cash_receipt_number]},
        )
    response = HttpResponse(documents.receipts_pdf([membership]), content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="ricevuta-{membership.cash_receipt_number}.pdf"'
    return response


@official_required(roles=DESK_ROLES)
@shows_personal_data("membership.export_receipt", audited_inline=True)
def day_receipts(request: HttpRequest, pk: int) -> HttpResponse:
    """All desk receipts a circolo issued on one day, one per page, to print at the end of the day."""
    circolo = _circolo(request, pk)
    try:
        day = (
            dt.date.fromisoformat(request.GET.get("giorno", ""))
            if request.GET.get("giorno")
            else (timezone.localdate())
        )
    except ValueError:
        messages.error(request, _("Data non valida: usa il formato AAAA-MM-GG."))
        return redirect("membership:circolo", pk=pk)
    receipts = list(queries.cash_receipts(circolo, day))
    if not receipts:
        messages.info(request, _("Nessuna ricevuta emessa al circolo il %(d)s.") % {"d": day.strftime("%d/%m/%Y")})
        return redirect("membership:circolo", pk=pk)
    with transaction.atomic():
        record(
            "membership.export_receipt",
            actor=request.user,
            territory=circolo,
            kind=AuditKind.EXPORT,
            data={"day": day.isoformat(), "receipts": [m.cash_receipt_number for m in receipts]},
        )
    response = HttpResponse(documents.receipts_pdf(receipts), content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="ricevute-{circolo.pk}-{day.isoformat()}.pdf"'
    return response


@require_POST
@official_required(roles=DESK_ROLES)
def membership_deliver(request: HttpRequest, pk: int) -> HttpResponse:
    membership = _membership(request, pk)
    form = DeliverForm(request.POST)
    if form.is_valid():
        try:
            card_actions.deliver_card(actor=request.user, membership=membership, delivery=form.cleaned_data["delivery"])
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
        else:
            messages.success(request, _("Tessera consegnata: l'iscrizione è effettiva."))
    return redirect("membership:membership", pk=pk)


# --- Congresses and certified rolls -------------------------------------------------------


@official_required(roles={Role.ORGANISATION, Role.ADMINISTRATOR, Role.GUARANTEE})
def congress_create(request: HttpRequest) -> HttpResponse:
    paths = scope_paths(request.user, {Role.ORGANISATION, Role.ADMINISTRATOR, Role.GUARANTEE})
    territory = Territory.objects.filter(path__in=paths).order_by("depth").first()
    form = CongressForm(request.POST or None)
    if request.method == "POST" and form.is_valid() and territory is not None:
        try:
            congress = roll_actions.create_congress(
                actor=request.user,
                territory=territory,
                name=form.cleaned_data["name"],
                cut_off=form.cleaned_data["cut_off"],
                membership_years=form.cleaned_data["years"],
            )
        except ValidationError as error:
            _apply_errors(form, error)
        else:
            return redirect("membership:congress", pk=congress.pk)
    return render(request, "membership/congress_form.html", {"form": form, "territory": territory})


def _congress(request: HttpRequest, pk: int) -> Congress:
    """A congress of the official's territory: one of its ancestors (a national or regional
    congress) or below it. Any other answers 404, exactly like a missing one (convention 11)."""
    congress = Congress.objects.select_related("territory").filter(pk=pk).first()
    paths = scope_paths(request.user, DESK_ROLES | {Role.GUARANTEE})
    if congress is None or not any(
        p.startswith(congress.territory.path) or congress.territory.path.startswith(p) for p in paths
    ):
        raise Http404
    return congress


@official_required(roles=DESK_ROLES | {Role.GUARANTEE})
@shows_personal_data("membership.view_congress")
def congress_detail(request: HttpRequest, pk: int) -> HttpResponse:
    congress = _congress(request, pk)
    circoli = (
        Territory.objects.visible_to(request.user, roles=DESK_ROLES | {Role.GUARANTEE})
        .filter(level=Level.CIRCOLO, path__startswith=congress.territory.path)
        .order_by("name")[:300]
    )
    latest: dict[int, Roll] = {}
    for roll in Roll.objects.filter(congress=congress, circolo__in=circoli).exclude(status=RollStatus.SUPERSEDED):
        latest[roll.circolo_id] = roll
    rows = [(c, latest.get(c.pk)) for c in circoli]
    answer = None
    form = EligibilityForm(request.GET or None)
    if form.is_valid() and request.GET.get("circolo"):
        circolo = _circolo(request, int(request.GET["circolo"]))
        # Only people the official may see, or on this circolo's certified roll: anyone else
        # answers exactly as an unknown code (issue 10, rule G1).
        code = canonical_codice_fiscale(form.cleaned_data["codice_fiscale"])
        visible = Person.objects.visible_to(request.user, roles=DESK_ROLES | {Role.GUARANTEE})
        roll = queries.certified_roll(congress, circolo)
        entry = (
            RollEntry.objects.filter(roll=roll, person__codice_fiscale_canonical=code).select_related("person").first()
            if roll is not None
            else None
        )
        person = visible.filter(codice_fiscale_canonical=code).first() or (entry.person if entry else None)
        answer = (
            queries.may_vote(congress, circolo, person)
            if person is not None
            else queries.Eligibility(False, _("Nessuna persona con questo codice fiscale."))
        )
        with transaction.atomic():
            record(
                "membership.eligibility_check",
                actor=request.user,
                territory=circolo,
                kind=AuditKind.VIEW,
                data={"congress": congress.pk, "allowed": answer.allowed},
            )
    return render(
        request, "membership/congress.html", {"congress": congress, "rows": rows, "form": form, "answer": answer}
    )


def _roll(request: HttpRequest, pk: int) -> Roll:
    return get_object_or_404(
        Roll.objects.visible_to(request.user, roles=DESK_ROLES | {Role.GUARANTEE}).select_related(
            "congress", "circolo"
        ),
        pk=pk,
    )


@require_POST
@official_required(roles=DESK_ROLES | {Role.GUARANTEE})
def roll_compute(request: HttpRequest, pk: int, circolo_pk: int) -> HttpResponse:
    congress = _congress(request, pk)
    circolo = _circolo(request, circolo_pk)
    try:
        roll = roll_actions.compute_roll(actor=request.user, congress=congress, circolo=circolo)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return redirect("membership:congress", pk=pk)
    return redirect("membership:roll", pk=roll.pk)


@official_required(roles=DESK_ROLES | {Role.GUARANTEE})
@shows_personal_data("membership.view_roll", audited_inline=True)
def roll_detail(request: HttpRequest, pk: int) -> HttpResponse:
    roll = _roll(request, pk)
    with transaction.atomic():
        record("membership.view_roll", actor=request.user, obj=roll, territory=roll.circolo, kind=AuditKind.VIEW)
    federation = roll.circolo.ancestor_at(Level.FEDERATION)
    region = roll.circolo.ancestor_at(Level.REGION)
    commission = federation if roll.status == RollStatus.SIGNED else region
    can_vote = (
        bool(commission)
        and roll.status in (RollStatus.SIGNED, RollStatus.REFERRED)
        and has_role_at(request.user, commission, {Role.GUARANTEE, Role.ADMINISTRATOR})
    )
    return render(
        request,
        "membership/roll.html",
        {
            "roll": roll,
            "entries": roll.entries.all(),
            "votes": roll.votes.all(),
            "vote_form": VoteForm(),
            "can_sign": roll.status == RollStatus.FROZEN
            and has_role_at(request.user, roll.circolo, guards_actions.MEMBERSHIP_ROLES),
            "can_vote": can_vote,
            "intact": roll_actions.verify_roll(roll),
            "minimum": roll_actions.roll_minimum(roll),
        },
    )


@require_POST
@official_required(roles=DESK_ROLES)
def roll_sign(request: HttpRequest, pk: int) -> HttpResponse:
    roll = _roll(request, pk)
    try:
        roll_actions.sign_off_roll(actor=request.user, roll=roll)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, _("Anagrafe firmata: da ora non si può più modificare."))
    return redirect("membership:roll", pk=pk)


@require_POST
@official_required(roles={Role.GUARANTEE, Role.ADMINISTRATOR})
def roll_vote(request: HttpRequest, pk: int) -> HttpResponse:
    roll = _roll(request, pk)
    form = VoteForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Controlla i numeri del voto: %(e)s") % {"e": form.errors.as_text()})
        return redirect("membership:roll", pk=pk)
    try:
        vote = roll_actions.record_roll_vote(actor=request.user, roll=roll, **form.cleaned_data)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(
            request,
            _("Voto registrato: anagrafe ratificata.") if vote.passed else _("Voto registrato: non ratificata."),
        )
    return redirect("membership:roll", pk=pk)


@official_required(roles=DESK_ROLES | {Role.GUARANTEE})
@export_view("membership.export_roll")
def roll_export(request: HttpRequest, pk: int, fmt: str) -> HttpResponse:
    roll = _roll(request, pk)
    name = f"anagrafe-{roll.circolo_id}-v{roll.version}"
    if fmt == "csv":
        return export_response(
            "membership.export_roll",
            actor=request.user,
            file_format="csv",
            filename=name,
            header=documents.ROLL_COLUMNS,
            rows=documents.roll_rows(roll),
            preamble=[f"# {line}" for line in documents.roll_heading(roll)],
            obj=roll,
            territory=roll.circolo,
            data={"hash": roll.content_hash},
        )
    with transaction.atomic():
        record(
            "membership.export_roll",
            actor=request.user,
            obj=roll,
            territory=roll.circolo,
            kind=AuditKind.EXPORT,
            data={"format": fmt, "hash": roll.content_hash},
        )
    response = HttpResponse(documents.roll_pdf(roll), content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{name}.pdf"'
    return response


# --- Anomaly report -------------------------------------------------------------------------


@official_required(roles={Role.GUARANTEE, Role.MEMBERSHIP, Role.ADMINISTRATOR})
@shows_personal_data("membership.view_anomalies", audited_inline=True)
def anomaly_report(request: HttpRequest, pk: int) -> HttpResponse:
    federation = get_object_or_404(
        Territory.objects.visible_to(request.user, roles={Role.GUARANTEE, Role.MEMBERSHIP, Role.ADMINISTRATOR}).filter(
            level=Level.FEDERATION
        ),
        pk=pk,
    )
    year = int(request.GET.get("anno") or timezone.localdate().year)
    if request.method == "POST":
        review_actions.detect_anomalies(actor=request.user, federation=federation, year=year)
        messages.success(request, _("Controllo eseguito."))
        return redirect(f"{reverse('membership:anomalies', args=[pk])}?anno={year}")
    flags = queries.anomaly_report(federation, year)
    with transaction.atomic():
        record(
            "membership.view_anomalies",
            actor=request.user,
            territory=federation,
            kind=AuditKind.VIEW,
            data={"year": year, "flags": len(flags)},
        )
    for flag in flags:  # one form per flag, with its own ids: each field has its own label
        flag.review_form = ReviewForm(auto_id=f"id_flag{flag.pk}_%s")  # type: ignore[attr-defined]
    counts = {"open": sum(f.status == FlagStatus.OPEN for f in flags), "total": len(flags)}
    return render(
        request, "membership/anomalies.html", {"federation": federation, "year": year, "flags": flags, "counts": counts}
    )


@require_POST
@official_required(roles={Role.GUARANTEE, Role.MEMBERSHIP, Role.ADMINISTRATOR})
def anomaly_review(request: HttpRequest, pk: int) -> HttpResponse:
    flag = get_object_or_404(
        AnomalyFlag.objects.visible_to(request.user, roles={Role.GUARANTEE, Role.MEMBERSHIP, Role.ADMINISTRATOR}), pk=pk
    )
    form = ReviewForm(request.POST)
    if form.is_valid():
        try:
            review_actions.review_flag(
                actor=request.user, flag=flag, status=form.cleaned_data["status"], note=form.cleaned_data["note"]
            )
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
    else:
        messages.error(request, _("Scegli un esito e scrivi una nota."))
    return redirect(f"{reverse('membership:anomalies', args=[flag.federation_id])}?anno={flag.year}")
