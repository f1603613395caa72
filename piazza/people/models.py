"""The people database: one `Person` per human, their contact points, consents, tags and timeline.

Writes go through `piazza.people.actions`; reads that are more than one line live in
`piazza.people.queries`. Every queryset of personal data is scoped by territory subtree
(`Person.objects.visible_to(user)`, convention 11).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from piazza.core.i18n import render as render_stored
from piazza.territory.models import Comune, Role, Territory
from piazza.territory.scoping import ScopedQuerySet, scope_paths

# Who may read people's records and who may change them (at their node and below).
READ_ROLES = {Role.ORGANISATION, Role.MEMBERSHIP, Role.COMMUNICATION, Role.ADMINISTRATOR}
WRITE_ROLES = {Role.ORGANISATION, Role.MEMBERSHIP, Role.ADMINISTRATOR}


class Sex(models.TextChoices):
    MALE = "M", _("Maschio")
    FEMALE = "F", _("Femmina")


class Citizenship(models.TextChoices):
    """Rule M2/M3: who may join or register depends on citizenship."""

    ITALIAN = "italian", _("Italiana")
    EU = "eu", _("Di un altro paese dell'Unione europea")
    NON_EU_PERMIT = "non_eu_permit", _("Extra UE con permesso di soggiorno")


class Source(models.TextChoices):
    MANUAL = "manual", _("Inserimento manuale")
    IMPORT = "import", _("Importazione")
    DONATION = "donation", _("Donazione")
    MEMBERSHIP = "membership", _("Tesseramento")
    SUPPORTER = "supporter", _("Albo elettori")
    EVENT = "event", _("Evento")
    PETITION = "petition", _("Petizione o modulo")
    API = "api", _("API")
    DEMO = "demo", _("Dati dimostrativi")


class SearchNameField(models.CharField):  # type: ignore[type-arg]
    """The normalised "surname name" text used for search. On PostgreSQL its words are indexed as
    an array (GIN) and each distinct word of an active person is kept once in `NameWord` (P5,
    ADR 0038)."""


class PersonQuerySet(ScopedQuerySet["Person"]):
    scope_path_field = "territory__path"

    def active(self) -> PersonQuerySet:
        """People that are not merged into someone else and not erased."""
        return self.filter(merged_into__isnull=True, erased_at__isnull=True)


class NameWord(models.Model):
    """One distinct word of an active person's `search_name` (P5, ADR 0038).

    Name search finds the words nearest each typed word here (about 11,000 words at 1,000,000
    people, GiST trigram index), then the people holding them (GIN index on the words of
    `search_name`). Kept by PostgreSQL triggers on `people_person` (migration 0013), never by
    Python: a word no active person holds any more is removed, so an erased name leaves nothing
    searchable (G5). Empty on SQLite, where search stays a substring match.
    """

    word = models.TextField(unique=True)

    def __str__(self) -> str:
        return self.word


class Tag(models.Model):
    name = models.CharField(_("etichetta"), max_length=60, unique=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["name"]
        verbose_name = _("etichetta")
        verbose_name_plural = _("etichette")

    def __str__(self) -> str:
        return self.name


class Person(models.Model):
    """One human, whatever their relations to the party (member, supporter, donor, volunteer).

    `territory` is the scope: the assigned circolo, else the federation of the residence
    comune, else national (rules M10, M11). `voting_circolo` is the one circolo where a person
    active in several exercises their rights (rule M11).
    """

    first_name = models.CharField(_("nome"), max_length=100)
    last_name = models.CharField(_("cognome"), max_length=100)
    search_name = SearchNameField(max_length=210, editable=False, default="")
    sex = models.CharField(_("sesso"), max_length=1, choices=Sex.choices, blank=True)
    birth_date = models.DateField(_("data di nascita"), null=True, blank=True, db_index=True)
    birth_comune = models.ForeignKey(
        Comune,
        verbose_name=_("comune di nascita"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    birth_country = models.CharField(
        _("stato di nascita"),
        max_length=80,
        blank=True,
        help_text=_("Solo per chi è nato all'estero"),
    )
    codice_fiscale = models.CharField(_("codice fiscale"), max_length=16, blank=True)
    # Rule D1: omocodia variants are the same person, so lookups use the canonical form.
    codice_fiscale_canonical = models.CharField(max_length=16, blank=True, db_index=True, editable=False)
    citizenship = models.CharField(
        _("cittadinanza"), max_length=20, choices=Citizenship.choices, default=Citizenship.ITALIAN
    )
    residence_street = models.CharField(_("indirizzo di residenza"), max_length=200, blank=True)
    residence_cap = models.CharField(_("CAP di residenza"), max_length=5, blank=True)
    residence_comune = models.ForeignKey(
        Comune,
        verbose_name=_("comune di residenza"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    domicile_street = models.CharField(_("indirizzo di domicilio"), max_length=200, blank=True)
    domicile_cap = models.CharField(_("CAP di domicilio"), max_length=5, blank=True)
    domicile_comune = models.ForeignKey(
        Comune,
        verbose_name=_("comune di domicilio"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    territory = models.ForeignKey(
        Territory, verbose_name=_("territorio"), on_delete=models.PROTECT, related_name="people"
    )
    # Rule M11: exactly one circolo where the person exercises their rights.
    voting_circolo = models.ForeignKey(
        Territory,
        verbose_name=_("circolo di voto"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="voters",
    )
    tags = models.ManyToManyField(Tag, blank=True, related_name="people", verbose_name=_("etichette"))
    source = models.CharField(_("provenienza"), max_length=20, choices=Source.choices, default=Source.MANUAL)
    notes = models.TextField(_("note"), blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # After a merge the old record stays, empty of relations, and redirects to the survivor.
    merged_into = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="merged_from")
    merged_at = models.DateTimeField(null=True, blank=True)
    erased_at = models.DateTimeField(null=True, blank=True)

    objects = PersonQuerySet.as_manager()

    # Set by `find_or_create_person` on the instance it returns (not stored).
    was_created: bool = False

    class Meta:
        ordering = ["last_name", "first_name", "id"]
        verbose_name = _("persona")
        verbose_name_plural = _("persone")
        indexes = [
            models.Index(fields=["territory", "last_name", "first_name"], name="person_territory_name"),
            models.Index(fields=["last_name", "first_name"], name="person_name"),
            # Exact name look-ups of the import's idempotency rule (name words serve similarity, ADR 0038).
            # On the expression, which the trigram index cannot serve: given `search_name IN (…)`,
            # PostgreSQL chose the GiST trigram index for the equality, 1 s a chunk at 1,000,000 (P6).
            models.Index(
                Lower("search_name"),
                name="person_search_name_exact",
                condition=Q(merged_into__isnull=True, erased_at__isnull=True),
            ),
            # Segments (P5): active people by territory and age, and the scope of a person reached
            # from another table (tags, consents), both read from the index alone.
            models.Index(
                fields=["territory", "birth_date"],
                include=["id"],
                name="person_territory_birth",
                condition=Q(merged_into__isnull=True, erased_at__isnull=True),
            ),
            models.Index(
                fields=["id"],
                include=["territory"],
                name="person_active_territory",
                condition=Q(merged_into__isnull=True, erased_at__isnull=True),
            ),
            # A circolo's list page (P5): its ids in list order, from the index alone.
            models.Index(
                fields=["territory", "last_name", "first_name", "id"],
                name="person_active_territory_name",
                condition=Q(merged_into__isnull=True, erased_at__isnull=True),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.last_name} {self.first_name}".strip()

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()

    @property
    def primary_email(self) -> Email | None:
        return next((e for e in self.emails.all() if e.primary), None)

    @property
    def primary_phone(self) -> Phone | None:
        return next((p for p in self.phones.all() if p.primary), None)


class ContactPoint(models.Model):
    value = models.CharField(max_length=254, db_index=True)
    primary = models.BooleanField(_("principale"), default=False)
    verified = models.BooleanField(_("verificato"), default=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return self.value


class Email(ContactPoint):
    """An email address, stored normalised (rule D4)."""

    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="emails")

    class Meta:
        ordering = ["-primary", "id"]
        verbose_name = _("email")
        verbose_name_plural = _("email")
        constraints = [
            models.UniqueConstraint(fields=["person", "value"], name="email_unique_per_person"),
            models.UniqueConstraint(fields=["person"], condition=Q(primary=True), name="email_one_primary"),
        ]


class Phone(ContactPoint):
    """A phone number in E.164 (rule D4)."""

    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="phones")

    class Meta:
        ordering = ["-primary", "id"]
        verbose_name = _("telefono")
        verbose_name_plural = _("telefoni")
        constraints = [
            models.UniqueConstraint(fields=["person", "value"], name="phone_unique_per_person"),
            models.UniqueConstraint(fields=["person"], condition=Q(primary=True), name="phone_one_primary"),
        ]


class Purpose(models.TextChoices):
    """Rule G3: consent is granular per purpose."""

    POLITICAL_COMMUNICATION = "political_communication", _("Comunicazione politica")
    PROFILING = "profiling", _("Profilazione")
    CANDIDATE_SHARING = "candidate_sharing", _("Comunicazione ai candidati")
    NEWSLETTER = "newsletter", _("Newsletter")


class Channel(models.TextChoices):
    """How a consent was given or withdrawn, and how a person may be contacted."""

    WEB = "web", _("Modulo web")
    PAPER = "paper", _("Modulo cartaceo")
    EMAIL = "email", _("Email")
    PHONE = "phone", _("Telefono")
    SMS = "sms", _("SMS")
    POST = "post", _("Posta")
    IN_PERSON = "in_person", _("Di persona")
    IMPORT = "import", _("Importazione")


class ConsentQuerySet(ScopedQuerySet["Consent"]):
    scope_path_field = "person__territory__path"


class Consent(models.Model):
    """One consent event (rule G3): given or withdrawn, for one purpose, with its evidence.

    Never edited: a withdrawal is a new row. The current state for a purpose is its latest row.
    """

    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="consents")
    purpose = models.CharField(_("finalità"), max_length=30, choices=Purpose.choices)
    granted = models.BooleanField(_("consenso dato"))
    at = models.DateTimeField(default=timezone.now)
    channel = models.CharField(_("canale"), max_length=20, choices=Channel.choices)
    text_version = models.CharField(_("versione dell'informativa"), max_length=60)
    evidence = models.TextField(_("prova"), blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects = ConsentQuerySet.as_manager()

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name = _("consenso")
        verbose_name_plural = _("consensi")
        indexes = [
            models.Index(fields=["person", "purpose", "-at"], name="consent_latest"),
            # Segment counts by consent (`queries.with_consent`): all of a purpose's rows in person
            # order, read from the index alone (P5).
            models.Index(fields=["purpose", "person", "at", "id"], include=["granted"], name="consent_purpose_person"),
        ]

    def __str__(self) -> str:
        return f"{self.get_purpose_display()}: {'sì' if self.granted else 'no'}"


# Where a timeline entry's data keeps its summary as a message id and parameters (core.i18n).
TIMELINE_SUMMARY_KEY = "_summary"


class TimelineEntry(models.Model):
    """Everything that happened to a person; other apps add theirs with `add_timeline_entry`."""

    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="timeline")
    at = models.DateTimeField(default=timezone.now)
    kind = models.CharField(max_length=40)
    summary = models.CharField(max_length=300)
    data = models.JSONField(default=dict, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name = _("evento della cronologia")
        verbose_name_plural = _("cronologia")
        indexes = [models.Index(fields=["person", "-at"], name="timeline_person_at")]

    def __str__(self) -> str:
        return self.summary

    @property
    def display_summary(self) -> str:
        """The event in the reader's language (issue 11 item 18); `summary` keeps the words of the time."""
        stored = self.data.get(TIMELINE_SUMMARY_KEY) if isinstance(self.data, dict) else None  # older rows
        return render_stored(stored, self.summary)


