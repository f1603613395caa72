"""Volunteer opportunities and their shifts, sign-ups with attendance, call lists (issue 15).

Every row hangs below a territory and is read through a scoped queryset (convention 11).
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from piazza.people.models import Person, Segment
from piazza.territory.models import Role, Territory
from piazza.territory.scoping import ScopedQuerySet

# Who organises volunteers and call lists at their node and below.
ORGANISER_ROLES = {Role.ORGANISATION, Role.COMMUNICATION, Role.ADMINISTRATOR}


class OpportunityKind(models.TextChoices):
    LEAFLETING = "leafleting", _("Volantinaggio")
    GAZEBO = "gazebo", _("Gazebo")
    PHONE_BANK = "phone_bank", _("Telefonate")
    FESTA = "festa", _("Festa dell'Unità")


class OpportunityQuerySet(ScopedQuerySet["Opportunity"]):
    scope_path_field = "territory__path"


class Opportunity(models.Model):
    territory = models.ForeignKey(Territory, on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(_("tipo"), max_length=20, choices=OpportunityKind.choices)
    title = models.CharField(_("titolo"), max_length=160)
    description = models.TextField(_("descrizione"), blank=True)
    place = models.CharField(_("luogo"), max_length=200)
    # The public page's address: not guessable, not an enumerable id.
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    objects = OpportunityQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("attività di volontariato")
        verbose_name_plural = _("attività di volontariato")

    def __str__(self) -> str:
        return self.title


class ShiftQuerySet(ScopedQuerySet["Shift"]):
    scope_path_field = "opportunity__territory__path"


class Shift(models.Model):
    opportunity = models.ForeignKey(Opportunity, on_delete=models.CASCADE, related_name="shifts")
    starts_at = models.DateTimeField(_("inizio"))
    ends_at = models.DateTimeField(_("fine"))
    capacity = models.PositiveIntegerField(_("posti"))

    objects = ShiftQuerySet.as_manager()

    class Meta:
        ordering = ["starts_at", "id"]
        verbose_name = _("turno")
        verbose_name_plural = _("turni")
        constraints = [
            models.CheckConstraint(condition=Q(ends_at__gt=models.F("starts_at")), name="shift_ends_after_start"),
            models.CheckConstraint(condition=Q(capacity__gt=0), name="shift_capacity_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.opportunity} {self.starts_at:%Y-%m-%d %H:%M}"


class Attendance(models.TextChoices):
    EXPECTED = "expected", _("Atteso")
    ATTENDED = "attended", _("Presente")
    NO_SHOW = "no_show", _("Assente")


class SignupQuerySet(ScopedQuerySet["ShiftSignup"]):
    scope_path_field = "shift__opportunity__territory__path"


class ShiftSignup(models.Model):
    shift = models.ForeignKey(Shift, on_delete=models.CASCADE, related_name="signups")
    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="shift_signups")
    signed_at = models.DateTimeField(default=timezone.now)
    attendance = models.CharField(max_length=10, choices=Attendance.choices, default=Attendance.EXPECTED)
    attendance_at = models.DateTimeField(null=True, blank=True)
    reminded_at = models.DateTimeField(null=True, blank=True)

    objects = SignupQuerySet.as_manager()

    class Meta:
        ordering = ["signed_at", "id"]
        verbose_name = _("iscrizione a un turno")
        verbose_name_plural = _("iscrizioni ai turni")
        constraints = [models.UniqueConstraint(fields=["shift", "person"], name="signup_once_per_shift")]

    def __str__(self) -> str:
        return f"{self.shift_id}:{self.person_id}"


class CallListQuerySet(ScopedQuerySet["CallList"]):
    scope_path_field = "territory__path"


class CallList(models.Model):
    territory = models.ForeignKey(Territory, on_delete=models.PROTECT, related_name="+")
    name = models.CharField(_("nome"), max_length=160)
    segment = models.ForeignKey(Segment, null=True, on_delete=models.SET_NULL, related_name="+")
    script = models.TextField(_("copione (Markdown)"))
    # A phone-bank shift whose volunteers call this list from Il mio spazio during the shift (issue 15).
    shift = models.ForeignKey(
        Shift, null=True, blank=True, on_delete=models.SET_NULL, related_name="call_lists", verbose_name=_("turno")
    )
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    objects = CallListQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("lista di chiamata")
        verbose_name_plural = _("liste di chiamata")

    def __str__(self) -> str:
        return self.name


class Outcome(models.TextChoices):
    SUPPORTIVE = "supportive", _("Ha risposto: favorevole")
    UNDECIDED = "undecided", _("Ha risposto: indeciso")
    AGAINST = "against", _("Ha risposto: contrario")
    CALL_BACK = "call_back", _("Da richiamare")
    WRONG_NUMBER = "wrong_number", _("Numero sbagliato")
    DO_NOT_CALL = "do_not_call", _("Non vuole essere chiamato")


class CallContactQuerySet(ScopedQuerySet["CallContact"]):
    scope_path_field = "call_list__territory__path"


class CallContact(models.Model):
    """One person to call on a list. A caller claims it until `claim_expires_at` (one caller per
    contact at a time): an official (`claimed_by`) or a volunteer of the list's shift signed in to
    Il mio spazio (`claimed_by_volunteer`); an outcome other than "call back" closes it."""

    call_list = models.ForeignKey(CallList, on_delete=models.CASCADE, related_name="contacts")
    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="+")
    claimed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    claimed_by_volunteer = models.ForeignKey(Person, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    claim_expires_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=20, choices=Outcome.choices, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    done = models.BooleanField(default=False)
    last_called_at = models.DateTimeField(null=True, blank=True)

    objects = CallContactQuerySet.as_manager()

    class Meta:
        ordering = ["id"]
        verbose_name = _("contatto da chiamare")
        verbose_name_plural = _("contatti da chiamare")
        constraints = [models.UniqueConstraint(fields=["call_list", "person"], name="call_contact_once_per_list")]
        indexes = [models.Index(fields=["call_list", "done", "claim_expires_at"], name="call_contact_next")]

    def __str__(self) -> str:
        return f"{self.call_list_id}:{self.person_id}"
