"""Supporters and the register of voters (albo) for open elections."""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core import signing
from django.core.mail import send_mail
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from piazza.compliance import receipts as compliance_receipts
from piazza.core.audit import record
from piazza.core.errors import refuse, refusing
from piazza.membership.fees import age_on, format_cents
from piazza.membership.models import (
    PAID_STATUSES,
    AlboElection,
    Channel,
    ElectionRegistration,
    Membership,
    PaymentMethod,
    Supporter,
)
from piazza.people.actions import consent as consent_people_actions
from piazza.people.actions import person as person_people_actions
from piazza.people.actions.notices import note_notice_acceptance
from piazza.people.models import Channel as ConsentChannel
from piazza.people.models import Citizenship, NoticeVersion, Person
from piazza.people.notices import version_code
from piazza.territory.models import Comune, Level, Role, Territory
from piazza.territory.scoping import has_role_at

from ._guards import _refuse_many
from .applicant import JoinData, _find_or_create_person, person_data_problems, registered_email

# Rules M3, M21: the consent text is the Albo notice, its version from the notice registry
# (people.notices); rows written before it carry "albo-2023.1", the fallback below.
LEGACY_ALBO_TEXT_VERSION = "albo-2023.1"


def create_albo_election(
    *, actor: Any, territory: Territory, name: str, fee_cents: int, opens_at: dt.datetime, closes_at: dt.datetime
) -> AlboElection:
    """An election (primaries) whose Albo registration asks non-members for a fee (2023: €2)."""
    action = "membership.create_albo_election"
    if territory.level == Level.CIRCOLO or not has_role_at(actor, territory, {Role.ORGANISATION, Role.ADMINISTRATOR}):
        refuse(
            action,
            _("Un'elezione dell'Albo la indice l'organizzazione nazionale, regionale o della federazione."),
            actor=actor,
            territory=territory,
            code="out_of_scope",
            permission=True,
        )
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
        election = AlboElection.objects.create(
            name=name.strip(), territory=territory, fee_cents=fee_cents, opens_at=opens_at, closes_at=closes_at
        )
        record(
            action,
            actor=actor,
            obj=election,
            territory=territory,
            data={"fee_cents": fee_cents, "opens_at": opens_at.isoformat(), "closes_at": closes_at.isoformat()},
        )
    return election


# --- Supporters' register (Albo, M1, M3, M21) -------------------------------------------


def ensure_supporter(
    *, person: Person, territory: Territory, channel: str = Channel.ONLINE, now: dt.datetime | None = None
) -> None:
    """Rule M1: every member is also in the Albo. One INSERT … ON CONFLICT DO NOTHING (the person
    is unique in the Albo), audited by the caller's entry."""
    Supporter.objects.bulk_create(
        [
            Supporter(
                person=person,
                territory=territory,
                source=Supporter.Source.MEMBER,
                channel=channel,
                registered_at=now or timezone.now(),
            )
        ],
        ignore_conflicts=True,
    )


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
    notice: NoticeVersion | None = None  # the privacy notice version the form showed (GDPR art. 13)


ALBO_CONFIRM_SALT = "membership.albo-confirm"


ALBO_LINK_MAX_AGE = dt.timedelta(days=3)  # how long the emailed confirmation link works


