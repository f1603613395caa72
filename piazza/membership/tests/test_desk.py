"""The circolo desk (issue 11 items 11 and 12): only the methods the federation allows, the
registration and the fee in one transaction, email optional with the signed paper form and its
consents (G2/G3), a receipt for every desk method, emailed or printed."""

import datetime as dt
import re
import zlib

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.urls import reverse

from piazza.compliance.models import Receipt
from piazza.core.models import AuditEntry, AuditKind
from piazza.ledger.models import LedgerTransaction
from piazza.membership.actions import parameters as parameters_actions
from piazza.membership.actions import payment as payment_actions
from piazza.membership.models import Membership, MembershipRules, PaymentMethod, Status
from piazza.people.codice_fiscale import make_codice_fiscale
from piazza.people.models import Consent, Person
from piazza.people.notices import current_code
from piazza.people.tests.notices import shown
from piazza.territory.testing import verified_client

from .conftest import join_data, paid

pytestmark = pytest.mark.usefixtures("schedule", "check_ledger")


def _url(tree):
    return reverse("membership:desk_register", args=[tree.bologna_centro.pk])


def _older_member(tree, **extra):
    """Franca, 78, no email: the desk's usual Saturday member."""
    born = dt.date(1948, 3, 8)
    code = make_codice_fiscale(first_name="Franca", last_name="Bassi", sex="F", birth_date=born, belfiore="A944")
    values = {
        "first_name": "Franca",
        "last_name": "Bassi",
        "sex": "F",
        "birth_date": born.isoformat(),
        "birth_place": "Bologna",
        "codice_fiscale": code,
        "citizenship": "italian",
        "residence_street": "Via del Pratello 3",
        "email": "",
        "phone": "",
        "circolo": tree.bologna_centro.pk,
        "member_of_other_party": "no",
        "declarations_accepted": "on",
        "art9_authorised": "on",
        "method": "pos",
        "reference": "POS 000123",
        **shown("desk"),
    }
    values.update(extra)
    return values


def _pdf_text(content: bytes) -> str:
    """The text drawn in an fpdf2 PDF (its content streams are zlib-compressed)."""
    parts = []
    for stream in re.findall(rb"stream\r?\n(.*?)\r?\nendstream", content, re.S):
        try:
            parts.append(zlib.decompress(stream).decode("latin-1"))
        except zlib.error:
            continue
    return "".join(parts)


def _nothing_written():
    return (
        not Membership.objects.exists()
        and not Person.objects.exists()
        and not LedgerTransaction.objects.exists()
        and not Consent.objects.exists()
    )


def _options(body: str) -> list[str]:
    select = re.search(r'<select name="method".*?</select>', body, re.S)
    assert select is not None
    return re.findall(r'<option value="([^"]*)"', select.group(0))


# --- Item 11: only the methods the federation allows ----------------------------------------


def test_desk_offers_only_the_methods_the_federation_allows(tree, secretary):
    client = verified_client(secretary)
    body = client.get(_url(tree)).content.decode()
    assert _options(body) == ["pos", "bank_transfer"]  # default: no cash (M24), no online methods
    MembershipRules.objects.create(territory=tree.bologna, cash_allowed=True)
    assert _options(client.get(_url(tree)).content.decode()) == ["pos", "bank_transfer", "cash"]


def test_desk_preselects_the_only_method_the_federation_allows(tree, secretary):
    MembershipRules.objects.create(territory=tree.bologna, desk_methods="bank_transfer")
    body = verified_client(secretary).get(_url(tree)).content.decode()
    assert _options(body) == ["bank_transfer"]
    assert re.search(r'<option value="bank_transfer"[^>]*selected', body)
    assert "unico metodo che la tua federazione ammette" in body


def test_a_federation_with_no_desk_method_says_so_and_registers_nothing(tree, secretary):
    parameters_actions.set_membership_rules(actor=secretary_of(tree), territory=tree.bologna, desk_methods="cash")
    client = verified_client(secretary)
    body = client.get(_url(tree)).content.decode()
    assert _options(body) == [] and "non ammette pagamenti della quota al circolo" in body
    response = client.post(_url(tree), _older_member(tree, phone="3331234567", method="cash", reference=""))
    assert response.status_code == 200 and _nothing_written()


def secretary_of(tree):
    from piazza.territory.models import Role
    from piazza.territory.testing import make_official

    return make_official("tesseramento.bo", tree.bologna, [Role.MEMBERSHIP])


def test_rules_refuse_an_unknown_desk_method(tree):
    with pytest.raises(ValidationError, match="POS, bonifico e contanti"):
        parameters_actions.set_membership_rules(
            actor=secretary_of(tree), territory=tree.bologna, desk_methods="pos,paypal"
        )
    assert not MembershipRules.objects.exists()


