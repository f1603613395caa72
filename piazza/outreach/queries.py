"""Who receives a broadcast (rules G2, G3), set-based and streaming.

The audience is the broadcast's segment evaluated inside the sending territory's subtree. Every
person in it gets exactly one reason, computed by the database in one query (a CASE over indexed
subqueries): the first exclusion that applies, or "ok". The officer sees the counts per reason in
words before sending; the sender streams the "ok" rows (never a list of a million people).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db.models import Case, CharField, Count, Exists, IntegerField, OuterRef, Q, QuerySet, Subquery, Value, When
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from piazza.outreach.models import (
    Broadcast,
    BroadcastStatus,
    Delivery,
    DeliveryStatus,
    Suppression,
    SuppressionReason,
    TerritoryPreference,
)
from piazza.people.models import Consent, Email, Person, Purpose
from piazza.people.queries import RELATIONS, apply_definition
from piazza.territory.models import Role
from piazza.territory.scoping import scope_paths

# Who writes and sends broadcasts (Role.COMMUNICATION; administrators of the territory too).
SEND_ROLES = {Role.COMMUNICATION, Role.ADMINISTRATOR}

OK = "ok"
# In the order they are tested: a person is counted under the first that applies.
REASONS: dict[str, Any] = {
    "no_email": _("Nessun indirizzo email"),
    "hard_bounce": _("Indirizzo email che respinge i messaggi in modo definitivo"),
    "unsubscribed": _("Si sono disiscritti o hanno segnalato un messaggio come indesiderato"),
    "objection": _("Si sono opposti al trattamento dei loro dati"),
    "withdrawn": _("Hanno revocato il consenso alla comunicazione politica"),
    "no_consent": _("Non sono iscritti né contatti regolari e non hanno dato il consenso alla comunicazione politica"),
    "territory_opt_out": _("Hanno chiesto di non ricevere più le email di questo territorio"),
    "frequency": _("Hanno già ricevuto troppe email in questi giorni (limite di frequenza)"),
}


@dataclass
class AudienceCount:
    eligible: int
    exclusions: list[tuple[str, Any, int]]  # (code, words, count), only non-zero, in REASONS order

    @property
    def total(self) -> int:
        return self.eligible + sum(n for _c, _w, n in self.exclusions)


def segment_people(broadcast: Broadcast) -> QuerySet[Person]:
    """The segment's people inside the sending territory's subtree (scope is the territory's, checked
    against the officer when the broadcast was written)."""
    base = Person.objects.active().filter(territory__path__startswith=broadcast.territory.path)
    matching = apply_definition(base, broadcast.segment.definition).order_by().values("pk")
    return Person.objects.filter(pk__in=matching)


def _regular_contacts() -> Q:
    """Rule G2: members and regular contacts (relations registered with regular_contact=True)."""
    q = Q(pk__in=[])
    for relation in RELATIONS.values():
        if relation.regular_contact:
            q |= Q(pk__in=relation.filter_function(Person.objects.all()).values("pk"))
    return q


def _frequency_count(since: dt.datetime, broadcast: Broadcast | None) -> Coalesce:
    sent = Delivery.objects.filter(person=OuterRef("pk"), queued_at__gte=since)
    if broadcast is not None:
        sent = sent.exclude(broadcast_id=broadcast.pk)
    counted = sent.exclude(status=DeliveryStatus.FAILED).order_by().values("person").annotate(n=Count("pk")).values("n")
    return Coalesce(Subquery(counted, output_field=IntegerField()), 0)


def classify(people: QuerySet[Person], *, now: dt.datetime, broadcast: Broadcast | None = None) -> Any:
    """`people` annotated with `_email` (primary address) and `_reason` (rules G2, G3, frequency):
    the one statement of who may be written to, for broadcasts and for the followers' digest.
    A broadcast adds its territory's opt-out and does not count its own deliveries."""
    primary = Email.objects.filter(person=OuterRef("pk"), primary=True).values("value")[:1]
    latest = (
        Consent.objects.filter(person=OuterRef("pk"), purpose=Purpose.POLITICAL_COMMUNICATION)
        .order_by("-at", "-id")
        .values("granted")[:1]
    )
    stopped = Suppression.objects.filter(person=OuterRef("pk"))
    bounced = Suppression.objects.filter(reason=SuppressionReason.HARD_BOUNCE, email=OuterRef("_email"))
    opted_out = (
        Exists(
            TerritoryPreference.objects.filter(
                person=OuterRef("pk"), territory_id=broadcast.territory_id, receive=False
            )
        )
        if broadcast is not None
        else Value(False)
    )
    return people.annotate(
        _email=Subquery(primary),
        _consent=Subquery(latest),
        _day=_frequency_count(now - dt.timedelta(days=1), broadcast),
        _week=_frequency_count(now - dt.timedelta(days=7), broadcast),
    ).annotate(
        _reason=Case(
            When(_email__isnull=True, then=Value("no_email")),
            When(Exists(bounced), then=Value("hard_bounce")),
            When(
                Exists(stopped.filter(reason__in=[SuppressionReason.UNSUBSCRIBE, SuppressionReason.COMPLAINT])),
                then=Value("unsubscribed"),
            ),
            When(Exists(stopped.filter(reason=SuppressionReason.OBJECTION)), then=Value("objection")),
            # Rule G3: a withdrawal always wins, members included.
            When(_consent=False, then=Value("withdrawn")),
            # Rule G2: without a consent only members and regular contacts.
            When(Q(_consent__isnull=True) & ~_regular_contacts(), then=Value("no_consent")),
            When(opted_out, then=Value("territory_opt_out")),
            When(
                Q(_day__gte=settings.OUTREACH_MAX_PER_DAY) | Q(_week__gte=settings.OUTREACH_MAX_PER_WEEK),
                then=Value("frequency"),
            ),
            default=Value(OK),
            output_field=CharField(),
        )
    )