def _supporter_problems(
    data: SupporterData, election: AlboElection | None, now: dt.datetime
) -> tuple[dict[str, list[str]], JoinData]:
    """Rules M3, M21 and the people app's validation: input checks only, the same whoever the
    code belongs to (issue 10, G1), so a refusal reveals nothing about the database."""
    problems: dict[str, list[str]] = {}
    if data.citizenship == Citizenship.EU and data.residence_comune is None:
        problems["residence_comune"] = [
            _("I cittadini di un altro paese dell'Unione europea si registrano all'Albo se residenti in Italia.")
        ]
    if data.citizenship == Citizenship.NON_EU_PERMIT and not data.has_residence_permit:
        problems["has_residence_permit"] = [_("Serve un permesso di soggiorno valido.")]
    if age_on(data.birth_date, timezone.localdate(now)) < 16:
        problems["birth_date"] = [_("Per registrarsi all'Albo bisogna avere almeno 16 anni.")]
    if not data.declares_support:
        problems["declares_support"] = [
            _("La registrazione all'Albo richiede di dichiarare il sostegno al partito alle elezioni.")
        ]
    if not data.consents_to_contact:
        problems["consents_to_contact"] = [
            _("Serve il consenso esplicito all'uso di email e cellulare per le comunicazioni dell'Albo.")
        ]
    if not data.email.strip():
        problems["email"] = [_("Indica un indirizzo email.")]
    if not data.phone.strip():
        problems["phone"] = [_("Indica un numero di cellulare.")]
    join = JoinData(
        first_name=data.first_name,
        last_name=data.last_name,
        birth_date=data.birth_date,
        codice_fiscale=data.codice_fiscale,
        citizenship=data.citizenship,
        birth_comune=data.birth_comune,
        birth_country=data.birth_country,
        residence_street=data.residence_street,
        residence_cap=data.residence_cap,
        residence_comune=data.residence_comune,
        email=data.email,
        phone=data.phone,
    )
    for name, messages in person_data_problems(join).items():
        problems.setdefault(name, []).extend(messages)
    if election is not None and not (election.opens_at <= now <= election.closes_at):
        problems.setdefault("election", []).append(_("La registrazione per «%(e)s» è chiusa.") % {"e": election.name})
    return problems, join


def _albo_territory(comune: Comune | None) -> Territory:
    if comune is not None and comune.federation is not None:
        return comune.federation
    return Territory.objects.get(level=Level.NATIONAL)


def register_supporter(
    *,
    actor: Any,
    data: SupporterData,
    election: AlboElection | None = None,
    channel: str = Channel.ONLINE,
    now: dt.datetime | None = None,
) -> Supporter | None:
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
        if person.was_created or person_people_actions.may_write_matched(actor, person, home=territory):
            return _register(
                person,
                actor=actor,
                territory=territory,
                election=election,
                channel=channel,
                now=now,
                notice=data.notice,
            )
        _send_albo_confirmation(
            person, election=election, email=data.email, phone=data.phone, now=now, notice=data.notice
        )
        record(
            "membership.albo_confirmation_sent",
            actor=actor,
            obj=person,
            territory=person.territory,
            data={"election": election.pk if election else None, "sent": bool(registered_email(person))},
        )
    return None


def _register(
    person: Person,
    *,
    actor: Any,
    territory: Territory,
    election: AlboElection | None,
    channel: str,
    now: dt.datetime,
    notice: NoticeVersion | None = None,
) -> Supporter:
    supporter, created = Supporter.objects.get_or_create(
        person=person,
        defaults={
            "territory": territory,
            "source": Supporter.Source.REGISTRATION,
            "channel": channel,
            "registered_at": now,
        },
    )
    supporter.support_declared_at = now
    supporter.contact_consent_at = now
    supporter.consent_text_version = version_code("albo", notice, legacy=LEGACY_ALBO_TEXT_VERSION)
    supporter.withdrawn_at = None
    supporter.save()
    _record_contact_consent(person, actor=actor, now=now, text_version=supporter.consent_text_version)
    if notice is not None:
        note_notice_acceptance(
            version=notice,
            channel=ConsentChannel.PAPER if channel == Channel.CIRCOLO else ConsentChannel.WEB,
            person=person,
            source=supporter,
        )
    if election is not None:
        ElectionRegistration.objects.get_or_create(
            supporter=supporter,
            election=election,
            defaults={"fee_cents": 0 if _is_member(person, now) else election.fee_cents, "registered_at": now},
        )
    record(
        "membership.register_supporter",
        actor=actor,
        obj=supporter,
        territory=territory,
        data={"created": created, "election": election.pk if election else None},
    )
    return supporter


def _is_member(person: Person, now: dt.datetime) -> bool:
    return Membership.objects.filter(
        person=person, status__in=PAID_STATUSES, year=timezone.localdate(now).year
    ).exists()


