"""Journey (the federation's treasury, then Laura the mandataria with her own account), on a phone:
an expense is booked with its category and receipt → the proclamation date is entered → Laura
opens «I miei mandati» from the header, sees the days left before the declaration is due and
downloads the declaration PDF and the zip of its annexes (rules F10, F11, F15)."""

from __future__ import annotations

import re
import zipfile

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from piazza.compliance import actions, candidate_books
from piazza.compliance.models import CandidateExpense
from piazza.compliance.tests import journey
from piazza.territory.models import Role
from piazza.territory.testing import build_tree, make_official, verified_client
from piazza.web.testing_browser import assert_accessible

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
WAIT = 45_000
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def _login(page, live_server, user):
    page.context.clear_cookies()
    client = verified_client(user)
    page.context.add_cookies(
        [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": live_server.url}]
    )


@pytest.mark.clock("2026-08-01 10:00")
def test_the_mandataria_downloads_the_declaration(page, live_server, tmp_path, settings):
    settings.PRIVATE_MEDIA_ROOT = str(tmp_path / "private")
    page.set_viewport_size({"width": 390, "height": 844})
    candidate_books.ensure_categories()
    tree = build_tree()
    office = make_official("tesoreria.bo", tree.bologna, [Role.ORGANISATION, Role.TREASURY])
    laura = get_user_model().objects.create_user(username="laura.neri")
    candidacy = journey.candidacy(tree, office, with_mandatario=False)
    actions.name_mandatario(
        actor=office,
        candidacy=candidacy,
        person=journey.person("Laura", "Neri", tree.bologna_centro, born="03/07/1975"),
        iban=journey.MANDATARIO_IBAN,
        user=laura,
    )

    # 1. The treasury books an expense with its category and receipt (F11).
    _login(page, live_server, office)
    page.goto(f"/conformita/candidature/{candidacy.pk}/")
    page.get_by_text("Registra una spesa").click()
    page.get_by_label("Fornitore").fill("Tipografia Rossi")
    page.get_by_label("Descrizione").fill("Manifesti 70x100")
    page.get_by_label("Importo (€)").fill("1200")
    page.get_by_label("Data della spesa").fill("2026-06-01")
    page.locator("#id_category").select_option(label="Materiale e mezzi di propaganda")
    receipt = tmp_path / "fattura.pdf"
    receipt.write_bytes(PDF)
    page.get_by_label(re.compile("^Giustificativo")).set_input_files(str(receipt))
    page.get_by_role("button", name="Registra la spesa").click()
    expect(page.locator("#spese")).to_contain_text("Materiale e mezzi di propaganda", timeout=WAIT)
    assert CandidateExpense.objects.get().receipt.name

    # 2. The proclamation date: the deadline appears (3 months, no sanction: F15).
    page.get_by_label("Data della proclamazione degli eletti").fill("2026-07-02")
    page.get_by_role("button", name="Salva la data della proclamazione").click()
    expect(page.get_by_test_id("deadline")).to_contain_text("Mancano 62 giorni", timeout=WAIT)
    assert_accessible(page)

    # 3. Laura, with her own account, finds her books from the header.
    _login(page, live_server, laura)
    page.goto("/")
    page.get_by_role("link", name="I miei mandati").first.click()
    page.get_by_role("link", name=re.compile("Giovanna Esposito")).click()
    expect(page.get_by_test_id("deadline")).to_contain_text("Mancano 62 giorni", timeout=WAIT)
    expect(page.get_by_test_id("annexes")).to_contain_text("Tipografia Rossi")
    assert_accessible(page)
    with page.expect_download() as pdf_info:
        page.get_by_role("link", name="Scarica la dichiarazione (PDF)").click()
    assert pdf_info.value.path().read_bytes().startswith(b"%PDF")
    with page.expect_download() as zip_info:
        page.get_by_role("link", name="Scarica gli allegati (ZIP)").click()
    with zipfile.ZipFile(zip_info.value.path()) as archive:
        assert [name.split("-")[1] for name in archive.namelist()] == ["spesa"]