class DuplicateStatus(models.TextChoices):
    OPEN = "open", _("Da esaminare")
    MERGED = "merged", _("Unite")
    DISMISSED = "dismissed", _("Persone diverse")


class DuplicateCandidateQuerySet(ScopedQuerySet["DuplicateCandidate"]):
    scope_path_field = "person_a__territory__path"

    def visible_to(self, user: Any, roles: Any = None) -> Any:
        """Both people must be in the viewer's scope: a merge touches both records."""
        paths = scope_paths(user, roles)
        if not paths:
            return self.none()
        a = Q()
        b = Q()
        for path in paths:
            a |= Q(person_a__territory__path__startswith=path)
            b |= Q(person_b__territory__path__startswith=path)
        return self.filter(a & b)


class DuplicateCandidate(models.Model):
    """A likely duplicate pair waiting for a human decision, with the reasons why."""

    person_a = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="+")
    person_b = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="+")
    score = models.PositiveSmallIntegerField(default=0)
    reasons = models.JSONField(default=list)
    status = models.CharField(max_length=10, choices=DuplicateStatus.choices, default=DuplicateStatus.OPEN)
    detected_at = models.DateTimeField(default=timezone.now)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects = DuplicateCandidateQuerySet.as_manager()

    class Meta:
        ordering = ["-score", "-detected_at"]
        verbose_name = _("possibile duplicato")
        verbose_name_plural = _("possibili duplicati")
        constraints = [
            models.UniqueConstraint(fields=["person_a", "person_b"], name="duplicate_pair_unique"),
            models.CheckConstraint(condition=Q(person_a__lt=models.F("person_b")), name="duplicate_pair_ordered"),
        ]
        indexes = [models.Index(fields=["status", "-score"], name="duplicate_status_score")]

    def __str__(self) -> str:
        return f"{self.person_a_id} ~ {self.person_b_id} ({self.score})"


