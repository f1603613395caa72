"""P8: the SQL a join costs, pinned step by step (a regression shows up here, not in a benchmark).

Budgets are the counts measured on PostgreSQL after the P8 work (savepoints included); SQLite
runs the same statements. Which app each statement belongs to is listed in docs/benchmarks.md.
"""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from piazza.core.testing_queries import exact_queries
from piazza.membership.actions import join as join_actions
from piazza.membership.actions import payment as payment_actions
from piazza.membership.models import Membership, Status
from piazza.membership.payments import start_online_payment
from piazza.payments.actions.lifecycle import pay
from piazza.people.tests.notices import shown

from .conftest import YEAR, join_data

pytestmark = pytest.mark.usefixtures("schedule", "check_ledger")

CARD = {"card_number": "4242424242424242", "expiry": "12/39", "cvc": "123"}
# The warm-up join pays with another card: the same card twice is a shared instrument (M24),
# flagged for the commission, which is not the surge's typical join.
OTHER_CARD = {**CARD, "card_number": "4000056655665556"}
# apply_for_membership: 12 of membership (fee year, rules, circolo check, duplicate check, fee,
# INSERT membership, Albo upsert, audit, savepoints) + 15 of people.find_or_create_person.
# +4: the audit chain reads its head per entry, and takes its advisory lock on PostgreSQL (ADR 0014).
# +1 (issue 12): a caller showing no notice reads the join notice's version in force (art9_text_version).
# Issue 14 (P4, P7, P8) since: 21 measured, the test's own comune read (`join_data`) included; the person's
# entry and the application's written in one INSERT (ADR 0032, P8) −1.
APPLY_BUDGET = 21  # was 33
START_PAYMENT_BUDGET = 11  # +2: the audit chain (ADR 0014); 11 measured since issue 14 (P4: accounts cached)
# pay: payments and ledger, then the membership handler (one locked read, rules, card block,
# the card number UPDATE in a savepoint, voting circolo, one audit and one timeline entry) and
# the card email task (run inline in tests).
# +5 for F6/F14 in both: the rule set when not cached, three channel totals, the donor lock (PostgreSQL).
# +5 (issue 11 item 6): rule M24 checked before the charge (the membership, its circolo, the
# rules, the count of memberships paid with the card) and the shared-instrument check of
# `_flag_instrument`, which online payments reach now that the providers report a fingerprint.
# +13 (issue 13, rule F3): the fee's two numbered receipts (national and federation shares): the fee's
# lines (membership, its territories), the receipts already issued, the issuing levels, the person, per
# receipt the counter's SELECT … FOR UPDATE and UPDATE and the INSERT, one audit entry with its chain.
# +1: services in kind count toward F6 (the donor register).
# Issue 14 (P4: ledger batch, receipt counter UPDATE … RETURNING, audit entries at the end) brought it to 49;
# P8 (ADR 0042) −9: M24's rules from the circolo's id (−1), no payable read for the handler (−1), no savepoint
# around it (−2), card block and shared instrument read with the locked row (−2), the receipt lines from
# that row with its person, and no look-up of receipts for a fee that has just left "applied" (−3).
# SQLite: 47, the ledger posting row by row (the one-statement batch of ADR 0033 is PostgreSQL's).
PAY_BUDGETS = {"postgresql": 40, "sqlite": 47}  # was 91 for both; 61 before the audit chain (ADR 0014), 67 before
# F6 fees and M24 online, 77 before receipts
# +22 (rule F3): as above, and this first fee of the year also creates the two counter rows (a savepoint,
# an INSERT and a second locked read each). Issue 14 since: 27 measured (the P8 cuts above; called
# directly and cold: the finance rules read, its two audit entries written at once, outside a block).
HANDLER_BUDGET = 27  # was 41 (+1 audit chain, +5 F6/F14, +1 services in kind)
REPLAY_BUDGET = 1  # was 3: a replayed success reads the locked row and stops (no savepoint since P8)


def _join(tree, key, card=CARD):
    with CaptureQueriesContext(connection) as applying:
        membership = join_actions.apply_for_membership(
            actor=None, data=join_data(), circolo=tree.bologna_centro, year=YEAR
        )
    with CaptureQueriesContext(connection) as starting:
        payment = start_online_payment(membership, actor=None, provider="sandbox")
    with CaptureQueriesContext(connection) as paying:
        pay(actor=None, payment=payment, client_key=key, data=card, return_url="")
    return membership, len(applying), len(starting), len(paying)


