"""Fee schedules, regional surcharges and membership rules set by officials (M5, M6)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from piazza.core.audit import record
from piazza.core.errors import refuse
from piazza.membership.fees import FeeQuote, compute_fee, format_cents
from piazza.membership.models import (
    DEFAULT_RULES,
    DESK_METHODS,
    FeeSchedule,
    MembershipRules,
    RegionalSurcharge,
)
from piazza.territory.models import Level, Role, Territory
from piazza.territory.scoping import has_role_at

from ._guards import MEMBERSHIP_ROLES, _refuse_many

# --- Fee schedules and surcharges (M5–M8) -----------------------------------------------


def set_fee_schedule(*, actor: Any, year: int, national: Territory, **values: Any) -> FeeSchedule:
    """Create or update a year's schedule (rule M5): only national membership officers."""
    action = "membership.set_fee_schedule"
    if not has_role_at(actor, national, MEMBERSHIP_ROLES) or national.level != Level.NATIONAL:
        refuse(
            action,
            _("Solo il tesseramento nazionale fissa le quote dell'anno."),
            actor=actor,
            territory=national,
            code="out_of_scope",
            permission=True,
        )
    problems: dict[str, list[str]] = {}
    if values.get("base_fee_cents", 1) <= 0:
        problems["base_fee_cents"] = [_("La quota base deve essere maggiore di zero.")]
    for name in ("national_surcharge_cents", "regional_surcharge_cap_cents"):
        if values.get(name, 0) < 0:
            problems[name] = [_("Una maggiorazione non può essere negativa.")]
    base = values.get("base_fee_cents", 1500) + values.get("national_surcharge_cents", 0)
    if "total_cap_cents" in values and values["total_cap_cents"] < base:
        problems["total_cap_cents"] = [
            _(
                "Il tetto del totale (%(cap)s) è più basso di quota base e maggiorazione "
                "nazionale (%(base)s): nessuno potrebbe iscriversi."
            )
            % {"cap": format_cents(values["total_cap_cents"]), "base": format_cents(base)}
        ]
    if not 0 <= values.get("reduced_percent", 50) <= 100:
        problems["reduced_percent"] = [_("La percentuale della fascia ridotta va da 0 a 100.")]
    if values.get("closes_at") and values.get("opens_at") and values["closes_at"] <= values["opens_at"]:
        problems["closes_at"] = [_("La chiusura del tesseramento deve venire dopo l'apertura.")]
    if problems:
        _refuse_many(action, problems, actor=actor, territory=national, code="invalid_fee")
    with transaction.atomic():
        schedule, created = FeeSchedule.objects.update_or_create(year=year, defaults=values)
        record(
            action,
            actor=actor,
            obj=schedule,
            territory=national,
            data={"year": year, "created": created, **{k: str(v) for k, v in values.items()}},
        )
    return schedule


def set_regional_surcharge(
    *, actor: Any, region: Territory, year: int, amount_cents: int, now: dt.datetime | None = None
) -> RegionalSurcharge:
    """Rule M6: a regional union sets its surcharge by the deadline, at most the cap, and the
    total at joining stays within the total cap."""
    action = "membership.set_regional_surcharge"
    now = now or timezone.now()
    if region.level != Level.REGION:
        refuse(
            action,
            _("La maggiorazione regionale la fissa un'unione regionale."),
            actor=actor,
            territory=region,
            code="not_a_region",
        )
    if not has_role_at(actor, region, MEMBERSHIP_ROLES | {Role.TREASURY}):
        refuse(
            action,
            _("Non hai un ruolo di tesseramento o tesoreria su %(t)s.") % {"t": region},
            actor=actor,
            territory=region,
            code="out_of_scope",
            permission=True,
        )
    schedule = FeeSchedule.objects.filter(year=year).first()
    if schedule is None:
        refuse(
            action,
            _("Le quote del %(year)s non sono ancora state fissate dal nazionale.") % {"year": year},
            actor=actor,
            territory=region,
            code="no_schedule",
        )
        raise AssertionError  # unreachable: refuse raises
    if timezone.localdate(now) > schedule.regional_deadline:
        refuse(
            action,
            _("Il termine per fissare la maggiorazione regionale del %(year)s era il %(date)s.")
            % {"year": year, "date": date_format(schedule.regional_deadline, "d/m/Y")},
            actor=actor,
            territory=region,
            code="after_deadline",
            field="amount_cents",
        )
    if amount_cents < 0:
        refuse(
            action,
            _("La maggiorazione non può essere negativa."),
            actor=actor,
            territory=region,
            code="negative",
            field="amount_cents",
        )
    if amount_cents > schedule.regional_surcharge_cap_cents:
        refuse(
            action,
            _("La maggiorazione regionale può essere al massimo %(cap)s: hai indicato %(amount)s.")
            % {"cap": format_cents(schedule.regional_surcharge_cap_cents), "amount": format_cents(amount_cents)},
            actor=actor,
            territory=region,
            code="above_cap",
            field="amount_cents",
            rule="M6",
        )
    total = schedule.base_fee_cents + schedule.national_surcharge_cents + amount_cents
    if total > schedule.total_cap_cents:
        refuse(
            action,
            _(
                "Con questa maggiorazione la quota all'iscrizione sarebbe %(total)s, oltre il tetto di "
                "%(cap)s. La maggiorazione può essere al massimo %(max)s."
            )
            % {
                "total": format_cents(total),
                "cap": format_cents(schedule.total_cap_cents),
                "max": format_cents(
                    schedule.total_cap_cents - schedule.base_fee_cents - schedule.national_surcharge_cents
                ),
            },
            actor=actor,
            territory=region,
            code="above_total_cap",
            field="amount_cents",
            rule="M6",
        )
    with transaction.atomic():
        surcharge, _created = RegionalSurcharge.objects.update_or_create(
            schedule=schedule, region=region, defaults={"amount_cents": amount_cents, "set_at": now, "set_by": actor}
        )
        record(action, actor=actor, obj=surcharge, territory=region, data={"year": year, "amount_cents": amount_cents})
    return surcharge


