"""Applying to join: eligibility, the application, its cancellation (M1-M4)."""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from piazza.core.audit import audited_atomic, record
from piazza.core.errors import refuse, refusing
from piazza.core.prepared import PreparedRead
from piazza.membership.fees import FeeQuote, age_on
from piazza.membership.models import (
    LIVE_STATUSES,
    Channel,
    Membership,
    Status,
    rules_for,
)
from piazza.people.actions import scope as scope_people_actions
from piazza.people.actions.notices import note_notice_acceptance
from piazza.people.codice_fiscale import canonical_codice_fiscale
from piazza.people.models import Channel as ConsentChannel
from piazza.people.models import Citizenship, ScopeRequestKind
from piazza.people.notices import version_code
from piazza.people.validation import clean_person_data
from piazza.territory.models import OPEN_TO_ALL_KINDS, Comune, Kind, Level, Role, Territory
from piazza.territory.scoping import has_role_at

from ._guards import MEMBERSHIP_ROLES, _refuse_many
from .albo import ensure_supporter
from .applicant import JoinData, _find_or_create_person, _person_data, person_data_problems, registered_email
from .parameters import quote_for, schedule_for

# Versions of the texts the person agrees to; a change of wording gets a new version. The art. 9
# authorisation (rule M4) is part of the join notice: its version comes from the notice registry
# (people.notices); rows written before it keep "art9-2022.1", which this fallback still names.
LEGACY_ART9_TEXT_VERSION = "art9-2022.1"


DECLARATIONS_TEXT_VERSION = "m15-2013.1"  # rule M15


def _date(value: dt.datetime) -> str:
    return date_format(timezone.localtime(value), "d/m/Y H:i:s")


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
        add(
            "birth_date",
            _(
                "Per iscriversi bisogna avere almeno %(min)s anni: con la data di nascita indicata "
                "ne hai %(age)s. Potrai iscriverti dal %(when)s."
            )
            % {
                "min": min_age,
                "age": age,
                "when": date_format(_birthday(data.birth_date, data.birth_date.year + min_age), "d/m/Y"),
            },
        )
    if data.citizenship == Citizenship.EU and data.residence_comune is None:
        add(
            "residence_comune",
            _(
                "I cittadini di un altro paese dell'Unione europea possono iscriversi se "
                "residenti in Italia: indica il comune italiano di residenza."
            ),
        )
    if data.citizenship == Citizenship.NON_EU_PERMIT and not data.has_residence_permit:
        add(
            "has_residence_permit",
            _(
                "Chi non è cittadino dell'Unione europea può iscriversi con un permesso di "
                "soggiorno valido: conferma di averlo."
            ),
        )
    if data.member_of_other_party:
        add(
            "member_of_other_party",
            _(
                "Chi è iscritto a un altro partito o movimento politico non può iscriversi "
                "al PD. Se hai lasciato l'altro partito, rispondi «No»."
            ),
        )
    if not data.declarations_accepted:
        add("declarations_accepted", _("Per iscriversi bisogna confermare le dichiarazioni richieste dallo statuto."))
    if not data.art9_authorised:
        add(
            "art9_authorised",
            _(
                "Senza l'autorizzazione al trattamento dei dati che rivelano l'opinione politica "
                "(GDPR art. 9) non possiamo registrare l'iscrizione."
            ),
        )
    return problems


def _birthday(birth: dt.date, year: int) -> dt.date:
    try:
        return birth.replace(year=year)
    except ValueError:  # 29 February
        return dt.date(year, 3, 1)


def _existing_membership(canonical_cf: str, year: int) -> Membership | None:
    if not canonical_cf:
        return None
    return _live_membership_by_code(year).first(canonical_cf)


@functools.cache
def _live_membership_by_code(year: int) -> PreparedRead[Membership]:
    """The live membership of `year` of a codice fiscale, latest first: every join asks it, so its SQL
    is compiled once per process (issue 14, P8, ADR 0050). One read per year, the year fixed in its
    SQL: a smallint is sent as psycopg's `Int2`, which the probes do not take for a bindable value."""
    return PreparedRead(
        Membership,
        lambda canonical_cf: Membership.objects.filter(
            person__codice_fiscale_canonical=canonical_cf, year=year, status__in=LIVE_STATUSES
        ).select_related("circolo")[:1],
    )


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
            return _(
                "Con questo codice fiscale non possiamo registrare una nuova iscrizione da qui: ti abbiamo "
                "scritto all'indirizzo registrato per spiegarti come procedere."
            )
        return _(
            "Con questo codice fiscale non si può registrare una nuova iscrizione da questo circolo: per "
            "iscriversi qui la persona chiede un trasferimento al proprio circolo."
        )
    return _(
        "Risulta già un'iscrizione per il %(year)s con questo codice fiscale (circolo %(circolo)s, stato: "
        "%(status)s). Si può avere una sola tessera all'anno: per cambiare circolo chiedi un trasferimento."
    ) % {"year": existing.year, "circolo": existing.circolo.name, "status": existing.get_status_display()}


