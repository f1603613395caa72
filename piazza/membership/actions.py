"""Every write of the membership app (convention 1): one transaction, an audit entry, refusals
that say what to do, side effects on commit.

Rules cited: M1–M24 (DOMAIN.md). Parameters that are open or per-federation come from
`rules_for(territory)` and `FeeSchedule`, never from constants.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core import signing
from django.core.exceptions import ValidationError
from django.core.mail import EmailMessage, send_mail
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from piazza.compliance.rules import (
    CAP_SCOPE_PARTY,
    annual_total_cents,
    cap_entity_path,
    check_annual_cap,
    lock_contributor,
)
from piazza.compliance.rules import rules_on as finance_rules_on
from piazza.core.audit import record
from piazza.core.errors import caller_records_refusals, refuse, refusing
from piazza.core.i18n import deferred, stored_form
from piazza.core.models import AuditKind
from piazza.core.tasks import enqueue_on_commit
from piazza.membership import anomalies, cards
from piazza.membership.fees import FeeQuote, age_on, compute_fee, format_cents
from piazza.membership.models import (
    ANOMALY_SUMMARY_KEY,
    DEFAULT_RULES,
    DESK_METHODS,
    LIVE_STATUSES,
    PAID_STATUSES,
    AlboElection,
    AnomalyFlag,
    Appeal,
    AppealInstance,
    AppealOutcome,
    CardBlock,
    Channel,
    Congress,
    Delivery,
    ElectionRegistration,
    FeeSchedule,
    FlagStatus,
    Membership,
    MembershipRules,
    Objection,
    ObjectionStatus,
    PaymentMethod,
    RegionalSurcharge,
    RenewalReminder,
    Roll,
    RollEntry,
    RollStatus,
    RollVote,
    Status,
    Supporter,
    Transfer,
    TransferStatus,
    rules_for,
)
from piazza.people import actions as people_actions
from piazza.people.codice_fiscale import canonical_codice_fiscale
from piazza.people.models import Channel as ConsentChannel
from piazza.people.models import Citizenship, Person, Purpose, ScopeRequestKind
from piazza.people.validation import clean_person_data
from piazza.territory.models import OPEN_TO_ALL_KINDS, Comune, Kind, Level, Role, RoleAssignment, Territory
from piazza.territory.scoping import has_role_at

# Versions of the texts the person agrees to; a change of wording gets a new version.
ART9_TEXT_VERSION = "art9-2022.1"  # rule M4
DECLARATIONS_TEXT_VERSION = "m15-2013.1"  # rule M15
ALBO_TEXT_VERSION = "albo-2023.1"  # rules M3, M21

MEMBERSHIP_ROLES = {Role.MEMBERSHIP, Role.ORGANISATION, Role.ADMINISTRATOR}
GUARANTEE_ROLES = {Role.GUARANTEE, Role.ADMINISTRATOR}


def _refuse_many(action: str, errors: dict[str, list[str]], *, actor: Any, territory: Any = None,
                 code: str = "invalid") -> None:
    """Like `refuse`, for a form with several wrong fields: one audit entry, every message."""
    with transaction.atomic():
        record(action, actor=actor, territory=territory, kind=AuditKind.DENIED,
               data={"reason": "; ".join(m for ms in errors.values() for m in ms), "code": code,
                     "fields": sorted(errors)})
    raise ValidationError({f: [ValidationError(m, code=code) for m in ms] for f, ms in errors.items()})


def _date(value: dt.datetime) -> str:
    return date_format(timezone.localtime(value), "d/m/Y H:i:s")


# --- Fee schedules and surcharges (M5–M8) -----------------------------------------------


def set_fee_schedule(*, actor: Any, year: int, national: Territory, **values: Any) -> FeeSchedule:
    """Create or update a year's schedule (rule M5): only national membership officers."""
    action = "membership.set_fee_schedule"
    if not has_role_at(actor, national, MEMBERSHIP_ROLES) or national.level != Level.NATIONAL:
        refuse(action, _("Solo il tesseramento nazionale fissa le quote dell'anno."), actor=actor,
               territory=national, code="out_of_scope", permission=True)
    problems: dict[str, list[str]] = {}
    if values.get("base_fee_cents", 1) <= 0:
        problems["base_fee_cents"] = [_("La quota base deve essere maggiore di zero.")]
    for name in ("national_surcharge_cents", "regional_surcharge_cap_cents"):
        if values.get(name, 0) < 0:
            problems[name] = [_("Una maggiorazione non può essere negativa.")]
    base = values.get("base_fee_cents", 1500) + values.get("national_surcharge_cents", 0)
    if "total_cap_cents" in values and values["total_cap_cents"] < base:
        problems["total_cap_cents"] = [_("Il tetto del totale (%(cap)s) è più basso di quota base e maggiorazione "
                                         "nazionale (%(base)s): nessuno potrebbe iscriversi.")
                                       % {"cap": format_cents(values["total_cap_cents"]),
                                          "base": format_cents(base)}]
    if not 0 <= values.get("reduced_percent", 50) <= 100:
        problems["reduced_percent"] = [_("La percentuale della fascia ridotta va da 0 a 100.")]
    if values.get("closes_at") and values.get("opens_at") and values["closes_at"] <= values["opens_at"]:
        problems["closes_at"] = [_("La chiusura del tesseramento deve venire dopo l'apertura.")]
    if problems:
        _refuse_many(action, problems, actor=actor, territory=national, code="invalid_fee")
    with transaction.atomic():
        schedule, created = FeeSchedule.objects.update_or_create(year=year, defaults=values)
        record(action, actor=actor, obj=schedule, territory=national,
               data={"year": year, "created": created, **{k: str(v) for k, v in values.items()}})
    return schedule


def set_regional_surcharge(*, actor: Any, region: Territory, year: int, amount_cents: int,
                           now: dt.datetime | None = None) -> RegionalSurcharge:
    """Rule M6: a regional union sets its surcharge by the deadline, at most the cap, and the
    total at joining stays within the total cap."""
    action = "membership.set_regional_surcharge"
    now = now or timezone.now()
    if region.level != Level.REGION:
        refuse(action, _("La maggiorazione regionale la fissa un'unione regionale."), actor=actor,
               territory=region, code="not_a_region")
    if not has_role_at(actor, region, MEMBERSHIP_ROLES | {Role.TREASURY}):
        refuse(action, _("Non hai un ruolo di tesseramento o tesoreria su %(t)s.") % {"t": region},
               actor=actor, territory=region, code="out_of_scope", permission=True)
    schedule = FeeSchedule.objects.filter(year=year).first()
    if schedule is None:
        refuse(action, _("Le quote del %(year)s non sono ancora state fissate dal nazionale.") % {"year": year},
               actor=actor, territory=region, code="no_schedule")
        raise AssertionError  # unreachable: refuse raises
    if timezone.localdate(now) > schedule.regional_deadline:
        refuse(action, _("Il termine per fissare la maggiorazione regionale del %(year)s era il %(date)s.")
               % {"year": year, "date": date_format(schedule.regional_deadline, "d/m/Y")},
               actor=actor, territory=region, code="after_deadline", field="amount_cents")
    if amount_cents < 0:
        refuse(action, _("La maggiorazione non può essere negativa."), actor=actor, territory=region,
               code="negative", field="amount_cents")
    if amount_cents > schedule.regional_surcharge_cap_cents:
        refuse(action, _("La maggiorazione regionale può essere al massimo %(cap)s: hai indicato "
                         "%(amount)s.") % {"cap": format_cents(schedule.regional_surcharge_cap_cents),
                                           "amount": format_cents(amount_cents)},
               actor=actor, territory=region, code="above_cap", field="amount_cents", rule="M6")
    total = schedule.base_fee_cents + schedule.national_surcharge_cents + amount_cents
    if total > schedule.total_cap_cents:
        refuse(action, _("Con questa maggiorazione la quota all'iscrizione sarebbe %(total)s, oltre il tetto di "
                         "%(cap)s. La maggiorazione può essere al massimo %(max)s.")
               % {"total": format_cents(total), "cap": format_cents(schedule.total_cap_cents),
                  "max": format_cents(schedule.total_cap_cents - schedule.base_fee_cents
                                      - schedule.national_surcharge_cents)},
               actor=actor, territory=region, code="above_total_cap", field="amount_cents", rule="M6")
    with transaction.atomic():
        surcharge, _created = RegionalSurcharge.objects.update_or_create(
            schedule=schedule, region=region,
            defaults={"amount_cents": amount_cents, "set_at": now, "set_by": actor})
        record(action, actor=actor, obj=surcharge, territory=region,
               data={"year": year, "amount_cents": amount_cents})
    return surcharge


RULE_FIELDS = list(DEFAULT_RULES)


def set_membership_rules(*, actor: Any, territory: Territory, **values: Any) -> MembershipRules:
    """A federation, region or the national office sets its parameters (M2 age, M18 windows, M23
    cap, M24 limits, cash); None = inherit from above. Only membership or organisation officers
    of that territory."""
    action = "membership.set_rules"
    if territory.level == Level.CIRCOLO or not has_role_at(actor, territory, MEMBERSHIP_ROLES):
        refuse(action, _("Le regole di tesseramento le fissano federazione, regione o nazionale, con un ruolo di "
                         "tesseramento su %(t)s.") % {"t": territory}, actor=actor, territory=territory,
               code="out_of_scope", permission=True)
    unknown = sorted(set(values) - set(RULE_FIELDS))
    if unknown:
        refuse(action, _("Parametri sconosciuti: %(n)s.") % {"n": ", ".join(unknown)}, actor=actor,
               territory=territory, code="unknown_rule")
    problems: dict[str, list[str]] = {}
    if values.get("min_age") is not None and not 14 <= values["min_age"] <= 18:
        problems["min_age"] = [_("L'età minima va da 14 a 18 anni.")]
    if values.get("out_of_area_cap_percent") is not None and values["out_of_area_cap_percent"] > 100:
        problems["out_of_area_cap_percent"] = [_("Una quota è al massimo 100%.")]
    for name in ("max_per_instrument", "objection_days", "appeal_hours", "counter_appeal_hours",
                 "appeal_decision_hours_regional", "appeal_decision_hours_national",
                 "min_members_online", "min_members_punto_pd"):
        if values.get(name) is not None and values[name] < 1:
            problems[name] = [_("Il valore deve essere almeno 1.")]
    if "desk_methods" in values:
        # Issue 11 item 11: codes of the desk methods, comma-separated; empty = inherit.
        codes = [c.strip() for c in str(values["desk_methods"] or "").split(",") if c.strip()]
        if any(c not in DESK_METHODS for c in codes):
            problems["desk_methods"] = [_("Al circolo si registrano solo POS, bonifico e contanti.")]
        values["desk_methods"] = ",".join(m for m in DESK_METHODS if m in codes)
    if problems:
        _refuse_many(action, problems, actor=actor, territory=territory, code="invalid_rule")
    with transaction.atomic():
        rules, _created = MembershipRules.objects.select_for_update().get_or_create(territory=territory)
        for name, value in values.items():
            setattr(rules, name, value)
        rules.save()
        record(action, actor=actor, obj=rules, territory=territory,
               data=dict(values))
    return rules


def create_albo_election(*, actor: Any, territory: Territory, name: str, fee_cents: int, opens_at: dt.datetime,
                         closes_at: dt.datetime) -> AlboElection:
    """An election (primaries) whose Albo registration asks non-members for a fee (2023: €2)."""
    action = "membership.create_albo_election"
    if territory.level == Level.CIRCOLO or not has_role_at(actor, territory, {Role.ORGANISATION,
                                                                            Role.ADMINISTRATOR}):
        refuse(action, _("Un'elezione dell'Albo la indice l'organizzazione nazionale, regionale o della "
                         "federazione."), actor=actor, territory=territory, code="out_of_scope", permission=True)
    problems: dict[str, list[str]] = {}
    if not name.strip():
        problems["name"] = [_("Indica il nome dell'elezione.")]
    if fee_cents < 0:
        problems["fee_cents"] = [_("Il contributo non può essere negativo.")]
    if closes_at <= opens_at:
        problems["closes_at"] = [_("La chiusura deve venire dopo l'apertura.")]
    if problems:
        _refuse_many(action, problems, actor=actor, territory=territory, code="invalid_election")
    with transaction.atomic():
        election = AlboElection.objects.create(name=name.strip(), territory=territory, fee_cents=fee_cents,
                                               opens_at=opens_at, closes_at=closes_at)
        record(action, actor=actor, obj=election, territory=territory,
               data={"fee_cents": fee_cents, "opens_at": opens_at.isoformat(), "closes_at": closes_at.isoformat()})
    return election


def schedule_for(year: int) -> FeeSchedule | None:
    return FeeSchedule.objects.filter(year=year).first()


def quote_for(schedule: FeeSchedule, circolo: Territory, birth_date: dt.date | None, on: dt.date) -> FeeQuote:
    """The fee for a person joining `circolo` (M5–M8): one query finds the region's surcharge
    among the circolo's ancestors (P8: no separate lookup of the region)."""
    ancestor_ids = [int(part) for part in circolo.path.strip("/").split("/") if part]
    surcharge = (RegionalSurcharge.objects.filter(schedule=schedule, region_id__in=ancestor_ids,
                                                  region__level=Level.REGION)
                 .select_related("region").first())
    return compute_fee(schedule, regional_surcharge_cents=surcharge.amount_cents if surcharge else 0,
                       birth_date=birth_date, on=on, region_name=surcharge.region.name if surcharge else "")


# --- Joining (M2, M4, M10–M15) ----------------------------------------------------------


@dataclass
class JoinData:
    """What a person declares when joining (rule M14 fields, M15 declarations, M4 authorisation)."""

    first_name: str
    last_name: str
    birth_date: dt.date
    codice_fiscale: str
    citizenship: str = Citizenship.ITALIAN
    sex: str = ""
    birth_comune: Comune | None = None
    birth_country: str = ""
    residence_street: str = ""
    residence_cap: str = ""
    residence_comune: Comune | None = None
    email: str = ""
    phone: str = ""
    has_residence_permit: bool = False
    member_of_other_party: bool = False
    declarations_accepted: bool = False
    art9_authorised: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


def circolo_options(comune: Comune | None, *, within: Territory | None = None) -> Any:
    """Circoli a person may join (rule M10): those covering their comune, and every online,
    thematic, workplace circolo and Punto PD."""
    qs = Territory.objects.filter(level=Level.CIRCOLO, closed_at__isnull=True)
    if within is not None:
        qs = qs.filter(path__startswith=within.path)
    condition = Q(kind__in=list(OPEN_TO_ALL_KINDS))
    if comune is not None:
        condition |= Q(kind=Kind.TERRITORIAL, comuni=comune)
    return qs.filter(condition).distinct().order_by("name")


