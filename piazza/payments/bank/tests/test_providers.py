"""The `bank_transfer` and `sepa_dd` providers in the payments registry: a payment created by
any app is paid through the bank rails, booked once, and the clearing accounts return to zero."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from piazza.core.money import Money
from piazza.ledger.accounts import get_account
from piazza.ledger.queries import balance
from piazza.payments.actions import lifecycle as lifecycle_payments
from piazza.payments.bank.actions import collections as collections_actions
from piazza.payments.bank.actions import statements as statements_actions
from piazza.payments.bank.models import CollectionStatus, ExpectedTransfer, Mandate
from piazza.payments.bank.tests.camt_builder import CamtFile, Statement, Tx, build
from piazza.payments.bank.tests.camt_builder import Entry as CamtEntry
from piazza.payments.bank.tests.conftest import OUR_IBAN
from piazza.payments.models import State
from piazza.payments.providers.base import Capability
from piazza.payments.providers.registry import available_providers, get_provider

pytestmark = pytest.mark.usefixtures("check_ledger")


def _payment(bank, tree, provider, cents=2500, key="p1"):
    return lifecycle_payments.create_payment(
        actor=None,
        amount=Money(cents),
        allocations=[(bank.funds, Money(cents))],
        provider=provider,
        description="Donazione per il tetto",
        creation_key=key,
        payer_name="Maria Rossi",
        payer_email="maria@example.org",
        territory=tree.bologna_centro,
    )


def _clearing(provider):
    return get_account("provider_clearing", key=provider)


def test_both_rails_are_registered_with_their_capabilities(bank):
    assert get_provider("bank_transfer").has(Capability.ONE_OFF)
    assert get_provider("sepa_dd").has(Capability.MANDATE) and get_provider("sepa_dd").has(Capability.RECURRING)
    assert "sepa_dd" in [p.identifier for p in available_providers(Capability.MANDATE)]


def test_bank_transfer_payment_succeeds_when_the_statement_shows_it(
    bank, tree, client, django_capture_on_commit_callbacks
):
    payment = _payment(bank, tree, "bank_transfer")
    response = client.post(reverse("payments:pay", args=[payment.token]), {"idempotency_key": "k1"})
    assert response.status_code == 302 and response["Location"] == reverse("bank:pay_by_transfer", args=[payment.token])
    page = client.get(response["Location"]).content.decode()
    expected = ExpectedTransfer.objects.get(payment=payment)
    assert OUR_IBAN in page and expected.reference[:4] in page and "<svg" in page
    with django_capture_on_commit_callbacks(execute=True):
        statements_actions.import_statement(
            actor=bank.anna,
            territory=tree.bologna,
            filename="s.xml",
            data=build(
                CamtFile(
                    statements=[
                        Statement(
                            OUR_IBAN,
                            [CamtEntry([Tx(2500, "Maria Rossi", reference=expected.reference)], bank_reference="P1")],
                        )
                    ]
                )
            ),
        )
    payment.refresh_from_db()
    assert payment.state == State.SUCCEEDED
    assert balance(bank.funds) == Money(2500)
    assert balance(_clearing("bank_transfer")) == Money(0)


def test_sepa_dd_payment_mandate_collection_and_return(bank, tree, client, django_capture_on_commit_callbacks):
    payment = _payment(bank, tree, "sepa_dd", cents=1500, key="p2")
    refused = client.post(
        reverse("payments:pay", args=[payment.token]),
        {
            "idempotency_key": "k2",
            "debtor_name": "Nicolò Dell'Acqua",
            "debtor_iban": "IT64Y0542811101000000123456",
            "consent": "on",
        },
    )
    assert "CIN" in refused.content.decode() and not Mandate.objects.exists()
    response = client.post(
        reverse("payments:pay", args=[payment.token]),
        {
            "idempotency_key": "k3",
            "debtor_name": "Nicolò Dell'Acqua",
            "debtor_iban": "IT25O0306909606100000012345",
            "consent": "on",
        },
    )
    assert response.status_code == 302
    mandate = Mandate.objects.get()
    assert "8 settimane" in mandate.consent_text and mandate.debtor_email == "maria@example.org"
    collection = mandate.collections.get()
    assert collection.payment == payment
    batch = collections_actions.prepare_batch(actor=bank.anna, creditor=bank.account, due_date=collection.due_date)
    collections_actions.export_batch(actor=bank.anna, batch=batch)
    with django_capture_on_commit_callbacks(execute=True):
        statements_actions.import_statement(
            actor=bank.anna,
            territory=tree.bologna,
            filename="c.xml",
            data=build(
                CamtFile(
                    statements=[
                        Statement(
                            OUR_IBAN,
                            [
                                CamtEntry(
                                    [Tx(1500, end_to_end_id=collection.end_to_end_id)],
                                    batch_pmt_inf_id=f"{batch.message_id}-DD1",
                                    bank_reference="C1",
                                    detailed=False,
                                )
                            ],
                        )
                    ]
                )
            ),
        )
    payment.refresh_from_db()
    assert payment.state == State.SUCCEEDED and balance(bank.funds) == Money(1500)
    with django_capture_on_commit_callbacks(execute=True):
        statements_actions.import_statement(
            actor=bank.anna,
            territory=tree.bologna,
            filename="r.xml",
            data=build(
                CamtFile(
                    message_id="R",
                    statements=[
                        Statement(
                            OUR_IBAN,
                            [
                                CamtEntry(
                                    [
                                        Tx(
                                            1500,
                                            "Nicolò Dell'Acqua",
                                            end_to_end_id=collection.end_to_end_id,
                                            return_reason="MD06",
                                        )
                                    ],
                                    credit=False,
                                    family="RDDT/UPDD",
                                    bank_reference="R1",
                                )
                            ],
                        )
                    ],
                )
            ),
        )
    payment.refresh_from_db()
    collection.refresh_from_db()
    assert collection.status == CollectionStatus.FAILED
    assert payment.state == State.CHARGED_BACK  # the debtor took the money back: the gift is reversed
    assert balance(bank.funds) == Money(0)
    assert balance(_clearing("sepa_dd")) == Money(0)
    assert not hasattr(collection, "retry")


def test_mandate_without_consent_is_refused_on_the_payment_page(bank, tree, client):
    payment = _payment(bank, tree, "sepa_dd", key="p3")
    response = client.post(
        reverse("payments:pay", args=[payment.token]),
        {"idempotency_key": "k4", "debtor_name": "Maria Rossi", "debtor_iban": "IT25O0306909606100000012345"},
    )
    assert "devi autorizzare il mandato" in response.content.decode()
    assert not Mandate.objects.exists()
    with pytest.raises(ValidationError):
        get_provider("sepa_dd").start(
            payment,
            payment.attempts.first() or _attempt(payment),
            {"debtor_name": "X", "debtor_iban": "IT25O0306909606100000012345"},
            "",
        )


def _attempt(payment):
    attempt, _created = lifecycle_payments.begin_attempt(actor=None, payment=payment, client_key="direct")
    return attempt
