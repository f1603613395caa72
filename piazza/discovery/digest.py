"""The followers' digest (issue 17): what the territories and candidates a person follows launched
in the last period (new campaigns, events, petitions), at most one per period and only when there
is something new.

Who may receive it is decided by outreach's own rules (G2, G3), by the same function
`piazza.outreach.queries.classify`: an address that bounced, an unsubscription or an objection, a
withdrawn consent, no consent for someone who is neither a member nor a regular contact, and the
per-person daily and weekly limits shared with broadcasts. A person who stopped the digest
(community.DigestStop) gets none.

Idempotent: the digest's row (person, period) is written in the transaction that sends it, under a
unique constraint, so a second run in the same period, or two schedulers at once, send nothing more."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from piazza.community.digest import stop_token
from piazza.community.models import DigestSent, DigestStop, Follow
from piazza.core.audit import record
from piazza.events.models import Event
from piazza.funding.models import Campaign
from piazza.outreach.queries import OK, classify
from piazza.people.models import Person
from piazza.petitions.models import Petition

ANCHOR = dt.date(2024, 1, 1)  # a Monday: weekly periods start on Mondays


def period_start(day: dt.date, days: int | None = None) -> dt.date:
    """The first day of the period `day` falls in (periods of settings.COMMUNITY_DIGEST_DAYS days)."""
    days = int(days or settings.COMMUNITY_DIGEST_DAYS)
    return ANCHOR + dt.timedelta(days=((day - ANCHOR).days // days) * days)


def _midnight(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time()))


@dataclass
class Digest:
    person_id: int
    email: str
    campaigns: list[Campaign] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    petitions: list[Petition] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.campaigns) + len(self.events) + len(self.petitions)


def eligible(person_ids: list[int], now: dt.datetime) -> dict[int, str]:
    """Person id → primary address, for those outreach's rules (G2, G3, frequency) let us write to."""
    people = Person.objects.active().filter(pk__in=person_ids)
    return dict(classify(people, now=now).filter(_reason=OK).values_list("pk", "_email"))


def build(now: dt.datetime | None = None) -> tuple[dt.date, list[Digest]]:
    """This period's digests still to send: the previous period's launches, matched to each follower's
    territories (their whole subtree) and candidates. A fixed number of queries: the launches of one
    period are few, matched in memory against every follower."""
    now = now or timezone.now()
    days = int(settings.COMMUNITY_DIGEST_DAYS)
    start = period_start(timezone.localdate(now), days)
    since, until = _midnight(start - dt.timedelta(days=days)), _midnight(start)
    follows = list(
        Follow.objects.filter(Q(territory__isnull=False) | Q(candidacy__isnull=False))
        .exclude(person__in=DigestStop.objects.values("person"))
        .exclude(person__in=DigestSent.objects.filter(period_start=start).values("person"))
        .values_list("person_id", "territory__path", "candidacy_id")
    )
    if not follows:
        return start, []
    campaigns = list(
        Campaign.objects.public()
        .filter(launched_at__gte=since, launched_at__lt=until)
        .select_related("territory")
        .order_by("launched_at", "id")
    )
    events = list(
        Event.objects.listed()
        .filter(created_at__gte=since, created_at__lt=until, starts_at__gte=now)
        .select_related("territory", "comune")
        .order_by("starts_at", "id")
    )
    petitions = list(
        Petition.objects.filter(is_open=True, created_at__gte=since, created_at__lt=until)
        .select_related("territory")
        .order_by("created_at", "id")
    )
    paths: dict[int, set[str]] = {}
    candidacies: dict[int, set[int]] = {}
    for person_id, path, candidacy_id in follows:
        if path:
            paths.setdefault(person_id, set()).add(path)
        if candidacy_id:
            candidacies.setdefault(person_id, set()).add(candidacy_id)
    addresses = eligible(sorted(set(paths) | set(candidacies)), now)
    digests = []
    for person_id, email in sorted(addresses.items()):
        mine = paths.get(person_id, set())
        who = candidacies.get(person_id, set())

        def near(territory_path: str, mine: set[str] = mine) -> bool:
            return any(territory_path.startswith(p) for p in mine)

        digest = Digest(
            person_id=person_id,
            email=email,
            campaigns=[c for c in campaigns if near(c.territory.path) or c.candidacy_id in who],
            events=[e for e in events if near(e.territory.path)],
            petitions=[p for p in petitions if near(p.territory.path)],
        )
        if digest.count:  # nothing new: no digest
            digests.append(digest)
    return start, digests


def _absolute(path: str) -> str:
    return f"{settings.SITE_URL.rstrip('/')}{path}"


def send_one(digest: Digest, start: dt.date) -> bool:
    """Send one digest through the configured backend, once: False if this period's was already sent."""
    stop_url = _absolute(reverse("community:digest_stop", args=[stop_token(digest.person_id)]))
    context: dict[str, Any] = {
        "digest": digest,
        "site": settings.SITE_URL.rstrip("/"),
        "stop_url": stop_url,
        "space_url": _absolute(reverse("community:home")),
    }
    try:
        with transaction.atomic():
            DigestSent.objects.create(person_id=digest.person_id, period_start=start, items=digest.count)
            person = Person.objects.get(pk=digest.person_id)
            record(
                "community.digest_sent",
                actor=None,
                obj=person,
                territory=person.territory,
                data={"period": start.isoformat(), "items": digest.count},
            )
            EmailMessage(
                _("Le novità di chi segui"),
                render_to_string("discovery/email/digest.txt", context),
                settings.DEFAULT_FROM_EMAIL,
                [digest.email],
                headers={"List-Unsubscribe": f"<{stop_url}>"},
            ).send()
    except IntegrityError:  # another run sent this period's digest first
        return False
    return True


def send_digests(now: dt.datetime | None = None) -> int:
    """The periodic task's body: send every digest due in this period; returns how many left."""
    start, digests = build(now)
    return sum(1 for digest in digests if send_one(digest, start))
