"""Issue 10, finding 8, on PostgreSQL with real threads: ten simultaneous submits of the
donation form with one Idempotency-Key (a double click, a reload) all answer with the first
donation's payment page; none is a 500, and one donation is recorded."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse

from piazza.core.testing_threads import run_in_threads
from piazza.funding.models import Donation
from piazza.funding.tests.flows import form_data
from piazza.payments.models import Payment

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_ten_concurrent_submits_with_one_key_answer_the_first_donation(live_campaign, settings):
    # The public-form throttle (6 tries per code an hour) is not what this test is about.
    settings.PUBLIC_FORM_THROTTLE_PER_CODE = 100
    assert connection.vendor == "postgresql"
    data = form_data(live_campaign, idempotency_key="samekey0123456789")
    url = reverse("funding:donate", args=[live_campaign.slug])
    answers: list[tuple[int, str]] = []

    def submit() -> None:
        client = Client(raise_request_exception=False)
        response = client.post(url, data)
        answers.append((response.status_code, response.get("Location", "")))

    errors = run_in_threads([submit for _ in range(10)])
    assert errors == []
    assert len(answers) == 10
    assert [status for status, _ in answers] == [302] * 10, answers
    donation = Donation.objects.get()  # one donation, one payment
    payment = Payment.objects.get()
    assert donation.payment_id == payment.pk
    assert {location for _, location in answers} == {reverse("payments:pay", args=[payment.token])}
