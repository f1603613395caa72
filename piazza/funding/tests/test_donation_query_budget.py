"""Goal P4 (issue 14): a whole donation — every request of the donor's path — costs at most 25 SQL
statements in at most 3 transactions for a returning donor, 30 for a new one.

The path is what a browser (and benchmarks/donations.py) sends: the donation form POST, then the
payment page POST with the sandbox card (charge, ledger booking, payable handler, receipt). The
payment page GET between them and the thank-you page after are pages, not the gift, and are left
out as they are in the benchmark. Tasks (the receipt e-mail) are queued in the database, as
production queues them for its workers, not run inline as elsewhere in the tests.

How statements and transactions are counted: `CaptureQueriesContext` records every statement sent,
SAVEPOINT/RELEASE included, and (Django ≥ 5.0, `debug_transaction`) the BEGIN and COMMIT of each
outermost `atomic()` too, so the statement figure is the length of its log, as the issue's were.
Transactions are counted apart: a hook on `connection.set_autocommit(False)` counts each outermost
`atomic()`, and an execute wrapper counts each write run in autocommit mode (its own implicit
transaction, with no BEGIN in the log).
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.test.utils import CaptureQueriesContext, override_settings
from django.urls import reverse

from piazza.compliance import rules as finance_rules
from piazza.core.testing_queries import describe
from piazza.funding.models import Donation, DonationStatus
from piazza.funding.tests.flows import codice_fiscale_for, form_data, give
from piazza.ledger.checks import run_checks
from piazza.people.actions.notices import ensure_default_notices
from piazza.people.notices import check_shown

WRITES = ("INSERT", "UPDATE", "DELETE")
# The goal (issue 14, P4): 25 statements and 3 transactions for a returning donor, 30 for a new one.
GOAL_RETURNING, GOAL_NEW, GOAL_TRANSACTIONS = 25, 30, 3
# Where the path stands, pinned exactly on PostgreSQL so that any added statement fails here with
# the numbered log (docs/benchmarks.md "P4 — whole donation" says where each one goes). Before
# issue 14's first pass: 107 / 123 statements, 10 savepoint statements, 5 transactions. Since the
# company donors of issue 13 (rule F13), one more: is this gift a company's (compliance.LegalGiver)?
# Second pass 70 / 85; third pass (ADRs 0032, 0033) 58 / 72: the ledger batch in one statement, the
# receipt counter in one, each transaction's audit entries in one INSERT after one lock-and-head call.
# Fourth pass (ADR 0037) 50 / 64: a donation's payment key is new (no look-up, no savepoint), no payable
# read for an instrument check or for the handler, the attempt settled by UPDATE … RETURNING, the receipt
# line from the locked read and no look-up of receipts for a gift that has just become kept.
# ADR 0041 (P7) 50 / 62: a new donor's duplicate candidates (code, birth date, e-mail) in one statement.
# Fifth pass (ADR 0046) 37 / 48: each transaction's writes that nothing reads back are queued and sent
# with its audit entries in one statement, their ids taken with the chain head (core.write_queue).
# SQLite sends the queued writes as separate statements and has no sequences for the ids (ADR 0046):
# pinned apart, exactly too. ADR 0050 (P8): a new donor's e-mails, phones and tags are not read back
# right after its INSERT (new donor −3). ADR 0048 (−3, SQLite −2): the payment's lock and the attempt's
# UPDATE … RETURNING in one statement (PostgreSQL); whether any matching pool is open read with the
# locked donation; the notice version shown kept per process.
PINS_RETURNING = {"postgresql": 34, "sqlite": 54}
PINS_NEW = {"postgresql": 42, "sqlite": 62}
# The form's transaction, the attempt's, the sandbox processor's own row (the provider's side:
# with a real provider an HTTPS call) and the outcome's, which also queues the receipt e-mail (the
# database queue is an outbox written in the transaction, `core.tasks.enqueue_on_commit`).
PIN_TRANSACTIONS = 4
SAVEPOINT_STATEMENTS = 0  # create_payment had 2 (its creation key look-up); a donation's key is new (ADR 0037)
QUEUED = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}


class PathCounter:
    """Transactions of the connection: each outermost atomic() and each autocommit write."""

    def __init__(self) -> None:
        self.begun = 0
        self.autocommit_writes: list[str] = []

    @property
    def transactions(self) -> int:
        return self.begun + len(self.autocommit_writes)

    def __call__(self, execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        if sql.lstrip().upper().startswith(WRITES) and connection.get_autocommit():
            self.autocommit_writes.append(sql[:80])
        return execute(sql, params, many, context)


def whole_donation(client: Any, campaign: Any, monkeypatch: Any, **over: Any) -> tuple[int, int, int, str]:
    """Form POST + payment POST: (statements incl. BEGIN/COMMIT/SAVEPOINT, transactions, savepoints, log)."""
    counter = PathCounter()
    original = connection.set_autocommit

    def set_autocommit(autocommit: bool, *args: Any, **kwargs: Any) -> None:
        if not autocommit:
            counter.begun += 1
        original(autocommit, *args, **kwargs)

    url = reverse("funding:donate", args=[campaign.slug])
    data = form_data(campaign, **over)
    with monkeypatch.context() as patched, override_settings(TASKS=QUEUED):
        # The finance rules are cached a minute of real time (`rules_on`): on a loaded machine a
        # path can outlast it and read them again. Cached without expiry here, the count is exact.
        patched.setattr(finance_rules, "RULES_CACHE_SECONDS", None)
        finance_rules.forget_rules()
        finance_rules.rules_on()
        patched.setattr(connection, "set_autocommit", set_autocommit)
        with connection.execute_wrapper(counter), CaptureQueriesContext(connection) as captured:
            submitted = client.post(url, data)
            assert submitted.status_code == 302, submitted.content[:500]
            pay_url = submitted["Location"]
            card = {"card_number": "4242424242424242", "expiry": "12/39", "cvc": "123"}
            paid = client.post(pay_url, {**card, "idempotency_key": uuid.uuid4().hex})
            assert paid.status_code == 302, paid.content[:500]
    queries = captured.captured_queries
    savepoints = sum(1 for q in queries if q["sql"].startswith(("SAVEPOINT", "RELEASE SAVEPOINT")))
    statements = len(queries)
    return statements, counter.transactions, savepoints, describe(queries)


def warm(client: Any, campaign: Any) -> None:
    """A running server's per-process caches (content types, rules, accounts) are warm."""
    ensure_default_notices()  # a transactional test may find the tables emptied by an earlier one
    give(campaign, 1000)  # the returning donor's earlier gift (the annual-cap check reads it)
    client.get(reverse("funding:donate", args=[campaign.slug]))
    check_shown("donate", form_data(campaign)["notice_version"])  # the version shown, kept (ADR 0048)
    ContentType.objects.get_for_model(Donation)