def _albo_state(person: Person) -> str:
    """What a confirmation changes (the consent log, the Albo row, the registrations): a link
    minted before works once, since its use changes this digest (single use)."""
    supporter = Supporter.objects.filter(person=person).first()
    parts = [str(person.consents.order_by("-pk").values_list("pk", flat=True).first() or 0)]
    if supporter is not None:
        parts += [
            str(supporter.pk),
            str(supporter.contact_consent_at),
            str(supporter.withdrawn_at),
            ",".join(str(pk) for pk in supporter.elections.order_by("pk").values_list("pk", flat=True)),
        ]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:24]


def albo_confirmation_token(
    person: Person, *, election: AlboElection | None, email: str, phone: str, notice: NoticeVersion | None = None
) -> str:
    return signing.dumps(
        {
            "p": person.pk,
            "e": election.pk if election else None,
            "m": email,
            "t": phone,
            "s": _albo_state(person),
            "n": notice.pk if notice is not None else None,
        },
        salt=ALBO_CONFIRM_SALT,
        compress=True,
    )


@dataclass
class AlboConfirmation:
    person: Person
    election: AlboElection | None
    email: str
    phone: str
    notice: NoticeVersion | None = None  # the notice version the form showed, recorded on confirmation


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
    notice = NoticeVersion.objects.filter(pk=data["n"]).select_related("notice").first() if data.get("n") else None
    return AlboConfirmation(
        person=person, election=election, email=str(data.get("m", "")), phone=str(data.get("t", "")), notice=notice
    )


def confirm_albo_registration(*, actor: Any, token: str, now: dt.datetime | None = None) -> Supporter:
    """The person clicked the link sent to their registered address: control of it is proved,
    so the registration, the consent and the contacts typed in the form are written now."""
    action = "membership.confirm_albo_registration"
    now = now or timezone.now()
    pending = read_albo_confirmation(token)
    if pending is None:
        refuse(
            action,
            _("Il link non è più valido: è scaduto o è già stato usato. Puoi ripetere la registrazione dal sito."),
            actor=actor,
            code="bad_link",
        )
        raise AssertionError
    election = pending.election
    if election is not None and not (election.opens_at <= now <= election.closes_at):
        refuse(
            action,
            _("La registrazione per «%(e)s» è chiusa.") % {"e": election.name},
            actor=actor,
            territory=election.territory,
            code="closed",
        )
    person = pending.person
    with refusing(action, actor, person.territory), transaction.atomic():  # update_person may refuse
        contacts = {
            "emails": [pending.email] if pending.email else [],
            "phones": [pending.phone] if pending.phone else [],
        }
        person = person_people_actions.update_person(actor=actor, person=person, data=contacts)
        supporter = _register(
            person,
            actor=actor,
            territory=_albo_territory(person.residence_comune),
            election=election,
            channel=Channel.ONLINE,
            now=now,
            notice=pending.notice,
        )
        record(
            action,
            actor=actor,
            obj=supporter,
            territory=supporter.territory,
            data={"election": election.pk if election else None},
        )
    return supporter


