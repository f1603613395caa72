"""Petitions and sign-up forms (issue 15): one engine. A petition has a target who receives the
signatures; a sign-up form has custom questions whose answers are stored with each submission.

The public counter is the sum of `PetitionCounter` slots (ARCHITECTURE convention 9, as funding's
`CampaignCounter`): a signature adds one to a random slot in its own transaction, so a viral
petition never serialises on one row; `queries.counter_drift` checks it equals the signatures.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from piazza.people.models import NoticeVersion, Person
from piazza.territory.models import Comune, Territory
from piazza.territory.scoping import ScopedQuerySet

COUNTER_SLOTS = 16


class PetitionKind(models.TextChoices):
    PETITION = "petition", _("Petizione")
    FORM = "form", _("Modulo di adesione")


class PetitionQuerySet(ScopedQuerySet["Petition"]):
    scope_path_field = "territory__path"


class Petition(models.Model):
    kind = models.CharField(_("tipo"), max_length=10, choices=PetitionKind.choices, default=PetitionKind.PETITION)
    territory = models.ForeignKey(Territory, on_delete=models.PROTECT, related_name="petitions")
    slug = models.SlugField(max_length=80, unique=True)
    title = models.CharField(_("titolo"), max_length=200)
    text = models.TextField(_("testo"))
    target = models.CharField(_("destinatario"), max_length=200, blank=True)
    goal = models.PositiveIntegerField(_("obiettivo di firme"), default=1000)
    is_open = models.BooleanField(_("aperta"), default=True)
    # The notice of this petition says the target receives the signers' emails too (else names and comuni).
    deliver_contacts = models.BooleanField(_("consegna anche le email al destinatario"), default=False)
    campaign = models.ForeignKey(
        "funding.Campaign", null=True, blank=True, on_delete=models.SET_NULL, related_name="petitions"
    )
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    objects = PetitionQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("petizione")
        verbose_name_plural = _("petizioni")

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return reverse("petitions:public", args=[self.slug])

    @property
    def notice_key(self) -> str:
        return "petition" if self.kind == PetitionKind.PETITION else "signup"


class QuestionKind(models.TextChoices):
    TEXT = "text", _("Testo breve")
    CHOICE = "choice", _("Scelta tra opzioni")
    YES_NO = "yes_no", _("Sì / no")


class Question(models.Model):
    petition = models.ForeignKey(Petition, on_delete=models.CASCADE, related_name="questions")
    position = models.PositiveSmallIntegerField(default=0)
    label = models.CharField(_("domanda"), max_length=200)
    kind = models.CharField(_("tipo di risposta"), max_length=10, choices=QuestionKind.choices)
    choices = models.JSONField(_("opzioni"), default=list, blank=True)
    required = models.BooleanField(_("obbligatoria"), default=False)

    class Meta:
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return self.label


class PetitionCounter(models.Model):
    """One of COUNTER_SLOTS rows per petition; a signature adds one to a random slot (convention 9)."""

    petition = models.ForeignKey(Petition, on_delete=models.CASCADE, related_name="counters")
    slot = models.PositiveSmallIntegerField()
    signatures = models.BigIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["petition", "slot"], name="petition_counter_slot")]

    def __str__(self) -> str:
        return f"{self.petition_id}#{self.slot}"


class SignatureQuerySet(ScopedQuerySet["Signature"]):
    scope_path_field = "petition__territory__path"


class Signature(models.Model):
    """One signature (or one sign-up form submission): what the signer typed, kept as typed (a
    typed email proves nobody, convention 16), and the person it was deduplicated into.

    The request writes only this row and a counter slot; `person` stays empty until the task
    `petitions.tasks.process_signature` has matched the signer into people (a viral petition
    must not wait on the dedupe, issue 15). One signature per typed (normalised) email."""

    petition = models.ForeignKey(Petition, on_delete=models.PROTECT, related_name="signatures")
    person = models.ForeignKey(Person, null=True, blank=True, on_delete=models.PROTECT, related_name="signatures")
    first_name = models.CharField(_("nome"), max_length=100)
    last_name = models.CharField(_("cognome"), max_length=100)
    email = models.EmailField(_("email"))
    phone = models.CharField(_("telefono"), max_length=30, blank=True)
    comune = models.ForeignKey(Comune, null=True, on_delete=models.PROTECT, related_name="+")
    postal_code = models.CharField(_("CAP"), max_length=5, blank=True)
    answers = models.JSONField(_("risposte"), default=dict, blank=True)
    # Rule G3: the purposes ticked, with the notice version shown; applied to the person's record
    # only when the person is new (a matched person's record is never written from a typed email).
    consents = models.JSONField(_("consensi"), default=list, blank=True)
    notice_version = models.ForeignKey(NoticeVersion, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    signed_at = models.DateTimeField(default=timezone.now)

    objects = SignatureQuerySet.as_manager()

    class Meta:
        ordering = ["signed_at", "id"]
        constraints = [models.UniqueConstraint(fields=["petition", "email"], name="one_signature_per_email")]

    def __str__(self) -> str:
        return f"{self.petition_id}:{self.person_id}"