def classified(broadcast: Broadcast, *, now: dt.datetime | None = None) -> Any:
    """The broadcast's segment annotated with `_email` and `_reason` (`classify`)."""
    return classify(segment_people(broadcast), now=now or timezone.now(), broadcast=broadcast)


def audience_count(broadcast: Broadcast, *, now: dt.datetime | None = None) -> AudienceCount:
    """How many receive it and how many are left out, for which reason (one GROUP BY query)."""
    counts = {
        row["_reason"]: row["n"]
        for row in classified(broadcast, now=now).order_by().values("_reason").annotate(n=Count("pk"))
    }
    exclusions = [(code, words, counts[code]) for code, words in REASONS.items() if counts.get(code)]
    return AudienceCount(counts.get(OK, 0), exclusions)


def eligible_rows(
    broadcast: Broadcast, *, now: dt.datetime | None = None, chunk_size: int = 2000
) -> Iterator[tuple[int, str]]:
    """(person id, address) of every person who may receive it, streamed from a server-side cursor."""
    rows = classified(broadcast, now=now).filter(_reason=OK).order_by("pk").values_list("pk", "_email")
    yield from rows.iterator(chunk_size=chunk_size)


def sample_people(broadcast: Broadcast, limit: int = 50) -> list[Person]:
    """Recipients to preview the message for (the officer picks one)."""
    ids = [pk for pk, _e in _first(eligible_rows(broadcast), limit)]
    return list(Person.objects.filter(pk__in=ids).order_by("last_name", "first_name"))


def _first(rows: Iterator[tuple[int, str]], n: int) -> list[tuple[int, str]]:
    out = []
    for row in rows:
        out.append(row)
        if len(out) >= n:
            break
    return out


def broadcasts_for(user: Any) -> QuerySet[Broadcast]:
    return Broadcast.objects.visible_to(user, roles=SEND_ROLES).select_related("territory", "segment")  # type: ignore[no-any-return]


@dataclass
class Stats:
    queued: int
    sent: int
    delivered: int
    bounced: int
    failed: int
    unsubscribed: int

    @property
    def out(self) -> int:
        return self.sent + self.delivered + self.bounced


def delivery_stats(broadcast: Broadcast, variant: str | None = None) -> Stats:
    """Per-message statistics. Opens and clicks are not tracked: no tracking purpose exists (ADR 0023)."""
    qs = Delivery.objects.filter(broadcast=broadcast)
    if variant is not None:
        qs = qs.filter(variant=variant)
    by_status = {r["status"]: r["n"] for r in qs.order_by().values("status").annotate(n=Count("pk"))}
    return Stats(
        queued=by_status.get(DeliveryStatus.QUEUED, 0) + by_status.get(DeliveryStatus.SENDING, 0),
        sent=by_status.get(DeliveryStatus.SENT, 0),
        delivered=by_status.get(DeliveryStatus.DELIVERED, 0),
        bounced=by_status.get(DeliveryStatus.BOUNCED, 0),
        failed=by_status.get(DeliveryStatus.FAILED, 0),
        unsubscribed=qs.filter(unsubscribed_at__isnull=False).count(),
    )


def dashboard_section(user: Any) -> tuple[str, dict[str, Any]] | None:
    if not scope_paths(user, SEND_ROLES):
        return None
    qs = broadcasts_for(user)
    return "outreach/_dashboard.html", {
        "drafts": qs.filter(status=BroadcastStatus.DRAFT).count(),
        "sending": qs.filter(
            status__in=[BroadcastStatus.SCHEDULED, BroadcastStatus.TESTING, BroadcastStatus.SENDING]
        ).count(),
    }
