"""Transfers between circoli and the voting circolo."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from piazza.core.audit import record
from piazza.core.errors import refuse
from piazza.core.i18n import deferred
from piazza.core.tasks import enqueue_on_commit
from piazza.membership.models import (
    LIVE_STATUSES,
    Membership,
    Transfer,
    TransferStatus,
    rules_for,
)
from piazza.people.models import Person
from piazza.territory.models import OPEN_TO_ALL_KINDS, Level, Territory
from piazza.territory.scoping import has_role_at

from ._guards import MEMBERSHIP_ROLES
from .applicant import _timeline
from .join import circolo_is_open_to

# --- Transfers (M23) and the voting circolo (M11) ---------------------------------------


def request_transfer(*, actor: Any, membership: Membership, to_circolo: Territory, reason: str) -> Transfer:
    action = "membership.request_transfer"
    if to_circolo.level != Level.CIRCOLO or not to_circolo.is_open:
        refuse(
            action,
            _("Scegli un circolo aperto di destinazione."),
            actor=actor,
            code="not_a_circolo",
            field="to_circolo",
        )
    if to_circolo.pk == membership.circolo_id:
        refuse(
            action,
            _("La persona è già iscritta a questo circolo."),
            actor=actor,
            code="same_circolo",
            field="to_circolo",
        )
    if membership.status not in LIVE_STATUSES:
        refuse(action, _("Si trasferisce solo un'iscrizione in corso."), actor=actor, code="wrong_state")
    if not reason.strip():
        refuse(
            action,
            _("Indica il motivo del trasferimento (lavoro, studio, domicilio)."),
            actor=actor,
            code="reason_required",
            field="reason",
        )
    if Transfer.objects.filter(membership=membership, status=TransferStatus.REQUESTED).exists():
        refuse(
            action,
            _("C'è già una richiesta di trasferimento in attesa per questa iscrizione."),
            actor=actor,
            territory=to_circolo,
            code="pending",
        )
    with transaction.atomic():
        transfer = Transfer.objects.create(
            membership=membership,
            from_circolo=membership.circolo,
            to_circolo=to_circolo,
            reason=reason.strip(),
            requested_by=actor if getattr(actor, "is_authenticated", False) else None,
        )
        record(
            action,
            actor=actor,
            obj=transfer,
            territory=to_circolo,
            data={"from": membership.circolo_id, "to": to_circolo.pk},
        )
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
        refuse(
            action,
            _("Decide il circolo di destinazione."),
            actor=actor,
            territory=transfer.to_circolo,
            code="out_of_scope",
            permission=True,
        )
    if transfer.status != TransferStatus.REQUESTED:
        refuse(
            action,
            _("Questa richiesta è già stata decisa."),
            actor=actor,
            territory=transfer.to_circolo,
            code="already_decided",
        )
    membership = transfer.membership
    person = membership.person
    out_of_area = transfer.to_circolo.kind not in OPEN_TO_ALL_KINDS and not circolo_is_open_to(
        transfer.to_circolo, person.residence_comune
    )
    if approve and out_of_area:
        rules = rules_for(transfer.to_circolo)
        outside, total = out_of_area_share(transfer.to_circolo, membership.year, extra=1)
        if outside * 100 > rules.out_of_area_cap_percent * total:
            refuse(
                action,
                _(
                    "Con questo trasferimento gli iscritti fuori area del %(c)s sarebbero %(o)s su %(t)s, "
                    "oltre il tetto del %(cap)s%% fissato dalla federazione."
                )
                % {"c": transfer.to_circolo.name, "o": outside, "t": total, "cap": rules.out_of_area_cap_percent},
                actor=actor,
                territory=transfer.to_circolo,
                code="out_of_area_cap",
                rule="M23",
            )
    now = timezone.now()
    with transaction.atomic():
        if Transfer.objects.select_for_update().filter(pk=transfer.pk).values_list("status", flat=True).get() != (
            TransferStatus.REQUESTED
        ):
            raise ValidationError(_("Questa richiesta è stata appena decisa da un altro responsabile: ricarica."))
        transfer.status = TransferStatus.APPROVED if approve else TransferStatus.REFUSED
        transfer.decided_at = now
        transfer.decided_by = actor
        transfer.decision_reason = reason
        transfer.save(update_fields=["status", "decided_at", "decided_by", "decision_reason"])
        if approve:
            Membership.objects.filter(pk=membership.pk).update(circolo=transfer.to_circolo, out_of_area=out_of_area)
            Person.objects.filter(pk=person.pk).update(voting_circolo=transfer.to_circolo)  # rule M11
            _timeline(
                person,
                actor,
                "membership.transfer",
                deferred(
                    gettext_noop("Trasferito da %(a)s a %(b)s"),
                    a=transfer.from_circolo.name,
                    b=transfer.to_circolo.name,
                ),
                {"transfer": transfer.pk},
            )
        record(
            action,
            actor=actor,
            obj=transfer,
            territory=transfer.to_circolo,
            data={"approve": approve, "reason": reason, "out_of_area": out_of_area},
        )
        from piazza.membership.tasks import notify_transfer_origin

        enqueue_on_commit(notify_transfer_origin, transfer.pk)
    return transfer


def set_voting_circolo(*, actor: Any, person: Person, circolo: Territory) -> Person:
    """Rule M11: exactly one circolo where a person active in several exercises their rights."""
    action = "membership.set_voting_circolo"
    if not has_role_at(actor, circolo, MEMBERSHIP_ROLES):
        refuse(
            action,
            _("Non hai un ruolo di tesseramento su %(t)s.") % {"t": circolo},
            actor=actor,
            territory=circolo,
            code="out_of_scope",
            permission=True,
        )
    if not Membership.objects.filter(person=person, circolo=circolo, status__in=LIVE_STATUSES).exists():
        refuse(
            action,
            _("Si vota solo in un circolo dove si è iscritti quest'anno."),
            actor=actor,
            territory=circolo,
            code="not_member_there",
        )
    with transaction.atomic():
        Person.objects.filter(pk=person.pk).update(voting_circolo=circolo)
        record(action, actor=actor, obj=person, territory=circolo, data={"circolo": circolo.pk})
    person.voting_circolo = circolo
    return person
