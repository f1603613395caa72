"""Rule F3 for fees: a numbered receipt per receiving share of a fee (M8), at the desk, online and for
the Albo election fee; a refund issues numbered cancellations (issue 13)."""

from __future__ import annotations

import pytest

from piazza.compliance.models import Receipt, ReceiptKind
from piazza.membership.actions import albo as albo_actions
from piazza.membership.actions import payment as payment_actions
from piazza.membership.models import ElectionRegistration, Membership, PaymentMethod, Status
from piazza.membership.payments import start_election_fee, start_online_payment
from piazza.payments.actions.lifecycle import pay
from piazza.payments.actions.refunds import refund_payment

from .conftest import join
from .test_desk_and_albo import CARD, _supporter_data, primaries  # noqa: F401 (the fixture)

pytestmark = [pytest.mark.usefixtures("schedule", "check_ledger"), pytest.mark.django_db]


def receipts(source: str, pk: int) -> list[Receipt]:
    return list(Receipt.objects.filter(source=source, source_id=pk).select_related("entity").order_by("pk"))


def test_a_desk_fee_gets_one_receipt_per_receiving_share_and_the_paper_number_is_the_federations(tree, secretary):
    """Rules F3 and M8: the €20 fee goes to the national level and to the federation; each issues
    its own numbered receipt; the paper receipt of the desk carries the federation's number."""
    m = payment_actions.record_payment_at_circolo(
        actor=secretary, membership=join(tree), method=PaymentMethod.POS, reference="POS 9"
    )
    issued = receipts("membership.membership", m.pk)
    assert {r.entity_id for r in issued} == {tree.national.pk, tree.bologna.pk}
    assert sum(r.amount_cents for r in issued) == m.fee_cents
    assert all(r.method == "pos" and r.traceable and r.display_number == "2026/000001" for r in issued)
    assert m.cash_receipt_number == "2026/000001"
    [federation] = [r for r in issued if r.entity_id == tree.bologna.pk]
    assert federation.territory_id == tree.bologna.pk and "Quota di iscrizione 2026" in federation.purpose


def test_cash_at_the_desk_is_receipted_as_not_traceable(tree, secretary, cash_allowed):
    """Rule F8 on the receipt: cash gives no tax credit, and the receipt says so."""
    m = payment_actions.record_payment_at_circolo(actor=secretary, membership=join(tree), method=PaymentMethod.CASH)
    issued = receipts("membership.membership", m.pk)
    assert issued and all(not r.traceable and "non dà diritto" in r.tax_note for r in issued)


def test_an_online_fee_is_receipted_and_its_refund_cancelled_in_the_same_sequences(tree):
    """Rule F3: online payment → receipts; refund → one numbered cancellation per receipt."""
    m = join(tree)
    payment = start_online_payment(m, actor=None, provider="sandbox")
    pay(actor=None, payment=payment, client_key="fee-1", data=CARD, return_url="")
    assert Membership.objects.get(pk=m.pk).status == Status.EFFECTIVE
    originals = receipts("membership.membership", m.pk)
    assert len(originals) == 2
    payment.refresh_from_db()
    refund_payment(actor=None, payment=payment, reason="doppio pagamento")
    everything = receipts("membership.membership", m.pk)
    cancellations = [r for r in everything if r.kind == ReceiptKind.CANCELLATION]
    assert {(c.cancels_id, c.amount_cents) for c in cancellations} == {(o.pk, o.amount_cents) for o in originals}
    assert all(c.number == 2 and c.entity_id == c.cancels.entity_id for c in cancellations)  # type: ignore[union-attr]


def test_the_albo_election_fee_is_receipted_by_the_level_holding_the_election(tree, primaries):  # noqa: F811
    """Rule F3 for the Albo fee: receipted by the national level (the election's territory)."""
    supporter = albo_actions.register_supporter(actor=None, data=_supporter_data(), election=primaries)
    registration = ElectionRegistration.objects.get(supporter=supporter)
    payment = start_election_fee(registration, actor=None, provider="sandbox")
    pay(actor=None, payment=payment, client_key="albo-r", data=CARD, return_url="")
    [receipt] = receipts("membership.electionregistration", registration.pk)
    assert receipt.entity_id == tree.national.pk and receipt.amount_cents == 200
    assert "Primarie 2026" in receipt.purpose
    payment.refresh_from_db()
    refund_payment(actor=None, payment=payment, reason="elezione annullata")
    kinds = [r.kind for r in receipts("membership.electionregistration", registration.pk)]
    assert kinds == [ReceiptKind.RECEIPT, ReceiptKind.CANCELLATION]
