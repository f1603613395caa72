"""Journey (Marco, circolo secretary): the circolo's old spreadsheet, saved by Excel on Windows
(Latin-1, semicolons, Italian headers, a date left as an Excel serial number, a wrong codice
fiscale, a person already on record), goes through the wizard to the report in a real browser.
The import runs through the task backend (inline in tests); the progress page polls with htmx.
"""

import datetime as dt
import re

import pytest
from playwright.sync_api import expect

from piazza.people.actions import person as person_actions
from piazza.people.codice_fiscale import make_codice_fiscale
from piazza.people.models import BatchStatus, ImportBatch, Person, RowStatus
from piazza.territory.models import Role
from piazza.territory.testing import build_tree, make_official, verified_client

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
WAIT = 45_000  # a condition, never a fixed sleep: the shared machine can be slow

GIULIA_CF = make_codice_fiscale(
    first_name="Giulia", last_name="Ferrari", sex="F", birth_date=dt.date(1975, 6, 2), belfiore="A944"
)
EXCEL_SERIAL = str((dt.date(1975, 6, 2) - dt.date(1899, 12, 30)).days)  # 27547: Excel's day count
BAD_CF = "RSSMRA85C12A944Y"  # wrong check letter (the right one is X)


def _messy_file() -> bytes:
    rows = [
        "Cognome;Nome;Codice Fiscale;Data di nascita;Comune;E-mail;Cellulare",
        f"Ferrari;Giulia;{GIULIA_CF};{EXCEL_SERIAL};Bologna;giulia.ferrari@example.org;333 765 4321",
        f"Rossi;Mario;{BAD_CF};12/03/1985;Bologna;;",
        "Bianchi;Nicolò;;05/05/1960;Bologna;nicolo@example.org;",
        # Already on record with this email: matched and completed (comune), not created twice.
        "Esposito;Carmela;;;Bologna;carmela.esposito@example.org;",
    ]
    return ("\r\n".join(rows) + "\r\n").encode("latin-1")


def _login(page, live_server, user):
    client = verified_client(user)
    page.context.add_cookies(
        [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": live_server.url}]
    )


def test_messy_spreadsheet_through_the_wizard_to_the_report(page, live_server, tmp_path):
    tree = build_tree()
    marco = make_official("marco", tree.bologna_centro, [Role.ORGANISATION, Role.MEMBERSHIP])
    person_actions.create_person(
        actor=None,
        circolo=tree.bologna_centro,
        data={"first_name": "Carmela", "last_name": "Esposito", "emails": ["carmela.esposito@example.org"]},
    )
    upload = tmp_path / "iscritti circolo.csv"
    upload.write_bytes(_messy_file())
    _login(page, live_server, marco)

    # 1. Upload.
    page.goto("/persone/importa/")
    page.get_by_label(re.compile("File CSV o XLSX")).set_input_files(str(upload))
    page.get_by_label("Importa nel territorio").select_option(label=str(tree.bologna_centro))
    page.get_by_role("button", name=re.compile("Carica|Continua")).click()

    # 2. Columns: the Italian headers were recognised (Latin-1 and semicolons read correctly).
    page.wait_for_url("**/colonne/", timeout=WAIT)
    expect(page.get_by_label("Colonna «Cognome»")).to_have_value("last_name")
    expect(page.get_by_label("Colonna «Cellulare»")).to_have_value("phones")
    expect(page.get_by_label("Colonna «Data di nascita»")).to_have_value("birth_date")
    page.get_by_role("button", name=re.compile("Continua|Anteprima")).click()

    # 3. Target: people only (the default).
    page.wait_for_url("**/destinazione/", timeout=WAIT)
    expect(page.get_by_label("Solo persone")).to_be_checked()
    page.get_by_role("button", name="Continua all'anteprima").click()

    # 4. Preview: the accented name decoded, the bad code explained before anything is written.
    page.wait_for_url("**/anteprima/", timeout=WAIT)
    preview = page.locator("table")
    expect(preview).to_contain_text("Nicolò")
    expect(preview).to_contain_text(EXCEL_SERIAL)
    expect(preview.locator(".error").first).to_contain_text("lettera di controllo")
    page.get_by_role("button", name="Avvia l'importazione").click()

    # 5. Progress (htmx polling) ends on the report with the counts and the download link.
    page.wait_for_url("**/rapporto/", timeout=WAIT)
    expect(page.get_by_role("heading", name="Rapporto di importazione")).to_be_visible()
    summary = page.locator("ul.summary")
    expect(summary).to_contain_text("Creata: 2")
    expect(summary).to_contain_text("Respinta: 1")
    expect(summary).to_contain_text("Aggiornata: 1")  # the comune filled a blank
    expect(page.locator("table")).to_contain_text("lettera di controllo")
    link = page.get_by_role("link", name=re.compile("Scarica le righe scartate"))
    with page.expect_download() as download_info:
        link.click()
    rejected = download_info.value.path().read_bytes().decode("utf-8-sig")
    assert BAD_CF in rejected and "riga 3" in rejected and "Ferrari" not in rejected

    batch = ImportBatch.objects.get()
    assert batch.status == BatchStatus.DONE
    assert batch.summary == {RowStatus.CREATED: 2, RowStatus.REJECTED: 1, RowStatus.UPDATED: 1}
    giulia = Person.objects.get(codice_fiscale=GIULIA_CF)
    assert giulia.birth_date == dt.date(1975, 6, 2) and giulia.territory == tree.bologna_centro
    assert Person.objects.filter(last_name="Esposito").count() == 1
    assert not Person.objects.filter(last_name="Rossi").exists()
