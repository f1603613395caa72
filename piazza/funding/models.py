"""Crowdfunding: campaigns at every territorial level, donations, matching pools, peer-to-peer pages.

Totals shown to the public never come from an editable field on the campaign row: they are
the sum of `CampaignCounter` slots (convention 9), incremented with an atomic `+ x` in the
same transaction as the ledger booking, so one viral campaign never queues every donor on
one hot row. `queries.check_totals_against_ledger` proves counters and ledger agree.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from piazza.core.money import AmountCentsField, CurrencyField, Money, MoneyProperty
from piazza.territory.scoping import ScopedQuerySet

COUNTER_SLOTS = 16  # enough for two cores × several workers to rarely meet on one slot
DEFAULT_PRESETS = [1000, 2500, 5000, 10000]
SMALL_GIFT_CENTS = 100_00  # "small donor" figure of the issue: gifts up to €100


class CampaignKind(models.TextChoices):
    PROJECT = "project", _("Progetto")
    CANDIDATE = "candidate", _("Candidatura")
    MOBILISATION = "mobilisation", _("Mobilitazione")


class FundingModel(models.TextChoices):
    KEEP_IT_ALL = "keep_it_all", _("Tieni quanto raccolto")
    ALL_OR_NOTHING = "all_or_nothing", _("Tutto o niente (rimborso se non si raggiunge il minimo)")


class CampaignStatus(models.TextChoices):
    DRAFT = "draft", _("Bozza")
    SUBMITTED = "submitted", _("In approvazione")
    APPROVED = "approved", _("Approvata")
    REJECTED = "rejected", _("Respinta")
    LIVE = "live", _("Attiva")
    ENDED = "ended", _("Conclusa")
    SETTLED = "settled", _("Chiusa e liquidata")


class CampaignOutcome(models.TextChoices):
    PENDING = "", _("In corso")
    FUNDED = "funded", _("Finanziata")
    FAILED = "failed", _("Non finanziata: donazioni rimborsate")


class CampaignQuerySet(ScopedQuerySet["Campaign"]):
    scope_path_field = "territory__path"

    def public(self) -> CampaignQuerySet:
        return self.filter(status__in=[CampaignStatus.LIVE, CampaignStatus.ENDED, CampaignStatus.SETTLED])

    def live(self) -> CampaignQuerySet:
        return self.filter(status=CampaignStatus.LIVE)


class Campaign(models.Model):
    territory = models.ForeignKey(
        "territory.Territory", on_delete=models.PROTECT, related_name="campaigns", verbose_name=_("struttura")
    )
    kind = models.CharField(_("tipo"), max_length=20, choices=CampaignKind.choices, default=CampaignKind.PROJECT)
    funding_model = models.CharField(
        _("modello di raccolta"), max_length=20, choices=FundingModel.choices, default=FundingModel.KEEP_IT_ALL
    )
    status = models.CharField(
        _("stato"), max_length=12, choices=CampaignStatus.choices, default=CampaignStatus.DRAFT, db_index=True
    )
    outcome = models.CharField(
        _("esito"), max_length=10, choices=CampaignOutcome.choices, blank=True, default=CampaignOutcome.PENDING
    )
    slug = models.SlugField(_("indirizzo"), max_length=80, unique=True)
    title = models.CharField(_("titolo"), max_length=140)
    summary = models.CharField(_("in una frase"), max_length=240)
    # Optional English words for visitors reading the site in English (issue 11 item 18).
    title_en = models.CharField(_("titolo in inglese"), max_length=140, blank=True)
    summary_en = models.CharField(_("in una frase, in inglese"), max_length=240, blank=True)
    story_markdown = models.TextField(_("racconto"), blank=True)
    story_html = models.TextField(editable=False, blank=True)  # sanitised by actions, never by hand
    goal_cents = AmountCentsField(_("obiettivo"))
    minimum_cents = AmountCentsField(_("minimo da raggiungere"), null=True, blank=True)
    currency = CurrencyField()
    deadline = models.DateTimeField(_("scadenza"))
    candidacy = models.ForeignKey(
        "compliance.Candidacy",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="campaigns",
        verbose_name=_("candidatura"),
    )  # F10
    presets_cents = models.JSONField(_("importi proposti"), default=list, blank=True)
    min_gift_cents = AmountCentsField(_("donazione minima"), default=200)
    allow_monthly = models.BooleanField(_("consenti donazioni mensili"), default=True)
    # Estimate shown for "cover the processing fee": a per-campaign parameter, not a constant.
    fee_cover_bps = models.PositiveIntegerField(_("commissione stimata (punti base)"), default=150)
    fee_cover_fixed_cents = AmountCentsField(_("commissione fissa stimata"), default=25)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    submitted_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    rejection_reason = models.TextField(_("motivo del rifiuto"), blank=True)
    launched_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    settled_at = models.DateTimeField(null=True, blank=True)

    objects = CampaignQuerySet.as_manager()

    goal = MoneyProperty("goal_cents", "currency")

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("raccolta")
        verbose_name_plural = _("raccolte")
        indexes = [models.Index(fields=["status", "deadline"], name="campaign_status_deadline")]
        constraints = [
            models.CheckConstraint(condition=Q(goal_cents__gt=0), name="campaign_goal_positive"),
            models.CheckConstraint(
                condition=Q(minimum_cents__isnull=True) | Q(minimum_cents__gt=0), name="campaign_minimum_positive"
            ),
            models.CheckConstraint(
                condition=~Q(kind="candidate") | Q(candidacy__isnull=False), name="campaign_candidate_has_candidacy"
            ),
        ]

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return reverse("funding:campaign", args=[self.slug])

    @property
    def display_title(self) -> str:
        """The title in the visitor's language: English when the site is read in English and the
        campaign has an English title, the Italian one otherwise."""
        return self.title_en if self.title_en and get_language() == "en" else self.title

    @property
    def display_summary(self) -> str:
        return self.summary_en if self.summary_en and get_language() == "en" else self.summary

    @property
    def presets(self) -> list[int]:
        return [int(c) for c in (self.presets_cents or DEFAULT_PRESETS)]

    @property
    def threshold_cents(self) -> int:
        """What must be reached for all-or-nothing: the minimum, else the goal."""
        return self.minimum_cents or self.goal_cents

    def is_open_for_gifts(self, now: Any = None) -> bool:
        now = now or timezone.now()
        return self.status == CampaignStatus.LIVE and self.deadline > now


class TeamRole(models.TextChoices):
    OFFICIAL = "official", _("Dirigente")
    STAFF = "staff", _("Staff della candidatura")
    CANDIDATE = "candidate", _("Candidato/a")
    MANDATARIO = "mandatario", _("Mandatario elettorale")


class TeamMember(models.Model):
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="team")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="campaign_roles")
    role = models.CharField(_("ruolo"), max_length=12, choices=TeamRole.choices, default=TeamRole.OFFICIAL)
    added_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["campaign", "user"], name="team_member_unique")]

    def __str__(self) -> str:
        return f"{self.user} · {self.get_role_display()}"


class BudgetLine(models.Model):
    """What the money is for: shown on the page so donors see where each euro goes."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="budget_lines")
    label = models.CharField(_("voce"), max_length=140)
    amount_cents = AmountCentsField(_("importo"))
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["position", "id"]
        constraints = [models.CheckConstraint(condition=Q(amount_cents__gt=0), name="budget_line_positive")]

    def __str__(self) -> str:
        return self.label