def circolo_is_open_to(circolo: Territory, comune: Comune | None) -> bool:
    if circolo.kind in OPEN_TO_ALL_KINDS:
        return True
    return comune is not None and circolo.comuni.filter(pk=comune.pk).exists()


def eligibility_problems(data: JoinData, *, min_age: int, on: dt.date) -> dict[str, list[str]]:
    """Rule M2 (who may join, age as a parameter), M15 (declarations), M4 (art. 9), M14 (fields)."""
    problems: dict[str, list[str]] = {}

    def add(name: str, message: str) -> None:
        problems.setdefault(name, []).append(message)

    for name, label in (("first_name", _("il nome")), ("last_name", _("il cognome"))):
        if not str(getattr(data, name)).strip():
            add(name, _("Manca %(what)s (dato obbligatorio per il registro degli iscritti).") % {"what": label})
    if data.birth_comune is None and not data.birth_country.strip():
        add("birth_comune", _("Indica il comune di nascita, oppure lo stato se sei nato all'estero."))
    if not data.residence_street.strip():
        add("residence_street", _("Indica l'indirizzo di residenza o di domicilio."))
    age = age_on(data.birth_date, on)
    if age < min_age:
        add("birth_date", _("Per iscriversi bisogna avere almeno %(min)s anni: con la data di nascita indicata "
                            "ne hai %(age)s. Potrai iscriverti dal %(when)s.")
            % {"min": min_age, "age": age,
               "when": date_format(_birthday(data.birth_date, data.birth_date.year + min_age), "d/m/Y")})
    if data.citizenship == Citizenship.EU and data.residence_comune is None:
        add("residence_comune", _("I cittadini di un altro paese dell'Unione europea possono iscriversi se "
                                  "residenti in Italia: indica il comune italiano di residenza."))
    if data.citizenship == Citizenship.NON_EU_PERMIT and not data.has_residence_permit:
        add("has_residence_permit", _("Chi non è cittadino dell'Unione europea può iscriversi con un permesso di "
                                      "soggiorno valido: conferma di averlo."))
    if data.member_of_other_party:
        add("member_of_other_party", _("Chi è iscritto a un altro partito o movimento politico non può iscriversi "
                                       "al PD. Se hai lasciato l'altro partito, rispondi «No»."))
    if not data.declarations_accepted:
        add("declarations_accepted", _("Per iscriversi bisogna confermare le dichiarazioni richieste dallo statuto."))
    if not data.art9_authorised:
        add("art9_authorised", _("Senza l'autorizzazione al trattamento dei dati che rivelano l'opinione politica "
                                 "(GDPR art. 9) non possiamo registrare l'iscrizione."))
    return problems


def _birthday(birth: dt.date, year: int) -> dt.date:
    try:
        return birth.replace(year=year)
    except ValueError:  # 29 February
        return dt.date(year, 3, 1)


def _existing_membership(canonical_cf: str, year: int) -> Membership | None:
    if not canonical_cf:
        return None
    return (Membership.objects.filter(person__codice_fiscale_canonical=canonical_cf, year=year,
                                      status__in=LIVE_STATUSES).select_related("circolo").first())


# The one answer of the public join whatever the codice fiscale (issue 10, rule G1): whether a
# named person is a member is a political opinion, told only to that person's registered address.
PUBLIC_DUPLICATE_CODE = "already_member"


def _duplicate_message(existing: Membership, *, actor: Any, channel: str) -> str:
    """What the applicant reads when the code already has a live membership this year.

    Online (anyone may type any code) nothing about the existing membership is said: the real
    person gets an email (`_tell_member_of_duplicate`). At the desk the circolo, state and year
    are shown only to an official whose scope holds that circolo (convention 11)."""
    if channel == Channel.ONLINE or not has_role_at(actor, existing.circolo, MEMBERSHIP_ROLES | {Role.TREASURY}):
        if channel == Channel.ONLINE:
            return _("Con questo codice fiscale non possiamo registrare una nuova iscrizione da qui: ti abbiamo "
                     "scritto all'indirizzo registrato per spiegarti come procedere.")
        return _("Con questo codice fiscale non si può registrare una nuova iscrizione da questo circolo: per "
                 "iscriversi qui la persona chiede un trasferimento al proprio circolo.")
    return (_("Risulta già un'iscrizione per il %(year)s con questo codice fiscale (circolo %(circolo)s, stato: "
              "%(status)s). Si può avere una sola tessera all'anno: per cambiare circolo chiedi un trasferimento.")
            % {"year": existing.year, "circolo": existing.circolo.name, "status": existing.get_status_display()})


def registered_email(person: Person) -> str:
    """The address on record (primary first), never one typed into a public form."""
    email = person.emails.order_by("-primary", "id").first()
    return email.value if email is not None else ""


def _tell_member_of_duplicate(existing: Membership) -> None:
    """Issue 10, rule G1: the person whose code was used learns it, at their registered address."""
    address = registered_email(existing.person)
    if not address:
        return
    subject = _("Una richiesta di iscrizione con il tuo codice fiscale")
    body = _("Ciao %(name)s,\nabbiamo ricevuto dal sito una richiesta di iscrizione per il %(year)s con il tuo codice "
             "fiscale. Risulti già iscritto/a per quest'anno al %(circolo)s (stato: %(status)s), quindi non abbiamo "
             "registrato nulla: si può avere una sola tessera all'anno.\n\nSe volevi cambiare circolo, chiedi un "
             "trasferimento al tuo circolo. Se la richiesta non l'hai fatta tu, i tuoi dati non sono stati "
             "cambiati né mostrati a chi l'ha inviata; puoi segnalarlo al tuo circolo.") % {
        "name": existing.person.first_name, "year": existing.year, "circolo": existing.circolo.name,
        "status": existing.get_status_display()}
    transaction.on_commit(lambda: send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [address]))


def send_application_link(*, membership: Membership, status_url: str) -> None:
    """The online applicant's next step (the page where the fee is paid), by email to the
    address of the application: the public page says the same thing whoever typed the code."""
    address = registered_email(membership.person)
    if not address:
        return
    subject = _("La tua domanda di iscrizione %(year)s") % {"year": membership.year}
    body = _("Ciao %(name)s,\nabbiamo registrato la tua domanda di iscrizione per il %(year)s al %(circolo)s. Per "
             "completarla paga la quota da questa pagina, dove potrai seguire l'iscrizione e ricevere la tessera: "
             "%(link)s\n\nSe la domanda non l'hai fatta tu, ignora questo messaggio: senza il pagamento "
             "l'iscrizione non è valida.") % {
        "name": membership.person.first_name, "year": membership.year, "circolo": membership.circolo.name,
        "link": status_url}
    transaction.on_commit(lambda: send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [address]))
    record("membership.application_link_sent", actor=None, obj=membership, territory=membership.circolo,
           data={"year": membership.year})


def apply_for_membership(*, actor: Any, data: JoinData, circolo: Territory, channel: str = Channel.ONLINE,
                         year: int | None = None, now: dt.datetime | None = None,
                         is_renewal: bool = False, registered_by: Any = None) -> Membership:
    """Create a membership application (state `applied`, rule M13) after every check.

    Bad input never writes anything but the audit entry of the refused attempt.
    """
    checked = _check_application(actor=actor, data=data, circolo=circolo, channel=channel, year=year, now=now)
    return _write_application(checked, actor=actor, data=data, circolo=circolo, channel=channel,
                              is_renewal=is_renewal, registered_by=registered_by)


@dataclass(frozen=True)
class _Checked:
    year: int
    now: dt.datetime
    quote: FeeQuote
    canonical: str


def _check_application(*, actor: Any, data: JoinData, circolo: Territory, channel: str, year: int | None,
                       now: dt.datetime | None) -> _Checked:
    """Every check of an application, before any transaction: a refusal leaves its audit entry
    (and, for a person of another territory, the request to that territory, G1)."""
    action = "membership.apply"
    now = now or timezone.now()
    today = timezone.localdate(now)
    year = year or today.year
    if circolo.level != Level.CIRCOLO or not circolo.is_open:
        refuse(action, _("Scegli un circolo aperto."), actor=actor, territory=circolo, code="not_a_circolo",
               field="circolo")
    schedule = schedule_for(year)
    if schedule is None or now < schedule.opens_at:
        refuse(action, _("Il tesseramento %(year)s non è ancora aperto.") % {"year": year}, actor=actor,
               territory=circolo, code="not_open")
        raise AssertionError
    if schedule.closes_at is not None and now > schedule.closes_at:
        refuse(action, _("Il tesseramento %(year)s si è chiuso il %(when)s: non si accettano più iscrizioni per "
                         "quest'anno.") % {"year": year, "when": _date(schedule.closes_at)},
               actor=actor, territory=circolo, code="after_cut_off")
    rules = rules_for(circolo)
    problems = eligibility_problems(data, min_age=rules.min_age, on=today)
    for name, messages in person_data_problems(data).items():
        problems.setdefault(name, []).extend(m for m in messages if m not in problems.get(name, []))
    if not data.codice_fiscale.strip():
        problems.setdefault("codice_fiscale", []).append(_("Il codice fiscale è obbligatorio per l'iscrizione."))
    if problems:
        _refuse_many(action, problems, actor=actor, territory=circolo, code="not_eligible")
    open_to_residence = circolo_is_open_to(circolo, data.residence_comune)
    if not open_to_residence:
        comune = str(data.residence_comune) if data.residence_comune else _("estero")
        refuse(action, _("Il circolo %(circolo)s non copre il tuo comune di residenza (%(comune)s). Scegli un circolo "
                         "del tuo comune, un circolo online o tematico, o un Punto PD; per iscriverti altrove per "
                         "motivi di lavoro o studio chiedi poi un trasferimento.")
               % {"circolo": circolo.name, "comune": comune},
               actor=actor, territory=circolo, code="circolo_not_allowed", field="circolo")
    if channel != Channel.ONLINE:
        # Issue 10, rule G1: at the desk, a person of another territory is neither attached nor
        # written to; what the secretary typed goes to that person's territory as a request.
        people_actions.guard_other_territory(
            action=action, actor=actor, cleaned=clean_person_data(_person_data(data)), territory=circolo,
            kind=ScopeRequestKind.MEMBERSHIP, roles=MEMBERSHIP_ROLES | {Role.TREASURY},
            extra={"circolo": circolo.name, "year": year, "channel": channel})
    canonical = canonical_codice_fiscale(data.codice_fiscale)
    existing = _existing_membership(canonical, year)
    if existing is not None:
        if channel == Channel.ONLINE:
            _tell_member_of_duplicate(existing)
        refuse(action, _duplicate_message(existing, actor=actor, channel=channel), actor=actor, territory=circolo,
               code=PUBLIC_DUPLICATE_CODE, field="codice_fiscale")
    return _Checked(year=year, now=now, quote=quote_for(schedule, circolo, data.birth_date, today),
                    canonical=canonical)


def _write_application(checked: _Checked, *, actor: Any, data: JoinData, circolo: Territory, channel: str,
                       is_renewal: bool, registered_by: Any) -> Membership:
    """The writes of an application checked by `_check_application` (one transaction)."""
    action = "membership.apply"
    year, now, quote, canonical = checked.year, checked.now, checked.quote, checked.canonical
    try:
        # A refusal of the people app inside the block is audited after its rollback (issue 11, item 23).
        with refusing(action, actor, circolo), transaction.atomic():
            person = _find_or_create_person(data, circolo=circolo, actor=actor)
            membership = Membership.objects.create(
                person=person, year=year, circolo=circolo, status=Status.APPLIED, channel=channel,
                is_renewal=is_renewal, currency=quote.currency, fee_cents=quote.total_cents,
                national_cents=quote.national_cents, territorial_cents=quote.territorial_cents,
                fee_explanation=quote.as_dict(), art9_authorised_at=now, art9_text_version=ART9_TEXT_VERSION,
                art9_channel=channel, declarations_at=now, declarations_text_version=DECLARATIONS_TEXT_VERSION,
                applied_at=now, registered_by=registered_by,
                # Joining is refused above when the circolo does not cover the residence (M10), so
                # a new membership is never out of area; an approved transfer (M23) sets it.
                out_of_area=False,
            )
            ensure_supporter(person=person, territory=circolo, channel=channel, now=now)
            # One audit entry says it all (the Albo entry of M1 included); the person's timeline
            # gets its entry when the fee is paid (P8: fewer writes per join).
            record(action, actor=actor, obj=membership, territory=circolo,
                   data={"year": year, "channel": channel, "fee_cents": quote.total_cents,
                         "reduced": quote.reduced, "renewal": is_renewal, "albo": True})
    except IntegrityError:
        # A concurrent application for the same person and year won the race (DB constraint).
        existing = _existing_membership(canonical, year)
        if existing is not None and channel == Channel.ONLINE:
            _tell_member_of_duplicate(existing)
        refuse(action, _duplicate_message(existing, actor=actor, channel=channel) if existing
               else _("Iscrizione già presente."),
               actor=actor, territory=circolo, code=PUBLIC_DUPLICATE_CODE, field="codice_fiscale")
        raise
    return membership


def _person_data(data: JoinData) -> dict[str, Any]:
    return {
        "first_name": data.first_name, "last_name": data.last_name, "sex": data.sex,
        "birth_date": data.birth_date, "birth_comune": data.birth_comune, "birth_country": data.birth_country,
        "codice_fiscale": data.codice_fiscale, "citizenship": data.citizenship,
        "residence_street": data.residence_street, "residence_cap": data.residence_cap,
        "residence_comune": data.residence_comune,
        "emails": [data.email] if data.email else [], "phones": [data.phone] if data.phone else [],
    }


def person_data_problems(data: JoinData) -> dict[str, list[str]]:
    """The people app's validation (D1 codice fiscale and its consistency, D4 contacts), run
    before any write so that a refusal leaves only its audit entry."""
    return clean_person_data(_person_data(data)).errors


def _find_or_create_person(data: JoinData, *, circolo: Territory, actor: Any) -> Person:
    """The person behind the application, found by canonical codice fiscale (D1) or created."""
    found: Any = people_actions.find_or_create_person(
        actor=actor, data=_person_data(data), circolo=circolo, source="membership")
    return found[0] if isinstance(found, tuple) else found  # type: ignore[no-any-return]


def _timeline(person: Person, actor: Any, kind: str, summary: str, data: dict[str, Any]) -> None:
    people_actions.add_timeline_entry(person, kind=kind, summary=summary, data=data, actor=actor)


# --- Payment, card, delivery (M13, M24, M9) ---------------------------------------------


def instrument_fingerprint(raw: str) -> str:
    """A stable, non-reversible key for a card fingerprint, IBAN or payer account (M4, M24)."""
    cleaned = "".join(raw.split()).upper()
    return hashlib.sha256(cleaned.encode()).hexdigest() if cleaned else ""


