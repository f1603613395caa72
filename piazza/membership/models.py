"""Tesseramento: fee schedules, memberships and cards, transfers, objections, certified rolls,
anomaly flags and the supporters' register (rules M1–M24, G1).

Parameters that the domain marks as open or per-federation live in the database
(`MembershipRules`, `FeeSchedule`), never in constants.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.db.models.functions import Length
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from piazza.core.i18n import render as render_stored
from piazza.core.prepared import prepared_read
from piazza.payments.bank.models import private_storage
from piazza.territory.models import Territory
from piazza.territory.scoping import ScopedQuerySet

# --- Per-territory parameters -------------------------------------------------------------


class MembershipRules(models.Model):
    """Parameters set by a federation, a region or the national office; empty = inherit.

    The value in force for a circolo is the one of its nearest ancestor that sets it, else
    `DEFAULT_RULES` (see `rules_for`). Rules M2 (age), M23, M24, M18 are open or
    per-federation in DOMAIN.md, hence parameters.
    """

    territory = models.OneToOneField(Territory, on_delete=models.PROTECT, related_name="membership_rules")
    min_age = models.PositiveSmallIntegerField(_("età minima"), null=True, blank=True)  # M2
    max_plausible_age = models.PositiveSmallIntegerField(_("età oltre cui segnalare"), null=True, blank=True)
    max_per_instrument = models.PositiveSmallIntegerField(
        _("tessere massime pagate con lo stesso strumento"), null=True, blank=True
    )  # M24
    refuse_prepaid_cards = models.BooleanField(_("rifiuta carte prepagate"), null=True, blank=True)  # M24
    cash_allowed = models.BooleanField(_("contanti ammessi al circolo"), null=True, blank=True)
    # Issue 11 item 11: the methods the circolo desk offers, comma-separated codes of
    # `DESK_METHODS` (cash still needs `cash_allowed`); empty = inherit.
    desk_methods = models.CharField(_("metodi di pagamento al circolo"), max_length=100, blank=True, default="")
    out_of_area_cap_percent = models.PositiveSmallIntegerField(
        _("quota massima di iscritti fuori area, %"), null=True, blank=True
    )  # M23
    objection_days = models.PositiveSmallIntegerField(
        _("giorni per contestare un'iscrizione"),  # M18
        null=True,
        blank=True,
    )
    appeal_hours = models.PositiveSmallIntegerField(_("ore per il ricorso"), null=True, blank=True)  # M18
    counter_appeal_hours = models.PositiveSmallIntegerField(
        _("ore per il controricorso"),  # M18
        null=True,
        blank=True,
    )
    cluster_threshold = models.PositiveSmallIntegerField(
        _("persone con lo stesso recapito oltre cui segnalare"), null=True, blank=True
    )
    spike_window_days = models.PositiveSmallIntegerField(
        _("giorni prima della scadenza da osservare"), null=True, blank=True
    )
    spike_factor = models.PositiveSmallIntegerField(
        _("moltiplicatore rispetto alla media storica"), null=True, blank=True
    )
    appeal_decision_hours_regional = models.PositiveSmallIntegerField(
        _("ore per decidere un ricorso, commissione regionale (M18)"), null=True, blank=True
    )
    appeal_decision_hours_national = models.PositiveSmallIntegerField(
        _("ore per decidere un ricorso, commissione nazionale (M18)"), null=True, blank=True
    )
    min_members_online = models.PositiveSmallIntegerField(
        _("iscritti minimi di un circolo online (M12)"), null=True, blank=True
    )
    min_members_punto_pd = models.PositiveSmallIntegerField(
        _("persone minime dello stesso luogo per un Punto PD (M12)"), null=True, blank=True
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("regole di tesseramento")
        verbose_name_plural = _("regole di tesseramento")

    def __str__(self) -> str:
        return str(self.territory)


DEFAULT_RULES: dict[str, Any] = {
    "min_age": 16,  # rule M2, open: derived from the 16–26 band
    "max_plausible_age": 105,
    "max_per_instrument": 3,  # rule M24 (Benevento 2021), secondary
    "refuse_prepaid_cards": False,
    "cash_allowed": False,  # rule M24: card preferred; a federation opts in to cash
    "desk_methods": "pos,bank_transfer,cash",  # issue 11 item 11: what the desk may record
    "out_of_area_cap_percent": 5,  # rule M23, open
    "objection_days": 15,  # rule M18: "configurable period"
    "appeal_hours": 24,  # rule M18, secondary
    "counter_appeal_hours": 48,  # rule M18, secondary
    # Rule M18 gives no time for the commissions to decide: open, a parameter per instance.
    "appeal_decision_hours_regional": 168,
    "appeal_decision_hours_national": 240,
    "cluster_threshold": 3,
    "spike_window_days": 7,
    "spike_factor": 3,
    # Rule M12 (verified 2019–2020, kept a parameter per circolo kind): enforced at roll sign-off.
    "min_members_online": 10,
    "min_members_punto_pd": 3,
}


@dataclass(frozen=True)
class Rules:
    min_age: int
    max_plausible_age: int
    max_per_instrument: int
    refuse_prepaid_cards: bool
    cash_allowed: bool
    desk_methods: str
    out_of_area_cap_percent: int
    objection_days: int
    appeal_hours: int
    counter_appeal_hours: int
    appeal_decision_hours_regional: int
    appeal_decision_hours_national: int
    cluster_threshold: int
    spike_window_days: int
    spike_factor: int
    min_members_online: int
    min_members_punto_pd: int


# Read three or four times a join (M24 twice, the objection period, the flags): the SQL is compiled once
# per process (ADR 0034), the rows are read each time, so a rule changed on deadline day applies at
# once (issue 14, P8, ADR 0050).
@prepared_read(MembershipRules)
def _rules_rows_at(territory_id: int) -> QuerySet[MembershipRules]:
    """The rules rows of a territory and its ancestors, root first."""
    own_path = Territory.objects.filter(pk=territory_id, path__startswith=OuterRef("territory__path"))
    return MembershipRules.objects.filter(Exists(own_path)).order_by(Length("territory__path"))


def rules_for(territory: Territory) -> Rules:
    """Parameters in force at `territory`: nearest ancestor's value, field by field."""
    return rules_at(territory.pk)