class CampaignImage(models.Model):
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="images")
    image = models.ImageField(upload_to="campaigns/%Y/%m/")
    width = models.PositiveIntegerField(default=0)
    height = models.PositiveIntegerField(default=0)
    alt_text = models.CharField(_("testo alternativo"), max_length=250)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["position", "id"]
        constraints = [models.CheckConstraint(condition=~Q(alt_text=""), name="campaign_image_alt_required")]

    def __str__(self) -> str:
        return self.alt_text


class CampaignUpdate(models.Model):
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="updates")
    title = models.CharField(_("titolo"), max_length=140)
    body_markdown = models.TextField(_("testo"))
    body_html = models.TextField(editable=False)
    posted_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    posted_at = models.DateTimeField(default=timezone.now)
    emailed_to = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-posted_at"]

    def __str__(self) -> str:
        return self.title


class FAQ(models.Model):
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="faqs")
    question = models.CharField(_("domanda"), max_length=250)
    answer = models.TextField(_("risposta"))
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["position", "id"]
        verbose_name = "FAQ"

    def __str__(self) -> str:
        return self.question


class SplitShare(models.Model):
    """A configured share of every gift to one recipient (e.g. circolo 70%, federation 30%).

    Percentages are integers and sum to 100 (checked by the action). Without rows, all goes
    to the campaign's territory; a candidate campaign always goes to the mandatario (F10).
    """

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="splits")
    recipient = models.ForeignKey("territory.Territory", on_delete=models.PROTECT, related_name="+")
    percent = models.PositiveSmallIntegerField()

    class Meta:
        ordering = ["-percent", "id"]
        constraints = [
            models.UniqueConstraint(fields=["campaign", "recipient"], name="split_share_unique"),
            models.CheckConstraint(condition=Q(percent__gt=0) & Q(percent__lte=100), name="split_share_percent"),
        ]

    def __str__(self) -> str:
        return f"{self.recipient} {self.percent}%"