def test_join_query_budget(tree, django_capture_on_commit_callbacks):
    _join(tree, "warm-up", OTHER_CARD)  # first use of accounts and content types
    with django_capture_on_commit_callbacks(execute=True):
        membership, applying, starting, paying = _join(tree, "measured")
    membership.refresh_from_db()
    assert membership.status == Status.EFFECTIVE
    assert applying <= APPLY_BUDGET, applying
    assert starting <= START_PAYMENT_BUDGET, starting
    assert paying <= PAY_BUDGETS.get(connection.vendor, max(PAY_BUDGETS.values())), paying


def test_payment_handler_budget(tree):
    """The membership side of a successful payment alone: both transitions in one locked pass."""
    membership = join_actions.apply_for_membership(actor=None, data=join_data(), circolo=tree.bologna_centro, year=YEAR)
    payment = start_online_payment(membership, actor=None, provider="sandbox")
    with CaptureQueriesContext(connection) as handling:
        done = payment_actions.after_online_payment(payment=payment, membership=membership)
    assert done.status == Status.EFFECTIVE and done.card_number
    assert len(handling) <= HANDLER_BUDGET, [q["sql"][:80] for q in handling.captured_queries]
    with CaptureQueriesContext(connection) as again:
        payment_actions.after_online_payment(payment=payment, membership=membership)
    assert len(again) <= REPLAY_BUDGET, [q["sql"][:80] for q in again.captured_queries]  # idempotent


def _join_post(client, circolo, notice=None, data=None):
    data = join_data() if data is None else data  # built before a count, it costs no statement there
    notice = shown("join") if notice is None else notice  # what the page posts back
    return client.post(
        reverse("membership:join") + "?comune=Bologna",
        {
            "first_name": data.first_name,
            "last_name": data.last_name,
            "sex": data.sex,
            "birth_date": data.birth_date.isoformat(),
            "birth_place": "Bologna",
            "codice_fiscale": data.codice_fiscale,
            "citizenship": "italian",
            "residence_street": "Via Rizzoli 1",
            "residence_cap": "40125",
            "email": f"{data.codice_fiscale.lower()}@example.org",
            "phone": "",
            "circolo": circolo.pk,
            "member_of_other_party": "no",
            "declarations_accepted": "on",
            "art9_authorised": "on",
            **notice,
        },
    )


# The join form's POST, pinned exactly (issue 11 item 24): any statement added or removed fails and lists them.
# +2 (issue 12): the privacy notice version shown is checked (one read) and recorded (one insert).
# −8 (issue 14, P4): later audit entries of a transaction reuse the chain head it holds; ledger
# accounts cached per process. −5 (issue 14, P4 second pass): a new person's duplicate check reuses the
# candidates, e-mails and phones `find_or_create_person` has just read.
# −3 (issue 14, P8): the page's fee quote (fee year, regional surcharge) is computed only when the page
# is shown, and the chosen circolo is the option already read, not read again.
# −2 (issue 14, P7, ADR 0041): the new member's duplicate candidates (code, birth date, e-mail) in one statement.
# −7 (issue 14, P8, ADR 0042): the birth comune is the residence comune already read (−1); the card provider
# without asking the bank rails (−2); the person's e-mails read once for the payment and the link (−1); the
# payment's key not looked up (the membership is new) and the payment with the link's entry in one
# transaction (−3 statements in all, one transaction less).
# −3 (issue 14, P8, ADR 0050): the new person's e-mails, phones and tags are not read back after its INSERT.
# −4 on PostgreSQL (issue 14, P4 fifth pass, ADR 0046): the payment's allocations and event, the notice
# acceptance and the new person's timeline entry are sent with the audit entries in one statement.
# −1 (issue 14, P4, ADR 0048): the notice version shown is kept per process (the warm-up POST read it).
JOIN_POST_PINS = {"sqlite": 31, "postgresql": 27}


def test_join_post_query_pin(client, tree):
    _join_post(client, tree.bologna_centro)  # warm-up: content types, accounts, the per-process caches
    notice = shown("join")
    with exact_queries(JOIN_POST_PINS, "join POST", at_most=APPLY_BUDGET + START_PAYMENT_BUDGET + 30):
        response = _join_post(client, tree.bologna_centro, notice)
    assert response.status_code == 302, response.content.decode()[:500]
    assert Membership.objects.count() == 2
