"""Erasure (rule G5, issue 12): remove or irreversibly pseudonymise a person's data everywhere the
law does not require it, and put what it does require under named legal holds.

`erase_person` runs every app's `erasure.erase(person, holds)` (ERASURE_MODULES, people last: the
others find rows by the person's emails) in one transaction, stores keyed hashes of the
identifiers first (piazza.people.erased: an import must not bring the person back silently),
sets `Person.erased_at` and writes one audit entry with a pseudonymous reference only. It is
idempotent: a second call on an erased person changes nothing. `release_expired_holds` erases
the held columns once their hold has ended. The ledger is never touched, so it still balances.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from importlib import import_module
from types import ModuleType
from typing import Any

from django.apps import apps
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from piazza.community import erasure as community_erasure
from piazza.compliance import erasure as compliance_erasure
from piazza.core import erasure as core_erasure
from piazza.core.audit import record
from piazza.core.audit_redaction import Subject, redact_entries
from piazza.core.errors import refuse
from piazza.events import erasure as events_erasure
from piazza.funding import erasure as funding_erasure
from piazza.ledger import erasure as ledger_erasure
from piazza.membership import erasure as membership_erasure
from piazza.outreach import erasure as outreach_erasure
from piazza.payments import erasure as payments_erasure
from piazza.payments.bank import erasure as bank_erasure
from piazza.people import erasure as people_erasure
from piazza.people.erased import remember_erased
from piazza.people.models import WRITE_ROLES, Person
from piazza.petitions import erasure as petitions_erasure
from piazza.privacy.models import (
    OPEN_STATUSES,
    AddressLink,
    BreachVersion,
    DataRequest,
    LegalHold,
    RequestChannel,
    RequestKind,
    RequestStatus,
    due_date,
)
from piazza.territory import erasure as territory_erasure
from piazza.territory.models import Role
from piazza.territory.scoping import has_role_at
from piazza.volunteers import erasure as volunteers_erasure

# The order erasure runs in: people last (the others look the person's emails up first).
ERASURE_MODULES: tuple[ModuleType, ...] = (
    funding_erasure,
    membership_erasure,
    payments_erasure,
    bank_erasure,
    compliance_erasure,
    ledger_erasure,
    territory_erasure,
    community_erasure,
    petitions_erasure,
    volunteers_erasure,
    outreach_erasure,
    events_erasure,
    people_erasure,
)

# Who may erase a person for a request: officials who may write the person's record, in scope, and
# the privacy officer (national), who answers the requests on the board (rule G5).
ERASE_ROLES = {*WRITE_ROLES, Role.PRIVACY_OFFICER}
CONFIRM_WORD = "CANCELLA"


def person_ref(person_id: int) -> str:
    """A pseudonymous reference for audit entries and holds: without the key, no way back to the id."""
    key = str(settings.ERASURE_HASH_KEY).encode()
    return "E-" + hmac.new(key, f"person:{person_id}".encode(), hashlib.sha256).hexdigest()[:12]


def _upper_app_modules() -> list[ModuleType]:
    """`erasure` modules of apps above privacy (the API), which this module may not import by name.

    They may declare columns that are not personal data, and rows that go whole on erasure (every
    model of their ERASURE marked `{"*": DELETE_ROW}`, e.g. the API's pending webhook deliveries),
    which their `erase` deletes; anything to keep or pseudonymise must live in an app below privacy."""
    known = {module.__name__ for module in ERASURE_MODULES}
    found = []
    for config in apps.get_app_configs():
        name = f"{config.name}.erasure"
        if not config.name.startswith("piazza.") or name in known or config.name == "piazza.privacy":
            continue
        try:
            module = import_module(name)
        except ModuleNotFoundError:
            continue
        declared = getattr(module, "ERASURE", None) or {}
        if any(fields.get(core_erasure.ROW) != core_erasure.DELETE_ROW for fields in declared.values()) or (
            declared and not hasattr(module, "erase")
        ):
            raise ImproperlyConfigured(
                f"{name}: an app above privacy may only declare NOT_PERSONAL and rows it deletes (DELETE_ROW)"
            )
        found.append(module)
    return found


def declarations() -> tuple[core_erasure.Declaration, core_erasure.Declaration, dict[str, str]]:
    """Every app's ERASURE and NOT_PERSONAL maps merged, with the reasons of every KEEP."""
    erasure, not_personal, reasons = core_erasure.core_declarations()
    erasure, not_personal = dict(erasure), dict(not_personal)
    for module in _upper_app_modules():
        for model, fields in getattr(module, "ERASURE", {}).items():
            erasure.setdefault(model, {}).update(fields)
        for model, fields in getattr(module, "NOT_PERSONAL", {}).items():
            not_personal.setdefault(model, {}).update(fields)
    for module in ERASURE_MODULES:
        for model, fields in getattr(module, "ERASURE", {}).items():
            erasure.setdefault(model, {}).update(fields)
        for model, fields in getattr(module, "NOT_PERSONAL", {}).items():
            not_personal.setdefault(model, {}).update(fields)
        reasons.update(getattr(module, "KEEP_REASONS", {}))
    for model, fields in PRIVACY_DECLARATIONS[0].items():
        erasure.setdefault(model, {}).update(fields)
    for model, fields in PRIVACY_DECLARATIONS[1].items():
        not_personal.setdefault(model, {}).update(fields)
    return erasure, not_personal, reasons


PRIVACY_DECLARATIONS: tuple[core_erasure.Declaration, core_erasure.Declaration] = (
    {  # The request stays as proof that it was answered in time (accountability, GDPR art. 5(2)),
        # without the address or the officials' notes.
        DataRequest: {
            "person": core_erasure.LINK,
            "email": core_erasure.BLANK,
            "notes": core_erasure.BLANK,
            "extension_reason": core_erasure.BLANK,
        },
        AddressLink: {core_erasure.ROW: core_erasure.DELETE_ROW, "email": core_erasure.BLANK},
    },
    {
        LegalHold: {
            "person_ref": "a pseudonymous reference",
            "why": "a fixed text naming the record kind",
            "legal_basis": "the law's reference from settings",
        },
        # The breach register (GDPR art. 33(5)) describes an incident by categories and counts;
        # it points at no person and the form asks for no names.
        BreachVersion: {
            "no_notification_reason": "why the incident needs no notification, in general terms",
            "delay_reason": "why the notification came after 72 hours, in general terms",
        },
    },
)


@dataclass
class Holds:
    """The book of legal holds of one erasure (core.erasure.HoldBook)."""

    ref: str
    today: dt.date
    created: list[LegalHold] = field(default_factory=list)

    def keep(
        self,
        objs: Iterable[models.Model],
        *,
        kind: str,
        fields: Iterable[str],
        start: Callable[[Any], dt.date],
        why: str,
    ) -> set[Any]:
        conf: dict[str, Any] = settings.PRIVACY_LEGAL_HOLDS[kind]
        fields = list(fields)
        by_until: dict[tuple[str, dt.date], list[Any]] = {}
        for obj in objs:
            began = start(obj)
            until = dt.date(began.year + int(conf["years"]), 12, 31)
            if until < self.today:
                continue  # the hold would already be over: erase now
            by_until.setdefault((obj._meta.label_lower, until), []).append(obj.pk)
        held: set[Any] = set()
        for (label, until), pks in sorted(by_until.items()):
            self.created.append(
                LegalHold.objects.create(
                    person_ref=self.ref,
                    kind=kind,
                    model_label=label,
                    object_ids=sorted(pks),
                    fields=fields,
                    why=why[:200],
                    legal_basis=str(conf["basis"])[:300],
                    until=until,
                )
            )
            held.update(pks)
        return held


@dataclass
class Erasure:
    person: Person
    ref: str
    counts: dict[str, dict[str, int]]
    holds: list[LegalHold]
    already: bool = False


# Columns of the person's own rows whose values identify them wherever they appear (audit entries).
IDENTIFYING_COLUMNS = re.compile(r"(email|phone|codice_fiscale|iban|street|^notes$)")


def audit_subject(person: Person, ref: str) -> Subject:
    """How the audit log may name the person (read before the apps erase anything): their records
    (every row with a foreign key to them, and the records merged into theirs), their strong
    identifiers (emails, phones, codice fiscale, IBANs, addresses, notes, full name) and names."""
    people = [person, *Person.objects.filter(merged_into=person)]
    subject = Subject(pseudonym=ref)
    for someone in people:
        subject.about.add((Person._meta.label_lower, str(someone.pk)))
        subject.names.update({someone.first_name, someone.last_name})
        subject.identifiers.update(
            {
                f"{someone.first_name} {someone.last_name}",
                f"{someone.last_name} {someone.first_name}",
                someone.codice_fiscale,
            }
        )
    for model in apps.get_models():
        if not model.__module__.startswith("piazza.") or model._meta.proxy:
            continue
        links = [f.name for f in model._meta.concrete_fields if f.is_relation and f.related_model is Person]
        if not links:
            continue
        texts = [
            f.name
            for f in model._meta.concrete_fields
            if isinstance(f, models.CharField | models.TextField) and IDENTIFYING_COLUMNS.search(f.name)
        ]
        label = model._meta.label_lower
        for link in links:
            rows = model._default_manager.filter(**{f"{link}__in": people})
            for pk, *values in rows.values_list("pk", *texts):
                subject.about.add((label, str(pk)))
                subject.identifiers.update(str(v) for v in values if v)
    return subject


def may_erase(actor: Any, person: Person) -> bool:
    return actor is None or has_role_at(actor, person.territory, ERASE_ROLES)


def erase_person(*, actor: Any, person: Person, reason: str, request: DataRequest | None = None) -> Erasure:
    """Rule G5: erase the person (see the module docstring). `actor` None is the retention task."""
    action = "privacy.erase_person"
    if not may_erase(actor, person):
        refuse(
            action,
            _("Non puoi cancellare i dati di questa persona: non è nel tuo territorio."),
            actor=actor,
            territory=person.territory,
            permission=True,
        )
    if person.merged_into_id:
        refuse(
            action,
            _("Questa scheda è stata unita a un'altra: cancella la scheda in cui è confluita."),
            actor=actor,
            territory=person.territory,
            code="merged",
        )
    ref = person_ref(person.pk)
    with transaction.atomic():
        person = Person.objects.select_for_update().select_related("territory").get(pk=person.pk)
        if person.erased_at:
            _close_request(request, actor)
            return Erasure(person=person, ref=ref, counts={}, holds=[], already=True)
        remember_erased(person)
        for old in Person.objects.filter(merged_into=person):
            remember_erased(old)
        holds = Holds(ref=ref, today=timezone.localdate())
        subject = audit_subject(person, ref)
        emails = [e.lower() for e in person.emails.values_list("value", flat=True)]
        counts = {
            module.__name__.split(".")[-2]: module.erase(person, holds)
            for module in (*ERASURE_MODULES[:-1], *_upper_app_modules(), ERASURE_MODULES[-1])
            if hasattr(module, "erase")
        }
        declared = PRIVACY_DECLARATIONS[0]
        counts["privacy"] = {
            "requests": core_erasure.scrub(DataRequest.objects.filter(person=person), declared[DataRequest]),
            "address_links": core_erasure.scrub(AddressLink.objects.filter(email__in=emails), declared[AddressLink]),
        }
        now = timezone.now()
        Person.objects.filter(pk=person.pk).update(erased_at=now, updated_at=now)
        Person.objects.filter(merged_into=person).update(erased_at=now, updated_at=now)
        person.refresh_from_db()
        # Last: the audit entries written by the erasure itself (a cancelled gift…) are swept too.
        redaction = redact_entries(actor=actor, subject=subject)
        counts["audit"] = {"redacted": len(redaction.redacted), "legacy": redaction.legacy}
        _close_request(request, actor)
        # Only the pseudonymous reference, counts and hold ids: nothing of the person.
        record(
            action,
            actor=actor,
            obj=person,
            territory=person.territory,
            data={
                "ref": ref,
                "reason": reason[:40],
                "counts": counts,
                "holds": [{"id": h.pk, "kind": h.kind, "until": h.until.isoformat()} for h in holds.created],
            },
        )
    return Erasure(person=person, ref=ref, counts=counts, holds=holds.created)


def open_erasure_request(person: Person) -> DataRequest | None:
    return (
        DataRequest.objects.filter(person=person, kind=RequestKind.ERASURE, status__in=OPEN_STATUSES)
        .order_by("pk")
        .first()
    )


def _close_request(request: DataRequest | None, actor: Any) -> None:
    """Rule G5: the erasure answers the request it was executed for (on the board, audited)."""
    if request is None or request.kind != RequestKind.ERASURE or request.status not in OPEN_STATUSES:
        return
    request.status, request.closed_at = RequestStatus.ANSWERED, timezone.now()
    request.save(update_fields=["status", "closed_at"])
    record(
        "privacy.answer_erasure_request",
        actor=actor,
        obj=request,
        territory=request.territory,
        data={
            "ref": person_ref(request.person_id) if request.person_id else "",
            "due_on": request.due_on.isoformat(),
            "late": request.due_on < timezone.localdate(),
        },
    )


def request_erasure(*, person: Person, via: str) -> DataRequest:
    """Record a person's request (self-service: identity proved by the emailed link or the Il mio
    spazio sign-in) on the privacy officer's board, due within the GDPR month (rule G5); a second
    request while one is open returns the open one."""
    with transaction.atomic():
        Person.objects.select_for_update().filter(pk=person.pk).first()  # one open request, even under concurrency
        open_request = open_erasure_request(person)
        if open_request is not None:
            return open_request
        today = timezone.localdate()
        verified = person.emails.filter(verified=True).order_by("-primary", "pk").values_list("value", flat=True)
        request = DataRequest.objects.create(
            kind=RequestKind.ERASURE,
            channel=RequestChannel.ONLINE,
            person=person,
            email=(verified.first() or "").lower(),
            territory=person.territory,
            received_on=today,
            due_on=due_date(today),
        )
        record(
            "privacy.request_erasure",
            actor=None,
            obj=request,
            territory=person.territory,
            data={"ref": person_ref(person.pk), "via": via, "due_on": request.due_on.isoformat()},
        )
    return request


def release_expired_holds(*, today: dt.date | None = None) -> int:
    """Erase the held columns of every hold that has ended, unless another open hold still covers
    the same row and column. Idempotent; returns the number of holds released."""
    today = today or timezone.localdate()
    erasure, _not_personal, _reasons = declarations()
    released = 0
    for hold in LegalHold.objects.filter(released_at=None, until__lt=today).order_by("id"):
        with transaction.atomic():
            hold = LegalHold.objects.select_for_update().get(pk=hold.pk)
            if hold.released_at:
                continue
            model = apps.get_model(hold.model_label)
            still = LegalHold.objects.filter(released_at=None, until__gte=today, model_label=hold.model_label)
            for pk in hold.object_ids:
                covered = {f for other in still if pk in other.object_ids for f in other.fields}
                fields = [f for f in hold.fields if f not in covered]
                if fields:
                    core_erasure.scrub(model._default_manager.filter(pk=pk), erasure[model], only=fields)
            hold.released_at = timezone.now()
            hold.save(update_fields=["released_at"])
            record(
                "privacy.release_hold",
                actor=None,
                obj=hold,
                data={
                    "ref": hold.person_ref,
                    "kind": hold.kind,
                    "model": hold.model_label,
                    "rows": len(hold.object_ids),
                },
            )
            released += 1
    return released
