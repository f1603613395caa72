"""SEPA mandates."""

from __future__ import annotations

import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from piazza.core.audit import record
from piazza.core.errors import refuse
from piazza.payments.bank.iban import bic_for, mask_iban, normalize_iban
from piazza.payments.bank.models import (
    BankAccount,
    Collection,
    CollectionStatus,
    Mandate,
    MandateAmendment,
    MandateChannel,
    MandateStatus,
)

from ._treasury import _placeholder, _require_treasury

# --- mandates -------------------------------------------------------------------------------


def sign_mandate(
    *,
    actor: Any,
    creditor: BankAccount,
    debtor_name: str,
    debtor_iban: str,
    signed_on: datetime.date,
    channel: str,
    consent_text: str,
    debtor_email: str = "",
    paper_scan: Any = None,
) -> Mandate:
    """Record a signed SEPA mandate. Online: the exact consent text shown; paper: the scan."""
    action = "bank.sign_mandate"
    territory = creditor.territory
    if actor is not None and getattr(actor, "is_authenticated", False):
        _require_treasury(action, actor, territory)

    def no(message: str, code: str, field: str | None = None) -> None:
        refuse(action, message, actor=actor, territory=territory, code=code, field=field)

    if not creditor.creditor_id:
        no(
            _("%(acct)s non ha un identificativo creditore SEPA: registralo prima di raccogliere mandati.")
            % {"acct": creditor},
            "no_creditor_id",
        )
    if not (consent_text or "").strip():
        no(
            _("Manca il testo del consenso: un mandato SEPA vale solo con il testo che il debitore ha accettato."),
            "no_consent",
            "consent_text",
        )
    if channel not in MandateChannel.values:
        no(_("Canale di firma sconosciuto."), "bad_channel", "channel")
    if channel == MandateChannel.PAPER and not paper_scan:
        no(_("Per un modulo cartaceo allega la scansione firmata."), "no_scan", "paper_scan")
    if not debtor_name.strip():
        no(_("Indica l'intestatario del conto."), "required", "debtor_name")
    if signed_on > timezone.localdate():
        no(_("La data di firma non può essere nel futuro."), "future", "signed_on")
    try:
        iban = normalize_iban(debtor_iban, field="debtor_iban")
    except ValidationError as error:
        no(error.message_dict["debtor_iban"][0], "bad_iban", "debtor_iban")
    with transaction.atomic():
        mandate = Mandate(
            reference=_placeholder(),
            creditor=creditor,
            territory=territory,
            debtor_name=debtor_name.strip(),
            debtor_email=debtor_email.strip(),
            debtor_iban=iban,
            debtor_bic=bic_for(iban),
            signed_on=signed_on,
            channel=channel,
            consent_text=consent_text.strip(),
        )
        if paper_scan:
            mandate.paper_scan = paper_scan
        mandate.save()
        mandate.reference = f"PZ{creditor.pk:04d}M{mandate.pk:010d}"
        mandate.save(update_fields=["reference"])
        record(
            action,
            actor=actor,
            obj=mandate,
            territory=territory,
            data={"reference": mandate.reference, "channel": channel, "iban": mask_iban(iban)},
        )
    return mandate


def amend_mandate(*, actor: Any, mandate: Mandate, debtor_name: str = "", debtor_iban: str = "") -> Mandate:
    """New IBAN or name under the same reference: schedules, collections and payables stay linked."""
    action = "bank.amend_mandate"
    _require_treasury(action, actor, mandate.territory)
    if mandate.status in (MandateStatus.REVOKED, MandateStatus.EXPIRED):
        refuse(
            action,
            _("Il mandato %(ref)s è %(status)s: serve un nuovo mandato firmato.")
            % {"ref": mandate.reference, "status": mandate.get_status_display().lower()},
            actor=actor,
            territory=mandate.territory,
            code="mandate_closed",
        )
    new_iban = mandate.debtor_iban
    if debtor_iban:
        try:
            new_iban = normalize_iban(debtor_iban, field="debtor_iban")
        except ValidationError as error:
            refuse(
                action,
                error.message_dict["debtor_iban"][0],
                actor=actor,
                territory=mandate.territory,
                code="bad_iban",
                field="debtor_iban",
            )
    new_name = debtor_name.strip() or mandate.debtor_name
    if new_iban == mandate.debtor_iban and new_name == mandate.debtor_name:
        refuse(
            action,
            _("Nessuna modifica: IBAN e intestatario sono quelli già registrati."),
            actor=actor,
            territory=mandate.territory,
            code="no_change",
        )
    with transaction.atomic():
        locked = Mandate.objects.select_for_update().get(pk=mandate.pk)
        MandateAmendment.objects.create(
            mandate=locked,
            old_debtor_name=locked.debtor_name,
            new_debtor_name=new_name,
            old_iban=locked.debtor_iban,
            new_iban=new_iban,
            actor=actor,
        )
        if new_iban != locked.debtor_iban:
            old_bank = (
                locked.debtor_iban[:4] + locked.debtor_iban[5:10]
                if locked.debtor_iban.startswith("IT")
                else bic_for(locked.debtor_iban)[:8]
            )
            new_bank = new_iban[:4] + new_iban[5:10] if new_iban.startswith("IT") else bic_for(new_iban)[:8]
            if not locked.pending_original_iban:
                locked.pending_original_iban = locked.debtor_iban  # the IBAN the bank last saw
            locked.pending_new_bank = locked.pending_new_bank or old_bank != new_bank
            locked.debtor_iban = new_iban
            locked.debtor_bic = bic_for(new_iban)
            locked.status = MandateStatus.AMENDED
            locked.status_reason = ""
        locked.debtor_name = new_name
        locked.save()
        record(
            action,
            actor=actor,
            obj=locked,
            territory=locked.territory,
            data={"iban_changed": new_iban != mandate.debtor_iban, "name_changed": new_name != mandate.debtor_name},
        )
    return locked


def revoke_mandate(*, actor: Any, mandate: Mandate, reason: str) -> Mandate:
    action = "bank.revoke_mandate"
    _require_treasury(action, actor, mandate.territory)
    with transaction.atomic():
        locked = Mandate.objects.select_for_update().get(pk=mandate.pk)
        locked.status = MandateStatus.REVOKED
        locked.status_reason = reason[:300]
        locked.save(update_fields=["status", "status_reason"])
        cancelled = Collection.objects.filter(mandate=locked, status=CollectionStatus.SCHEDULED).update(
            status=CollectionStatus.CANCELLED
        )
        record(
            action,
            actor=actor,
            obj=locked,
            territory=locked.territory,
            data={"reason": reason[:300], "cancelled_collections": cancelled},
        )
    return locked


def expire_mandates(*, actor: Any = None, today: datetime.date | None = None) -> int:
    """Mandates unused for 36 months lapse (scheduled task)."""
    today = today or timezone.localdate()
    expired = 0
    for mandate in Mandate.objects.filter(status__in=[MandateStatus.ACTIVE, MandateStatus.AMENDED]).iterator():
        if (
            mandate.lapses_on() <= today
            and not mandate.collections.filter(
                status__in=[CollectionStatus.SCHEDULED, CollectionStatus.BATCHED, CollectionStatus.EXPORTED]
            ).exists()
        ):
            with transaction.atomic():
                Mandate.objects.filter(pk=mandate.pk).update(
                    status=MandateStatus.EXPIRED, status_reason=_("36 mesi senza addebiti")
                )
                record("bank.expire_mandate", actor=actor, obj=mandate, territory=mandate.territory)
            expired += 1
    return expired
