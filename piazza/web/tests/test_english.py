"""The English interface (ADR 0001: Italian first, English second).

What is proved here:
- the public pages a donor, a would-be member or an official reaches first (home, login, a
  campaign, the two steps of joining) come out in English when the browser asks for it
  (Accept-Language) or the visitor picks it with the language selector (``set_language``);
- no heading, label or button on those pages is left in Italian;
- every string those pages' templates mark for translation has an English entry in the
  committed catalogue, and the compiled ``.mo`` files say the same as the ``.po`` files (a
  stale ``compilemessages`` fails here, not in front of a donor).
"""

from __future__ import annotations

import ast
import datetime as dt
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext, ngettext, npgettext, pgettext
from django.utils.translation.template import templatize

from piazza.funding.tests.conftest import build_live_campaign
from piazza.membership.models import FeeSchedule
from piazza.territory.models import Role
from piazza.territory.testing import make_official

pytestmark = pytest.mark.django_db

ROOT = Path(settings.BASE_DIR)
CATALOGUES = sorted(
    [*ROOT.glob("locale/en/LC_MESSAGES/django.po"), *ROOT.glob("piazza/*/locale/en/LC_MESSAGES/django.po")]
)

# Strings that are the same word in both languages (brand names, codes, loanwords).
SAME_IN_ENGLISH = {
    "piazza",
    "Email",
    "email",
    "Password",
    "Budget",
    "budget",
    "IBAN",
    "BIC",
    "PayPal",
    "Online",
    "API",
    "SMS",
    "Newsletter",
    "No",
    "M",
    "F",
    "Circolo",
    "Punto PD",
    "Italiano",
    "English",
    "Staff",
}


# --- A small reader of the committed .po files --------------------------------------------

_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\"}


def _unquote(text: str) -> str:
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), m.group(1)), text.strip()[1:-1])


def read_catalogue(path: Path) -> list[dict[str, Any]]:
    """Entries of a .po file: msgctxt, msgid, msgid_plural, msgstr (list), fuzzy."""
    entries = []
    for block in re.split(r"\n\s*\n", path.read_text(encoding="utf-8")):
        entry: dict[str, Any] = {"msgstr": [], "fuzzy": False}
        field = None
        for line in block.strip().splitlines():
            if line.startswith("#,") and "fuzzy" in line:
                entry["fuzzy"] = True
            if line.startswith("#"):
                continue
            match = re.match(r'^(msgctxt|msgid_plural|msgid|msgstr(?:\[\d+\])?)\s+(".*")$', line)
            if match:
                field, value = match.group(1), _unquote(match.group(2))
                if field.startswith("msgstr"):
                    entry["msgstr"].append(value)
                else:
                    entry[field] = value
            elif line.startswith('"') and field:
                if field.startswith("msgstr"):
                    entry["msgstr"][-1] += _unquote(line)
                else:
                    entry[field] += _unquote(line)
        if entry.get("msgid"):
            entries.append(entry)
    return entries


def all_entries() -> list[dict[str, Any]]:
    return [entry for path in CATALOGUES for entry in read_catalogue(path)]


def _key(context: str | None, msgid: str) -> tuple[str | None, str]:
    return (context, msgid)


def catalogue_index() -> dict[tuple[str | None, str], dict[str, Any]]:
    return {_key(e.get("msgctxt"), e["msgid"]): e for e in all_entries()}


# --- What a rendered page asks to translate, and what it shows ------------------------------

_CALL = re.compile(r"\b(n?p?gettext)\(((?:\s*u?(?:'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\")\s*,?)+)")
_LITERAL = re.compile(r"u?('(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\")")


def template_msgids(response: Any) -> set[tuple[str | None, str]]:
    """The (context, msgid) pairs of every template the response rendered, includes too."""
    found: set[tuple[str | None, str]] = set()
    for template in response.templates:
        name = getattr(template.origin, "name", None)
        if not name or not str(name).startswith(str(ROOT / "piazza")):
            continue  # Django's own templates carry Django's own translations
        source = Path(name).read_text(encoding="utf-8")
        for call, args in _CALL.findall(templatize(source, origin=name)):
            literals = [ast.literal_eval(lit) for lit in _LITERAL.findall(args)]
            context = literals.pop(0) if call in {"pgettext", "npgettext"} else None
            found.add(_key(context, literals[0]))
    return found


