"""Actions of the data-subject requests (rule G5; convention 1: every write is here, audited).

Online: an address typed into the public form proves nothing (convention 16). It gets a
one-time link; opening it creates the export request of each person holding that address,
and the export is delivered by another one-time link to the same address. On paper: an
official in the person's scope records the request with the date it arrived.
"""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from piazza.core.audit import Actor, record
from piazza.core.errors import refuse
from piazza.core.models import AuditKind
from piazza.core.tasks import enqueue_on_commit
from piazza.outreach.actions.stopping import record_objection
from piazza.people.models import Email, Person
from piazza.privacy.emails import send_address_link
from piazza.privacy.models import (
    OPEN_STATUSES,
    AddressLink,
    DataExport,
    DataRequest,
    ExportState,
    RequestChannel,
    RequestKind,
    RequestStatus,
    due_date,
)
from piazza.privacy.production import link_digest
from piazza.privacy.tasks import produce_data_export
from piazza.territory.models import Level, Role, Territory
from piazza.territory.scoping import has_role_at

# Who may record a request received on paper, within their territory.
PAPER_ROLES = {Role.ORGANISATION, Role.MEMBERSHIP, Role.ADMINISTRATOR, Role.PRIVACY_OFFICER}
# Who sees the board of every pending request (a national role, rule G5).
BOARD_ROLES = {Role.PRIVACY_OFFICER, Role.ADMINISTRATOR}


def national() -> Territory:
    return Territory.objects.get(level=Level.NATIONAL)


def can_see_board(user: Any) -> bool:
    return has_role_at(user, national(), BOARD_ROLES)


def _official(actor: Actor) -> Any:
    """The official recording a request (a user account), never an anonymous visitor."""
    return actor if actor is not None and getattr(actor, "is_authenticated", False) else None


def people_with_address(email: str) -> list[Person]:
    """The live records holding this address (never an erased or merged-away one)."""
    ids = Email.objects.filter(value__iexact=email).values_list("person_id", flat=True)
    return list(Person.objects.filter(pk__in=ids, erased_at__isnull=True, merged_into__isnull=True).order_by("pk"))


def request_address_link(*, actor: Actor, email: str) -> bool:
    """Email a one-time link to `email` if a person holds it; the caller answers the same
    whatever happens (the answer must not tell a stranger whether an address is known)."""
    address = email.strip().lower()
    with transaction.atomic():
        if not address or not people_with_address(address):
            record("privacy.request_address_link", actor=actor, data={"sent": False})
            return False
        raw = secrets.token_urlsafe(32)
        now = timezone.now()
        link = AddressLink.objects.create(
            email=address,
            token_hash=link_digest(raw),
            created_at=now,
            expires_at=now + dt.timedelta(minutes=settings.PRIVACY_ADDRESS_LINK_MINUTES),
        )
        record("privacy.request_address_link", actor=actor, obj=link, data={"sent": True})
        enqueue_on_commit(send_address_link, link.pk, raw)
    return True


def _start_export(
    *, actor: Actor, person: Person, email: str, channel: str, received_on: dt.date, notes: str = ""
) -> DataRequest:
    request = DataRequest.objects.create(
        kind=RequestKind.EXPORT,
        channel=channel,
        person=person,
        email=email,
        territory=person.territory,
        received_on=received_on,
        due_on=due_date(received_on),
        notes=notes,
        recorded_by=_official(actor) if channel == RequestChannel.PAPER else None,
    )
    export = DataExport.objects.create(request=request)
    record(
        "privacy.request_export",
        actor=actor,
        obj=request,
        territory=person.territory,
        data={"channel": channel, "export": export.pk, "person": person.pk},
    )
    enqueue_on_commit(produce_data_export, export.pk)
    return request


def open_address_link(*, actor: Actor, raw: str) -> list[DataRequest]:
    """Spend the emailed link (single use even under concurrency) and start one export request
    for each person holding the address. An expired, spent or unknown link is refused with a
    message saying what to do next."""
    action = "privacy.open_address_link"
    now = timezone.now()
    digest = link_digest(raw) if raw and len(raw) <= 200 else ""
    with transaction.atomic():
        links = AddressLink.objects.filter(token_hash=digest) if digest else AddressLink.objects.none()
        if links.filter(used_at__isnull=True, expires_at__gt=now).update(used_at=now):
            link = links.get()
            record(action, actor=actor, obj=link)
            return [
                _start_export(
                    actor=actor,
                    person=person,
                    email=link.email,
                    channel=RequestChannel.ONLINE,
                    received_on=timezone.localdate(),
                )
                for person in people_with_address(link.email)
            ]
    spent = links.first()
    if spent is not None and spent.used_at is not None:
        message, code = (
            _("Questo link è già stato usato: ogni link vale una volta sola. Chiedine uno nuovo."),
            "link_used",
        )
    elif spent is not None:
        message, code = _("Questo link è scaduto: chiedine uno nuovo."), "link_expired"
    else:
        message, code = _("Questo link non è valido: chiedine uno nuovo."), "link_unknown"
    refuse(action, message, actor=actor, code=code)
    raise AssertionError("unreachable: refuse() raises")


