"""Treasury pages (scoped, audited), resuming a paused schedule, the admin and the dashboard."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from piazza.core.models import AuditEntry, AuditKind
from piazza.core.money import Money
from piazza.payments.actions import lifecycle as lifecycle_actions
from piazza.payments.actions import recurring as recurring_actions
from piazza.payments.models import RecurringSchedule, ScheduleState, State, WebhookEvent
from piazza.payments.queries import dashboard_section
from piazza.payments.tasks import run_due_charges
from piazza.territory.models import Role
from piazza.territory.testing import make_official, verified_client

pytestmark = pytest.mark.usefixtures("check_ledger")
OK = "4242424242424242"


def paid(payment, card=OK):
    lifecycle_actions.pay(
        actor=None, payment=payment, client_key=f"k{payment.pk}", data={"card_number": card}, return_url="/"
    )
    payment.refresh_from_db()
    return payment


@pytest.fixture
def paused(tree, split_accounts, settings):
    """A monthly gift whose saved card now fails, paused after the allowed failures."""
    settings.PAYMENTS_RECURRING_MAX_FAILURES = 1
    amount = Money(1000)
    schedule, first = recurring_actions.create_recurring(
        actor=None,
        amount=amount,
        allocations=list(zip(split_accounts, amount.allocate([80, 20]), strict=True)),
        provider="sandbox",
        description="Donazione mensile",
        creation_key="monthly-paused",
        payer_name="Giulia Rossi",
        payer_email="giulia@example.org",
        territory=tree.bologna_centro,
    )
    paid(first, card="4000000000000341")  # succeeds now, declined off-session later
    RecurringSchedule.objects.filter(pk=schedule.pk).update(next_charge_on=timezone.localdate())
    run_due_charges.call()
    schedule.refresh_from_db()
    assert schedule.state == ScheduleState.PAUSED
    return schedule


def _payer_client(email, django_capture_on_commit_callbacks):
    """A browser that opened the payer page of `email` through the link emailed there."""
    import re

    from django.core import mail

    client = Client()
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("payments:payer_page"), {"email": email})
    sent = [m for m in mail.outbox if m.to == [email]]
    link = re.search(r"/pagamenti/i-miei-pagamenti/accesso/\S+/", str(sent[-1].body)) if sent else None
    if link is not None:
        client.post(link.group(0))
    return client


def test_payer_resumes_from_their_page(paused, django_capture_on_commit_callbacks):
    client = _payer_client("giulia@example.org", django_capture_on_commit_callbacks)
    page = client.get(reverse("payments:payer_page"))
    resume = reverse("payments:payer_resume", args=[paused.token])
    assert resume in page.content.decode()
    response = client.post(resume, follow=True)
    assert "ripresa" in response.content.decode()
    paused.refresh_from_db()
    assert paused.state == ScheduleState.ACTIVE and paused.failure_count == 0 and paused.paused_at is None
    assert paused.next_charge_on == timezone.localdate()
    entry = AuditEntry.objects.get(action="payments.resume_schedule")
    assert entry.data["via"] == "payer_link"


def test_another_payer_or_a_stranger_cannot_resume(paused, split_accounts, tree, django_capture_on_commit_callbacks):
    other = lifecycle_actions.create_payment(
        actor=None,
        amount=Money(500),
        allocations=[(split_accounts[0], Money(500))],
        provider="sandbox",
        description="Contributo",
        creation_key="other-payer",
        payer_email="someone-else@example.org",
        territory=tree.bologna_centro,
    )
    paid(other)
    client = _payer_client("someone-else@example.org", django_capture_on_commit_callbacks)
    assert client.post(reverse("payments:payer_resume", args=[paused.token])).status_code == 404
    assert Client().post(reverse("payments:payer_resume", args=[paused.token])).status_code == 403
    paused.refresh_from_db()
    assert paused.state == ScheduleState.PAUSED


def test_treasurer_resumes_in_scope_only(paused, tree):
    outsider = make_official("tesoriere-modena", tree.modena, [Role.TREASURY])
    with pytest.raises(PermissionDenied):
        recurring_actions.resume_schedule(actor=outsider, schedule=paused, via="treasury")
    assert verified_client(outsider).post(reverse("payments:treasury_resume", args=[paused.pk])).status_code == 404

    anna = make_official("anna", tree.bologna, [Role.TREASURY])
    client = verified_client(anna)
    page = client.get(reverse("payments:treasury_schedules"))
    assert "Giulia Rossi" in page.content.decode()
    client.post(reverse("payments:treasury_resume", args=[paused.pk]))
    paused.refresh_from_db()
    assert paused.state == ScheduleState.ACTIVE
    assert AuditEntry.objects.exclude(kind="denied").get(action="payments.resume_schedule").actor_label == "anna"


def test_canceled_schedule_cannot_be_resumed(paused):
    recurring_actions.cancel_schedule(actor=None, schedule=paused)
    with pytest.raises(ValidationError, match="annullata"):
        recurring_actions.resume_schedule(actor=None, schedule=paused)
    assert AuditEntry.objects.filter(kind="denied", data__code="schedule_canceled").exists()


def test_resumed_schedule_is_charged_again(paused):
    recurring_actions.resume_schedule(actor=None, schedule=paused)
    run_due_charges.call()  # the saved card still declines: one new failure, paused again
    paused.refresh_from_db()
    assert paused.failure_count == 1 and paused.state == ScheduleState.PAUSED


def test_treasury_list_is_scoped_and_audited(tree, make_payment):
    ours = paid(make_payment(2500))
    anna = make_official("anna", tree.bologna, [Role.TREASURY])
    client = verified_client(anna)
    page = client.get(reverse("payments:treasury_payments"), {"stato": "succeeded"})
    assert page.status_code == 200 and "Giulia Rossi" in page.content.decode()
    assert AuditEntry.objects.filter(action="payments.treasury_list", kind=AuditKind.VIEW, actor_label="anna").exists()
    detail = client.get(reverse("payments:treasury_payment", args=[ours.pk]))
    assert detail.status_code == 200
    assert AuditEntry.objects.filter(action="payments.treasury_view", object_id=str(ours.pk)).exists()

    modena = make_official("tesoriere-modena", tree.modena, [Role.TREASURY])
    other = verified_client(modena)
    assert "Giulia Rossi" not in other.get(reverse("payments:treasury_payments")).content.decode()
    assert other.get(reverse("payments:treasury_payment", args=[ours.pk])).status_code == 404


def test_list_needs_treasury_and_2fa(tree):
    secretary = make_official("marco", tree.bologna_centro, [Role.ORGANISATION])
    assert verified_client(secretary).get(reverse("payments:treasury_payments")).status_code == 403
    anna = make_official("anna", tree.bologna, [Role.TREASURY])
    client = Client()
    client.force_login(anna)
    response = client.get(reverse("payments:treasury_payments"))
    assert response.status_code == 302 and "/accesso/2fa/" in response["Location"]


def test_dashboard_section_counts(tree, make_payment, paused):
    make_payment(1500)  # created, not yet pending
    failed = paid(make_payment(2000), card="4000000000000002")
    assert failed.state == State.FAILED
    WebhookEvent.objects.create(provider="sandbox", event_id="evt-x", payload="{}", status="unmatched")
    anna = make_official("anna", tree.bologna, [Role.TREASURY])
    section = dashboard_section(anna)
    assert section is not None
    template, context = section
    assert template == "payments/_dashboard.html"
    # the paused schedule's second cycle failed too
    assert context["failed"] == 2 and context["paused"] == 1
    assert context["unmatched"] is None  # webhooks are for the national treasury
    national = make_official("tesoreria-nazionale", tree.national, [Role.TREASURY])
    national_section = dashboard_section(national)
    modena_section = dashboard_section(make_official("modena", tree.modena, [Role.TREASURY]))
    assert national_section is not None and national_section[1]["unmatched"] == 1
    assert modena_section is not None and modena_section[1]["failed"] == 0
    assert dashboard_section(make_official("org", tree.bologna, [Role.ORGANISATION])) is None


def test_dashboard_renders_the_section(tree, paused):
    anna = make_official("anna", tree.bologna, [Role.TREASURY])
    page = verified_client(anna).get(reverse("web:dashboard"))
    assert "donazioni ricorrenti sospese" in page.content.decode()


def test_admin_is_read_only_and_audits_opening(national_admin, make_payment):
    payment = paid(make_payment(2500))
    client = verified_client(national_admin)
    assert client.get(reverse("admin:payments_payment_changelist")).status_code == 200
    response = client.get(reverse("admin:payments_payment_change", args=[payment.pk]))
    assert response.status_code == 200
    assert AuditEntry.objects.filter(action="admin.view", kind=AuditKind.VIEW, object_id=str(payment.pk)).exists()
    assert client.get(reverse("admin:payments_payment_add")).status_code == 403
    assert client.post(reverse("admin:payments_payment_delete", args=[payment.pk]), {"post": "yes"}).status_code == 403
    event = WebhookEvent.objects.create(provider="sandbox", event_id="evt-y", payload='{"email": "x@example.org"}')
    assert client.get(reverse("admin:payments_webhookevent_change", args=[event.pk])).status_code == 200
    assert AuditEntry.objects.filter(action="admin.view", object_id=str(event.pk)).exists()


def test_treasury_list_has_no_n_plus_one(tree, make_payment):
    """The list costs the same number of queries for 3 or 30 payments (PERFORMANCE: no N+1)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    anna = make_official("anna", tree.bologna, [Role.TREASURY])
    client = verified_client(anna)
    url = reverse("payments:treasury_payments")

    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert client.get(url).status_code == 200
        return len(queries)

    for _ in range(3):
        paid(make_payment(1000))
    few = count()
    for _ in range(27):
        paid(make_payment(1000))
    assert count() == few


def test_sandbox_payment_query_budget(make_payment, django_assert_max_num_queries):
    """Paying (attempt, provider answer applied, booking with fee, payable told) stays bounded."""
    payment = make_payment(2500)
    # 60 before the audit chain; +3: the audit chain (ADR 0014); +2: the sandbox reports the instrument
    # that paid (its charge read back, the payment's instrument metadata) for rule M24 (issue 11 item 6).
    with django_assert_max_num_queries(65):
        paid(payment)
    assert payment.state == State.SUCCEEDED
