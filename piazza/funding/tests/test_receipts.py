"""Rule F3: a numbered receipt for every gift, gap-free per issuing entity per year, immutable, with
numbered cancellations for refunds and chargebacks; the treasurers' register (issue 13)."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from typing import Any

import pytest
from django.core import mail
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.urls import reverse

from piazza.compliance import receipts as receipts_actions
from piazza.compliance.models import FinanceRuleSet, Receipt, ReceiptCounter, ReceiptKind
from piazza.core.db import PURGE_FLAG_TABLE
from piazza.core.models import AuditEntry, AuditKind
from piazza.core.money import Money
from piazza.core.testing_threads import run_in_threads
from piazza.funding.actions import donations as donations_actions
from piazza.funding.models import Donation
from piazza.funding.tests.flows import give, pay_donation, payment_of, submit
from piazza.payments.actions.refunds import refund_payment
from piazza.payments.actions.sync import reconcile_payment
from piazza.payments.providers.registry import get_provider
from piazza.territory.models import Role
from piazza.territory.testing import make_official, verified_client

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("check_ledger")]


def receipts_of(donation: Donation) -> list[Receipt]:
    return list(Receipt.objects.filter(source="funding.donation", source_id=donation.pk).order_by("pk"))


def test_a_gift_gets_one_numbered_receipt_from_its_federation_with_the_donor_data_copied(
    live_campaign, tree, django_capture_on_commit_callbacks
):
    """Rule F3 (and F8 on the receipt): one receipt per contribution line, issued by the nearest
    issuing level above the circolo (its federation), with what the law asks copied in."""
    with django_capture_on_commit_callbacks(execute=True):
        donation = give(live_campaign, 2_500)
    [receipt] = receipts_of(donation)
    assert receipt.kind == ReceiptKind.RECEIPT
    assert receipt.entity_id == tree.bologna.pk and receipt.territory_id == tree.bologna_centro.pk
    assert (receipt.year, receipt.number, receipt.display_number) == (2026, 1, "2026/000001")
    assert receipt.amount_cents == donation.total_cents
    assert receipt.donor_name == "Giulia Rossi" and receipt.donor_codice_fiscale == donation.codice_fiscale
    assert receipt.donor_person_id == donation.person_id and receipt.method == "card"
    assert receipt.traceable and "detrazione" in receipt.tax_note  # rule F8
    assert live_campaign.title in receipt.purpose
    # The thank-you email carries it (rule F3: emailed).
    [email] = [m for m in mail.outbox if "Ricevuta" in m.subject]
    assert "2026/000001" in email.body
    [(name, content, mimetype)] = email.attachments
    assert mimetype == "application/pdf" and content.startswith(b"%PDF") and "2026-000001" in name
    assert AuditEntry.objects.filter(action="compliance.issue_receipts", data__numbers=["2026/000001"]).exists()


def test_numbers_run_per_issuing_entity_and_the_format_and_levels_are_parameters(live_campaign, tree):
    """Rule F3 (open parameters): the format and the issuing levels come from the rule set."""
    first = give(live_campaign, 1_000, n=1)
    FinanceRuleSet.objects.create(
        valid_from=tree_day(), receipt_number_format="R{year}-{number}", receipt_issuing_levels="national,region"
    )
    second = give(live_campaign, 1_000, n=2)
    [a], [b] = receipts_of(first), receipts_of(second)
    assert a.entity_id == tree.bologna.pk and a.display_number == "2026/000001"
    # Federations no longer issue: the region does, starting its own sequence at 1.
    assert b.entity_id == tree.emilia.pk and b.display_number == "R2026-1"


def tree_day() -> Any:
    from django.utils import timezone

    return timezone.localdate()


def test_a_rolled_back_transaction_gives_its_number_back(live_campaign):
    """Rule F3, gap-free: the counter is bumped in the contribution's transaction, so a rollback
    frees the number and the next gift takes it (a sequence would have skipped it)."""
    give(live_campaign, 1_000, n=1)
    pending = submit(live_campaign, 2_000, n=2)

    class Abort(Exception):
        pass

    with pytest.raises(Abort), transaction.atomic():
        donations_actions.donation_succeeded(pending.pk)
        assert [r.number for r in receipts_of(pending)] == [2]
        raise Abort
    assert receipts_of(pending) == []
    Donation.objects.filter(pk=pending.pk).update(status="failed")  # abandoned: never paid
    third = give(live_campaign, 3_000, n=3)
    assert [r.number for r in receipts_of(third)] == [2]
    assert sorted(Receipt.objects.values_list("number", flat=True)) == [1, 2]


def test_a_replayed_success_issues_nothing_twice(live_campaign):
    """Rule F3, idempotent: a replayed webhook (success called again) finds the line receipted."""
    donation = give(live_campaign, 2_500)
    donations_actions.donation_succeeded(donation.pk)
    assert receipts_actions.issue_receipts_for("funding.donation", donation.pk, actor=None) == []
    assert len(receipts_of(donation)) == 1
    assert ReceiptCounter.objects.get().last_number == 1


def test_a_partial_refund_issues_a_numbered_cancellation_and_a_replay_does_not(live_campaign):
    """Rule F3: a refund is a numbered nota di storno referring to the original, never an edit."""
    donation = give(live_campaign, 5_000)
    [original] = receipts_of(donation)
    payment = payment_of(donation)
    refund = refund_payment(actor=None, payment=payment, amount=Money(2_000), reason="richiesta del donatore")
    cancellations = [r for r in receipts_of(donation) if r.kind == ReceiptKind.CANCELLATION]
    [storno] = cancellations
    assert storno.cancels_id == original.pk and storno.amount_cents == 2_000
    assert storno.entity_id == original.entity_id and storno.number == original.number + 1
    assert storno.display_number == "2026/000002" and original.display_number in storno.purpose
    assert storno.cancel_key == f"refund:{refund.pk}"
    original.refresh_from_db()
    assert original.amount_cents == donation.total_cents  # untouched
    # The same refund reported again: nothing new.
    receipts_actions.cancel_receipts_for(
        "funding.donation", donation.pk, actor=None, key=f"refund:{refund.pk}", amount_cents=2_000
    )
    assert len(receipts_of(donation)) == 2
    # The rest refunded later: a second cancellation for what was left.
    refund_payment(actor=None, payment=payment, reason="il resto")
    amounts = [r.amount_cents for r in receipts_of(donation) if r.kind == ReceiptKind.CANCELLATION]
    assert amounts == [2_000, donation.total_cents - 2_000]


def test_a_lost_chargeback_issues_a_cancellation(live_campaign):
    """Rule F3: a chargeback cancels the receipt's amount with a numbered storno."""
    donation = give(live_campaign, 4_000)
    payment = payment_of(donation)
    provider = get_provider("sandbox")
    dispute = provider.simulate_dispute(payment.provider_reference, status="open")  # type: ignore[attr-defined]
    reconcile_payment(actor=None, payment=payment)
    assert [r.kind for r in receipts_of(donation)] == [ReceiptKind.RECEIPT]  # open: nothing yet
    provider.simulate_dispute(payment.provider_reference, status="lost", dispute_id=dispute)  # type: ignore[attr-defined]
    reconcile_payment(actor=None, payment=payment)
    original, storno = receipts_of(donation)
    assert storno.kind == ReceiptKind.CANCELLATION and storno.cancels_id == original.pk
    assert storno.amount_cents == original.amount_cents and storno.cancel_key.startswith("dispute:")


