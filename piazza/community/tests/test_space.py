"""Issue 12: what a signed-in person sees and does in Il mio spazio, through the page itself."""

from __future__ import annotations

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from piazza.community.models import SpaceLink
from piazza.community.tests.conftest import DONOR_EMAIL, emailed_link, sign_in
from piazza.core.models import AuditEntry, AuditKind
from piazza.funding.models import Donation
from piazza.funding.tests.flows import give, payment_of
from piazza.payments.models import MethodDevice, RecurringSchedule, SavedMethod, ScheduleState
from piazza.payments.tasks import run_due_charges
from piazza.people.models import (
    Channel,
    Consent,
    Email,
    NoticeAcceptance,
    Person,
    Phone,
    Purpose,
    ScopeRequest,
    ScopeRequestKind,
)
from piazza.people.notices import current_code
from piazza.people.tests.notices import in_force
from piazza.territory.models import Role
from piazza.territory.testing import make_official, verified_client

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("check_ledger")]


@pytest.fixture
def signed_in(donor, django_capture_on_commit_callbacks):
    client = Client()
    sign_in(client, DONOR_EMAIL, django_capture_on_commit_callbacks)
    mail.outbox.clear()
    return client


def _schedule(person):
    schedule = payment_of(Donation.objects.get(person=person, frequency="monthly", parent__isnull=True)).schedule
    assert schedule is not None
    return schedule


def test_the_page_shows_gifts_monthly_gift_consents_and_is_logged(signed_in, donor):
    page = signed_in.get(reverse("community:home"))
    html = page.content.decode()
    assert page.status_code == 200
    assert "25,00 €" in html and "10,00 €" in html and "ogni mese" in html
    assert "Annulla la donazione ricorrente" in html and "prossimo addebito" in html
    assert "ricevuta e dettagli" in html
    for purpose in Purpose:
        assert str(purpose.label) in html
    # Decision (docs/dev/community.md): a person viewing their own data is logged too (G4).
    view = AuditEntry.objects.filter(action="community.view_space").get()
    assert view.kind == AuditKind.VIEW and view.object_id == str(donor.pk) and view.actor is None


def test_cancel_a_monthly_gift_stops_the_schedule_and_marks_the_gift(signed_in, donor):
    schedule = _schedule(donor)
    response = signed_in.post(reverse("community:cancel_schedule", args=[schedule.pk]), follow=True)
    assert "Donazione mensile annullata" in response.content.decode()
    schedule.refresh_from_db()
    assert schedule.state == ScheduleState.CANCELED
    assert Donation.objects.get(payment__schedule=schedule, parent__isnull=True).cancelled_at is not None
    entry = AuditEntry.objects.get(action="payments.cancel_schedule")
    assert entry.data["via"] == "il_mio_spazio"


