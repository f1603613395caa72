"""Membership cards: delivery, blocks."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from piazza.core.audit import record
from piazza.core.errors import refuse
from piazza.core.outbound import announce
from piazza.membership.models import (
    CardBlock,
    Delivery,
    Membership,
    Status,
)
from piazza.people.models import Person
from piazza.territory.models import Role, Territory
from piazza.territory.scoping import has_role_at

from ._guards import MEMBERSHIP_ROLES
from .applicant import _timeline


def deliver_card(*, actor: Any, membership: Membership, delivery: str, now: dt.datetime | None = None) -> Membership:
    """paid → effective when the card is delivered (rule M13); refused while blocked (M9)."""
    action = "membership.deliver_card"
    now = now or timezone.now()
    if delivery != Delivery.ONLINE and not has_role_at(actor, membership.circolo, MEMBERSHIP_ROLES):
        refuse(
            action,
            _("Non hai un ruolo di tesseramento su %(t)s.") % {"t": membership.circolo},
            actor=actor,
            territory=membership.circolo,
            code="out_of_scope",
            permission=True,
        )
    current = Membership.objects.select_related("circolo").get(pk=membership.pk)
    if current.status == Status.EFFECTIVE:
        return current
    if current.status != Status.PAID:
        refuse(
            action,
            _("La tessera si consegna solo dopo il pagamento della quota: questa iscrizione è «%(status)s».")
            % {"status": current.get_status_display()},
            actor=actor,
            territory=current.circolo,
            code="not_paid",
            rule="M17",
        )
    block = CardBlock.objects.filter(person_id=current.person_id, lifted_at__isnull=True).first()
    if block is not None:
        refuse(
            action,
            _("La tessera è bloccata finché non è soddisfatta questa condizione: %(reason)s.")
            % {"reason": block.reason},
            actor=actor,
            territory=current.circolo,
            code="card_blocked",
            rule="M9",
        )
    with transaction.atomic():
        locked = (
            Membership.objects.select_for_update(of=("self",)).select_related("circolo", "person").get(pk=membership.pk)
        )
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
        announce(
            "membership.effective",
            object_id=locked.pk,
            territory_path=lambda: locked.circolo.path,
            person_id=locked.person_id,
        )
        _timeline(
            locked.person,
            actor,
            "membership.effective",
            _("Tessera %(year)s consegnata (%(how)s)") % {"year": locked.year, "how": locked.get_delivery_display()},
            {"membership": locked.pk},
        )
    return locked


def block_card(*, actor: Any, person: Person, territory: Territory, reason: str) -> CardBlock:
    """Rule M9: e.g. an elected official whose contributions are not paid yet."""
    action = "membership.block_card"
    if not has_role_at(actor, territory, MEMBERSHIP_ROLES | {Role.TREASURY}):
        refuse(
            action,
            _("Non hai un ruolo di tesseramento su %(t)s.") % {"t": territory},
            actor=actor,
            territory=territory,
            code="out_of_scope",
            permission=True,
        )
    if not reason.strip():
        refuse(
            action,
            _("Indica il motivo e la condizione per sbloccare la tessera."),
            actor=actor,
            territory=territory,
            code="reason_required",
            field="reason",
        )
    if CardBlock.objects.filter(person=person, lifted_at__isnull=True).exists():
        refuse(
            action,
            _("La tessera di questa persona è già bloccata."),
            actor=actor,
            territory=territory,
            code="already_blocked",
        )
    with transaction.atomic():
        block = CardBlock.objects.create(person=person, territory=territory, reason=reason.strip(), blocked_by=actor)
        record(action, actor=actor, obj=block, territory=territory, data={"person": person.pk, "reason": reason})
    return block


def lift_card_block(*, actor: Any, block: CardBlock, note: str) -> CardBlock:
    action = "membership.lift_card_block"
    if not has_role_at(actor, block.territory, MEMBERSHIP_ROLES | {Role.TREASURY}):
        refuse(
            action,
            _("Non hai un ruolo di tesseramento su %(t)s.") % {"t": block.territory},
            actor=actor,
            territory=block.territory,
            code="out_of_scope",
            permission=True,
        )
    if not note.strip():
        refuse(
            action,
            _("Scrivi una nota che dica perché la tessera si sblocca."),
            actor=actor,
            territory=block.territory,
            code="note_required",
            field="note",
        )
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
