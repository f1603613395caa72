"""How membership fees meet the money core: the M8 allocations and offline collections.

Online fees go through `piazza.payments` with these allocations (the payments app books them
when the payment succeeds). Fees recorded by a secretary at the circolo (cash with receipt,
POS, bank transfer) are booked here, straight into the ledger, against the circolo's
"collected fees" account until the money reaches the bank.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from typing import Any

from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _

from piazza.compliance import receipts as compliance_receipts
from piazza.compliance.contributions import ContributionLine, register_line_source, register_row_source
from piazza.core.audit import Actor, record
from piazza.core.money import Money
from piazza.ledger.accounts import get_account
from piazza.ledger.actions import post_transaction
from piazza.ledger.kinds import register_kind
from piazza.ledger.models import Account, Cause
from piazza.membership.models import PAID_STATUSES, ElectionRegistration, Membership, PaymentMethod, rules_for
from piazza.payments.actions.lifecycle import create_payment
from piazza.payments.actions.recurring import create_recurring
from piazza.payments.models import Dispute, Payment, RecurringSchedule, Refund, ScheduleState
from piazza.payments.payables import PayableHandler, register_payable
from piazza.payments.providers.registry import available_providers, get_provider
from piazza.territory.models import Level, Territory

COLLECTED_FEES = register_kind(
    "membership_collected",
    _("Quote raccolte al circolo"),
    "debit",
    _("Quote incassate dal circolo (contanti con ricevuta, POS, bonifico) non ancora versate in banca."),
)


def fee_shares(membership: Membership) -> list[tuple[Territory, int, str]]:
    """(territory, cents, reason) receiving each part of the fee (rule M8).

    National parts of every line go to the national account; the territorial part of the
    regional surcharge goes to the region; the territorial part of the base fee and of the
    national surcharge to the circolo's federation (the base fee's split is an open parameter
    of the schedule, `base_fee_national_percent`).
    """
    circolo = membership.circolo
    ids = [int(part) for part in circolo.path.strip("/").split("/") if part]
    by_level = {t.level: t for t in Territory.objects.filter(pk__in=ids)}
    national = by_level[Level.NATIONAL]
    region = by_level.get(Level.REGION, national)
    federation = by_level.get(Level.FEDERATION, region)
    totals: dict[int, tuple[Territory, int, list[str]]] = {}

    def add(territory: Territory, cents: int, reason: str) -> None:
        if cents <= 0:
            return
        current = totals.get(territory.pk, (territory, 0, []))
        totals[territory.pk] = (territory, current[1] + cents, [*current[2], reason])

    for line in membership.fee_explanation.get("lines", []):
        add(national, int(line["national_cents"]), f"{line['code']}:national")
        receiver = region if line["code"] == "regional_surcharge" else federation
        add(receiver, int(line["territorial_cents"]), f"{line['code']}:territorial")
    shares = [(t, cents, ",".join(reasons)) for t, cents, reasons in totals.values()]
    assert sum(cents for _t, cents, _r in shares) == membership.fee_cents, "fee shares must add up"
    return shares


def fee_allocations(membership: Membership) -> list[tuple[Account, Money]]:
    """The allocations passed to the payments app: territory accounts and their share (M8)."""
    return [
        (
            get_account("territory", territory=t, owner=t, currency=membership.currency),
            Money(cents, membership.currency),
        )
        for t, cents, _reason in fee_shares(membership)
    ]


def book_offline_payment(membership: Membership, *, actor: Actor) -> None:
    """Debit the circolo's collected-fees account, credit each receiving territory (M8). Idempotent."""
    if membership.fee_cents == 0:
        return
    collected = get_account(
        COLLECTED_FEES.code,
        owner=membership.circolo,
        territory=membership.circolo,
        key=membership.payment_method,
        currency=membership.currency,
    )
    entries = [(collected, Money(membership.fee_cents, membership.currency))]
    entries += [(account, -amount) for account, amount in fee_allocations(membership)]
    post_transaction(
        actor=actor,
        cause=Cause.PAYMENT,
        entries=entries,
        about=membership,
        audit=False,
        memo=f"Quota {membership.year} tessera {membership.card_number} ({membership.get_payment_method_display()})",
        idempotency_key=f"membership:{membership.pk}:offline",
    )


