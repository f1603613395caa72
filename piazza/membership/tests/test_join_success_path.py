"""The fee's success path after issue 14's P8 pass (ADR 0042): the handler is given a reference
holding only the membership's pk, reads the card block (M9) and the shared instrument (M24) with
its locked read, and hands the fee's receipt lines (F3) to the receipts itself. What it must keep
doing is tested here through the payments app, as a payer reaches it.
"""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from piazza.compliance.models import Receipt, ReceiptKind
from piazza.core.models import AuditEntry
from piazza.membership.actions import payment as payment_actions
from piazza.membership.cards import card_token
from piazza.membership.models import (
    AnomalyFlag,
    CardBlock,
    FlagKind,
    Membership,
    MembershipRules,
    Status,
    rules_at,
    rules_for,
)
from piazza.membership.payments import online_provider, start_online_payment
from piazza.payments.actions.lifecycle import pay
from piazza.payments.models import Payment
from piazza.payments.payables import notify
from piazza.people.models import TimelineEntry

from .conftest import join
from .test_performance import CARD, OTHER_CARD, _join_post

pytestmark = pytest.mark.usefixtures("schedule", "check_ledger")


def _paid_online(tree, key, card=CARD):
    membership = join(tree)
    payment = start_online_payment(membership, actor=None, provider="sandbox")
    pay(actor=None, payment=payment, client_key=key, data=card, return_url="")
    payment.refresh_from_db()
    return Membership.objects.get(pk=membership.pk), payment


def _fee_receipts(membership):
    return list(
        Receipt.objects.filter(source="membership.membership", source_id=membership.pk, kind=ReceiptKind.RECEIPT)
    )


def test_the_fee_gets_its_two_receipts_numbered_without_gaps_join_after_join(tree):
    """Rules F3 and M8: each join's national and federation shares, each entity's numbers 1, 2, 3."""
    joined = [_paid_online(tree, f"k{n}", card)[0] for n, card in enumerate((CARD, OTHER_CARD, CARD))]
    for membership in joined:
        issued = _fee_receipts(membership)
        assert {r.entity_id for r in issued} == {tree.national.pk, tree.bologna.pk}
        assert sum(r.amount_cents for r in issued) == membership.fee_cents
        assert all(r.donor_codice_fiscale == membership.person.codice_fiscale for r in issued)
        assert all(r.donor_address.endswith("Bologna") for r in issued)  # the residence comune, read with the row
    for entity in (tree.national, tree.bologna):
        numbers = sorted(Receipt.objects.filter(entity=entity).values_list("number", flat=True))
        assert numbers == [1, 2, 3]


def test_a_replayed_success_changes_nothing_and_issues_no_second_receipt(tree):
    """A webhook repeating the success: the handler (given the pk only) finds the fee paid and stops."""
    membership, payment = _paid_online(tree, "k1")
    before = (
        len(_fee_receipts(membership)),
        AuditEntry.objects.count(),
        TimelineEntry.objects.filter(person=membership.person).count(),
    )
    notify(payment, "succeeded")
    payment_actions.after_online_payment(payment=payment, membership=membership)
    again = Membership.objects.get(pk=membership.pk)
    assert (again.status, again.card_number, again.paid_at) == (
        Status.EFFECTIVE,
        membership.card_number,
        membership.paid_at,
    )
    assert before == (
        len(_fee_receipts(membership)),
        AuditEntry.objects.count(),
        TimelineEntry.objects.filter(person=membership.person).count(),
    )
    assert before[0] == 2


def test_a_blocked_card_is_paid_but_not_delivered(tree):
    """Rule M9: the block read with the locked membership still holds the card back."""
    membership = join(tree)
    CardBlock.objects.create(person=membership.person, territory=tree.bologna, reason="contributi da eletto")
    payment = start_online_payment(membership, actor=None, provider="sandbox")
    pay(actor=None, payment=payment, client_key="k1", data=CARD, return_url="")
    membership.refresh_from_db()
    assert membership.status == Status.PAID and membership.card_number and membership.delivery != "online"
    assert len(_fee_receipts(membership)) == 2  # the money is kept and receipted all the same


def test_a_second_join_with_the_same_card_is_flagged_the_first_is_not(tree):
    """Rule M24: the shared instrument, read with the locked membership, is flagged for review."""
    first, _payment = _paid_online(tree, "k1")
    assert first.payer_fingerprint
    assert not AnomalyFlag.objects.filter(kind=FlagKind.SHARED_INSTRUMENT).exists()  # its own row is not "another"
    second, _payment = _paid_online(tree, "k2")
    assert second.status == Status.EFFECTIVE
    flag = AnomalyFlag.objects.get(kind=FlagKind.SHARED_INSTRUMENT)
    assert sorted(flag.people.values_list("pk", flat=True)) == sorted([first.person_id, second.person_id])


def test_rules_at_reads_the_same_rules_as_rules_for(tree):
    """The rules found from the circolo's id alone: nearest ancestor's value, field by field."""
    MembershipRules.objects.create(territory=tree.national, max_per_instrument=5, objection_days=20)
    MembershipRules.objects.create(territory=tree.emilia, max_per_instrument=4)
    MembershipRules.objects.create(territory=tree.bologna, refuse_prepaid_cards=True)
    for territory in (tree.national, tree.emilia, tree.bologna, tree.bologna_centro, tree.milano):
        assert rules_at(territory.pk) == rules_for(territory), territory
    here = rules_at(tree.bologna_centro.pk)
    assert (here.max_per_instrument, here.objection_days, here.refuse_prepaid_cards) == (4, 20, True)
    assert rules_at(tree.milano.pk).refuse_prepaid_cards is False


def test_the_join_forms_payment_is_the_one_the_status_page_finds_again(client, tree):
    """The join form starts the payment without looking its key up (it has just made the
    membership); a later start for the same membership finds that payment, not a second one."""
    response = _join_post(client, tree.bologna_centro)
    assert response.status_code == 302
    membership = Membership.objects.get()
    made = Payment.objects.get(creation_key=f"membership:{membership.pk}")
    assert start_online_payment(membership, actor=None).pk == made.pk
    assert Payment.objects.count() == 1
    page = Client().get(reverse("membership:status", args=[card_token(membership)]))
    assert f"/pagamenti/{made.token}/" in page.content.decode()


def test_the_card_provider_is_stripe_when_configured_else_the_sandbox(settings):
    settings.STRIPE_SECRET_KEY, settings.STRIPE_PUBLISHABLE_KEY = "", ""
    assert online_provider() == "sandbox"
    settings.STRIPE_SECRET_KEY, settings.STRIPE_PUBLISHABLE_KEY = "sk_test_x", "pk_test_x"
    assert online_provider() == "stripe"