def test_receipts_are_immutable_in_the_database(live_campaign):
    """Rule F3, convention 10: the table refuses UPDATE and DELETE (trigger, PostgreSQL and SQLite)."""
    donation = give(live_campaign, 2_500)
    [receipt] = receipts_of(donation)
    with pytest.raises((IntegrityError, DatabaseError)), transaction.atomic():
        Receipt.objects.filter(pk=receipt.pk).update(amount_cents=1)
    with transaction.atomic():
        with connection.cursor() as cursor:  # production has no purge flag (the test suite's own)
            cursor.execute(f"DELETE FROM {PURGE_FLAG_TABLE}")
        with pytest.raises((IntegrityError, DatabaseError)), transaction.atomic():
            Receipt.objects.filter(pk=receipt.pk).delete()
        transaction.set_rollback(True)
    receipt.refresh_from_db()
    assert receipt.amount_cents == donation.total_cents


def test_the_donor_downloads_the_receipt_from_the_thank_you_page_and_a_stranger_cannot(live_campaign, client):
    """Rule F3: downloadable by the donor with the link they hold; another gift's receipt id is 404."""
    mine = give(live_campaign, 2_500, n=1)
    other = give(live_campaign, 1_000, n=2)
    [receipt] = receipts_of(mine)
    [not_mine] = receipts_of(other)
    page = client.get(reverse("funding:donation", args=[mine.manage_token]))
    url = reverse("funding:donation_receipt", args=[mine.manage_token, receipt.pk])
    assert url in page.content.decode()
    pdf = client.get(url)
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf" and pdf.content.startswith(b"%PDF")
    assert client.get(reverse("funding:donation_receipt", args=[mine.manage_token, not_mine.pk])).status_code == 404
    assert client.get(reverse("funding:donation_receipt", args=["x" * 43, receipt.pk])).status_code == 404