def test_someone_elses_monthly_gift_cannot_be_cancelled(signed_in, donor, campaign, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        other = give(campaign, 1500, n=3, frequency="monthly")
    theirs = payment_of(other).schedule
    assert theirs is not None
    response = signed_in.post(reverse("community:cancel_schedule", args=[theirs.pk]), follow=True)
    assert "non risulta tra le tue" in response.content.decode()
    theirs.refresh_from_db()
    assert theirs.state == ScheduleState.ACTIVE


def test_consent_given_and_withdrawn_in_one_click_each_as_new_rows(signed_in, donor, settings):
    """Rule G3: withdrawal as easy as giving; history kept; channel web, current text version."""
    url = reverse("community:consent", args=[Purpose.NEWSLETTER])
    shown = in_force("space")
    given = signed_in.post(url, {"give": "1", "notice_version": shown.pk}, follow=True)
    assert "consenso dato" in given.content.decode()
    withdrawn = signed_in.post(url, {"give": "0"}, follow=True)
    assert "consenso revocato" in withdrawn.content.decode()
    rows = list(Consent.objects.filter(person=donor, purpose=Purpose.NEWSLETTER).order_by("at", "id"))
    assert [r.granted for r in rows] == [True, False]
    assert {r.channel for r in rows} == {Channel.WEB}
    assert {r.text_version for r in rows} == {current_code("space")} == {"space-2026.1"}  # the notice registry
    assert all("il_mio_spazio" in r.evidence for r in rows)
    # GDPR art. 13: the space's notice shown next to the button is recorded once, with the consent.
    assert list(NoticeAcceptance.objects.filter(person=donor).values_list("version", flat=True)) == [shown.pk]
    assert withdrawn.content.decode().count("revocato ·") == 1  # the history lists both events
    assert AuditEntry.objects.filter(action="people.withdraw_consent", object_id=str(donor.pk)).count() == 1


def test_an_unknown_purpose_is_refused_and_writes_nothing(signed_in, donor):
    response = signed_in.post(
        reverse("community:consent", args=["vendita"]),
        {"give": "1", "notice_version": in_force("space").pk},
        follow=True,
    )
    assert "Finalità sconosciuta" in response.content.decode()
    assert not Consent.objects.filter(person=donor).exists()


def test_a_new_email_changes_nothing_until_its_link_is_clicked(signed_in, donor, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = signed_in.post(reverse("community:change_email"), {"email": "Giulia.Nuova@Example.org"}, follow=True)
    assert "Ti abbiamo scritto al nuovo indirizzo" in response.content.decode()
    assert [m.to for m in mail.outbox] == [["giulia.nuova@example.org"]]
    assert Email.objects.get(person=donor, primary=True).value == DONOR_EMAIL
    link = emailed_link("giulia.nuova@example.org", r"http\S+/il-mio-spazio/email/conferma/\S+/")
    assert Client().get(link).status_code == 200 and Email.objects.get(person=donor, primary=True).value == DONOR_EMAIL
    with django_capture_on_commit_callbacks(execute=True):
        assert Client().post(link).status_code == 200  # any browser: the click proves the address
    new = Email.objects.get(person=donor, primary=True)
    assert (new.value, new.verified) == ("giulia.nuova@example.org", True)
    assert Client().post(link).status_code == 403  # once
    notice = mail.outbox[-1]  # the old address hears of the change
    assert notice.to == [DONOR_EMAIL] and "è cambiato" in notice.subject


def test_email_change_requests_are_limited_per_person(signed_in, donor, settings):
    for i in range(settings.COMMUNITY_LINKS_PER_ADDRESS):
        signed_in.post(reverse("community:change_email"), {"email": f"nuova{i}@example.org"})
    over = signed_in.post(reverse("community:change_email"), {"email": "ancora@example.org"}, follow=True)
    assert "troppi cambi di indirizzo" in over.content.decode()
    assert not SpaceLink.objects.filter(email="ancora@example.org").exists()


def test_a_bad_email_or_phone_gets_a_specific_error_and_writes_nothing(signed_in, donor):
    bad_email = signed_in.post(reverse("community:change_email"), {"email": "giulia@@x"}, follow=True)
    assert "non è valido" in bad_email.content.decode()
    bad_phone = signed_in.post(reverse("community:change_phone"), {"phone": "12"}, follow=True)
    assert "numero di telefono" in bad_phone.content.decode().lower()
    assert not Phone.objects.filter(person=donor).exists()
    assert len(mail.outbox) == 0


def test_phone_changes_at_once(signed_in, donor):
    signed_in.post(reverse("community:change_phone"), {"phone": "333 123 4567"})
    assert Phone.objects.get(person=donor, primary=True).value == "+393331234567"


def test_identity_corrections_go_to_the_circolo_as_a_request(signed_in, donor, tree):
    before = (donor.first_name, donor.codice_fiscale)
    response = signed_in.post(
        reverse("community:rectification"), {"first_name": "Giulia Maria", "note": "Il secondo nome manca"}, follow=True
    )
    assert "Richiesta inviata al tuo circolo" in response.content.decode()
    donor.refresh_from_db()
    assert (donor.first_name, donor.codice_fiscale) == before  # never edited directly
    request = ScopeRequest.objects.get(person=donor)
    assert request.kind == ScopeRequestKind.RECTIFY and request.data["Nome"] == "Giulia Maria"
    official = make_official("segreteria.rett", donor.territory, [Role.ORGANISATION])
    page = verified_client(official).get(reverse("people:requests")).content.decode()
    assert "Rettifica dei dati anagrafici chiesta dalla persona" in page and "Giulia Maria" in page
    assert AuditEntry.objects.filter(action="people.view_requests", actor=official).exists()


def test_an_empty_rectification_is_refused(signed_in, donor):
    response = signed_in.post(reverse("community:rectification"), {"note": "boh"}, follow=True)
    assert "almeno un dato" in response.content.decode()
    assert not ScopeRequest.objects.exists()


def test_a_device_allowed_to_use_a_saved_card_is_revoked_and_another_persons_is_not(signed_in, donor, tree):
    method = _schedule(donor).saved_method
    mine = MethodDevice.objects.create(method=method, token_hash="a" * 64, label="Firefox · Android")
    page = signed_in.get(reverse("community:home")).content.decode()
    assert "Firefox · Android" in page
    signed_in.post(reverse("community:revoke_device", args=[mine.pk]))
    mine.refresh_from_db()
    assert mine.revoked_at is not None

    other = Person.objects.create(first_name="Mario", last_name="Altro", territory=tree.bologna_centro)
    theirs_method = SavedMethod.objects.create(provider="sandbox", method_reference="pm_other", payer=other)
    theirs = MethodDevice.objects.create(method=theirs_method, token_hash="b" * 64)
    response = signed_in.post(reverse("community:revoke_device", args=[theirs.pk]), follow=True)
    assert "non risulta tra i tuoi" in response.content.decode()
    theirs.refresh_from_db()
    assert theirs.revoked_at is None


def test_a_new_monthly_amount_applies_from_the_next_charge(signed_in, donor, django_capture_on_commit_callbacks):
    schedule = _schedule(donor)
    response = signed_in.post(reverse("community:change_amount", args=[schedule.pk]), {"amount": "15,50"}, follow=True)
    assert "Importo cambiato" in response.content.decode() and "15,50 €" in response.content.decode()
    schedule.refresh_from_db()
    assert schedule.amount_cents == 1550 and sum(c for _a, c in schedule.allocation_plan) == 1550
    first = Donation.objects.get(person=donor, frequency="monthly", parent__isnull=True)
    assert first.amount_cents == 1000  # the gift already made is untouched
    RecurringSchedule.objects.filter(pk=schedule.pk).update(next_charge_on=timezone.localdate())
    with django_capture_on_commit_callbacks(execute=True):
        assert run_due_charges.call() == 1
    second = Donation.objects.get(parent=first)
    assert (second.amount_cents, second.status) == (1550, "succeeded")
    assert payment_of(second).amount_cents == 1550
    assert AuditEntry.objects.get(action="payments.change_schedule_amount").data["via"] == "il_mio_spazio"


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("dieci", "Scrivi l&#x27;importo in euro"),
        ("0", "maggiore di zero"),
        ("0,50", "La donazione minima"),
    ],
)
def test_a_bad_monthly_amount_gets_a_specific_error_and_changes_nothing(signed_in, donor, typed, message):
    schedule = _schedule(donor)
    response = signed_in.post(reverse("community:change_amount", args=[schedule.pk]), {"amount": typed}, follow=True)
    assert message in response.content.decode()
    schedule.refresh_from_db()
    assert schedule.amount_cents == 1000
