"""How payments, compliance and the ledger checks reach the funding app (registered in ready())."""

from __future__ import annotations

from collections.abc import Collection, Iterator
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db.models import CharField, Exists, OuterRef, QuerySet, Sum
from django.db.models.functions import Cast

from piazza.compliance import receipts as compliance_receipts
from piazza.compliance.candidates import DonorTotal
from piazza.compliance.companies import legal_givers_of
from piazza.compliance.contributions import ContributionLine
from piazza.compliance.models import LegalGiver
from piazza.compliance.rules import total_query
from piazza.funding.actions import closing as closing_actions
from piazza.funding.actions import donations as donations_actions
from piazza.funding.actions import monthly as monthly_actions
from piazza.funding.lines import gift_line
from piazza.funding.models import Campaign, CampaignCounter, CampaignKind, Donation, DonationStatus
from piazza.ledger.accounts import accounts_owned_by
from piazza.ledger.checks import Violation
from piazza.ledger.queries import balances
from piazza.people.models import Person

try:
    from piazza.payments.payables import PayableHandler
except ImportError:  # payments core not installed yet: the handler is then never registered
    PayableHandler = object  # type: ignore[misc,assignment]


def _donation_of(payment: Any, payable: Any) -> Donation | None:
    """The donation a payment paid: the payable itself, or — for a later month of a monthly
    gift, whose payments all point at the first donation — the instalment row of that payment."""
    if payable is None:
        return None
    if payable.payment_id == payment.pk:
        return payable  # type: ignore[no-any-return]
    return Donation.objects.filter(payment_id=payment.pk).first()


class DonationHandler(PayableHandler):
    """Payable handler for `funding.donation`; payments calls it inside its own transaction."""

    sends_own_receipt = True  # the donation receipt (rule F3) carries the payer and cancel links
    # On success only the donation's id is handed over: `donation_succeeded` reads it under its lock.
    reads_payable_itself = True

    def on_succeeded(self, payment: Any, payable: Any) -> None:
        if payable is None:
            return
        first_month = Donation.objects.filter(pk=payable.pk, payment_id=payment.pk)
        if payment.schedule_id is not None and not first_month.exists():
            # A later month of a monthly gift (its payments all point at the first donation).
            donations_actions.instalment_succeeded(parent_id=payable.pk, payment_id=payment.pk)
        else:
            donations_actions.donation_succeeded(payable.pk, payment_id=payment.pk, provider=payment.provider)

    def on_failed(self, payment: Any, payable: Any) -> None:
        # A failed later month has no row of its own: payments emails the donor and retries.
        donation = _donation_of(payment, payable)
        if donation is not None:
            donations_actions.donation_failed(donation.pk, reason=payment.failure_message or payment.failure_code)

    def on_canceled(self, payment: Any, payable: Any) -> None:
        donation = _donation_of(payment, payable)
        if donation is not None:
            donations_actions.donation_failed(donation.pk, reason="canceled")

    def on_refunded(self, payment: Any, payable: Any, refund: Any) -> None:
        donation = _donation_of(payment, payable)
        if donation is not None:  # rule F3: a full or partial refund is a numbered cancellation
            compliance_receipts.cancel_receipts_for(
                "funding.donation",
                donation.pk,
                actor=None,
                key=f"refund:{refund.pk}",
                amount_cents=refund.amount_cents,
                reason=getattr(refund, "reason", "") or "Rimborso della donazione",
            )
        if donation is not None and payment.state == "refunded":
            donations_actions.donation_refunded(donation.pk, reason=getattr(refund, "reason", ""))
            campaign = Campaign.objects.get(pk=donation.campaign_id)
            closing_actions.settle_campaign(actor=None, campaign=campaign)

    def on_disputed(self, payment: Any, payable: Any, dispute: Any) -> None:
        donation = _donation_of(payment, payable)
        if donation is not None and dispute.state == "lost":  # rule F3: the chargeback's cancellation
            compliance_receipts.cancel_receipts_for(
                "funding.donation",
                donation.pk,
                actor=None,
                key=f"dispute:{dispute.pk}",
                amount_cents=dispute.amount_cents,
                reason="Contestazione del pagamento persa (chargeback)",
            )
        if donation is not None and payment.state == "charged_back":
            donations_actions.donation_refunded(donation.pk, reason="chargeback")

    def on_schedule_canceled(self, schedule: Any, payable: Any) -> None:
        if payable is not None:
            monthly_actions.monthly_cancelled(payable.pk, reason="schedule canceled")