def check_instrument(*, actor: Any, membership: Membership, fingerprint: str, prepaid: bool) -> int:
    """Rule M24 at payment: refuse beyond the federation's limit per instrument, or a prepaid card
    where refused. Returns how many other live memberships of the year this instrument paid."""
    action = "membership.check_instrument"
    rules = rules_for(membership.circolo)
    if prepaid and rules.refuse_prepaid_cards:
        refuse(action, _("La tua federazione non accetta carte prepagate o non nominative per le quote: usa una "
                         "carta intestata a te o un bonifico."), actor=actor, territory=membership.circolo,
               code="prepaid_refused")
    if not fingerprint:
        return 0
    others = (Membership.objects.filter(year=membership.year, payer_fingerprint=fingerprint,
                                        status__in=PAID_STATUSES).exclude(pk=membership.pk)
              .values("person").distinct().count())
    if others + 1 > rules.max_per_instrument:
        refuse(action, _("Con questo strumento di pagamento sono già state pagate %(n)s tessere del %(year)s: la "
                         "federazione ne ammette al massimo %(max)s. L'iscrizione è personale: paga con "
                         "uno strumento tuo.")
               % {"n": others, "year": membership.year, "max": rules.max_per_instrument},
               actor=actor, territory=membership.circolo, code="instrument_limit", rule="M24")
    return others


def fee_over_cap(membership: Membership, *, on: dt.date | None = None) -> bool:
    """Rules F6/F14: would this fee take its payer over the yearly cap on contributions?

    F14's cautious default counts fees with donations, so a fee is a contribution like any other:
    accepting one that takes the person's year over the F6 cap would break the law just as a
    donation would, and it is refused the same way (decision documented in docs/dev/caps.md).
    With `fees_count` off, fees are not contributions and never refused. Per-entity scope: each
    M8 share is judged against the receiving entity's own total. Call under `lock_contributor`
    to be sure (the desk pre-check calls it without, the locked re-check with it).
    """
    from piazza.membership.payments import fee_shares

    day = on or timezone.localdate()
    finance = finance_rules_on(day)
    if not finance.fees_count or membership.fee_cents == 0:
        return False
    per_scope: dict[str, int] = {}
    if finance.cap_scope == CAP_SCOPE_PARTY:
        per_scope[""] = membership.fee_cents  # one total for the whole party: no need for the shares
    else:
        for territory, cents, _reason in fee_shares(membership):
            scope = cap_entity_path(territory.path, finance)
            per_scope[scope] = per_scope.get(scope, 0) + cents
    return any(not check_annual_cap(annual_total_cents(int(membership.person_id), day.year, scope, finance),
                                    cents, finance).allowed for scope, cents in per_scope.items())


def _contributor_identity(person: Person) -> str:
    return person.codice_fiscale_canonical or f"person:{person.pk}"


FEE_OVER_CAP_MESSAGE = _(
    "Non registrare questa quota: sommata agli altri contributi che questa persona ha già versato al partito "
    "quest'anno supererebbe il tetto annuo previsto dalla legge. Non incassare il denaro (o restituiscilo) e "
    "rivolgiti alla tesoreria.")


def mark_paid(*, actor: Any, membership: Membership, method: str, reference: str = "", fingerprint: str = "",
              payer_name: str = "", prepaid: bool = False, payment_id: int | None = None,
              paid_at: dt.datetime | None = None, cash_receipt_number: str = "",
              book_offline: bool = False, enforce_limits: bool = True) -> Membership:
    """applied → paid (rule M13): a card number is assigned; the objection window opens (M18).

    Idempotent: marking a paid membership paid again does nothing. `book_offline` books a fee
    collected at the circolo in the ledger in the same transaction (online payments are booked
    by the payments app with `payments.fee_allocations`).
    """
    action = "membership.mark_paid"
    paid_at = paid_at or timezone.now()
    current = Membership.objects.select_related("circolo").get(pk=membership.pk)
    if current.status in PAID_STATUSES:
        return current
    if current.status != Status.APPLIED:
        refuse(action, _("Questa iscrizione è «%(status)s»: non può essere pagata.")
               % {"status": current.get_status_display()}, actor=actor, territory=current.circolo,
               code="wrong_state")
    shared = 0
    if enforce_limits:
        shared = check_instrument(actor=actor, membership=current, fingerprint=fingerprint, prepaid=prepaid)
        if fee_over_cap(current, on=timezone.localdate(paid_at)):  # rules F6/F14, fees count
            refuse(action, str(FEE_OVER_CAP_MESSAGE), actor=actor, territory=current.circolo, code="annual_cap")
    with transaction.atomic():
        locked = (Membership.objects.select_for_update(of=("self",))
            .select_related("circolo", "person").get(pk=membership.pk))
        if locked.status in PAID_STATUSES:
            return locked
        if locked.status != Status.APPLIED:
            raise ValidationError(_("L'iscrizione è cambiata nel frattempo: ricarica la pagina."))
        if enforce_limits:  # F6 again under the donor's lock: a gift may have arrived meanwhile
            lock_contributor(_contributor_identity(locked.person))
            if fee_over_cap(locked, on=timezone.localdate(paid_at)):
                raise ValidationError(FEE_OVER_CAP_MESSAGE, code="annual_cap")
        rules = rules_for(locked.circolo)
        _set_paid(locked, method=method, reference=reference, fingerprint=fingerprint, payer_name=payer_name,
                  prepaid=prepaid, payment_id=payment_id, paid_at=paid_at, rules=rules,
                  cash_receipt_number=cash_receipt_number)
        _assign_card_number(locked)
        if book_offline:
            from piazza.membership.payments import book_offline_payment

            book_offline_payment(locked, actor=actor)
        record(action, actor=actor, obj=locked, territory=locked.circolo,
               data={"method": method, "reference": reference[:80], "card": locked.card_number,
                     "shared_instrument": shared, "prepaid": prepaid})
        _timeline(locked.person, actor, "membership.paid",
                  deferred(gettext_noop("Quota %(year)s pagata (%(amount)s), tessera n. %(card)s"),
                           year=locked.year, amount=format_cents(locked.fee_cents), card=locked.card_number),
                  {"membership": locked.pk})
        _flag_instrument(locked, fingerprint=fingerprint, prepaid=prepaid, rules=rules, actor=actor)
    return locked


# Scans attached at the desk (rule M14 paper form, the signature): small images or PDFs only.
SCAN_TYPES = {".pdf": b"%PDF", ".png": b"\x89PNG", ".jpg": b"\xff\xd8\xff", ".jpeg": b"\xff\xd8\xff"}
SCAN_MAX_BYTES = 5 * 1024 * 1024


def scan_problem(upload: Any) -> str:
    """Why an uploaded scan is not acceptable (wrong type by name and content, too large), or ""."""
    extension = os.path.splitext(str(upload.name))[1].lower()
    magic = SCAN_TYPES.get(extension)
    if magic is None:
        return _("«%(name)s» non è un PDF, JPEG o PNG: scansiona il modulo in uno di questi formati.") % {
            "name": upload.name}
    if upload.size > SCAN_MAX_BYTES:
        return _("«%(name)s» è troppo grande (%(mb).1f MB): il massimo è 5 MB. Scansiona a risoluzione più bassa.") % {
            "name": upload.name, "mb": upload.size / 1024 / 1024}
    head = upload.read(len(magic))
    upload.seek(0)
    if head != magic:
        return _("«%(name)s» non contiene davvero un %(kind)s: controlla il file.") % {
            "name": upload.name, "kind": extension[1:].upper()}
    return ""


def attach_scans(*, actor: Any, membership: Membership, paper_form: Any = None, signature_scan: Any = None
                 ) -> Membership:
    """The secretary attaches the signed paper form and, optionally, the scanned signature (desk)."""
    action = "membership.attach_scans"
    if not has_role_at(actor, membership.circolo, MEMBERSHIP_ROLES | {Role.TREASURY}):
        refuse(action, _("Non hai un ruolo di tesseramento su %(t)s.") % {"t": membership.circolo}, actor=actor,
               territory=membership.circolo, code="out_of_scope", permission=True)
    errors = {name: [problem] for name, upload in (("paper_form", paper_form), ("signature_scan", signature_scan))
              if upload and (problem := scan_problem(upload))}
    if errors:
        _refuse_many(action, errors, actor=actor, territory=membership.circolo, code="bad_scan")
    fields = []
    with transaction.atomic():
        locked = Membership.objects.select_for_update().get(pk=membership.pk)
        if paper_form:
            locked.paper_form = paper_form
            fields.append("paper_form")
        if signature_scan:
            locked.signature_scan = signature_scan
            fields.append("signature_scan")
        if fields:
            locked.save(update_fields=fields)
            record(action, actor=actor, obj=locked, territory=locked.circolo, data={"files": fields})
    return locked


def _set_paid(membership: Membership, *, method: str, reference: str, fingerprint: str, payer_name: str,
              prepaid: bool, payment_id: int | None, paid_at: dt.datetime, rules: Any,
              cash_receipt_number: str = "") -> None:
    """applied → paid on a locked row (saved by `_assign_card_number`); the M18 window opens."""
    membership.status = Status.PAID
    membership.paid_at = paid_at
    membership.payment_method = method
    membership.payment_reference = reference[:80]
    membership.payer_fingerprint = fingerprint
    membership.payer_name = payer_name[:200]
    membership.prepaid_instrument = prepaid
    membership.payment_id = payment_id
    membership.cash_receipt_number = cash_receipt_number
    # Days on Rome's calendar: 15 days after 12:00 end at 12:00, even across a summer-time switch.
    membership.objection_deadline = timezone.localtime(paid_at) + dt.timedelta(days=rules.objection_days)


def _flag_instrument(membership: Membership, *, fingerprint: str, prepaid: bool, rules: Any, actor: Any) -> None:
    """M4/M24: a shared or prepaid instrument is always flagged for review, never rejected here.
    Costs one query when the payment carries a fingerprint, none otherwise."""
    shared = bool(fingerprint) and (Membership.objects.filter(year=membership.year, payer_fingerprint=fingerprint,
                                                              status__in=PAID_STATUSES)
                                    .exclude(pk=membership.pk).exists())
    if not (shared or prepaid):
        return
    federation = membership.circolo.parent or membership.circolo
    signals = [s for s in anomalies.shared_instruments(federation, membership.year, rules_for(federation))
               if s.key == fingerprint[:128]] if shared else []
    if prepaid:
        signals += anomalies.prepaid_instruments(federation, membership.year, rules)
    store_signals(federation=federation, year=membership.year, signals=signals, actor=actor, kinds=None)


def _assign_card_number(membership: Membership) -> None:
    for _attempt in range(10):
        membership.card_number = cards.new_card_number(membership.year)
        try:
            with transaction.atomic():
                membership.save()
            return
        except IntegrityError:
            continue
    raise RuntimeError("could not find a free card number")


def desk_methods(circolo: Territory) -> list[str]:
    """Issue 11 item 11: the fee methods the circolo desk may record, in the order offered: the
    federation's `desk_methods` (per-federation parameter), cash only where `cash_allowed` (M24)."""
    rules = rules_for(circolo)
    codes = {c.strip() for c in rules.desk_methods.split(",")}
    return [str(m) for m in DESK_METHODS if m in codes and (m != PaymentMethod.CASH or rules.cash_allowed)]


def _check_desk_payment(*, action: str, actor: Any, circolo: Territory, method: str, reference: str) -> None:
    """The refusals of a fee recorded at the circolo, before anything is written (one audit entry)."""
    if not has_role_at(actor, circolo, MEMBERSHIP_ROLES | {Role.TREASURY}):
        refuse(action, _("Non hai un ruolo di tesseramento su %(t)s.") % {"t": circolo}, actor=actor,
               territory=circolo, code="out_of_scope", permission=True)
    allowed = desk_methods(circolo)
    if method == PaymentMethod.CASH and PaymentMethod.CASH not in allowed:
        refuse(action, _("La tua federazione non ammette le quote in contanti: registra un pagamento tracciabile "
                         "(%(methods)s).") % {"methods": _method_names(allowed)}, actor=actor, territory=circolo,
               code="cash_not_allowed", field="method")
    if method not in allowed:
        refuse(action, (_("Al circolo la tua federazione ammette solo: %(methods)s.") % {
            "methods": _method_names(allowed)}) if allowed else _(
            "La tua federazione non ammette pagamenti della quota al circolo: la persona paga online."),
               actor=actor, territory=circolo, code="method_not_allowed", field="method")
    if method != PaymentMethod.CASH and not reference.strip():
        refuse(action, _("Per un pagamento tracciabile indica il riferimento (numero dell'operazione POS o CRO del "
                         "bonifico)."), actor=actor, territory=circolo, code="reference_required",
               field="reference")


def _method_names(methods: list[str]) -> str:
    return ", ".join(str(PaymentMethod(m).label) for m in methods) or "—"


def receipt_number(membership: Membership) -> str:
    """The number of the receipt of a fee collected at the circolo (any method, issue 11 item 12)."""
    return f"R{membership.year}-{membership.circolo_id}-{membership.pk}"


def record_payment_at_circolo(*, actor: Any, membership: Membership, method: str, reference: str = "",
                              fingerprint: str = "", payer_name: str = "") -> Membership:
    """The secretary records the fee with a method the federation allows at the desk (issue 11
    item 11: traceable methods, cash where the federation allows it, M24); every method gets a
    numbered receipt (item 12)."""
    action = "membership.record_payment"
    _check_desk_payment(action=action, actor=actor, circolo=membership.circolo, method=method, reference=reference)
    receipt = receipt_number(membership)
    return mark_paid(actor=actor, membership=membership, method=method, reference=reference or receipt,
                     fingerprint=instrument_fingerprint(fingerprint), payer_name=payer_name,
                     cash_receipt_number=receipt, book_offline=True)


@dataclass
class DeskPaperForm:
    """Issue 11 item 12: the signed paper form the secretary collected (M14), with the consents
    ticked on it (G3, one per purpose), and the optional scans."""

    collected: bool = False
    consents: list[str] = field(default_factory=list)
    scan: Any = None
    signature_scan: Any = None