def test_the_treasurers_register_is_scoped_searchable_exported_and_audited(live_campaign, tree):
    """Rule F3 with convention 11 and G4: the federation's treasurer sees Bologna's receipts, a
    Modena treasurer none of them (404 on the PDF); search, PDF and CSV are audited."""
    donation = give(live_campaign, 2_500)
    [receipt] = receipts_of(donation)
    bologna = verified_client(make_official("tesoriere.bo", tree.bologna, [Role.TREASURY]))
    modena = verified_client(make_official("tesoriere.mo", tree.modena, [Role.TREASURY]))

    page = bologna.get(reverse("compliance:receipts"), {"q": "2026/000001"})
    assert page.status_code == 200 and "Giulia Rossi" in page.content.decode()
    assert "Giulia Rossi" not in bologna.get(reverse("compliance:receipts"), {"q": "2026/000009"}).content.decode()
    assert "Giulia Rossi" in bologna.get(reverse("compliance:receipts"), {"q": "rossi"}).content.decode()
    assert AuditEntry.objects.filter(action="compliance.view_receipts", kind=AuditKind.VIEW).exists()
    pdf = bologna.get(reverse("compliance:receipt", args=[receipt.pk]))
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert AuditEntry.objects.filter(action="compliance.view_receipt", kind=AuditKind.VIEW).exists()
    export = bologna.get(reverse("compliance:receipts_export"))
    rows = list(csv.reader(io.StringIO(export.content.decode("utf-8-sig")), delimiter=";"))
    assert rows[1][1] == "2026/000001" and rows[1][5] == "Giulia Rossi"
    assert AuditEntry.objects.filter(action="compliance.export_receipts", kind=AuditKind.EXPORT).exists()

    assert "Giulia Rossi" not in modena.get(reverse("compliance:receipts")).content.decode()
    assert modena.get(reverse("compliance:receipt", args=[receipt.pk])).status_code == 404
    rows = list(csv.reader(io.StringIO(modena.get(reverse("compliance:receipts_export")).content.decode("utf-8-sig"))))
    assert len(rows) == 1  # the header only
    # The register is reachable from the back-office navigation.
    assert reverse("compliance:receipts") in bologna.get(reverse("web:dashboard")).content.decode()


def test_bad_receipt_parameters_are_refused_with_a_message(tree):
    """Rule F3 parameters: a format or a level list that could not number a receipt is refused."""
    from django.core.exceptions import ValidationError

    for fields, words in (
        ({"receipt_number_format": "{anno}/{number}"}, "Formato non valido"),
        ({"receipt_number_format": "{year}"}, "deve contenere {number}"),
        ({"receipt_issuing_levels": "region,federation"}, "sempre con national"),
        ({"receipt_issuing_levels": "national,provincia"}, "sempre con national"),
    ):
        with pytest.raises(ValidationError, match=words):
            FinanceRuleSet(valid_from=tree_day(), **fields).full_clean()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_parallel_gifts_get_every_number_once_with_no_gap_even_with_a_rollback(live_campaign):
    """Rule F3 under concurrency (PostgreSQL, threads on their own connections): twelve gifts paid at
    once to one federation, and one transaction that numbers a receipt and rolls back, leave the
    numbers 1…12: none twice, none missing."""
    assert connection.vendor == "postgresql"
    donations = [submit(live_campaign, 1_000 + i, n=i + 1) for i in range(12)]
    doomed = submit(live_campaign, 777, n=40)

    class Abort(Exception):
        pass

    def roll_back() -> None:
        try:
            with transaction.atomic():
                donations_actions.donation_succeeded(doomed.pk)
                raise Abort
        except Abort:
            pass

    jobs: list[Callable[[], Any]] = [lambda d=d: pay_donation(d) for d in donations]  # type: ignore[misc]
    jobs.append(roll_back)
    errors = run_in_threads(jobs)
    from piazza.funding.tests.test_concurrency import reconcile_deadlock_victims

    reconcile_deadlock_victims(errors)
    numbers = sorted(Receipt.objects.values_list("number", flat=True))
    assert numbers == list(range(1, 13))
    assert Receipt.objects.filter(source_id=doomed.pk).count() == 0
    assert ReceiptCounter.objects.get().last_number == 12
