"""A membership fee paid: at the circolo desk (paper forms, receipts), online, by yearly debit; refunds; scans of the
receipt."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import EmailMessage
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef, Value
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from piazza.compliance import receipts as compliance_receipts
from piazza.compliance.rules import (
    CAP_SCOPE_PARTY,
    annual_total_cents,
    cap_entity_path,
    check_annual_cap,
    lock_contributor,
)
from piazza.compliance.rules import rules_on as finance_rules_on
from piazza.core.audit import record
from piazza.core.errors import caller_records_refusals, refuse
from piazza.core.i18n import deferred
from piazza.core.models import AuditKind
from piazza.core.outbound import announce
from piazza.core.tasks import enqueue_on_commit
from piazza.membership import anomalies, cards
from piazza.membership.fees import format_cents
from piazza.membership.models import (
    DESK_METHODS,
    LIVE_STATUSES,
    PAID_STATUSES,
    CardBlock,
    Channel,
    Delivery,
    Membership,
    PaymentMethod,
    Status,
    rules_at,
    rules_for,
)
from piazza.people.actions import consent as consent_people_actions
from piazza.people.models import Channel as ConsentChannel
from piazza.people.models import Person, Purpose
from piazza.people.notices import version_code
from piazza.territory.models import Role, Territory
from piazza.territory.scoping import has_role_at

from ._guards import MEMBERSHIP_ROLES, _refuse_many
from .applicant import JoinData, _timeline, registered_email
from .join import _check_application, _write_application
from .renewal import renew_membership
from .review import store_signals

# --- Payment, card, delivery (M13, M24, M9) ---------------------------------------------

# The printed form's version before the notice registry (people.notices): what older consent rows
# carry, and the fallback when no desk notice was ever published.
LEGACY_PAPER_FORM_VERSION = "modulo-cartaceo-2026.1"


def instrument_fingerprint(raw: str) -> str:
    """A stable, non-reversible key for a card fingerprint, IBAN or payer account (M4, M24)."""
    cleaned = "".join(raw.split()).upper()
    return hashlib.sha256(cleaned.encode()).hexdigest() if cleaned else ""


def check_instrument(*, actor: Any, membership: Membership, fingerprint: str, prepaid: bool) -> int:
    """Rule M24 at payment: refuse beyond the federation's limit per instrument, or a prepaid card
    where refused. Returns how many other live memberships of the year this instrument paid."""
    action = "membership.check_instrument"
    rules = rules_at(membership.circolo_id)  # the circolo itself is read only to word a refusal (P8)
    if prepaid and rules.refuse_prepaid_cards:
        refuse(
            action,
            _(
                "La tua federazione non accetta carte prepagate o non nominative per le quote: usa una "
                "carta intestata a te o un bonifico."
            ),
            actor=actor,
            territory=membership.circolo,
            code="prepaid_refused",
        )
    if not fingerprint:
        return 0
    others = (
        Membership.objects.filter(year=membership.year, payer_fingerprint=fingerprint, status__in=PAID_STATUSES)
        .exclude(pk=membership.pk)
        .values("person")
        .distinct()
        .count()
    )
    if others + 1 > rules.max_per_instrument:
        refuse(
            action,
            _(
                "Con questo strumento di pagamento sono già state pagate %(n)s tessere del %(year)s: la "
                "federazione ne ammette al massimo %(max)s. L'iscrizione è personale: paga con "
                "uno strumento tuo."
            )
            % {"n": others, "year": membership.year, "max": rules.max_per_instrument},
            actor=actor,
            territory=membership.circolo,
            code="instrument_limit",
            rule="M24",
        )
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
    return any(
        not check_annual_cap(
            annual_total_cents(int(membership.person_id), day.year, scope, finance), cents, finance
        ).allowed
        for scope, cents in per_scope.items()
    )


def _contributor_identity(person: Person) -> str:
    return person.codice_fiscale_canonical or f"person:{person.pk}"


FEE_OVER_CAP_MESSAGE = _(
    "Non registrare questa quota: sommata agli altri contributi che questa persona ha già versato al partito "
    "quest'anno supererebbe il tetto annuo previsto dalla legge. Non incassare il denaro (o restituiscilo) e "
    "rivolgiti alla tesoreria."
)


def mark_paid(
    *,
    actor: Any,
    membership: Membership,
    method: str,
    reference: str = "",
    fingerprint: str = "",
    payer_name: str = "",
    prepaid: bool = False,
    payment_id: int | None = None,
    paid_at: dt.datetime | None = None,
    desk_receipt: bool = False,
    book_offline: bool = False,
    enforce_limits: bool = True,
) -> Membership:
    """applied → paid (rule M13): a card number is assigned; the objection window opens (M18).

    Idempotent: marking a paid membership paid again does nothing. `book_offline` books a fee
    collected at the circolo in the ledger in the same transaction (online payments are booked
    by the payments app with `payments.fee_allocations`). The fee's numbered receipts (rule F3)
    are issued in the same transaction; `desk_receipt` makes the one of the circolo's own issuing
    entity the number of the paper receipt the desk hands over.
    """
    action = "membership.mark_paid"
    paid_at = paid_at or timezone.now()
    current = Membership.objects.select_related("circolo").get(pk=membership.pk)
    if current.status in PAID_STATUSES:
        return current
    if current.status != Status.APPLIED:
        refuse(
            action,
            _("Questa iscrizione è «%(status)s»: non può essere pagata.") % {"status": current.get_status_display()},
            actor=actor,
            territory=current.circolo,
            code="wrong_state",
        )
    shared = 0
    if enforce_limits:
        shared = check_instrument(actor=actor, membership=current, fingerprint=fingerprint, prepaid=prepaid)
        if fee_over_cap(current, on=timezone.localdate(paid_at)):  # rules F6/F14, fees count
            refuse(action, str(FEE_OVER_CAP_MESSAGE), actor=actor, territory=current.circolo, code="annual_cap")
    with transaction.atomic():
        locked = (
            Membership.objects.select_for_update(of=("self",)).select_related("circolo", "person").get(pk=membership.pk)
        )
        if locked.status in PAID_STATUSES:
            return locked
        if locked.status != Status.APPLIED:
            raise ValidationError(_("L'iscrizione è cambiata nel frattempo: ricarica la pagina."))
        if enforce_limits:  # F6 again under the donor's lock: a gift may have arrived meanwhile
            lock_contributor(_contributor_identity(locked.person))
            if fee_over_cap(locked, on=timezone.localdate(paid_at)):
                raise ValidationError(FEE_OVER_CAP_MESSAGE, code="annual_cap")
        rules = rules_for(locked.circolo)
        _set_paid(
            locked,
            method=method,
            reference=reference,
            fingerprint=fingerprint,
            payer_name=payer_name,
            prepaid=prepaid,
            payment_id=payment_id,
            paid_at=paid_at,
            rules=rules,
        )
        _assign_card_number(locked)
        if book_offline:
            from piazza.membership.payments import book_offline_payment

            book_offline_payment(locked, actor=actor)
        issued = compliance_receipts.issue_receipts_for("membership.membership", locked.pk, actor=actor)  # rule F3
        if desk_receipt:
            locked.cash_receipt_number = desk_receipt_number(locked, issued)
            locked.payment_reference = locked.payment_reference or locked.cash_receipt_number
            locked.save(update_fields=["cash_receipt_number", "payment_reference"])
        record(
            action,
            actor=actor,
            obj=locked,
            territory=locked.circolo,
            data={
                "method": method,
                "reference": reference[:80],
                "card": locked.card_number,
                "shared_instrument": shared,
                "prepaid": prepaid,
            },
        )
        _timeline(
            locked.person,
            actor,
            "membership.paid",
            deferred(
                gettext_noop("Quota %(year)s pagata (%(amount)s), tessera n. %(card)s"),
                year=locked.year,
                amount=format_cents(locked.fee_cents),
                card=locked.card_number,
            ),
            {"membership": locked.pk},
        )
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
            "name": upload.name
        }
    if upload.size > SCAN_MAX_BYTES:
        return _("«%(name)s» è troppo grande (%(mb).1f MB): il massimo è 5 MB. Scansiona a risoluzione più bassa.") % {
            "name": upload.name,
            "mb": upload.size / 1024 / 1024,
        }
    head = upload.read(len(magic))
    upload.seek(0)
    if head != magic:
        return _("«%(name)s» non contiene davvero un %(kind)s: controlla il file.") % {
            "name": upload.name,
            "kind": extension[1:].upper(),
        }
    return ""


def attach_scans(
    *, actor: Any, membership: Membership, paper_form: Any = None, signature_scan: Any = None
) -> Membership:
    """The secretary attaches the signed paper form and, optionally, the scanned signature (desk)."""
    action = "membership.attach_scans"
    if not has_role_at(actor, membership.circolo, MEMBERSHIP_ROLES | {Role.TREASURY}):
        refuse(
            action,
            _("Non hai un ruolo di tesseramento su %(t)s.") % {"t": membership.circolo},
            actor=actor,
            territory=membership.circolo,
            code="out_of_scope",
            permission=True,
        )
    errors = {
        name: [problem]
        for name, upload in (("paper_form", paper_form), ("signature_scan", signature_scan))
        if upload and (problem := scan_problem(upload))
    }
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


def _set_paid(
    membership: Membership,
    *,
    method: str,
    reference: str,
    fingerprint: str,
    payer_name: str,
    prepaid: bool,
    payment_id: int | None,
    paid_at: dt.datetime,
    rules: Any,
) -> None:
    """applied → paid on a locked row (saved by `_assign_card_number`); the M18 window opens."""
    membership.status = Status.PAID
    membership.paid_at = paid_at
    membership.payment_method = method
    membership.payment_reference = reference[:80]
    membership.payer_fingerprint = fingerprint
    membership.payer_name = payer_name[:200]
    membership.prepaid_instrument = prepaid
    membership.payment_id = payment_id
    # Days on Rome's calendar: 15 days after 12:00 end at 12:00, even across a summer-time switch.
    membership.objection_deadline = timezone.localtime(paid_at) + dt.timedelta(days=rules.objection_days)


def _shared_instrument(fingerprint: str) -> Any:
    """M24: whether another paid membership of the row's year used this instrument, as an
    expression for the membership's own read (False without a fingerprint)."""
    if not fingerprint:
        return Value(False)
    return Exists(
        Membership.objects.filter(
            year=OuterRef("year"), payer_fingerprint=fingerprint, status__in=PAID_STATUSES
        ).exclude(pk=OuterRef("pk"))
    )


