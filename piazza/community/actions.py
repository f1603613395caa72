"""Every write of Il mio spazio (convention 1). The actor is the person, proved by the link they
opened (convention 16); they are not a Django user, so the audit entry has no user and names the
person as its object, with `via: il_mio_spazio`. Writes to other apps' records go through those
apps' actions (consents, schedules, devices, requests to the circolo)."""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from webauthn import verify_authentication_response, verify_registration_response
from webauthn.helpers import bytes_to_base64url
from webauthn.helpers.exceptions import (
    InvalidAuthenticationResponse,
    InvalidCBORData,
    InvalidJSONStructure,
    InvalidRegistrationResponse,
)

from piazza.community import passkeys, queries, tasks
from piazza.community.emails import send_email_change_link, send_email_changed_notice
from piazza.community.links import new_link
from piazza.community.models import (
    ChallengePurpose,
    Follow,
    LinkPurpose,
    Passkey,
    PasskeyChallenge,
    SpaceLink,
    token_digest,
)
from piazza.compliance.models import Candidacy
from piazza.core.audit import record
from piazza.core.errors import Refused, refuse, refusing
from piazza.core.models import AuditKind
from piazza.core.money import Money, MoneyError
from piazza.core.tasks import enqueue_on_commit
from piazza.core.throttle import HitLimiter
from piazza.funding.actions import monthly as monthly_funding
from piazza.funding.models import Campaign, Donation, UpdateSubscription
from piazza.payments.actions import devices as devices_payments
from piazza.payments.actions import method_change as method_change_payments
from piazza.payments.actions import recurring as recurring_payments
from piazza.payments.models import MethodChange, MethodDevice, RecurringSchedule
from piazza.people.actions import consent as consent_people
from piazza.people.actions import person as person_people
from piazza.people.actions import scope as scope_people
from piazza.people.actions.notices import note_notice_acceptance
from piazza.people.models import (
    Channel,
    Email,
    NoticeAcceptance,
    NoticeVersion,
    Person,
    Phone,
    Purpose,
    ScopeRequestKind,
)
from piazza.people.notices import version_code
from piazza.people.validation import normalise_email, normalise_phone
from piazza.territory.models import Territory

VIA = "il_mio_spazio"


def request_sign_in_link(*, actor: Any, email: str) -> None:
    """Someone asked for a sign-in link for `email`: the link itself is issued by a task (see
    `links`), so this request does the same work whatever the address."""
    address = email.strip().lower()
    with transaction.atomic():
        record("community.request_link", actor=actor)
        enqueue_on_commit(tasks.issue_sign_in_link, address)


def _spend(*, action: str, actor: Any, raw: str, purpose: str) -> SpaceLink:
    """Spend a link once (a conditional UPDATE: single use under concurrency), or refuse it with
    what to do next (the refusal's audit entry is written outside any rollback)."""
    now = timezone.now()
    digest = token_digest(raw) if raw and len(raw) <= 200 else ""
    links = SpaceLink.objects.filter(token_hash=digest, purpose=purpose)
    if digest and links.filter(used_at__isnull=True, expires_at__gt=now).update(used_at=now):
        return links.select_related("person__territory").get()
    link = links.first() if digest else None
    if link is not None and link.used_at is not None:
        message, code = _("Questo link è già stato usato: ogni link vale una volta sola. Chiedine uno nuovo."), "used"
    elif link is not None:
        message = _("Questo link è scaduto (vale %(minutes)d minuti): chiedine uno nuovo.") % {
            "minutes": settings.COMMUNITY_LINK_MINUTES
        }
        code = "expired"
    else:
        message, code = _("Questo link non è valido: chiedine uno nuovo."), "unknown"
    refuse(action, message, actor=actor, code=code)
    raise AssertionError  # unreachable: refuse() raises


def _live(person: Person) -> bool:
    return person.erased_at is None and person.merged_into_id is None


