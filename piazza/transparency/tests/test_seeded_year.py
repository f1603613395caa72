"""Issue 13, "done when": the portal's figures equal the ledger's totals over a seeded year of
demo data — thousands of gifts to campaigns of nine territories (national, two regions, three
federations, three circoli and an online circolo) with the provider's fees and refunds
(`transparency.seeding`, bulk), membership fees (the desk's real path, rule M8's split), a
candidacy's electoral expenses by category with a receipt (rules F10, F11) — and `check_ledger`
is clean. Every figure is compared with totals read from the ledger's entries, not with the
portal's own queries."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

import pytest
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db.models import Sum
from django.urls import reverse

from piazza.compliance import actions as compliance_actions
from piazza.compliance.contributions import contribution_lines
from piazza.compliance.models import CandidateExpense, ExpenseCategory
from piazza.compliance.tests import journey as candidate_journey
from piazza.core.money import Money, format_eur
from piazza.funding.models import Donation, DonationStatus
from piazza.ledger.models import Cause, Entry
from piazza.membership.actions.payment import mark_paid
from piazza.membership.models import PaymentMethod
from piazza.membership.tests.conftest import join, schedule  # noqa: F401 (the fixture)
from piazza.territory.models import Role, Territory
from piazza.territory.testing import make_official
from piazza.transparency.queries import COST_KINDS, FUND_KINDS, scope_of_candidacy, scope_of_territory, year_bounds
from piazza.transparency.reports import compute_report
from piazza.transparency.seeding import seed_gifts
from piazza.transparency.tests.helpers import campaign_at, local
from piazza.transparency.tests.test_ledger_totals import _ledger_balance

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("check_ledger")]

YEAR = 2026
GIFTS = 3_200
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def _places(tree):
    return [
        tree.national,
        tree.emilia,
        tree.lombardia,
        tree.bologna,
        tree.modena,
        tree.milano,
        tree.bologna_centro,
        tree.bologna_navile,
        tree.modena_nord,
        tree.online,
    ]


def _ledger_income(territory: Territory, *, exact: bool = False) -> int:
    """Contributions received in the year on the party's funds of the subtree (or of the territory
    alone), net of refunds: the ledger's own total."""
    start, end = year_bounds(YEAR)
    qs = Entry.objects.filter(
        account__kind__in=FUND_KINDS,
        created_at__gte=start,
        created_at__lt=end,
        transaction__cause__in=[Cause.PAYMENT, Cause.REFUND, Cause.DISPUTE, Cause.DISPUTE_WON],
    )
    if exact:
        qs = qs.filter(account__territory=territory)
    else:
        qs = qs.filter(account__territory__path__startswith=territory.path)
    return -int(qs.aggregate(t=Sum("amount_cents"))["t"] or 0)


def _ledger_costs(territory: Territory) -> dict[str, int]:
    start, end = year_bounds(YEAR)
    qs = Entry.objects.filter(account__kind__in=COST_KINDS, created_at__gte=start, created_at__lt=end)
    if territory.parent_id is None:
        qs = qs.filter(account__territory__isnull=True) | qs.filter(account__territory__path__startswith=territory.path)
    else:
        qs = qs.filter(account__territory__path__startswith=territory.path)
    return {k: int(t) for k, t in qs.values_list("account__kind").annotate(t=Sum("amount_cents")).order_by()}


@pytest.fixture
def year(tree, clock, schedule):  # noqa: F811 (the fixture)
    cache.clear()
    clock.move_to(local(YEAR, 1, 2, 9))
    campaigns = [campaign_at(t, title=f"Raccolta di {t.name}") for t in _places(tree)]
    for i in range(12):  # fees taken at the circolo's POS, booked as the desk books them
        circolo = [tree.bologna_centro, tree.bologna_navile][i % 2]  # the members live in Bologna
        membership = join(tree, circolo, now=local(YEAR, 3, 15))
        mark_paid(
            actor=None, membership=membership, method=PaymentMethod.POS, book_offline=True, paid_at=local(YEAR, 3, 15)
        )
    clock.move_to(local(YEAR, 5, 1))
    official = make_official("federazione.anno", tree.bologna, [Role.ORGANISATION, Role.TREASURY])
    candidacy = candidate_journey.candidacy(tree, official)
    # The declaration's categories are a parameter list (seeded by compliance's migration, kept in
    # the admin); two of our own, so the test does not depend on what an earlier test left.
    categories = [
        ExpenseCategory.objects.get_or_create(code=code, defaults={"label": label, "position": position})[0]
        for code, label, position in [
            ("portale-stampa", "Stampa e affissioni (prova)", 1),
            ("portale-sale", "Sale e manifestazioni (prova)", 2),
        ]
    ]
    for n, (description, cents, category, receipt) in enumerate(
        [
            ("Manifesti 6x3", 80_000, categories[0], SimpleUploadedFile("fattura.pdf", PDF, "application/pdf")),
            ("Volantini", 12_000, categories[0], None),
            ("Sala per il comizio", 30_000, categories[1], None),
            ("Rimborso benzina", 4_500, None, None),
        ]
    ):
        compliance_actions.book_candidate_expense(
            actor=official,
            candidacy=candidacy,
            description=description,
            supplier="Mario Bianchi",  # a natural person: never on the portal
            amount=Money(cents),
            incurred_on=dt.date(YEAR, 5, 2 + n),
            idempotency_key=f"anno-spesa-{n}",
            category=category,
            receipt=receipt,
        )
    # The gifts last: the fees and expenses above, booked the real way, do not re-read them.
    seeded = seed_gifts(campaigns, start=local(YEAR, 1, 5, 9), end=local(YEAR, 11, 30, 18), gifts=GIFTS, donors=1_300)
    clock.move_to(local(YEAR, 12, 10))
    return seeded, candidacy, categories


