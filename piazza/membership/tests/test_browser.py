"""Journeys in a real browser: join online and receive the card; the circolo desk; a roll
certified and exported."""

import datetime as dt
import re
from pathlib import Path

import pytest
from django.core import mail
from django.utils import timezone
from playwright.sync_api import expect

from piazza.membership.actions import applicant as applicant_actions
from piazza.membership.actions import card as card_actions
from piazza.membership.actions import join as join_actions
from piazza.membership.actions import payment as payment_actions
from piazza.membership.actions import roll as roll_actions
from piazza.membership.models import Delivery, FeeSchedule, Membership, RollStatus, Status
from piazza.people.codice_fiscale import make_codice_fiscale
from piazza.territory.models import Comune, Role
from piazza.territory.testing import build_tree, make_official, verified_client
from piazza.web.testing_browser import assert_accessible

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
# Generous waits for a condition (never a fixed sleep): the shared machine can be slow under load.
WAIT = 45_000


def _open_year():
    year = timezone.localdate().year
    return FeeSchedule.objects.create(
        year=year,
        base_fee_cents=1500,
        national_surcharge_cents=0,
        regional_deadline=dt.date(year, 1, 10),
        opens_at=timezone.now() - dt.timedelta(days=30),
    )


def _login(page, live_server, user):
    client = verified_client(user)
    page.context.add_cookies(
        [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": live_server.url}]
    )


def test_a_person_joins_online_pays_and_receives_the_card(phone_page, live_server):
    build_tree()
    _open_year()
    page = phone_page
    cf = make_codice_fiscale(
        first_name="Giulia", last_name="Verdi", sex="F", birth_date=dt.date(1990, 4, 12), belfiore="A944"
    )
    # A newcomer starts from the home page and finds joining in the public navigation (issue 11 item 2).
    page.goto("/")
    nav = page.get_by_role("navigation", name="Navigazione principale")
    nav.get_by_role("link", name="Iscriviti o rinnova").click()
    page.wait_for_url(re.compile(r".*/tesseramento/iscriviti/$"), timeout=WAIT)
    expect(nav.get_by_role("link", name="Iscriviti o rinnova")).to_have_attribute("aria-current", "page")
    assert_accessible(page)
    page.get_by_label("Comune di residenza").fill("Bologna")
    page.get_by_role("button", name="Continua").click()
    # Wait for the second step itself (not a fixed delay): the fee explanation is on it.
    expect(page.get_by_text("Quota di iscrizione").first).to_be_visible(timeout=WAIT)
    assert_accessible(page)
    # Sent empty: one focused summary of the errors, every field still accessible (issue 11 item 19).
    page.get_by_role("button", name="Conferma e paga la quota").click()
    expect(page.locator("#error-summary")).to_be_focused(timeout=WAIT)
    assert page.title().startswith("Errori da correggere")
    assert_accessible(page)
    page.get_by_label(re.compile(r"^Nome")).fill("Giulia")
    page.get_by_label("Cognome").fill("Verdi")
    page.get_by_label("Sesso (come nel codice fiscale)").select_option("F")
    page.get_by_label("Data di nascita").fill("1990-04-12")
    page.get_by_label("Comune (o stato estero) di nascita").fill("Bologna")
    page.get_by_role("textbox", name="Codice fiscale").fill(cf)
    page.get_by_label("Indirizzo di residenza o domicilio").fill("Via Indipendenza 10")
    page.get_by_label(re.compile(r"^Email")).fill("giulia@example.org")
    page.get_by_label(re.compile(r"^Circolo")).select_option(label="Circolo PD Bologna Centro (Circolo territoriale)")
    # "Altro partito?" has no pre-set answer (issue 11 item 18): she answers it.
    page.get_by_role("group", name=re.compile("altro partito")).get_by_label("No", exact=True).check()
    page.get_by_label("Dichiaro di non far parte").check()
    page.get_by_label("Autorizzo il trattamento").check()
    page.get_by_role("button", name="Conferma e paga la quota").click()
    # The same answer whoever the code belongs to (issue 10, rule G1): the next step comes by email.
    page.wait_for_url(re.compile(r".*/tesseramento/iscriviti/inviata/"), timeout=WAIT)
    expect(page.locator("#join-sent")).to_be_visible(timeout=WAIT)
    link_mail = next(m for m in mail.outbox if "giulia@example.org" in m.to)
    status_link = re.search(r"https?://\S+(/tesseramento/iscrizione/\S+/)", str(link_mail.body))
    assert status_link is not None
    page.goto(status_link.group(1))
    page.get_by_role("link", name="Paga la quota").click()

    page.wait_for_url(re.compile(r".*/pagamenti/.*"), timeout=WAIT)
    page.get_by_label("Numero della carta").fill("4242 4242 4242 4242")
    page.get_by_label("Scadenza (MM/AA)").fill("12/39")
    page.get_by_label("Codice di sicurezza (CVC)").fill("123")
    page.get_by_role("button", name=re.compile("Paga")).click()
    # Back from the payment page to the applicant's own page (the payment's return URL).
    page.wait_for_url(re.compile(r".*/tesseramento/iscrizione/.*"), timeout=WAIT)
    expect(page.locator("#membership-status")).to_have_text(str(Status.EFFECTIVE.label), timeout=WAIT)
    assert_accessible(page)
    page.get_by_role("link", name="Apri la tua tessera").click()
    expect(page.get_by_test_id("card-number")).to_be_visible(timeout=WAIT)
    assert_accessible(page)

    membership = Membership.objects.get(person__last_name="Verdi")
    assert membership.status == Status.EFFECTIVE and membership.card_number  # digital card delivered (M13)
    card_mail = next(m for m in mail.outbox if "tessera" in m.subject.lower())
    found = re.search(r"https?://\S+/tesseramento/tessera/\S+/", str(card_mail.body))
    assert found is not None
    link = found.group(0)
    page.goto(link[link.index("/tesseramento/") :])
    expect(page.get_by_test_id("card-number")).to_have_text(membership.card_number, timeout=WAIT)


def test_secretary_registers_a_member_at_the_circolo(page, live_server):
    tree = build_tree()
    _open_year()
    marco = make_official("marco.b", tree.bologna_centro, [Role.ORGANISATION, Role.MEMBERSHIP, Role.TREASURY])
    _login(page, live_server, marco)
    cf = make_codice_fiscale(
        first_name="Franco", last_name="Neri", sex="M", birth_date=dt.date(1961, 2, 3), belfiore="A944"
    )
    page.goto(f"/tesseramento/gestione/circolo/{tree.bologna_centro.pk}/registra/")
    assert_accessible(page)
    page.get_by_role("button", name="Registra l'iscrizione").click()  # empty: the error state
    expect(page.locator("#error-summary")).to_be_focused(timeout=WAIT)
    assert_accessible(page)
    page.get_by_label(re.compile(r"^Nome")).fill("Franco")
    page.get_by_label("Cognome").fill("Neri")
    page.get_by_label("Sesso (come nel codice fiscale)").select_option("M")
    page.get_by_label("Data di nascita").fill("1961-02-03")
    page.get_by_label("Comune (o stato estero) di nascita").fill("Bologna")
    page.get_by_role("textbox", name="Codice fiscale").fill(cf)
    page.get_by_label("Indirizzo di residenza o domicilio").fill("Via del Pratello 3")
    page.get_by_label(re.compile(r"^Email")).fill("franco@example.org")
    page.get_by_role("group", name=re.compile("altro partito")).get_by_label("No", exact=True).check()
    page.get_by_label("Dichiaro di non far parte").check()
    page.get_by_label("Autorizzo il trattamento").check()
    page.get_by_label("Metodo di pagamento").select_option("pos")
    page.get_by_label("Riferimento (n. operazione POS, CRO del bonifico)").fill("POS 000123")
    page.get_by_role("button", name="Registra l'iscrizione").click()
    page.wait_for_url("**/gestione/iscrizioni/**", timeout=WAIT)
    expect(page.get_by_text("Iscrizione registrata e quota incassata.")).to_be_visible(timeout=WAIT)
    expect(page.locator("#membership-status")).to_have_text("Pagata", timeout=WAIT)
    assert_accessible(page)  # the membership detail: labelled fields, unique ids
    page.get_by_label("Consegna").select_option("circolo")
    page.get_by_role("button", name="Tessera consegnata").click()
    expect(page.get_by_text("l'iscrizione è effettiva")).to_be_visible(timeout=WAIT)
    m = Membership.objects.get(person__last_name="Neri")
    assert m.status == Status.EFFECTIVE and m.registered_by == marco and m.payment_reference == "POS 000123"


def test_a_roll_is_certified_and_exported(page, live_server):
    tree = build_tree()
    schedule = _open_year()
    secretary = make_official("sec.roll", tree.bologna_centro, [Role.MEMBERSHIP, Role.ORGANISATION])
    sara = make_official("sara.g", tree.bologna, [Role.GUARANTEE])
    comune = Comune.objects.get(istat_code="037006")
    for i, name in enumerate(["Rossi", "Bianchi"]):
        birth = dt.date(1970 + i, 5, 5)
        data = applicant_actions.JoinData(
            first_name="Anna",
            last_name=name,
            birth_date=birth,
            sex="F",
            codice_fiscale=make_codice_fiscale(
                first_name="Anna", last_name=name, sex="F", birth_date=birth, belfiore="A944"
            ),
            birth_comune=comune,
            residence_street="Via Roma 1",
            residence_comune=comune,
            declarations_accepted=True,
            art9_authorised=True,
        )
        m = join_actions.apply_for_membership(actor=None, data=data, circolo=tree.bologna_centro, year=schedule.year)
        m = payment_actions.mark_paid(actor=None, membership=m, method="card")
        card_actions.deliver_card(actor=secretary, membership=m, delivery=Delivery.CIRCOLO)
    congress = roll_actions.create_congress(
        actor=secretary,
        territory=tree.bologna_centro,
        name="Congresso di circolo",
        cut_off=timezone.now() + dt.timedelta(seconds=1),
        membership_years=[schedule.year],
    )
    _login(page, live_server, secretary)
    page.goto(f"/tesseramento/gestione/congressi/{congress.pk}/")
    page.get_by_role("button", name="Calcola l'anagrafe").click()
    expect(page.get_by_text("2 iscritti").first).to_be_visible(timeout=WAIT)
    page.get_by_role("button", name=re.compile("Firma l'anagrafe")).click()
    expect(page.get_by_text("Anagrafe firmata")).to_be_visible(timeout=WAIT)

    page.context.clear_cookies()
    _login(page, live_server, sara)
    page.reload()
    expect(page.get_by_label("Componenti della commissione")).to_be_visible(timeout=WAIT)
    page.get_by_label("Componenti della commissione").fill("9")
    page.get_by_label("Favorevoli").fill("6")
    page.get_by_label("Contrari").fill("3")
    page.get_by_role("button", name="Registra il voto").click()
    expect(page.get_by_text("anagrafe ratificata")).to_be_visible(timeout=WAIT)
    expect(page.locator("#roll-status")).to_have_text(str(RollStatus.RATIFIED.label), timeout=WAIT)
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Scarica CSV").click()
    content = Path(download_info.value.path()).read_text(encoding="utf-8")
    assert "Rossi" in content and "Bianchi" in content
    with page.expect_download() as pdf_info:
        page.get_by_role("link", name="Scarica PDF").click()
    assert Path(pdf_info.value.path()).read_bytes()[:4] == b"%PDF"
