"""Journey (Marta, a supporter, on her phone): she opens a petition from a shared link, reads the
counter, signs (a typo first, said at its field), and lands on the thank-you page that asks for the
next step: share it, give to the related campaign."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from piazza.funding.tests.conftest import build_live_campaign
from piazza.people.actions.notices import ensure_default_notices
from piazza.petitions import actions, queries
from piazza.petitions.models import Petition, Signature
from piazza.territory.models import Role
from piazza.territory.testing import make_official
from piazza.web.testing_browser import assert_accessible

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def field(text: str) -> re.Pattern[str]:
    return re.compile(rf"^{re.escape(text)}( \*)?$")


def test_a_supporter_signs_on_a_phone_and_is_asked_for_the_next_step(
    phone_page: Any, tree: Any, clock: Any, settings: Any
) -> None:
    ensure_default_notices()  # a transactional test before may have emptied the shipped notices
    # The minimum fill time is proven in test_signing.py; here the live server's requests need not
    # wait for it (after a whole suite the server thread's clock need not follow the test's ticks).
    settings.PETITION_MIN_FILL_SECONDS = 0
    owner = make_official("tesoriere.centro", tree.bologna_centro, [Role.ORGANISATION, Role.TREASURY])
    approver = make_official("federazione.bo", tree.bologna, [Role.ORGANISATION, Role.TREASURY, Role.COMMUNICATION])
    campaign = build_live_campaign(tree, owner, approver)
    petition = actions.create_petition(
        actor=approver,
        territory=tree.bologna,
        title="Più autobus notturni a Bologna",
        text="Chiediamo al Comune più corse notturne nei quartieri.",
        target="Sindaco di Bologna",
        goal=100,
        campaign=campaign,
    )
    page = phone_page
    page.goto(petition.get_absolute_url())
    expect(page.get_by_role("heading", name="Più autobus notturni a Bologna")).to_be_visible()
    expect(page.get_by_test_id("count")).to_have_text("0")
    assert_accessible(page)

    page.get_by_label(field("Nome")).fill("Marta")
    page.get_by_label(field("Cognome")).fill("Ferri")
    page.get_by_label(field("Email")).fill("marta.ferri@example.org")
    page.get_by_label(field("Comune di residenza")).fill("Bologna")
    page.get_by_label(field("CAP")).fill("4012")
    page.get_by_label("Voglio ricevere comunicazioni politiche del partito (email, messaggi)").check()
    clock.tick(15)  # she read the text before signing (the form's minimum fill time)
    page.get_by_role("button", name="Firma").click()
    expect(page.get_by_text("Il CAP ha 5 cifre, per esempio 40121.").first).to_be_visible()
    assert_accessible(page)
    assert Signature.objects.count() == 0

    page.get_by_label(field("CAP")).fill("40121")
    clock.tick(15)  # the corrected form carries a new start time: the minimum fill time applies again
    page.get_by_role("button", name="Firma").click()
    page.wait_for_url(re.compile(rf"/firma/{petition.slug}/grazie/(#firma)?$"))
    expect(page.get_by_role("heading", name="Grazie per aver firmato")).to_be_visible()
    expect(page.get_by_test_id("count")).to_have_text("1")
    expect(page.get_by_role("link", name="Condividi su WhatsApp")).to_be_visible()
    expect(page.get_by_role("link", name="Dona ora")).to_have_attribute("href", re.compile(campaign.slug))
    assert_accessible(page)

    signature = Signature.objects.get()
    assert (
        signature.person is not None
        and signature.person.first_name == "Marta"
        and signature.consents == ["political_communication"]
    )
    assert queries.signature_count(Petition.objects.get().pk) == 1
