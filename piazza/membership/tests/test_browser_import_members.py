"""Journey (Marco, circolo secretary, desktop): the circolo's spreadsheet of this year's members,
fees collected by POS, goes through the import wizard as "members of year Y" (issue 11, item 13).
One row's codice fiscale says another birth date: the row is kept and waits in the review queue
(item 14, rule D1); Marco confirms the code there and the membership is registered."""

import datetime as dt
import re

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from piazza.membership.models import FeeSchedule, Membership, Status
from piazza.people.codice_fiscale import make_codice_fiscale
from piazza.people.models import CodeDateReview, ReviewStatus
from piazza.territory.models import Role
from piazza.territory.testing import build_tree, make_official, verified_client

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("check_ledger")]
WAIT = 45_000  # a condition, never a fixed sleep: the shared machine can be slow

ANNA = make_codice_fiscale(
    first_name="Anna", last_name="Verdi", sex="F", birth_date=dt.date(1970, 5, 4), belfiore="A944"
)
PAOLO = make_codice_fiscale(
    first_name="Paolo", last_name="Conti", sex="M", birth_date=dt.date(1960, 7, 7), belfiore="A944"
)


def _file() -> bytes:
    rows = [
        "Cognome;Nome;Sesso;Codice fiscale;Data di nascita;Comune di nascita;Indirizzo;CAP;Comune;Email",
        f"Verdi;Anna;F;{ANNA};04/05/1970;Bologna;Via Indipendenza 3;40121;Bologna;anna@example.org",
        # The code says 07/07/1960: the date was mistyped in the spreadsheet.
        f"Conti;Paolo;M;{PAOLO};17/07/1960;Bologna;Via Ugo Bassi 2;40121;Bologna;paolo@example.org",
    ]
    return ("\r\n".join(rows) + "\r\n").encode("utf-8")


def _login(page, live_server, user):
    client = verified_client(user)
    page.context.add_cookies(
        [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": live_server.url}]
    )


def test_spreadsheet_imported_as_members_with_a_flagged_row_resolved_in_the_queue(page, live_server, tmp_path):
    tree = build_tree()
    year = timezone.localdate().year
    FeeSchedule.objects.create(
        year=year,
        base_fee_cents=1500,
        national_surcharge_cents=0,
        regional_deadline=dt.date(year, 1, 10),
        opens_at=timezone.now() - dt.timedelta(days=30),
    )
    marco = make_official("marco.imp", tree.bologna_centro, [Role.ORGANISATION, Role.MEMBERSHIP, Role.TREASURY])
    upload = tmp_path / "tesserati.csv"
    upload.write_bytes(_file())
    _login(page, live_server, marco)

    page.goto("/persone/importa/")
    page.get_by_label(re.compile("File CSV o XLSX")).set_input_files(str(upload))
    page.get_by_label("Importa nel territorio").select_option(label=str(tree.bologna_centro))
    page.get_by_role("button", name="Carica").click()
    page.wait_for_url("**/colonne/", timeout=WAIT)
    page.get_by_role("button", name="Continua all'anteprima").click()

    # The target step: members of this year, fee paid by POS, the circolo of Marco's scope.
    page.wait_for_url("**/destinazione/", timeout=WAIT)
    page.get_by_label("Iscritti di un anno (tesseramento)").check()
    expect(page.get_by_label("Anno del tesseramento")).to_have_value(str(year))
    page.get_by_role("combobox", name=re.compile("^Circolo")).select_option(label=tree.bologna_centro.name)
    page.get_by_label(re.compile("Sì: la quota")).check()
    page.get_by_label("Come è stata incassata").select_option("pos")
    page.get_by_label("Riferimento del versamento").fill("Distinta POS 7")
    page.get_by_label(re.compile("conserva il modulo firmato")).check()
    page.get_by_role("button", name="Continua all'anteprima").click()

    page.wait_for_url("**/anteprima/", timeout=WAIT)
    chosen = f"Iscritti del {year} al circolo {tree.bologna_centro.name}, quota versata"
    expect(page.get_by_text(chosen)).to_be_visible()
    page.get_by_role("button", name="Avvia l'importazione").click()

    page.wait_for_url("**/rapporto/", timeout=WAIT)
    table = page.locator("table")
    expect(page.locator("ul.target-summary")).to_contain_text("Iscrizioni registrate: 1")
    expect(page.locator("ul.target-summary")).to_contain_text("In attesa di verifica del codice fiscale: 1")
    expect(table).to_contain_text("Il codice fiscale dice nato/a il 07/07/1960, il file dice 17/07/1960")
    expect(table).to_contain_text("quota di 15,00 € versata")

    # The queue: Marco decides that the code is right.
    page.get_by_role("link", name="apri la coda").click()
    page.wait_for_url("**/codici-da-verificare/", timeout=WAIT)
    card = page.get_by_role("region", name="Conti Paolo")
    expect(card).to_contain_text("07/07/1960")
    card.get_by_label(re.compile("Il codice è giusto")).check()
    card.get_by_role("button", name=re.compile("Conferma per")).click()
    expect(page.get_by_text("Verifica chiusa per Conti Paolo.")).to_be_visible(timeout=WAIT)
    expect(page.get_by_text("Nessun codice fiscale da verificare.")).to_be_visible()

    paolo = Membership.objects.get(person__codice_fiscale=PAOLO)
    assert paolo.status == Status.PAID and paolo.year == year and paolo.person.birth_date == dt.date(1960, 7, 7)
    assert Membership.objects.get(person__codice_fiscale=ANNA).status == Status.PAID
    assert CodeDateReview.objects.get().status == ReviewStatus.CODE_RIGHT
