"""Events of the party's territories, their RSVPs and who came (issue 15)."""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import quote_plus

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from piazza.people.models import NoticeVersion, Person
from piazza.territory.models import Comune, Territory
from piazza.territory.scoping import ScopedQuerySet, scope_paths

# Who organises events: organisation and communication officers (and administrators).
EVENT_ROLES = {"organisation", "communication", "administrator"}

CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read aloud at the door


def new_public_key() -> str:
    return secrets.token_urlsafe(9)


def new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(8))


class Visibility(models.TextChoices):
    PUBLIC = "public", _("Pubblico: nell'elenco degli eventi")
    UNLISTED = "unlisted", _("Non in elenco: solo chi ha il link")


class EventStatus(models.TextChoices):
    SCHEDULED = "scheduled", _("In programma")
    CANCELLED = "cancelled", _("Annullato")


class EventQuerySet(ScopedQuerySet["Event"]):
    """An event is visible to the officials of its territory and of every co-hosting one."""

    def visible_to(self, user: Any, roles: Any = None) -> Any:
        paths = scope_paths(user, roles)
        if not paths:
            return self.none()
        condition = Q()
        for path in paths:
            condition |= Q(territory__path__startswith=path) | Q(cohosts__path__startswith=path)
        return self.filter(pk__in=Event.objects.filter(condition).values("pk"))

    def listed(self) -> EventQuerySet:
        return self.filter(visibility=Visibility.PUBLIC, status=EventStatus.SCHEDULED)


class Event(models.Model):
    territory = models.ForeignKey(Territory, on_delete=models.PROTECT, related_name="events")
    cohosts = models.ManyToManyField(Territory, blank=True, related_name="cohosted_events")
    public_key = models.CharField(max_length=20, unique=True, default=new_public_key, editable=False)
    title = models.CharField(_("titolo"), max_length=200)
    description = models.TextField(_("descrizione"), blank=True)
    description_html = models.TextField(blank=True, editable=False)
    comune = models.ForeignKey(Comune, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    address = models.CharField(_("indirizzo"), max_length=200, blank=True)
    postal_code = models.CharField(_("CAP"), max_length=5, blank=True)
    online_url = models.URLField(_("link per partecipare online"), blank=True)
    starts_at = models.DateTimeField(_("inizio"))
    ends_at = models.DateTimeField(_("fine"))
    capacity = models.PositiveIntegerField(_("posti"), null=True, blank=True)
    waiting_list = models.BooleanField(_("lista d'attesa"), default=True)
    visibility = models.CharField(max_length=10, choices=Visibility.choices, default=Visibility.PUBLIC)
    status = models.CharField(max_length=10, choices=EventStatus.choices, default=EventStatus.SCHEDULED)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    cancel_notice = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    objects = EventQuerySet.as_manager()

    class Meta:
        ordering = ["starts_at", "id"]
        indexes = [models.Index(fields=["status", "visibility", "starts_at"], name="event_listing")]
        constraints = [
            models.CheckConstraint(condition=Q(ends_at__gt=models.F("starts_at")), name="event_ends_after_start")
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def is_cancelled(self) -> bool:
        return self.status == EventStatus.CANCELLED

    @property
    def map_url(self) -> str:
        """A link to OpenStreetMap's search for the address (no embedded map, no geocoding here)."""
        if not self.comune_id:
            return ""
        place = ", ".join(p for p in (self.address, self.comune.name if self.comune else "", "Italia") if p)
        return f"https://www.openstreetmap.org/search?query={quote_plus(place)}"

    @property
    def place_label(self) -> str:
        if self.comune is not None:
            return ", ".join(p for p in (self.address, str(self.comune)) if p)
        return str(_("Online"))


class RsvpStatus(models.TextChoices):
    CONFIRMED = "confirmed", _("Confermata")
    WAITING = "waiting", _("In lista d'attesa")
    CANCELLED = "cancelled", _("Annullata")


class RsvpQuerySet(ScopedQuerySet["Rsvp"]):
    def visible_to(self, user: Any, roles: Any = None) -> Any:
        return self.filter(event__in=Event.objects.visible_to(user, roles))


class Rsvp(models.Model):
    """One person's place at an event (or on its waiting list, or a walk-in at the door)."""

    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="rsvps")
    person = models.ForeignKey(Person, null=True, on_delete=models.SET_NULL, related_name="event_rsvps")
    first_name = models.CharField(_("nome"), max_length=100)
    last_name = models.CharField(_("cognome"), max_length=100)
    email = models.EmailField(_("email"), blank=True)
    phone = models.CharField(_("cellulare"), max_length=30, blank=True)
    comune = models.ForeignKey(Comune, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    postal_code = models.CharField(_("CAP"), max_length=5, blank=True)
    status = models.CharField(max_length=10, choices=RsvpStatus.choices, default=RsvpStatus.CONFIRMED)
    code = models.CharField(max_length=8, default=new_code, editable=False)
    notice_version = models.ForeignKey(NoticeVersion, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    # Rule G3: asked, unticked by default; recorded on the person only once the address is proved
    # (a new person, or the link in the confirmation email clicked: convention 16).
    political_consent = models.BooleanField(default=False)
    consent_recorded_at = models.DateTimeField(null=True, blank=True)
    walk_in = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    promoted_at = models.DateTimeField(null=True, blank=True)
    reminder_sent_at = models.DateTimeField(null=True, blank=True)
    checked_in_at = models.DateTimeField(null=True, blank=True)
    checked_in_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    objects = RsvpQuerySet.as_manager()

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["event", "code"], name="rsvp_code_unique_per_event"),
            # One live RSVP per address and event: a second sign-up answers with the first.
            models.UniqueConstraint(
                fields=["event", "email"],
                condition=~Q(email="") & ~Q(status="cancelled"),
                name="rsvp_one_live_per_email",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.first_name} {self.last_name}"

    @property
    def name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()