# --- Online payments through piazza.payments (the Payable interface) ---------------------

PROVIDER_METHODS = {
    "stripe": "card",
    "sandbox": "card",
    "paypal": "paypal",
    "sepa_dd": "sepa",
    "bank_transfer": "bank_transfer",
}


def online_provider() -> str:
    """The card provider in force: Stripe when configured, else the sandbox (never in production).

    The two preferred are asked first: the other providers' availability (the bank rails read
    the bank accounts on record) is only asked when neither is (issue 14, P8: two reads per join)."""
    for preferred in ("stripe", "sandbox"):
        try:
            if get_provider(preferred).is_available():
                return preferred
        except LookupError:  # not registered, or not allowed here (the sandbox in production)
            continue
    identifiers = [p.identifier for p in available_providers()]
    return identifiers[0] if identifiers else "sandbox"


def start_online_payment(
    membership: Membership, *, actor: Actor, provider: str | None = None, return_url: str = "", new_key: bool = False
) -> Any:
    """The payment for an online application (idempotent per membership), with the M8 allocations.

    `new_key`: the caller created the membership a moment ago in this request, so no payment can
    hold its key yet: no look-up and no savepoint (`create_payment(new_key=True)`, ADR 0037; the
    join form, ADR 0042). Any later start (the status page, the desk) looks the key up, as a fee
    payment can be started again."""
    person = membership.person
    email = person.primary_email
    return create_payment(
        actor=actor,
        amount=Money(membership.fee_cents, membership.currency),
        allocations=fee_allocations(membership),
        provider=provider or online_provider(),
        description=f"Tessera PD {membership.year} – {person.full_name}"[:200],
        creation_key=f"membership:{membership.pk}",
        new_key=new_key,
        payable=membership,
        payer=person,
        payer_name=person.full_name,
        payer_email=email.value if email else "",
        territory=membership.circolo,
        return_url=return_url,
        metadata={
            "membership": membership.pk,
            "year": membership.year,
            # no rail imposed: the payer chooses on the payment page
            "method_step": provider is None,
        },
    )


# --- Yearly renewal by SEPA direct debit (the bank app's mandates) -------------------------

SEPA_PROVIDER = "sepa_dd"


def sepa_available() -> bool:
    """The `sepa_dd` provider is registered and some party account has a SEPA creditor id."""
    try:
        return bool(get_provider(SEPA_PROVIDER).is_available())
    except LookupError:
        return False


def sepa_creation_key(membership: Membership) -> str:
    return f"membership:sepa:{membership.pk}"


def start_yearly_sepa(membership: Membership, *, actor: Actor, return_url: str = "") -> Any:
    """A yearly SEPA schedule for the fee (payments' recurring schedules on the `sepa_dd` rail):
    on the payment page the member signs the mandate (`bank.actions.sign_mandate`, the exact
    consent text stored); this year's fee is the first debit. Each later year the schedule
    debits again and `MembershipFeeHandler` turns the money into that year's membership.
    Returns the first payment (to redirect to)."""
    person = membership.person
    email = person.primary_email
    _schedule, payment = create_recurring(
        actor=actor,
        amount=Money(membership.fee_cents, membership.currency),
        allocations=fee_allocations(membership),
        provider=SEPA_PROVIDER,
        interval="yearly",
        description=f"Tessera PD (rinnovo annuale) – {person.full_name}"[:200],
        creation_key=sepa_creation_key(membership),
        payable=membership,
        payer=person,
        payer_name=person.full_name,
        payer_email=email.value if email else "",
        territory=membership.circolo,
        return_url=return_url,
    )
    return payment


def yearly_schedule_for(membership: Membership) -> Any:
    """The active yearly SEPA schedule a membership started, if any."""
    return RecurringSchedule.objects.filter(
        creation_key=sepa_creation_key(membership), state=ScheduleState.ACTIVE
    ).first()


def active_yearly_schedule(person: Any) -> Any:
    """The person's active yearly SEPA schedule for the membership fee, if any."""
    return (
        RecurringSchedule.objects.filter(
            payer=person,
            provider=SEPA_PROVIDER,
            state=ScheduleState.ACTIVE,
            creation_key__startswith="membership:sepa:",
        )
        .order_by("-created_at")
        .first()
    )