class CampaignCounter(models.Model):
    """One of COUNTER_SLOTS rows per campaign; a gift adds to a random slot (convention 9)."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="counters")
    slot = models.PositiveSmallIntegerField()
    gifts_cents = models.BigIntegerField(default=0)
    gifts_count = models.BigIntegerField(default=0)
    small_gifts_cents = models.BigIntegerField(default=0)
    matched_cents = models.BigIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["campaign", "slot"], name="campaign_counter_slot")]

    def __str__(self) -> str:
        return f"{self.campaign_id}#{self.slot}"


class Frequency(models.TextChoices):
    ONE_OFF = "one_off", _("Una volta")
    MONTHLY = "monthly", _("Ogni mese")


class DonationStatus(models.TextChoices):
    PENDING = "pending", _("In attesa del pagamento")
    SUCCEEDED = "succeeded", _("Ricevuta")
    FAILED = "failed", _("Non riuscita")
    # Paid, but a rule checked at payment success (F6 cap, F2 objection) forbids keeping it:
    # never counted on the thermometer, refunded automatically.
    REFUSED = "refused", _("Respinta per legge: in rimborso")
    REFUNDED = "refunded", _("Rimborsata")


class DonationQuerySet(ScopedQuerySet["Donation"]):
    scope_path_field = "campaign__territory__path"

    def succeeded(self) -> DonationQuerySet:
        return self.filter(status=DonationStatus.SUCCEEDED)


class Donation(models.Model):
    """One gift (or one month of a monthly gift), with what the law needs recorded alongside it."""

    campaign = models.ForeignKey(Campaign, on_delete=models.PROTECT, related_name="donations")
    page = models.ForeignKey(
        "FundraisingPage", null=True, blank=True, on_delete=models.PROTECT, related_name="donations"
    )
    # Linked (found or created) when the money arrives: an abandoned form never creates a
    # record in the people database (data minimisation) nor costs the submission (goal P4).
    person = models.ForeignKey(
        "people.Person", null=True, blank=True, on_delete=models.PROTECT, related_name="donations"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    amount_cents = AmountCentsField()  # the gift itself
    fee_cover_cents = AmountCentsField(default=0)  # added by the donor to cover processing costs
    currency = CurrencyField()
    frequency = models.CharField(max_length=10, choices=Frequency.choices, default=Frequency.ONE_OFF)
    parent = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="instalments",
        help_text="For monthly gifts: the first donation of the series",
    )
    status = models.CharField(max_length=10, choices=DonationStatus.choices, default=DonationStatus.PENDING)
    # Donor details copied at the time of the gift, for the receipt and the register (F1, F3).
    first_name = models.CharField(max_length=100)
    last_name = models.CharField(max_length=100)
    codice_fiscale = models.CharField(max_length=16)
    email = models.EmailField()
    address = models.CharField(max_length=200)
    postal_code = models.CharField(max_length=5)
    comune = models.ForeignKey("territory.Comune", on_delete=models.PROTECT, related_name="+")
    # Rule F4: attestations as ticked, with the text version and time.
    attestations = models.JSONField(default=list)
    attestation_version = models.CharField(max_length=20)
    attested_at = models.DateTimeField(default=timezone.now)
    # Rules F1/F2: above the threshold publication is by law; objecting was refused at submission.
    publication_acknowledged = models.BooleanField(default=False)
    on_wall = models.BooleanField(default=False)
    message = models.CharField(max_length=280, blank=True)
    # Attribution.
    refcode = models.CharField(max_length=60, blank=True, db_index=True)
    utm_source = models.CharField(max_length=100, blank=True)
    utm_medium = models.CharField(max_length=100, blank=True)
    utm_campaign = models.CharField(max_length=100, blank=True)
    idempotency_key = models.CharField(max_length=80, unique=True)
    manage_token = models.CharField(max_length=43, unique=True)
    # The payment of this gift (for a later month of a monthly gift: that month's payment).
    payment = models.OneToOneField(
        "payments.Payment", null=True, blank=True, on_delete=models.PROTECT, related_name="donation"
    )
    matched_cents = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    succeeded_at = models.DateTimeField(null=True, blank=True)
    refunded_at = models.DateTimeField(null=True, blank=True)
    failure_reason = models.CharField(max_length=250, blank=True)
    receipt_sent_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)

    objects = DonationQuerySet.as_manager()

    amount = MoneyProperty("amount_cents", "currency")

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["campaign", "status", "-succeeded_at"], name="donation_campaign_status"),
            models.Index(fields=["person", "status", "created_at"], name="donation_person_year"),
            models.Index(fields=["page", "status"], name="donation_page_status"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(amount_cents__gt=0), name="donation_amount_positive"),
            models.CheckConstraint(condition=Q(fee_cover_cents__gte=0), name="donation_fee_cover_nonnegative"),
        ]

    def __str__(self) -> str:
        return f"{self.amount} · {self.campaign_id}"

    @property
    def total_cents(self) -> int:
        """What the donor is charged: the gift plus any fee cover."""
        return self.amount_cents + self.fee_cover_cents

    @property
    def wall_name(self) -> str:
        return f"{self.first_name} {self.last_name[:1]}." if self.on_wall else ""


class PoolMode(models.TextChoices):
    PER_GIFT = "per_gift", _("Raddoppia ogni donazione all'arrivo")
    TOP_UP = "top_up", _("Completa l'ultima parte al raggiungimento di una soglia")
    # Issue 17: at the close of the round the pool is shared by `funding.quadratic`.
    QUADRATIC = "quadratic", _("Round quadratico: conta quante persone donano")


class QuadraticVariant(models.TextChoices):
    STANDARD = "standard", _("Standard: (Σ √contributo)² − Σ contributo")
    CLUSTER = "cluster", _("Anti-collusione: chi abita allo stesso indirizzo conta come una persona")
    PAIRWISE = "pairwise", _("Anti-collusione: coppie di donatori che finanziano insieme molte raccolte contano meno")


class PoolQuerySet(ScopedQuerySet["MatchingPool"]):
    scope_path_field = "territory__path"


class MatchingPool(models.Model):
    """A budget a territory puts up to match small gifts (co-finanziamento).

    `reserved_cents + settled_cents <= budget_cents` is a database constraint; every change to
    those two columns happens with the row locked, so no race can overspend the pool.
    """

    territory = models.ForeignKey(
        "territory.Territory",
        on_delete=models.PROTECT,
        related_name="matching_pools",
        verbose_name=_("chi mette il fondo"),
    )
    name = models.CharField(_("nome"), max_length=140)
    budget_cents = AmountCentsField(_("budget"))
    reserved_cents = models.BigIntegerField(default=0)
    settled_cents = models.BigIntegerField(default=0)
    currency = CurrencyField()
    ratio_num = models.PositiveSmallIntegerField(_("rapporto: per ogni euro donato"), default=1)
    ratio_den = models.PositiveSmallIntegerField(default=1)
    cap_per_donation_cents = AmountCentsField(_("massimo per donazione"), null=True, blank=True)
    cap_per_donor_cents = AmountCentsField(_("massimo per donatore"), null=True, blank=True)
    cap_per_campaign_cents = AmountCentsField(_("massimo per raccolta"), null=True, blank=True)
    eligible_root = models.ForeignKey(
        "territory.Territory", on_delete=models.PROTECT, related_name="+", verbose_name=_("raccolte ammesse: sotto")
    )
    eligible_kinds = models.JSONField(_("tipi di raccolta ammessi"), default=list, blank=True)
    min_distinct_donors = models.PositiveIntegerField(_("donatori distinti minimi"), default=0)
    small_gift_max_cents = AmountCentsField(_("solo donazioni fino a"), null=True, blank=True)
    mode = models.CharField(_("modalità"), max_length=10, choices=PoolMode.choices, default=PoolMode.PER_GIFT)
    top_up_threshold_pct = models.PositiveSmallIntegerField(_("soglia per il completamento (%)"), default=75)
    priority = models.PositiveSmallIntegerField(_("ordine di applicazione"), default=100)
    exclusive = models.BooleanField(_("esclusivo: se applicato, i fondi successivi non si applicano"), default=False)
    is_active = models.BooleanField(default=True)
    closes_at = models.DateTimeField(null=True, blank=True)
    quadratic_variant = models.CharField(
        _("variante del round quadratico"),
        max_length=10,
        choices=QuadraticVariant.choices,
        default=QuadraticVariant.STANDARD,
    )
    donor_ceiling_cents = AmountCentsField(_("contributo di ogni donatore contato fino a"), null=True, blank=True)
    round_closed_at = models.DateTimeField(_("round chiuso il"), null=True, blank=True)
    # What the round shared at its close (the pool then left): published so anyone can recompute it.
    round_shared_cents = models.BigIntegerField(null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    objects = PoolQuerySet.as_manager()

    class Meta:
        ordering = ["priority", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(budget_cents__gt=0), name="pool_budget_positive"),
            models.CheckConstraint(
                condition=Q(reserved_cents__gte=0) & Q(settled_cents__gte=0), name="pool_amounts_nonnegative"
            ),
            models.CheckConstraint(
                condition=Q(reserved_cents__lte=models.F("budget_cents") - models.F("settled_cents")),
                name="pool_never_overspent",
            ),
            models.CheckConstraint(condition=Q(ratio_den__gt=0) & Q(ratio_num__gt=0), name="pool_ratio_positive"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def remaining_cents(self) -> int:
        return self.budget_cents - self.reserved_cents - self.settled_cents

    @property
    def remaining(self) -> Money:
        return Money(self.remaining_cents, self.currency)


class ExclusionReason(models.TextChoices):
    """Why a treasurer left a gift out of a round's match (issue 17): published as a category only."""

    SHARED_INSTRUMENT = "instrument", _("Stessa carta o conto per più donatori")
    SHARED_ADDRESS = "address", _("Stesso indirizzo per più donatori")
    SHARED_REFERRAL = "referral", _("Stesso invito per molti nuovi donatori")
    BURST = "burst", _("Molti nuovi donatori in pochi minuti")
    OTHER = "other", _("Altro motivo")