def _flag_instrument(
    membership: Membership, *, fingerprint: str, prepaid: bool, rules: Any, actor: Any, shared: bool | None = None
) -> None:
    """M4/M24: a shared or prepaid instrument is always flagged for review, never rejected here.
    Costs one query when the payment carries a fingerprint, none otherwise or when the caller
    passes `shared` (read with the membership, `_shared_instrument`)."""
    if shared is None:
        shared = bool(fingerprint) and (
            Membership.objects.filter(year=membership.year, payer_fingerprint=fingerprint, status__in=PAID_STATUSES)
            .exclude(pk=membership.pk)
            .exists()
        )
    if not (shared or prepaid):
        return
    federation = membership.circolo.parent or membership.circolo
    # Only this instrument's group is read, not the federation's (issue 14, P8, ADR 0051).
    signals = (
        anomalies.shared_instruments(federation, membership.year, rules_for(federation), fingerprint=fingerprint)
        if shared
        else []
    )
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
        refuse(
            action,
            _("Non hai un ruolo di tesseramento su %(t)s.") % {"t": circolo},
            actor=actor,
            territory=circolo,
            code="out_of_scope",
            permission=True,
        )
    allowed = desk_methods(circolo)
    if method == PaymentMethod.CASH and PaymentMethod.CASH not in allowed:
        refuse(
            action,
            _("La tua federazione non ammette le quote in contanti: registra un pagamento tracciabile (%(methods)s).")
            % {"methods": _method_names(allowed)},
            actor=actor,
            territory=circolo,
            code="cash_not_allowed",
            field="method",
        )
    if method not in allowed:
        refuse(
            action,
            (_("Al circolo la tua federazione ammette solo: %(methods)s.") % {"methods": _method_names(allowed)})
            if allowed
            else _("La tua federazione non ammette pagamenti della quota al circolo: la persona paga online."),
            actor=actor,
            territory=circolo,
            code="method_not_allowed",
            field="method",
        )
    if method != PaymentMethod.CASH and not reference.strip():
        refuse(
            action,
            _("Per un pagamento tracciabile indica il riferimento (numero dell'operazione POS o CRO del bonifico)."),
            actor=actor,
            territory=circolo,
            code="reference_required",
            field="reference",
        )


