"""Journey in a real desktop browser (rule M18): the regional commission finds an appeal on its
queue, decides it at the second instance, and the member is back in the circolo's roll."""

import datetime as dt
import re

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from piazza.membership.actions import applicant as applicant_actions
from piazza.membership.actions import card as card_actions
from piazza.membership.actions import join as join_actions
from piazza.membership.actions import objection as objection_actions
from piazza.membership.actions import payment as payment_actions
from piazza.membership.actions import roll as roll_actions
from piazza.membership.models import Delivery, FeeSchedule, Membership, Roll, Status
from piazza.people.codice_fiscale import make_codice_fiscale
from piazza.territory.models import Comune, Role
from piazza.territory.testing import build_tree, make_official, verified_client

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
WAIT = 45_000  # generous waits for a condition, never a fixed sleep


def _login(page, live_server, user):
    client = verified_client(user)
    page.context.add_cookies(
        [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": live_server.url}]
    )


def test_an_appeal_decided_at_the_second_instance_puts_the_member_back_in_the_roll(page, live_server):
    tree = build_tree()
    year = timezone.localdate().year
    FeeSchedule.objects.create(
        year=year,
        base_fee_cents=1500,
        regional_deadline=dt.date(year, 1, 10),
        opens_at=timezone.now() - dt.timedelta(days=30),
    )
    secretary = make_official("sec.appeal", tree.bologna_centro, [Role.MEMBERSHIP, Role.ORGANISATION])
    provincial = make_official("garanzia.prov", tree.bologna, [Role.GUARANTEE])
    regional = make_official("garanzia.reg", tree.emilia, [Role.GUARANTEE])
    comune = Comune.objects.get(istat_code="037006")
    birth = dt.date(1975, 3, 3)
    data = applicant_actions.JoinData(
        first_name="Marta",
        last_name="Ricorrente",
        birth_date=birth,
        sex="F",
        codice_fiscale=make_codice_fiscale(
            first_name="Marta", last_name="Ricorrente", sex="F", birth_date=birth, belfiore="A944"
        ),
        birth_comune=comune,
        residence_street="Via Roma 2",
        residence_comune=comune,
        declarations_accepted=True,
        art9_authorised=True,
    )
    m = join_actions.apply_for_membership(actor=None, data=data, circolo=tree.bologna_centro, year=year)
    m = payment_actions.mark_paid(actor=None, membership=m, method="card")
    card_actions.deliver_card(actor=secretary, membership=m, delivery=Delivery.CIRCOLO)
    objection = objection_actions.raise_objection(actor=secretary, membership=m, body="circolo", reason="Altro partito")
    objection_actions.decide_objection(
        actor=provincial, objection=objection, uphold=True, reason="Tessera di altro partito"
    )
    objection.refresh_from_db()
    objection_actions.file_appeal(actor=secretary, objection=objection, reason="Dimessa dall'altro partito nel 2024")
    objection.refresh_from_db()
    objection_actions.file_counter_appeal(actor=secretary, objection=objection, reason="Il circolo non ha obiezioni")
    congress = roll_actions.create_congress(
        actor=secretary,
        territory=tree.bologna_centro,
        name="Congresso di circolo",
        cut_off=timezone.now() + dt.timedelta(hours=1),
        membership_years=[year],
    )
    before = roll_actions.compute_roll(actor=secretary, congress=congress, circolo=tree.bologna_centro)
    assert before.member_count == 0  # rejected at first instance: not in the roll

    _login(page, live_server, regional)
    page.goto("/tesseramento/gestione/ricorsi/")
    row = page.get_by_role("row", name=re.compile("Ricorrente"))
    expect(row).to_contain_text("Commissione regionale di garanzia", timeout=WAIT)
    row.get_by_role("link", name="Apri e decidi").click()
    expect(page.locator("#membership-status")).to_have_text("Respinta", timeout=WAIT)
    page.get_by_label("Accolto: la decisione impugnata è ribaltata").check()
    page.get_by_label("Motivazione").fill("Dimissioni documentate prima dell'iscrizione")
    page.get_by_role("button", name="Registra la decisione sul ricorso").click()
    expect(page.get_by_text("l'anagrafe è aggiornata")).to_be_visible(timeout=WAIT)
    expect(page.locator("#membership-status")).to_have_text(str(Status.EFFECTIVE.label), timeout=WAIT)
    expect(page.locator("#appeal-2 .appeal-outcome")).to_contain_text("Accolto")
    expect(page.get_by_text(re.compile("alla Commissione nazionale di garanzia"))).to_be_visible()

    # The circolo recomputes its roll: the member is back in it.
    page.context.clear_cookies()
    _login(page, live_server, secretary)
    page.goto(f"/tesseramento/gestione/congressi/{congress.pk}/")
    page.get_by_role("button", name="Calcola l'anagrafe").click()
    expect(page.get_by_text("1 iscritti").first).to_be_visible(timeout=WAIT)
    expect(page.get_by_role("cell", name=re.compile("Ricorrente Marta"))).to_be_visible(timeout=WAIT)
    assert Membership.objects.get(pk=m.pk).status == Status.EFFECTIVE
    assert Roll.objects.filter(congress=congress).latest("version").member_count == 1