def charge_cycle(payment: Payment) -> int:
    """Which yearly debit of a schedule a payment is (1 = the one signed on the renewal page)."""
    metadata = getattr(payment, "metadata", {}) or {}
    return int(metadata.get("cycle", 0) or 0) if getattr(payment, "schedule_id", None) else 0


class MembershipFeeHandler:
    """What the payments app calls when a membership fee's payment changes (rule M13)."""

    capture_after_check = True  # rule M24 holds for cards typed into Stripe.js too

    def payment_methods(self, payment: Any, payable: Any) -> frozenset[str]:
        """Card, PayPal, transfer (M13) and, the fee being yearly, SEPA direct debit."""
        return frozenset({"card", "paypal", "bank_transfer", "sepa_dd"})

    def method_note(self, payment: Any, payable: Any, kind: str) -> str:
        if kind == "card" and payable is not None and rules_for(payable.circolo).refuse_prepaid_cards:
            return str(_("La tua federazione non accetta carte prepagate o non nominative per la quota."))
        return ""

    def check_instrument(self, payment: Any, payable: Any, instrument: Any, *, actor: Any) -> None:
        """Rule M24 before money moves: no prepaid card where the federation refuses them, at
        most `max_per_instrument` memberships of the year per card or PayPal account."""
        from piazza.membership.actions.payment import check_instrument, instrument_fingerprint

        if payable is None or charge_cycle(payment) >= 2:
            return
        check_instrument(
            actor=actor,
            membership=payable,
            fingerprint=instrument_fingerprint(instrument.fingerprint),
            prepaid=instrument.prepaid,
        )

    # On success the payable comes as a reference holding only its pk (issue 14, P8, ADR 0042):
    # `after_online_payment` reads and locks the membership itself.
    reads_payable_itself = True

    def on_succeeded(self, payment: Payment, payable: Any) -> None:
        from piazza.membership.actions.payment import after_online_payment, after_yearly_debit

        if charge_cycle(payment) >= 2:
            # A later year's debit of a yearly SEPA schedule: the payable is the membership that
            # started it, the money is for the year `cycle - 1` after it (read here: it came as a pk).
            after_yearly_debit(payment=payment, first=Membership.objects.select_related("circolo").get(pk=payable.pk))
        else:
            after_online_payment(payment=payment, membership=payable)

    def on_schedule_canceled(self, schedule: RecurringSchedule, payable: Any) -> None:
        if payable is not None:
            record(
                "membership.sepa_yearly_canceled",
                actor=None,
                obj=payable,
                territory=payable.circolo,
                data={"schedule": schedule.pk},
            )

    def on_failed(self, payment: Payment, payable: Any) -> None:
        """A failed charge may be retried on the same payment page: the application stays."""

    def on_canceled(self, payment: Payment, payable: Any) -> None:
        from piazza.membership.actions.join import cancel_application

        cancel_application(actor=None, membership=payable, reason="payment canceled")

    def on_refunded(self, payment: Payment, payable: Any, refund: Refund) -> None:
        from piazza.membership.actions.payment import end_after_refund

        end_after_refund(membership=payable, payment=payment, refund=refund)

    def on_disputed(self, payment: Payment, payable: Any, dispute: Dispute) -> None:
        if getattr(dispute, "state", "") == "lost":  # rule F3: a chargeback cancels the receipts' amount
            compliance_receipts.cancel_receipts_for(
                "membership.membership",
                payable.pk,
                actor=None,
                key=f"dispute:{dispute.pk}",
                amount_cents=dispute.amount_cents,
                reason="Contestazione del pagamento persa (chargeback)",
            )
        record(
            "membership.fee_disputed",
            actor=None,
            obj=payable,
            territory=payable.circolo,
            data={"payment": payment.pk, "state": getattr(dispute, "state", "")},
        )


# --- The per-election Albo fee (2023 primaries: €2 for non-members) -------------------------


