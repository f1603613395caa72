"""Anomaly signals for the guarantee commission (M4, M24 and the "tessere gonfiate" patterns).

Each detector reads the memberships of one federation and year and returns `Signal`s with the
evidence and the people involved. They only read: `actions.detect_anomalies` stores them as
`AnomalyFlag`s for review. Nothing is rejected automatically.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Count, Max, Min, Q
from django.utils import timezone
from django.utils.translation import gettext_noop

from piazza.core.i18n import deferred
from piazza.membership.fees import age_on
from piazza.membership.models import (
    LIVE_STATUSES,
    PAID_STATUSES,
    Congress,
    FeeSchedule,
    FlagKind,
    Membership,
    Rules,
    rules_for,
)
from piazza.people.codice_fiscale import consistency_problems, validate_codice_fiscale
from piazza.people.models import Email, Phone
from piazza.territory.models import Territory

# How far back a circolo's own history goes when judging a pre-deadline spike.
HISTORY_DAYS = 365


@dataclass
class Signal:
    kind: str
    key: str
    summary: str
    evidence: dict[str, Any]
    person_ids: list[int]
    circolo_id: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _memberships(federation: Territory, year: int) -> Any:
    return Membership.objects.filter(circolo__path__startswith=federation.path, year=year, status__in=LIVE_STATUSES)


def _iso(value: dt.datetime | None) -> str:
    return timezone.localtime(value).isoformat(timespec="seconds") if value else ""


# Issue 14, P8 (ADR 0051): a flag's evidence lists at most this many memberships (the first paid)
# and payer names, so a join that joins a large group does not read and store all of it again. The
# review page lists every membership of the group from a query (`queries.anomaly_report`).
EVIDENCE_LISTED = 50


def shared_instruments(federation: Territory, year: int, rules: Rules, fingerprint: str | None = None) -> list[Signal]:
    """One card fingerprint, IBAN or payer account for several people's memberships (M4, M24).
    With `fingerprint` (a payment's flag, `actions.payment._flag_instrument`) only that group is
    read, and its signal is the same as the federation scan's for it (issue 14, P8, ADR 0051)."""
    qs = _memberships(federation, year).filter(status__in=PAID_STATUSES).exclude(payer_fingerprint="")
    if fingerprint is not None:
        qs = qs.filter(payer_fingerprint=fingerprint)
    groups = (
        qs.values("payer_fingerprint")
        .annotate(n=Count("person", distinct=True), memberships=Count("pk"), first=Min("paid_at"), last=Max("paid_at"))
        .filter(n__gte=2)
    )
    return [_shared_instrument_signal(qs.filter(payer_fingerprint=g["payer_fingerprint"]), g, rules) for g in groups]


def _shared_instrument_signal(group: Any, row: dict[str, Any], rules: Rules) -> Signal:
    """The signal of one shared instrument, from the group's aggregate `row` and its first
    `EVIDENCE_LISTED` memberships by payment: one read for a group that fits in them, four for a
    larger one (its circoli, payer names and people distinct in SQL), never every row's objects."""
    first, last, n = row["first"], row["last"], row["n"]
    listed = list(_paid_memberships(group)[: EVIDENCE_LISTED + 1])
    if len(listed) <= EVIDENCE_LISTED:
        circoli = {r.circolo.name for r in listed}
        payer_names = sorted({r.payer_name for r in listed if r.payer_name})
        person_ids = sorted({r.person_id for r in listed})
    else:
        listed = listed[:EVIDENCE_LISTED]
        circoli = set(group.values_list("circolo__name", flat=True).distinct())
        names = group.exclude(payer_name="").order_by("payer_name").values_list("payer_name", flat=True)
        payer_names = list(names.distinct()[:EVIDENCE_LISTED])
        person_ids = sorted(group.values_list("person_id", flat=True).distinct())
    # Sharing is a signal (M4: membership is individual), but up to the federation's limit it is
    # allowed (M24): the words say which, and a flag within the limit is not a serious one
    # (issue 11 item 18: a flag "at exactly the limit" read as a breach).
    msgid = (
        gettext_noop(
            "%(n)s tessere pagate con lo stesso strumento in %(days)s giorni (%(circoli)s): "
            "oltre il limite della federazione, %(max)s"
        )
        if n > rules.max_per_instrument
        else gettext_noop(
            "%(n)s tessere pagate con lo stesso strumento in %(days)s giorni (%(circoli)s): "
            "entro il limite della federazione, %(max)s"
        )
    )
    summary = deferred(
        msgid,
        n=n,
        days=((last - first).days + 1) if first and last else 1,
        circoli=", ".join(sorted(circoli)),
        max=rules.max_per_instrument,
    )
    evidence: dict[str, Any] = {
        "count": n,
        "limit": rules.max_per_instrument,
        "first_paid": _iso(first),
        "last_paid": _iso(last),
        "payer_names": payer_names,
        "memberships": [_paid_membership(r) for r in listed],
    }
    if row["memberships"] > len(listed):
        evidence["not_listed"] = row["memberships"] - len(listed)  # the review page lists them all
    return Signal(
        FlagKind.SHARED_INSTRUMENT,
        row["payer_fingerprint"][:128],
        summary,
        evidence,
        person_ids,
        circolo_id=listed[0].circolo_id if len(circoli) == 1 else None,
    )


# What `_paid_membership` and the signal read of a membership: not every column of it, its circolo
# and its person (issue 14, P8, ADR 0051).
PAID_MEMBERSHIP_FIELDS = (
    "card_number",
    "paid_at",
    "payment_method",
    "payer_name",
    "payer_fingerprint",
    "person__first_name",
    "person__last_name",
    "circolo__name",
)


def _paid_memberships(qs: Any) -> Any:
    return qs.select_related("circolo", "person").only(*PAID_MEMBERSHIP_FIELDS).order_by("paid_at", "pk")


def _paid_membership(m: Membership) -> dict[str, str]:
    return {
        "card": m.card_number,
        "person": str(m.person),
        "circolo": m.circolo.name,
        "paid_at": _iso(m.paid_at),
        "method": m.payment_method,
    }


def shared_instrument_memberships(federation: Territory, year: int, keys: list[str]) -> dict[str, list[dict[str, str]]]:
    """Every paid membership of the federation's groups `keys` (flag keys: fingerprints), as the
    evidence lists them, by payment: the review page shows the whole group from this one read,
    not from the evidence stored at the last join, which lists `EVIDENCE_LISTED` (ADR 0051)."""
    found: dict[str, list[dict[str, str]]] = {key: [] for key in keys}
    rows = _paid_memberships(
        _memberships(federation, year).filter(status__in=PAID_STATUSES, payer_fingerprint__in=keys)
    )
    for m in rows:
        found[m.payer_fingerprint].append(_paid_membership(m))
    return found


def prepaid_instruments(federation: Territory, year: int, rules: Rules) -> list[Signal]:
    rows = list(_memberships(federation, year).filter(prepaid_instrument=True).select_related("person", "circolo"))
    if not rows:
        return []
    return [
        Signal(
            FlagKind.PREPAID_INSTRUMENT,
            "prepaid",
            deferred(gettext_noop("%(n)s tessere pagate con carte prepagate o non nominative"), n=len(rows)),
            {
                "memberships": [
                    {
                        "card": r.card_number,
                        "person": str(r.person),
                        "circolo": r.circolo.name,
                        "paid_at": _iso(r.paid_at),
                    }
                    for r in rows
                ]
            },
            sorted({r.person_id for r in rows}),
        )
    ]


def _contact_clusters(
    model: type[Email] | type[Phone], kind: str, msgid: str, federation: Territory, year: int, rules: Rules
) -> list[Signal]:
    people = _memberships(federation, year).values("person_id")
    groups = (
        model.objects.filter(person_id__in=people)
        .values("value")
        .annotate(n=Count("person", distinct=True))
        .filter(n__gte=rules.cluster_threshold)
    )
    signals = []
    for group in groups:
        person_ids = sorted(
            model.objects.filter(person_id__in=people, value=group["value"])
            .values_list("person_id", flat=True)
            .distinct()
        )
        signals.append(
            Signal(
                kind,
                group["value"][:128],
                deferred(msgid, n=group["n"], value=group["value"]),
                {"value": group["value"], "count": group["n"], "threshold": rules.cluster_threshold},
                person_ids,
            )
        )
    return signals


def shared_contacts(federation: Territory, year: int, rules: Rules) -> list[Signal]:
    return _contact_clusters(
        Email,
        FlagKind.SHARED_EMAIL,
        gettext_noop("%(n)s iscritti con lo stesso indirizzo email %(value)s"),
        federation,
        year,
        rules,
    ) + _contact_clusters(
        Phone,
        FlagKind.SHARED_PHONE,
        gettext_noop("%(n)s iscritti con lo stesso telefono %(value)s"),
        federation,
        year,
        rules,
    )


def shared_addresses(federation: Territory, year: int, rules: Rules) -> list[Signal]:
    rows = (
        _memberships(federation, year)
        .exclude(person__residence_street="")
        .values_list("person_id", "person__residence_street", "person__residence_comune__name")
    )
    clusters: dict[str, set[int]] = defaultdict(set)
    for person_id, street, comune in rows:
        key = " ".join(str(street).lower().replace(",", " ").split()) + f" · {comune or ''}"
        clusters[key].add(person_id)
    return [
        Signal(
            FlagKind.SHARED_ADDRESS,
            key[:128],
            deferred(
                gettext_noop("%(n)s iscritti residenti allo stesso indirizzo: %(address)s"), n=len(ids), address=key
            ),
            {"address": key, "count": len(ids), "threshold": rules.cluster_threshold},
            sorted(ids),
        )
        for key, ids in clusters.items()
        if len(ids) >= rules.cluster_threshold
    ]


def invalid_codici_fiscali(federation: Territory, year: int, rules: Rules) -> list[Signal]:
    """Invalid codici fiscali, or codes whose birth data contradict the record (invented identities)."""
    signals = []
    rows = _memberships(federation, year).select_related("person", "person__birth_comune")
    for m in rows:
        person = m.person
        result = validate_codice_fiscale(person.codice_fiscale)
        problems = list(result.errors)
        if not problems:
            problems = consistency_problems(
                result,
                first_name=person.first_name,
                last_name=person.last_name,
                sex=person.sex,
                birth_date=person.birth_date,
                birth_belfiore=person.birth_comune.belfiore if person.birth_comune else "",
                birth_place_label=str(person.birth_comune) if person.birth_comune else "",
            )
        if problems:
            signals.append(
                Signal(
                    FlagKind.INVALID_CF,
                    f"person:{person.pk}",
                    deferred(gettext_noop("Codice fiscale di %(p)s: %(why)s"), p=person, why=problems[0]),
                    {"codice_fiscale": person.codice_fiscale, "problems": problems, "card": m.card_number},
                    [person.pk],
                    circolo_id=m.circolo_id,
                )
            )
    return signals


def implausible_ages(federation: Territory, year: int, rules: Rules) -> list[Signal]:
    signals = []
    for m in _memberships(federation, year).exclude(person__birth_date=None).select_related("person"):
        assert m.person.birth_date is not None
        age = age_on(m.person.birth_date, timezone.localdate(m.applied_at))
        if age < rules.min_age or age > rules.max_plausible_age:
            signals.append(
                Signal(
                    FlagKind.IMPLAUSIBLE_AGE,
                    f"person:{m.person_id}",
                    deferred(gettext_noop("%(p)s avrebbe %(age)s anni all'iscrizione"), p=m.person, age=age),
                    {
                        "age": age,
                        "birth_date": m.person.birth_date.isoformat(),
                        "min": rules.min_age,
                        "max": rules.max_plausible_age,
                    },
                    [m.person_id],
                    circolo_id=m.circolo_id,
                )
            )
    return signals


def out_of_area(federation: Territory, year: int, rules: Rules) -> list[Signal]:
    """Circoli with more out-of-area members than the federation's cap (M23)."""
    groups = (
        _memberships(federation, year)
        .values("circolo_id", "circolo__name")
        .annotate(total=Count("pk"), outside=Count("pk", filter=Q(out_of_area=True)))
        .filter(outside__gt=0)
    )
    signals = []
    for g in groups:
        if g["outside"] * 100 > rules.out_of_area_cap_percent * g["total"]:
            ids = list(
                _memberships(federation, year)
                .filter(circolo_id=g["circolo_id"], out_of_area=True)
                .values_list("person_id", flat=True)
            )
            signals.append(
                Signal(
                    FlagKind.OUT_OF_AREA,
                    f"circolo:{g['circolo_id']}",
                    deferred(
                        gettext_noop("%(c)s: %(o)s iscritti fuori area su %(t)s (tetto %(cap)s%%)"),
                        c=g["circolo__name"],
                        o=g["outside"],
                        t=g["total"],
                        cap=rules.out_of_area_cap_percent,
                    ),
                    {"outside": g["outside"], "total": g["total"], "cap": rules.out_of_area_cap_percent},
                    ids,
                    circolo_id=g["circolo_id"],
                )
            )
    return signals


def deadlines(federation: Territory, year: int) -> list[tuple[str, dt.datetime]]:
    """Cut-offs that matter for a federation: congresses covering it, and the year's closing."""
    found: list[tuple[str, dt.datetime]] = []
    for congress in Congress.objects.all():
        related = federation.is_within(congress.territory) or congress.territory.is_within(federation)
        if related and year in congress.membership_years:
            found.append((congress.name, congress.cut_off))
    schedule = FeeSchedule.objects.filter(year=year).first()
    if schedule is not None and schedule.closes_at is not None:
        found.append((str(schedule), schedule.closes_at))
    return found


def pre_cutoff_spikes(federation: Territory, year: int, rules: Rules) -> list[Signal]:
    """Joins per circolo in the last days before a cut-off compared with its own history."""
    signals = []
    window = dt.timedelta(days=rules.spike_window_days)
    for label, cut_off in deadlines(federation, year):
        start = cut_off - window
        history_start = start - dt.timedelta(days=HISTORY_DAYS)
        recent = (
            Membership.objects.filter(
                circolo__path__startswith=federation.path, applied_at__gt=start, applied_at__lte=cut_off
            )
            .values("circolo_id", "circolo__name")
            .annotate(n=Count("pk"))
        )
        for row in recent:
            history = Membership.objects.filter(
                circolo_id=row["circolo_id"], applied_at__gt=history_start, applied_at__lte=start
            )
            first = history.order_by("applied_at").values_list("applied_at", flat=True).first()
            days = max((start - first).days, rules.spike_window_days) if first else HISTORY_DAYS
            baseline = history.count() * rules.spike_window_days / days
            threshold = rules.spike_factor * max(baseline, 1.0)
            if row["n"] >= threshold and row["n"] >= rules.spike_factor:
                ids = list(
                    Membership.objects.filter(
                        circolo_id=row["circolo_id"], applied_at__gt=start, applied_at__lte=cut_off
                    ).values_list("person_id", flat=True)
                )
                signals.append(
                    Signal(
                        FlagKind.PRE_CUTOFF_SPIKE,
                        f"circolo:{row['circolo_id']}:{cut_off:%Y%m%d%H%M%S}",
                        deferred(
                            gettext_noop(
                                "%(c)s: %(n)s iscrizioni negli ultimi %(d)s giorni prima di «%(label)s»; "
                                "di solito %(base).1f nello stesso periodo"
                            ),
                            c=row["circolo__name"],
                            n=row["n"],
                            d=rules.spike_window_days,
                            label=label,
                            base=baseline,
                        ),
                        {
                            "count": row["n"],
                            "baseline": round(baseline, 2),
                            "window_days": rules.spike_window_days,
                            "cut_off": _iso(cut_off),
                            "deadline": label,
                            "factor": rules.spike_factor,
                        },
                        ids,
                        circolo_id=row["circolo_id"],
                    )
                )
    return signals


DETECTORS: list[Callable[[Territory, int, Rules], list[Signal]]] = [
    shared_instruments,
    prepaid_instruments,
    shared_contacts,
    shared_addresses,
    invalid_codici_fiscali,
    implausible_ages,
    out_of_area,
    pre_cutoff_spikes,
]


def detect(federation: Territory, year: int) -> list[Signal]:
    rules = rules_for(federation)
    signals: list[Signal] = []
    for detector in DETECTORS:
        signals.extend(detector(federation, year, rules))
    return signals