def _send_albo_confirmation(
    person: Person,
    *,
    election: AlboElection | None,
    email: str,
    phone: str,
    now: dt.datetime,
    notice: NoticeVersion | None = None,
) -> None:
    """To the registered address only (never the typed one): what was asked, and the link."""
    address = registered_email(person)
    if not address:
        return
    token = albo_confirmation_token(person, election=election, email=email, phone=phone, notice=notice)
    link = settings.SITE_URL.rstrip("/") + reverse("membership:albo_confirm", args=[token])
    what = (
        _("la registrazione per «%(e)s»") % {"e": election.name}
        if election is not None
        else _("la registrazione all'Albo delle elettrici e degli elettori")
    )
    if election is not None and election.fee_cents and not _is_member(person, now):
        fee = _("Dopo la conferma ti chiederemo il contributo di %(fee)s per l'elezione.") % {
            "fee": format_cents(election.fee_cents)
        }
    elif election is not None:
        fee = _("Come iscritto/a non devi pagare alcun contributo per l'elezione.")
    else:
        fee = ""
    subject = _("Conferma la tua registrazione all'Albo")
    body = _(
        "Ciao %(name)s,\nabbiamo ricevuto dal sito, con il tuo codice fiscale, %(what)s (email indicata: "
        "%(email)s, cellulare: %(phone)s). Per confermarla apri questo link entro %(days)s giorni: "
        "%(link)s\n%(fee)s\n\nSe la richiesta non l'hai fatta tu, ignora questo messaggio: non abbiamo "
        "registrato nulla e i tuoi dati non sono stati cambiati né mostrati a chi l'ha inviata."
    ) % {
        "name": person.first_name,
        "what": what,
        "email": email,
        "phone": phone,
        "days": ALBO_LINK_MAX_AGE.days,
        "link": link,
        "fee": fee,
    }
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
        body = _(
            "Ciao %(name)s,\nabbiamo registrato la tua richiesta per «%(e)s». Per completarla versa il "
            "contributo per l'elezione da questa pagina: %(link)s\n\nSe la richiesta non l'hai fatta tu, "
            "ignora questo messaggio."
        ) % {"name": person.first_name, "e": election.name if election else "", "link": payment_url}
    else:
        body = _(
            "Ciao %(name)s,\nsei registrato/a all'Albo delle elettrici e degli elettori.%(e)s\n\nSe la "
            "richiesta non l'hai fatta tu, scrivici rispondendo a questo messaggio."
        ) % {
            "name": person.first_name,
            "e": (" " + _("La tua registrazione per «%(e)s» è completa.") % {"e": election.name}) if election else "",
        }
    transaction.on_commit(lambda: send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [address]))


def mark_election_fee_paid(*, payment: Any, registration: ElectionRegistration) -> ElectionRegistration:
    """The per-election Albo fee arrived (called by payments inside its transaction; idempotent)."""
    from piazza.membership.payments import PROVIDER_METHODS

    with transaction.atomic():
        locked = (
            ElectionRegistration.objects.select_for_update(of=("self",))
            .select_related("election", "supporter")
            .get(pk=registration.pk)
        )
        if locked.paid_at is not None:
            return locked
        locked.paid_at = timezone.now()
        locked.payment_id = payment.pk
        locked.payment_method = PROVIDER_METHODS.get(payment.provider, PaymentMethod.CARD)
        locked.save(update_fields=["paid_at", "payment_id", "payment_method"])
        record(
            "membership.election_fee_paid",
            actor=None,
            obj=locked,
            territory=locked.election.territory,
            data={"payment": payment.pk, "fee_cents": locked.fee_cents, "election": locked.election_id},
        )
        compliance_receipts.issue_receipts_for("membership.electionregistration", locked.pk, actor=None)  # rule F3
    return locked


def election_fee_refunded(
    *, payment: Any, registration: ElectionRegistration, refund: Any = None
) -> ElectionRegistration:
    """A refunded Albo fee: the registration for that election is no longer paid; its receipt gets a
    numbered cancellation for the amount refunded (rule F3)."""
    with transaction.atomic():
        if refund is not None:
            compliance_receipts.cancel_receipts_for(
                "membership.electionregistration",
                registration.pk,
                actor=None,
                key=f"refund:{refund.pk}",
                amount_cents=refund.amount_cents,
                reason=refund.reason or "Rimborso del contributo per l'Albo",
            )
        locked = (
            ElectionRegistration.objects.select_for_update(of=("self",))
            .select_related("election")
            .get(pk=registration.pk)
        )
        if locked.paid_at is not None:
            locked.paid_at = None
            locked.save(update_fields=["paid_at"])
            record(
                "membership.election_fee_refunded",
                actor=None,
                obj=locked,
                territory=locked.election.territory,
                data={"payment": payment.pk},
            )
    return locked


def _record_contact_consent(person: Person, *, actor: Any, now: dt.datetime, text_version: str) -> None:
    """Rule M21/G3: the explicit consent to use the contacts, in the people app's consent log."""
    consent_people_actions.record_consent(
        actor=actor,
        person=person,
        purpose="political_communication",
        channel="web",
        text_version=text_version,
        evidence="albo",
        at=now,
    )
