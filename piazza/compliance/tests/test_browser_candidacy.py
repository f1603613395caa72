"""Journey (a federation's organisation office, then Luca the mandatario's team), on a desktop:
register a candidacy → name the mandatario → open the candidacy's campaign from its page →
a donation above the F12 threshold arrives → the report is blocked and says why → the joint
declaration is uploaded → the end-of-campaign report downloads (rules F10, F11, F12)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from piazza.compliance.models import Candidacy
from piazza.compliance.tests import journey
from piazza.funding.actions import campaigns as campaigns_funding_actions
from piazza.funding.models import Campaign, CampaignKind
from piazza.funding.tests.flows import give
from piazza.territory.models import Role
from piazza.territory.testing import build_tree, make_official, verified_client

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
WAIT = 45_000
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def _login(page, live_server, user):
    client = verified_client(user)
    page.context.add_cookies(
        [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": live_server.url}]
    )


def test_candidacy_to_report(page, live_server, tmp_path, settings):
    settings.PRIVATE_MEDIA_ROOT = str(tmp_path / "private")
    tree = build_tree()
    office = make_official("organizzazione.bo", tree.bologna, [Role.ORGANISATION, Role.TREASURY])
    candidate = journey.person("Giovanna", "Esposito", tree.bologna_centro)
    mandataria = journey.person("Laura", "Neri", tree.bologna_centro, born="03/07/1975")
    _login(page, live_server, office)

    # 1. The back office's «Candidature» section → register the candidacy.
    page.goto("/")
    page.get_by_role("link", name="Candidature").first.click()
    page.get_by_role("link", name="Registra una candidatura").click()
    page.get_by_label("Struttura").select_option(label=str(tree.bologna))
    page.get_by_label("Tipo di elezione").select_option("municipal")
    page.get_by_label(re.compile("^Elezione")).fill("Elezioni comunali di Bologna 2027")
    page.get_by_label("Codice fiscale del candidato/a").fill(candidate.codice_fiscale)
    page.get_by_label(re.compile("^Collegio")).fill("Comune di Bologna")
    page.get_by_label("Residenti nel collegio").fill("387971")
    page.get_by_label("Data di indizione delle elezioni").fill("2026-04-01")
    page.get_by_label("Giorno delle elezioni").fill("2026-06-28")
    page.get_by_role("button", name="Registra la candidatura").click()
    expect(page.get_by_role("heading", name="Giovanna Esposito")).to_be_visible(timeout=WAIT)
    expect(page.locator("#spese-tetto")).to_contain_text("55.879,71")  # F11: 52,000 € + 1 cent per resident
    candidacy = Candidacy.objects.get()

    # 2. Name the mandataria and her one account (F10).
    page.get_by_label("Codice fiscale del mandatario").fill(mandataria.codice_fiscale)
    page.get_by_label("IBAN dell'unico conto del mandatario").fill(journey.MANDATARIO_IBAN)
    page.get_by_role("button", name="Nomina").click()
    expect(page.get_by_test_id("mandatario")).to_contain_text("Laura Neri", timeout=WAIT)

    # 3. Open the candidacy's campaign: the form comes pre-filled and linked.
    page.get_by_role("link", name="Apri la raccolta della candidatura").click()
    expect(page.get_by_label("Candidatura")).to_have_value(str(candidacy.pk))
    expect(page.get_by_label("Tipo")).to_have_value(CampaignKind.CANDIDATE)
    expect(page.locator("#id_title")).to_have_value(re.compile("Giovanna Esposito"))
    page.get_by_label(re.compile("^Racconto")).fill("Una città più giusta, quartiere per quartiere.")
    page.get_by_label("Obiettivo (€)").fill("20000")
    page.get_by_role("button", name="Crea la bozza").click()
    page.wait_for_url(re.compile(r"/raccolte/.+/\d+/"), timeout=WAIT)
    campaign = Campaign.objects.get(candidacy=candidacy)
    assert campaign.deadline.date().isoformat() == "2026-06-28"

    # The federation's campaign goes live (approved by the region: four eyes), then a gift above 3,000 €.
    region = make_official("organizzazione.er", tree.emilia, [Role.ORGANISATION])
    campaigns_funding_actions.add_budget_line(
        actor=office, campaign=campaign, label="Manifesti", amount_cents=20_000_00
    )
    campaigns_funding_actions.submit_campaign(actor=office, campaign=campaign)
    campaigns_funding_actions.approve_campaign(actor=region, campaign=campaign)
    campaigns_funding_actions.launch_campaign(actor=office, campaign=campaign)
    donation = give(campaign, 3_500_00)

    # 4. The report is blocked and the page says what is missing.
    page.goto(f"/conformita/candidature/{candidacy.pk}/")
    expect(page.get_by_test_id("collected")).to_contain_text("3.500,00")
    expect(page.get_by_test_id("missing")).to_contain_text("Manca la dichiarazione congiunta di Giulia Rossi")
    expect(page.get_by_role("link", name="Scarica il rendiconto (CSV)")).to_have_count(0)

    # 5. Upload the joint declaration signed by donor and candidate (F12).
    signed = tmp_path / "dichiarazione firmata.pdf"
    signed.write_bytes(PDF)
    page.get_by_label("Chi ha donato").select_option(str(donation.person_id))
    page.get_by_label(re.compile("Dichiarazione firmata")).set_input_files(str(signed))
    page.get_by_label("Data della firma").fill("2026-06-09")
    page.get_by_role("button", name="Carica la dichiarazione").click()
    expect(page.locator("#dichiarazioni")).to_contain_text("Firmata da chi dona e dal candidato", timeout=WAIT)

    # 6. The report is available and downloads.
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Scarica il rendiconto (CSV)").click()
    report = download_info.value.path().read_bytes().decode("utf-8-sig")
    assert "Giovanna Esposito" in report and "Laura Neri" in report and "3500.00" in report
