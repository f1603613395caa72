"""The portal's figures equal the ledger's (issue 13, "a published figure equals the ledger"):
a seeded year — a few hundred gifts across circoli, a federation and the national level,
refunds, membership fees, a matching pool, a candidate's expense — and every page's balance is
what `ledger.queries.balances` says, the income table adds up to the contribution lines, and the
books are clean (`check_ledger`)."""

from __future__ import annotations

import datetime as dt
import json
import random

import pytest
from django.core.cache import cache
from django.urls import reverse

from piazza.compliance import actions as compliance_actions
from piazza.compliance.contributions import contribution_lines
from piazza.compliance.models import Candidacy
from piazza.compliance.tests import journey as candidate_journey
from piazza.core.money import Money, format_eur
from piazza.funding.actions import pools as pools_actions
from piazza.funding.models import Donation
from piazza.funding.tests.flows import give, payment_of
from piazza.ledger.kinds import get_kind
from piazza.ledger.models import Account
from piazza.ledger.queries import balances
from piazza.membership.actions.payment import mark_paid
from piazza.membership.models import PaymentMethod
from piazza.membership.tests.conftest import join, schedule  # noqa: F401 (the fixture)
from piazza.payments.actions.refunds import refund_payment
from piazza.territory.models import Role, Territory
from piazza.territory.testing import make_official
from piazza.transparency.queries import (
    CANDIDATE_FUND_KINDS,
    COST_KINDS,
    FUND_KINDS,
    scope_of_candidacy,
    scope_of_territory,
)
from piazza.transparency.reports import compute_report
from piazza.transparency.tests.helpers import campaign_at, local

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("check_ledger")]

YEAR = 2026
AMOUNTS = [500, 1_000, 2_000, 2_500, 2_500, 5_000, 5_000, 10_000, 25_000, 60_000]


def _ledger_balance(territory: Territory) -> int:
    """What the ledger says the territory's subtree holds: its funds minus its costs (national: the
    costs of no territory too), read with `ledger.queries.balances`."""
    accounts = Account.objects.filter(territory__path__startswith=territory.path)
    if territory.parent is None:
        accounts = Account.objects.filter(territory__path__startswith=territory.path) | Account.objects.filter(
            territory__isnull=True
        )
    found = balances(accounts.filter(kind__in=[*FUND_KINDS, *COST_KINDS]))
    kinds = dict(accounts.values_list("pk", "kind"))
    return sum(m.cents if kinds[pk] in FUND_KINDS else -m.cents for pk, m in found.items())


@pytest.fixture
def seeded_year(tree, clock, schedule):  # noqa: F811 (the fixture)
    cache.clear()
    clock.move_to(local(YEAR, 1, 2, 9))
    campaigns = [
        campaign_at(tree.bologna_centro, title="Tetto della Casa del Popolo"),
        campaign_at(tree.modena_nord, title="Festa di quartiere"),
        campaign_at(tree.bologna, title="Feste de l'Unità"),
        campaign_at(tree.national, title="Scuola di politica"),
    ]
    treasurer = make_official("tesoreria.nazionale.portale", tree.national, [Role.TREASURY])
    pools_actions.open_pool(
        actor=treasurer,
        territory=tree.national,
        name="Raddoppio Emilia-Romagna",
        budget_cents=50_000,
        eligible_root=tree.emilia,
        cap_per_donation_cents=2_000,
        small_gift_max_cents=5_000,
    )
    rnd = random.Random(13)
    start = local(YEAR, 1, 5, 9)
    gifts = []
    for i in range(240):
        clock.move_to(start + dt.timedelta(hours=13 * i))  # January to mid-May, in order
        gifts.append(give(campaigns[i % 4], rnd.choice(AMOUNTS), n=1 + i % 150))
    for gift in gifts[::25]:
        refund_payment(actor=None, payment=payment_of(gift), reason="richiesta del donatore")
    for i in range(10):  # fees taken at the circolo's POS, booked as the desk books them
        membership = join(tree, tree.bologna_centro if i % 2 else tree.bologna_navile, now=local(YEAR, 3, 15))
        mark_paid(
            actor=None, membership=membership, method=PaymentMethod.POS, book_offline=True, paid_at=local(YEAR, 3, 15)
        )
    official = make_official("federazione.portale", tree.bologna, [Role.ORGANISATION, Role.TREASURY])
    candidacy = candidate_journey.candidacy(tree, official)
    compliance_actions.book_candidate_expense(
        actor=official,
        candidacy=candidacy,
        description="Manifesti",
        supplier="Tipografia Rossi",
        amount=Money(80_000),
        incurred_on=dt.date(YEAR, 5, 20),
        idempotency_key="portale-spesa-1",
    )
    clock.move_to(local(YEAR, 6, 10))
    return campaigns, gifts, candidacy