def open_sign_in_link(*, actor: Any, raw: str) -> Person:
    """Spend a sign-in link: the person whose space this browser may now open. Clicking it
    proves the address is theirs, so that address is marked verified on their record."""
    action = "community.sign_in"
    link = _spend(action=action, actor=actor, raw=raw, purpose=LinkPurpose.SIGN_IN)
    person = link.person
    if not _live(person):
        refuse(action, _("Questa scheda non è più attiva: chiedi un nuovo link."), actor=actor, code="inactive")
    with transaction.atomic():
        verified = Email.objects.filter(person=person, value__iexact=link.email, verified=False).update(verified=True)
        record(
            action,
            actor=actor,
            obj=person,
            territory=person.territory,
            kind=AuditKind.AUTH,
            data={"via": VIA, "link": link.pk, "verified_now": bool(verified)},
        )
    return person


def sign_out(*, actor: Any, person: Person, reason: str = "button") -> None:
    with transaction.atomic():
        record(
            "community.sign_out",
            actor=actor,
            obj=person,
            territory=person.territory,
            kind=AuditKind.AUTH,
            data={"via": VIA, "reason": reason},
        )


def note_view(*, actor: Any, person: Person) -> None:
    """The person opened their own page. Logged like any view of personal data (rule G4), so the
    person's own access history and a stolen link's use are both on record."""
    with transaction.atomic():
        record(
            "community.view_space",
            actor=actor,
            obj=person,
            territory=person.territory,
            kind=AuditKind.VIEW,
            data={"via": VIA},
        )


# The space's consent text before the notice registry (people.notices): older rows carry it.
LEGACY_SPACE_TEXT_VERSION = "mio-spazio-2026.1"


def set_consent(*, actor: Any, person: Person, purpose: str, give: bool, notice: NoticeVersion | None = None) -> Any:
    """Rule G3: give or withdraw one purpose in one click, as easy either way. A new Consent row
    (never an edit) on the web channel, with the version of the space's notice shown next to
    the button (`notice`; else the one in force) and the source."""
    if purpose not in Purpose.values:
        refuse(
            "community.set_consent",
            _("Finalità sconosciuta: ricarica la pagina e riprova."),
            actor=actor,
            territory=person.territory,
            code="unknown_purpose",
        )
    version = version_code("space", notice, legacy=LEGACY_SPACE_TEXT_VERSION)
    if give:
        if notice is not None:
            with transaction.atomic():
                given = consent_people.record_consent(
                    actor=actor,
                    person=person,
                    purpose=purpose,
                    channel=Channel.WEB,
                    text_version=version,
                    evidence="da Il mio spazio",
                    source=VIA,
                )
                if not NoticeAcceptance.objects.filter(person=person, version=notice).exists():
                    note_notice_acceptance(version=notice, channel=Channel.WEB, person=person, source=given)
            return given
        return consent_people.record_consent(
            actor=actor,
            person=person,
            purpose=purpose,
            channel=Channel.WEB,
            text_version=version,
            evidence="da Il mio spazio",
            source=VIA,
        )
    return consent_people.withdraw_consent(
        actor=actor,
        person=person,
        purpose=purpose,
        channel=Channel.WEB,
        text_version=version,
        evidence=f"[{VIA}] da Il mio spazio",
    )


def _own_schedule(person: Person, schedule_id: int) -> RecurringSchedule:
    schedule = queries.person_schedules(person).filter(pk=schedule_id).first()
    if schedule is None:
        refuse(
            "community.cancel_schedule",
            _("Questa donazione ricorrente non risulta tra le tue."),
            actor=None,
            territory=person.territory,
            code="not_owner",
            permission=True,
        )
        raise AssertionError  # unreachable
    return schedule


def cancel_schedule(*, actor: Any, person: Person, schedule_id: int) -> RecurringSchedule:
    """Stop one of the person's monthly gifts: the payments action (which tells funding)."""
    schedule = _own_schedule(person, schedule_id)
    return recurring_payments.cancel_schedule(actor=actor, schedule=schedule, via=VIA)  # type: ignore[no-any-return]


def resume_schedule(*, actor: Any, person: Person, schedule_id: int) -> RecurringSchedule:
    schedule = _own_schedule(person, schedule_id)
    return recurring_payments.resume_schedule(actor=actor, schedule=schedule, via=VIA)  # type: ignore[no-any-return]


