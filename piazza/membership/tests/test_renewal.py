"""Renewals: what may have changed is asked again (M2, M15, M4), the yearly SEPA mandate option
(the bank app's mandates through the `sepa_dd` provider and payments' yearly schedules)."""

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from piazza.core.models import AuditEntry, AuditKind
from piazza.membership.actions import payment as payment_actions
from piazza.membership.actions import renewal as renewal_actions
from piazza.membership.models import FeeSchedule, Membership, RenewalReminder, Status
from piazza.membership.payments import active_yearly_schedule, start_yearly_sepa
from piazza.payments.actions.lifecycle import pay
from piazza.payments.actions.recurring import charge_schedule
from piazza.payments.actions.sync import sync_payment
from piazza.payments.models import RecurringSchedule, ScheduleState
from piazza.payments.providers.base import Outcome, RemoteState
from piazza.people.models import Citizenship
from piazza.territory.models import Role
from piazza.territory.testing import make_official

from .conftest import YEAR, join, paid

pytestmark = pytest.mark.usefixtures("schedule", "check_ledger")
DEBTOR = {"debtor_name": "Giulia Rossi", "debtor_iban": "IT25O0306909606100000012345", "consent": True}


@pytest.fixture
def creditor(tree):
    from piazza.payments.bank.actions.accounts import register_bank_account

    treasurer = make_official("tesoriere.bo", tree.bologna, [Role.TREASURY])
    return register_bank_account(
        actor=treasurer,
        territory=tree.bologna,
        name="PD Federazione di Bologna",
        iban="IT60X0542811101000000123456",
        creditor_id="IT66ZZZA1B2C3D4E5F6G7H8",
    )


@pytest.fixture
def next_year(schedule):
    return FeeSchedule.objects.create(
        year=YEAR + 1,
        base_fee_cents=schedule.base_fee_cents,
        national_surcharge_cents=schedule.national_surcharge_cents,
        regional_deadline=dt.date(YEAR + 1, 1, 10),
        opens_at=timezone.now() - dt.timedelta(days=1),
    )


def test_renewal_asks_again_for_the_residence_permit(tree, next_year):
    previous = paid(tree, citizenship=Citizenship.NON_EU_PERMIT, has_residence_permit=True)
    with pytest.raises(ValidationError) as err:  # last year's permit is not assumed to be still valid
        renewal_actions.renew_membership(
            actor=None, previous=previous, year=YEAR + 1, declarations_accepted=True, art9_authorised=True
        )
    assert "permesso di soggiorno" in str(err.value)
    assert not Membership.objects.filter(year=YEAR + 1).exists()
    renewed = renewal_actions.renew_membership(
        actor=None,
        previous=previous,
        year=YEAR + 1,
        declarations_accepted=True,
        art9_authorised=True,
        has_residence_permit=True,
    )
    assert renewed.is_renewal and renewed.circolo == previous.circolo and renewed.year == YEAR + 1


def test_renewal_page_prefills_and_shows_each_error_at_its_field(client, tree, next_year):
    previous = paid(tree)
    url = reverse("membership:renew", args=[renewal_actions.renewal_token(previous, YEAR + 1)])
    page = client.get(url).content.decode()
    assert previous.person.residence_street in page and "permesso di soggiorno" in page
    response = client.post(
        url, {"citizenship": "italian", "residence_street": "Via Nuova 2", "member_of_other_party": "yes"}
    )
    body = response.content.decode()
    assert response.status_code == 200
    assert "altro partito" in body and "dichiarazioni" in body
    assert not Membership.objects.filter(year=YEAR + 1).exists()
    assert AuditEntry.objects.filter(action="membership.apply", kind=AuditKind.DENIED).exists()


def test_renewal_page_goes_to_the_payment(client, tree, next_year):
    previous = paid(tree)
    url = reverse("membership:renew", args=[renewal_actions.renewal_token(previous, YEAR + 1)])
    response = client.post(
        url,
        {
            "citizenship": "italian",
            "residence_street": "Via Nuova 2",
            "member_of_other_party": "no",
            "declarations_accepted": "on",
            "art9_authorised": "on",
        },
    )
    assert response.status_code == 302 and "/pagamenti/" in response["Location"]
    renewed = Membership.objects.get(year=YEAR + 1)
    assert renewed.status == Status.APPLIED and renewed.channel == "renewal"


