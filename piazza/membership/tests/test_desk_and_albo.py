"""The circolo desk's paper (scans, cash receipts) and the per-election Albo fee through payments."""

import datetime as dt
from typing import Any

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from piazza.core.models import AuditEntry, AuditKind
from piazza.membership.actions import albo as albo_actions
from piazza.membership.actions import payment as payment_actions
from piazza.membership.models import AlboElection, ElectionRegistration, Membership, PaymentMethod
from piazza.membership.payments import start_election_fee
from piazza.payments.actions.lifecycle import pay
from piazza.people.tests.notices import shown
from piazza.territory.models import Role
from piazza.territory.testing import make_official, verified_client

from .conftest import bologna, join, join_data, paid

pytestmark = pytest.mark.usefixtures("schedule", "check_ledger")
PNG = b"\x89PNG\r\n\x1a\n" + b"0" * 64
CARD = {"card_number": "4242424242424242", "expiry": "12/39", "cvc": "123"}


def _desk_post(tree, **extra):
    data = join_data()
    values = {
        "first_name": data.first_name,
        "last_name": data.last_name,
        "sex": data.sex,
        "birth_date": data.birth_date.isoformat(),
        "birth_place": "Bologna",
        "codice_fiscale": data.codice_fiscale,
        "citizenship": "italian",
        "residence_street": "Via Po 1",
        "email": "desk@example.org",
        "circolo": tree.bologna_centro.pk,
        "member_of_other_party": "no",
        "declarations_accepted": "on",
        "art9_authorised": "on",
        "method": "cash",
        "reference": "",
        **shown("desk"),
    }
    values.update(extra)
    return values


def test_desk_attaches_the_signature_scan_and_prints_the_cash_receipt(tree, secretary, cash_allowed):
    client = verified_client(secretary)
    response = client.post(
        reverse("membership:desk_register", args=[tree.bologna_centro.pk]),
        _desk_post(tree, signature_scan=SimpleUploadedFile("firma.png", PNG, content_type="image/png")),
    )
    assert response.status_code == 302
    m = Membership.objects.get()
    assert m.signature_scan.name.endswith(".png") and m.cash_receipt_number
    assert AuditEntry.objects.filter(action="membership.attach_scans", data__files=["signature_scan"]).exists()
    receipt = client.get(reverse("membership:cash_receipt", args=[m.pk]))
    assert receipt["Content-Type"] == "application/pdf" and receipt.content.startswith(b"%PDF")
    day = client.get(reverse("membership:day_receipts", args=[tree.bologna_centro.pk]))
    assert day.content.startswith(b"%PDF")
    exports = AuditEntry.objects.filter(action="membership.export_receipt", kind=AuditKind.EXPORT)
    last = exports.last()
    assert exports.count() == 2 and last is not None and m.cash_receipt_number in last.data["receipts"]


def test_scans_live_in_the_private_store_and_open_only_in_scope(tree, secretary, cash_allowed, settings, tmp_path):
    """Issue 14 (stateless app servers) and rule G4: a signature scan goes to the private store, never
    under the public media directory; the membership page links it; opening it is audited; an official
    of another circolo gets nothing."""
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.PRIVATE_MEDIA_ROOT = str(tmp_path / "private")
    client = verified_client(secretary)
    client.post(
        reverse("membership:desk_register", args=[tree.bologna_centro.pk]),
        _desk_post(tree, signature_scan=SimpleUploadedFile("firma.png", PNG, content_type="image/png")),
    )
    m = Membership.objects.get()
    assert (tmp_path / "private" / m.signature_scan.name).read_bytes() == PNG
    assert not (tmp_path / "media").exists() or not any((tmp_path / "media").rglob("*.png"))
    page = client.get(reverse("membership:membership", args=[m.pk])).content.decode()
    url = reverse("membership:membership_scan", args=[m.pk, "firma"])
    assert url in page
    scan = client.get(url)
    assert scan.status_code == 200 and scan.content == PNG and scan["Content-Type"] == "image/png"
    assert scan["Cache-Control"] == "private, no-store"
    seen = AuditEntry.objects.get(action="membership.view_scan")
    assert seen.kind == AuditKind.VIEW and seen.data["file"] == m.signature_scan.name
    assert client.get(reverse("membership:membership_scan", args=[m.pk, "modulo"])).status_code == 404
    outsider = verified_client(make_official("segretario.navile", tree.bologna_navile, [Role.MEMBERSHIP]))
    assert outsider.get(url).status_code == 404
    assert AuditEntry.objects.filter(action="membership.view_scan").count() == 1