def change_monthly_amount(*, actor: Any, person: Person, schedule_id: int, amount_text: str) -> Any:
    """A new amount for one of the person's monthly gifts, from the next charge on (funding's
    action: its minimum and the F6 cap; payments then changes the schedule)."""
    action = "community.change_amount"
    schedule = _own_schedule(person, schedule_id)
    series = Donation.objects.filter(payment__schedule=schedule, parent__isnull=True).first()
    if series is None:
        refuse(
            action,
            _("L'importo di questo addebito ricorrente non si cambia da qui: scrivi al tuo circolo."),
            actor=actor,
            territory=person.territory,
            code="not_a_gift",
        )
        raise AssertionError  # unreachable
    try:
        amount = Money.parse(amount_text)
    except MoneyError as exc:
        refuse(
            action,
            _("Scrivi l'importo in euro, per esempio 15 oppure 12,50."),
            actor=actor,
            territory=person.territory,
            code="bad_amount",
            field="amount",
        )
        raise AssertionError from exc  # unreachable
    if not amount.is_positive():
        refuse(
            action,
            _("L'importo deve essere maggiore di zero."),
            actor=actor,
            territory=person.territory,
            code="bad_amount",
            field="amount",
        )
    return monthly_funding.change_monthly_amount(actor=actor, donation=series, amount_cents=amount.cents, via=VIA)


def start_card_change(*, actor: Any, person: Person, schedule_id: int) -> MethodChange:
    """ "Cambia carta" on one of the person's recurring gifts: a card setup at the gift's provider
    (payments' action); the schedule keeps its card until the new one is confirmed."""
    schedule = _own_schedule(person, schedule_id)
    return method_change_payments.start_method_change(actor=actor, schedule=schedule, via=VIA)


def own_card_change(person: Person, token: str) -> MethodChange | None:
    """A card change of one of the person's own schedules, by its token; None for anyone else's."""
    return (
        MethodChange.objects.filter(token=token[:40], schedule__in=queries.person_schedules(person))
        .select_related("schedule__saved_method", "schedule__territory")
        .first()
    )


def confirm_card_change(*, actor: Any, person: Person, change: MethodChange, data: dict[str, Any]) -> MethodChange:
    """The new card typed on our page (providers with a card form of ours: the sandbox)."""
    return method_change_payments.confirm_method_change(actor=actor, change=change, data=data, via=VIA)


def card_change_returned(*, actor: Any, person: Person, change: MethodChange, final: bool) -> tuple[MethodChange, Any]:
    """The provider's confirmation page (Stripe.js) sent the person back, or the page re-reads the
    setup: re-fetched from the provider, never taken from the query string."""
    return method_change_payments.sync_method_change(actor=actor, change=change, final=final, via=VIA)


def revoke_device(*, actor: Any, person: Person, device_id: int) -> bool:
    """A browser allowed to give in one click with one of the person's saved methods stops being so."""
    device = MethodDevice.objects.filter(pk=device_id, method__in=queries.person_methods(person)).first()
    if device is None:
        refuse(
            "community.revoke_device",
            _("Questo dispositivo non risulta tra i tuoi."),
            actor=actor,
            territory=person.territory,
            code="not_owner",
            permission=True,
        )
        raise AssertionError  # unreachable
    return devices_payments.revoke_device_by_id(actor=actor, device_id=device.pk, reason=VIA)


def request_email_change(*, actor: Any, person: Person, email: str) -> SpaceLink:
    """A new address changes nothing until its owner clicks the link sent to it (convention 16)."""
    action = "community.request_email_change"
    try:
        address = normalise_email(email)
    except ValueError as exc:
        refuse(action, str(exc), actor=actor, territory=person.territory, code="bad_email", field="email")
        raise AssertionError from exc  # unreachable
    if Email.objects.filter(person=person, value__iexact=address, primary=True).exists():
        refuse(
            action,
            _("È già il tuo indirizzo principale: non c'è niente da cambiare."),
            actor=actor,
            territory=person.territory,
            code="same_email",
            field="email",
        )
    window = int(settings.COMMUNITY_LINKS_WINDOW_SECONDS)
    if HitLimiter("space-email-change", int(settings.COMMUNITY_LINKS_PER_ADDRESS), window).over(str(person.pk)):
        refuse(
            action,
            _("Hai chiesto troppi cambi di indirizzo in poco tempo: riprova tra un'ora."),
            actor=actor,
            territory=person.territory,
            code="throttled",
            field="email",
        )
    with transaction.atomic():
        link, raw = new_link(person=person, purpose=LinkPurpose.EMAIL_CHANGE, email=address)
        record(action, actor=actor, obj=person, territory=person.territory, data={"via": VIA, "link": link.pk})
        enqueue_on_commit(send_email_change_link, link.pk, raw)
    return link