def _tell_member_of_duplicate(existing: Membership) -> None:
    """Issue 10, rule G1: the person whose code was used learns it, at their registered address."""
    address = registered_email(existing.person)
    if not address:
        return
    subject = _("Una richiesta di iscrizione con il tuo codice fiscale")
    body = _(
        "Ciao %(name)s,\nabbiamo ricevuto dal sito una richiesta di iscrizione per il %(year)s con il tuo codice "
        "fiscale. Risulti già iscritto/a per quest'anno al %(circolo)s (stato: %(status)s), quindi non abbiamo "
        "registrato nulla: si può avere una sola tessera all'anno.\n\nSe volevi cambiare circolo, chiedi un "
        "trasferimento al tuo circolo. Se la richiesta non l'hai fatta tu, i tuoi dati non sono stati "
        "cambiati né mostrati a chi l'ha inviata; puoi segnalarlo al tuo circolo."
    ) % {
        "name": existing.person.first_name,
        "year": existing.year,
        "circolo": existing.circolo.name,
        "status": existing.get_status_display(),
    }
    transaction.on_commit(lambda: send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [address]))


def send_application_link(*, membership: Membership, status_url: str) -> None:
    """The online applicant's next step (the page where the fee is paid), by email to the
    address of the application: the public page says the same thing whoever typed the code."""
    address = registered_email(membership.person)
    if not address:
        return
    subject = _("La tua domanda di iscrizione %(year)s") % {"year": membership.year}
    body = _(
        "Ciao %(name)s,\nabbiamo registrato la tua domanda di iscrizione per il %(year)s al %(circolo)s. Per "
        "completarla paga la quota da questa pagina, dove potrai seguire l'iscrizione e ricevere la tessera: "
        "%(link)s\n\nSe la domanda non l'hai fatta tu, ignora questo messaggio: senza il pagamento "
        "l'iscrizione non è valida."
    ) % {
        "name": membership.person.first_name,
        "year": membership.year,
        "circolo": membership.circolo.name,
        "link": status_url,
    }
    transaction.on_commit(lambda: send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [address]))
    record(
        "membership.application_link_sent",
        actor=None,
        obj=membership,
        territory=membership.circolo,
        data={"year": membership.year},
    )


def apply_for_membership(
    *,
    actor: Any,
    data: JoinData,
    circolo: Territory,
    channel: str = Channel.ONLINE,
    year: int | None = None,
    now: dt.datetime | None = None,
    is_renewal: bool = False,
    registered_by: Any = None,
) -> Membership:
    """Create a membership application (state `applied`, rule M13) after every check.

    Bad input never writes anything but the audit entry of the refused attempt.
    """
    checked = _check_application(actor=actor, data=data, circolo=circolo, channel=channel, year=year, now=now)
    return _write_application(
        checked,
        actor=actor,
        data=data,
        circolo=circolo,
        channel=channel,
        is_renewal=is_renewal,
        registered_by=registered_by,
    )


@dataclass(frozen=True)
class _Checked:
    year: int
    now: dt.datetime
    quote: FeeQuote
    canonical: str