def check_pin(statements: int, pins: dict[str, int], log: str) -> None:
    want = pins.get(connection.vendor)
    if want is None:  # SQLite: no advisory locks, other savepoints; the PostgreSQL pin bounds it
        assert statements <= max(pins.values()) + 10, log
    else:
        assert statements == want, f"{statements} statements, pinned at {want}; update the pin if intended:\n{log}"


@pytest.mark.django_db(transaction=True)
def test_a_returning_donors_whole_donation_query_pin(client, live_campaign, monkeypatch):
    warm(client, live_campaign)
    statements, transactions, savepoints, log = whole_donation(client, live_campaign, monkeypatch)
    print(f"P4 returning donor: {statements} statements, {transactions} transactions, {savepoints} savepoint stmts")
    gifts = Donation.objects.order_by("pk")
    assert [d.status for d in gifts] == [DonationStatus.SUCCEEDED] * 2
    assert run_checks() == []
    check_pin(statements, PINS_RETURNING, log)
    assert transactions == PIN_TRANSACTIONS, log
    if connection.vendor == "postgresql":
        assert savepoints == SAVEPOINT_STATEMENTS, log


@pytest.mark.django_db(transaction=True)
def test_a_new_donors_whole_donation_query_pin(client, live_campaign, monkeypatch):
    warm(client, live_campaign)
    first, last, code = codice_fiscale_for(77)
    statements, transactions, _savepoints, log = whole_donation(
        client,
        live_campaign,
        monkeypatch,
        first_name=first,
        last_name=last,
        codice_fiscale=code,
        email="nuova.donatrice@example.org",
    )
    print(f"P4 new donor: {statements} statements, {transactions} transactions")
    assert Donation.objects.filter(status=DonationStatus.SUCCEEDED).count() == 2
    assert Donation.objects.exclude(person=gifts_person(live_campaign)).count() == 1  # a person of her own
    assert run_checks() == []
    check_pin(statements, PINS_NEW, log)
    assert transactions == PIN_TRANSACTIONS, log


def gifts_person(campaign: Any) -> Any:
    return Donation.objects.filter(campaign=campaign).order_by("pk").first().person  # type: ignore[union-attr]


@pytest.mark.xfail(strict=True, reason="issue 14 P4 not met yet: see docs/benchmarks.md, 'P4 — whole donation'")
@pytest.mark.django_db(transaction=True)
def test_a_returning_donors_whole_donation_meets_the_p4_goal(client, live_campaign, monkeypatch):
    warm(client, live_campaign)
    statements, transactions, _savepoints, log = whole_donation(client, live_campaign, monkeypatch)
    assert statements <= GOAL_RETURNING and transactions <= GOAL_TRANSACTIONS, log