def confirm_email_change(*, actor: Any, raw: str) -> Person:
    """The new address's owner clicked: it becomes the verified primary address. The old one stays
    on the record as a secondary address (history; the circolo may still know it)."""
    action = "community.change_email"
    link = _spend(action=action, actor=actor, raw=raw, purpose=LinkPurpose.EMAIL_CHANGE)
    person = link.person
    if not _live(person):
        refuse(action, _("Questa scheda non è più attiva."), actor=actor, code="inactive")
    with transaction.atomic():
        previous = Email.objects.filter(person=person, primary=True).exclude(value=link.email).first()
        Email.objects.filter(person=person, primary=True).update(primary=False)
        row, _created = Email.objects.get_or_create(person=person, value=link.email)
        row.primary, row.verified = True, True
        row.save(update_fields=["primary", "verified"])
        person_people.add_timeline_entry(
            person, kind="contact", actor=actor, summary=_("Email cambiata da Il mio spazio"), data={"via": VIA}
        )
        record(action, actor=actor, obj=person, territory=person.territory, data={"via": VIA, "link": link.pk})
        if previous is not None:  # the old address hears of it: a change it did not ask for shows up
            enqueue_on_commit(send_email_changed_notice, previous.value)
    return person


def change_phone(*, actor: Any, person: Person, phone: str) -> Person:
    """The person's main phone number (an empty value removes it as main number)."""
    action = "community.change_phone"
    value = ""
    if phone.strip():
        try:
            value = normalise_phone(phone)
        except ValueError as exc:
            refuse(action, str(exc), actor=actor, territory=person.territory, code="bad_phone", field="phone")
    with transaction.atomic():
        Phone.objects.filter(person=person, primary=True).update(primary=False)
        if value:
            row, _created = Phone.objects.get_or_create(person=person, value=value)
            row.primary = True
            row.save(update_fields=["primary"])
        person_people.add_timeline_entry(
            person, kind="contact", actor=actor, summary=_("Telefono cambiato da Il mio spazio"), data={"via": VIA}
        )
        record(action, actor=actor, obj=person, territory=person.territory, data={"via": VIA, "removed": not value})
    return person


# Labels as the circolo's officials read them on the requests page (no field names).
RECTIFIABLE = {
    "first_name": _("Nome"),
    "last_name": _("Cognome"),
    "codice_fiscale": _("Codice fiscale"),
    "birth_date": _("Data di nascita"),
    "birth_place": _("Luogo di nascita"),
}


def request_rectification(*, actor: Any, person: Person, changes: dict[str, str], note: str = "") -> Any:
    """Rule G5: identity fields are never edited by the person; the correction goes to their
    circolo as a request (people.ScopeRequest, kind RECTIFY) shown on its requests page."""
    action = "community.request_rectification"
    wanted = {str(RECTIFIABLE[k]): v.strip()[:200] for k, v in changes.items() if k in RECTIFIABLE and v.strip()}
    if not wanted:
        refuse(
            action,
            _("Scrivi almeno un dato da correggere, com'è giusto."),
            actor=actor,
            territory=person.territory,
            code="empty",
            field="first_name",
        )
    data = {**wanted, str(_("Nota della persona")): note.strip()[:500], str(_("Da")): str(_("Il mio spazio"))}
    return scope_people.request_other_territory(
        actor=actor, person=person, from_territory=person.territory, kind=ScopeRequestKind.RECTIFY, data=data
    )


# --- Passkeys (docs/adr/0018-passkeys.md): a second way in, to the same record -------------------


