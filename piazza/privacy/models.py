"""Privacy: data-subject requests and their exports (rule G5).

The models of the data-rights block ("rights": requests, access and portability exports, the
one-time links that prove an address) come first; the erasure block (legal holds, retention)
keeps its own models in a separate block below.
"""

from __future__ import annotations

import calendar
import datetime as dt

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from piazza.payments.bank.models import private_storage
from piazza.territory.scoping import ScopedQuerySet

# =============================================================================================
# Data-subject requests and exports ("rights" block)
# =============================================================================================


def add_months(day: dt.date, months: int) -> dt.date:
    """The same day `months` later, or that month's last day (31 January + 1 → 28/29 February)."""
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def due_date(received: dt.date, *, extended: bool = False) -> dt.date:
    """GDPR art. 12(3): an answer within one month of receipt, extendable by two further months
    (both configurable: PRIVACY_RESPONSE_MONTHS, PRIVACY_EXTENSION_MONTHS)."""
    months = settings.PRIVACY_RESPONSE_MONTHS + (settings.PRIVACY_EXTENSION_MONTHS if extended else 0)
    return add_months(received, months)


class RequestKind(models.TextChoices):
    EXPORT = "export", _("Accesso e copia dei dati")
    ERASURE = "erasure", _("Cancellazione")
    RECTIFICATION = "rectification", _("Rettifica")
    OBJECTION = "objection", _("Opposizione")


class RequestStatus(models.TextChoices):
    RECEIVED = "received", _("Ricevuta")
    IN_PROGRESS = "in_progress", _("In lavorazione")
    ANSWERED = "answered", _("Evasa")
    REFUSED = "refused", _("Respinta con motivazione")


OPEN_STATUSES = [RequestStatus.RECEIVED, RequestStatus.IN_PROGRESS]


class RequestChannel(models.TextChoices):
    ONLINE = "online", _("Online, con link all'email verificata")
    PAPER = "paper", _("Su carta, registrata da un incaricato")
    RETENTION = "retention", _("Calendario di conservazione")


class DataRequestQuerySet(ScopedQuerySet["DataRequest"]):
    scope_path_field = "territory__path"

    def open(self) -> DataRequestQuerySet:
        return self.filter(status__in=OPEN_STATUSES)