def record_paper_request(
    *, actor: Actor, person: Person, kind: str, received_on: dt.date, email: str = "", notes: str = ""
) -> DataRequest:
    """A request received on paper (letter, form at the circolo), recorded by an official in the
    person's scope with the date it arrived: the month runs from that date (GDPR art. 12(3))."""
    action = "privacy.record_paper_request"
    territory = person.territory
    if not has_role_at(actor, territory, PAPER_ROLES):
        refuse(
            action,
            _("Questa persona non è nel tuo ambito."),
            actor=actor,
            territory=territory,
            code="out_of_scope",
            permission=True,
        )
    if person.erased_at is not None or person.merged_into_id is not None:
        refuse(
            action,
            _("Questa scheda non è più attiva (cancellata o unita a un'altra): cerca quella attuale."),
            actor=actor,
            territory=territory,
            code="inactive_person",
            field="person",
        )
    if kind not in RequestKind.values:
        refuse(action, _("Scegli il tipo di richiesta."), actor=actor, territory=territory, code="kind", field="kind")
    today = timezone.localdate()
    if received_on > today:
        refuse(
            action,
            _("La data di ricezione non può essere nel futuro: indica il giorno in cui è arrivata."),
            actor=actor,
            territory=territory,
            code="future_date",
            field="received_on",
        )
    address = email.strip().lower()
    own = {v.lower() for v in person.emails.values_list("value", flat=True)}
    if kind == RequestKind.EXPORT and address not in own:
        refuse(
            action,
            _(
                "Scegli uno degli indirizzi email della persona: la copia dei dati si consegna solo "
                "lì. Se non ne ha, aggiungilo prima alla sua scheda."
            ),
            actor=actor,
            territory=territory,
            code="email_not_own",
            field="email",
        )
    with transaction.atomic():
        if kind == RequestKind.EXPORT:
            request = _start_export(
                actor=actor,
                person=person,
                email=address,
                channel=RequestChannel.PAPER,
                received_on=received_on,
                notes=notes,
            )
        else:
            request = DataRequest.objects.create(
                kind=kind,
                channel=RequestChannel.PAPER,
                person=person,
                email=address if address in own else "",
                territory=territory,
                received_on=received_on,
                due_on=due_date(received_on),
                notes=notes,
                recorded_by=_official(actor),
            )
            if kind == RequestKind.OBJECTION:
                # Outreach stops at once (rule G3; GDPR art. 21(3)): no official needs to do anything else.
                record_objection(
                    person=person,
                    actor=actor,
                    detail=_("Richiesta registrata il %(day)s") % {"day": received_on.strftime("%d/%m/%Y")},
                )
        record(
            action,
            actor=actor,
            obj=request,
            territory=territory,
            data={"kind": kind, "person": person.pk, "received_on": received_on.isoformat()},
        )
    return request


def extend_request(*, actor: Actor, request: DataRequest, reason: str) -> DataRequest:
    """GDPR art. 12(3): the deadline may be extended once, by PRIVACY_EXTENSION_MONTHS, with a reason."""
    action = "privacy.extend_request"
    if not can_see_board(actor):
        refuse(
            action,
            _("Solo il responsabile privacy può prorogare una richiesta."),
            actor=actor,
            code="not_privacy_officer",
            permission=True,
        )
    if request.status not in OPEN_STATUSES:
        refuse(action, _("La richiesta è già chiusa."), actor=actor, code="closed")
    if request.extended:
        refuse(
            action,
            _("Il termine è già stato prorogato una volta: non si proroga di nuovo."),
            actor=actor,
            code="already_extended",
        )
    reason = reason.strip()
    if len(reason) < 10:
        refuse(
            action,
            _("Scrivi il motivo della proroga (complessità o numero delle richieste): va comunicato all'interessato."),
            actor=actor,
            code="reason",
            field="reason",
        )
    with transaction.atomic():
        request.extended, request.extension_reason = True, reason[:2000]
        request.due_on = due_date(request.received_on, extended=True)
        request.save(update_fields=["extended", "extension_reason", "due_on"])
        record(
            action, actor=actor, obj=request, territory=request.territory, data={"due_on": request.due_on.isoformat()}
        )
    return request