class _Texts(HTMLParser):
    """Collects the text of headings, labels, buttons, table headers and the page title."""

    TAGS = {"title", "h1", "h2", "h3", "h4", "label", "button", "legend", "th", "caption", "summary"}

    def __init__(self) -> None:
        super().__init__()
        self.open: list[list[str]] = []
        self.texts: list[str] = []
        self.attributes: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.TAGS:
            self.open.append([])
        for name, value in attrs:
            if name in {"aria-label", "title", "placeholder", "alt"} and value:
                self.attributes.append(value)

    def handle_endtag(self, tag: str) -> None:
        if tag in self.TAGS and self.open:
            text = " ".join("".join(self.open.pop()).split())
            if text:
                self.texts.append(text)

    def handle_data(self, data: str) -> None:
        for bucket in self.open:
            bucket.append(data)


def visible_labels(html: str) -> list[str]:
    parser = _Texts()
    parser.feed(html)
    texts = [t.split(" · ")[0] for t in parser.texts] + parser.attributes
    return texts


def untranslated_italian(html: str) -> list[str]:
    """Headings, labels and buttons that are still an Italian source string."""
    entries = all_entries()
    english = {text.strip() for e in entries for text in e["msgstr"]}  # "Note" is both languages' word
    italian = {
        e["msgid"].strip() for e in entries if e["msgstr"] and e["msgstr"][0].strip() != e["msgid"].strip()
    } - english
    return [text for text in visible_labels(html) if text in italian]


# --- Fixtures: the pages ------------------------------------------------------------------


@pytest.fixture
def live_campaign(tree: Any) -> Any:
    owner = make_official("tesoriere.centro", tree.bologna_centro, [Role.ORGANISATION, Role.TREASURY])
    approver = make_official("federazione.bo", tree.bologna, [Role.ORGANISATION, Role.TREASURY])
    return build_live_campaign(tree, owner, approver)


@pytest.fixture
def open_membership_year(tree: Any) -> FeeSchedule:
    year = timezone.localdate().year
    return FeeSchedule.objects.create(
        year=year,
        base_fee_cents=1500,
        national_surcharge_cents=500,
        regional_deadline=dt.date(year, 1, 10),
        opens_at=timezone.now() - dt.timedelta(days=30),
        closes_at=timezone.now() + dt.timedelta(days=30),
    )


def _pages(campaign: Any) -> dict[str, tuple[str, list[str], list[str]]]:
    """name -> (url, English strings expected, Italian strings that must be gone)."""
    return {
        "home": (
            reverse("web:home"),
            [
                "Let's fund the politics we want, together",
                "Open fundraisers",
                "Sign-in for officials and treasurers",
                "Skip to content",
                "an open platform for grassroots fundraising",
            ],
            ["Finanziamo insieme la politica che vogliamo", "Raccolte aperte", "Vai al contenuto"],
        ),
        "login": (
            reverse("web:login"),
            ["Sign in to piazza", "Username", ">Sign in<", "authenticator app"],
            ["Accedi a piazza", "Nome utente", ">Entra<"],
        ),
        "campaign": (
            reverse("funding:campaign", args=[campaign.slug]),
            [
                "What the money is for",
                "Donate now",
                "Your details",
                "Declarations required by law",
                "Name",
                "Surname",
                "Tax code (codice fiscale)",
                "Continue to payment",
                "days left",
            ],
            [
                "A cosa servono i soldi",
                "Dona ora",
                "I tuoi dati",
                "Continua al pagamento",
                "Codice fiscale",
                "giorni rimasti",
            ],
        ),
        "join": (
            reverse("membership:join"),
            ["Join the Partito Democratico", "Continue", "supporters' register"],
            ["Iscriviti al Partito Democratico", "Continua"],
        ),
        "join_form": (
            reverse("membership:join") + "?comune=Bologna",
            [
                "Join the Partito Democratico",
                "How much it costs",
                "Date of birth",
                "Citizenship",
                "Confirm and pay the fee",
                "Change municipality",
                "Total:",
            ],
            ["Quanto costa", "Data di nascita", "Conferma e paga la quota", "Totale:"],
        ),
    }