def _new_challenge(purpose: str) -> bytes:
    """A fresh challenge, stored by its digest (single use, short-lived); stale ones are cleared."""
    now = timezone.now()
    challenge = secrets.token_bytes(32)
    PasskeyChallenge.objects.filter(expires_at__lt=now - timedelta(days=1)).delete()
    PasskeyChallenge.objects.create(
        challenge_hash=passkeys.challenge_digest(challenge), purpose=purpose, expires_at=passkeys.expires_at()
    )
    return challenge


def _spend_challenge(challenge: bytes | None, purpose: str) -> bool:
    """Spend it once: a conditional UPDATE, so two requests racing with one session cannot both win."""
    if not challenge:
        return False
    return bool(
        PasskeyChallenge.objects.filter(
            challenge_hash=passkeys.challenge_digest(challenge),
            purpose=purpose,
            used_at__isnull=True,
            expires_at__gt=timezone.now(),
        ).update(used_at=timezone.now())
    )


def start_passkey_registration(*, actor: Any, person: Person, rp: passkeys.RelyingParty) -> tuple[str, bytes]:
    """The options for the browser's navigator.credentials.create() and the challenge to keep in
    the session: a discoverable credential, user verification required."""
    action = "community.start_passkey_registration"
    if Passkey.objects.filter(person=person).count() >= int(settings.COMMUNITY_PASSKEY_MAX_PER_PERSON):
        refuse(
            action,
            _("Hai già %(count)d passkey: rimuovine una che non usi più prima di aggiungerne un'altra.")
            % {"count": settings.COMMUNITY_PASSKEY_MAX_PER_PERSON},
            actor=actor,
            territory=person.territory,
            code="too_many",
        )
    handle = passkeys.user_handle_for(person)
    with transaction.atomic():
        challenge = _new_challenge(ChallengePurpose.REGISTER)
        record(action, actor=actor, obj=person, territory=person.territory, kind=AuditKind.AUTH, data={"via": VIA})
    return passkeys.registration_options(rp, person, challenge, handle), challenge


def _ceremony_failed(action: str, *, actor: Any, territory: Any, code: str, adding: bool) -> None:
    messages = {
        "no_challenge": _("La richiesta è scaduta o è già stata usata: riprova."),
        "invalid": (
            _("Il dispositivo non ha confermato la passkey: riprova, sbloccandolo con impronta, volto o PIN.")
            if adding
            else _(
                "Non siamo riusciti a verificare la passkey: riprova, oppure entra con il link che ti mandiamo "
                "via email."
            )
        ),
    }
    refuse(action, messages[code], actor=actor, territory=territory, code=code)


def register_passkey(
    *,
    actor: Any,
    person: Person,
    rp: passkeys.RelyingParty,
    challenge: bytes | None,
    credential: Any,
    name: str,
) -> Passkey:
    """Verify what the browser's navigator.credentials.create() answered and keep the public key,
    under the name the person chose. The challenge is spent first: one try per ceremony."""
    action = "community.add_passkey"
    label = str(name or "").strip()
    if not label:
        refuse(
            action,
            _("Dai un nome alla passkey, per esempio «Telefono» o «Computer di casa»: ti servirà per riconoscerla."),
            actor=actor,
            territory=person.territory,
            code="no_name",
            field="name",
        )
    if len(label) > Passkey._meta.get_field("name").max_length:  # type: ignore[operator]
        refuse(
            action,
            _("Il nome della passkey è troppo lungo: al massimo 60 caratteri."),
            actor=actor,
            territory=person.territory,
            code="long_name",
            field="name",
        )
    if not _spend_challenge(challenge, ChallengePurpose.REGISTER):
        _ceremony_failed(action, actor=actor, territory=person.territory, code="no_challenge", adding=True)
    assert challenge is not None
    try:
        verified = verify_registration_response(
            credential=credential,
            expected_challenge=challenge,
            expected_rp_id=rp.id,
            expected_origin=rp.origins,
            require_user_verification=True,
        )
    except (InvalidRegistrationResponse, InvalidJSONStructure, InvalidCBORData, ValueError, TypeError, KeyError):
        _ceremony_failed(action, actor=actor, territory=person.territory, code="invalid", adding=True)
        raise AssertionError from None  # unreachable: refuse() raises
    credential_id = bytes_to_base64url(verified.credential_id)
    if Passkey.objects.filter(credential_id=credential_id).exists():
        refuse(
            action,
            _("Questa passkey è già registrata."),
            actor=actor,
            territory=person.territory,
            code="already_registered",
        )
    transports = credential.get("response", {}).get("transports", []) if isinstance(credential, dict) else []
    with transaction.atomic():
        passkey = Passkey.objects.create(
            person=person,
            name=label,
            credential_id=credential_id,
            public_key=verified.credential_public_key,
            sign_count=verified.sign_count,
            user_handle=bytes_to_base64url(passkeys.user_handle_for(person)),
            transports=[str(t)[:20] for t in transports if isinstance(t, str)][:8],
            aaguid=str(verified.aaguid)[:36],
            backed_up=bool(verified.credential_backed_up),
        )
        record(
            action,
            actor=actor,
            obj=person,
            territory=person.territory,
            kind=AuditKind.WRITE,
            data={"via": VIA, "passkey": passkey.pk, "aaguid": passkey.aaguid},
        )
    return passkey