def register_at_desk(*, actor: Any, data: JoinData, circolo: Territory, method: str, reference: str = "",
                     fingerprint: str = "", payer_name: str = "", paper: DeskPaperForm | None = None,
                     now: dt.datetime | None = None) -> Membership:
    """The circolo desk: registration and fee in ONE transaction (issue 11 item 11).

    Every refusal (the application's, the fee's: a method the federation does not allow, a
    missing reference, the M24 instrument limit) happens before anything is written, or rolls
    everything back: never a registration without its fee. The refusal's audit entry stays.
    An email is optional here (item 12): without it the person gives a phone or the secretary
    collects the signed paper form, whose consents are recorded with channel "paper" (G2/G3).
    """
    action = "membership.desk_register"
    paper = paper or DeskPaperForm()
    _check_desk_payment(action=action, actor=actor, circolo=circolo, method=method, reference=reference)
    if not (data.email.strip() or data.phone.strip() or paper.collected):
        refuse(action, _("Senza email indica un cellulare, oppure conferma di aver raccolto il modulo cartaceo "
                         "firmato."), actor=actor, territory=circolo, code="contact_required", field="email")
    if paper.consents and not paper.collected:
        refuse(action, _("I consensi si registrano dal modulo cartaceo firmato: conferma di averlo raccolto."),
               actor=actor, territory=circolo, code="consents_without_paper", field="paper_form_signed")
    if unknown := [p for p in paper.consents if p not in Purpose.values]:
        refuse(action, _("Consenso sconosciuto: %(p)s.") % {"p": ", ".join(unknown)}, actor=actor,
               territory=circolo, code="unknown_consent", field="consents")
    checked = _check_application(actor=actor, data=data, circolo=circolo, channel=Channel.CIRCOLO, year=None,
                                 now=now)
    # M24 before the writes: the instrument limit of the year, as the fee would check it.
    check_instrument(actor=actor, membership=Membership(year=checked.year, circolo=circolo),
                     fingerprint=instrument_fingerprint(fingerprint), prepaid=False)
    try:
        # A refusal inside the block rolls everything back; the entry below, written after the
        # rollback, is the one that stays (issue 11 items 11 and 23).
        with caller_records_refusals(), transaction.atomic():
            membership = _write_application(checked, actor=actor, data=data, circolo=circolo,
                                            channel=Channel.CIRCOLO, is_renewal=False, registered_by=actor)
            membership = record_payment_at_circolo(actor=actor, membership=membership, method=method,
                                                   reference=reference, fingerprint=fingerprint,
                                                   payer_name=payer_name)
            if paper.collected:
                membership.paper_form_collected_at = checked.now
                membership.save(update_fields=["paper_form_collected_at"])
                for purpose in paper.consents:
                    people_actions.record_consent(
                        actor=actor, person=membership.person, purpose=purpose, channel=ConsentChannel.PAPER,
                        text_version=settings.MEMBERSHIP_PAPER_FORM_VERSION, at=checked.now, source="desk",
                        evidence=_("Modulo cartaceo firmato, iscrizione %(year)s, ricevuta %(r)s")
                        % {"year": membership.year, "r": membership.cash_receipt_number})
            # The scans last: a file is written to storage only once nothing else can refuse.
            if paper.scan or paper.signature_scan:
                membership = attach_scans(actor=actor, membership=membership, paper_form=paper.scan,
                                          signature_scan=paper.signature_scan)
            record(action, actor=actor, obj=membership, territory=circolo,
                   data={"method": method, "receipt": membership.cash_receipt_number,
                         "email": bool(data.email.strip()), "phone": bool(data.phone.strip()),
                         "paper_form": paper.collected, "consents": sorted(paper.consents)})
            send_receipt(membership=membership)
    except ValidationError as error:
        # Rolled back, the inner refusal's audit entry with it: this one says what was refused.
        with transaction.atomic():
            record(action, actor=actor, territory=circolo, kind=AuditKind.DENIED,
                   data={"reason": " ".join(error.messages), "code": _codes(error)})
        raise
    return membership


def _codes(error: ValidationError) -> str:
    codes = ([e.code for es in error.error_dict.values() for e in es] if hasattr(error, "error_dict")
             else [e.code for e in error.error_list])
    return ",".join(sorted({str(c) for c in codes if c})) or "invalid"


def send_receipt(*, membership: Membership) -> bool:
    """Issue 11 item 12: the desk receipt (PDF) goes by email when the person has an address on
    record; otherwise the secretary prints it (the page after registration links it). On commit."""
    address = registered_email(membership.person)
    if not address or not membership.cash_receipt_number:
        return False
    from piazza.membership.documents import receipts_pdf

    number = membership.cash_receipt_number
    pdf = receipts_pdf([membership])
    message = EmailMessage(
        _("Ricevuta della quota di iscrizione %(year)s") % {"year": membership.year},
        _("Ciao %(name)s,\nin allegato la ricevuta n. %(r)s della quota di iscrizione %(year)s versata al "
          "%(circolo)s.") % {"name": membership.person.first_name, "r": number, "year": membership.year,
                              "circolo": membership.circolo.name},
        settings.DEFAULT_FROM_EMAIL, [address])
    message.attach(f"ricevuta-{number}.pdf", pdf, "application/pdf")
    transaction.on_commit(message.send)
    record("membership.send_receipt", actor=None, obj=membership, territory=membership.circolo,
           data={"receipt": number})
    return True


def deliver_card(*, actor: Any, membership: Membership, delivery: str, now: dt.datetime | None = None) -> Membership:
    """paid → effective when the card is delivered (rule M13); refused while blocked (M9)."""
    action = "membership.deliver_card"
    now = now or timezone.now()
    if delivery != Delivery.ONLINE and not has_role_at(actor, membership.circolo, MEMBERSHIP_ROLES):
        refuse(action, _("Non hai un ruolo di tesseramento su %(t)s.") % {"t": membership.circolo}, actor=actor,
               territory=membership.circolo, code="out_of_scope", permission=True)
    current = Membership.objects.select_related("circolo").get(pk=membership.pk)
    if current.status == Status.EFFECTIVE:
        return current
    if current.status != Status.PAID:
        refuse(action, _("La tessera si consegna solo dopo il pagamento della quota: questa "
                         "iscrizione è «%(status)s».") % {"status": current.get_status_display()},
               actor=actor, territory=current.circolo, code="not_paid", rule="M17")
    block = CardBlock.objects.filter(person_id=current.person_id, lifted_at__isnull=True).first()
    if block is not None:
        refuse(action, _("La tessera è bloccata finché non è soddisfatta questa condizione: "
                         "%(reason)s.") % {"reason": block.reason}, actor=actor, territory=current.circolo,
               code="card_blocked", rule="M9")
    with transaction.atomic():
        locked = (Membership.objects.select_for_update(of=("self",))
            .select_related("circolo", "person").get(pk=membership.pk))
        if locked.status == Status.EFFECTIVE:
            return locked
        if locked.status != Status.PAID:
            raise ValidationError(_("L'iscrizione è cambiata nel frattempo: ricarica la pagina."))
        locked.status = Status.EFFECTIVE
        locked.effective_at = now
        locked.delivery = delivery
        locked.delivered_by = actor if getattr(actor, "is_authenticated", False) else None
        locked.save(update_fields=["status", "effective_at", "delivery", "delivered_by"])
        if locked.person.voting_circolo_id is None:
            Person.objects.filter(pk=locked.person_id).update(voting_circolo=locked.circolo)  # rule M11
        record(action, actor=actor, obj=locked, territory=locked.circolo, data={"delivery": delivery})
        _timeline(locked.person, actor, "membership.effective",
                  _("Tessera %(year)s consegnata (%(how)s)") % {"year": locked.year,
                                                               "how": locked.get_delivery_display()},
                  {"membership": locked.pk})
    return locked


def after_online_payment(*, payment: Any, membership: Membership) -> Membership:
    """Called by the payments app inside its transaction when the fee's payment succeeded.

    The money has arrived, so M24 limits do not refuse it here: a shared or prepaid instrument
    is flagged for the commission. With online delivery the digital card makes the membership
    effective at once (M13), unless the card is blocked (M9).

    One locked read, one UPDATE, one audit entry and one timeline entry for both transitions
    (applied → paid → effective): this runs for every join of the deadline surge (P8).
    Idempotent: a second call for a paid membership does nothing. Never raises for a closed
    application (the payment must still be booked): the late money is recorded for the treasury.
    """
    from piazza.membership.payments import PROVIDER_METHODS

    metadata = getattr(payment, "metadata", {}) or {}
    fingerprint = instrument_fingerprint(str(metadata.get("instrument_fingerprint", "")))
    prepaid = bool(metadata.get("prepaid", False))
    now = timezone.now()
    with transaction.atomic():
        locked = (Membership.objects.select_for_update(of=("self",))
            .select_related("circolo", "person").get(pk=membership.pk))
        if locked.status in PAID_STATUSES:
            return locked
        if locked.status != Status.APPLIED:
            record("membership.payment_after_end", actor=None, obj=locked, territory=locked.circolo,
                   kind=AuditKind.DENIED, data={"payment": payment.pk, "status": locked.status,
                                                "reason": "fee paid for a closed application: refund it"})
            return locked
        lock_contributor(_contributor_identity(locked.person))
        if fee_over_cap(locked, on=timezone.localdate(now)):
            # Rules F6/F14: the money arrived but may not be kept. Never raise inside the payments
            # transaction (the payment must be booked): the application stays unpaid and the
            # treasury refunds, as for a fee paid after the application ended.
            record("membership.fee_over_cap", actor=None, obj=locked, territory=locked.circolo,
                   kind=AuditKind.DENIED, data={"payment": payment.pk, "code": "annual_cap", "rule": "F6/F14",
                                                "reason": "fee over the yearly cap on contributions: refund it"})
            return locked
        rules = rules_for(locked.circolo)
        blocked = CardBlock.objects.filter(person_id=locked.person_id, lifted_at__isnull=True).exists()
        _set_paid(locked, method=PROVIDER_METHODS.get(payment.provider, PaymentMethod.CARD),
                  reference=payment.provider_reference or f"payment:{payment.pk}", fingerprint=fingerprint,
                  payer_name=payment.payer_name, prepaid=prepaid, payment_id=payment.pk, paid_at=now, rules=rules)
        deliver = locked.channel != Channel.CIRCOLO and not blocked
        if deliver:  # rule M13: the digital card is delivered online at once
            locked.status = Status.EFFECTIVE
            locked.effective_at = now
            locked.delivery = Delivery.ONLINE
        _assign_card_number(locked)
        if deliver and locked.person.voting_circolo_id is None:
            Person.objects.filter(pk=locked.person_id).update(voting_circolo=locked.circolo)  # rule M11
        record("membership.mark_paid", actor=None, obj=locked, territory=locked.circolo,
               data={"method": locked.payment_method, "payment": payment.pk, "card": locked.card_number,
                     "prepaid": prepaid, "delivery": locked.delivery, "card_blocked": blocked})
        msgid = (gettext_noop("Quota %(year)s pagata (%(amount)s), tessera n. %(card)s consegnata online")
                 if deliver else gettext_noop("Quota %(year)s pagata (%(amount)s), tessera n. %(card)s"))
        _timeline(locked.person, None, "membership.paid",
                  deferred(msgid, year=locked.year, amount=format_cents(locked.fee_cents), card=locked.card_number),
                  {"membership": locked.pk})
        _flag_instrument(locked, fingerprint=fingerprint, prepaid=prepaid, rules=rules, actor=None)
    from piazza.membership.tasks import send_card_email

    enqueue_on_commit(send_card_email, locked.pk)
    return locked


def after_yearly_debit(*, payment: Any, first: Membership) -> Membership | None:
    """A later year's debit of a yearly SEPA schedule (`payments.start_yearly_sepa`) arrived.

    The year is the first membership's year plus the cycles since. That year's renewal is made
    (or found, if the member already applied) with the declarations given when the yearly debit
    was signed, and paid by this money. Called inside the payments transaction, so it never
    raises: money that cannot become a membership (already renewed otherwise, no longer eligible,
    a different fee) is recorded as a DENIED audit entry for the treasury to refund.
    """
    from piazza.membership.payments import charge_cycle

    year = first.year + charge_cycle(payment) - 1

    def unmatched(reason: str) -> None:
        record("membership.sepa_debit_unmatched", actor=None, obj=first, territory=first.circolo,
               kind=AuditKind.DENIED, data={"payment": payment.pk, "year": year, "reason": reason,
                                            "todo": "refund"})

    current = (Membership.objects.filter(person_id=first.person_id, year=year, status__in=LIVE_STATUSES)
               .select_related("circolo", "person").first())
    if current is None:
        latest = (Membership.objects.filter(person_id=first.person_id, status__in=PAID_STATUSES, year__lt=year)
                  .select_related("circolo", "person").order_by("-year").first()) or first
        try:
            # Inside the payments transaction: the refusal is caught and `unmatched` records it there.
            with caller_records_refusals(), transaction.atomic():
                current = renew_membership(actor=None, previous=latest, year=year, declarations_accepted=True,
                                           art9_authorised=True)
        except ValidationError as error:
            unmatched("; ".join(error.messages))
            return None
    if current.status in PAID_STATUSES:
        unmatched(_("La quota %(year)s risulta già pagata.") % {"year": year})
        return current
    if current.fee_cents != payment.amount_cents:
        unmatched(_("Addebitati %(paid)s, ma la quota %(year)s è %(fee)s.")
                  % {"paid": format_cents(payment.amount_cents), "year": year, "fee": format_cents(current.fee_cents)})
        return None
    return after_online_payment(payment=payment, membership=current)


def end_after_refund(*, membership: Membership, payment: Any) -> Membership:
    """A refunded fee ends the membership: it never counts in a roll again (M17)."""
    with transaction.atomic():
        locked = Membership.objects.select_for_update().get(pk=membership.pk)
        if locked.status in (Status.CANCELLED, Status.REJECTED):
            return locked
        locked.status = Status.CANCELLED
        locked.ended_at = timezone.now()
        locked.end_reason = f"refund of payment {payment.pk}"
        locked.save(update_fields=["status", "ended_at", "end_reason"])
        record("membership.refunded", actor=None, obj=locked, territory=locked.circolo, data={"payment": payment.pk})
    return locked


def cancel_application(*, actor: Any, membership: Membership, reason: str) -> Membership:
    """An unpaid application is cancelled (e.g. payment failed for good); never enters a roll (M17)."""
    with transaction.atomic():
        locked = Membership.objects.select_for_update().get(pk=membership.pk)
        if locked.status != Status.APPLIED:
            return locked
        locked.status = Status.CANCELLED
        locked.ended_at = timezone.now()
        locked.end_reason = reason
        locked.save(update_fields=["status", "ended_at", "end_reason"])
        record("membership.cancel", actor=actor, obj=locked, territory=locked.circolo, data={"reason": reason})
    return locked