def _legal_givers(pk_field: str = "pk") -> QuerySet[LegalGiver]:
    """Rule F13: the legal person behind a donation (correlated with the donation's `pk_field`)."""
    return LegalGiver.objects.filter(
        contribution_type=ContentType.objects.get_for_model(Donation),
        contribution_id=Cast(OuterRef(pk_field), output_field=CharField()),
    )


def _year_total(qs: QuerySet[Donation]) -> int:
    row = qs.aggregate(a=Sum("amount_cents"), f=Sum("fee_cover_cents"))
    return int(row["a"] or 0) + int(row["f"] or 0)


def donations_in_year(person_id: int, year: int, entity_path: str) -> int:
    """Rule F6/F14 source: this person's gifts (with fee cover) in `year` within `entity_path`.

    Gifts made on behalf of a company or an association (rule F13) are the entity's money, not
    the legal representative's: they are left out here and totalled by `entity_donations_in_year`.
    """
    # The year the money arrived (when F6 judged it, `donation_succeeded`), not when the form was sent:
    # a gift started at 23:55 on 31 December and paid at 00:05 belongs to the new year.
    qs = Donation.objects.filter(person_id=person_id, status=DonationStatus.SUCCEEDED, succeeded_at__year=year)
    if entity_path:
        qs = qs.filter(campaign__territory__path__startswith=entity_path)
    return _year_total(qs.filter(~Exists(_legal_givers())))


def donations_in_year_query(person_id: int, year: int, entity_path: str) -> QuerySet[Donation]:
    """`donations_in_year` as a query, for the one-statement F6 totals (issue 14)."""
    qs = Donation.objects.filter(person_id=person_id, status=DonationStatus.SUCCEEDED, succeeded_at__year=year)
    if entity_path:
        qs = qs.filter(campaign__territory__path__startswith=entity_path)
    return total_query(qs.filter(~Exists(_legal_givers())), "amount_cents", "fee_cover_cents")


def entity_donations_in_year(entity_code: str, year: int, entity_path: str) -> int:
    """Rule F13 source: what one legal person (VAT number / codice fiscale) gave in `year`."""
    gifts = LegalGiver.objects.filter(
        contribution_type=ContentType.objects.get_for_model(Donation), entity_code=entity_code
    )
    ids = [int(pk) for pk in gifts.values_list("contribution_id", flat=True)]  # a company gives a few times a year
    qs = Donation.objects.filter(pk__in=ids, status=DonationStatus.SUCCEEDED, succeeded_at__year=year)
    if entity_path:
        qs = qs.filter(campaign__territory__path__startswith=entity_path)
    return _year_total(qs)


def donation_lines(year: int, entity_path: str, person_ids: Collection[int] | None) -> Iterator[ContributionLine]:
    """Rules F1/F3/F7 line source: each gift kept in `year` (fee cover included, as F6 counts it)."""
    qs = Donation.objects.filter(status=DonationStatus.SUCCEEDED, succeeded_at__year=year)
    if person_ids is not None:
        qs = qs.filter(person_id__in=person_ids)
    if entity_path:
        qs = qs.filter(campaign__territory__path__startswith=entity_path)
    return _lines(qs, chunk_size=5000)


def donation_row_lines(donation_id: int) -> Iterator[ContributionLine]:
    """Rule F3 row source: the line of one gift, if it is kept (one query)."""
    return _lines(Donation.objects.filter(pk=donation_id, status=DonationStatus.SUCCEEDED), chunk_size=None)


def _lines(qs: Any, *, chunk_size: int | None) -> Iterator[ContributionLine]:
    giver = _legal_givers()
    # Rule F13: the legal person, if any, read in the same query (no query per gift).
    rows = (
        qs.annotate(
            legal_name=giver.values("legal_name")[:1],
            entity_code=giver.values("entity_code")[:1],
            resolution_on=giver.values("resolution_date")[:1],
        )
        .order_by("pk")
        .values_list(
            "pk",
            "person_id",
            "campaign__territory_id",
            "campaign__territory__path",
            "amount_cents",
            "fee_cover_cents",
            "succeeded_at",
            "payment__provider",
            "campaign__title",
            "legal_name",
            "entity_code",
            "resolution_on",
        )
    )
    for pk, person_id, territory_id, path, amount, cover, at, provider, title, legal_name, code, resolved in (
        rows.iterator(chunk_size=chunk_size) if chunk_size else rows
    ):
        yield gift_line(
            pk=pk,
            person_id=person_id,
            territory_id=territory_id,
            territory_path=path,
            amount_cents=amount,
            fee_cover_cents=cover,
            received_at=at,
            provider=provider,
            title=title,
            legal_name=legal_name,
            entity_code=code,
            resolution_on=resolved,
        )


