"""Changing the card of a recurring schedule ("Cambia carta", issue 12): a card setup at the
provider, no money moved; the next charge uses the new saved method, the old one is forgotten.

Convention 5 as for payments: the provider is called outside any transaction, its answer is
applied under the change's and the schedule's row locks, only from `started`. Until a setup
succeeds the schedule keeps its old method: a card refused at setup changes nothing.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from piazza.core.audit import Actor, record
from piazza.core.errors import refuse
from piazza.payments.models import (
    MethodChange,
    MethodChangeState,
    MethodDevice,
    RecurringSchedule,
    SavedMethod,
    ScheduleState,
)
from piazza.payments.providers.base import Capability, Outcome, ProviderError, SetupResult
from piazza.payments.providers.registry import get_provider

log = logging.getLogger(__name__)

# A setup left open (the payer closed the page) is reused for this long, then a new one starts.
OPEN_SETUP_REUSE = timedelta(hours=1)


def can_change_method(schedule: RecurringSchedule) -> bool:
    """The "Cambia carta" button: a live schedule with a saved method, on a provider that can."""
    if schedule.state == ScheduleState.CANCELED or schedule.saved_method_id is None:
        return False
    try:
        provider = get_provider(schedule.provider)
    except LookupError:
        return False
    return provider.has(Capability.CHANGE_METHOD) and provider.is_available()


def start_method_change(*, actor: Actor, schedule: Any, via: str = "payer") -> MethodChange:
    """Open a card setup for `schedule` (the payer, from a page where they proved who they are).

    A setup opened less than an hour ago and not finished is reused (a double click, a reload)."""
    action = "payments.start_method_change"
    current = RecurringSchedule.objects.select_related("saved_method").get(pk=schedule.pk)
    if current.state == ScheduleState.CANCELED:
        refuse(
            action,
            _("Questa donazione ricorrente è stata annullata: non c'è una carta da cambiare."),
            actor=actor,
            territory=current.territory,
            code="schedule_canceled",
        )
    if not can_change_method(current):
        refuse(
            action,
            _("La carta di questa donazione ricorrente non si può cambiare da qui: scrivi al tuo circolo."),
            actor=actor,
            territory=current.territory,
            code="not_supported",
        )
    since = timezone.now() - OPEN_SETUP_REUSE
    open_change = (
        MethodChange.objects.filter(schedule=current, state=MethodChangeState.STARTED, created_at__gte=since)
        .exclude(provider_reference="")
        .first()
    )
    if open_change is not None:
        return open_change
    try:
        with transaction.atomic():
            number = MethodChange.objects.filter(schedule=current).count() + 1
            change = MethodChange.objects.create(
                schedule=current,
                provider=current.provider,
                provider_key=f"piazza-schedule-{current.pk}-method-change-{number}",
                old_method=current.saved_method,
            )
            record(
                action, actor=actor, obj=current, territory=current.territory, data={"change": change.pk, "via": via}
            )
    except IntegrityError:  # a concurrent click opened the same one
        return MethodChange.objects.filter(schedule=current).order_by("-pk").first() or start_method_change(
            actor=actor, schedule=current, via=via
        )
    customer = current.saved_method.customer_reference if current.saved_method is not None else ""
    try:
        result = get_provider(current.provider).start_setup(change, customer)
    except ProviderError as exc:
        log.warning("method change %s: the provider did not answer (%s)", change.pk, exc)
        _finish(actor=actor, change_id=change.pk, result=SetupResult(outcome=Outcome.FAILED), code="processing_error")
        refuse(
            action,
            _("Il circuito della carta non ha risposto: la carta non è cambiata. Riprova tra qualche minuto."),
            actor=actor,
            territory=current.territory,
            code="provider_error",
        )
    MethodChange.objects.filter(pk=change.pk).update(provider_reference=result.reference[:120])
    change.provider_reference = result.reference[:120]
    return change


def _still_used(method: SavedMethod) -> bool:
    """Another live schedule charges it, or a browser may still give with it in one click."""
    return (
        RecurringSchedule.objects.filter(saved_method=method).exclude(state=ScheduleState.CANCELED).exists()
        or MethodDevice.objects.filter(method=method, revoked_at__isnull=True).exists()
    )


def _finish(*, actor: Actor, change_id: int, result: SetupResult, via: str = "payer", code: str = "") -> MethodChange:
    """Apply a setup's outcome under the row locks; only a `started` change moves."""
    with transaction.atomic():
        change = MethodChange.objects.select_for_update().get(pk=change_id)
        if change.state != MethodChangeState.STARTED:
            return change
        schedule = RecurringSchedule.objects.select_for_update().get(pk=change.schedule_id)
        now = timezone.now()
        if result.outcome == Outcome.SUCCEEDED and result.saved_method is not None:
            if schedule.state == ScheduleState.CANCELED:
                code = "canceled"  # cancelled meanwhile: nothing to charge the new card for
            else:
                info = result.saved_method
                method, _created = SavedMethod.objects.get_or_create(
                    provider=change.provider,
                    method_reference=info.method_reference,
                    defaults={
                        "customer_reference": info.customer_reference,
                        "label": info.label[:100],
                        "payer": schedule.payer,
                        "payer_email": schedule.payer_email,
                    },
                )
                old = schedule.saved_method
                schedule.saved_method = method
                schedule.save(update_fields=["saved_method"])
                change.state, change.new_method, change.old_method = MethodChangeState.SUCCEEDED, method, old
                change.completed_at = now
                change.save(update_fields=["state", "new_method", "old_method", "completed_at"])
                record(
                    "payments.change_saved_method",
                    actor=actor,
                    obj=schedule,
                    territory=schedule.territory,
                    data={
                        "change": change.pk,
                        "from_method": old.pk if old is not None else None,
                        "to_method": method.pk,
                        "via": via,
                    },
                )
                return change
        change.state = MethodChangeState.FAILED
        change.failure_code = (code or result.failure_code or "card_declined")[:60]
        change.completed_at = now
        change.save(update_fields=["state", "failure_code", "completed_at"])
        record(
            "payments.change_saved_method_failed",
            actor=actor,
            obj=schedule,
            territory=schedule.territory,
            data={"change": change.pk, "code": change.failure_code, "via": via},
        )
    return change