def block_card(*, actor: Any, person: Person, territory: Territory, reason: str) -> CardBlock:
    """Rule M9: e.g. an elected official whose contributions are not paid yet."""
    action = "membership.block_card"
    if not has_role_at(actor, territory, MEMBERSHIP_ROLES | {Role.TREASURY}):
        refuse(action, _("Non hai un ruolo di tesseramento su %(t)s.") % {"t": territory}, actor=actor,
               territory=territory, code="out_of_scope", permission=True)
    if not reason.strip():
        refuse(action, _("Indica il motivo e la condizione per sbloccare la tessera."), actor=actor,
               territory=territory, code="reason_required", field="reason")
    if CardBlock.objects.filter(person=person, lifted_at__isnull=True).exists():
        refuse(action, _("La tessera di questa persona è già bloccata."), actor=actor, territory=territory,
               code="already_blocked")
    with transaction.atomic():
        block = CardBlock.objects.create(person=person, territory=territory, reason=reason.strip(), blocked_by=actor)
        record(action, actor=actor, obj=block, territory=territory, data={"person": person.pk, "reason": reason})
    return block


def lift_card_block(*, actor: Any, block: CardBlock, note: str) -> CardBlock:
    action = "membership.lift_card_block"
    if not has_role_at(actor, block.territory, MEMBERSHIP_ROLES | {Role.TREASURY}):
        refuse(action, _("Non hai un ruolo di tesseramento su %(t)s.") % {"t": block.territory}, actor=actor,
               territory=block.territory, code="out_of_scope", permission=True)
    if not note.strip():
        refuse(action, _("Scrivi una nota che dica perché la tessera si sblocca."), actor=actor,
               territory=block.territory, code="note_required", field="note")
    with transaction.atomic():
        block = CardBlock.objects.select_for_update().get(pk=block.pk)
        if block.lifted_at is not None:
            return block  # lifted meanwhile by someone else: nothing more to do
        block.lifted_at = timezone.now()
        block.lifted_by = actor
        block.lift_note = note
        block.save(update_fields=["lifted_at", "lifted_by", "lift_note"])
        record(action, actor=actor, obj=block, territory=block.territory, data={"note": note})
    return block


# --- Transfers (M23) and the voting circolo (M11) ---------------------------------------


def request_transfer(*, actor: Any, membership: Membership, to_circolo: Territory, reason: str) -> Transfer:
    action = "membership.request_transfer"
    if to_circolo.level != Level.CIRCOLO or not to_circolo.is_open:
        refuse(action, _("Scegli un circolo aperto di destinazione."), actor=actor, code="not_a_circolo",
               field="to_circolo")
    if to_circolo.pk == membership.circolo_id:
        refuse(action, _("La persona è già iscritta a questo circolo."), actor=actor, code="same_circolo",
               field="to_circolo")
    if membership.status not in LIVE_STATUSES:
        refuse(action, _("Si trasferisce solo un'iscrizione in corso."), actor=actor, code="wrong_state")
    if not reason.strip():
        refuse(action, _("Indica il motivo del trasferimento (lavoro, studio, domicilio)."), actor=actor,
               code="reason_required", field="reason")
    if Transfer.objects.filter(membership=membership, status=TransferStatus.REQUESTED).exists():
        refuse(action, _("C'è già una richiesta di trasferimento in attesa per questa iscrizione."), actor=actor,
               territory=to_circolo, code="pending")
    with transaction.atomic():
        transfer = Transfer.objects.create(membership=membership, from_circolo=membership.circolo,
                                           to_circolo=to_circolo, reason=reason.strip(),
                                           requested_by=actor if getattr(actor, "is_authenticated", False) else None)
        record(action, actor=actor, obj=transfer, territory=to_circolo,
               data={"from": membership.circolo_id, "to": to_circolo.pk})
    return transfer


def out_of_area_share(circolo: Territory, year: int, extra: int = 0) -> tuple[int, int]:
    """(out-of-area live members, all live members) of a circolo for a year, plus `extra` newcomers."""
    live = Membership.objects.filter(circolo=circolo, year=year, status__in=LIVE_STATUSES)
    return live.filter(out_of_area=True).count() + extra, live.count() + extra


def decide_transfer(*, actor: Any, transfer: Transfer, approve: bool, reason: str = "") -> Transfer:
    """The destination decides (M23); the federation's cap on out-of-area members applies;
    the origin circolo is notified by email after the commit."""
    action = "membership.decide_transfer"
    if not has_role_at(actor, transfer.to_circolo, MEMBERSHIP_ROLES):
        refuse(action, _("Decide il circolo di destinazione."), actor=actor, territory=transfer.to_circolo,
               code="out_of_scope", permission=True)
    if transfer.status != TransferStatus.REQUESTED:
        refuse(action, _("Questa richiesta è già stata decisa."), actor=actor, territory=transfer.to_circolo,
               code="already_decided")
    membership = transfer.membership
    person = membership.person
    out_of_area = transfer.to_circolo.kind not in OPEN_TO_ALL_KINDS and not circolo_is_open_to(
        transfer.to_circolo, person.residence_comune)
    if approve and out_of_area:
        rules = rules_for(transfer.to_circolo)
        outside, total = out_of_area_share(transfer.to_circolo, membership.year, extra=1)
        if outside * 100 > rules.out_of_area_cap_percent * total:
            refuse(action, _("Con questo trasferimento gli iscritti fuori area del %(c)s sarebbero %(o)s su %(t)s, "
                             "oltre il tetto del %(cap)s%% fissato dalla federazione.")
                   % {"c": transfer.to_circolo.name, "o": outside, "t": total, "cap": rules.out_of_area_cap_percent},
                   actor=actor, territory=transfer.to_circolo, code="out_of_area_cap", rule="M23")
    now = timezone.now()
    with transaction.atomic():
        if Transfer.objects.select_for_update().filter(pk=transfer.pk).values_list("status", flat=True).get() != (
                TransferStatus.REQUESTED):
            raise ValidationError(_("Questa richiesta è stata appena decisa da un altro responsabile: ricarica."))
        transfer.status = TransferStatus.APPROVED if approve else TransferStatus.REFUSED
        transfer.decided_at = now
        transfer.decided_by = actor
        transfer.decision_reason = reason
        transfer.save(update_fields=["status", "decided_at", "decided_by", "decision_reason"])
        if approve:
            Membership.objects.filter(pk=membership.pk).update(circolo=transfer.to_circolo, out_of_area=out_of_area)
            Person.objects.filter(pk=person.pk).update(voting_circolo=transfer.to_circolo)  # rule M11
            _timeline(person, actor, "membership.transfer",
                      deferred(gettext_noop("Trasferito da %(a)s a %(b)s"), a=transfer.from_circolo.name,
                               b=transfer.to_circolo.name),
                      {"transfer": transfer.pk})
        record(action, actor=actor, obj=transfer, territory=transfer.to_circolo,
               data={"approve": approve, "reason": reason, "out_of_area": out_of_area})
        from piazza.membership.tasks import notify_transfer_origin

        enqueue_on_commit(notify_transfer_origin, transfer.pk)
    return transfer


def set_voting_circolo(*, actor: Any, person: Person, circolo: Territory) -> Person:
    """Rule M11: exactly one circolo where a person active in several exercises their rights."""
    action = "membership.set_voting_circolo"
    if not has_role_at(actor, circolo, MEMBERSHIP_ROLES):
        refuse(action, _("Non hai un ruolo di tesseramento su %(t)s.") % {"t": circolo}, actor=actor,
               territory=circolo, code="out_of_scope", permission=True)
    if not Membership.objects.filter(person=person, circolo=circolo, status__in=LIVE_STATUSES).exists():
        refuse(action, _("Si vota solo in un circolo dove si è iscritti quest'anno."), actor=actor,
               territory=circolo, code="not_member_there")
    with transaction.atomic():
        Person.objects.filter(pk=person.pk).update(voting_circolo=circolo)
        record(action, actor=actor, obj=person, territory=circolo, data={"circolo": circolo.pk})
    person.voting_circolo = circolo
    return person


# --- Objections and appeals (M18) -------------------------------------------------------


def raise_objection(*, actor: Any, membership: Membership, body: str, reason: str,
                    now: dt.datetime | None = None) -> Objection:
    action = "membership.raise_objection"
    now = now or timezone.now()
    roles = MEMBERSHIP_ROLES if body == Objection.RaisedBy.CIRCOLO else GUARANTEE_ROLES
    if not has_role_at(actor, membership.circolo, roles):
        refuse(action, _("Può contestare un'iscrizione il circolo o la commissione di garanzia competente."),
               actor=actor, territory=membership.circolo, code="out_of_scope", permission=True)
    if not reason.strip():
        refuse(action, _("Indica il motivo della contestazione."), actor=actor, territory=membership.circolo,
               code="reason_required", field="reason")
    if membership.status not in PAID_STATUSES:
        refuse(action, _("Si contesta un'iscrizione pagata e in corso: questa è «%(s)s».")
               % {"s": membership.get_status_display()}, actor=actor, territory=membership.circolo,
               code="wrong_state")
    if membership.objection_deadline is None or now > membership.objection_deadline:
        refuse(action, _("Il termine per contestare questa iscrizione è scaduto o non è ancora aperto (si apre al "
                         "pagamento)."), actor=actor, territory=membership.circolo, code="outside_window")
    with transaction.atomic():
        objection = Objection.objects.create(membership=membership, raised_by_body=body, raised_by=actor,
                                             raised_at=now, reason=reason.strip())
        record(action, actor=actor, obj=objection, territory=membership.circolo, data={"body": body})
    return objection


def decide_objection(*, actor: Any, objection: Objection, uphold: bool, reason: str,
                     now: dt.datetime | None = None) -> Objection:
    """The guarantee commission decides with reasons; the appeal window opens (M18)."""
    action = "membership.decide_objection"
    now = now or timezone.now()
    membership = objection.membership
    if not has_role_at(actor, membership.circolo, GUARANTEE_ROLES):
        refuse(action, _("Decide la commissione di garanzia."), actor=actor, territory=membership.circolo,
               code="out_of_scope", permission=True)
    if objection.status != ObjectionStatus.OPEN:
        refuse(action, _("Questa contestazione è già stata decisa."), actor=actor, code="already_decided")
    if not reason.strip():
        refuse(action, _("Una decisione va motivata."), actor=actor, code="reason_required", field="reason")
    rules = rules_for(membership.circolo)
    with transaction.atomic():
        if Objection.objects.select_for_update().filter(pk=objection.pk).values_list("status", flat=True).get() != (
                ObjectionStatus.OPEN):
            raise ValidationError(_("Questa contestazione è stata appena decisa: ricarica la pagina."))
        objection.status = ObjectionStatus.UPHELD if uphold else ObjectionStatus.DISMISSED
        objection.decided_at = now
        objection.decided_by = actor
        objection.decision_reason = reason.strip()
        objection.appeal_deadline = now + dt.timedelta(hours=rules.appeal_hours)
        objection.save()
        if uphold:
            Membership.objects.filter(pk=membership.pk).update(status=Status.REJECTED, ended_at=now,
                                                               end_reason=reason.strip())
        record(action, actor=actor, obj=objection, territory=membership.circolo,
               data={"uphold": uphold, "appeal_deadline": objection.appeal_deadline.isoformat()})
    return objection


APPEAL_LEVELS = {AppealInstance.REGIONAL: Level.REGION, AppealInstance.NATIONAL: Level.NATIONAL}


def appeal_commission(circolo: Territory, instance: int) -> Territory:
    """Rule M18: the commission competent for an appeal at `instance` (regional, then national)."""
    commission = circolo.ancestor_at(APPEAL_LEVELS[AppealInstance(instance)])
    if commission is None:  # a circolo hanging straight below the nation (abroad): the nation decides
        commission = circolo.ancestor_at(Level.NATIONAL)
    assert commission is not None
    return commission


def _decision_hours(rules: Any, instance: int) -> int:
    return int(rules.appeal_decision_hours_regional if instance == AppealInstance.REGIONAL
               else rules.appeal_decision_hours_national)


def is_commission_member(user: Any, commission: Territory) -> bool:
    """A member of that very commission (a role held at its territory, not above it): the national
    commission does not decide in place of the regional one, and no body judges twice."""
    if not getattr(user, "is_authenticated", False):
        return False
    return RoleAssignment.objects.filter(user=user, territory=commission, role__in=list(GUARANTEE_ROLES),
                                         revoked_at__isnull=True).exists()


def file_appeal(*, actor: Any, objection: Objection, reason: str, now: dt.datetime | None = None) -> Objection:
    """Appeal the last decision within `appeal_hours` of it, to the next instance (M18).

    The provincial decision goes to the regional commission, the regional one to the national
    commission, whose decision is final. The counter-appeal window (`counter_appeal_hours`) and
    the commission's decision deadline (per instance, open parameters) start now.
    """
    action = "membership.file_appeal"
    now = now or timezone.now()
    circolo = objection.membership.circolo
    rules = rules_for(circolo)
    if objection.status == ObjectionStatus.OPEN:
        refuse(action, _("La contestazione non è ancora decisa: il ricorso si presenta contro una decisione."),
               actor=actor, territory=circolo, code="not_decided")
    last = objection.appeals.order_by("-instance").first()
    if last is not None and last.decided_at is None:
        refuse(action, _("Il ricorso è già stato presentato: attende la decisione della %(c)s.")
               % {"c": last.get_instance_display().lower()}, actor=actor, territory=circolo, code="already_filed")
    if last is not None and last.is_last_instance:
        refuse(action, _("La commissione nazionale di garanzia è l'ultima istanza: la sua decisione è definitiva."),
               actor=actor, territory=circolo, code="last_instance")
    deadline = objection.appeal_deadline if last is None else last.next_appeal_deadline
    if deadline is None or now > deadline:
        refuse(action, _("Il termine per il ricorso (%(h)s ore dalla decisione) è scaduto.")
               % {"h": rules.appeal_hours}, actor=actor, territory=circolo, code="appeal_late")
    if not reason.strip():
        refuse(action, _("Riporta i motivi del ricorso."), actor=actor, territory=circolo, code="reason_required",
               field="reason")
    instance = AppealInstance.REGIONAL if last is None else AppealInstance(last.instance + 1)
    commission = appeal_commission(circolo, instance)
    try:
        with transaction.atomic():
            Objection.objects.select_for_update().filter(pk=objection.pk).first()
            appeal = Appeal.objects.create(
                objection=objection, instance=instance, commission=commission, filed_at=now,
                filed_by=actor if getattr(actor, "is_authenticated", False) else None, reason=reason.strip(),
                counter_deadline=now + dt.timedelta(hours=rules.counter_appeal_hours),
                decision_due=now + dt.timedelta(hours=_decision_hours(rules, instance)))
            if last is None:  # the first appeal is also summarised on the objection
                objection.appeal_filed_at = now
                objection.appeal_reason = reason.strip()
                objection.counter_appeal_deadline = appeal.counter_deadline
                objection.save(update_fields=["appeal_filed_at", "appeal_reason", "counter_appeal_deadline"])
            record(action, actor=actor, obj=objection, territory=circolo,
                   data={"instance": int(instance), "commission": commission.pk, "appeal": appeal.pk,
                         "decision_due": appeal.decision_due.isoformat()})
    except IntegrityError:
        raise ValidationError(_("Il ricorso è stato appena presentato: ricarica la pagina."),
                              code="already_filed") from None
    return objection


