"""Journey in a real browser (desktop): at the Festa dell'Unità the secretary registers an older
member with no email, paying by a method the federation allows, and opens the receipt (issue 11
items 11 and 12)."""

import datetime as dt
import re

import pytest
from django.core import mail
from django.utils import timezone
from playwright.sync_api import expect

from piazza.membership.models import FeeSchedule, Membership, MembershipRules, PaymentMethod, Status
from piazza.people.codice_fiscale import make_codice_fiscale
from piazza.people.models import Consent
from piazza.territory.models import Role
from piazza.territory.testing import build_tree, make_official, verified_client

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
WAIT = 45_000  # a generous wait for a condition, never a fixed sleep


def test_desk_registers_an_older_member_without_email_and_prints_the_receipt(page, live_server):
    tree = build_tree()
    year = timezone.localdate().year
    FeeSchedule.objects.create(
        year=year,
        base_fee_cents=1500,
        national_surcharge_cents=0,
        regional_deadline=dt.date(year, 1, 10),
        opens_at=timezone.now() - dt.timedelta(days=30),
    )
    # The federation allows cash and bank transfers at the desk, not the POS.
    MembershipRules.objects.create(territory=tree.bologna, cash_allowed=True, desk_methods="bank_transfer,cash")
    marco = make_official("marco.festa", tree.bologna_centro, [Role.ORGANISATION, Role.MEMBERSHIP, Role.TREASURY])
    session = verified_client(marco).cookies["sessionid"].value
    page.context.add_cookies([{"name": "sessionid", "value": session, "url": live_server.url}])
    cf = make_codice_fiscale(
        first_name="Franca", last_name="Bassi", sex="F", birth_date=dt.date(1948, 3, 8), belfiore="A944"
    )

    page.goto(f"/tesseramento/gestione/circolo/{tree.bologna_centro.pk}/")
    page.get_by_role("link", name="Registra un iscritto").click()
    page.wait_for_url(re.compile(r".*/registra/$"), timeout=WAIT)
    method = page.get_by_label("Metodo di pagamento")
    expect(method.locator("option")).to_have_text(["Bonifico", "Contanti (con ricevuta)"], timeout=WAIT)
    page.get_by_label(re.compile(r"^Nome")).fill("Franca")
    page.get_by_label("Cognome").fill("Bassi")
    page.get_by_label("Sesso (come nel codice fiscale)").select_option("F")
    page.get_by_label("Data di nascita").fill("1948-03-08")
    page.get_by_label("Comune (o stato estero) di nascita").fill("Bologna")
    page.get_by_role("textbox", name="Codice fiscale").fill(cf)
    page.get_by_label("Indirizzo di residenza o domicilio").fill("Via del Pratello 3")
    page.get_by_role("group", name=re.compile("altro partito")).get_by_label("No", exact=True).check()
    page.get_by_label("Dichiaro di non far parte").check()
    page.get_by_label("Autorizzo il trattamento").check()
    # No email, no mobile: the signed paper form, with the consent she ticked on it.
    page.get_by_label("Modulo cartaceo firmato raccolto").check()
    page.get_by_label("Newsletter").check()
    method.select_option("cash")
    page.get_by_role("button", name="Registra l'iscrizione").click()

    page.wait_for_url("**/gestione/iscrizioni/**", timeout=WAIT)
    expect(page.get_by_text("Iscrizione registrata e quota incassata.")).to_be_visible(timeout=WAIT)
    expect(page.get_by_text("Senza email: stampa la ricevuta")).to_be_visible(timeout=WAIT)
    expect(page.locator("#membership-status")).to_have_text("Pagata", timeout=WAIT)
    expect(page.locator("#paper-form")).to_contain_text("firmato", timeout=WAIT)
    receipt_link = page.get_by_role("link", name="Stampa la ricevuta (PDF)")
    expect(receipt_link).to_be_visible(timeout=WAIT)
    receipt = page.request.get(str(receipt_link.get_attribute("href")))
    assert receipt.ok and receipt.headers["content-type"] == "application/pdf"
    assert receipt.body().startswith(b"%PDF")

    m = Membership.objects.get(person__last_name="Bassi")
    assert m.status == Status.PAID and m.payment_method == PaymentMethod.CASH and m.registered_by == marco
    assert m.cash_receipt_number in receipt.headers["content-disposition"]
    assert [c.purpose for c in Consent.objects.filter(person=m.person, channel="paper")] == ["newsletter"]
    assert not mail.outbox