# --- Tests --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["home", "login", "campaign", "join", "join_form"])
def test_public_page_is_english_when_the_browser_asks(name, client, live_campaign, open_membership_year):
    url, english, italian = _pages(live_campaign)[name]
    response = client.get(url, HTTP_ACCEPT_LANGUAGE="en-GB,en;q=0.9")
    assert response.status_code == 200
    body = response.content.decode()
    assert '<html lang="en">' in body
    for text in english:
        assert text in body.replace("&#x27;", "'").replace("&#39;", "'"), f"{name}: missing {text!r}"
    for text in italian:
        assert text not in body, f"{name}: still Italian {text!r}"
    assert untranslated_italian(body) == [], f"{name}: untranslated headings/labels"


@pytest.mark.parametrize("name", ["home", "login", "campaign", "join", "join_form"])
def test_public_page_stays_italian_by_default(name, client, live_campaign, open_membership_year):
    """Italian first: no Accept-Language, or an unsupported one, gives the Italian page."""
    url, english, italian = _pages(live_campaign)[name]
    for headers in ({}, {"HTTP_ACCEPT_LANGUAGE": "de-DE,de;q=0.9"}):
        body = client.get(url, **headers).content.decode()
        assert '<html lang="it">' in body
        assert italian[0] in body.replace("&#x27;", "'")
        assert english[0] not in body.replace("&#x27;", "'")


def test_language_selector_switches_to_english_and_back(client):
    response = client.post(reverse("set_language"), {"language": "en", "next": reverse("web:login")})
    assert response.status_code == 302 and response["Location"] == reverse("web:login")
    body = client.get(reverse("web:login")).content.decode()  # no Accept-Language: the cookie decides
    assert '<html lang="en">' in body and "Sign in to piazza" in body
    assert "Accedi a piazza" not in body
    client.post(reverse("set_language"), {"language": "it", "next": "/"})
    body = client.get(reverse("web:login")).content.decode()
    assert '<html lang="it">' in body and "Accedi a piazza" in body