class RoundExclusion(models.Model):
    """A gift left out of a quadratic round's match by the treasurer, with the reason.

    The gift stays a gift (the campaign keeps the money); only the match ignores it.
    """

    pool = models.ForeignKey(MatchingPool, on_delete=models.PROTECT, related_name="exclusions")
    donation = models.ForeignKey(Donation, on_delete=models.PROTECT, related_name="round_exclusions")
    category = models.CharField(_("motivo"), max_length=12, choices=ExclusionReason.choices)
    reason = models.CharField(_("spiegazione"), max_length=280)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["pool", "donation"], name="round_exclusion_once")]

    def __str__(self) -> str:
        return f"{self.pool} · {self.donation_id} · {self.get_category_display()}"


class MatchStatus(models.TextChoices):
    RESERVED = "reserved", _("Prenotato")
    RELEASED = "released", _("Liberato")
    SETTLED = "settled", _("Versato")


class PoolMatch(models.Model):
    pool = models.ForeignKey(MatchingPool, on_delete=models.PROTECT, related_name="matches")
    campaign = models.ForeignKey(Campaign, on_delete=models.PROTECT, related_name="matches")
    donation = models.ForeignKey(Donation, null=True, blank=True, on_delete=models.PROTECT, related_name="matches")
    person_id_for_cap = models.BigIntegerField(null=True, blank=True)
    amount_cents = models.BigIntegerField()
    status = models.CharField(max_length=10, choices=MatchStatus.choices, default=MatchStatus.RESERVED)
    created_at = models.DateTimeField(default=timezone.now)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["pool", "campaign", "status"], name="match_pool_campaign")]
        constraints = [
            models.UniqueConstraint(
                fields=["pool", "donation"], condition=Q(donation__isnull=False), name="match_once_per_gift"
            ),
            models.UniqueConstraint(
                fields=["pool", "campaign"], condition=Q(donation__isnull=True), name="match_top_up_once"
            ),
            models.CheckConstraint(condition=Q(amount_cents__gt=0), name="match_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.pool_id}→{self.campaign_id} {self.amount_cents}"


class ModerationStatus(models.TextChoices):
    PENDING = "pending", _("In moderazione")
    APPROVED = "approved", _("Pubblicata")
    REJECTED = "rejected", _("Respinta")


class FundraisingTeam(models.Model):
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="teams")
    name = models.CharField(_("nome della squadra"), max_length=100)
    slug = models.SlugField(max_length=80)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["campaign", "slug"], name="fundraising_team_slug")]

    def __str__(self) -> str:
        return self.name