def _sign_and_collect(payment, key):
    """The member signs the mandate on the payment page; the bank collects (statement matched).

    `sepa_dd` reports the mandate as the saved method with its pending answer; payments keeps it
    for the yearly schedule then, because the settlement (a statement line) does not repeat it.
    """
    from piazza.payments.bank.models import Mandate

    pay(actor=None, payment=payment, client_key=key, data=DEBTOR, return_url="")
    mandate = Mandate.objects.order_by("-pk").first()
    assert mandate is not None
    # the settlement, as a statement line reports it, carries no mandate: payments kept it
    # from the pending answer of `sepa_dd` when the mandate was signed
    return sync_payment(
        actor=None,
        payment=payment,
        remote=RemoteState(outcome=Outcome.SUCCEEDED, reference=f"PZ-DD-{key}"),
        source="test",
    )


def test_yearly_sepa_signs_a_mandate_and_renews_the_next_year_by_itself(tree, creditor, next_year):
    from piazza.payments.bank.models import Collection, Mandate

    m = join(tree)
    payment = start_yearly_sepa(m, actor=None)
    assert payment.provider == "sepa_dd" and payment.schedule.interval == "yearly"
    _sign_and_collect(payment, "first")
    mandate = Mandate.objects.get()
    assert mandate.debtor_name == "Giulia Rossi" and "autorizzi" in mandate.consent_text  # the bank app's mandate
    m.refresh_from_db()
    assert m.status == Status.EFFECTIVE and m.payment_method == "sepa"
    schedule = active_yearly_schedule(m.person)
    assert schedule is not None and schedule.saved_method is not None

    # A year later payments debits the saved mandate again; the money becomes next year's membership.
    RecurringSchedule.objects.filter(pk=schedule.pk).update(next_charge_on=timezone.localdate())
    second = charge_schedule(actor=None, schedule_id=schedule.pk)
    assert second is not None and Collection.objects.count() == 2
    sync_payment(
        actor=None, payment=second, remote=RemoteState(outcome=Outcome.SUCCEEDED, reference="PZ-DD-2"), source="test"
    )
    renewed = Membership.objects.get(person=m.person, year=YEAR + 1)
    assert renewed.is_renewal and renewed.status == Status.EFFECTIVE and renewed.payment_id == second.pk
    assert renewed.fee_cents == second.amount_cents


def test_a_yearly_debit_for_a_year_already_paid_is_flagged_for_refund(tree, creditor, next_year):
    m = join(tree)
    payment = start_yearly_sepa(m, actor=None)
    _sign_and_collect(payment, "first")
    schedule = active_yearly_schedule(m.person)
    already = renewal_actions.renew_membership(
        actor=None,
        previous=Membership.objects.get(pk=m.pk),
        year=YEAR + 1,
        declarations_accepted=True,
        art9_authorised=True,
    )
    payment_actions.mark_paid(actor=None, membership=already, method="card", reference="x")
    RecurringSchedule.objects.filter(pk=schedule.pk).update(next_charge_on=timezone.localdate())
    second = charge_schedule(actor=None, schedule_id=schedule.pk)
    assert second is not None
    sync_payment(
        actor=None, payment=second, remote=RemoteState(outcome=Outcome.SUCCEEDED, reference="PZ-DD-2"), source="test"
    )
    entry = AuditEntry.objects.get(action="membership.sepa_debit_unmatched")
    assert entry.kind == AuditKind.DENIED and entry.data["todo"] == "refund" and "già pagata" in entry.data["reason"]
    assert Membership.objects.filter(person=m.person, year=YEAR + 1).count() == 1


def test_reminder_announces_the_debit_or_stops_it_when_the_fee_changed(
    tree, creditor, next_year, mailoutbox, django_capture_on_commit_callbacks
):
    m = join(tree)
    _sign_and_collect(start_yearly_sepa(m, actor=None), "first")
    with django_capture_on_commit_callbacks(execute=True):
        assert renewal_actions.send_renewal_reminder(membership_id=m.pk, year=YEAR + 1) == 1
    assert "addebiteremo 20,00 €" in mailoutbox[-1].body and "/ricorrenti/annulla/" in mailoutbox[-1].body
    assert active_yearly_schedule(m.person) is not None

    RenewalReminder.objects.all().delete()
    FeeSchedule.objects.filter(pk=next_year.pk).update(base_fee_cents=2000)
    with django_capture_on_commit_callbacks(execute=True):
        renewal_actions.send_renewal_reminder(membership_id=m.pk, year=YEAR + 1)
    assert "sospeso perché la quota" in mailoutbox[-1].body and "/rinnova/" in mailoutbox[-1].body
    assert RecurringSchedule.objects.get().state == ScheduleState.CANCELED