RULE_FIELDS = list(DEFAULT_RULES)


def set_membership_rules(*, actor: Any, territory: Territory, **values: Any) -> MembershipRules:
    """A federation, region or the national office sets its parameters (M2 age, M18 windows, M23
    cap, M24 limits, cash); None = inherit from above. Only membership or organisation officers
    of that territory."""
    action = "membership.set_rules"
    if territory.level == Level.CIRCOLO or not has_role_at(actor, territory, MEMBERSHIP_ROLES):
        refuse(
            action,
            _(
                "Le regole di tesseramento le fissano federazione, regione o nazionale, con un ruolo di "
                "tesseramento su %(t)s."
            )
            % {"t": territory},
            actor=actor,
            territory=territory,
            code="out_of_scope",
            permission=True,
        )
    unknown = sorted(set(values) - set(RULE_FIELDS))
    if unknown:
        refuse(
            action,
            _("Parametri sconosciuti: %(n)s.") % {"n": ", ".join(unknown)},
            actor=actor,
            territory=territory,
            code="unknown_rule",
        )
    problems: dict[str, list[str]] = {}
    if values.get("min_age") is not None and not 14 <= values["min_age"] <= 18:
        problems["min_age"] = [_("L'età minima va da 14 a 18 anni.")]
    if values.get("out_of_area_cap_percent") is not None and values["out_of_area_cap_percent"] > 100:
        problems["out_of_area_cap_percent"] = [_("Una quota è al massimo 100%.")]
    for name in (
        "max_per_instrument",
        "objection_days",
        "appeal_hours",
        "counter_appeal_hours",
        "appeal_decision_hours_regional",
        "appeal_decision_hours_national",
        "min_members_online",
        "min_members_punto_pd",
    ):
        if values.get(name) is not None and values[name] < 1:
            problems[name] = [_("Il valore deve essere almeno 1.")]
    if "desk_methods" in values:
        # Issue 11 item 11: codes of the desk methods, comma-separated; empty = inherit.
        codes = [c.strip() for c in str(values["desk_methods"] or "").split(",") if c.strip()]
        if any(c not in DESK_METHODS for c in codes):
            problems["desk_methods"] = [_("Al circolo si registrano solo POS, bonifico e contanti.")]
        values["desk_methods"] = ",".join(m for m in DESK_METHODS if m in codes)
    if problems:
        _refuse_many(action, problems, actor=actor, territory=territory, code="invalid_rule")
    with transaction.atomic():
        rules, _created = MembershipRules.objects.select_for_update().get_or_create(territory=territory)
        for name, value in values.items():
            setattr(rules, name, value)
        rules.save()
        record(action, actor=actor, obj=rules, territory=territory, data=dict(values))
    return rules


def schedule_for(year: int) -> FeeSchedule | None:
    return FeeSchedule.objects.filter(year=year).first()


def quote_for(schedule: FeeSchedule, circolo: Territory, birth_date: dt.date | None, on: dt.date) -> FeeQuote:
    """The fee for a person joining `circolo` (M5–M8): one query finds the region's surcharge
    among the circolo's ancestors (P8: no separate lookup of the region)."""
    ancestor_ids = [int(part) for part in circolo.path.strip("/").split("/") if part]
    surcharge = (
        RegionalSurcharge.objects.filter(schedule=schedule, region_id__in=ancestor_ids, region__level=Level.REGION)
        .select_related("region")
        .first()
    )
    return compute_fee(
        schedule,
        regional_surcharge_cents=surcharge.amount_cents if surcharge else 0,
        birth_date=birth_date,
        on=on,
        region_name=surcharge.region.name if surcharge else "",
    )