def rules_at(territory_id: int) -> Rules:
    """`rules_for` knowing only the territory's id: the rows of its ancestors (and its own) are
    found through its path inside the same query, so the territory is not read first (rule M24
    before a fee's charge, issue 14 P8)."""
    return _merged(_rules_rows_at.rows(territory_id))


def _merged(rows: Iterable[MembershipRules]) -> Rules:
    """The defaults overridden by each row given root first, so the deepest setting wins."""
    values = dict(DEFAULT_RULES)
    for row in rows:
        for name in DEFAULT_RULES:
            value = getattr(row, name)
            if value is not None and value != "":
                values[name] = value
    return Rules(**values)


# --- Fees (M5–M8) ------------------------------------------------------------------------


class FeeSchedule(models.Model):
    """The fees of one membership year (rule M5: per year, never constants)."""

    year = models.PositiveSmallIntegerField(_("anno"), unique=True)
    currency = models.CharField(max_length=3, default="EUR")
    base_fee_cents = models.PositiveIntegerField(_("quota base (centesimi)"), default=1500)
    national_surcharge_cents = models.PositiveIntegerField(_("maggiorazione nazionale (centesimi)"), default=0)
    regional_surcharge_cap_cents = models.PositiveIntegerField(
        _("tetto della maggiorazione regionale"), default=2000
    )  # M6
    total_cap_cents = models.PositiveIntegerField(_("tetto del totale all'iscrizione"), default=4000)  # M6
    regional_deadline = models.DateField(_("termine per le maggiorazioni regionali"))  # M6
    reduced_min_age = models.PositiveSmallIntegerField(default=16)
    reduced_max_age = models.PositiveSmallIntegerField(default=26)
    reduced_percent = models.PositiveSmallIntegerField(
        _("percentuale pagata nella fascia ridotta"),  # M7
        default=50,
    )
    # Rule M8 splits. The base fee's split is not in the rule: open, default all territorial.
    base_fee_national_percent = models.PositiveSmallIntegerField(default=0)
    national_surcharge_national_percent = models.PositiveSmallIntegerField(default=80)
    regional_surcharge_national_percent = models.PositiveSmallIntegerField(default=20)
    opens_at = models.DateTimeField(_("apertura del tesseramento"))
    closes_at = models.DateTimeField(_("chiusura del tesseramento"), null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["-year"]
        verbose_name = _("quote dell'anno")
        verbose_name_plural = _("quote per anno")

    def __str__(self) -> str:
        return f"Tesseramento {self.year}"

    def is_open_at(self, when: dt.datetime) -> bool:
        return self.opens_at <= when and (self.closes_at is None or when <= self.closes_at)


class RegionalSurcharge(models.Model):
    """A regional union's surcharge for one year (rule M6), set by its deadline, capped."""

    schedule = models.ForeignKey(FeeSchedule, on_delete=models.PROTECT, related_name="regional_surcharges")
    region = models.ForeignKey(Territory, on_delete=models.PROTECT, related_name="+")
    amount_cents = models.PositiveIntegerField()
    set_at = models.DateTimeField(default=timezone.now)
    set_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        constraints = [models.UniqueConstraint(fields=["schedule", "region"], name="surcharge_one_per_region")]

    def __str__(self) -> str:
        return f"{self.region} {self.schedule.year}: {self.amount_cents}"


# --- Memberships and cards ---------------------------------------------------------------


class Status(models.TextChoices):
    """Rule M13: applied → paid → effective when the card is delivered."""

    APPLIED = "applied", _("Richiesta")
    PAID = "paid", _("Pagata")
    EFFECTIVE = "effective", _("Effettiva (tessera consegnata)")
    CANCELLED = "cancelled", _("Annullata")
    REJECTED = "rejected", _("Respinta")


LIVE_STATUSES = [Status.APPLIED, Status.PAID, Status.EFFECTIVE]
PAID_STATUSES = [Status.PAID, Status.EFFECTIVE]


class Channel(models.TextChoices):
    ONLINE = "online", _("Online")
    CIRCOLO = "circolo", _("Al circolo")
    RENEWAL = "renewal", _("Rinnovo online")


class Delivery(models.TextChoices):
    CIRCOLO = "circolo", _("Al circolo")
    FEDERATION = "federation", _("Alla sede della federazione")
    ONLINE = "online", _("Online (tessera digitale)")


class PaymentMethod(models.TextChoices):
    CARD = "card", _("Carta")
    PAYPAL = "paypal", _("PayPal")
    SEPA = "sepa", _("Addebito SEPA")
    BANK_TRANSFER = "bank_transfer", _("Bonifico")
    POS = "pos", _("POS al circolo")
    CASH = "cash", _("Contanti (con ricevuta)")


TRACEABLE_METHODS = [m for m in PaymentMethod if m != PaymentMethod.CASH]
# What a secretary can collect in person at the circolo desk (issue 11 item 11), in the order offered.
DESK_METHODS = [PaymentMethod.POS, PaymentMethod.BANK_TRANSFER, PaymentMethod.CASH]


class MembershipQuerySet(ScopedQuerySet):
    scope_path_field = "circolo__path"

    def live(self) -> MembershipQuerySet:
        return self.filter(status__in=LIVE_STATUSES)

    def paid(self) -> MembershipQuerySet:
        return self.filter(status__in=PAID_STATUSES)


class Membership(models.Model):
    """One person's membership for one year in one circolo (M4: individual; M11: the voting one)."""

    person = models.ForeignKey("people.Person", on_delete=models.PROTECT, related_name="memberships")
    year = models.PositiveSmallIntegerField(_("anno"))
    circolo = models.ForeignKey(Territory, on_delete=models.PROTECT, related_name="memberships")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.APPLIED)
    channel = models.CharField(max_length=10, choices=Channel.choices)
    is_renewal = models.BooleanField(default=False)
    out_of_area = models.BooleanField(default=False, help_text=_("Circolo diverso da quello di residenza"))  # M23
    card_number = models.CharField(_("numero di tessera"), max_length=20, blank=True)
    # Fee as computed at application (M5–M8), with the explanation shown to the person.
    currency = models.CharField(max_length=3, default="EUR")
    fee_cents = models.PositiveIntegerField()
    national_cents = models.PositiveIntegerField()
    territorial_cents = models.PositiveIntegerField()
    fee_explanation = models.JSONField(default=dict)
    # Rule M4: the art. 9(2) authorisation; rule M15: the declarations.
    art9_authorised_at = models.DateTimeField()
    art9_text_version = models.CharField(max_length=20)
    art9_channel = models.CharField(max_length=10, choices=Channel.choices)
    declarations_at = models.DateTimeField()
    declarations_text_version = models.CharField(max_length=20)
    # Payment: method, the instrument's fingerprint (card, IBAN, payer account) for M4/M24.
    payment_method = models.CharField(max_length=15, choices=PaymentMethod.choices, blank=True)
    payment_reference = models.CharField(max_length=80, blank=True)
    payer_fingerprint = models.CharField(max_length=128, blank=True, db_index=True)
    payer_name = models.CharField(max_length=200, blank=True)
    prepaid_instrument = models.BooleanField(default=False)
    payment_id = models.BigIntegerField(
        null=True, blank=True, db_index=True, help_text=_("Pagamento online (payments.Payment)")
    )
    # The receipt of a fee collected at the circolo, whatever the method (issue 11 item 12; the
    # name is historical: cash receipts came first).
    cash_receipt_number = models.CharField(max_length=30, blank=True)
    # At the circolo: who registered, the digitised paper form — in the private store (no URL; the
    # membership page serves them to officials in scope, each view audited, rule G4).
    registered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    paper_form = models.FileField(upload_to="membership/forms/%Y/", blank=True, storage=private_storage)
    signature_scan = models.FileField(upload_to="membership/signatures/%Y/", blank=True, storage=private_storage)
    # Issue 11 item 12: the secretary collected the signed paper form (M14), its consents recorded
    # as ticked on paper (G3); the desk's record for a member registered without an email.
    paper_form_collected_at = models.DateTimeField(null=True, blank=True)
    # Timeline of the states (M13).
    applied_at = models.DateTimeField(default=timezone.now)
    paid_at = models.DateTimeField(null=True, blank=True)
    effective_at = models.DateTimeField(null=True, blank=True)
    delivery = models.CharField(max_length=10, choices=Delivery.choices, blank=True)
    delivered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    ended_at = models.DateTimeField(null=True, blank=True)
    end_reason = models.TextField(blank=True)
    objection_deadline = models.DateTimeField(null=True, blank=True)

    objects = MembershipQuerySet.as_manager()

    class Meta:
        ordering = ["-year", "-applied_at"]
        verbose_name = _("iscrizione")
        verbose_name_plural = _("iscrizioni")
        constraints = [
            # Rule M4 and the "second membership" bad input: one live membership per person/year.
            models.UniqueConstraint(
                fields=["person", "year"], condition=Q(status__in=LIVE_STATUSES), name="membership_one_per_person_year"
            ),
            models.UniqueConstraint(
                fields=["year", "card_number"], condition=~Q(card_number=""), name="membership_card_unique_per_year"
            ),
        ]
        indexes = [
            models.Index(fields=["circolo", "year", "status"]),
            models.Index(fields=["year", "status", "paid_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.person} {self.year} ({self.get_status_display()})"


class CardBlock(models.Model):
    """Rule M9 (open): a person's card stays undelivered until a condition is met."""

    person = models.ForeignKey("people.Person", on_delete=models.PROTECT, related_name="card_blocks")
    territory = models.ForeignKey(Territory, on_delete=models.PROTECT, related_name="+")
    reason = models.TextField(_("motivo"))
    blocked_at = models.DateTimeField(default=timezone.now)
    blocked_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+")
    lifted_at = models.DateTimeField(null=True, blank=True)
    lifted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    lift_note = models.TextField(blank=True)

    objects = ScopedQuerySet.as_manager()

    class Meta:
        ordering = ["-blocked_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["person"], condition=Q(lifted_at__isnull=True), name="card_block_one_active"
            )
        ]

    def __str__(self) -> str:
        return f"{self.person}: {self.reason[:40]}"


class TransferStatus(models.TextChoices):
    REQUESTED = "requested", _("Richiesto")
    APPROVED = "approved", _("Approvato")
    REFUSED = "refused", _("Respinto")


class TransferQuerySet(ScopedQuerySet):
    scope_path_field = "to_circolo__path"


class Transfer(models.Model):
    """Rule M23: a move between circoli asked of the destination, the origin notified."""

    membership = models.ForeignKey(Membership, on_delete=models.PROTECT, related_name="transfers")
    from_circolo = models.ForeignKey(Territory, on_delete=models.PROTECT, related_name="+")
    to_circolo = models.ForeignKey(Territory, on_delete=models.PROTECT, related_name="+")
    reason = models.TextField(_("motivo (lavoro, studio, domicilio…)"))
    status = models.CharField(max_length=10, choices=TransferStatus.choices, default=TransferStatus.REQUESTED)
    requested_at = models.DateTimeField(default=timezone.now)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decision_reason = models.TextField(blank=True)
    origin_notified_at = models.DateTimeField(null=True, blank=True)

    objects = TransferQuerySet.as_manager()

    class Meta:
        ordering = ["-requested_at"]
        constraints = [
            models.UniqueConstraint(fields=["membership"], condition=Q(status="requested"), name="transfer_one_pending")
        ]

    def __str__(self) -> str:
        return f"{self.from_circolo} → {self.to_circolo}"


class ObjectionStatus(models.TextChoices):
    OPEN = "open", _("Aperta")
    UPHELD = "upheld", _("Accolta: iscrizione respinta")
    DISMISSED = "dismissed", _("Respinta: iscrizione confermata")


class ObjectionQuerySet(ScopedQuerySet):
    scope_path_field = "membership__circolo__path"


class Objection(models.Model):
    """Rule M18: a new membership contested within the window; decision, appeal, counter-appeal."""

    class RaisedBy(models.TextChoices):
        CIRCOLO = "circolo", _("Circolo")
        COMMISSION = "commission", _("Commissione di garanzia")

    membership = models.ForeignKey(Membership, on_delete=models.PROTECT, related_name="objections")
    raised_by_body = models.CharField(max_length=12, choices=RaisedBy.choices)
    raised_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    raised_at = models.DateTimeField(default=timezone.now)
    reason = models.TextField(_("motivo"))
    status = models.CharField(max_length=10, choices=ObjectionStatus.choices, default=ObjectionStatus.OPEN)
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decision_reason = models.TextField(blank=True)
    appeal_deadline = models.DateTimeField(null=True, blank=True)
    appeal_filed_at = models.DateTimeField(null=True, blank=True)
    appeal_reason = models.TextField(blank=True)
    counter_appeal_deadline = models.DateTimeField(null=True, blank=True)
    counter_appeal_filed_at = models.DateTimeField(null=True, blank=True)
    counter_appeal_reason = models.TextField(blank=True)

    objects = ObjectionQuerySet.as_manager()

    class Meta:
        ordering = ["-raised_at"]

    def __str__(self) -> str:
        return f"{self.membership}: {self.get_status_display()}"


class AppealOutcome(models.TextChoices):
    UPHELD = "upheld", _("Accolto: la decisione impugnata è ribaltata")
    REJECTED = "rejected", _("Respinto: la decisione impugnata resta")
    INADMISSIBLE = "inadmissible", _("Inammissibile: la decisione impugnata resta")


class AppealInstance(models.IntegerChoices):
    """Rule M18: the provincial commission decides the objection (first instance); appeals go to
    the regional commission, then to the national one, which is the last instance."""

    REGIONAL = 2, _("Commissione regionale di garanzia")
    NATIONAL = 3, _("Commissione nazionale di garanzia")


class AppealQuerySet(ScopedQuerySet):
    scope_path_field = "objection__membership__circolo__path"


class Appeal(models.Model):
    """One appeal against the decision of the instance below, with its counter-appeal and its decision."""

    objection = models.ForeignKey(Objection, on_delete=models.PROTECT, related_name="appeals")
    instance = models.PositiveSmallIntegerField(choices=AppealInstance.choices)
    commission = models.ForeignKey(Territory, on_delete=models.PROTECT, related_name="+")
    filed_at = models.DateTimeField()
    filed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+")
    reason = models.TextField(_("motivi del ricorso"))
    counter_deadline = models.DateTimeField()
    counter_filed_at = models.DateTimeField(null=True, blank=True)
    counter_reason = models.TextField(blank=True)
    decision_due = models.DateTimeField(_("da decidere entro"))
    outcome = models.CharField(max_length=12, choices=AppealOutcome.choices, blank=True)
    decision_reason = models.TextField(blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    membership_admitted = models.BooleanField(null=True, help_text=_("L'iscrizione resta valida dopo la decisione?"))
    next_appeal_deadline = models.DateTimeField(null=True, blank=True)

    objects = AppealQuerySet.as_manager()

    class Meta:
        ordering = ["objection", "instance"]
        constraints = [models.UniqueConstraint(fields=["objection", "instance"], name="appeal_one_per_instance")]
        indexes = [models.Index(fields=["decided_at", "decision_due"])]

    def __str__(self) -> str:
        return f"{self.objection} · {self.get_instance_display()}"

    @property
    def is_last_instance(self) -> bool:
        return self.instance == AppealInstance.NATIONAL


# --- Certified rolls (M16, M17, M22) -----------------------------------------------------


class CongressQuerySet(ScopedQuerySet):
    scope_path_field = "territory__path"


class Congress(models.Model):
    """A congress or vote with its cut-off to the second (rule M22)."""

    name = models.CharField(_("nome"), max_length=200)
    territory = models.ForeignKey(Territory, on_delete=models.PROTECT, related_name="congresses")
    cut_off = models.DateTimeField(_("termine per l'iscrizione (al secondo)"))
    membership_years = models.JSONField(_("anni di tesseramento validi"), default=list)
    require_effective = models.BooleanField(
        _("solo tessere consegnate"), default=True, help_text=_("Solo iscrizioni pagate ed effettive entro il termine.")
    )  # M13/M17
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+")

    objects = CongressQuerySet.as_manager()

    class Meta:
        ordering = ["-cut_off"]
        verbose_name = _("congresso")
        verbose_name_plural = _("congressi")

    def __str__(self) -> str:
        return self.name


class RollStatus(models.TextChoices):
    FROZEN = "frozen", _("Calcolata e congelata")
    SUPERSEDED = "superseded", _("Sostituita da una versione successiva")
    SIGNED = "signed", _("Firmata dal circolo")
    RATIFIED = "ratified", _("Ratificata")
    REFERRED = "referred", _("Rimessa alla commissione regionale")
    REJECTED = "rejected", _("Non ratificata")


class RollQuerySet(ScopedQuerySet):
    scope_path_field = "circolo__path"


class Roll(models.Model):
    """A circolo's roll at the cut-off: a frozen, versioned snapshot with a content hash (M16)."""

    congress = models.ForeignKey(Congress, on_delete=models.PROTECT, related_name="rolls")
    circolo = models.ForeignKey(Territory, on_delete=models.PROTECT, related_name="rolls")
    version = models.PositiveSmallIntegerField()
    status = models.CharField(max_length=10, choices=RollStatus.choices, default=RollStatus.FROZEN)
    content_hash = models.CharField(max_length=64)
    member_count = models.PositiveIntegerField()
    computed_at = models.DateTimeField(default=timezone.now)
    computed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+")
    signed_at = models.DateTimeField(null=True, blank=True)
    signed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)

    objects = RollQuerySet.as_manager()

    class Meta:
        ordering = ["congress", "circolo__name", "-version"]
        constraints = [models.UniqueConstraint(fields=["congress", "circolo", "version"], name="roll_version_unique")]

    def __str__(self) -> str:
        return f"{self.circolo} · {self.congress} · v{self.version}"

    @property
    def is_certified(self) -> bool:
        return self.status == RollStatus.RATIFIED


class RollEntry(models.Model):
    """One member in a frozen roll; the table is append-only in the database."""

    roll = models.ForeignKey(Roll, on_delete=models.PROTECT, related_name="entries")
    person = models.ForeignKey("people.Person", on_delete=models.PROTECT, related_name="+")
    membership = models.ForeignKey(Membership, on_delete=models.PROTECT, related_name="+")
    card_number = models.CharField(max_length=20)
    last_name = models.CharField(max_length=100)
    first_name = models.CharField(max_length=100)
    birth_date = models.DateField(null=True)
    paid_at = models.DateTimeField()
    effective_at = models.DateTimeField(null=True)

    class Meta:
        ordering = ["last_name", "first_name", "card_number"]
        constraints = [models.UniqueConstraint(fields=["roll", "person"], name="roll_entry_person_once")]

    def __str__(self) -> str:
        return f"{self.last_name} {self.first_name} ({self.card_number})"

    def hash_line(self) -> str:
        return "|".join(
            [
                str(self.person_id),
                self.card_number,
                self.last_name,
                self.first_name,
                self.birth_date.isoformat() if self.birth_date else "",
                self.paid_at.isoformat(),
                self.effective_at.isoformat() if self.effective_at else "",
            ]
        )


class RollVote(models.Model):
    """A guarantee commission's vote on a roll: provincial by 2/3 of its members, else regional (M16)."""

    class Level(models.TextChoices):
        PROVINCIAL = "provincial", _("Commissione provinciale di garanzia")
        REGIONAL = "regional", _("Commissione regionale di garanzia")

    roll = models.ForeignKey(Roll, on_delete=models.PROTECT, related_name="votes")
    level = models.CharField(max_length=10, choices=Level.choices)
    commission = models.ForeignKey(Territory, on_delete=models.PROTECT, related_name="+")
    members_total = models.PositiveSmallIntegerField(_("componenti della commissione"))
    votes_for = models.PositiveSmallIntegerField(_("favorevoli"))
    votes_against = models.PositiveSmallIntegerField(_("contrari"))
    abstentions = models.PositiveSmallIntegerField(_("astenuti"))
    passed = models.BooleanField()
    content_hash = models.CharField(max_length=64, help_text=_("L'impronta della versione votata"))
    note = models.TextField(blank=True)
    recorded_at = models.DateTimeField(default=timezone.now)
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["recorded_at"]

    def __str__(self) -> str:
        return f"{self.get_level_display()}: {self.votes_for}/{self.members_total}"


# --- Anomalies (M24 and the "tessere gonfiate" signals) ----------------------------------


# Where an anomaly flag's evidence keeps its summary as a message id and parameters (core.i18n).
ANOMALY_SUMMARY_KEY = "_summary"
EVIDENCE_LABELS = {
    "count": _("quanti"),
    "limit": _("limite della federazione"),
    "first_paid": _("primo pagamento"),
    "last_paid": _("ultimo pagamento"),
    "payer_names": _("nomi dei pagatori"),
    "not_listed": _("tessere non elencate nelle prove (la tabella le mostra tutte)"),
    "value": _("recapito"),
    "threshold": _("soglia"),
    "address": _("indirizzo"),
    "codice_fiscale": _("codice fiscale"),
    "problems": _("problemi"),
    "card": _("tessera"),
    "age": _("età"),
    "birth_date": _("data di nascita"),
    "min": _("età minima"),
    "max": _("età massima plausibile"),
    "outside": _("fuori area"),
    "total": _("iscritti"),
    "cap": _("tetto (%)"),
    "baseline": _("di solito"),
    "window_days": _("giorni considerati"),
    "cut_off": _("scadenza"),
    "deadline": _("termine"),
    "factor": _("fattore"),
}


class FlagKind(models.TextChoices):
    SHARED_INSTRUMENT = "shared_instrument", _("Stesso strumento di pagamento per più tessere")
    PREPAID_INSTRUMENT = "prepaid_instrument", _("Carta prepagata o non nominativa")
    SHARED_EMAIL = "shared_email", _("Stessa email per più persone")
    SHARED_PHONE = "shared_phone", _("Stesso telefono per più persone")
    SHARED_ADDRESS = "shared_address", _("Stesso indirizzo per molte persone")
    INVALID_CF = "invalid_cf", _("Codice fiscale non valido o incoerente")
    PRE_CUTOFF_SPIKE = "pre_cutoff_spike", _("Picco di iscrizioni prima di una scadenza")
    OUT_OF_AREA = "out_of_area", _("Iscritti fuori area oltre il tetto")
    IMPLAUSIBLE_AGE = "implausible_age", _("Età non plausibile")


class FlagStatus(models.TextChoices):
    OPEN = "open", _("Da esaminare")
    RESOLVED = "resolved", _("Risolta (nessuna irregolarità)")
    CONFIRMED = "confirmed", _("Confermata")


class AnomalyFlagQuerySet(ScopedQuerySet):
    scope_path_field = "federation__path"


class AnomalyFlag(models.Model):
    """One signal with its evidence; reviewers resolve or confirm it, nothing is automatic."""

    federation = models.ForeignKey(Territory, on_delete=models.PROTECT, related_name="+")
    circolo = models.ForeignKey(Territory, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    year = models.PositiveSmallIntegerField()
    kind = models.CharField(max_length=20, choices=FlagKind.choices)
    key = models.CharField(max_length=128, help_text=_("Cosa accomuna i casi (impronta, recapito, circolo…)"))
    summary = models.CharField(max_length=300)
    evidence = models.JSONField(default=dict)
    people = models.ManyToManyField("people.Person", related_name="+")
    detected_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(default=timezone.now)
    status = models.CharField(max_length=10, choices=FlagStatus.choices, default=FlagStatus.OPEN)
    reviewed_at = models.DateTimeField(null=True, blank=True)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    review_note = models.TextField(blank=True)

    objects = AnomalyFlagQuerySet.as_manager()

    class Meta:
        ordering = ["status", "-last_seen_at"]
        constraints = [
            models.UniqueConstraint(fields=["federation", "year", "kind", "key"], name="anomaly_flag_unique")
        ]

    def __str__(self) -> str:
        return self.summary

    @property
    def display_summary(self) -> str:
        """The summary in the reader's language (stored as a message id and its parameters)."""
        stored = self.evidence.get(ANOMALY_SUMMARY_KEY) if isinstance(self.evidence, dict) else None
        return render_stored(stored, self.summary)

    @property
    def evidence_rows(self) -> list[tuple[str, str]]:
        """The evidence in words (issue 11 item 16: never a Python dict on the page)."""
        if not isinstance(self.evidence, dict):
            return []
        rows = []
        for key, value in self.evidence.items():
            if key in (ANOMALY_SUMMARY_KEY, "memberships"):
                continue
            label = EVIDENCE_LABELS.get(key, key.replace("_", " "))
            shown = ", ".join(str(v) for v in value) if isinstance(value, list) else str(value)
            rows.append((str(label), shown))
        return rows

    @property
    def evidence_memberships(self) -> list[dict[str, str]]:
        """The memberships in the flag: the whole group when the report read it (a shared
        instrument, `queries.anomaly_report`), else the ones the evidence lists (ADR 0051)."""
        items = getattr(self, "group_memberships", None)
        if items is None:
            items = self.evidence.get("memberships") if isinstance(self.evidence, dict) else None
        methods: dict[str, Any] = dict(PaymentMethod.choices)
        rows = []
        for m in items or []:
            if isinstance(m, dict):
                code = str(m.get("method") or "")
                rows.append({**m, "method": str(methods.get(code, code))})
        return rows


# --- Supporters' register (Albo, M1, M3, M21) --------------------------------------------


class SupporterQuerySet(ScopedQuerySet):
    scope_path_field = "territory__path"


class Supporter(models.Model):
    """A person in the Albo delle elettrici e degli elettori. Every member is one too (M1)."""

    class Source(models.TextChoices):
        REGISTRATION = "registration", _("Registrazione all'Albo")
        MEMBER = "member", _("Iscritto al partito")

    person = models.OneToOneField("people.Person", on_delete=models.PROTECT, related_name="supporter")
    territory = models.ForeignKey(Territory, on_delete=models.PROTECT, related_name="+")
    source = models.CharField(max_length=12, choices=Source.choices)
    registered_at = models.DateTimeField(default=timezone.now)
    channel = models.CharField(max_length=10, choices=Channel.choices, default=Channel.ONLINE)
    support_declared_at = models.DateTimeField(null=True, blank=True, help_text=_("Dichiarazione di sostegno"))  # M3
    contact_consent_at = models.DateTimeField(  # M21
        null=True, blank=True, help_text=_("Consenso all'uso dei recapiti")
    )
    consent_text_version = models.CharField(max_length=20, blank=True)
    withdrawn_at = models.DateTimeField(null=True, blank=True)

    objects = SupporterQuerySet.as_manager()

    class Meta:
        ordering = ["-registered_at"]
        verbose_name = _("iscritto all'Albo")
        verbose_name_plural = _("Albo delle elettrici e degli elettori")

    def __str__(self) -> str:
        return str(self.person)


class AlboElection(models.Model):
    """An election (e.g. primaries) whose Albo registration may ask non-members for a fee."""

    name = models.CharField(max_length=200)
    territory = models.ForeignKey(Territory, on_delete=models.PROTECT, related_name="+")
    fee_cents = models.PositiveIntegerField(default=0, help_text=_("Per i non iscritti (2023: 200 centesimi)"))
    opens_at = models.DateTimeField()
    closes_at = models.DateTimeField()

    class Meta:
        ordering = ["-opens_at"]

    def __str__(self) -> str:
        return self.name


class ElectionRegistration(models.Model):
    supporter = models.ForeignKey(Supporter, on_delete=models.PROTECT, related_name="elections")
    election = models.ForeignKey(AlboElection, on_delete=models.PROTECT, related_name="registrations")
    fee_cents = models.PositiveIntegerField()
    registered_at = models.DateTimeField(default=timezone.now)
    paid_at = models.DateTimeField(null=True, blank=True)
    payment_method = models.CharField(max_length=15, choices=PaymentMethod.choices, blank=True)
    payment_id = models.BigIntegerField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["supporter", "election"], name="election_registration_once")]

    def __str__(self) -> str:
        return f"{self.supporter} · {self.election}"


class RenewalReminder(models.Model):
    """One reminder per person and year, so a campaign re-run never emails twice."""

    previous = models.ForeignKey(Membership, on_delete=models.PROTECT, related_name="+")
    year = models.PositiveSmallIntegerField()
    sent_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["previous", "year"], name="renewal_reminder_once")]

    def __str__(self) -> str:
        return f"{self.previous} → {self.year}"
