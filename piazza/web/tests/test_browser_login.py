"""Journey (Marco, circolo secretary): password + phone code, then his scoped dashboard."""

import pytest
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice
from playwright.sync_api import expect

from piazza.territory.models import Role
from piazza.territory.testing import build_tree, make_official
from piazza.web.testing_browser import assert_accessible

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _current_code(device: TOTPDevice) -> str:
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    return f"{totp.token():06d}"


def test_official_sets_up_2fa_and_reaches_scoped_dashboard(page):
    tree = build_tree()
    make_official("marco", tree.bologna_centro, [Role.ORGANISATION, Role.MEMBERSHIP])

    page.goto("/gestione/")
    assert_accessible(page)
    page.get_by_label("Nome utente").fill("marco")
    page.get_by_label("Password").fill("sbagliata")
    page.get_by_role("button", name="Entra").click()  # the error state (issue 11 item 19)
    expect(page.locator("#error-summary")).to_be_focused()
    assert_accessible(page)
    page.get_by_label("Nome utente").fill("marco")
    page.get_by_label("Password").fill("correct-horse-battery")
    page.get_by_role("button", name="Entra").click()

    # First login: the QR code page; the app's code confirms the device.
    page.wait_for_url("**/accesso/2fa/attiva/**")
    assert page.locator(".qr svg").count() == 1
    device = TOTPDevice.objects.get(user__username="marco", confirmed=False)
    page.get_by_label("Codice di verifica").fill(_current_code(device))
    page.get_by_role("button", name="Conferma e attiva").click()

    codes = page.get_by_test_id("backup-codes").locator("li")
    assert codes.count() == 10
    page.get_by_role("link", name="Continua").click()

    page.wait_for_url("**/gestione/")
    assert page.locator("h1").inner_text() == "Circolo PD Bologna Centro"
    assert page.locator(".scope").first.inner_text() == "Circolo PD Bologna Centro"
    assert "Circolo PD Modena Nord" not in page.content()
    assert_accessible(page)


def test_wrong_code_is_refused_with_a_clear_message(page):
    tree = build_tree()
    user = make_official("sara", tree.bologna, [Role.GUARANTEE])
    TOTPDevice.objects.create(user=user, name="phone", confirmed=True)

    page.goto("/accesso/")
    page.get_by_label("Nome utente").fill("sara")
    page.get_by_label("Password").fill("correct-horse-battery")
    page.get_by_role("button", name="Entra").click()
    page.wait_for_url("**/accesso/2fa/**")
    page.get_by_label("Codice di verifica").fill("000000")
    page.get_by_role("button", name="Verifica").click()
    assert "Codice non valido o scaduto" in page.locator(".errorlist").inner_text()
    assert_accessible(page)
    page.goto("/gestione/")
    assert "/accesso/2fa/" in page.url
