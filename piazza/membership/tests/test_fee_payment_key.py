"""ADR 0037 (issue 14, P4): donations create their payment without looking up its creation key, but a
membership fee's payment can be started again (the status page's link, a second join tab), so its
path still looks the key up and answers with the payment already made."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from piazza.membership.payments import start_online_payment
from piazza.payments.models import Payment

from .conftest import join

pytestmark = pytest.mark.usefixtures("schedule", "check_ledger")


def test_a_fee_payment_started_again_is_looked_up_by_its_key_and_not_made_twice(tree):
    membership = join(tree)
    with CaptureQueriesContext(connection) as first_log:
        first = start_online_payment(membership, actor=None)
    with CaptureQueriesContext(connection) as again_log:
        again = start_online_payment(membership, actor=None)
    assert again.pk == first.pk
    assert Payment.objects.filter(creation_key=f"membership:{membership.pk}").count() == 1
    for log in (first_log, again_log):
        assert any(q["sql"].startswith("SELECT") and "creation_key" in q["sql"] for q in log.captured_queries)