def _read(stored: Any) -> bytes:
    if not stored:
        return b""
    with stored.open("rb") as handle:
        return bytes(handle.read())


class DownloadRefused(Exception):
    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.message, self.code = message, code


def spend_download_link(*, actor: Actor, raw: str) -> tuple[DataExport, bytes, bytes]:
    """Spend the one-time download link: (the export, JSON bytes, PDF bytes). The files are
    removed from storage once handed over; the request is answered. Single use even under
    concurrency (a conditional UPDATE)."""
    action = "privacy.download_export"
    now = timezone.now()
    digest = link_digest(raw) if raw and len(raw) <= 200 else ""
    exports = DataExport.objects.filter(link_hash=digest) if digest else DataExport.objects.none()
    with transaction.atomic():
        if exports.filter(state=ExportState.READY, downloaded_at__isnull=True, link_expires_at__gt=now).update(
            state=ExportState.DOWNLOADED, downloaded_at=now
        ):
            export = exports.select_related("request").get()
            json_bytes, pdf_bytes = _read(export.json_file), _read(export.pdf_file)
            for stored in (export.json_file, export.pdf_file):
                if stored:
                    stored.delete(save=False)
            export.save(update_fields=["json_file", "pdf_file"])
            request = export.request
            request.status, request.closed_at = RequestStatus.ANSWERED, now
            request.save(update_fields=["status", "closed_at"])
            record(
                action,
                actor=actor,
                obj=request,
                territory=request.territory,
                kind=AuditKind.EXPORT,
                data={"export": export.pk, "bytes": len(json_bytes) + len(pdf_bytes)},
            )
            return export, json_bytes, pdf_bytes
    export_or_none = exports.first()
    if export_or_none is not None and export_or_none.downloaded_at is not None:
        message, code = (
            _(
                "Questo link è già stato usato: la copia si scarica una volta sola. Se ti serve di "
                "nuovo, chiedine una nuova."
            ),
            "link_used",
        )
    elif export_or_none is not None:
        message, code = _("Questo link è scaduto: chiedi una nuova copia dei tuoi dati."), "link_expired"
    else:
        message, code = _("Questo link non è valido: chiedi una nuova copia dei tuoi dati."), "link_unknown"
    with transaction.atomic():
        record(action, actor=actor, kind=AuditKind.DENIED, data={"code": code})
    raise DownloadRefused(message, code)


def request_own_export(*, actor: Actor, person: Person) -> DataRequest:
    """Rule G5, from Il mio spazio: the signed-in person (their address proved by the sign-in link)
    asks for a copy without a second email round trip; it is delivered, as every online export,
    by a one-time link to their verified address. While one is being prepared, asking again
    returns it (a double click starts nothing new)."""
    action = "privacy.request_own_export"
    if person.erased_at is not None or person.merged_into_id is not None:
        refuse(
            action,
            _("Questa scheda non è più attiva: entra di nuovo in Il mio spazio."),
            actor=actor,
            territory=person.territory,
            code="inactive_person",
        )
    address = (
        person.emails.filter(verified=True).order_by("-primary", "pk").values_list("value", flat=True).first() or ""
    ).lower()
    if not address:
        refuse(
            action,
            _(
                "Non abbiamo ancora un tuo indirizzo email confermato a cui mandare la copia: esci e rientra "
                "con il link che ti mandiamo per email, poi riprova."
            ),
            actor=actor,
            territory=person.territory,
            code="no_verified_email",
        )
    with transaction.atomic():
        Person.objects.select_for_update().filter(pk=person.pk).first()  # one open export, even under concurrency
        working = (
            DataRequest.objects.filter(
                person=person,
                kind=RequestKind.EXPORT,
                status__in=OPEN_STATUSES,
                export__state__in=[ExportState.QUEUED, ExportState.RUNNING, ExportState.READY],
            )
            .order_by("-pk")
            .first()
        )
        if working is not None:
            return working
        return _start_export(
            actor=actor,
            person=person,
            email=address,
            channel=RequestChannel.ONLINE,
            received_on=timezone.localdate(),
            notes="",
        )
