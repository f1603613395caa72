"""A year of gifts in bulk, for the portal's seeded-year test and its benchmark (issue 13).

The real donation flow (`funding.tests.flows.give`) costs ~40 queries a gift: thousands of gifts
would take minutes. This writes the same rows the flow leaves behind for a one-off card gift to a
campaign without splits — the donor (`Person`), the `Payment` with its allocation, the `Donation`,
the campaign's counter, and in the ledger the payment, the provider's fee and, for a refunded
gift, the `Refund` and its reversal — with bulk inserts, keeping every invariant `check_ledger`
checks: the ledger transactions are balanced and keyed as `payments.booking` keys them
(`payment:<id>`, `payment-fee:<id>`, `refund:<id>`), and each account's balance slots are bumped
by what its new entries add up to (convention 1). What it skips is what no figure of the portal
reads: receipts and their emails, timeline and audit entries, notice acceptances.

Not for production data: a seeding aid for tests, benchmarks and demos only.
"""

from __future__ import annotations

import datetime as dt
import random
import secrets
from collections import defaultdict
from dataclasses import dataclass, field

from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.db.models import F

from piazza.core.money import Money
from piazza.funding.actions.donations import gift_accounts
from piazza.funding.models import SMALL_GIFT_CENTS, Campaign, CampaignCounter, Donation, DonationStatus
from piazza.ledger.accounts import get_account
from piazza.ledger.models import Account, BalanceSlot, Cause, Entry, LedgerTransaction
from piazza.payments.models import Payment, PaymentAllocation, Refund, RefundState, State
from piazza.payments.providers.sandbox import sandbox_fee
from piazza.people.models import Person, Source
from piazza.territory.models import Comune

AMOUNTS = [500, 1_000, 2_000, 2_500, 2_500, 5_000, 5_000, 10_000, 25_000, 60_000]
PROVIDER = "sandbox"


@dataclass
class Seeded:
    donations: list[Donation] = field(default_factory=list)
    refunded: list[Donation] = field(default_factory=list)
    fees_cents: int = 0


def _small(cents: int) -> int:
    """What `donation_succeeded` adds to the counter's small-gifts total."""
    return cents if cents <= SMALL_GIFT_CENTS else 0