class FundraisingPage(models.Model):
    """A supporter's personal page for a live campaign (peer-to-peer), shown once moderated."""

    campaign = models.ForeignKey(Campaign, on_delete=models.PROTECT, related_name="pages")
    team = models.ForeignKey(FundraisingTeam, null=True, blank=True, on_delete=models.SET_NULL, related_name="pages")
    person = models.ForeignKey("people.Person", on_delete=models.PROTECT, related_name="fundraising_pages")
    slug = models.SlugField(max_length=80, unique=True)
    display_name = models.CharField(_("il tuo nome sulla pagina"), max_length=100)
    title = models.CharField(_("titolo"), max_length=140)
    story = models.TextField(_("perché sostieni questa raccolta"), max_length=2000)
    goal_cents = AmountCentsField(_("il tuo obiettivo"))
    status = models.CharField(max_length=10, choices=ModerationStatus.choices, default=ModerationStatus.PENDING)
    manage_token = models.CharField(max_length=43, unique=True)
    moderated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    moderated_at = models.DateTimeField(null=True, blank=True)
    rejection_reason = models.CharField(max_length=250, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.CheckConstraint(condition=Q(goal_cents__gt=0), name="fundraising_page_goal")]

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return reverse("funding:page", args=[self.slug])


class UpdateSubscription(models.Model):
    """A donor who opted in to the campaign's updates by email."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="subscriptions")
    email = models.EmailField()
    token = models.CharField(max_length=43, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    unsubscribed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["campaign", "email"], name="update_subscription_unique")]

    def __str__(self) -> str:
        return self.email