def _pending_appeal(objection: Objection) -> Appeal | None:
    return objection.appeals.filter(decided_at__isnull=True).order_by("-instance").first()


def file_counter_appeal(*, actor: Any, objection: Objection, reason: str,
                        now: dt.datetime | None = None) -> Objection:
    """The other side answers the pending appeal within `counter_appeal_hours` of its filing (M18)."""
    action = "membership.file_counter_appeal"
    now = now or timezone.now()
    appeal = _pending_appeal(objection)
    if appeal is None or now > appeal.counter_deadline:
        refuse(action, _("Il termine per il controricorso è scaduto o non è aperto."), actor=actor,
               territory=objection.membership.circolo, code="counter_appeal_late")
    assert appeal is not None
    if appeal.counter_filed_at is not None:
        refuse(action, _("Il controricorso è già stato presentato."), actor=actor,
               territory=objection.membership.circolo, code="already_filed")
    with transaction.atomic():
        appeal.counter_filed_at = now
        appeal.counter_reason = reason.strip()
        appeal.save(update_fields=["counter_filed_at", "counter_reason"])
        if appeal.instance == AppealInstance.REGIONAL:
            objection.counter_appeal_filed_at = now
            objection.counter_appeal_reason = reason.strip()
            objection.save(update_fields=["counter_appeal_filed_at", "counter_appeal_reason"])
        record(action, actor=actor, obj=objection, territory=objection.membership.circolo,
               data={"instance": appeal.instance, "appeal": appeal.pk})
    return objection


def admitted_before(appeal: Appeal) -> bool:
    """Whether the membership stood after the decision this appeal challenges."""
    previous = (Appeal.objects.filter(objection_id=appeal.objection_id, instance__lt=appeal.instance,
                                      decided_at__isnull=False).order_by("-instance").first())
    if previous is not None and previous.membership_admitted is not None:
        return previous.membership_admitted
    return appeal.objection.status != ObjectionStatus.UPHELD


def decide_appeal(*, actor: Any, appeal: Appeal, outcome: str, reason: str,
                  now: dt.datetime | None = None) -> Appeal:
    """The competent commission decides an appeal with reasons (M18); the roll follows the outcome.

    Upheld reverses the decision appealed against (a rejected membership is reinstated, a confirmed
    one rejected); rejected and inadmissible leave it standing. A further appeal to the next
    instance is open for `appeal_hours`, except after the national commission (last instance).
    Only members of the competent commission decide, after the counter-appeal window unless the
    counter-appeal is in.
    """
    action = "membership.decide_appeal"
    now = now or timezone.now()
    membership = appeal.objection.membership
    circolo = membership.circolo
    if not is_commission_member(actor, appeal.commission):
        refuse(action, _("Decide questo ricorso la %(c)s di %(t)s.")
               % {"c": appeal.get_instance_display().lower(), "t": appeal.commission.name}, actor=actor,
               territory=appeal.commission, code="out_of_scope", permission=True)
    if appeal.decided_at is not None:
        refuse(action, _("Questo ricorso è già stato deciso."), actor=actor, territory=appeal.commission,
               code="already_decided")
    if outcome not in AppealOutcome.values:
        refuse(action, _("Scegli l'esito: accolto, respinto o inammissibile."), actor=actor,
               territory=appeal.commission, code="bad_outcome", field="outcome")
    if not reason.strip():
        refuse(action, _("Una decisione va motivata."), actor=actor, territory=appeal.commission,
               code="reason_required", field="reason")
    if appeal.counter_filed_at is None and now <= appeal.counter_deadline:
        refuse(action, _("Il controricorso si può presentare fino al %(d)s: si decide dopo quella scadenza o dopo "
                         "il controricorso.") % {"d": _date(appeal.counter_deadline)}, actor=actor,
               territory=appeal.commission, code="counter_window_open")
    before = admitted_before(appeal)
    admitted = (not before) if outcome == AppealOutcome.UPHELD else before
    if admitted and not before and Membership.objects.filter(
            person_id=membership.person_id, year=membership.year, status__in=LIVE_STATUSES).exclude(
            pk=membership.pk).exists():
        refuse(action, _("La persona ha nel frattempo un'altra iscrizione per il %(y)s: prima di reintegrare questa "
                         "va annullata quella (una sola iscrizione per anno, regola M4).") % {"y": membership.year},
               actor=actor, territory=appeal.commission, code="duplicate")
    rules = rules_for(circolo)
    with transaction.atomic():
        locked = Appeal.objects.select_for_update().get(pk=appeal.pk)
        if locked.decided_at is not None:
            raise ValidationError(_("Questo ricorso è stato appena deciso: ricarica la pagina."))
        locked.outcome = outcome
        locked.decision_reason = reason.strip()
        locked.decided_at = now
        locked.decided_by = actor
        locked.membership_admitted = admitted
        locked.next_appeal_deadline = (None if locked.is_last_instance
                                       else now + dt.timedelta(hours=rules.appeal_hours))
        locked.save()
        record(action, actor=actor, obj=appeal.objection, territory=appeal.commission,
               data={"instance": locked.instance, "appeal": locked.pk, "outcome": outcome, "admitted": admitted,
                     "late": now > locked.decision_due, "rule": "M18"})
        if admitted != before:
            _apply_appeal_outcome(membership, admitted=admitted, actor=actor, appeal=locked, now=now)
    return locked


def _apply_appeal_outcome(membership: Membership, *, admitted: bool, actor: Any, appeal: Appeal,
                          now: dt.datetime) -> None:
    """The roll follows the appeal: reinstate a rejected membership, or reject an admitted one."""
    locked = Membership.objects.select_for_update(of=("self",)).select_related("person").get(pk=membership.pk)
    label = appeal.get_instance_display()
    if admitted:
        if locked.status != Status.REJECTED or locked.paid_at is None:
            return
        if Membership.objects.filter(person_id=locked.person_id, year=locked.year,
                                     status__in=LIVE_STATUSES).exclude(pk=locked.pk).exists():
            raise ValidationError(_("La persona ha nel frattempo un'altra iscrizione per il %(y)s: annulla quella "
                                    "prima di reintegrare questa.") % {"y": locked.year}, code="duplicate")
        locked.status = Status.EFFECTIVE if locked.effective_at else Status.PAID
        locked.ended_at = None
        locked.end_reason = ""
        locked.save(update_fields=["status", "ended_at", "end_reason"])
        record("membership.reinstated", actor=actor, obj=locked, territory=locked.circolo,
               data={"appeal": appeal.pk, "instance": appeal.instance, "status": locked.status})
        _timeline(locked.person, actor, "membership.reinstated",
                  _("Iscrizione %(y)s reintegrata dalla %(c)s") % {"y": locked.year, "c": label.lower()},
                  {"membership": locked.pk})
    else:
        if locked.status not in PAID_STATUSES:
            return
        locked.status = Status.REJECTED
        locked.ended_at = now
        locked.end_reason = appeal.decision_reason
        locked.save(update_fields=["status", "ended_at", "end_reason"])
        record("membership.rejected_on_appeal", actor=actor, obj=locked, territory=locked.circolo,
               data={"appeal": appeal.pk, "instance": appeal.instance})
        _timeline(locked.person, actor, "membership.rejected",
                  _("Iscrizione %(y)s respinta dalla %(c)s") % {"y": locked.year, "c": label.lower()},
                  {"membership": locked.pk})


# --- Certified rolls (M16, M17, M22) ----------------------------------------------------


def create_congress(*, actor: Any, territory: Territory, name: str, cut_off: dt.datetime,
                    membership_years: list[int], require_effective: bool = True) -> Congress:
    action = "membership.create_congress"
    if not has_role_at(actor, territory, {Role.ORGANISATION, Role.ADMINISTRATOR, Role.GUARANTEE}):
        refuse(action, _("Non hai un ruolo di organizzazione su %(t)s.") % {"t": territory}, actor=actor,
               territory=territory, code="out_of_scope", permission=True)
    if not name.strip() or not membership_years:
        refuse(action, _("Indica il nome del congresso e gli anni di tesseramento validi."), actor=actor,
               territory=territory, code="required", field="name")
    with transaction.atomic():
        congress = Congress.objects.create(territory=territory, name=name.strip(), cut_off=cut_off,
                                           membership_years=sorted(membership_years),
                                           require_effective=require_effective, created_by=actor)
        record(action, actor=actor, obj=congress, territory=territory,
               data={"cut_off": cut_off.isoformat(), "years": membership_years})
    return congress


def roll_members(congress: Congress, circolo: Territory) -> list[Any]:
    """Memberships entering a roll (M16, M17, M22): paid by the cut-off (to the second, inclusive),
    effective by it when required, not cancelled or rejected; never an unpaid one.

    A congress may accept more than one membership year: a person paid up in two of them is
    one voter, entered with the membership of the latest year (one entry per person)."""
    qs = Membership.objects.filter(
        circolo=circolo, year__in=congress.membership_years, status__in=PAID_STATUSES,
        paid_at__isnull=False, paid_at__lte=congress.cut_off,
    )
    if congress.require_effective:
        qs = qs.filter(status=Status.EFFECTIVE, effective_at__lte=congress.cut_off)
    latest: dict[int, Membership] = {}
    for membership in qs.select_related("person").order_by("person_id", "-year", "-pk"):
        latest.setdefault(membership.person_id, membership)
    return sorted(latest.values(), key=lambda m: (m.person.last_name, m.person.first_name, m.pk))


def hash_entries(congress: Congress, circolo: Territory, entries: list[RollEntry]) -> str:
    digest = hashlib.sha256()
    # The cut-off in UTC, as read back from the database: a congress object still holding the local
    # time it was created with must give the same hash as one loaded afresh (the sign-off's).
    cut_off = congress.cut_off.astimezone(dt.UTC).isoformat()
    digest.update(f"{congress.pk}|{circolo.pk}|{cut_off}\n".encode())
    for line in sorted(entry.hash_line() for entry in entries):
        digest.update(line.encode() + b"\n")
    return digest.hexdigest()


def compute_roll(*, actor: Any, congress: Congress, circolo: Territory) -> Roll:
    """Freeze a new version of a circolo's roll; refused once a version is signed (M16)."""
    action = "membership.compute_roll"
    if not has_role_at(actor, circolo, MEMBERSHIP_ROLES | GUARANTEE_ROLES):
        refuse(action, _("Non hai un ruolo di tesseramento su %(t)s.") % {"t": circolo}, actor=actor,
               territory=circolo, code="out_of_scope", permission=True)
    if not circolo.is_within(congress.territory):
        refuse(action, _("Il %(c)s non partecipa a questo congresso.") % {"c": circolo}, actor=actor,
               territory=circolo, code="outside_congress")
    signed = Roll.objects.filter(congress=congress, circolo=circolo).exclude(
        status__in=[RollStatus.FROZEN, RollStatus.SUPERSEDED]).first()
    if signed is not None:
        refuse(action, _("L'anagrafe del %(c)s è già stata firmata (versione %(v)s, impronta %(h)s): non si può più "
                         "modificare. Una correzione passa per la commissione di garanzia.")
               % {"c": circolo.name, "v": signed.version, "h": signed.content_hash[:12]},
               actor=actor, territory=circolo, code="roll_signed")
    with transaction.atomic():
        previous = list(Roll.objects.select_for_update().filter(congress=congress, circolo=circolo))
        signed_now = [r for r in previous if r.status not in (RollStatus.FROZEN, RollStatus.SUPERSEDED)]
        if signed_now:  # signed by someone else meanwhile
            raise ValidationError(_("L'anagrafe è stata appena firmata: non si può più modificare."))
        version = max((r.version for r in previous), default=0) + 1
        Roll.objects.filter(congress=congress, circolo=circolo, status=RollStatus.FROZEN).update(
            status=RollStatus.SUPERSEDED)
        roll = Roll.objects.create(congress=congress, circolo=circolo, version=version, content_hash="",
                                   member_count=0, computed_by=actor)
        entries = [
            RollEntry(roll=roll, person=m.person, membership=m, card_number=m.card_number,
                      last_name=m.person.last_name, first_name=m.person.first_name,
                      birth_date=m.person.birth_date, paid_at=m.paid_at, effective_at=m.effective_at)
            for m in roll_members(congress, circolo)
        ]
        RollEntry.objects.bulk_create(entries, batch_size=1000)
        roll.content_hash = hash_entries(congress, circolo, entries)
        roll.member_count = len(entries)
        roll.save(update_fields=["content_hash", "member_count"])
        record(action, actor=actor, obj=roll, territory=circolo,
               data={"version": version, "members": len(entries), "hash": roll.content_hash})
    return roll


def verify_roll(roll: Roll) -> bool:
    """Recompute the content hash from the stored entries: True if nothing changed."""
    entries = list(roll.entries.all())
    return hash_entries(roll.congress, roll.circolo, entries) == roll.content_hash


@dataclass(frozen=True)
class MinimumCheck:
    """Rule M12 on one roll: `required` 0 means the circolo's kind has no minimum."""

    required: int
    counted: int
    message: str

    @property
    def met(self) -> bool:
        return self.counted >= self.required


def roll_minimum(roll: Roll) -> MinimumCheck:
    """Rule M12: an online circolo needs at least `min_members_online` members in its roll; a
    Punto PD at least `min_members_punto_pd` people of the same place, read as members resident
    in the same comune. Both are parameters (`rules_for`), per federation, region or nation."""
    circolo = roll.circolo
    params = rules_for(circolo)
    if circolo.kind == Kind.ONLINE:
        required, counted = params.min_members_online, roll.member_count
        message = _("Un circolo online deve avere almeno %(min)s iscritti per certificare l'anagrafe: questa "
                    "versione ne conta %(n)s. Non si può firmare né ratificare finché non li raggiunge.")
    elif circolo.kind == Kind.PUNTO_PD:
        required = params.min_members_punto_pd
        per_comune: dict[int, int] = {}
        for comune_id in roll.entries.exclude(person__residence_comune__isnull=True).values_list(
                "person__residence_comune", flat=True):
            per_comune[comune_id] = per_comune.get(comune_id, 0) + 1
        counted = max(per_comune.values(), default=0)
        message = _("Un Punto PD deve riunire almeno %(min)s persone dello stesso comune per certificare "
                    "l'anagrafe: in questa versione ne risultano al massimo %(n)s residenti nello stesso comune. "
                    "Non si può firmare né ratificare finché non le raggiunge.")
    else:
        return MinimumCheck(0, roll.member_count, "")
    return MinimumCheck(required, counted, message % {"min": required, "n": counted})