def test_every_figure_of_every_territory_equals_the_ledger(client, tree, year):
    seeded, candidacy, categories = year
    donations = Donation.objects.filter(pk__in=[d.pk for d in seeded.donations])
    assert donations.count() == GIFTS
    assert donations.filter(status=DonationStatus.REFUNDED).count() == GIFTS // 40
    reports = {t.pk: compute_report(scope_of_territory(t), YEAR) for t in _places(tree)}
    for territory in _places(tree):
        report = reports[territory.pk]
        assert not report.withheld, territory.name
        balance = {r["item"]: r["amount_cents"] for r in report.table("balance").rows}
        assert balance["closing"] == _ledger_balance(territory), territory.name
        assert balance["opening"] == 0
        # Income by source: what the funds received, net of refunds (matchfunding apart: none here).
        income = {r["source"]: r for r in report.table("income").rows}
        assert "other" not in income, territory.name  # the lines explain every euro received
        assert sum(r["amount_cents"] for k, r in income.items() if k != "matchfunding") == _ledger_income(territory)
        kept = donations.filter(
            status=DonationStatus.SUCCEEDED, campaign__territory__path__startswith=territory.path
        ).aggregate(t=Sum("amount_cents"))["t"]
        assert income["small_gifts"]["amount_cents"] + income["large_gifts"]["amount_cents"] == kept, territory.name
        fee_lines = [line for line in contribution_lines(YEAR, entity_path=territory.path) if line.kind == "fee"]
        assert income.get("fees", {"amount_cents": 0})["amount_cents"] == sum(f.amount_cents for f in fee_lines)
        # Expenses by category: the costs the ledger charged to the subtree, kind by kind.
        expenses = {r["category"]: r["amount_cents"] for r in report.table("expenses").rows}
        assert expenses == _ledger_costs(territory), territory.name
        assert report.summary["expenses_cents"] == sum(_ledger_costs(territory).values())
        assert report.summary["income_cents"] == _ledger_income(territory)

    # Rolled up: a parent's income is its children's plus what it received itself.
    for parent, children in [
        (tree.national, [tree.emilia, tree.lombardia]),
        (tree.emilia, [tree.bologna, tree.modena]),
        (tree.bologna, [tree.bologna_centro, tree.bologna_navile, tree.online]),
    ]:
        own = _ledger_income(parent, exact=True)
        assert own > 0
        assert reports[parent.pk].summary["income_cents"] == own + sum(
            reports[c.pk].summary["income_cents"] for c in children
        ), parent.name
    national = reports[tree.national.pk]
    assert national.summary["donors"] == len({d.person_id for d in donations.filter(status=DonationStatus.SUCCEEDED)})
    assert national.table("expenses").total("amount_cents") >= seeded.fees_cents - sum(
        int(d.payment.fee_cents or 0) for d in seeded.refunded
    )

    # The candidacy: its expenses by the declaration's categories, one by one, as booked (F11).
    candidate = compute_report(scope_of_candidacy(candidacy), YEAR)
    booked = CandidateExpense.objects.filter(candidacy=candidacy)
    by_category = {r["category"]: r for r in candidate.table("expenses").rows}
    assert by_category[categories[0].code]["amount_cents"] == 92_000
    assert by_category[categories[0].code]["expenses"] == 2
    assert by_category[categories[0].code]["with_receipt"] == 1
    assert by_category[categories[1].code]["amount_cents"] == 30_000
    assert by_category["uncategorised"]["amount_cents"] == 4_500
    ledger_expenses = int(
        Entry.objects.filter(transaction_id__in=booked.values("ledger_transaction_id"), amount_cents__gt=0).aggregate(
            t=Sum("amount_cents")
        )["t"]
    )
    assert candidate.table("expenses").total("amount_cents") == ledger_expenses == 126_500
    items = candidate.table("expense_items").rows
    assert (str(items[0]["label"]), items[0]["amount_cents"], str(items[0]["receipt"])) == (
        categories[0].label,
        80_000,
        "sì",
    )
    assert len(items) == 4
    # The federation's page shows its candidates' expenses by category, apart from the party's.
    federation = reports[tree.bologna.pk].table("candidate_expenses")
    assert federation.total("amount_cents") == 126_500
    assert reports[tree.modena.pk].table("candidate_expenses").rows == []

    # The pages say the same, and no supplier's name is ever published.
    cache.clear()
    page = client.get(reverse("transparency:candidacy", args=[candidacy.pk, YEAR])).content.decode()
    assert categories[0].label in page and format_eur(92_000) in page and format_eur(80_000) in page
    assert "Mario Bianchi" not in page and "Manifesti 6x3" not in page
    csv = client.get(reverse("transparency:candidacy_file", args=[candidacy.pk, YEAR, "expense_items", "csv"]))
    assert b"Mario Bianchi" not in csv.content and b"Manifesti 6x3" not in csv.content
    assert b"80000" in csv.content
    page = client.get(reverse("transparency:territory", args=[tree.bologna.pk, YEAR])).content.decode()
    assert categories[1].label in page and format_eur(30_000) in page
    totals: dict[str, int] = defaultdict(int)
    for r in national.table("income").rows:
        totals[r["source"]] += r["amount_cents"]
    page = client.get(reverse("transparency:territory", args=[tree.national.pk, YEAR])).content.decode()
    assert format_eur(totals["small_gifts"]) in page and format_eur(totals["large_gifts"]) in page