class Segment(models.Model):
    """A saved search (filter definition), always evaluated inside the viewer's scope."""

    name = models.CharField(_("nome"), max_length=120)
    territory = models.ForeignKey(Territory, on_delete=models.PROTECT, related_name="+")
    definition = models.JSONField(default=dict)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ScopedQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        verbose_name = _("segmento")
        verbose_name_plural = _("segmenti")

    def __str__(self) -> str:
        return self.name


class ImportMapping(models.Model):
    """A saved column mapping, so a circolo's usual spreadsheet is mapped once."""

    name = models.CharField(_("nome"), max_length=120)
    territory = models.ForeignKey(Territory, on_delete=models.PROTECT, related_name="+")
    mapping = models.JSONField(default=dict)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    objects = ScopedQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["territory", "name"], name="import_mapping_unique")]

    def __str__(self) -> str:
        return self.name


class BatchStatus(models.TextChoices):
    UPLOADED = "uploaded", _("Caricato")
    MAPPED = "mapped", _("Colonne associate")
    QUEUED = "queued", _("In coda")
    RUNNING = "running", _("In corso")
    DONE = "done", _("Completato")
    FAILED = "failed", _("Non riuscito")
    CLOSED = "closed", _("Chiuso")


class ImportBatch(models.Model):
    """One uploaded file. Its rows stay in `ImportRow` until the batch is closed."""

    territory = models.ForeignKey(Territory, on_delete=models.PROTECT, related_name="+")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    file_name = models.CharField(max_length=255)
    file_sha256 = models.CharField(max_length=64, db_index=True)
    # An earlier batch of the same file (same SHA-256) in the uploader's scope: the wizard warns
    # and running the import needs an explicit confirmation (issue 11, item 14).
    repeat_of = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    repeat_confirmed = models.BooleanField(default=False)
    # What each row becomes besides a person: "" (people only) or a target registered by a
    # higher app in `piazza.people.import_targets` (e.g. membership's "members of year Y").
    target = models.CharField(max_length=30, blank=True)
    target_options = models.JSONField(default=dict, blank=True)
    file_format = models.CharField(max_length=4)  # csv / xlsx
    encoding = models.CharField(max_length=20, blank=True)
    delimiter = models.CharField(max_length=1, blank=True)
    headers = models.JSONField(default=list)
    mapping = models.JSONField(default=dict)
    status = models.CharField(max_length=10, choices=BatchStatus.choices, default=BatchStatus.UPLOADED)
    total_rows = models.PositiveIntegerField(default=0)
    processed_rows = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    # Outcome counts, kept after the batch is closed and its rows are dropped.
    summary = models.JSONField(default=dict)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    objects = ScopedQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("importazione")
        verbose_name_plural = _("importazioni")

    def __str__(self) -> str:
        return self.file_name

    @property
    def progress_percent(self) -> int:
        if not self.total_rows:
            return 100 if self.status == BatchStatus.DONE else 0
        return min(100, self.processed_rows * 100 // self.total_rows)


class RowStatus(models.TextChoices):
    PENDING = "pending", _("Da elaborare")
    CREATED = "created", _("Creata")
    UPDATED = "updated", _("Aggiornata")
    UNCHANGED = "unchanged", _("Già presente, invariata")
    DUPLICATE = "duplicate", _("Possibile duplicato")
    REJECTED = "rejected", _("Respinta")
    # Issue 12, rule G5: the row matches a person who asked to be erased; an official decides.
    ERASED = "erased", _("Persona che ha chiesto la cancellazione")


class TargetOutcome(models.TextChoices):
    DONE = "done", _("Registrata")
    REFUSED = "refused", _("Non registrata")
    HELD = "held", _("In attesa di verifica")


class ImportRow(models.Model):
    """One input row of a batch, exactly as read, with its outcome and reasons."""

    batch = models.ForeignKey(ImportBatch, on_delete=models.CASCADE, related_name="rows")
    number = models.PositiveIntegerField()  # line number in the file (header = 1)
    raw = models.JSONField(default=list)
    status = models.CharField(max_length=10, choices=RowStatus.choices, default=RowStatus.PENDING)
    errors = models.JSONField(default=list)
    person = models.ForeignKey(Person, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    # In words: which existing person or which earlier row of the file this row matched.
    match_note = models.TextField(blank=True)
    # The import target's outcome for the row (e.g. membership registered / refused) and why.
    target_outcome = models.CharField(max_length=12, choices=TargetOutcome.choices, blank=True)
    target_note = models.TextField(blank=True)

    class Meta:
        ordering = ["batch", "number"]
        constraints = [models.UniqueConstraint(fields=["batch", "number"], name="import_row_unique")]
        indexes = [models.Index(fields=["batch", "status"], name="import_row_status")]

    def __str__(self) -> str:
        return f"{self.batch_id}:{self.number}"


class ScopeRequestKind(models.TextChoices):
    CREATE = "create", _("Nuova scheda con un codice fiscale già registrato")
    UPDATE = "update", _("Codice fiscale di una scheda già registrata")
    MEMBERSHIP = "membership", _("Iscrizione al banco del circolo")
    # Issue 12, rule G5: the person asks, from Il mio spazio, to correct an identity field
    # (name, codice fiscale, birth); rolls depend on them, so the circolo decides.
    RECTIFY = "rectify", _("Rettifica dei dati anagrafici chiesta dalla persona")


class ScopeRequestStatus(models.TextChoices):
    OPEN = "open", _("Da esaminare")
    DONE = "done", _("Gestita")
    DISMISSED = "dismissed", _("Respinta")


class ScopeRequestQuerySet(ScopedQuerySet["ScopeRequest"]):
    scope_path_field = "territory__path"


class ScopeRequest(models.Model):
    """Issue 10, rule G1 and convention 11: an official typed the codice fiscale of a person of
    another territory. Nothing of that person is shown to them nor changed: what they typed
    goes, as a request, to the officials of the person's own territory, who decide (contact the
    person, start a transfer, correct a wrong code) and close it."""

    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="+")
    territory = models.ForeignKey(
        Territory,
        on_delete=models.PROTECT,
        related_name="+",
        help_text=_("Il territorio della persona: chi vi ha un incarico vede la richiesta"),
    )
    from_territory = models.ForeignKey(Territory, on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=12, choices=ScopeRequestKind.choices)
    data = models.JSONField(default=dict, help_text=_("I dati scritti da chi ha fatto la richiesta"))
    status = models.CharField(max_length=10, choices=ScopeRequestStatus.choices, default=ScopeRequestStatus.OPEN)
    requested_at = models.DateTimeField(default=timezone.now)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decision_note = models.TextField(blank=True)

    objects = ScopeRequestQuerySet.as_manager()

    class Meta:
        ordering = ["status", "-requested_at"]
        verbose_name = _("richiesta da un altro territorio")
        verbose_name_plural = _("richieste da altri territori")
        indexes = [models.Index(fields=["status", "-requested_at"], name="scope_request_status")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} ({self.from_territory} → {self.territory})"


class ReviewStatus(models.TextChoices):
    OPEN = "open", _("Da verificare")
    CODE_RIGHT = "code_right", _("Codice giusto: data corretta dal codice")
    DATE_RIGHT = "date_right", _("Data giusta: codice da verificare")
    EDITED = "edited", _("Scheda corretta a mano")


class CodeDateReviewQuerySet(ScopedQuerySet["CodeDateReview"]):
    scope_path_field = "person__territory__path"


class CodeDateReview(models.Model):
    """Issue 11, item 14 (rule D1): an imported row whose codice fiscale disagrees with its birth
    date is kept, with both values as written, and waits here until an official decides which
    one is right. "Date right" leaves the code marked as to be checked (`code_to_check`)."""

    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="code_date_reviews")
    batch = models.ForeignKey(ImportBatch, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    row_number = models.PositiveIntegerField(null=True, blank=True)
    codice_fiscale = models.CharField(max_length=16)
    code_birth_date = models.DateField(help_text=_("La data di nascita che risulta dal codice fiscale"))
    record_birth_date = models.DateField(help_text=_("La data di nascita scritta nel file"))
    status = models.CharField(max_length=12, choices=ReviewStatus.choices, default=ReviewStatus.OPEN)
    code_to_check = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    note = models.TextField(blank=True)

    objects = CodeDateReviewQuerySet.as_manager()

    class Meta:
        ordering = ["status", "created_at", "id"]
        verbose_name = _("codice fiscale da verificare")
        verbose_name_plural = _("codici fiscali da verificare")
        indexes = [models.Index(fields=["status", "created_at"], name="code_date_review_status")]

    def __str__(self) -> str:
        return f"{self.person} ({self.codice_fiscale})"


class ErasedIdentityKind(models.TextChoices):
    EMAIL = "email", _("Email")
    PHONE = "phone", _("Telefono")
    CODICE_FISCALE = "codice_fiscale", _("Codice fiscale")


class ErasedIdentity(models.Model):
    """Issue 12, rule G5: a keyed hash (HMAC-SHA256, settings.ERASURE_HASH_KEY) of one normalised
    identifier of an erased person, so an import or a desk recognises them without keeping the
    identifier itself. Nothing links it back to the Person row."""

    kind = models.CharField(max_length=20, choices=ErasedIdentityKind.choices)
    digest = models.CharField(max_length=64, unique=True)
    erased_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("identità cancellata")
        verbose_name_plural = _("identità cancellate")

    def __str__(self) -> str:
        return f"{self.kind}:{self.digest[:8]}"


# --- Privacy notices (informative) per point of collection (rule G5, GDPR art. 13; issue 12) ---
# In people so that the forms below privacy in the layering (funding, membership, community)
# can show and record them: people is the lowest app holding the person and their consents.


class CollectionPoint(models.TextChoices):
    """Where personal data are collected; each has its own notice (docs/dev/privacy-notices.md)."""

    DONATE = "donate", _("Donazioni")
    JOIN = "join", _("Iscrizione al partito")
    ALBO = "albo", _("Albo dei sostenitori")
    DESK = "desk", _("Modulo cartaceo al circolo")
    IMPORT = "import", _("Elenchi importati dai circoli")
    SPACE = "space", _("Il mio spazio")
    PETITION = "petition", _("Petizioni")
    EVENT = "event", _("Eventi")
    SIGNUP = "signup", _("Iscrizione agli aggiornamenti")


class PrivacyNotice(models.Model):
    """The notice of one point of collection; its texts are its `versions`, never edited."""

    key = models.CharField(_("punto di raccolta"), max_length=20, choices=CollectionPoint.choices, unique=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["key"]
        verbose_name = _("informativa privacy")
        verbose_name_plural = _("informative privacy")

    def __str__(self) -> str:
        return str(self.get_key_display())


class NoticeVersion(models.Model):
    """One published text of a notice in one language. Append-only (database triggers): a new
    wording is a new version; the rows people accepted stay as they read them."""

    notice = models.ForeignKey(PrivacyNotice, on_delete=models.PROTECT, related_name="versions")
    label = models.CharField(_("versione"), max_length=20)
    language = models.CharField(_("lingua"), max_length=8, choices=settings.LANGUAGES)
    title = models.CharField(_("titolo"), max_length=200)
    body = models.TextField(_("testo (Markdown)"))
    body_html = models.TextField(editable=False)
    changes = models.TextField(_("cosa cambia"), blank=True)
    published_at = models.DateTimeField(_("pubblicata il"), default=timezone.now)
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["notice", "language", "-published_at", "-id"]
        verbose_name = _("versione dell'informativa")
        verbose_name_plural = _("versioni delle informative")
        constraints = [
            models.UniqueConstraint(fields=["notice", "label", "language"], name="notice_version_unique"),
        ]
        indexes = [models.Index(fields=["notice", "language", "-published_at"], name="notice_version_current")]

    def __str__(self) -> str:
        return f"{self.notice.key} {self.label} ({self.language})"

    @property
    def code(self) -> str:
        """What a consent row keeps as its `text_version` (e.g. "albo-2026.1")."""
        return f"{self.notice.key}-{self.label}"


class NoticeAcceptance(models.Model):
    """Who was shown which version, on which form, when (rule G3): written with the data the
    form collected. `person` is empty until a donation's donor is known (its `source` names it)."""

    version = models.ForeignKey(NoticeVersion, on_delete=models.PROTECT, related_name="acceptances")
    person = models.ForeignKey(
        Person, null=True, blank=True, on_delete=models.CASCADE, related_name="notice_acceptances"
    )
    collection_point = models.CharField(max_length=20, choices=CollectionPoint.choices)
    channel = models.CharField(max_length=20, choices=Channel.choices)
    source_label = models.CharField(max_length=60, blank=True)
    source_id = models.BigIntegerField(null=True, blank=True)
    at = models.DateTimeField(default=timezone.now)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name = _("presa visione dell'informativa")
        verbose_name_plural = _("prese visione delle informative")
        indexes = [
            models.Index(fields=["version", "person"], name="notice_acceptance_version"),
            models.Index(fields=["source_label", "source_id"], name="notice_acceptance_source"),
        ]

    def __str__(self) -> str:
        return f"{self.version} @ {self.at:%Y-%m-%d}"