def _method_names(methods: list[str]) -> str:
    return ", ".join(str(PaymentMethod(m).label) for m in methods) or "—"


def desk_receipt_number(membership: Membership, issued: list[Any]) -> str:
    """The number of the paper receipt of a fee collected at the circolo (any method, issue 11 item 12):
    the numbered receipt (rule F3) of the issuing entity closest to the circolo, its federation by
    default. Rows paid before numbered receipts kept their own "R<year>-<circolo>-<id>" numbers; a
    fee of zero has no receipt and keeps that form too."""
    chain = [int(part) for part in membership.circolo.path.strip("/").split("/") if part]
    if issued:
        closest = max(issued, key=lambda r: chain.index(r.entity_id) if r.entity_id in chain else -1)
        return str(closest.display_number)
    return f"R{membership.year}-{membership.circolo_id}-{membership.pk}"


def record_payment_at_circolo(
    *, actor: Any, membership: Membership, method: str, reference: str = "", fingerprint: str = "", payer_name: str = ""
) -> Membership:
    """The secretary records the fee with a method the federation allows at the desk (issue 11
    item 11: traceable methods, cash where the federation allows it, M24); every method gets a
    numbered receipt (item 12)."""
    action = "membership.record_payment"
    _check_desk_payment(action=action, actor=actor, circolo=membership.circolo, method=method, reference=reference)
    return mark_paid(
        actor=actor,
        membership=membership,
        method=method,
        reference=reference,
        fingerprint=instrument_fingerprint(fingerprint),
        payer_name=payer_name,
        desk_receipt=True,
        book_offline=True,
    )