@pytest.fixture
def s3_store(settings):
    """FILE_STORAGE=s3 as config/settings.py builds it, against a real S3-compatible HTTP server (moto)."""
    boto3 = pytest.importorskip("boto3")
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    options = {
        **settings.S3_OPTIONS,
        "bucket_name": "piazza-files",
        "endpoint_url": f"http://{host}:{port}",
        "region_name": "eu-south-1",
        "access_key": "piazza-test",
        "secret_key": "piazza-test-secret",
    }
    client = boto3.client(
        "s3",
        endpoint_url=options["endpoint_url"],
        region_name="eu-south-1",
        aws_access_key_id="piazza-test",
        aws_secret_access_key="piazza-test-secret",
    )
    client.create_bucket(Bucket="piazza-files", CreateBucketConfiguration={"LocationConstraint": "eu-south-1"})
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": {**options, "location": "media"}},
        "private": {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": {**options, "location": "private"}},
    }
    yield client
    server.stop()


def test_scans_round_trip_through_an_s3_store(tree, secretary, cash_allowed, s3_store):
    """Issue 14: with several app servers the private store is a bucket; the desk's upload lands under
    private/ encrypted at rest, and the membership page's link reads it back through the scoped view."""
    client = verified_client(secretary)
    client.post(
        reverse("membership:desk_register", args=[tree.bologna_centro.pk]),
        _desk_post(tree, signature_scan=SimpleUploadedFile("firma.png", PNG, content_type="image/png")),
    )
    m = Membership.objects.get()
    stored = s3_store.get_object(Bucket="piazza-files", Key=f"private/{m.signature_scan.name}")
    assert stored["Body"].read() == PNG and stored["ServerSideEncryption"] == "AES256"
    listed = s3_store.list_objects_v2(Bucket="piazza-files")["Contents"]
    assert [o["Key"] for o in listed] == [f"private/{m.signature_scan.name}"]
    scan = client.get(reverse("membership:membership_scan", args=[m.pk, "firma"]))
    assert scan.status_code == 200 and scan.content == PNG


def test_bad_scan_is_refused_before_anything_is_saved(tree, secretary, cash_allowed):
    client = verified_client(secretary)
    fake = SimpleUploadedFile("firma.png", b"not an image at all", content_type="image/png")
    response = client.post(
        reverse("membership:desk_register", args=[tree.bologna_centro.pk]), _desk_post(tree, signature_scan=fake)
    )
    assert response.status_code == 200
    assert "non contiene davvero un PNG" in response.content.decode()
    assert not Membership.objects.exists()
    word = SimpleUploadedFile("modulo.docx", b"PK..", content_type="application/octet-stream")
    m = join(tree)
    with pytest.raises(ValidationError, match="non è un PDF, JPEG o PNG"):
        payment_actions.attach_scans(actor=secretary, membership=m, paper_form=word)
    assert AuditEntry.objects.filter(action="membership.attach_scans", kind=AuditKind.DENIED).exists()


def test_a_traceable_desk_payment_gets_a_receipt_and_an_online_one_none(tree, secretary):
    """Issue 11 item 12: receipts for every desk method, not only cash; online payments have their own."""
    m = payment_actions.record_payment_at_circolo(
        actor=secretary, membership=join(tree), method=PaymentMethod.POS, reference="POS 1"
    )
    client = verified_client(secretary)
    receipt = client.get(reverse("membership:cash_receipt", args=[m.pk]))
    assert receipt.status_code == 200 and receipt.content.startswith(b"%PDF")
    # Rule F3: the desk's number is the federation's numbered receipt.
    assert m.cash_receipt_number == f"{m.year}/000001" and m.payment_reference == "POS 1"
    online = paid(tree)
    assert client.get(reverse("membership:cash_receipt", args=[online.pk])).status_code == 404


