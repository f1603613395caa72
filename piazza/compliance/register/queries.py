"""Reads of the donor register: the deadline board (rules F1, F15) and the published versions."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from piazza.compliance.models import RegisterEntry, RegisterItem, RegisterPublication
from piazza.compliance.register.actions import (
    REGISTER_ROLES,
    is_register_entity,
    published_rows,
    register_entries,
    register_rules,
    rows_digest,
)
from piazza.territory.models import Territory
from piazza.territory.scoping import scope_paths

# Rule F15: what the board says, never a sanction amount.
LATE, DUE_SOON, DUE, MET = "late", "due_soon", "due", "met"
STATUS_LABELS: dict[str, Promise] = {
    LATE: _("In ritardo"),
    DUE_SOON: _("In scadenza"),
    DUE: _("Da pubblicare"),
    MET: _("Pubblicato"),
}
STATUS_ORDER = {LATE: 0, DUE_SOON: 1, DUE: 2, MET: 3}

CHANNEL_LABELS: dict[str, Promise] = {
    "card": _("Carta"),
    "paypal": _("PayPal"),
    "bank_transfer": _("Bonifico"),
    "sepa_dd": _("Addebito SEPA"),
    "pos": _("POS"),
    "cash": _("Contanti"),
    "in_kind": _("Beni o servizi"),
}
KIND_LABELS: dict[str, Promise] = {"donation": _("Contributo"), "fee": _("Quota di iscrizione")}


def channel_label(method: str) -> Any:
    return CHANNEL_LABELS.get(method, _("Altro"))


def kind_label(kind: str) -> Any:
    return KIND_LABELS.get(kind, _("Contributo"))


@dataclass
class BoardRow:
    """One donor's deadline on the board: the earliest contribution not yet published decides."""

    entry: RegisterEntry
    status: str
    due_on: dt.date | None
    days: int  # late by (LATE), left (DUE_SOON / DUE), late when published (MET)
    published_on: dt.date | None
    in_election_period: bool
    items: list[RegisterItem] = field(default_factory=list)

    @property
    def status_label(self) -> Any:
        return STATUS_LABELS[self.status]


def board_row(entry: RegisterEntry, today: dt.date) -> BoardRow:
    items = sorted(entry.items.all(), key=lambda i: (i.received_on, i.pk))
    for item in items:  # words for the template
        item.channel_text = channel_label(item.method)  # type: ignore[attr-defined]
        item.kind_text = kind_label(item.kind)  # type: ignore[attr-defined]
    pending = [i for i in items if i.published_on is None]
    soon = int(settings.REGISTER_DUE_SOON_DAYS)
    if pending:
        first = min(pending, key=lambda i: i.due_on)
        left = (first.due_on - today).days
        status = LATE if left < 0 else DUE_SOON if left <= soon else DUE
        return BoardRow(entry, status, first.due_on, abs(left), None, first.in_election_period, items)
    last = max(items, key=lambda i: i.published_on or dt.date.min) if items else None
    published = last.published_on if last else None
    late = max(((i.published_on - i.due_on).days for i in items if i.published_on), default=0)
    return BoardRow(entry, MET, last.due_on if last else None, max(late, 0), published, False, items)


@dataclass
class EntityBoard:
    entity: Territory
    year: int
    rows: list[BoardRow]
    latest: RegisterPublication | None
    versions: list[RegisterPublication]
    changed_since_publication: bool

    @property
    def counts(self) -> dict[str, int]:
        found = {LATE: 0, DUE_SOON: 0, DUE: 0, MET: 0}
        for row in self.rows:
            found[row.status] += 1
        return found

    @property
    def total_cents(self) -> int:
        return sum(r.entry.total_cents for r in self.rows)


def entity_board(entity: Territory, year: int) -> EntityBoard:
    today = timezone.localdate()
    entries = list(register_entries(year, entity))
    rows = sorted((board_row(e, today) for e in entries), key=lambda r: (STATUS_ORDER[r.status], r.due_on or today))
    versions = list(RegisterPublication.objects.filter(entity=entity, year=year).order_by("-version"))
    latest = versions[0] if versions else None
    changed = bool(entries) if latest is None else latest.digest != rows_digest(published_rows(entries))
    return EntityBoard(entity, year, rows, latest, versions, changed)


def board_entities(user: Any, year: int) -> list[Territory]:
    """The registers an official may see for `year` (rule F14 decides which entities keep one):
    those with entries or publications, plus the official's own entities."""
    rules = register_rules(year)
    visible = Territory.objects.visible_to(user, REGISTER_ROLES)
    with_data = set(RegisterEntry.objects.filter(year=year).values_list("entity_id", flat=True)) | set(
        RegisterPublication.objects.filter(year=year).values_list("entity_id", flat=True)
    )
    own = Territory.objects.filter(path__in=scope_paths(user, REGISTER_ROLES))
    found = {t.pk: t for t in visible.filter(pk__in=with_data)} | {t.pk: t for t in own}
    return [t for t in sorted(found.values(), key=lambda t: t.path) if is_register_entity(t, rules)]


def latest_publication(entity: Territory, year: int) -> RegisterPublication | None:
    return RegisterPublication.objects.filter(entity=entity, year=year).order_by("-version").first()