@dataclass
class DeskPaperForm:
    """Issue 11 item 12: the signed paper form the secretary collected (M14), with the consents
    ticked on it (G3, one per purpose), and the optional scans."""

    collected: bool = False
    consents: list[str] = field(default_factory=list)
    scan: Any = None
    signature_scan: Any = None


def register_at_desk(
    *,
    actor: Any,
    data: JoinData,
    circolo: Territory,
    method: str,
    reference: str = "",
    fingerprint: str = "",
    payer_name: str = "",
    paper: DeskPaperForm | None = None,
    now: dt.datetime | None = None,
) -> Membership:
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
        refuse(
            action,
            _("Senza email indica un cellulare, oppure conferma di aver raccolto il modulo cartaceo firmato."),
            actor=actor,
            territory=circolo,
            code="contact_required",
            field="email",
        )
    if paper.consents and not paper.collected:
        refuse(
            action,
            _("I consensi si registrano dal modulo cartaceo firmato: conferma di averlo raccolto."),
            actor=actor,
            territory=circolo,
            code="consents_without_paper",
            field="paper_form_signed",
        )
    if unknown := [p for p in paper.consents if p not in Purpose.values]:
        refuse(
            action,
            _("Consenso sconosciuto: %(p)s.") % {"p": ", ".join(unknown)},
            actor=actor,
            territory=circolo,
            code="unknown_consent",
            field="consents",
        )
    checked = _check_application(actor=actor, data=data, circolo=circolo, channel=Channel.CIRCOLO, year=None, now=now)
    # M24 before the writes: the instrument limit of the year, as the fee would check it.
    check_instrument(
        actor=actor,
        membership=Membership(year=checked.year, circolo=circolo),
        fingerprint=instrument_fingerprint(fingerprint),
        prepaid=False,
    )
    try:
        # A refusal inside the block rolls everything back; the entry below, written after the
        # rollback, is the one that stays (issue 11 items 11 and 23).
        with caller_records_refusals(), transaction.atomic():
            membership = _write_application(
                checked,
                actor=actor,
                data=data,
                circolo=circolo,
                channel=Channel.CIRCOLO,
                is_renewal=False,
                registered_by=actor,
            )
            membership = record_payment_at_circolo(
                actor=actor,
                membership=membership,
                method=method,
                reference=reference,
                fingerprint=fingerprint,
                payer_name=payer_name,
            )
            if paper.collected:
                membership.paper_form_collected_at = checked.now
                membership.save(update_fields=["paper_form_collected_at"])
                for purpose in paper.consents:
                    consent_people_actions.record_consent(
                        actor=actor,
                        person=membership.person,
                        purpose=purpose,
                        channel=ConsentChannel.PAPER,
                        text_version=version_code("desk", data.notice, legacy=LEGACY_PAPER_FORM_VERSION),
                        at=checked.now,
                        source="desk",
                        evidence=_("Modulo cartaceo firmato, iscrizione %(year)s, ricevuta %(r)s")
                        % {"year": membership.year, "r": membership.cash_receipt_number},
                    )
            # The scans last: a file is written to storage only once nothing else can refuse.
            if paper.scan or paper.signature_scan:
                membership = attach_scans(
                    actor=actor, membership=membership, paper_form=paper.scan, signature_scan=paper.signature_scan
                )
            record(
                action,
                actor=actor,
                obj=membership,
                territory=circolo,
                data={
                    "method": method,
                    "receipt": membership.cash_receipt_number,
                    "email": bool(data.email.strip()),
                    "phone": bool(data.phone.strip()),
                    "paper_form": paper.collected,
                    "consents": sorted(paper.consents),
                },
            )
            send_receipt(membership=membership)
    except ValidationError as error:
        # Rolled back, the inner refusal's audit entry with it: this one says what was refused.
        with transaction.atomic():
            record(
                action,
                actor=actor,
                territory=circolo,
                kind=AuditKind.DENIED,
                data={"reason": " ".join(error.messages), "code": _codes(error)},
            )
        raise
    return membership