def test_rules_page_sets_the_desk_methods(tree, secretary):
    official = secretary_of(tree)
    client = verified_client(official)
    prefix = f"t{tree.bologna.pk}"
    response = client.post(
        reverse("membership:rules_save", args=[tree.bologna.pk]),
        {f"{prefix}-desk_methods": ["pos"], f"{prefix}-cash_allowed": ""},
    )
    assert response.status_code == 302
    assert MembershipRules.objects.get(territory=tree.bologna).desk_methods == "pos"
    assert payment_actions.desk_methods(tree.bologna_centro) == ["pos"]
    page = client.get(reverse("membership:rules")).content.decode()
    assert re.search(r'value="pos"[^>]*checked', page)


def test_cash_posted_where_not_allowed_is_refused_and_nothing_is_written(tree, secretary):
    """The old bug: cash offered, the registration written, the fee refused. Now: not offered; a
    forged post is a form error; the action itself refuses before any write."""
    response = verified_client(secretary).post(
        _url(tree), _older_member(tree, phone="3331234567", method="cash", reference="")
    )
    assert response.status_code == 200 and "Iscrizione registrata" not in response.content.decode()
    assert _nothing_written()
    with pytest.raises(ValidationError, match="non ammette le quote in contanti"):
        payment_actions.register_at_desk(
            actor=secretary, data=join_data(), circolo=tree.bologna_centro, method=PaymentMethod.CASH
        )
    assert _nothing_written()
    denied = AuditEntry.objects.get(action="membership.desk_register", kind=AuditKind.DENIED)
    assert denied.data["code"] == "cash_not_allowed"


def test_fee_refused_refuses_the_whole_registration(tree, secretary):
    """A traceable method with no reference: nothing is written, the page says why, the refusal is audited."""
    response = verified_client(secretary).post(_url(tree), _older_member(tree, phone="3331234567", reference=""))
    body = response.content.decode()
    assert response.status_code == 200
    assert "indica il riferimento" in body and "Non è stato registrato nulla" in body
    assert _nothing_written()
    denied = AuditEntry.objects.get(action="membership.desk_register", kind=AuditKind.DENIED)
    assert denied.data["code"] == "reference_required"


def test_m24_instrument_limit_refuses_the_whole_registration(tree, secretary):
    MembershipRules.objects.create(territory=tree.bologna, max_per_instrument=1)
    other = paid(tree, fingerprint=payment_actions.instrument_fingerprint("IT60X0542811101000000123456"))
    response = verified_client(secretary).post(
        _url(tree),
        _older_member(
            tree,
            phone="3331234567",
            method="bank_transfer",
            reference="CRO 77",
            instrument="IT60 X054 2811 1010 0000 0123 456",
        ),
    )
    body = response.content.decode()
    assert response.status_code == 200 and "sono già state pagate" in body and "regola M24" not in body
    assert list(Membership.objects.all()) == [other]
    assert not Person.objects.filter(last_name="Bassi").exists()
    assert AuditEntry.objects.filter(action="membership.check_instrument", kind=AuditKind.DENIED).exists()


def test_a_fee_refused_inside_the_transaction_rolls_the_registration_back(
    tree, secretary, monkeypatch, django_capture_on_commit_callbacks
):
    """The fee refused after the application was written (a card used meanwhile at another desk):
    everything is rolled back, the refusal's audit entry survives."""
    real = payment_actions.check_instrument
    calls = {"n": 0}

    def refuse_the_second_time(**kwargs):
        calls["n"] += 1
        if calls["n"] == 2:  # the check inside mark_paid, after the membership row was created
            from piazza.core.errors import refuse

            refuse(
                "membership.check_instrument",
                "Carta usata nel frattempo per un'altra tessera.",
                actor=kwargs["actor"],
                code="instrument_limit",
            )
        return real(**kwargs)

    monkeypatch.setattr(payment_actions, "check_instrument", refuse_the_second_time)
    with django_capture_on_commit_callbacks(execute=True):
        response = verified_client(secretary).post(_url(tree), _older_member(tree, phone="3331234567"))
    assert calls["n"] == 2
    assert response.status_code == 200 and "Carta usata nel frattempo" in response.content.decode()
    assert _nothing_written()
    assert not AuditEntry.objects.filter(action="membership.apply", kind=AuditKind.WRITE).exists()
    denied = AuditEntry.objects.get(action="membership.desk_register", kind=AuditKind.DENIED)
    assert denied.data["code"] == "instrument_limit" and "Carta usata" in denied.data["reason"]
    assert not mail.outbox


# --- Item 12: email optional, the paper form and its consents, receipts -----------------------