def donors_of_candidacy(candidacy_id: int) -> list[DonorTotal]:
    """Rule F12 source: per donor, what reached a candidacy's campaigns (succeeded, refunds excluded)."""
    rows = (
        Donation.objects.filter(
            campaign__candidacy_id=candidacy_id, status=DonationStatus.SUCCEEDED, person__isnull=False
        )
        .values("person_id")
        .annotate(a=Sum("amount_cents"), f=Sum("fee_cover_cents"))
    )
    totals = {int(r["person_id"]): int(r["a"] or 0) + int(r["f"] or 0) for r in rows}
    people = Person.objects.filter(pk__in=totals).only("first_name", "last_name", "codice_fiscale")
    result = [
        DonorTotal(
            person_id=int(p.pk), name=p.full_name, codice_fiscale=p.codice_fiscale, total_cents=totals[int(p.pk)]
        )
        for p in people
    ]
    # Rule F11/F13: a gift on behalf of a company or an association is that entity's, itemised
    # by its name and VAT number whatever the amount (one line per gift, not the representative's).
    legal_gifts = Donation.objects.filter(
        campaign__candidacy_id=candidacy_id, status=DonationStatus.SUCCEEDED, person__isnull=False
    )
    givers = {int(g.contribution_id): g for g in legal_givers_of(Donation, legal_gifts.values_list("pk", flat=True))}
    if not givers:
        return result
    by_person: dict[int, int] = {}
    entities: list[DonorTotal] = []
    for donation in legal_gifts.filter(pk__in=givers).only("pk", "person_id", "amount_cents", "fee_cover_cents"):
        giver = givers[int(donation.pk)]
        cents = int(donation.amount_cents) + int(donation.fee_cover_cents)
        by_person[int(donation.person_id)] = by_person.get(int(donation.person_id), 0) + cents  # type: ignore[arg-type]
        entities.append(
            DonorTotal(
                person_id=int(donation.person_id),  # type: ignore[arg-type]  # the representative signs F12
                name=giver.legal_name,
                codice_fiscale=giver.entity_code,
                total_cents=cents,
                natural_person=False,
            )
        )
    own = [
        DonorTotal(d.person_id, d.name, d.codice_fiscale, d.total_cents - by_person.get(d.person_id, 0))
        for d in result
        if d.total_cents - by_person.get(d.person_id, 0) > 0
    ]
    return own + entities


def counters_match_ledger() -> list[Any]:
    """Ledger check: every campaign's counter total equals its ledger accounts (gifts + matches)."""

    problems = []
    for campaign in Campaign.objects.filter(counters__isnull=False).distinct():
        counted = CampaignCounter.objects.filter(campaign=campaign).aggregate(
            g=Sum("gifts_cents"), m=Sum("matched_cents")
        )
        # Refused gifts (F6/F2 at success) sit in the campaign's accounts until their refund.
        refused = (
            Donation.objects.filter(campaign=campaign, status=DonationStatus.REFUSED).aggregate(a=Sum("amount_cents"))[
                "a"
            ]
            or 0
        )
        expected = int(counted["g"] or 0) + int(counted["m"] or 0) + int(refused)
        accounts = list(accounts_owned_by(campaign))
        if campaign.kind == CampaignKind.CANDIDATE and campaign.candidacy_id:
            accounts += [
                a
                for a in accounts_owned_by(campaign.candidacy)  # type: ignore[arg-type]
                if a.key == f"campaign:{campaign.pk}"
            ]
        booked = sum(m.cents for m in balances(accounts).values())
        if booked != expected:
            problems.append(
                Violation(
                    "funding counters equal the ledger",
                    f"campaign {campaign.pk}: counters {expected} ≠ ledger {booked}",
                )
            )
    return problems