def start_election_fee(registration: Any, *, actor: Actor, provider: str | None = None, return_url: str = "") -> Any:
    """The payment of a registration's election fee (idempotent per registration), credited to
    the account of the territory holding the election."""
    election = registration.election
    person = registration.supporter.person
    email = person.primary_email
    amount = Money(registration.fee_cents, "EUR")
    account = get_account("territory", territory=election.territory, owner=election.territory, currency="EUR")
    return create_payment(
        actor=actor,
        amount=amount,
        allocations=[(account, amount)],
        provider=provider or online_provider(),
        description=f"Albo – {election.name} – {person.full_name}"[:200],
        creation_key=f"albo:{registration.pk}",
        payable=registration,
        payer=person,
        payer_name=person.full_name,
        payer_email=email.value if email else "",
        territory=election.territory,
        return_url=return_url,
        metadata={"election": election.pk, "method_step": provider is None},
    )


class ElectionFeeHandler:
    """What the payments app calls when an Albo election fee's payment changes."""

    def on_succeeded(self, payment: Payment, payable: Any) -> None:
        from piazza.membership.actions.albo import mark_election_fee_paid

        mark_election_fee_paid(payment=payment, registration=payable)

    def on_refunded(self, payment: Payment, payable: Any, refund: Refund) -> None:
        from piazza.membership.actions.albo import election_fee_refunded

        election_fee_refunded(payment=payment, registration=payable, refund=refund)


def register() -> None:
    """Hook membership fees into the payments app's Payable plug-in point (called from ready())."""
    handler = type("MembershipPayable", (MembershipFeeHandler, PayableHandler), {})()
    register_payable("membership.membership", handler)
    election_handler = type("ElectionFeePayable", (ElectionFeeHandler, PayableHandler), {})()
    register_payable("membership.electionregistration", election_handler)


# --- Rules F6/F14: fees count toward the donor's yearly cap --------------------------------


def fees_in_year(person_id: int, year: int, entity_path: str) -> int:
    """Rule F6/F14 source: membership fees this person paid in `year` received within `entity_path`.

    The year the money arrived (`paid_at`), as for donations. With the whole-party scope
    (`entity_path` "") that is every paid fee; per entity, only the M8 shares whose receiving
    territory lies in that subtree (a fee is split among national, region and federation).
    Only paid or effective memberships count: an application never paid, or refunded, holds no money.
    """
    from piazza.membership.models import PAID_STATUSES

    memberships = list(
        Membership.objects.filter(person_id=person_id, status__in=PAID_STATUSES, paid_at__year=year).select_related(
            "circolo"
        )
    )
    if not entity_path:
        return sum(m.fee_cents for m in memberships)
    return sum(
        cents
        for m in memberships
        for territory, cents, _reason in fee_shares(m)
        if territory.path.startswith(entity_path)
    )


def fees_in_year_query(person_id: int, year: int, entity_path: str) -> QuerySet[Membership] | None:
    """`fees_in_year` as a query with the whole-party scope; per entity the M8 shares are
    computed in Python (None: `fees_in_year` answers)."""
    from piazza.compliance.rules import total_query

    if entity_path:
        return None
    qs = Membership.objects.filter(person_id=person_id, status__in=PAID_STATUSES, paid_at__year=year)
    return total_query(qs, "fee_cents")


def election_fees_in_year_query(person_id: int, year: int, entity_path: str) -> QuerySet[Any]:
    """`election_fees_in_year` as a query, for the one-statement F6 totals (issue 14)."""
    from piazza.compliance.rules import total_query

    qs = ElectionRegistration.objects.filter(supporter__person_id=person_id, paid_at__year=year)
    if entity_path:
        qs = qs.filter(election__territory__path__startswith=entity_path)
    return total_query(qs, "fee_cents")


def election_fees_in_year(person_id: int, year: int, entity_path: str) -> int:
    """Rule F6/F14 source: Albo election fees (e.g. the €2 of the 2023 primaries) paid in `year`."""
    from django.db.models import Sum

    from piazza.membership.models import ElectionRegistration

    qs = ElectionRegistration.objects.filter(supporter__person_id=person_id, paid_at__year=year)
    if entity_path:
        qs = qs.filter(election__territory__path__startswith=entity_path)
    return int(qs.aggregate(total=Sum("fee_cents"))["total"] or 0)


def fee_lines(year: int, entity_path: str, person_ids: Collection[int] | None) -> Iterator[ContributionLine]:
    """Rules F1/F3/F7 line source: each paid fee of `year`, one line per receiving share (M8)."""
    memberships = Membership.objects.filter(status__in=PAID_STATUSES, paid_at__year=year).select_related("circolo")
    if person_ids is not None:
        memberships = memberships.filter(person_id__in=person_ids)
    if entity_path:
        # A fee's shares go to the circolo's ancestors (national, region, federation): a share
        # lands inside the entity only if the circolo itself lies inside it.
        memberships = memberships.filter(circolo__path__startswith=entity_path)
    for m in memberships.order_by("pk").iterator(chunk_size=2000):
        yield from _fee_lines_of(m, entity_path)