class DataRequest(models.Model):
    """One request of a data subject (GDPR arts. 15–21): received on a date, due a month later.

    `kind` lets every right use the same board; the export's production is in `DataExport`.
    """

    kind = models.CharField(_("tipo"), max_length=15, choices=RequestKind.choices)
    status = models.CharField(
        _("stato"), max_length=12, choices=RequestStatus.choices, default=RequestStatus.RECEIVED, db_index=True
    )
    channel = models.CharField(_("canale"), max_length=10, choices=RequestChannel.choices)
    person = models.ForeignKey("people.Person", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    email = models.EmailField(
        _("email a cui rispondere"),
        blank=True,
        help_text=_("Un indirizzo della persona: l'esito parte solo verso di esso"),
    )
    territory = models.ForeignKey(
        "territory.Territory",
        on_delete=models.PROTECT,
        related_name="+",
        help_text=_("Il territorio della persona alla richiesta"),
    )
    received_on = models.DateField(_("ricevuta il"))
    due_on = models.DateField(_("scadenza"))
    extended = models.BooleanField(_("termine prorogato"), default=False)
    extension_reason = models.TextField(_("motivo della proroga"), blank=True)
    notes = models.TextField(_("note"), blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    closed_at = models.DateTimeField(null=True, blank=True)

    objects = DataRequestQuerySet.as_manager()

    class Meta:
        ordering = ["due_on", "id"]
        verbose_name = _("richiesta dell'interessato")
        verbose_name_plural = _("richieste degli interessati")
        indexes = [models.Index(fields=["status", "due_on"], name="data_request_due")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} · {self.received_on:%d/%m/%Y}"

    @property
    def overdue(self) -> bool:
        return self.status in OPEN_STATUSES and self.due_on < timezone.localdate()


class ExportState(models.TextChoices):
    QUEUED = "queued", _("In coda")
    RUNNING = "running", _("In preparazione")
    READY = "ready", _("Pronta: link inviato per email")
    DOWNLOADED = "downloaded", _("Scaricata")
    EXPIRED = "expired", _("Link scaduto")
    FAILED = "failed", _("Non riuscita")


class DataExport(models.Model):
    """The production of one access/portability export: JSON and PDF in private storage, handed
    over by a one-time link (only its SHA-256 is kept) that expires (PRIVACY_EXPORT_LINK_HOURS)."""

    request = models.OneToOneField(DataRequest, on_delete=models.PROTECT, related_name="export")
    state = models.CharField(max_length=12, choices=ExportState.choices, default=ExportState.QUEUED)
    json_file = models.FileField(upload_to="privacy/exports/", blank=True, storage=private_storage)
    pdf_file = models.FileField(upload_to="privacy/exports/", blank=True, storage=private_storage)
    sections = models.JSONField(default=dict, blank=True, help_text=_("Righe esportate per sezione"))
    started_at = models.DateTimeField(null=True, blank=True)
    produced_at = models.DateTimeField(null=True, blank=True)
    link_hash = models.CharField(max_length=64, blank=True)
    link_expires_at = models.DateTimeField(null=True, blank=True)
    downloaded_at = models.DateTimeField(null=True, blank=True)
    error = models.CharField(max_length=300, blank=True)

    class Meta:
        verbose_name = _("copia dei dati")
        verbose_name_plural = _("copie dei dati")
        constraints = [
            models.UniqueConstraint(
                fields=["link_hash"], condition=~models.Q(link_hash=""), name="data_export_link_unique"
            )
        ]

    def __str__(self) -> str:
        return f"export #{self.pk} ({self.state})"


class AddressLink(models.Model):
    """A one-time, short-lived link emailed to an address (convention 16): opening it proves the
    address is the requester's, and only then is an export request created. SHA-256 only."""

    email = models.EmailField(db_index=True)
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"privacy link #{self.pk}"


# =============================================================================================
# End of the "rights" block
# =============================================================================================


# --- Erasure: legal holds (piazza.privacy.erasure); erasure requests are DataRequest(kind=ERASURE) ---


class LegalHold(models.Model):
    """What the law keeps of an erased person: which columns of which rows, why, on what legal
    basis and until when. `privacy.tasks.release_expired_holds` erases them when it ends."""

    person_ref = models.CharField(_("riferimento pseudonimo"), max_length=20, db_index=True)
    kind = models.CharField(_("tipo"), max_length=30)
    model_label = models.CharField(max_length=80)
    object_ids = models.JSONField(default=list)
    fields = models.JSONField(default=list)
    why = models.CharField(_("motivo"), max_length=200)
    legal_basis = models.CharField(_("base giuridica"), max_length=300)
    until = models.DateField(_("fino al"), db_index=True)
    created_at = models.DateTimeField(default=timezone.now)
    released_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["until", "id"]
        verbose_name = _("conservazione per obbligo di legge")
        verbose_name_plural = _("conservazioni per obbligo di legge")

    def __str__(self) -> str:
        return f"{self.person_ref} {self.kind} → {self.until}"


# --- Data breach register (GDPR art. 33(5); issue 12): every breach, notified or not ---


class DataBreach(models.Model):
    """One personal-data breach. What is known about it lives in its `versions` (append-only):
    an edit is a new version, so the register shows what was known when (rule G4)."""

    reference = models.CharField(_("riferimento"), max_length=20, unique=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("violazione di dati personali")
        verbose_name_plural = _("violazioni di dati personali")

    def __str__(self) -> str:
        return self.reference


class BreachVersion(models.Model):
    """What the privacy officer recorded about a breach at one moment (never edited)."""

    breach = models.ForeignKey(DataBreach, on_delete=models.PROTECT, related_name="versions")
    number = models.PositiveIntegerField(_("versione"))
    discovered_at = models.DateTimeField(_("scoperta il"))
    nature = models.TextField(_("natura della violazione"))
    data_categories = models.TextField(_("categorie di dati coinvolti"))
    people_count = models.PositiveIntegerField(_("persone coinvolte (circa)"))
    records_count = models.PositiveIntegerField(_("registrazioni coinvolte (circa)"))
    consequences = models.TextField(_("conseguenze probabili"))
    measures = models.TextField(_("misure adottate o proposte"))
    notification_required = models.BooleanField(_("da notificare al Garante"), default=True)
    no_notification_reason = models.TextField(_("perché non si notifica"), blank=True)
    notified_at = models.DateTimeField(_("notificata al Garante il"), null=True, blank=True)
    delay_reason = models.TextField(_("motivi del ritardo"), blank=True)
    people_informed = models.BooleanField(_("interessati informati"), default=False)
    people_informed_at = models.DateTimeField(_("interessati informati il"), null=True, blank=True)
    recorded_at = models.DateTimeField(default=timezone.now, editable=False)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["breach", "-number"]
        verbose_name = _("versione della scheda di violazione")
        verbose_name_plural = _("versioni delle schede di violazione")
        constraints = [models.UniqueConstraint(fields=["breach", "number"], name="breach_version_unique")]

    def __str__(self) -> str:
        return f"{self.breach_id} v{self.number}"

    @property
    def deadline(self) -> dt.datetime:
        """GDPR art. 33(1): notify within 72 hours of becoming aware (PRIVACY_BREACH_NOTIFY_HOURS)."""
        return self.discovered_at + dt.timedelta(hours=settings.PRIVACY_BREACH_NOTIFY_HOURS)

    @property
    def deadline_state(self) -> str:
        """ "in_time", "late", "overdue" (not notified, deadline gone), "open" or "not_required"."""
        if not self.notification_required:
            return "not_required"
        if self.notified_at is not None:
            return "in_time" if self.notified_at <= self.deadline else "late"
        return "overdue" if timezone.now() > self.deadline else "open"

    @property
    def hours_left(self) -> int:
        return max(0, int((self.deadline - timezone.now()).total_seconds() // 3600))