def _refuse_below_minimum(action: str, roll: Roll, *, actor: Any, territory: Territory) -> None:
    check = roll_minimum(roll)
    if not check.met:  # rule M12
        refuse(action, check.message, actor=actor, territory=territory, code="below_minimum_members")


def sign_off_roll(*, actor: Any, roll: Roll) -> Roll:
    """The circolo signs the frozen version; from now on it cannot be edited (M16).
    Refused while an online circolo or a Punto PD is below its minimum (M12)."""
    action = "membership.sign_off_roll"
    if not has_role_at(actor, roll.circolo, MEMBERSHIP_ROLES):
        refuse(action, _("Firma l'anagrafe il circolo."), actor=actor, territory=roll.circolo,
               code="out_of_scope", permission=True)
    if roll.status != RollStatus.FROZEN:
        refuse(action, _("Si firma solo l'ultima versione calcolata (questa è «%(s)s»).")
               % {"s": roll.get_status_display()}, actor=actor, territory=roll.circolo, code="wrong_state")
    _refuse_below_minimum(action, roll, actor=actor, territory=roll.circolo)
    if not verify_roll(roll):
        refuse(action, _("L'impronta dell'anagrafe non corrisponde al contenuto: ricalcolala."), actor=actor,
               territory=roll.circolo, code="hash_mismatch")
    with transaction.atomic():
        roll.status = RollStatus.SIGNED
        roll.signed_at = timezone.now()
        roll.signed_by = actor
        roll.save(update_fields=["status", "signed_at", "signed_by"])
        record(action, actor=actor, obj=roll, territory=roll.circolo, data={"hash": roll.content_hash})
    return roll


def record_roll_vote(*, actor: Any, roll: Roll, members_total: int, votes_for: int, votes_against: int,
                     abstentions: int, note: str = "") -> RollVote:
    """Rule M16: the provincial guarantee commission ratifies by 2/3 of its members; otherwise
    the roll goes to the regional commission, which decides by majority of the votes cast."""
    action = "membership.record_roll_vote"
    if roll.status == RollStatus.SIGNED:
        level, commission = RollVote.Level.PROVINCIAL, roll.circolo.ancestor_at(Level.FEDERATION)
    elif roll.status == RollStatus.REFERRED:
        level, commission = RollVote.Level.REGIONAL, roll.circolo.ancestor_at(Level.REGION)
    else:
        refuse(action, _("Si vota un'anagrafe firmata dal circolo (questa è «%(s)s»).")
               % {"s": roll.get_status_display()}, actor=actor, territory=roll.circolo, code="wrong_state")
        raise AssertionError
    assert commission is not None
    if not has_role_at(actor, commission, GUARANTEE_ROLES):
        refuse(action, _("Registra il voto la commissione di garanzia di %(t)s.") % {"t": commission}, actor=actor,
               territory=commission, code="out_of_scope", permission=True)
    if members_total <= 0 or votes_for + votes_against + abstentions > members_total:
        refuse(action, _("I voti (%(v)s) non possono superare i componenti della commissione (%(m)s).")
               % {"v": votes_for + votes_against + abstentions, "m": members_total}, actor=actor,
               territory=commission, code="bad_count", field="members_total")
    # Provincial: two thirds of the commission's members; regional: majority of votes cast.
    passed = (votes_for * 3 >= members_total * 2 if level == RollVote.Level.PROVINCIAL
              else votes_for > votes_against)
    if passed:  # a ratification certifies the roll: rule M12 again (the minimum may have risen since signing)
        _refuse_below_minimum(action, roll, actor=actor, territory=commission)
    now = timezone.now()
    with transaction.atomic():
        vote = RollVote.objects.create(roll=roll, level=level, commission=commission, members_total=members_total,
                                       votes_for=votes_for, votes_against=votes_against, abstentions=abstentions,
                                       passed=passed, content_hash=roll.content_hash, note=note, recorded_by=actor)
        if passed:
            roll.status = RollStatus.RATIFIED
        elif level == RollVote.Level.PROVINCIAL:
            roll.status = RollStatus.REFERRED
        else:
            roll.status = RollStatus.REJECTED
        roll.decided_at = now
        roll.save(update_fields=["status", "decided_at"])
        record(action, actor=actor, obj=roll, territory=commission,
               data={"level": level, "for": votes_for, "against": votes_against, "abstentions": abstentions,
                     "members": members_total, "passed": passed, "status": roll.status})
    return vote


# --- Renewals --------------------------------------------------------------------------

RENEWAL_SALT = "membership.renewal"


def renewal_token(previous: Membership, year: int) -> str:
    """A signed link token: which membership is renewed for which year (no login needed)."""
    return signing.dumps({"m": previous.pk, "y": year}, salt=RENEWAL_SALT, compress=True)


def read_renewal_token(token: str, *, max_age_days: int = 400) -> tuple[Membership, int] | None:
    try:
        data = signing.loads(token, salt=RENEWAL_SALT, max_age=dt.timedelta(days=max_age_days))
    except signing.BadSignature:
        return None
    previous = Membership.objects.select_related("person", "circolo").filter(pk=data.get("m")).first()
    return (previous, int(data["y"])) if previous is not None else None


def start_renewal_campaign(*, actor: Any, territory: Territory, year: int) -> int:
    """Reminder emails to last year's members in `territory` who have not renewed yet.

    Re-running it never emails anyone twice (one `RenewalReminder` per membership and year).
    """
    action = "membership.start_renewal_campaign"
    if not has_role_at(actor, territory, MEMBERSHIP_ROLES):
        refuse(action, _("Non hai un ruolo di tesseramento su %(t)s.") % {"t": territory}, actor=actor,
               territory=territory, code="out_of_scope", permission=True)
    if schedule_for(year) is None:
        refuse(action, _("Le quote del %(year)s non sono ancora fissate: la campagna non può partire.")
               % {"year": year}, actor=actor, territory=territory, code="no_schedule")
    renewed = Membership.objects.filter(year=year, status__in=LIVE_STATUSES).values("person_id")
    already = RenewalReminder.objects.filter(year=year).values("previous_id")
    previous = (Membership.objects.filter(circolo__path__startswith=territory.path, year=year - 1,
                                          status__in=PAID_STATUSES)
                .exclude(person_id__in=renewed).exclude(pk__in=already).values_list("pk", flat=True))
    ids = list(previous)
    from piazza.membership.tasks import send_renewal_reminder as task

    with transaction.atomic():
        for pk in ids:
            enqueue_on_commit(task, pk, year)
        record(action, actor=actor, territory=territory, data={"year": year, "reminders": len(ids)})
    return len(ids)


def yearly_debit_problem(previous: Membership, schedule: Any, year: int) -> str:
    """Why next year's automatic SEPA debit must not run, or "": the fee of `year` differs from
    the amount of the mandate's schedule, or the member must confirm something again (M2: a
    non-EU citizen's residence permit may have expired)."""
    person = previous.person
    if schedule.saved_method_id is None:
        return _("il mandato SEPA non risulta collegato all'addebito annuale")
    if person.citizenship == Citizenship.NON_EU_PERMIT:
        return _("serve confermare di nuovo il permesso di soggiorno")
    fee_schedule = schedule_for(year)
    if fee_schedule is None:
        return _("le quote del %(year)s non sono ancora fissate") % {"year": year}
    quote = quote_for(fee_schedule, previous.circolo, person.birth_date, schedule.next_charge_on)
    if quote.total_cents != schedule.amount_cents:
        return _("la quota %(year)s è %(fee)s invece di %(old)s") % {
            "year": year, "fee": format_cents(quote.total_cents), "old": format_cents(schedule.amount_cents)}
    return ""


def send_renewal_reminder(*, membership_id: int, year: int) -> int:
    """Send one reminder (idempotent: the unique `RenewalReminder` row is the guard).

    A member who renews every year by SEPA is told when and how much will be debited, with the
    one-click link to stop it; if the debit must not run as it stands (the fee changed, a
    permit to confirm), the yearly schedule is stopped and the usual one-click renewal is sent.
    """
    from piazza.membership.payments import active_yearly_schedule

    previous = Membership.objects.select_related("person", "circolo").get(pk=membership_id)
    email = previous.person.primary_email
    if email is None:
        return 0
    with transaction.atomic():
        _reminder, created = RenewalReminder.objects.get_or_create(previous=previous, year=year)
        if not created:
            return 0
        link = settings.SITE_URL.rstrip("/") + reverse("membership:renew", args=[renewal_token(previous, year)])
        names = {"name": previous.person.first_name, "prev": previous.year, "circolo": previous.circolo.name,
                 "year": year, "link": link}
        schedule = active_yearly_schedule(previous.person)
        problem = yearly_debit_problem(previous, schedule, year) if schedule is not None else ""
        if schedule is not None and not problem:
            from piazza.payments.links import cancel_schedule_url

            subject = _("La tua tessera %(year)s si rinnova con l'addebito SEPA") % {"year": year}
            body = _("Ciao %(name)s,\nil %(date)s addebiteremo %(amount)s sul tuo conto per la tessera %(year)s del "
                     "%(circolo)s, come hai scelto. Se nel frattempo qualcosa è cambiato (ti sei iscritto a un altro "
                     "partito, hai cambiato residenza) o non vuoi più rinnovare, annulla l'addebito con un clic: "
                     "%(cancel)s") % {**names, "date": schedule.next_charge_on.strftime("%d/%m/%Y"),
                                      "amount": format_cents(schedule.amount_cents),
                                      "cancel": cancel_schedule_url(schedule.token)}
        else:
            if schedule is not None:
                from piazza.payments.actions import cancel_schedule

                cancel_schedule(actor=None, schedule=schedule, via="membership", reason=problem)
            subject = _("Rinnova la tua tessera %(year)s") % {"year": year}
            body = _("Ciao %(name)s,\nla tua tessera %(prev)s del %(circolo)s sta per scadere. Rinnovala per il "
                     "%(year)s con un clic: %(link)s\n\nPuoi scegliere anche l'addebito SEPA annuale.") % names
            if problem:
                body += "\n" + (_("L'addebito SEPA annuale è stato sospeso perché %(why)s: rinnova dal link qui "
                                   "sopra.") % {"why": problem})
        transaction.on_commit(lambda: send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [email.value]))
        record("membership.renewal_reminder", actor=None, obj=previous, territory=previous.circolo,
               data={"year": year, "sepa_yearly": schedule is not None and not problem, "sepa_stopped": problem})
    return 1


def renew_membership(*, actor: Any, previous: Membership, year: int, declarations_accepted: bool,
                     art9_authorised: bool, member_of_other_party: bool = False,
                     citizenship: str | None = None, has_residence_permit: bool = False,
                     residence_street: str | None = None, residence_cap: str | None = None,
                     now: dt.datetime | None = None) -> Membership:
    """One-click renewal: last year's data and circolo, with what may have changed asked again —
    citizenship and the residence permit (M2: a permit may have expired), the address, the
    declarations (M15) and the art. 9 authorisation (M4). The same checks as joining apply."""
    person = previous.person
    email = person.primary_email
    phone = person.primary_phone
    data = JoinData(
        first_name=person.first_name, last_name=person.last_name, birth_date=person.birth_date or dt.date.min,
        codice_fiscale=person.codice_fiscale, citizenship=citizenship or person.citizenship, sex=person.sex,
        birth_comune=person.birth_comune, birth_country=person.birth_country,
        residence_street=person.residence_street if residence_street is None else residence_street,
        residence_cap=person.residence_cap if residence_cap is None else residence_cap,
        residence_comune=person.residence_comune, email=email.value if email else "",
        phone=phone.value if phone else "", has_residence_permit=has_residence_permit,
        member_of_other_party=member_of_other_party, declarations_accepted=declarations_accepted,
        art9_authorised=art9_authorised)
    return apply_for_membership(actor=actor, data=data, circolo=previous.circolo, channel=Channel.RENEWAL,
                                year=year, now=now, is_renewal=True)


# --- Anomalies -----------------------------------------------------------------------


def store_signals(*, federation: Territory, year: int, signals: list[anomalies.Signal], actor: Any,
                  kinds: list[str] | None) -> list[AnomalyFlag]:
    """Upsert flags by (federation, year, kind, key). A reviewed flag whose evidence grew (more
    people) is opened again; one that no longer shows up stays as it was (history)."""
    now = timezone.now()
    stored = []
    for signal in signals:
        said = stored_form(signal.summary)  # read again in the reader's language (issue 11 item 18)
        evidence = {**signal.evidence, ANOMALY_SUMMARY_KEY: said} if said else signal.evidence
        flag, created = AnomalyFlag.objects.get_or_create(
            federation=federation, year=year, kind=signal.kind, key=signal.key,
            defaults={"summary": signal.summary[:300], "evidence": evidence, "circolo_id": signal.circolo_id,
                      "detected_at": now, "last_seen_at": now})
        before = set(flag.people.values_list("pk", flat=True)) if not created else set()
        grew = bool(set(signal.person_ids) - before)
        if not created:
            flag.summary = signal.summary[:300]
            flag.evidence = evidence
            flag.last_seen_at = now
            if grew and flag.status != FlagStatus.OPEN:
                flag.status = FlagStatus.OPEN
            flag.save(update_fields=["summary", "evidence", "last_seen_at", "status"])
        if grew:
            flag.people.add(*signal.person_ids)
        if created or grew:
            record("membership.anomaly_flag", actor=actor, obj=flag, territory=federation,
                   data={"kind": signal.kind, "created": created, "people": len(signal.person_ids)})
        stored.append(flag)
    return stored


def detect_anomalies(*, actor: Any, federation: Territory, year: int) -> list[AnomalyFlag]:
    """Run every detector for a federation and year; idempotent (safe to run from a periodic task)."""
    action = "membership.detect_anomalies"
    if actor is not None and getattr(actor, "is_authenticated", False) and not has_role_at(
            actor, federation, GUARANTEE_ROLES | MEMBERSHIP_ROLES):
        refuse(action, _("Non hai un ruolo di garanzia o tesseramento su %(t)s.") % {"t": federation}, actor=actor,
               territory=federation, code="out_of_scope", permission=True)
    signals = anomalies.detect(federation, year)
    with transaction.atomic():
        flags = store_signals(federation=federation, year=year, signals=signals, actor=actor, kinds=None)
        record(action, actor=actor, territory=federation, data={"year": year, "signals": len(signals)})
    return flags