def _codes(error: ValidationError) -> str:
    codes = (
        [e.code for es in error.error_dict.values() for e in es]
        if hasattr(error, "error_dict")
        else [e.code for e in error.error_list]
    )
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
        _("Ciao %(name)s,\nin allegato la ricevuta n. %(r)s della quota di iscrizione %(year)s versata al %(circolo)s.")
        % {
            "name": membership.person.first_name,
            "r": number,
            "year": membership.year,
            "circolo": membership.circolo.name,
        },
        settings.DEFAULT_FROM_EMAIL,
        [address],
    )
    message.attach(f"ricevuta-{number}.pdf", pdf, "application/pdf")
    transaction.on_commit(message.send)
    record(
        "membership.send_receipt", actor=None, obj=membership, territory=membership.circolo, data={"receipt": number}
    )
    return True


def after_online_payment(*, payment: Any, membership: Membership) -> Membership:
    """Called by the payments app inside its transaction when the fee's payment succeeded.

    The money has arrived, so M24 limits do not refuse it here: a shared or prepaid instrument
    is flagged for the commission. With online delivery the digital card makes the membership
    effective at once (M13), unless the card is blocked (M9).

    One locked read, one UPDATE, one audit entry and one timeline entry for both transitions
    (applied → paid → effective): this runs for every join of the deadline surge (P8).
    Idempotent: a second call for a paid membership does nothing. Never raises for a closed
    application (the payment must still be booked): the late money is recorded for the treasury.

    `membership` may be a reference holding only the primary key (`reads_payable_itself`): only
    its pk is used. The locked read also answers the card block (M9) and the shared instrument
    (M24), and brings the person with the residence comune the receipts name (ADR 0042). No
    savepoint of its own: nothing here is caught and retried, and inside the payments
    transaction an exception fails the whole outcome anyway.
    """
    from piazza.membership.payments import PROVIDER_METHODS, fee_lines_of

    metadata = getattr(payment, "metadata", {}) or {}
    fingerprint = instrument_fingerprint(str(metadata.get("instrument_fingerprint", "")))
    prepaid = bool(metadata.get("prepaid", False))
    now = timezone.now()
    with transaction.atomic(savepoint=False):
        locked = (
            Membership.objects.select_for_update(of=("self",))
            .select_related("circolo", "person__residence_comune")
            .annotate(
                card_blocked=Exists(CardBlock.objects.filter(person_id=OuterRef("person_id"), lifted_at__isnull=True)),
                instrument_shared=_shared_instrument(fingerprint),
            )
            .get(pk=membership.pk)
        )
        if locked.status in PAID_STATUSES:
            return locked
        if locked.status != Status.APPLIED:
            record(
                "membership.payment_after_end",
                actor=None,
                obj=locked,
                territory=locked.circolo,
                kind=AuditKind.DENIED,
                data={
                    "payment": payment.pk,
                    "status": locked.status,
                    "reason": "fee paid for a closed application: refund it",
                },
            )
            return locked
        lock_contributor(_contributor_identity(locked.person))
        if fee_over_cap(locked, on=timezone.localdate(now)):
            # Rules F6/F14: the money arrived but may not be kept. Never raise inside the payments
            # transaction (the payment must be booked): the application stays unpaid and the
            # treasury refunds, as for a fee paid after the application ended.
            record(
                "membership.fee_over_cap",
                actor=None,
                obj=locked,
                territory=locked.circolo,
                kind=AuditKind.DENIED,
                data={
                    "payment": payment.pk,
                    "code": "annual_cap",
                    "rule": "F6/F14",
                    "reason": "fee over the yearly cap on contributions: refund it",
                },
            )
            return locked
        rules = rules_for(locked.circolo)
        blocked = bool(locked.card_blocked)  # type: ignore[attr-defined]
        _set_paid(
            locked,
            method=PROVIDER_METHODS.get(payment.provider, PaymentMethod.CARD),
            reference=payment.provider_reference or f"payment:{payment.pk}",
            fingerprint=fingerprint,
            payer_name=payment.payer_name,
            prepaid=prepaid,
            payment_id=payment.pk,
            paid_at=now,
            rules=rules,
        )
        deliver = locked.channel != Channel.CIRCOLO and not blocked
        if deliver:  # rule M13: the digital card is delivered online at once
            locked.status = Status.EFFECTIVE
            locked.effective_at = now
            locked.delivery = Delivery.ONLINE
        _assign_card_number(locked)
        if deliver and locked.person.voting_circolo_id is None:
            Person.objects.filter(pk=locked.person_id).update(voting_circolo=locked.circolo)  # rule M11
        record(
            "membership.mark_paid",
            actor=None,
            obj=locked,
            territory=locked.circolo,
            data={
                "method": locked.payment_method,
                "payment": payment.pk,
                "card": locked.card_number,
                "prepaid": prepaid,
                "delivery": locked.delivery,
                "card_blocked": blocked,
            },
        )
        if deliver:
            announce(
                "membership.effective",
                object_id=locked.pk,
                territory_path=lambda: locked.circolo.path,
                person_id=locked.person_id,
            )
        msgid = (
            gettext_noop("Quota %(year)s pagata (%(amount)s), tessera n. %(card)s consegnata online")
            if deliver
            else gettext_noop("Quota %(year)s pagata (%(amount)s), tessera n. %(card)s")
        )
        _timeline(
            locked.person,
            None,
            "membership.paid",
            deferred(msgid, year=locked.year, amount=format_cents(locked.fee_cents), card=locked.card_number),
            {"membership": locked.pk},
        )
        _flag_instrument(
            locked,
            fingerprint=fingerprint,
            prepaid=prepaid,
            rules=rules,
            actor=None,
            shared=bool(locked.instrument_shared),  # type: ignore[attr-defined]
        )
        # Rule F3: the lines from the row held under the lock, which has just left "applied", so
        # no receipt of it exists yet (the `receipt_one_per_line` constraint remains the backstop).
        compliance_receipts.issue_receipts_for(
            "membership.membership",
            locked.pk,
            actor=None,
            donor=locked.person,
            lines=list(fee_lines_of(locked)),
            first_time=True,
        )
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
        record(
            "membership.sepa_debit_unmatched",
            actor=None,
            obj=first,
            territory=first.circolo,
            kind=AuditKind.DENIED,
            data={"payment": payment.pk, "year": year, "reason": reason, "todo": "refund"},
        )

    current = (
        Membership.objects.filter(person_id=first.person_id, year=year, status__in=LIVE_STATUSES)
        .select_related("circolo", "person")
        .first()
    )
    if current is None:
        latest = (
            Membership.objects.filter(person_id=first.person_id, status__in=PAID_STATUSES, year__lt=year)
            .select_related("circolo", "person")
            .order_by("-year")
            .first()
        ) or first
        try:
            # Inside the payments transaction: the refusal is caught and `unmatched` records it there.
            with caller_records_refusals(), transaction.atomic():
                current = renew_membership(
                    actor=None, previous=latest, year=year, declarations_accepted=True, art9_authorised=True
                )
        except ValidationError as error:
            unmatched("; ".join(error.messages))
            return None
    if current.status in PAID_STATUSES:
        unmatched(_("La quota %(year)s risulta già pagata.") % {"year": year})
        return current
    if current.fee_cents != payment.amount_cents:
        unmatched(
            _("Addebitati %(paid)s, ma la quota %(year)s è %(fee)s.")
            % {"paid": format_cents(payment.amount_cents), "year": year, "fee": format_cents(current.fee_cents)}
        )
        return None
    return after_online_payment(payment=payment, membership=current)


def end_after_refund(*, membership: Membership, payment: Any, refund: Any = None) -> Membership:
    """A refunded fee ends the membership: it never counts in a roll again (M17). Its receipts get
    numbered cancellations for the amount refunded (rule F3)."""
    with transaction.atomic():
        if refund is not None:
            # A later year's SEPA debit names the first membership as payable: cancel the receipts
            # of the membership that payment paid.
            paid = Membership.objects.filter(payment_id=payment.pk).values_list("pk", flat=True).first()
            compliance_receipts.cancel_receipts_for(
                "membership.membership",
                paid or membership.pk,
                actor=None,
                key=f"refund:{refund.pk}",
                amount_cents=refund.amount_cents,
                reason=refund.reason or "Rimborso della quota",
            )
        locked = Membership.objects.select_for_update().get(pk=membership.pk)
        if locked.status in (Status.CANCELLED, Status.REJECTED):
            return locked
        locked.status = Status.CANCELLED
        locked.ended_at = timezone.now()
        locked.end_reason = f"refund of payment {payment.pk}"
        locked.save(update_fields=["status", "ended_at", "end_reason"])
        record("membership.refunded", actor=None, obj=locked, territory=locked.circolo, data={"payment": payment.pk})
    return locked