def seed_gifts(
    campaigns: list[Campaign],
    *,
    start: dt.datetime,
    end: dt.datetime,
    gifts: int,
    donors: int,
    refund_every: int = 40,
    seed: int = 13,
) -> Seeded:
    """`gifts` one-off card gifts from `donors` people, spread evenly from `start` to `end` over
    `campaigns` (round robin), one in `refund_every` refunded a week later (never past `end`)."""
    rnd = random.Random(seed)
    comune = Comune.objects.filter(valid_to__isnull=True).order_by("pk").first()
    assert comune is not None, "load the comuni first (load_territory)"
    accounts: dict[int, Account] = {}
    for campaign in campaigns:
        targets = gift_accounts(campaign, Money(100, campaign.currency))
        if len(targets) != 1:
            raise ValueError(f"campaign {campaign.pk}: bulk seeding books gifts to one account (no splits)")
        accounts[int(campaign.pk)] = targets[0][0]
    currency = campaigns[0].currency
    clearing = get_account("provider_clearing", key=PROVIDER, currency=currency)
    fees = get_account("provider_fees", key=PROVIDER, currency=currency)
    step = (end - start) / max(1, gifts)
    refund_delay = min(dt.timedelta(days=7), step * refund_every / 2)
    payment_type = ContentType.objects.get_for_model(Payment)
    donation_type = ContentType.objects.get_for_model(Donation)
    refund_type = ContentType.objects.get_for_model(Refund)
    tag = secrets.token_hex(4)
    out = Seeded()
    with transaction.atomic():
        people = Person.objects.bulk_create(
            [
                Person(
                    first_name=f"Donatrice{n}",
                    last_name=f"Seminata{tag}",
                    territory=campaigns[n % len(campaigns)].territory,
                    source=Source.DONATION,
                    created_at=start,
                )
                for n in range(donors)
            ],
            batch_size=2000,
        )
        plan = []
        for i in range(gifts):
            campaign = campaigns[i % len(campaigns)]
            amount = rnd.choice(AMOUNTS)
            plan.append((campaign, amount, people[rnd.randrange(donors)], start + step * i))
        payments = Payment.objects.bulk_create(
            [
                Payment(
                    provider=PROVIDER,
                    state=State.REFUNDED if (i + 1) % refund_every == 0 else State.SUCCEEDED,
                    amount_cents=amount,
                    currency=currency,
                    fee_cents=sandbox_fee(Money(amount, currency)).cents,
                    description=f"Donazione a «{campaign.title}»"[:200],
                    payable_type=donation_type,
                    payer_name=person.full_name,
                    territory=campaign.territory,
                    provider_reference=f"seed_{tag}_{i}",
                    creation_key=f"seed:{tag}:{i}",
                    created_at=at,
                    succeeded_at=at,
                )
                for i, (campaign, amount, person, at) in enumerate(plan)
            ],
            batch_size=2000,
        )
        PaymentAllocation.objects.bulk_create(
            [
                PaymentAllocation(
                    payment=payment, account=accounts[int(campaign.pk)], amount_cents=amount, currency=currency
                )
                for payment, (campaign, amount, _person, _at) in zip(payments, plan, strict=True)
            ],
            batch_size=2000,
        )
        donations = Donation.objects.bulk_create(
            [
                Donation(
                    campaign=campaign,
                    person=person,
                    amount_cents=amount,
                    currency=currency,
                    status=DonationStatus.REFUNDED if payment.state == State.REFUNDED else DonationStatus.SUCCEEDED,
                    first_name=person.first_name,
                    last_name=person.last_name,
                    email=f"seme.{tag}.{person.pk}@example.org",
                    address="Via dei Semi 1",
                    postal_code="40100",
                    comune=comune,
                    attestations=[],
                    attestation_version="seed",
                    publication_acknowledged=True,
                    idempotency_key=f"seed:{tag}:{i}",
                    manage_token=secrets.token_urlsafe(32),
                    payment=payment,
                    created_at=at,
                    succeeded_at=at,
                    refunded_at=at + refund_delay if payment.state == State.REFUNDED else None,
                )
                for i, (payment, (campaign, amount, person, at)) in enumerate(zip(payments, plan, strict=True))
            ],
            batch_size=2000,
        )
        for payment, donation in zip(payments, donations, strict=True):
            payment.payable_id = str(donation.pk)
        Payment.objects.bulk_update(payments, ["payable_id"], batch_size=2000)
        refunds = Refund.objects.bulk_create(
            [
                Refund(
                    payment=payment,
                    amount_cents=payment.amount_cents,
                    currency=currency,
                    state=RefundState.SUCCEEDED,
                    reason="Richiesta del donatore",
                    idempotency_key=f"seed-refund:{tag}:{payment.pk}",
                    created_at=donation.refunded_at,
                    succeeded_at=donation.refunded_at,
                )
                for payment, donation in zip(payments, donations, strict=True)
                if donation.refunded_at is not None
            ]
        )
        # The ledger: one balanced transaction per booking, keyed as payments.booking keys them.
        postings: list[tuple[LedgerTransaction, list[tuple[Account, int]]]] = []
        for payment, (campaign, amount, _person, at) in zip(payments, plan, strict=True):
            gift = accounts[int(campaign.pk)]
            postings.append(
                (
                    LedgerTransaction(
                        cause=Cause.PAYMENT,
                        memo=f"Pagamento #{payment.pk}: {payment.description}"[:255],
                        idempotency_key=f"payment:{payment.pk}",
                        about_type=payment_type,
                        about_id=str(payment.pk),
                        created_at=at,
                    ),
                    [(clearing, amount), (gift, -amount)],
                )
            )
            fee = int(payment.fee_cents or 0)
            if fee:
                out.fees_cents += fee
                postings.append(
                    (
                        LedgerTransaction(
                            cause=Cause.FEE,
                            memo=f"Commissione {PROVIDER} sul pagamento #{payment.pk}",
                            idempotency_key=f"payment-fee:{payment.pk}",
                            about_type=payment_type,
                            about_id=str(payment.pk),
                            created_at=at,
                        ),
                        [(fees, fee), (clearing, -fee)],
                    )
                )
        by_payment = {int(d.payment_id): d for d in donations if d.refunded_at is not None}  # type: ignore[arg-type]
        for refund in refunds:
            donation = by_payment[int(refund.payment_id)]
            gift = accounts[int(donation.campaign_id)]
            refunded_at = refund.succeeded_at
            assert refunded_at is not None
            postings.append(
                (
                    LedgerTransaction(
                        cause=Cause.REFUND,
                        memo=f"Rimborso del pagamento #{refund.payment_id}",
                        idempotency_key=f"refund:{refund.pk}",
                        about_type=refund_type,
                        about_id=str(refund.pk),
                        created_at=refunded_at,
                    ),
                    [(gift, refund.amount_cents), (clearing, -refund.amount_cents)],
                )
            )
        postings.sort(key=lambda p: p[0].created_at)  # ids in time order, as the live flow makes them
        created = LedgerTransaction.objects.bulk_create([txn for txn, _lines in postings], batch_size=2000)
        entries = []
        bumps: dict[int, int] = defaultdict(int)
        counts: dict[int, int] = defaultdict(int)
        for txn, (_txn, lines) in zip(created, postings, strict=True):
            assert sum(cents for _a, cents in lines) == 0
            for account, cents in lines:
                entry = Entry(transaction=txn, account=account, amount_cents=cents, currency=currency)
                entry.created_at = txn.created_at
                entries.append(entry)
                bumps[int(account.pk)] += cents
                counts[int(account.pk)] += 1
        Entry.objects.bulk_create(entries, batch_size=5000)
        for account_id in sorted(bumps):
            BalanceSlot.objects.filter(account_id=account_id, slot=0).update(
                balance_cents=F("balance_cents") + bumps[account_id],
                entry_count=F("entry_count") + counts[account_id],
            )
        # The campaigns' counters (convention 9), as donation_succeeded / donation_refunded bump them.
        kept: dict[int, list[int]] = defaultdict(list)
        for donation in donations:
            if donation.refunded_at is None:
                kept[int(donation.campaign_id)].append(int(donation.amount_cents))
        for campaign_id, amounts in kept.items():
            CampaignCounter.objects.filter(campaign_id=campaign_id, slot=0).update(
                gifts_cents=F("gifts_cents") + sum(amounts),
                gifts_count=F("gifts_count") + len(amounts),
                small_gifts_cents=F("small_gifts_cents") + sum(_small(a) for a in amounts),
            )
    out.donations = donations
    out.refunded = [d for d in donations if d.refunded_at is not None]
    return out
