"""Issue 11 item 16: a refusal a person reads names no rule id (M17, M9…); the audit entry of the
refusal keeps it, for the technician reading the log."""

import re

import pytest
from django.core.exceptions import ValidationError

from piazza.core.models import AuditEntry, AuditKind
from piazza.membership.actions.card import block_card, deliver_card
from piazza.membership.models import Delivery

from .conftest import join, paid

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("schedule")]
RULE_ID = re.compile(r"\b[MFGD]\d{1,2}\b")


def _last_refusal() -> AuditEntry:
    return AuditEntry.objects.filter(action="membership.deliver_card", kind=AuditKind.DENIED).latest("pk")


def test_card_before_payment_m17_refusal_has_no_rule_id(tree, secretary):
    m = join(tree)
    with pytest.raises(ValidationError) as refused:
        deliver_card(actor=secretary, membership=m, delivery=Delivery.CIRCOLO)
    text = " ".join(refused.value.messages)
    assert "dopo il pagamento" in text and not RULE_ID.search(text), text
    entry = _last_refusal()
    assert entry.data["rule"] == "M17" and not RULE_ID.search(entry.data["reason"])


def test_blocked_card_m9_refusal_has_no_rule_id(tree, secretary):
    m = paid(tree)
    block_card(actor=secretary, person=m.person, territory=tree.bologna_centro, reason="documento mancante")
    with pytest.raises(ValidationError) as refused:
        deliver_card(actor=secretary, membership=m, delivery=Delivery.CIRCOLO)
    text = " ".join(refused.value.messages)
    assert "documento mancante" in text and not RULE_ID.search(text), text
    assert _last_refusal().data["rule"] == "M9"