def _after(*, actor: Actor, change: MethodChange, via: str) -> MethodChange:
    """Once the schedule charges the new method, the old one is detached at the provider (outside
    any transaction) unless something else of the payer's still uses it."""
    old = change.old_method
    if change.state == MethodChangeState.SUCCEEDED and old is not None and old.pk != change.new_method_id:
        forget_saved_method(actor=actor, method_id=old.pk, via=via)
    return change


def forget_saved_method(*, actor: Actor, method_id: int, via: str = "payer") -> bool:
    """Detach a replaced method at its provider and mark it forgotten: it is never charged again.
    False (and nothing done) while a live schedule or an authorised browser still uses it."""
    method = SavedMethod.objects.get(pk=method_id)
    if method.forgotten_at is not None or _still_used(method):
        return False
    try:
        get_provider(method.provider).forget_method(method)
    except (ProviderError, LookupError) as exc:
        # The schedule no longer points to it, so we never charge it; detaching is retried by
        # the next change, and the payer can remove it at the provider too.
        log.warning("saved method %s could not be detached (%s)", method.pk, exc)
        return False
    with transaction.atomic():
        if not SavedMethod.objects.filter(pk=method.pk, forgotten_at__isnull=True).update(forgotten_at=timezone.now()):
            return False
        record("payments.forget_saved_method", actor=actor, obj=method, data={"via": via})
    return True


def _open_change(*, action: str, actor: Actor, change: MethodChange) -> None:
    if change.state != MethodChangeState.STARTED:
        refuse(
            action,
            _("Questo cambio di carta è già concluso: se vuoi cambiarla ancora, ricomincia da Il mio spazio."),
            actor=actor,
            territory=change.schedule.territory,
            code="finished",
        )


def confirm_method_change(
    *, actor: Actor, change: MethodChange, data: dict[str, Any], via: str = "payer"
) -> MethodChange:
    """The payer typed the new card on our page (providers with a `setup_form`: the sandbox)."""
    action = "payments.confirm_method_change"
    _open_change(action=action, actor=actor, change=change)
    provider = get_provider(change.provider)
    try:
        result = provider.confirm_setup(change, data)
    except ProviderError as exc:
        log.warning("method change %s: the provider did not answer (%s)", change.pk, exc)
        result = SetupResult(outcome=Outcome.FAILED, failure_code="processing_error")
    finished = _finish(actor=actor, change_id=change.pk, result=result, via=via)
    return _after(actor=actor, change=finished, via=via)


def sync_method_change(
    *, actor: Actor, change: MethodChange, final: bool, via: str = "payer"
) -> tuple[MethodChange, SetupResult]:
    """Re-fetch the setup (the payer's page, or their return from the provider's confirmation):
    a success is applied; with `final` (the return) a refusal the provider recorded ends it."""
    try:
        result = get_provider(change.provider).fetch_setup(change)
    except ProviderError as exc:
        log.warning("method change %s: the provider did not answer (%s)", change.pk, exc)
        return change, SetupResult(outcome=Outcome.PENDING, failure_code="processing_error")
    if change.state != MethodChangeState.STARTED:
        return change, result
    if result.outcome == Outcome.SUCCEEDED or result.outcome == Outcome.FAILED or (final and result.failure_code):
        if result.outcome != Outcome.SUCCEEDED and not result.failure_code:
            result.failure_code = "card_declined"
        change = _finish(
            actor=actor,
            change_id=change.pk,
            result=SetupResult(
                outcome=Outcome.SUCCEEDED if result.outcome == Outcome.SUCCEEDED else Outcome.FAILED,
                reference=result.reference,
                failure_code=result.failure_code,
                saved_method=result.saved_method,
            ),
            via=via,
        )
        change = _after(actor=actor, change=change, via=via)
    return change, result
