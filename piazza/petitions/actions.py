"""Every write of petitions and sign-up forms (ARCHITECTURE convention 1)."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.crypto import get_random_string
from django.utils.text import slugify
from django.utils.translation import gettext as _

from piazza.core.audit import record
from piazza.core.errors import refuse
from piazza.core.models import AuditKind
from piazza.core.tasks import enqueue_on_commit
from piazza.funding.models import Campaign
from piazza.people.models import NoticeVersion, Purpose
from piazza.petitions import queries, tasks
from piazza.petitions.models import (
    COUNTER_SLOTS,
    Petition,
    PetitionCounter,
    PetitionKind,
    Question,
    QuestionKind,
    Signature,
)
from piazza.territory.models import Comune, Role, Territory
from piazza.territory.scoping import has_role_at

# Who creates and manages petitions and forms, and receives their signatures (within scope).
MANAGE_ROLES = {Role.COMMUNICATION, Role.ORGANISATION, Role.ADMINISTRATOR}
# Purposes a signer may tick (rule G3): each its own consent row.
SIGNER_PURPOSES = (Purpose.POLITICAL_COMMUNICATION, Purpose.NEWSLETTER)
# Path segments of the app's own pages (urls.py), never a petition's address.
RESERVED_SLUGS = {"gestione"}


def _require_manager(action: str, actor: Any, territory: Territory) -> None:
    if not has_role_at(actor, territory, MANAGE_ROLES):
        refuse(
            action,
            _("Non puoi gestire petizioni di questo territorio."),
            actor=actor,
            territory=territory,
            code="scope",
            permission=True,
        )


def _unique_slug(title: str) -> str:
    base = slugify(title)[:60] or "petizione"
    slug = base
    while slug in RESERVED_SLUGS or Petition.objects.filter(slug=slug).exists():
        slug = f"{base}-{get_random_string(5, 'abcdefghijkmnpqrstuvwxyz23456789')}"
    return slug


def create_petition(
    *,
    actor: Any,
    territory: Territory,
    title: str,
    text: str,
    kind: str = PetitionKind.PETITION,
    target: str = "",
    goal: int = 1000,
    campaign: Campaign | None = None,
    deliver_contacts: bool = False,
) -> Petition:
    action = "petitions.create_petition"
    _require_manager(action, actor, territory)
    title, text, target = title.strip(), text.strip(), target.strip()
    if kind not in PetitionKind.values:
        refuse(action, _("Scegli se è una petizione o un modulo di adesione."), actor=actor, field="kind")
    if not title:
        refuse(action, _("Scrivi il titolo."), actor=actor, territory=territory, field="title")
    if not text:
        refuse(action, _("Scrivi il testo che le persone firmano."), actor=actor, territory=territory, field="text")
    if kind == PetitionKind.PETITION and not target:
        refuse(
            action,
            _("Scrivi a chi sono destinate le firme, per esempio «Sindaco di Bologna»."),
            actor=actor,
            territory=territory,
            field="target",
        )
    if goal < 1:
        refuse(action, _("L'obiettivo è almeno una firma."), actor=actor, territory=territory, field="goal")
    with transaction.atomic():
        petition = Petition.objects.create(
            kind=kind,
            territory=territory,
            slug=_unique_slug(title),
            title=title,
            text=text,
            target=target,
            goal=goal,
            campaign=campaign,
            deliver_contacts=deliver_contacts,
            created_by=actor,
        )
        PetitionCounter.objects.bulk_create(
            [PetitionCounter(petition=petition, slot=i) for i in range(COUNTER_SLOTS)], ignore_conflicts=True
        )
        record(action, actor=actor, obj=petition, territory=territory, data={"kind": kind, "goal": goal})
    return petition


def set_petition_open(*, actor: Any, petition: Petition, is_open: bool) -> Petition:
    action = "petitions.set_petition_open"
    _require_manager(action, actor, petition.territory)
    with transaction.atomic():
        Petition.objects.filter(pk=petition.pk).update(is_open=is_open)
        petition.is_open = is_open
        queries.forget_public(petition)
        record(action, actor=actor, obj=petition, territory=petition.territory, data={"open": is_open})
    return petition


def add_question(
    *, actor: Any, petition: Petition, label: str, kind: str, choices: list[str] | None = None, required: bool = False
) -> Question:
    action = "petitions.add_question"
    _require_manager(action, actor, petition.territory)
    label = label.strip()
    options = [c.strip() for c in (choices or []) if c.strip()]
    if not label:
        refuse(action, _("Scrivi la domanda."), actor=actor, territory=petition.territory, field="label")
    if kind not in QuestionKind.values:
        refuse(action, _("Scegli il tipo di risposta."), actor=actor, territory=petition.territory, field="kind")
    if kind == QuestionKind.CHOICE and len(options) < 2:
        refuse(
            action,
            _("Una domanda a scelta ha almeno due opzioni: scrivile una per riga."),
            actor=actor,
            territory=petition.territory,
            field="choices",
        )
    if len(set(options)) != len(options):
        refuse(
            action,
            _("Due opzioni sono uguali: scrivile diverse."),
            actor=actor,
            territory=petition.territory,
            field="choices",
        )
    with transaction.atomic():
        question = Question.objects.create(
            petition=petition,
            position=petition.questions.count(),
            label=label,
            kind=kind,
            choices=options if kind == QuestionKind.CHOICE else [],
            required=required,
        )
        queries.forget_public(petition)
        record(action, actor=actor, obj=petition, territory=petition.territory, data={"question": question.pk})
    return question


# One statement, one round trip, atomic on its own: the signature row (none when this email signed
# already, the unique constraint `one_signature_per_email`) and, only if it was inserted, one more
# on a random counter slot (convention 9). Data-modifying CTEs all run, against one snapshot.
SIGN_SQL = """
WITH signed AS (
    INSERT INTO petitions_signature (
        petition_id, first_name, last_name, email, phone, comune_id, postal_code,
        answers, consents, notice_version_id, signed_at
    )
    VALUES (%s, %s, %s, %s, %s, %s, %s, %s::jsonb, %s::jsonb, %s, %s)
    ON CONFLICT ON CONSTRAINT one_signature_per_email DO NOTHING
    RETURNING id
), counted AS (
    UPDATE petitions_petitioncounter SET signatures = signatures + 1
    WHERE petition_id = %s AND slot = %s AND EXISTS (SELECT 1 FROM signed)
)
SELECT id FROM signed
"""


@dataclass
class SignatureInput:
    first_name: str
    last_name: str
    email: str
    comune: Comune
    postal_code: str
    phone: str = ""
    answers: dict[str, Any] = field(default_factory=dict)
    purposes: list[str] = field(default_factory=list)
    notice: NoticeVersion | None = None


@dataclass
class SignOutcome:
    signature: Signature
    created: bool


def sign_petition(*, actor: Any, petition: Petition, data: SignatureInput) -> SignOutcome:
    """What a signature must do before the answer (issue 15, a viral petition must not fall over):
    one INSERT of the signature as typed, with the consents ticked and the notice version shown
    (rule G3), and one atomic UPDATE of a random counter slot (convention 9), in one SQL statement
    (`SIGN_SQL`, one round trip); then `tasks.process_signature` is enqueued on commit for the rest (dedupe into
    people, consents, notice acceptance, timeline, audit, confirmation email).

    One signature per typed email per petition (a unique constraint): a second one, or a form sent
    twice, or two twins racing, is no new row and no new count (created False)."""
    action = "petitions.sign_petition"
    if not petition.is_open:
        refuse(
            action,
            _("Questa raccolta di firme è chiusa: grazie comunque per il tuo sostegno."),
            actor=actor,
            territory=petition.territory,
            code="closed",
        )
    if any(p not in SIGNER_PURPOSES for p in data.purposes):
        refuse(
            action,
            _("Consenso sconosciuto: ricarica la pagina e riprova."),
            actor=actor,
            territory=petition.territory,
            code="purpose",
        )
    signature = Signature(
        petition=petition,
        first_name=data.first_name,
        last_name=data.last_name,
        email=data.email,
        phone=data.phone,
        comune=data.comune,
        postal_code=data.postal_code,
        answers=data.answers,
        consents=sorted(data.purposes),
        notice_version=data.notice,
        signed_at=timezone.now(),
    )
    slot = random.randrange(COUNTER_SLOTS)
    if connection.vendor != "postgresql":
        return _sign_without_cte(petition, signature, slot, data.email)
    with connection.cursor() as cursor:
        cursor.execute(
            SIGN_SQL,
            [
                petition.pk,
                signature.first_name,
                signature.last_name,
                signature.email,
                signature.phone,
                signature.comune_id,
                signature.postal_code,
                json.dumps(signature.answers),
                json.dumps(signature.consents),
                signature.notice_version_id,
                signature.signed_at,
                petition.pk,
                slot,
            ],
        )
        row = cursor.fetchone()
    if row is None:
        # The same email signed already (or its twin won the race): no row, no count.
        return SignOutcome(Signature.objects.get(petition=petition, email=data.email), False)
    signature.pk, signature._state.adding = row[0], False
    # After the caller's commit (at once in autocommit, where the statement was its own transaction).
    enqueue_on_commit(tasks.process_signature, signature.pk)
    return SignOutcome(signature, True)


def _sign_without_cte(petition: Petition, signature: Signature, slot: int, email: str) -> SignOutcome:
    """SQLite (the demo's embedded database) has no data-modifying CTE: the same two writes, in
    one transaction, with the same outcome for an email that signed already."""
    try:
        with transaction.atomic():
            signature.save()
            PetitionCounter.objects.filter(petition=petition, slot=slot).update(signatures=F("signatures") + 1)
    except IntegrityError:
        return SignOutcome(Signature.objects.get(petition=petition, email=email), False)
    enqueue_on_commit(tasks.process_signature, signature.pk)
    return SignOutcome(signature, True)


def note_delivery(*, actor: Any, petition: Petition, file_format: str, rows: int) -> None:
    """Rule G4: the official downloaded the signatures (PDF; the CSV goes through core.exports)."""
    with transaction.atomic():
        record(
            "petitions.deliver_signatures",
            actor=actor,
            obj=petition,
            territory=petition.territory,
            kind=AuditKind.EXPORT,
            data={"format": file_format, "rows": rows, "contacts": petition.deliver_contacts},
        )
