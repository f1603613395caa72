"""Reads of the volunteers app: progress of call lists, and the ladder of engagement.

The ladder is computed set-based from each person's timeline (no materialised copy to keep in
step): one aggregate query per page, each rung an indexed `Exists`/`Count` on TimelineEntry.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import Count, Exists, IntegerField, Max, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils.translation import gettext_lazy as _

from piazza.people.models import Person, TimelineEntry
from piazza.people.queries import register_relation
from piazza.volunteers.models import CallContact, CallList

# The timeline kinds that make each rung (issue 15). Every app writes its own kind with
# `add_timeline_entry`; the ladder only reads them. Petitions and events write theirs in their own
# apps: their kinds are listed here by name so this app never imports them (same layer).
ENGAGEMENT_KINDS: dict[str, tuple[str, ...]] = {
    "gave": ("donation",),
    "joined": ("membership.paid",),
    "signed": ("petition_signed",),  # piazza.petitions.matching.TIMELINE_KIND
    "attended": ("event_attended", "volunteers.attended"),  # events.actions._mark_attended, check-in and walk-ins
    "volunteered": ("volunteers.signup",),
    "called": ("volunteers.call",),
}
RUNG_LABELS = {
    "gave": _("Hanno donato"),
    "joined": _("Si sono iscritti"),
    "signed": _("Hanno firmato"),
    "attended": _("Sono venuti (evento o turno)"),
    "volunteered": _("Si sono offerti volontari"),
    "called": _("Sono stati chiamati"),
}


def _count(kinds: tuple[str, ...]) -> Any:
    rows = TimelineEntry.objects.filter(person=OuterRef("pk"), kind__in=kinds).order_by()
    counted = rows.values("person").annotate(n=Count("pk")).values("n")
    return Coalesce(Subquery(counted, output_field=IntegerField()), Value(0))


def _last(kinds: tuple[str, ...]) -> Any:
    rows = TimelineEntry.objects.filter(person=OuterRef("pk"), kind__in=kinds).order_by()
    return Subquery(rows.values("person").annotate(m=Max("at")).values("m"))


def with_engagement(people: QuerySet[Person]) -> QuerySet[Person]:
    """Each person with `<rung>_count` and `<rung>_last` for every rung of ENGAGEMENT_KINDS."""
    annotations: dict[str, Any] = {}
    for rung, kinds in ENGAGEMENT_KINDS.items():
        annotations[f"{rung}_count"] = _count(kinds)
        annotations[f"{rung}_last"] = _last(kinds)
    return people.annotate(**annotations)


@dataclass(frozen=True)
class Engagement:
    rung: str
    label: str
    count: int
    last: Any


def engagement_of(person: Person) -> list[Engagement]:
    row = with_engagement(Person.objects.filter(pk=person.pk)).first()
    return [
        Engagement(rung, str(RUNG_LABELS[rung]), getattr(row, f"{rung}_count"), getattr(row, f"{rung}_last"))
        for rung in ENGAGEMENT_KINDS
    ]


def _has(rung: str) -> Exists:
    return Exists(TimelineEntry.objects.filter(person=OuterRef("pk"), kind__in=ENGAGEMENT_KINDS[rung]))


def ladder(people: QuerySet[Person]) -> list[tuple[str, int]]:
    """How many of `people` stand on each rung, in one aggregate query."""
    people = people.order_by()
    aggregates = {rung: Count("pk", filter=Q(**{f"_has_{rung}": True})) for rung in ENGAGEMENT_KINDS}
    counts = people.alias(**{f"_has_{rung}": _has(rung) for rung in ENGAGEMENT_KINDS}).aggregate(
        total=Count("pk"), **aggregates
    )
    return [(str(_("Persone nel territorio")), counts["total"])] + [
        (str(RUNG_LABELS[rung]), counts[rung]) for rung in ENGAGEMENT_KINDS
    ]


# --- Segment conditions (the people segment builder's relation registry) --------------------------


def signed_twice_never_attended(qs: QuerySet[Person]) -> QuerySet[Person]:
    return qs.alias(_signed=_count(ENGAGEMENT_KINDS["signed"])).filter(_signed__gte=2).exclude(_has("attended"))


def volunteered(qs: QuerySet[Person]) -> QuerySet[Person]:
    return qs.filter(_has("volunteered"))


def volunteered_never_came(qs: QuerySet[Person]) -> QuerySet[Person]:
    return qs.filter(_has("volunteered")).exclude(_has("attended"))


def gave_never_volunteered(qs: QuerySet[Person]) -> QuerySet[Person]:
    return qs.filter(_has("gave")).exclude(_has("volunteered"))


def register_engagement_relations() -> None:
    register_relation(
        "engagement_signed_twice_never_attended",
        _("Hanno firmato almeno due volte, mai venuti"),
        signed_twice_never_attended,
    )
    register_relation("engagement_volunteered", _("Si sono offerti volontari"), volunteered)
    register_relation(
        "engagement_volunteered_never_came", _("Volontari mai presentati a un turno"), volunteered_never_came
    )
    register_relation("engagement_gave_never_volunteered", _("Hanno donato, mai volontari"), gave_never_volunteered)


# --- Call lists ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Progress:
    total: int
    done: int
    call_back: int

    @property
    def left(self) -> int:
        return self.total - self.done


def progress(call_list: CallList) -> Progress:
    counts = CallContact.objects.filter(call_list=call_list).aggregate(
        n_total=Count("pk"),
        n_done=Count("pk", filter=Q(done=True)),
        n_call_back=Count("pk", filter=Q(done=False, attempts__gt=0)),
    )
    return Progress(counts["n_total"], counts["n_done"], counts["n_call_back"])


def outcome_counts(call_list: CallList) -> dict[str, int]:
    rows = CallContact.objects.filter(call_list=call_list).exclude(outcome="").values("outcome").annotate(n=Count("pk"))
    return {row["outcome"]: row["n"] for row in rows}