def start_passkey_sign_in(*, actor: Any, rp: passkeys.RelyingParty) -> tuple[str, bytes]:
    """Options for navigator.credentials.get() with no list of credentials (discoverable ones: the
    answer does not tell whether anyone has a passkey) and the challenge to keep in the session."""
    with transaction.atomic():
        challenge = _new_challenge(ChallengePurpose.AUTHENTICATE)
        record("community.start_passkey_sign_in", actor=actor, kind=AuditKind.AUTH, data={"via": VIA})
    return passkeys.authentication_options(rp, challenge), challenge


def sign_in_with_passkey(*, actor: Any, rp: passkeys.RelyingParty, challenge: bytes | None, credential: Any) -> Person:
    """Verify what navigator.credentials.get() answered: the challenge this session was given
    (spent here, once), the origin and relying party, user verification, the signature with the
    stored public key and the sign counter (a counter that goes back means a cloned key: refused).
    Returns the person whose space this browser may now open, exactly as an emailed link does."""
    action = "community.sign_in"
    if not _spend_challenge(challenge, ChallengePurpose.AUTHENTICATE):
        _ceremony_failed(action, actor=actor, territory=None, code="no_challenge", adding=False)
    assert challenge is not None
    raw_id = credential.get("id") if isinstance(credential, dict) else None
    passkey = (
        Passkey.objects.select_related("person__territory").filter(credential_id=raw_id).first()
        if isinstance(raw_id, str) and raw_id
        else None
    )
    handle = credential.get("response", {}).get("userHandle") if isinstance(credential, dict) else None
    if passkey is None or (handle and handle != passkey.user_handle):
        refuse(
            action,
            _(
                "Questa passkey non è registrata da noi (forse l'hai rimossa): entra con il link che ti mandiamo "
                "via email e, se vuoi, aggiungine una nuova."
            ),
            actor=actor,
            code="unknown_passkey",
        )
        raise AssertionError  # unreachable
    person = passkey.person
    try:
        verified = verify_authentication_response(
            credential=credential,
            expected_challenge=challenge,
            expected_rp_id=rp.id,
            expected_origin=rp.origins,
            credential_public_key=bytes(passkey.public_key),
            credential_current_sign_count=passkey.sign_count,
            require_user_verification=True,
        )
    except InvalidAuthenticationResponse as exc:
        if "sign count" in str(exc):
            refuse(
                action,
                _(
                    "Questa passkey sembra copiata su un altro dispositivo e per sicurezza non la accettiamo: "
                    "entra con il link via email, rimuovila da Il mio spazio e aggiungine una nuova."
                ),
                actor=actor,
                territory=person.territory,
                code="clone_suspected",
            )
        _ceremony_failed(action, actor=actor, territory=person.territory, code="invalid", adding=False)
        raise AssertionError from None  # unreachable
    except (InvalidJSONStructure, InvalidCBORData, ValueError, TypeError, KeyError):
        _ceremony_failed(action, actor=actor, territory=person.territory, code="invalid", adding=False)
        raise AssertionError from None  # unreachable
    if not _live(person):
        refuse(action, _("Questa scheda non è più attiva."), actor=actor, code="inactive")
    with refusing(action, actor, person.territory), transaction.atomic():
        moved = Passkey.objects.filter(pk=passkey.pk, sign_count=passkey.sign_count).update(
            sign_count=verified.new_sign_count, last_used_at=timezone.now()
        )
        if not moved:  # the same key used twice at once: one of the two is a copy or a replay
            raise Refused(_("La passkey è stata appena usata: riprova."), "concurrent_use")
        record(
            action,
            actor=actor,
            obj=person,
            territory=person.territory,
            kind=AuditKind.AUTH,
            data={"via": VIA, "passkey": passkey.pk},
        )
    return person