def test_without_email_a_phone_or_the_paper_form_is_needed(tree, secretary):
    response = verified_client(secretary).post(_url(tree), _older_member(tree))
    assert response.status_code == 200
    assert "Senza email indica un cellulare" in response.content.decode()
    assert _nothing_written()


def test_consents_need_the_paper_form(tree, secretary):
    response = verified_client(secretary).post(
        _url(tree), _older_member(tree, phone="3331234567", consents=["newsletter"])
    )
    assert response.status_code == 200 and "conferma di averlo raccolto" in response.content.decode()
    assert _nothing_written()


def test_older_member_without_email_registered_with_the_signed_paper_form(
    tree, secretary, django_capture_on_commit_callbacks
):
    client = verified_client(secretary)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            _url(tree),
            _older_member(tree, paper_form_signed="on", consents=["newsletter", "candidate_sharing"]),
            follow=True,
        )
    body = response.content.decode()
    m = Membership.objects.get()
    assert m.status == Status.PAID and m.payment_method == PaymentMethod.POS and m.payment_reference == "POS 000123"
    assert m.paper_form_collected_at is not None and m.person.emails.count() == 0
    assert "Iscrizione registrata e quota incassata" in body and "stampa la ricevuta" in body
    assert 'id="paper-form"' in body and reverse("membership:cash_receipt", args=[m.pk]) in body
    consents = {c.purpose: c for c in Consent.objects.filter(person=m.person)}
    assert set(consents) == {"newsletter", "candidate_sharing"}  # only the boxes ticked on paper (G3)
    assert [c.text_version for c in consents.values()] == [current_code("desk")] * 2, current_code("desk")
    assert all(
        c.granted
        and c.channel == "paper"
        and c.text_version == current_code("desk") == "desk-2026.1"  # the notice registry (G3)
        and c.recorded_by == secretary
        and m.cash_receipt_number in c.evidence
        for c in consents.values()
    )
    assert not mail.outbox  # nobody to email: the receipt is printed
    entry = AuditEntry.objects.get(action="membership.desk_register", kind=AuditKind.WRITE)
    assert entry.data["paper_form"] is True and entry.data["email"] is False


def test_older_member_with_only_a_phone_is_registered(tree, secretary):
    response = verified_client(secretary).post(_url(tree), _older_member(tree, phone="333 1234567"))
    assert response.status_code == 302
    m = Membership.objects.get()
    assert m.status == Status.PAID and m.paper_form_collected_at is None
    assert m.person.phones.count() == 1 and not Consent.objects.exists()


@pytest.mark.parametrize(
    ("method", "reference", "words"),
    [
        ("pos", "POS 000123", "POS al circolo, riferimento POS 000123"),
        ("bank_transfer", "CRO 987", "Bonifico, riferimento CRO 987"),
        ("cash", "", "Totale versato in contanti"),
    ],
)
def test_every_desk_method_gets_a_printable_receipt(tree, secretary, method, reference, words):
    MembershipRules.objects.create(territory=tree.bologna, cash_allowed=True)
    client = verified_client(secretary)
    response = client.post(_url(tree), _older_member(tree, phone="3331234567", method=method, reference=reference))
    assert response.status_code == 302
    m = Membership.objects.get()
    # Rule F3: the paper receipt carries the number of the federation's numbered receipt.
    assert m.payment_method == method and m.cash_receipt_number == f"{m.year}/000001"
    assert Receipt.objects.filter(
        source="membership.membership", source_id=m.pk, entity=tree.bologna, display_number=m.cash_receipt_number
    ).exists()
    page = client.get(response["Location"]).content.decode()
    assert reverse("membership:cash_receipt", args=[m.pk]) in page
    receipt = client.get(reverse("membership:cash_receipt", args=[m.pk]))
    assert receipt["Content-Type"] == "application/pdf"
    text = _pdf_text(receipt.content)
    assert m.cash_receipt_number in text and words in text and "Franca Bassi" in text
    assert AuditEntry.objects.filter(action="membership.export_receipt", kind=AuditKind.EXPORT).exists()


def test_with_an_email_the_receipt_is_emailed(tree, secretary, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = verified_client(secretary).post(
            _url(tree), _older_member(tree, email="franca@example.org"), follow=True
        )
    m = Membership.objects.get()
    assert "inviata per email" in response.content.decode()
    [message] = [x for x in mail.outbox if "franca@example.org" in x.to]
    name, content, mimetype = message.attachments[0]
    assert name == f"ricevuta-{m.cash_receipt_number}.pdf" and mimetype == "application/pdf"
    assert m.cash_receipt_number in _pdf_text(content)
    assert AuditEntry.objects.filter(action="membership.send_receipt", data__receipt=m.cash_receipt_number).exists()
