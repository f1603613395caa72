"""Which payment methods a territory accepts, and checks of approved instruments."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from piazza.core.audit import Actor, record
from piazza.core.errors import refuse
from piazza.payments import methods
from piazza.payments.models import (
    IN_FLIGHT_ATTEMPT_STATES,
    AttemptState,
    Payment,
    PaymentAttempt,
    PaymentMethodSetting,
    State,
)
from piazza.payments.payables import handler_for, notify
from piazza.payments.providers.base import (
    InstrumentInfo,
    ProviderError,
)
from piazza.payments.providers.registry import get_provider
from piazza.territory.models import Role
from piazza.territory.scoping import has_role_at

from ._transitions import _event, _locked, _move, log

# --- the payer's choice of method, and the payable's rules on the instrument (issue 11) ------


def check_instrument(*, actor: Actor, payment: Payment, instrument: InstrumentInfo) -> None:
    """The payable's rules on the instrument about to pay (M24 for membership fees): refused with
    the payable's own message and audit entry, before any money moves. Outside transactions."""
    handler = handler_for(payment.payable_label)
    if handler is not None and handler.checks_instruments():  # no rules: no read of the payable (P4)
        handler.check_instrument(payment, payment.payable, instrument, actor=actor)


def choose_method(*, actor: Actor, payment: Payment, method: str) -> Payment:
    """The payer picks how to pay (card, PayPal, bank transfer, SEPA direct debit): the payment
    moves to that method's rail. Only a method offered for this payment (`methods.offered_methods`),
    and only while no charge is in flight, so a running charge is never orphaned."""
    action = "payments.choose_method"
    chosen = next((m for m in methods.offered_methods(payment) if m.kind == method), None)
    if chosen is None:
        refuse(
            action,
            _("Questo metodo di pagamento non è disponibile per questo pagamento: scegline uno dell'elenco."),
            actor=actor,
            territory=payment.territory,
            code="method_unavailable",
            field="method",
        )
        raise AssertionError  # unreachable: refuse() raises
    if not methods.may_change(payment):
        refuse(
            action,
            _(
                "Un pagamento è già in corso con il metodo scelto prima: attendi l'esito (o completa il "
                "bonifico) prima di cambiare metodo."
            ),
            actor=actor,
            territory=payment.territory,
            code="attempt_in_flight",
            field="method",
        )
    with transaction.atomic():
        locked = _locked(payment.pk)
        if not methods.may_change(locked):  # changed since the read above: nothing is written
            raise ValidationError(_("Il pagamento è cambiato nel frattempo: ricarica la pagina."), code="changed")
        previous = locked.provider
        locked.provider = chosen.provider
        locked.metadata = {**(locked.metadata or {}), "method_chosen": chosen.kind}
        locked.save(update_fields=["provider", "metadata", "updated_at"])
        _event(locked, "method_chosen", actor=actor, method=chosen.kind, provider=chosen.provider, previous=previous)
        record(
            action,
            actor=actor,
            obj=locked,
            territory=locked.territory,
            data={"method": chosen.kind, "provider": chosen.provider, "previous": previous},
        )
    payment.refresh_from_db()
    return payment


def check_approved_instrument(*, actor: Actor, payment: Payment, attempt: PaymentAttempt) -> None:
    """Back from the provider's site and before the capture (PayPal): the payable's rules on the
    account that approved. A refusal fails the attempt, so nothing captures it later (a webhook,
    reconciliation), and the payment page shows why; then the ValidationError is raised again."""
    handler = handler_for(payment.payable_label)
    if handler is None or not handler.capture_after_check:
        return
    instrument = get_provider(payment.provider).approved_instrument(payment, attempt)
    if instrument is None:
        return
    try:
        check_instrument(actor=actor, payment=payment, instrument=instrument)
    except ValidationError as exc:
        message = " ".join(exc.messages)
        with transaction.atomic():
            locked = _locked(payment.pk)
            PaymentAttempt.objects.filter(pk=attempt.pk, state__in=IN_FLIGHT_ATTEMPT_STATES).update(
                state=AttemptState.FAILED, failure_code="instrument_refused", updated_at=timezone.now()
            )
            if locked.can_move_to(State.FAILED):
                locked.failure_code = "instrument_refused"
                locked.failure_message = message[:300]
                locked.save(update_fields=["failure_code", "failure_message", "updated_at"])
                _move(locked, State.FAILED, actor=actor, kind="failed", source="return", code="instrument_refused")
                notify(locked, "failed")
        try:
            get_provider(payment.provider).release_approval(payment, attempt)
        except ProviderError as release_error:  # the hold expires on its own; the refusal stands
            log.warning("payment %s: approval not released (%s)", payment.pk, release_error)
        raise


def set_territory_method(*, actor: Actor, territory: Any, provider: str, enabled: bool) -> PaymentMethodSetting:
    """A treasurer (or administrator) of `territory` offers or withdraws a rail for the payables of
    the territory and everything below it, unless a territory below says otherwise."""
    action = "payments.set_territory_method"
    if not has_role_at(actor, territory, [Role.TREASURY, Role.ADMINISTRATOR]):
        refuse(
            action,
            _("Solo la tesoreria di %(t)s decide i metodi di pagamento offerti lì.") % {"t": territory},
            actor=actor,
            territory=territory,
            code="out_of_scope",
            permission=True,
        )
    try:
        get_provider(provider)
    except LookupError:
        refuse(
            action,
            _("Metodo di pagamento sconosciuto: %(p)s.") % {"p": provider},
            actor=actor,
            territory=territory,
            code="unknown_provider",
            field="provider",
        )
    with transaction.atomic():
        setting, _created = PaymentMethodSetting.objects.update_or_create(
            territory=territory, provider=provider, defaults={"enabled": enabled}
        )
        record(action, actor=actor, obj=setting, territory=territory, data={"provider": provider, "enabled": enabled})
    return setting