def fee_row_lines(membership_id: int) -> Iterator[ContributionLine]:
    """Rule F3 row source: the shares of one paid fee (none once refunded or cancelled)."""
    m = Membership.objects.filter(pk=membership_id, status__in=PAID_STATUSES).select_related("circolo").first()
    return fee_lines_of(m) if m is not None else iter(())


def fee_lines_of(membership: Membership) -> Iterator[ContributionLine]:
    """The lines of a paid fee the caller holds (with its circolo), as `fee_row_lines` reads them:
    the online payment's handler hands them to the receipts without reading the row again (P8)."""
    if membership.status not in PAID_STATUSES or membership.paid_at is None:
        return iter(())
    return _fee_lines_of(membership, "")


def _fee_lines_of(m: Membership, entity_path: str) -> Iterator[ContributionLine]:
    for territory, cents, _reason in fee_shares(m):
        if entity_path and not territory.path.startswith(entity_path):
            continue
        yield ContributionLine(
            source="membership.membership",
            source_id=m.pk,
            person_id=m.person_id,
            kind="fee",
            territory_id=territory.pk,
            territory_path=territory.path,
            amount_cents=cents,
            received_at=m.paid_at,  # type: ignore[arg-type]
            method=_line_method(m.payment_method),
            purpose=f"Quota di iscrizione {m.year} – {m.circolo.name}"[:200],
        )


def election_fee_lines(year: int, entity_path: str, person_ids: Collection[int] | None) -> Iterator[ContributionLine]:
    """Rules F1/F3/F7 line source: Albo election fees paid in `year` (refunded ones have no paid_at)."""
    qs = ElectionRegistration.objects.filter(paid_at__year=year)
    if person_ids is not None:
        qs = qs.filter(supporter__person_id__in=person_ids)
    if entity_path:
        qs = qs.filter(election__territory__path__startswith=entity_path)
    return _election_lines(qs, chunk_size=2000)


def election_fee_row_lines(registration_id: int) -> Iterator[ContributionLine]:
    """Rule F3 row source: one paid Albo election fee (none once refunded: no paid_at)."""
    return _election_lines(
        ElectionRegistration.objects.filter(pk=registration_id, paid_at__isnull=False), chunk_size=None
    )


def _election_lines(qs: Any, *, chunk_size: int | None) -> Iterator[ContributionLine]:
    qs = qs.select_related("election__territory", "supporter").order_by("pk")
    for r in qs.iterator(chunk_size=chunk_size) if chunk_size else qs:
        yield ContributionLine(
            source="membership.electionregistration",
            source_id=r.pk,
            person_id=r.supporter.person_id,
            kind="fee",
            territory_id=r.election.territory_id,
            territory_path=r.election.territory.path,
            amount_cents=r.fee_cents,
            received_at=r.paid_at,
            method=_line_method(r.payment_method),
            purpose=f"Contributo per l'Albo – {r.election.name}"[:200],
        )


def _line_method(payment_method: str) -> str:
    """The membership app's method names in the words of `payments.methods` ("sepa" → "sepa_dd")."""
    return "sepa_dd" if payment_method == PaymentMethod.SEPA else (payment_method or "card")


def register_contribution_sources() -> None:
    """Hook both fee channels into compliance's F6/F14 totals and contribution lines (called from ready())."""
    from piazza.compliance.rules import register_contribution_source

    register_line_source("membership.fees", fee_lines)
    register_line_source("membership.election_fees", election_fee_lines)
    register_row_source("membership.membership", fee_row_lines)
    register_row_source("membership.electionregistration", election_fee_row_lines)

    register_contribution_source(
        "membership.fees", "fee", fees_in_year, payables=["membership.membership"], query=fees_in_year_query
    )
    register_contribution_source(
        "membership.election_fees",
        "fee",
        election_fees_in_year,
        payables=["membership.electionregistration"],
        query=election_fees_in_year_query,
    )