def test_every_page_balance_equals_the_ledger_and_the_income_adds_up_to_the_lines(client, tree, seeded_year):
    _campaigns, gifts, candidacy = seeded_year
    for territory in (tree.national, tree.emilia, tree.bologna, tree.bologna_centro, tree.modena, tree.lombardia):
        report = compute_report(scope_of_territory(territory), YEAR)
        balance = report.table("balance")
        closing = next(r["amount_cents"] for r in balance.rows if r["item"] == "closing")
        assert closing == _ledger_balance(territory), territory.name
        assert next(r["amount_cents"] for r in balance.rows if r["item"] == "opening") == 0  # the books start this year
        if report.withheld:
            continue
        income = report.table("income")
        assert "other" not in [r["source"] for r in income.rows]  # the lines explain every euro received
        lines = sum(line.amount_cents for line in contribution_lines(YEAR, entity_path=territory.path))
        from_lines = sum(r["amount_cents"] for r in income.rows if r["source"] != "matchfunding")
        assert from_lines == lines, territory.name

    national = compute_report(scope_of_territory(tree.national), YEAR)
    gifts = list(Donation.objects.filter(pk__in=[g.pk for g in gifts]))
    assert len([g for g in gifts if g.refunded_at is not None]) == 10
    assert national.summary["donors"] == len({g.person_id for g in gifts if g.refunded_at is None})
    kept = sum(g.amount_cents + g.fee_cover_cents for g in gifts if g.refunded_at is None)
    by_source = {r["source"]: r for r in national.table("income").rows}
    assert by_source["small_gifts"]["amount_cents"] + by_source["large_gifts"]["amount_cents"] == kept
    assert by_source["large_gifts"]["register_url"] == f"/trasparenza/registro/{tree.national.pk}/{YEAR}/"
    fee_lines = list(contribution_lines(YEAR, kinds=["fee"]))
    assert len(fee_lines) > 10  # rule M8: each fee is split between the national level and the federation
    assert by_source["fees"]["contributions"] == len(fee_lines)
    assert by_source["fees"]["contributors"] == 10
    assert by_source["fees"]["amount_cents"] == sum(line.amount_cents for line in fee_lines)

    # Double entry: what the party and its candidates hold is what the ledger's other accounts
    # (clearing, bank, collected cash, less what is owed) say it holds.
    candidate = compute_report(scope_of_candidacy(candidacy), YEAR)
    candidate_closing = next(r["amount_cents"] for r in candidate.table("balance").rows if r["item"] == "closing")
    assert candidate_closing == -80_000
    assert (
        next(r["amount_cents"] for r in candidate.table("expenses").rows if r["category"] == "uncategorised") == 80_000
    )
    others = Account.objects.exclude(kind__in=[*FUND_KINDS, *COST_KINDS, *CANDIDATE_FUND_KINDS])
    held = sum(
        m.cents if get_kind(a.kind).normal == "debit" else -m.cents
        for a, m in ((a, balances([a])[a.pk]) for a in others)
    )
    national_closing = next(r["amount_cents"] for r in national.table("balance").rows if r["item"] == "closing")
    assert national_closing + candidate_closing == held
    assert Candidacy.objects.count() == 1

    # The page and the files show the same figures.
    cache.clear()
    page = client.get(reverse("transparency:territory", args=[tree.national.pk, YEAR])).content.decode()
    assert format_eur(national_closing) in page
    data = json.loads(
        client.get(reverse("transparency:territory_file", args=[tree.national.pk, YEAR, "balance", "json"])).content
    )
    assert {r["item"]: r["amount_cents"] for r in data["rows"]}["closing"] == national_closing