def remove_passkey(*, actor: Any, person: Person, passkey_id: int) -> None:
    """The person removes one of their passkeys: it no longer opens their space."""
    action = "community.remove_passkey"
    passkey = Passkey.objects.filter(person=person, pk=passkey_id).first()
    if passkey is None:
        refuse(
            action,
            _("Questa passkey non risulta tra le tue: forse l'hai già rimossa."),
            actor=actor,
            territory=person.territory,
            code="not_owner",
            permission=True,
        )
        raise AssertionError  # unreachable
    with transaction.atomic():
        passkey.delete()
        record(
            action,
            actor=actor,
            obj=person,
            territory=person.territory,
            kind=AuditKind.WRITE,
            data={"via": VIA, "passkey": passkey_id},
        )


# --- Following campaigns and territories -----------------------------------------------------

FOLLOWABLE_CAMPAIGN_STATUSES = ("live", "ended", "settled")


def follow(
    *,
    person: Person,
    campaign: Campaign | None = None,
    territory: Territory | None = None,
    candidacy: Candidacy | None = None,
) -> Follow:
    """The signed-in person follows a public campaign (its updates reach their own email, the one
    their sign-in link proved), a territory or a candidate (both reach the digest, issue 17). Idempotent."""
    action = "community.follow"
    if [campaign, territory, candidacy].count(None) != 2:
        refuse(
            action,
            _("Scegli che cosa seguire: una raccolta, un circolo o una federazione, o una candidatura."),
            actor=None,
            code="target",
        )
    if campaign is not None and campaign.status not in FOLLOWABLE_CAMPAIGN_STATUSES:
        refuse(
            action,
            _("Questa raccolta non è pubblica: si può seguire quando è online."),
            actor=None,
            territory=campaign.territory,
            code="not_public",
        )
    email = person.primary_email
    with transaction.atomic():
        Person.objects.select_for_update().filter(pk=person.pk).first()  # one follow at a time per person
        found = Follow.objects.filter(
            person=person, campaign=campaign, territory=territory, candidacy=candidacy
        ).first()
        created = found is None
        if found is None:
            found = Follow.objects.create(person=person, campaign=campaign, territory=territory, candidacy=candidacy)
        if campaign is not None and email is not None:
            monthly_funding.subscribe_updates(campaign=campaign, email=email.value)
        if created:
            record(
                action,
                actor=None,
                obj=person,
                territory=person.territory,
                data={
                    "via": VIA,
                    "campaign": campaign.pk if campaign else None,
                    "territory": territory.pk if territory else None,
                    "candidacy": candidacy.pk if candidacy else None,
                },
            )
    return found


def unfollow(*, person: Person, follow_id: int) -> None:
    """Stop following (and stop the campaign's update emails to the person's addresses)."""
    found = Follow.objects.filter(pk=follow_id, person=person).select_related("campaign").first()
    if found is None:
        refuse("community.unfollow", _("Non segui questa voce."), actor=None, code="not_yours")
    assert found is not None
    emails = [e.value.lower() for e in person.emails.all()]
    with transaction.atomic():
        if found.campaign is not None:
            for subscription in UpdateSubscription.objects.filter(campaign=found.campaign, email__in=emails):
                monthly_funding.unsubscribe_updates(subscription=subscription)
        Follow.objects.filter(
            person=person, campaign=found.campaign, territory=found.territory, candidacy=found.candidacy
        ).delete()
        record(
            "community.unfollow",
            actor=None,
            obj=person,
            territory=person.territory,
            data={
                "via": VIA,
                "campaign": found.campaign_id,
                "territory": found.territory_id,
                "candidacy": found.candidacy_id,
            },
        )
