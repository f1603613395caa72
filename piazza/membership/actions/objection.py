"""Objections to a membership and appeals."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from piazza.core.audit import record
from piazza.core.errors import refuse
from piazza.membership.models import (
    LIVE_STATUSES,
    PAID_STATUSES,
    Appeal,
    AppealInstance,
    AppealOutcome,
    Membership,
    Objection,
    ObjectionStatus,
    Status,
    rules_for,
)
from piazza.territory.models import Level, RoleAssignment, Territory
from piazza.territory.scoping import has_role_at

from ._guards import GUARANTEE_ROLES, MEMBERSHIP_ROLES
from .applicant import _timeline
from .join import _date

# --- Objections and appeals (M18) -------------------------------------------------------


def raise_objection(
    *, actor: Any, membership: Membership, body: str, reason: str, now: dt.datetime | None = None
) -> Objection:
    action = "membership.raise_objection"
    now = now or timezone.now()
    roles = MEMBERSHIP_ROLES if body == Objection.RaisedBy.CIRCOLO else GUARANTEE_ROLES
    if not has_role_at(actor, membership.circolo, roles):
        refuse(
            action,
            _("Può contestare un'iscrizione il circolo o la commissione di garanzia competente."),
            actor=actor,
            territory=membership.circolo,
            code="out_of_scope",
            permission=True,
        )
    if not reason.strip():
        refuse(
            action,
            _("Indica il motivo della contestazione."),
            actor=actor,
            territory=membership.circolo,
            code="reason_required",
            field="reason",
        )
    if membership.status not in PAID_STATUSES:
        refuse(
            action,
            _("Si contesta un'iscrizione pagata e in corso: questa è «%(s)s».")
            % {"s": membership.get_status_display()},
            actor=actor,
            territory=membership.circolo,
            code="wrong_state",
        )
    if membership.objection_deadline is None or now > membership.objection_deadline:
        refuse(
            action,
            _("Il termine per contestare questa iscrizione è scaduto o non è ancora aperto (si apre al pagamento)."),
            actor=actor,
            territory=membership.circolo,
            code="outside_window",
        )
    with transaction.atomic():
        objection = Objection.objects.create(
            membership=membership, raised_by_body=body, raised_by=actor, raised_at=now, reason=reason.strip()
        )
        record(action, actor=actor, obj=objection, territory=membership.circolo, data={"body": body})
    return objection


def decide_objection(
    *, actor: Any, objection: Objection, uphold: bool, reason: str, now: dt.datetime | None = None
) -> Objection:
    """The guarantee commission decides with reasons; the appeal window opens (M18)."""
    action = "membership.decide_objection"
    now = now or timezone.now()
    membership = objection.membership
    if not has_role_at(actor, membership.circolo, GUARANTEE_ROLES):
        refuse(
            action,
            _("Decide la commissione di garanzia."),
            actor=actor,
            territory=membership.circolo,
            code="out_of_scope",
            permission=True,
        )
    if objection.status != ObjectionStatus.OPEN:
        refuse(action, _("Questa contestazione è già stata decisa."), actor=actor, code="already_decided")
    if not reason.strip():
        refuse(action, _("Una decisione va motivata."), actor=actor, code="reason_required", field="reason")
    rules = rules_for(membership.circolo)
    with transaction.atomic():
        if Objection.objects.select_for_update().filter(pk=objection.pk).values_list("status", flat=True).get() != (
            ObjectionStatus.OPEN
        ):
            raise ValidationError(_("Questa contestazione è stata appena decisa: ricarica la pagina."))
        objection.status = ObjectionStatus.UPHELD if uphold else ObjectionStatus.DISMISSED
        objection.decided_at = now
        objection.decided_by = actor
        objection.decision_reason = reason.strip()
        objection.appeal_deadline = now + dt.timedelta(hours=rules.appeal_hours)
        objection.save()
        if uphold:
            Membership.objects.filter(pk=membership.pk).update(
                status=Status.REJECTED, ended_at=now, end_reason=reason.strip()
            )
        record(
            action,
            actor=actor,
            obj=objection,
            territory=membership.circolo,
            data={"uphold": uphold, "appeal_deadline": objection.appeal_deadline.isoformat()},
        )
    return objection


APPEAL_LEVELS = {AppealInstance.REGIONAL: Level.REGION, AppealInstance.NATIONAL: Level.NATIONAL}


def appeal_commission(circolo: Territory, instance: int) -> Territory:
    """Rule M18: the commission competent for an appeal at `instance` (regional, then national)."""
    commission = circolo.ancestor_at(APPEAL_LEVELS[AppealInstance(instance)])
    if commission is None:  # a circolo hanging straight below the nation (abroad): the nation decides
        commission = circolo.ancestor_at(Level.NATIONAL)
    assert commission is not None
    return commission


def _decision_hours(rules: Any, instance: int) -> int:
    return int(
        rules.appeal_decision_hours_regional
        if instance == AppealInstance.REGIONAL
        else rules.appeal_decision_hours_national
    )


def is_commission_member(user: Any, commission: Territory) -> bool:
    """A member of that very commission (a role held at its territory, not above it): the national
    commission does not decide in place of the regional one, and no body judges twice."""
    if not getattr(user, "is_authenticated", False):
        return False
    return RoleAssignment.objects.filter(
        user=user, territory=commission, role__in=list(GUARANTEE_ROLES), revoked_at__isnull=True
    ).exists()


def file_appeal(*, actor: Any, objection: Objection, reason: str, now: dt.datetime | None = None) -> Objection:
    """Appeal the last decision within `appeal_hours` of it, to the next instance (M18).

    The provincial decision goes to the regional commission, the regional one to the national
    commission, whose decision is final. The counter-appeal window (`counter_appeal_hours`) and
    the commission's decision deadline (per instance, open parameters) start now.
    """
    action = "membership.file_appeal"
    now = now or timezone.now()
    circolo = objection.membership.circolo
    rules = rules_for(circolo)
    if objection.status == ObjectionStatus.OPEN:
        refuse(
            action,
            _("La contestazione non è ancora decisa: il ricorso si presenta contro una decisione."),
            actor=actor,
            territory=circolo,
            code="not_decided",
        )
    last = objection.appeals.order_by("-instance").first()
    if last is not None and last.decided_at is None:
        refuse(
            action,
            _("Il ricorso è già stato presentato: attende la decisione della %(c)s.")
            % {"c": last.get_instance_display().lower()},
            actor=actor,
            territory=circolo,
            code="already_filed",
        )
    if last is not None and last.is_last_instance:
        refuse(
            action,
            _("La commissione nazionale di garanzia è l'ultima istanza: la sua decisione è definitiva."),
            actor=actor,
            territory=circolo,
            code="last_instance",
        )
    deadline = objection.appeal_deadline if last is None else last.next_appeal_deadline
    if deadline is None or now > deadline:
        refuse(
            action,
            _("Il termine per il ricorso (%(h)s ore dalla decisione) è scaduto.") % {"h": rules.appeal_hours},
            actor=actor,
            territory=circolo,
            code="appeal_late",
        )
    if not reason.strip():
        refuse(
            action,
            _("Riporta i motivi del ricorso."),
            actor=actor,
            territory=circolo,
            code="reason_required",
            field="reason",
        )
    instance = AppealInstance.REGIONAL if last is None else AppealInstance(last.instance + 1)
    commission = appeal_commission(circolo, instance)
    try:
        with transaction.atomic():
            Objection.objects.select_for_update().filter(pk=objection.pk).first()
            appeal = Appeal.objects.create(
                objection=objection,
                instance=instance,
                commission=commission,
                filed_at=now,
                filed_by=actor if getattr(actor, "is_authenticated", False) else None,
                reason=reason.strip(),
                counter_deadline=now + dt.timedelta(hours=rules.counter_appeal_hours),
                decision_due=now + dt.timedelta(hours=_decision_hours(rules, instance)),
            )
            if last is None:  # the first appeal is also summarised on the objection
                objection.appeal_filed_at = now
                objection.appeal_reason = reason.strip()
                objection.counter_appeal_deadline = appeal.counter_deadline
                objection.save(update_fields=["appeal_filed_at", "appeal_reason", "counter_appeal_deadline"])
            record(
                action,
                actor=actor,
                obj=objection,
                territory=circolo,
                data={
                    "instance": int(instance),
                    "commission": commission.pk,
                    "appeal": appeal.pk,
                    "decision_due": appeal.decision_due.isoformat(),
                },
            )
    except IntegrityError:
        raise ValidationError(
            _("Il ricorso è stato appena presentato: ricarica la pagina."), code="already_filed"
        ) from None
    return objection


def _pending_appeal(objection: Objection) -> Appeal | None:
    return objection.appeals.filter(decided_at__isnull=True).order_by("-instance").first()


def file_counter_appeal(*, actor: Any, objection: Objection, reason: str, now: dt.datetime | None = None) -> Objection:
    """The other side answers the pending appeal within `counter_appeal_hours` of its filing (M18)."""
    action = "membership.file_counter_appeal"
    now = now or timezone.now()
    appeal = _pending_appeal(objection)
    if appeal is None or now > appeal.counter_deadline:
        refuse(
            action,
            _("Il termine per il controricorso è scaduto o non è aperto."),
            actor=actor,
            territory=objection.membership.circolo,
            code="counter_appeal_late",
        )
    assert appeal is not None
    if appeal.counter_filed_at is not None:
        refuse(
            action,
            _("Il controricorso è già stato presentato."),
            actor=actor,
            territory=objection.membership.circolo,
            code="already_filed",
        )
    with transaction.atomic():
        appeal.counter_filed_at = now
        appeal.counter_reason = reason.strip()
        appeal.save(update_fields=["counter_filed_at", "counter_reason"])
        if appeal.instance == AppealInstance.REGIONAL:
            objection.counter_appeal_filed_at = now
            objection.counter_appeal_reason = reason.strip()
            objection.save(update_fields=["counter_appeal_filed_at", "counter_appeal_reason"])
        record(
            action,
            actor=actor,
            obj=objection,
            territory=objection.membership.circolo,
            data={"instance": appeal.instance, "appeal": appeal.pk},
        )
    return objection


def admitted_before(appeal: Appeal) -> bool:
    """Whether the membership stood after the decision this appeal challenges."""
    previous = (
        Appeal.objects.filter(objection_id=appeal.objection_id, instance__lt=appeal.instance, decided_at__isnull=False)
        .order_by("-instance")
        .first()
    )
    if previous is not None and previous.membership_admitted is not None:
        return previous.membership_admitted
    return appeal.objection.status != ObjectionStatus.UPHELD


def decide_appeal(*, actor: Any, appeal: Appeal, outcome: str, reason: str, now: dt.datetime | None = None) -> Appeal:
    """The competent commission decides an appeal with reasons (M18); the roll follows the outcome.

    Upheld reverses the decision appealed against (a rejected membership is reinstated, a confirmed
    one rejected); rejected and inadmissible leave it standing. A further appeal to the next
    instance is open for `appeal_hours`, except after the national commission (last instance).
    Only members of the competent commission decide, after the counter-appeal window unless the
    counter-appeal is in.
    """
    action = "membership.decide_appeal"
    now = now or timezone.now()
    membership = appeal.objection.membership
    circolo = membership.circolo
    if not is_commission_member(actor, appeal.commission):
        refuse(
            action,
            _("Decide questo ricorso la %(c)s di %(t)s.")
            % {"c": appeal.get_instance_display().lower(), "t": appeal.commission.name},
            actor=actor,
            territory=appeal.commission,
            code="out_of_scope",
            permission=True,
        )
    if appeal.decided_at is not None:
        refuse(
            action,
            _("Questo ricorso è già stato deciso."),
            actor=actor,
            territory=appeal.commission,
            code="already_decided",
        )
    if outcome not in AppealOutcome.values:
        refuse(
            action,
            _("Scegli l'esito: accolto, respinto o inammissibile."),
            actor=actor,
            territory=appeal.commission,
            code="bad_outcome",
            field="outcome",
        )
    if not reason.strip():
        refuse(
            action,
            _("Una decisione va motivata."),
            actor=actor,
            territory=appeal.commission,
            code="reason_required",
            field="reason",
        )
    if appeal.counter_filed_at is None and now <= appeal.counter_deadline:
        refuse(
            action,
            _(
                "Il controricorso si può presentare fino al %(d)s: si decide dopo quella scadenza o dopo "
                "il controricorso."
            )
            % {"d": _date(appeal.counter_deadline)},
            actor=actor,
            territory=appeal.commission,
            code="counter_window_open",
        )
    before = admitted_before(appeal)
    admitted = (not before) if outcome == AppealOutcome.UPHELD else before
    if (
        admitted
        and not before
        and Membership.objects.filter(person_id=membership.person_id, year=membership.year, status__in=LIVE_STATUSES)
        .exclude(pk=membership.pk)
        .exists()
    ):
        refuse(
            action,
            _(
                "La persona ha nel frattempo un'altra iscrizione per il %(y)s: prima di reintegrare questa "
                "va annullata quella (una sola iscrizione per anno, regola M4)."
            )
            % {"y": membership.year},
            actor=actor,
            territory=appeal.commission,
            code="duplicate",
        )
    rules = rules_for(circolo)
    with transaction.atomic():
        locked = Appeal.objects.select_for_update().get(pk=appeal.pk)
        if locked.decided_at is not None:
            raise ValidationError(_("Questo ricorso è stato appena deciso: ricarica la pagina."))
        locked.outcome = outcome
        locked.decision_reason = reason.strip()
        locked.decided_at = now
        locked.decided_by = actor
        locked.membership_admitted = admitted
        locked.next_appeal_deadline = None if locked.is_last_instance else now + dt.timedelta(hours=rules.appeal_hours)
        locked.save()
        record(
            action,
            actor=actor,
            obj=appeal.objection,
            territory=appeal.commission,
            data={
                "instance": locked.instance,
                "appeal": locked.pk,
                "outcome": outcome,
                "admitted": admitted,
                "late": now > locked.decision_due,
                "rule": "M18",
            },
        )
        if admitted != before:
            _apply_appeal_outcome(membership, admitted=admitted, actor=actor, appeal=locked, now=now)
    return locked


def _apply_appeal_outcome(
    membership: Membership, *, admitted: bool, actor: Any, appeal: Appeal, now: dt.datetime
) -> None:
    """The roll follows the appeal: reinstate a rejected membership, or reject an admitted one."""
    locked = Membership.objects.select_for_update(of=("self",)).select_related("person").get(pk=membership.pk)
    label = appeal.get_instance_display()
    if admitted:
        if locked.status != Status.REJECTED or locked.paid_at is None:
            return
        if (
            Membership.objects.filter(person_id=locked.person_id, year=locked.year, status__in=LIVE_STATUSES)
            .exclude(pk=locked.pk)
            .exists()
        ):
            raise ValidationError(
                _(
                    "La persona ha nel frattempo un'altra iscrizione per il %(y)s: annulla quella "
                    "prima di reintegrare questa."
                )
                % {"y": locked.year},
                code="duplicate",
            )
        locked.status = Status.EFFECTIVE if locked.effective_at else Status.PAID
        locked.ended_at = None
        locked.end_reason = ""
        locked.save(update_fields=["status", "ended_at", "end_reason"])
        record(
            "membership.reinstated",
            actor=actor,
            obj=locked,
            territory=locked.circolo,
            data={"appeal": appeal.pk, "instance": appeal.instance, "status": locked.status},
        )
        _timeline(
            locked.person,
            actor,
            "membership.reinstated",
            _("Iscrizione %(y)s reintegrata dalla %(c)s") % {"y": locked.year, "c": label.lower()},
            {"membership": locked.pk},
        )
    else:
        if locked.status not in PAID_STATUSES:
            return
        locked.status = Status.REJECTED
        locked.ended_at = now
        locked.end_reason = appeal.decision_reason
        locked.save(update_fields=["status", "ended_at", "end_reason"])
        record(
            "membership.rejected_on_appeal",
            actor=actor,
            obj=locked,
            territory=locked.circolo,
            data={"appeal": appeal.pk, "instance": appeal.instance},
        )
        _timeline(
            locked.person,
            actor,
            "membership.rejected",
            _("Iscrizione %(y)s respinta dalla %(c)s") % {"y": locked.year, "c": label.lower()},
            {"membership": locked.pk},
        )