@pytest.fixture
def primaries(tree):
    now = timezone.now()
    return AlboElection.objects.create(
        name="Primarie 2026",
        territory=tree.national,
        fee_cents=200,
        opens_at=now - dt.timedelta(days=1),
        closes_at=now + dt.timedelta(days=1),
    )


def _supporter_data(**extra: Any) -> albo_actions.SupporterData:
    data = join_data()
    values: dict[str, Any] = {
        "first_name": data.first_name,
        "last_name": data.last_name,
        "birth_date": data.birth_date,
        "codice_fiscale": data.codice_fiscale,
        "email": "albo@example.org",
        "phone": "+39 333 123 4567",
        "residence_street": "Via Po 1",
        "residence_comune": bologna(),
        "birth_comune": bologna(),
        "declares_support": True,
        "consents_to_contact": True,
    }
    values.update(extra)
    return albo_actions.SupporterData(**values)


def test_albo_election_fee_paid_through_payments(tree, primaries):
    from piazza.ledger.accounts import get_account
    from piazza.ledger.queries import balance

    supporter = albo_actions.register_supporter(actor=None, data=_supporter_data(), election=primaries)
    registration = ElectionRegistration.objects.get(supporter=supporter)
    assert registration.fee_cents == 200 and registration.paid_at is None
    payment = start_election_fee(registration, actor=None, provider="sandbox")
    assert start_election_fee(registration, actor=None, provider="sandbox").pk == payment.pk  # idempotent
    pay(actor=None, payment=payment, client_key="albo-1", data=CARD, return_url="")
    registration.refresh_from_db()
    assert registration.paid_at is not None and registration.payment_id == payment.pk
    assert balance(get_account("territory", territory=tree.national, owner=tree.national)).cents == 200


def test_members_pay_no_election_fee(tree, primaries):
    m = join(tree)
    payment_actions.mark_paid(actor=None, membership=m, method="card", reference="x")
    person = m.person
    # Issue 10, convention 16: the form typed with a member's code writes nothing; the member
    # registers by the link sent to the registered address.
    assert (
        albo_actions.register_supporter(
            actor=None,
            election=primaries,
            data=_supporter_data(
                first_name=person.first_name,
                last_name=person.last_name,
                birth_date=person.birth_date,
                codice_fiscale=person.codice_fiscale,
            ),
        )
        is None
    )
    assert not ElectionRegistration.objects.filter(supporter__person=person).exists()
    token = albo_actions.albo_confirmation_token(person, election=primaries, email="albo@example.org", phone="")
    supporter = albo_actions.confirm_albo_registration(actor=None, token=token)
    assert ElectionRegistration.objects.get(supporter=supporter).fee_cents == 0


def test_albo_page_for_an_election_mails_non_members_the_payment(
    client, tree, primaries, django_capture_on_commit_callbacks
):
    data = join_data()
    url = reverse("membership:albo") + f"?elezione={primaries.pk}"
    assert "2,00 €" in client.get(url).content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            url,
            {
                "first_name": data.first_name,
                "last_name": data.last_name,
                "birth_date": data.birth_date.isoformat(),
                "birth_place": "Bologna",
                "codice_fiscale": data.codice_fiscale,
                "citizenship": "italian",
                "residence_street": "Via Po 1",
                "residence_comune": "Bologna",
                "email": "albo2@example.org",
                "phone": "+39 333 765 4321",
                "declares_support": "on",
                "consents_to_contact": "on",
                **shown("albo"),
            },
        )
    # Issue 10, G1: the same answer for everyone; a new person's payment link is in the email.
    assert response.status_code == 302 and response["Location"] == reverse("membership:albo_sent")
    assert "/pagamenti/" in next(m for m in mail.outbox if "albo2@example.org" in m.to).body
    assert client.get(reverse("membership:albo") + "?elezione=999999").status_code == 404