def review_flag(*, actor: Any, flag: AnomalyFlag, status: str, note: str) -> AnomalyFlag:
    """A reviewer marks a flag resolved or confirmed, with a note; nothing happens automatically."""
    action = "membership.review_flag"
    if not has_role_at(actor, flag.federation, GUARANTEE_ROLES | {Role.MEMBERSHIP}):
        refuse(action, _("Esamina le segnalazioni la commissione di garanzia."), actor=actor,
               territory=flag.federation, code="out_of_scope", permission=True)
    if status not in (FlagStatus.RESOLVED, FlagStatus.CONFIRMED):
        refuse(action, _("Scegli «risolta» o «confermata»."), actor=actor, code="bad_status", field="status")
    if not note.strip():
        refuse(action, _("Scrivi una nota che spieghi la decisione."), actor=actor, territory=flag.federation,
               code="note_required", field="note")
    with transaction.atomic():
        flag.status = status
        flag.review_note = note.strip()
        flag.reviewed_at = timezone.now()
        flag.reviewed_by = actor
        flag.save(update_fields=["status", "review_note", "reviewed_at", "reviewed_by"])
        record(action, actor=actor, obj=flag, territory=flag.federation, data={"status": status})
    return flag


# --- Supporters' register (Albo, M1, M3, M21) -------------------------------------------


def ensure_supporter(*, person: Person, territory: Territory, channel: str = Channel.ONLINE,
                     now: dt.datetime | None = None) -> None:
    """Rule M1: every member is also in the Albo. One INSERT … ON CONFLICT DO NOTHING (the person
    is unique in the Albo), audited by the caller's entry."""
    Supporter.objects.bulk_create([Supporter(person=person, territory=territory, source=Supporter.Source.MEMBER,
                                             channel=channel, registered_at=now or timezone.now())],
                                  ignore_conflicts=True)


@dataclass
class SupporterData:
    """Rule M21 fields; M3 eligibility and support declaration; explicit contact consent."""

    first_name: str
    last_name: str
    birth_date: dt.date
    codice_fiscale: str
    email: str
    phone: str
    residence_street: str
    residence_comune: Comune | None
    citizenship: str = Citizenship.ITALIAN
    birth_comune: Comune | None = None
    birth_country: str = ""
    residence_cap: str = ""
    has_residence_permit: bool = False
    declares_support: bool = False
    consents_to_contact: bool = False


ALBO_CONFIRM_SALT = "membership.albo-confirm"
ALBO_LINK_MAX_AGE = dt.timedelta(days=3)  # how long the emailed confirmation link works


def _supporter_problems(data: SupporterData, election: AlboElection | None, now: dt.datetime
                        ) -> tuple[dict[str, list[str]], JoinData]:
    """Rules M3, M21 and the people app's validation: input checks only, the same whoever the
    code belongs to (issue 10, G1), so a refusal reveals nothing about the database."""
    problems: dict[str, list[str]] = {}
    if data.citizenship == Citizenship.EU and data.residence_comune is None:
        problems["residence_comune"] = [_("I cittadini di un altro paese dell'Unione europea si registrano all'Albo "
                                          "se residenti in Italia.")]
    if data.citizenship == Citizenship.NON_EU_PERMIT and not data.has_residence_permit:
        problems["has_residence_permit"] = [_("Serve un permesso di soggiorno valido.")]
    if age_on(data.birth_date, timezone.localdate(now)) < 16:
        problems["birth_date"] = [_("Per registrarsi all'Albo bisogna avere almeno 16 anni.")]
    if not data.declares_support:
        problems["declares_support"] = [_("La registrazione all'Albo richiede di dichiarare il sostegno al partito "
                                          "alle elezioni.")]
    if not data.consents_to_contact:
        problems["consents_to_contact"] = [_("Serve il consenso esplicito all'uso di email e cellulare per le "
                                             "comunicazioni dell'Albo.")]
    if not data.email.strip():
        problems["email"] = [_("Indica un indirizzo email.")]
    if not data.phone.strip():
        problems["phone"] = [_("Indica un numero di cellulare.")]
    join = JoinData(first_name=data.first_name, last_name=data.last_name, birth_date=data.birth_date,
                    codice_fiscale=data.codice_fiscale, citizenship=data.citizenship, birth_comune=data.birth_comune,
                    birth_country=data.birth_country, residence_street=data.residence_street,
                    residence_cap=data.residence_cap, residence_comune=data.residence_comune, email=data.email,
                    phone=data.phone)
    for name, messages in person_data_problems(join).items():
        problems.setdefault(name, []).extend(messages)
    if election is not None and not (election.opens_at <= now <= election.closes_at):
        problems.setdefault("election", []).append(_("La registrazione per «%(e)s» è chiusa.") % {"e": election.name})
    return problems, join


def _albo_territory(comune: Comune | None) -> Territory:
    if comune is not None and comune.federation is not None:
        return comune.federation
    return Territory.objects.get(level=Level.NATIONAL)


def register_supporter(*, actor: Any, data: SupporterData, election: AlboElection | None = None,
                       channel: str = Channel.ONLINE, now: dt.datetime | None = None) -> Supporter | None:
    """The Albo form (M3, M21). Issue 10, rule G1 and convention 16: the codice fiscale typed
    identifies nobody. A brand-new person is registered now (their continuation goes to the
    address they typed, now their registered one). A person already on file, member or not, is
    not written to at all: they get at their registered address a signed, expiring, single-use
    link (`albo_confirmation_token`) that registers them once clicked; None is returned then.
    The caller answers the same thing in both cases ("controlla la tua posta")."""
    action = "membership.register_supporter"
    now = now or timezone.now()
    problems, join = _supporter_problems(data, election, now)
    territory = _albo_territory(data.residence_comune)
    if problems:
        _refuse_many(action, problems, actor=actor, territory=territory, code="albo_invalid")
    with refusing(action, actor, territory), transaction.atomic():
        person = _find_or_create_person(join, circolo=territory, actor=actor)
        if person.was_created or people_actions.may_write_matched(actor, person, home=territory):
            return _register(person, actor=actor, territory=territory, election=election, channel=channel, now=now)
        _send_albo_confirmation(person, election=election, email=data.email, phone=data.phone, now=now)
        record("membership.albo_confirmation_sent", actor=actor, obj=person, territory=person.territory,
               data={"election": election.pk if election else None, "sent": bool(registered_email(person))})
    return None


def _register(person: Person, *, actor: Any, territory: Territory, election: AlboElection | None, channel: str,
              now: dt.datetime) -> Supporter:
    supporter, created = Supporter.objects.get_or_create(
        person=person, defaults={"territory": territory, "source": Supporter.Source.REGISTRATION,
                                 "channel": channel, "registered_at": now})
    supporter.support_declared_at = now
    supporter.contact_consent_at = now
    supporter.consent_text_version = ALBO_TEXT_VERSION
    supporter.withdrawn_at = None
    supporter.save()
    _record_contact_consent(person, actor=actor, now=now)
    if election is not None:
        ElectionRegistration.objects.get_or_create(
            supporter=supporter, election=election,
            defaults={"fee_cents": 0 if _is_member(person, now) else election.fee_cents, "registered_at": now})
    record("membership.register_supporter", actor=actor, obj=supporter, territory=territory,
           data={"created": created, "election": election.pk if election else None})
    return supporter


def _is_member(person: Person, now: dt.datetime) -> bool:
    return Membership.objects.filter(person=person, status__in=PAID_STATUSES,
                                     year=timezone.localdate(now).year).exists()


def _albo_state(person: Person) -> str:
    """What a confirmation changes (the consent log, the Albo row, the registrations): a link
    minted before works once, since its use changes this digest (single use)."""
    supporter = Supporter.objects.filter(person=person).first()
    parts = [str(person.consents.order_by("-pk").values_list("pk", flat=True).first() or 0)]
    if supporter is not None:
        parts += [str(supporter.pk), str(supporter.contact_consent_at), str(supporter.withdrawn_at),
                  ",".join(str(pk) for pk in supporter.elections.order_by("pk")
                           .values_list("pk", flat=True))]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:24]


def albo_confirmation_token(person: Person, *, election: AlboElection | None, email: str, phone: str) -> str:
    return signing.dumps({"p": person.pk, "e": election.pk if election else None, "m": email, "t": phone,
                          "s": _albo_state(person)}, salt=ALBO_CONFIRM_SALT, compress=True)


@dataclass
class AlboConfirmation:
    person: Person
    election: AlboElection | None
    email: str
    phone: str


def read_albo_confirmation(token: str) -> AlboConfirmation | None:
    """The pending registration behind an emailed link; None when forged, expired or used."""
    try:
        data = signing.loads(token, salt=ALBO_CONFIRM_SALT, max_age=ALBO_LINK_MAX_AGE)
    except signing.BadSignature:  # SignatureExpired included
        return None
    person = Person.objects.filter(pk=data.get("p"), merged_into__isnull=True).first()
    if person is None or data.get("s") != _albo_state(person):
        return None
    election = AlboElection.objects.filter(pk=data["e"]).first() if data.get("e") else None
    if data.get("e") and election is None:
        return None
    return AlboConfirmation(person=person, election=election, email=str(data.get("m", "")),
                            phone=str(data.get("t", "")))


def confirm_albo_registration(*, actor: Any, token: str, now: dt.datetime | None = None) -> Supporter:
    """The person clicked the link sent to their registered address: control of it is proved,
    so the registration, the consent and the contacts typed in the form are written now."""
    action = "membership.confirm_albo_registration"
    now = now or timezone.now()
    pending = read_albo_confirmation(token)
    if pending is None:
        refuse(action, _("Il link non è più valido: è scaduto o è già stato usato. Puoi ripetere la registrazione "
                         "dal sito."), actor=actor, code="bad_link")
        raise AssertionError
    election = pending.election
    if election is not None and not (election.opens_at <= now <= election.closes_at):
        refuse(action, _("La registrazione per «%(e)s» è chiusa.") % {"e": election.name}, actor=actor,
               territory=election.territory, code="closed")
    person = pending.person
    with refusing(action, actor, person.territory), transaction.atomic():  # update_person may refuse
        contacts = {"emails": [pending.email] if pending.email else [],
                    "phones": [pending.phone] if pending.phone else []}
        person = people_actions.update_person(actor=actor, person=person, data=contacts)
        supporter = _register(person, actor=actor, territory=_albo_territory(person.residence_comune),
                              election=election, channel=Channel.ONLINE, now=now)
        record(action, actor=actor, obj=supporter, territory=supporter.territory,
               data={"election": election.pk if election else None})
    return supporter


def _send_albo_confirmation(person: Person, *, election: AlboElection | None, email: str, phone: str,
                            now: dt.datetime) -> None:
    """To the registered address only (never the typed one): what was asked, and the link."""
    address = registered_email(person)
    if not address:
        return
    token = albo_confirmation_token(person, election=election, email=email, phone=phone)
    link = settings.SITE_URL.rstrip("/") + reverse("membership:albo_confirm", args=[token])
    what = (_("la registrazione per «%(e)s»") % {"e": election.name} if election is not None
            else _("la registrazione all'Albo delle elettrici e degli elettori"))
    if election is not None and election.fee_cents and not _is_member(person, now):
        fee = _("Dopo la conferma ti chiederemo il contributo di %(fee)s per l'elezione.") % {
            "fee": format_cents(election.fee_cents)}
    elif election is not None:
        fee = _("Come iscritto/a non devi pagare alcun contributo per l'elezione.")
    else:
        fee = ""
    subject = _("Conferma la tua registrazione all'Albo")
    body = _("Ciao %(name)s,\nabbiamo ricevuto dal sito, con il tuo codice fiscale, %(what)s (email indicata: "
             "%(email)s, cellulare: %(phone)s). Per confermarla apri questo link entro %(days)s giorni: "
             "%(link)s\n%(fee)s\n\nSe la richiesta non l'hai fatta tu, ignora questo messaggio: non abbiamo "
             "registrato nulla e i tuoi dati non sono stati cambiati né mostrati a chi l'ha inviata.") % {
        "name": person.first_name, "what": what, "email": email, "phone": phone,
        "days": ALBO_LINK_MAX_AGE.days, "link": link, "fee": fee}
    transaction.on_commit(lambda: send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [address]))


def send_albo_continuation(*, supporter: Supporter, election: AlboElection | None, payment_url: str = "") -> None:
    """A new supporter's next step, at their (just registered) address: the payment link of the
    election fee, or the confirmation that they are registered."""
    person = supporter.person
    address = registered_email(person)
    if not address:
        return
    subject = _("La tua registrazione all'Albo")
    if payment_url:
        body = _("Ciao %(name)s,\nabbiamo registrato la tua richiesta per «%(e)s». Per completarla versa il "
                 "contributo per l'elezione da questa pagina: %(link)s\n\nSe la richiesta non l'hai fatta tu, "
                 "ignora questo messaggio.") % {
            "name": person.first_name, "e": election.name if election else "", "link": payment_url}
    else:
        body = _("Ciao %(name)s,\nsei registrato/a all'Albo delle elettrici e degli elettori.%(e)s\n\nSe la "
                 "richiesta non l'hai fatta tu, scrivici rispondendo a questo messaggio.") % {
            "name": person.first_name,
            "e": (" " + _("La tua registrazione per «%(e)s» è completa.") % {"e": election.name}) if election else ""}
    transaction.on_commit(lambda: send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [address]))


def mark_election_fee_paid(*, payment: Any, registration: ElectionRegistration) -> ElectionRegistration:
    """The per-election Albo fee arrived (called by payments inside its transaction; idempotent)."""
    from piazza.membership.payments import PROVIDER_METHODS

    with transaction.atomic():
        locked = (ElectionRegistration.objects.select_for_update(of=("self",)).select_related("election", "supporter")
                  .get(pk=registration.pk))
        if locked.paid_at is not None:
            return locked
        locked.paid_at = timezone.now()
        locked.payment_id = payment.pk
        locked.payment_method = PROVIDER_METHODS.get(payment.provider, PaymentMethod.CARD)
        locked.save(update_fields=["paid_at", "payment_id", "payment_method"])
        record("membership.election_fee_paid", actor=None, obj=locked, territory=locked.election.territory,
               data={"payment": payment.pk, "fee_cents": locked.fee_cents, "election": locked.election_id})
    return locked


def election_fee_refunded(*, payment: Any, registration: ElectionRegistration) -> ElectionRegistration:
    """A refunded Albo fee: the registration for that election is no longer paid."""
    with transaction.atomic():
        locked = (ElectionRegistration.objects.select_for_update(of=("self",))
            .select_related("election").get(pk=registration.pk))
        if locked.paid_at is not None:
            locked.paid_at = None
            locked.save(update_fields=["paid_at"])
            record("membership.election_fee_refunded", actor=None, obj=locked, territory=locked.election.territory,
                   data={"payment": payment.pk})
    return locked


def _record_contact_consent(person: Person, *, actor: Any, now: dt.datetime) -> None:
    """Rule M21/G3: the explicit consent to use the contacts, in the people app's consent log."""
    people_actions.record_consent(actor=actor, person=person, purpose="political_communication", channel="web",
                                  text_version=ALBO_TEXT_VERSION, evidence="albo", at=now)