def test_the_selector_offers_both_languages_labelled_in_english(client):
    body = client.get("/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert '<label for="lang" class="skip">Language</label>' in body
    assert '<option value="en" selected>EN</option>' in body
    assert '<option value="it">IT</option>' in body


def test_refusal_messages_reach_the_visitor_in_english(client, live_campaign):
    """A bad input on a public form: the error is specific, actionable and in English."""
    response = client.post(
        reverse("web:login"), {"username": "nessuno", "password": "sbagliata"}, HTTP_ACCEPT_LANGUAGE="en"
    )
    body = response.content.decode()
    assert "Please enter a correct username and password" in body
    response = client.get(reverse("membership:join") + "?comune=Atlantide", HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200
    assert untranslated_italian(response.content.decode()) == []


@pytest.mark.parametrize("name", ["home", "login", "campaign", "join", "join_form"])
def test_every_string_of_the_page_templates_has_an_english_entry(name, client, live_campaign, open_membership_year):
    """Fails as soon as someone adds a {% translate %} to these pages without translating it."""
    url = _pages(live_campaign)[name][0]
    response = client.get(url, HTTP_ACCEPT_LANGUAGE="en")
    wanted = template_msgids(response)
    assert len(wanted) > 5, f"{name}: the template scan found too few strings ({wanted})"
    index = catalogue_index()
    missing = sorted(
        msgid
        for key in wanted
        for msgid in [key[1]]
        if key not in index or not all(index[key]["msgstr"]) or index[key]["fuzzy"]
    )
    assert missing == [], f"{name}: no English translation for {missing}"
    with translation.override("en"):
        still_italian = sorted(
            msgid
            for context, msgid in wanted
            if msgid not in SAME_IN_ENGLISH and ((pgettext(context, msgid) if context else gettext(msgid)) == msgid)
        )
    assert still_italian == [], f"{name}: the compiled catalogue does not translate {still_italian}"


# A few strings each page depends on, with the English a reader must see.
KEY_TRANSLATIONS = {
    "Finanziamo insieme la politica che vogliamo": "Let's fund the politics we want, together",
    "Accedi a piazza": "Sign in to piazza",
    "Nome utente": "Username",
    "Dona ora": "Donate now",
    "Continua al pagamento": "Continue to payment",
    "Iscriviti al Partito Democratico": "Join the Partito Democratico",
    "Conferma e paga la quota": "Confirm and pay the fee",
    "Codice fiscale": "Tax code (codice fiscale)",
    "Albo delle elettrici e degli elettori": "Supporters' register",
    "Bonifico": "Bank transfer",
    "Addebito SEPA": "SEPA direct debit",
    "Federazione": "Federation",
    "Tesseramento": "Membership",
}


def test_key_domain_terms_follow_the_glossary():
    with translation.override("en"):
        assert {msgid: gettext(msgid) for msgid in KEY_TRANSLATIONS} == KEY_TRANSLATIONS
        assert ngettext("%(n)s persona trovata", "%(n)s persone trovate", 1) == "%(n)s person found"
        assert ngettext("%(n)s persona trovata", "%(n)s persone trovate", 3) == "%(n)s people found"
    with translation.override("it"):
        assert gettext("Dona ora") == "Dona ora"  # a missing English never leaks into Italian


def test_catalogues_are_complete_and_compiled():
    """Every entry translated, none fuzzy, placeholders kept, and the .mo files up to date."""
    entries = all_entries()
    assert len(entries) > 1000
    untranslated = [e["msgid"] for e in entries if not all(e["msgstr"])]
    fuzzy = [e["msgid"] for e in entries if e["fuzzy"]]
    assert untranslated == [] and fuzzy == []
    placeholder = re.compile(r"%\([a-z_0-9]+\)[sdf]|%(?:\.\d)?[sdf]|%%")
    for e in entries:
        sources = [e["msgid"], e.get("msgid_plural", e["msgid"])]
        for i, text in enumerate(e["msgstr"]):
            source = sources[min(i, 1)]
            want, got = sorted(placeholder.findall(source)), sorted(placeholder.findall(text))
            if e.get("msgid_plural") and i == 0:
                assert set(got) <= set(want), e["msgid"]
            else:
                assert want == got, f"placeholders differ in {e['msgid']!r}: {text!r}"
    index: dict[tuple[str | None, str], dict[str, Any]] = {}
    for e in entries:  # LOCALE_PATHS first, as Django looks them up
        index.setdefault(_key(e.get("msgctxt"), e["msgid"]), e)
    stale = []
    with translation.override("en"):
        for (context, msgid), e in index.items():
            if "msgid_plural" in e:
                got = [
                    npgettext(context, msgid, e["msgid_plural"], n)
                    if context
                    else ngettext(msgid, e["msgid_plural"], n)
                    for n in (1, 2)
                ]
                want = e["msgstr"][:2]
            else:
                got = [pgettext(context, msgid) if context else gettext(msgid)]
                want = e["msgstr"][:1]
            if got != want:
                stale.append(msgid)
    assert stale == [], f"run compilemessages: the .mo files differ from the .po files for {stale[:10]}"


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_visitor_switches_to_english_with_the_selector(page):
    """Keyboard-reachable selector in the header; the page reloads in English."""
    page.goto("/")
    assert page.locator("h1").inner_text() == "Finanziamo insieme la politica che vogliamo"
    with page.expect_navigation():
        page.get_by_label("Lingua").select_option("en")
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.locator("h1").inner_text() == "Let's fund the politics we want, together"
    page.get_by_role("link", name="Sign in", exact=True).click()
    assert page.locator("h1").inner_text() == "Sign in to piazza"
    page.get_by_label("Username").fill("nessuno")
    page.get_by_label("Password").fill("sbagliata")
    page.get_by_role("button", name="Sign in").click()
    # One focused error summary instead of an alert per field (issue 11 item 19).
    assert "Please enter a correct username and password" in page.locator("#error-summary").inner_text()