def _check_application(
    *, actor: Any, data: JoinData, circolo: Territory, channel: str, year: int | None, now: dt.datetime | None
) -> _Checked:
    """Every check of an application, before any transaction: a refusal leaves its audit entry
    (and, for a person of another territory, the request to that territory, G1)."""
    action = "membership.apply"
    now = now or timezone.now()
    today = timezone.localdate(now)
    year = year or today.year
    if circolo.level != Level.CIRCOLO or not circolo.is_open:
        refuse(
            action,
            _("Scegli un circolo aperto."),
            actor=actor,
            territory=circolo,
            code="not_a_circolo",
            field="circolo",
        )
    schedule = schedule_for(year)
    if schedule is None or now < schedule.opens_at:
        refuse(
            action,
            _("Il tesseramento %(year)s non è ancora aperto.") % {"year": year},
            actor=actor,
            territory=circolo,
            code="not_open",
        )
        raise AssertionError
    if schedule.closes_at is not None and now > schedule.closes_at:
        refuse(
            action,
            _("Il tesseramento %(year)s si è chiuso il %(when)s: non si accettano più iscrizioni per quest'anno.")
            % {"year": year, "when": _date(schedule.closes_at)},
            actor=actor,
            territory=circolo,
            code="after_cut_off",
        )
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
        refuse(
            action,
            _(
                "Il circolo %(circolo)s non copre il tuo comune di residenza (%(comune)s). Scegli un circolo "
                "del tuo comune, un circolo online o tematico, o un Punto PD; per iscriverti altrove per "
                "motivi di lavoro o studio chiedi poi un trasferimento."
            )
            % {"circolo": circolo.name, "comune": comune},
            actor=actor,
            territory=circolo,
            code="circolo_not_allowed",
            field="circolo",
        )
    if channel != Channel.ONLINE:
        # Issue 10, rule G1: at the desk, a person of another territory is neither attached nor
        # written to; what the secretary typed goes to that person's territory as a request.
        scope_people_actions.guard_other_territory(
            action=action,
            actor=actor,
            cleaned=clean_person_data(_person_data(data)),
            territory=circolo,
            kind=ScopeRequestKind.MEMBERSHIP,
            roles=MEMBERSHIP_ROLES | {Role.TREASURY},
            extra={"circolo": circolo.name, "year": year, "channel": channel},
        )
    canonical = canonical_codice_fiscale(data.codice_fiscale)
    existing = _existing_membership(canonical, year)
    if existing is not None:
        if channel == Channel.ONLINE:
            _tell_member_of_duplicate(existing)
        refuse(
            action,
            _duplicate_message(existing, actor=actor, channel=channel),
            actor=actor,
            territory=circolo,
            code=PUBLIC_DUPLICATE_CODE,
            field="codice_fiscale",
        )
    return _Checked(year=year, now=now, quote=quote_for(schedule, circolo, data.birth_date, today), canonical=canonical)


def _write_application(
    checked: _Checked,
    *,
    actor: Any,
    data: JoinData,
    circolo: Territory,
    channel: str,
    is_renewal: bool,
    registered_by: Any,
) -> Membership:
    """The writes of an application checked by `_check_application` (one transaction)."""
    action = "membership.apply"
    year, now, quote, canonical = checked.year, checked.now, checked.quote, checked.canonical
    try:
        # A refusal of the people app inside the block is audited after its rollback (issue 11, item 23).
        # The person's entry and the application's are written together at the end (ADR 0032).
        with refusing(action, actor, circolo), audited_atomic():
            person = _find_or_create_person(data, circolo=circolo, actor=actor)
            membership = Membership.objects.create(
                person=person,
                year=year,
                circolo=circolo,
                status=Status.APPLIED,
                channel=channel,
                is_renewal=is_renewal,
                currency=quote.currency,
                fee_cents=quote.total_cents,
                national_cents=quote.national_cents,
                territorial_cents=quote.territorial_cents,
                fee_explanation=quote.as_dict(),
                art9_authorised_at=now,
                art9_text_version=version_code("join", data.notice, legacy=LEGACY_ART9_TEXT_VERSION),
                art9_channel=channel,
                declarations_at=now,
                declarations_text_version=DECLARATIONS_TEXT_VERSION,
                applied_at=now,
                registered_by=registered_by,
                # Joining is refused above when the circolo does not cover the residence (M10), so
                # a new membership is never out of area; an approved transfer (M23) sets it.
                out_of_area=False,
            )
            ensure_supporter(person=person, territory=circolo, channel=channel, now=now)
            if data.notice is not None:
                note_notice_acceptance(
                    version=data.notice,
                    channel=ConsentChannel.PAPER if channel == Channel.CIRCOLO else ConsentChannel.WEB,
                    person=person,
                    source=membership,
                    recorded_by=registered_by,
                )
            # One audit entry says it all (the Albo entry of M1 included); the person's timeline
            # gets its entry when the fee is paid (P8: fewer writes per join).
            record(
                action,
                actor=actor,
                obj=membership,
                territory=circolo,
                data={
                    "year": year,
                    "channel": channel,
                    "fee_cents": quote.total_cents,
                    "reduced": quote.reduced,
                    "renewal": is_renewal,
                    "albo": True,
                    "notice": data.notice.code if data.notice is not None else "",
                },
            )
    except IntegrityError:
        # A concurrent application for the same person and year won the race (DB constraint).
        existing = _existing_membership(canonical, year)
        if existing is not None and channel == Channel.ONLINE:
            _tell_member_of_duplicate(existing)
        refuse(
            action,
            _duplicate_message(existing, actor=actor, channel=channel) if existing else _("Iscrizione già presente."),
            actor=actor,
            territory=circolo,
            code=PUBLIC_DUPLICATE_CODE,
            field="codice_fiscale",
        )
        raise
    return membership


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
